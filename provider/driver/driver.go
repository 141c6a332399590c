// Package driver defines the interface that provider adapters implement
// (awslambda, gcpfunctions, azurefunctions, localprovider, memprovider).
//
// Application code should use package provider: its *provider.Function
// validates specs, fills defaults, builds code bundles, wraps errors with
// codes and enforces Close, so drivers only talk to their cloud. The types
// here are the driver's own copies of the portable ones; they are not
// aliases, so each side documents them for its audience, and a test in
// package provider compares every pair's fields by reflection, so a field
// added here must be added there too (package provider's doc says why).
//
// Optional interfaces: a driver may also implement Targeter (its
// canonical target), ScopedGetter (a read limited to what a Spec
// manages, which deploy uses for every plan; without it deploy reads
// with Get) and LiveRevisioner (which revision holds the live
// configuration, known without a call; without it deploy lists
// revisions when a Spec changes nothing). Each is found by a type
// assertion, so a driver without them keeps working unchanged.
//
// Errors: return an *Error (NewError, or Wrap to keep an SDK error as the
// cause) when the driver knows the code, or the SDK's error mapped in
// ErrorCode. Say what the driver knows and no more: the portable type
// adds the target, the operation and the code.
package driver

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/trigger"
)

// ErrorCode classifies an error. The numbers are stable: they may be stored.
type ErrorCode int

// The error codes, named after gRPC's.
const (
	OK                 ErrorCode = 0
	Unknown            ErrorCode = 1
	NotFound           ErrorCode = 2
	AlreadyExists      ErrorCode = 3
	InvalidArgument    ErrorCode = 4
	Internal           ErrorCode = 5
	Unimplemented      ErrorCode = 6
	FailedPrecondition ErrorCode = 7
	PermissionDenied   ErrorCode = 8
	ResourceExhausted  ErrorCode = 9
	Canceled           ErrorCode = 10
	DeadlineExceeded   ErrorCode = 11
)

var codeNames = [...]string{"OK", "Unknown", "NotFound", "AlreadyExists", "InvalidArgument", "Internal",
	"Unimplemented", "FailedPrecondition", "PermissionDenied", "ResourceExhausted", "Canceled", "DeadlineExceeded"}

// String returns the code's name, such as "NotFound".
func (c ErrorCode) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "ErrorCode(" + strconv.Itoa(int(c)) + ")"
}

// Error is an error that already carries its code. Drivers whose "cloud"
// is their own code (memprovider, localprovider) return it; cloud drivers
// either return raw SDK errors and map them in ErrorCode, or give one a
// code and a message with Wrap.
//
// An Error says what the driver knows (which revision, which route, why)
// and nothing the portable type adds: it must not repeat the target, the
// operation or the code, which *provider.Error prints once.
type Error struct {
	Code ErrorCode
	Msg  string
	// Err is the cause, if any. Unwrap returns it, so errors.As still
	// reaches a native SDK error under a coded one.
	Err error
}

// Error returns the message, then the cause's after a colon.
func (e *Error) Error() string {
	switch {
	case e.Err == nil && e.Msg == "":
		return e.Code.String()
	case e.Err == nil:
		return e.Msg
	case e.Msg == "":
		return e.Err.Error()
	}
	return e.Msg + ": " + e.Err.Error()
}

// Unwrap returns the cause (nil when there is none).
func (e *Error) Unwrap() error { return e.Err }

// NewError returns an *Error with code and message.
func NewError(code ErrorCode, msg string) error { return &Error{Code: code, Msg: msg} }

// Wrap returns an *Error with code and message msg whose cause is cause:
// its text follows msg, and errors.As reaches it. It is how an adapter
// gives an SDK error the code it knows it has ("the role cannot be
// assumed yet" on a 400 InvalidParameterValueException) without losing
// it. msg may be empty; cause nil makes it NewError.
func Wrap(code ErrorCode, cause error, msg string) error {
	return &Error{Code: code, Msg: msg, Err: cause}
}

// CodeOf returns the code of the first *Error in err's chain, or Unknown.
func CodeOf(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Unknown
}

// Range is an inclusive range of integers with a step.
type Range struct{ Min, Max, Step int }

