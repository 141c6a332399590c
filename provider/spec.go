package provider

import (
	"maps"
	"slices"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/trigger"
)

// DefaultRoute is the route a Spec uses when Route is empty.
const DefaultRoute = "live"

// Spec describes one function, independent of the target. The function's
// name comes from the target (its URL), so one Spec can serve many targets.
//
// For Env, Secrets, Labels, Triggers and Concurrency.Provisioned, nil
// means "not managed" (leave what is live alone) and an empty non-nil
// value means "clear". This lets updraft share a function with other tools.
type Spec struct {
	// Code is where the code comes from; each target builds the form it needs.
	// The zero Source leaves the live code alone.
	Code bundle.Source
	// Runtime is a portable id: "go", "nodejs22", "python3.13", "java21", …
	Runtime string
	// Entrypoint is the handler (runtime specific; "" for Go binaries).
	Entrypoint string
	// MemoryMB is the memory size; 0 means the target's default.
	MemoryMB int
	// Timeout bounds one invocation; 0 means the target's default.
	Timeout time.Duration
	// Architecture is "amd64" or "arm64"; "" means the target's default.
	Architecture string
	// Concurrency sets provisioned (kept warm) and maximum instances.
	Concurrency Concurrency
	// Env holds plain environment variables. Never put secret values here.
	Env map[string]string
	// Secrets maps environment variable names to secret references (a
	// Secrets Manager or SSM ARN, a Secret Manager version name, a Key
	// Vault URI). Values are never read by updraft.
	Secrets map[string]string
	// Triggers invoke the function; each targets Route.
	Triggers []trigger.Trigger
	// Tracing turns on the cloud's distributed tracing.
	Tracing bool
	// LogFormat is "text" or "json"; "" means the target's default.
	LogFormat string
	// Labels are tags or labels on the function.
	Labels map[string]string
	// Identity is the role ARN, service account or managed identity the
	// function runs as; "" keeps the live one (the target's default when
	// the function is created).
	Identity string
	// Route names the route (alias) that triggers and provisioned
	// concurrency attach to and that rollouts shift; "" means DefaultRoute.
	Route string
}

// Concurrency bounds the function's instances. Nil fields are not managed.
type Concurrency struct {
	// Provisioned instances are kept initialised on the route.
	Provisioned *int
	// Max caps concurrent instances (Lambda reserved concurrency).
	Max *int
}

// Clone returns a deep copy of s, for per-target overrides.
func (s *Spec) Clone() *Spec {
	c := *s
	c.Env = cloneMap(s.Env)
	c.Secrets = cloneMap(s.Secrets)
	c.Labels = cloneMap(s.Labels)
	if s.Triggers != nil {
		c.Triggers = slices.Clone(s.Triggers)
	}
	c.Concurrency.Provisioned = cloneInt(s.Concurrency.Provisioned)
	c.Concurrency.Max = cloneInt(s.Concurrency.Max)
	return &c
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	return maps.Clone(m)
}