// Capabilities describe what a target supports and its limits. The
// portable type validates every Spec against them before any call.
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
	// Provisioned and MaxConcurrency say whether those settings are supported;
	// MaxProvisioned bounds Provisioned (0 = no bound).
	Provisioned, MaxConcurrency bool
	MaxProvisioned              int
	// Secrets says whether secret references are supported.
	Secrets bool
	// MaxEnvBytes bounds the total size of environment keys and values (0 = none).
	MaxEnvBytes int
	// Env are the target's rules for environment variable names and
	// values; the zero value is the portable rule.
	Env EnvRules
	// CodeForm is the bundle form the target deploys. When its GOARCH is
	// empty the portable type fills it from the Spec's architecture.
	CodeForm bundle.Form
	// CodeLimits are the target's package size limits.
	CodeLimits bundle.Limits
}

// EnvRules are a target's rules for the names and values of environment
// variables (Spec.Env, and the names of Spec.Secrets). The portable type
// checks them in Validate, so the target never sees a name it refuses.
// The zero value is the portable rule.
type EnvRules struct {
	// NamePattern is an RE2 expression every name must match whole;
	// "" means PortableEnvNamePattern.
	NamePattern string
	// NameRule says in words what NamePattern allows, for messages; ""
	// means PortableEnvNameRule.
	NameRule string
	// ReservedNames are names the target sets itself and refuses to take;
	// ReservedPrefixes are prefixes of such names ("X_GOOGLE_"). Both are
	// compared exactly.
	ReservedNames, ReservedPrefixes []string
	// ForbiddenValueBytes are bytes no value may hold on this target. NUL
	// is always forbidden: no process environment can hold it.
	ForbiddenValueBytes string
}

// The portable rule for environment variable names: what every cloud
// accepts.
const (
	PortableEnvNamePattern = `[A-Za-z][A-Za-z0-9_]*`
	PortableEnvNameRule    = "use letters, digits and '_', starting with a letter"
)

// Concurrency is the driver's copy of provider.Concurrency.
type Concurrency struct {
	Provisioned *int
	Max         *int
}

// Spec is the driver's copy of provider.Spec, validated and with defaults
// filled in. Nil maps and slices mean "not managed": leave what is live.
// Empty non-nil ones mean "clear".
type Spec struct {
	Runtime      string
	Entrypoint   string
	Bundle       *bundle.Bundle // code in this target's CodeForm; nil = code not managed
	MemoryMB     int
	Timeout      time.Duration
	Architecture string
	Concurrency  Concurrency
	Env          map[string]string
	Secrets      map[string]string // env var name → secret reference
	Triggers     []trigger.Trigger // normalized
	Tracing      bool
	LogFormat    string
	Labels       map[string]string
	Identity     string
	Route        string // never empty
}

// Config is the live configuration of a function, as the driver reads it.
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

// Revision is an immutable published version of code and configuration.
type Revision struct {
	ID         string
	CodeDigest string
	Created    time.Time
	Config     Config
}

// Traffic is a two-way split on a route. Candidate is "" when all traffic
// goes to Stable.
type Traffic struct {
	Stable           string
	Candidate        string
	CandidatePercent int
}

// Marker is the rollout record stored on a route in the cloud itself.
type Marker struct {
	ID        string
	Holder    string
	Stable    string
	Candidate string
	Step      int
	Percent   int
	Started   time.Time
	// Heartbeat is when the holder last renewed its lease, and Lease how
	// long the lease lasts from then. A zero Lease is a marker written
	// without a lease, which never expires by itself.
	Heartbeat time.Time
	Lease     time.Duration
}

// Expires reports when the marker's lease runs out; the zero time when it
// has no lease.
func (m *Marker) Expires() time.Time {
	if m == nil || m.Lease <= 0 {
		return time.Time{}
	}
	hb := m.Heartbeat
	if hb.IsZero() {
		hb = m.Started
	}
	return hb.Add(m.Lease)
}

// Verdicts record what rollouts learned about a route's revisions. They
// are stored on the target beside the marker, so every run sees them.
type Verdicts struct {
	// Good is the last revision that completed a rollout ("" = none yet).
	Good string
	// Failed lists revisions that failed a gate or were reverted, oldest
	// first. A driver whose storage is bounded keeps at least the newest
	// MinFailedVerdicts and says so in its package doc.
	Failed []string
}

// MinFailedVerdicts is how many failed revisions every driver keeps at
// least.
const MinFailedVerdicts = 8