func cloneInt(p *int) *int {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// Config is a function's live configuration.
type Config struct {
	Runtime        string
	Entrypoint     string
	CodeDigest     string
	CodeSize       int64
	MemoryMB       int
	Timeout        time.Duration
	Architecture   string
	MaxConcurrency *int
	Env            map[string]string
	Secrets        map[string]string
	Tracing        bool
	LogFormat      string
	Labels         map[string]string
	Identity       string
}

// Revision is an immutable published version of code and configuration
// (a Lambda version, a Cloud Run revision, an Azure slot deployment).
type Revision struct {
	ID         string
	CodeDigest string
	Created    time.Time
	Config     Config
}

// Traffic is a two-way split on a route: CandidatePercent of requests go to
// Candidate and the rest to Stable. Candidate is "" when Stable takes all.
type Traffic struct {
	Stable           string
	Candidate        string
	CandidatePercent int
}

// Marker is the record of a rollout in progress, stored on the route in the
// cloud itself so that a crashed rollout can be resumed or reverted.
type Marker struct {
	ID        string
	Holder    string
	Stable    string
	Candidate string
	Step      int
	Percent   int
	Started   time.Time
	// Heartbeat is when the holder last renewed its lease, and Lease how
	// long the lease lasts from then. A live lease blocks every other
	// rollout, apply and rollback; an expired one means the holder died.
	// A zero Lease never expires by itself.
	Heartbeat time.Time
	Lease     time.Duration
}

// Expires reports when the marker's lease runs out; the zero time when it
// has no lease.
func (m *Marker) Expires() time.Time { return markerToDriver(m).Expires() }

// Verdicts record what rollouts learned about a route's revisions, stored
// on the target beside the marker: Good is the last revision that
// completed a rollout, Failed the revisions that failed a gate or were
// reverted (oldest first; every adapter keeps at least the newest 8).
type Verdicts struct {
	Good   string
	Failed []string
}

// IsFailed reports whether revision id is recorded as failed.
func (v *Verdicts) IsFailed(id string) bool { return verdictsToDriver(v).IsFailed(id) }

// RouteUpdate is one conditioned write of a route: the fields that are
// set change together or not at all.
type RouteUpdate struct {
	// Traffic, when non-nil, points the route at it (creating the route).
	Traffic *Traffic
	// Marker, when non-nil, replaces the rollout marker; ClearMarker
	// removes it.
	Marker      *Marker
	ClearMarker bool
	// Verdicts, when non-nil, replace the route's verdicts.
	Verdicts *Verdicts
}

// Provisioned reports provisioned concurrency on a route.
type Provisioned struct {
	Requested int
	Ready     int
	// Status is "READY", "IN_PROGRESS" or "FAILED".
	Status string
	Reason string
}

// Route is a named, weighted pointer to revisions.
type Route struct {
	Name    string
	Traffic Traffic
	// ETag changes on every update; pass it in ConditionOptions.IfMatch.
	ETag        string
	Marker      *Marker
	Verdicts    *Verdicts
	Provisioned *Provisioned
}

// State is what is live for one function.
type State struct {
	Name   string
	Config Config
	// ETag identifies this configuration, for ApplyOptions.IfMatch.
	ETag   string
	Routes map[string]*Route
	// Triggers are the triggers updraft owns, by key.
	Triggers []trigger.Trigger
	// TriggerDrift says, by trigger key, how a live trigger differs from
	// what the adapter writes for the same trigger where the portable
	// fields cannot show it (a setting an older updraft did not write):
	// Plan reports each as a trigger update, which Apply makes.
	TriggerDrift map[string]string
	// Endpoint is the HTTPS endpoint, when the function has one.
	Endpoint string
}

// ApplyOptions configure Apply. Nil means the defaults.
type ApplyOptions struct {
	// Publish asks for an immutable revision of the result.
	Publish bool
	// IfMatch, when set, must equal the State.ETag read before, or Apply
	// fails with FailedPrecondition.
	IfMatch string
	// IfNotExist makes Apply a create only: it fails with AlreadyExists
	// when the function exists, as the loser of a create race must.
	IfNotExist bool
	// BeforeApply lets a caller edit the native request(s) just before they
	// are sent (a VPC config, SnapStart, an app setting). asFunc converts to
	// the request types listed in the adapter's package doc.
	BeforeApply func(asFunc func(any) bool) error
}

// ApplyResult reports what Apply did.
type ApplyResult struct {
	Revision      *Revision
	Created       bool
	Changed       bool
	Published     bool
	UploadedBytes int64
}

// ConditionOptions carry an optimistic-concurrency precondition. Nil
// means unconditional.
type ConditionOptions struct {
	// IfMatch, when set, must equal the route's ETag.
	IfMatch string
}

// InvokeOptions select what Invoke runs.
type InvokeOptions struct {
	// Revision runs that revision directly; "" runs Route.
	Revision string
	// Route defaults to DefaultRoute.
	Route   string
	Payload []byte
}

// InvokeResult is one invocation's outcome. A function error is reported
// in FunctionError with a nil error.
type InvokeResult struct {
	Revision      string
	Payload       []byte
	FunctionError string
	Duration      time.Duration
}

// MetricsQuery selects invocations. Zero times mean unbounded.
type MetricsQuery struct {
	Route    string
	Revision string
	Since    time.Time
	Until    time.Time
}

// Metrics are invocation counts from the provider's monitoring.
type Metrics struct {
	Invocations int64
	Errors      int64
	Throttles   int64
	// HTTP is true when the target reports HTTP response classes; the
	// Status counts are then the responses with a 2xx, 4xx and 5xx status.
	HTTP                            bool
	Status2xx, Status4xx, Status5xx int64
}

// Range is an inclusive range of integers with a step.
type Range struct{ Min, Max, Step int }

// Capabilities describe a target's limits and features. Function
// validates every Spec against them before any call to the target (see
// Validate), and fills a Spec's zero values from their defaults.
type Capabilities struct {
	// Provider is the adapter's name, used in messages ("awslambda").
	Provider string
	// Memory is the allowed memory in MB. When MemoryValues is non-empty
	// only those values are allowed and Memory is ignored.
	Memory       Range
	MemoryValues []int
	// DefaultMemoryMB and DefaultTimeout fill a Spec's zero values.
	DefaultMemoryMB int
	DefaultTimeout  time.Duration
	// MaxTimeout is the longest invocation timeout; MaxEventTimeout, when
	// non-zero, the longest for functions with non-HTTP triggers.
	MaxTimeout, MaxEventTimeout time.Duration
	// Runtimes lists the portable runtime ids the target accepts.
	Runtimes []string
	// Architectures lists the accepted architectures ("amd64", "arm64");
	// the first is the default.
	Architectures []string
	// Triggers lists the trigger kinds the target can map.
	Triggers []trigger.Kind
	// MaxEventTriggers, when non-zero, bounds how many queue, stream and
	// storage triggers one function may have (Cloud Functions: one
	// EventTrigger).
	MaxEventTriggers int
	// WeightedTraffic is true when a route can split traffic by percent;
	// false means swap only (blue/green).
	WeightedTraffic bool
	// Provisioned and MaxConcurrency say whether Spec.Concurrency's
	// settings are supported; MaxProvisioned bounds Provisioned (0 = no
	// bound).
	Provisioned, MaxConcurrency bool
	MaxProvisioned              int
	// Secrets says whether secret references (Spec.Secrets) are supported.
	Secrets bool
	// MaxEnvBytes bounds the total size of environment names and values,
	// secrets' included (0 = none).
	MaxEnvBytes int
	// Env are the target's rules for environment variable names and
	// values; the zero value is the portable rule.
	Env EnvRules
	// CodeForm is the bundle form the target deploys. When its GOARCH is
	// empty it is filled from the Spec's architecture.
	CodeForm bundle.Form
	// CodeLimits are the target's package size limits.
	CodeLimits bundle.Limits
}

// EnvRules are a target's rules for environment variable names (of
// Spec.Env and Spec.Secrets) and values (of Spec.Env). The zero value is
// the portable rule: names of letters, digits and '_' starting with a
// letter, nothing reserved, and values without NUL.
type EnvRules struct {
	// NamePattern is an RE2 expression every name must match whole; ""
	// means the portable rule, [A-Za-z][A-Za-z0-9_]*.
	NamePattern string
	// NameRule says in words what NamePattern allows, for messages.
	NameRule string
	// ReservedNames are names the target sets itself and refuses to take
	// (AWS_REGION on Lambda); ReservedPrefixes are prefixes of such names
	// (X_GOOGLE_ on Cloud Functions). Both are compared exactly.
	ReservedNames, ReservedPrefixes []string
	// ForbiddenValueBytes are bytes no value may hold on this target. NUL
	// is always forbidden: no process environment can hold it.
	ForbiddenValueBytes string
}