// IsFailed reports whether revision id is recorded as failed.
func (v *Verdicts) IsFailed(id string) bool {
	return v != nil && id != "" && slices.Contains(v.Failed, id)
}

// Clone returns a deep copy (nil for nil).
func (v *Verdicts) Clone() *Verdicts {
	if v == nil {
		return nil
	}
	return &Verdicts{Good: v.Good, Failed: slices.Clone(v.Failed)}
}

// Provisioned is the status of provisioned concurrency on a route.
type Provisioned struct {
	Requested int
	Ready     int
	// Status is "READY", "IN_PROGRESS" or "FAILED".
	Status string
	Reason string
}

// Route is a named, weighted pointer to revisions (Lambda alias, Cloud Run
// traffic, Azure slot).
type Route struct {
	Name    string
	Traffic Traffic
	// ETag changes on every update; pass it back in IfMatch.
	ETag        string
	Marker      *Marker
	Verdicts    *Verdicts
	Provisioned *Provisioned
}

// RouteUpdate is one conditioned write of a route. Nil fields are left as
// they are; several fields change together or not at all.
type RouteUpdate struct {
	// Traffic, when non-nil, points the route at it. Only an update with
	// Traffic creates a route that does not exist.
	Traffic *Traffic
	// Marker, when non-nil, replaces the rollout marker; ClearMarker
	// removes it (Marker must then be nil).
	Marker      *Marker
	ClearMarker bool
	// Verdicts, when non-nil, replace the route's verdicts.
	Verdicts *Verdicts
}

// State is what is live for one function.
type State struct {
	Name   string
	Config Config
	// ETag of the function's configuration, for Apply's IfMatch.
	ETag   string
	Routes map[string]*Route
	// Triggers are the triggers updraft owns (by key), normalized.
	Triggers []trigger.Trigger
	// TriggerDrift says, by trigger key, how a live trigger differs from
	// what the driver writes for the same portable trigger, when the
	// portable fields cannot show it (a setting an older updraft did not
	// write). Plan reports each as a trigger update, which Apply makes.
	TriggerDrift map[string]string
	// Endpoint is the function's HTTPS endpoint, if it has one.
	Endpoint string
}

// ApplyOptions is the driver's copy of provider.ApplyOptions.
type ApplyOptions struct {
	// Publish asks for a new immutable revision when code or configuration
	// changed (or when none exists yet).
	Publish bool
	// IfMatch, when non-empty, must equal State.ETag or Apply fails with
	// FailedPrecondition.
	IfMatch string
	// IfNotExist makes Apply a create only: AlreadyExists when the
	// function exists (it lost a create race). Never set with IfMatch.
	IfNotExist bool
	// BeforeApply, when non-nil, is called with an asFunc over the native
	// request(s) right before they are sent.
	BeforeApply func(asFunc func(any) bool) error
}

// ApplyResult reports what Apply did.
type ApplyResult struct {
	// Revision is the newest published revision matching the spec (nil
	// when Publish was false).
	Revision *Revision
	// Created is true when the function did not exist before.
	Created bool
	// Changed is true when code or configuration was updated.
	Changed bool
	// Published is true when a new revision was published.
	Published bool
	// UploadedBytes is how many code bytes were sent (0 when unchanged).
	UploadedBytes int64
}

// ConditionOptions carry an optimistic-concurrency precondition.
type ConditionOptions struct {
	// IfMatch, when non-empty, must equal the route's ETag.
	IfMatch string
}

// InvokeRequest asks to run the function once.
type InvokeRequest struct {
	// Revision runs that revision directly; "" runs Route.
	Revision string
	Route    string
	Payload  []byte
}

// InvokeResult is one invocation's outcome. A function error is reported
// in FunctionError, not as an error.
type InvokeResult struct {
	Revision      string
	Payload       []byte
	FunctionError string
	Duration      time.Duration
}

// MetricsQuery selects invocations of one revision (or all when "").
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
	// HTTP is true when the provider reports HTTP response classes; the
	// Status counts are then the responses with a 2xx, 4xx and 5xx status.
	HTTP                            bool
	Status2xx, Status4xx, Status5xx int64
}

// Targeter is implemented by a driver whose function is selected by more
// than its name: a region, an account or profile, an endpoint, a project,
// a state directory. Target returns the function's canonical target,
// built with TargetURL, which the portable type reports as
// Function.Target. Two drivers with the same Target must address the
// same function, and two functions must never share one: deploy refuses a
// target given twice by it. A driver without Target is "PROVIDER://NAME".
type Targeter interface {
	Target() string
}

// TargetURL returns the canonical target "scheme://name?k=v&…": the
// selectors with a value, sorted by key and query-escaped. Selectors are
// the values that pick which function name names (region, profile or
// account, endpoint), resolved (the region the SDK resolved, not only the
// one in the URL) and normalised (lower-case region); never settings for
// creates (a role) and never credentials.
func TargetURL(scheme, name string, selectors map[string]string) string {
	q := url.Values{}
	for k, v := range selectors {
		if v != "" {
			q.Set(k, v)
		}
	}
	t := scheme + "://" + name
	if len(q) > 0 {
		t += "?" + q.Encode()
	}
	return t
}

// SpecChecker is implemented by drivers whose targets have rules a
// Capabilities cannot state: the form of a trigger's source, a setting
// one cloud lacks, a runtime missing from a table. CheckSpec makes no
// call and no I/O; the portable Validate, and so every Plan, runs it
// after the Capabilities checks pass, and Apply runs Validate first, so
// what it refuses is reported before any call. It returns the driver's
// error for the first rule broken (InvalidArgument, or Unimplemented for
// a feature the target lacks).
type SpecChecker interface {
	CheckSpec(s *Spec) error
}

// Function is one function on one target. Unless stated otherwise the
// portable type guarantees: ctx is not done on entry, option pointers are
// non-nil, a Spec is validated against Capabilities with defaults filled,
// and the Function is not closed.
type Function interface {
	// Name is the function's name on the target.
	Name() string
	// Capabilities reports limits and supported features. No I/O.
	Capabilities() Capabilities
	// Get reads the live state. NotFound if the function does not exist.
	Get(ctx context.Context) (*State, error)
	// Apply creates or updates the function so it matches s and returns
	// only once the cloud reports it ready. It reconciles the triggers
	// updraft owns and provisioned concurrency on s.Route, creating the
	// route at 100% on the published revision if it does not exist (which
	// needs Publish). Applying the same spec twice changes nothing and
	// uploads nothing. Transient conflicts are retried inside the driver.
	// FailedPrecondition when opts.IfMatch is stale.
	Apply(ctx context.Context, s *Spec, opts *ApplyOptions) (*ApplyResult, error)
	// ListRevisions lists published revisions, oldest first. NotFound if
	// the function does not exist.
	ListRevisions(ctx context.Context) ([]*Revision, error)
	// UpdateRoute writes u to route in one conditioned write and returns
	// the route as written (with its new ETag; Provisioned may be nil).
	// An update with Traffic creates the route if needed. NotFound for an
	// unknown revision, or a missing route without u.Traffic;
	// FailedPrecondition when opts.IfMatch is stale (also when the route
	// does not exist); Unimplemented when Traffic.CandidatePercent is
	// strictly between 0 and 100 and the target has no weighted traffic.
	// The portable type guarantees u is non-nil, names at least one field,
	// and that Traffic is normalized (Candidate "" at 0%, never at 100%).
	UpdateRoute(ctx context.Context, route string, u *RouteUpdate, opts *ConditionOptions) (*Route, error)
	// DeleteRevision deletes one revision. FailedPrecondition if a route
	// or provisioned concurrency references it; NotFound if absent.
	DeleteRevision(ctx context.Context, id string) error
	// Delete deletes the function with its routes and owned triggers.
	// NotFound if absent.
	Delete(ctx context.Context) error
	// Invoke runs the function once. Unimplemented if the driver cannot.
	Invoke(ctx context.Context, req *InvokeRequest) (*InvokeResult, error)
	// Metrics returns invocation counts. Unimplemented if unavailable.
	Metrics(ctx context.Context, q *MetricsQuery) (*Metrics, error)
	// ErrorCode maps an error returned by this driver to a code.
	ErrorCode(error) ErrorCode
	// As converts i to a native type; see the adapter's package doc.
	As(i any) bool
	// ErrorAs converts err to a native error type.
	ErrorAs(err error, i any) bool
	// Close releases resources. The portable type calls it once.
	Close() error
}
