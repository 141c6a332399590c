package gcpfunctions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	functions "cloud.google.com/go/functions/apiv2"
	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	run "cloud.google.com/go/run/apiv2"
	scheduler "cloud.google.com/go/scheduler/apiv1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// Scheme is the URL scheme gcpfunctions registers:
// gcpfunctions://projects/P/locations/L/functions/NAME.
const Scheme = "gcpfunctions"

func init() {
	provider.DefaultURLMux().RegisterFunction(Scheme, new(URLOpener))
}

// Options configure a function handle. Nil means the defaults; every
// field is optional.
type Options struct {
	// RevisionsClient lists and deletes Cloud Run revisions. Nil makes
	// OpenFunction create one with Application Default Credentials.
	RevisionsClient *run.RevisionsClient
	// SchedulerClient and SchedulerServiceAccount enable schedule
	// triggers: Cloud Scheduler jobs that POST to the function's URL with
	// an OIDC token for that service account (which needs
	// roles/run.invoker on the function).
	SchedulerClient         *scheduler.CloudSchedulerClient
	SchedulerServiceAccount string
	// MetricClient reads Cloud Monitoring for rollout gates; nil makes
	// Metrics return Unimplemented.
	MetricClient *monitoring.MetricClient

	// ServiceAccount is the runtime service account for functions whose
	// Spec has no Identity ("" = Cloud Functions' default, the Compute
	// Engine default service account).
	ServiceAccount string
	// BuildServiceAccount, WorkerPool and DockerRepository go in the
	// BuildConfig when set; BuildEnv are build-time environment
	// variables (nil keeps the live ones).
	BuildServiceAccount, WorkerPool, DockerRepository string
	BuildEnv                                          map[string]string
	// Ingress is "all", "internal" or "internal-and-gclb"; "" keeps the
	// live setting (all on create).
	Ingress string
	// RequestConcurrency is how many requests one instance serves at once;
	// 0 keeps the live setting (1 on create). Above 1 the function gets
	// at least one vCPU, as Cloud Run requires.
	RequestConcurrency int
	// TriggerServiceAccount and TriggerRegion go in the EventTrigger of
	// queue, stream and storage triggers when set (a Firestore trigger
	// needs the database's region, such as "nam5").
	TriggerServiceAccount, TriggerRegion string
	// Runtimes maps portable runtime ids to Cloud Functions runtimes;
	// nil means DefaultRuntimes. RuntimesFromList builds one from
	// ListRuntimes.
	Runtimes map[string]string

	// HTTPClient uploads code to the signed URL. It must add no
	// credentials; nil means a plain client.
	HTTPClient *http.Client
	// InvokeClient calls the function's URL for Invoke. Nil means an
	// ID-token client from Application Default Credentials (a service
	// account), made per URL.
	InvokeClient *http.Client

	// PollInterval is the first delay between operation polls (default
	// 1s), growing by half up to MaxPollInterval (default 10s);
	// OperationTimeout bounds each wait (default 20m).
	PollInterval, MaxPollInterval, OperationTimeout time.Duration
	// MaxRetries bounds the retries of a call that failed with
	// UNAVAILABLE, ABORTED (an operation in progress) or
	// RESOURCE_EXHAUSTED (default 6); RetryBackoff is the first backoff
	// (default 500ms), doubling up to MaxRetryBackoff (default 10s).
	MaxRetries                    int
	RetryBackoff, MaxRetryBackoff time.Duration

	// Logger receives debug records of each step; nil discards them.
	// Environment values are never logged.
	Logger *slog.Logger
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.PollInterval, time.Second)
	def(&c.MaxPollInterval, 10*time.Second)
	def(&c.OperationTimeout, 20*time.Minute)
	def(&c.RetryBackoff, 500*time.Millisecond)
	def(&c.MaxRetryBackoff, 10*time.Second)
	c.MaxPollInterval = max(c.MaxPollInterval, c.PollInterval)
	if c.MaxRetries <= 0 {
		c.MaxRetries = 6
	}
	if c.Runtimes == nil {
		c.Runtimes = DefaultRuntimes
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 30 * time.Minute}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// URLOpener opens gcpfunctions:// URLs with Application Default
// Credentials. Query parameters (all optional):
//
//   - service_account: runtime service account for specs with no Identity
//   - build_service_account, worker_pool, docker_repository: build options
//   - build_env: build-time variables, K=V pairs joined by commas
//   - ingress: all, internal or internal-and-gclb
//   - concurrency: requests per instance
//   - scheduler_service_account: enables schedule triggers (OIDC identity)
//   - trigger_service_account, trigger_region: for event triggers
type URLOpener struct {
	// Options are the defaults the URL's parameters override.
	Options Options
}

var (
	fullNameRE = regexp.MustCompile(`^projects/([a-z0-9][a-z0-9.:-]{0,62})/locations/([a-z]+-[a-z]+[0-9]+)/functions/([a-z]([a-z0-9-]{0,61}[a-z0-9])?)$`)
	emailRE    = regexp.MustCompile(`^[^@\s]+@[^@\s]+$`)
)

// OpenFunctionURL implements provider.FunctionURLOpener.
func (o *URLOpener) OpenFunctionURL(ctx context.Context, u *url.URL) (*provider.Function, error) {
	name := strings.TrimPrefix(u.Host+u.Path, "/")
	if !fullNameRE.MatchString(name) {
		return nil, fmt.Errorf("gcpfunctions URL %q: write gcpfunctions://projects/PROJECT/locations/REGION/functions/NAME (NAME: lower-case letters, digits and '-')", u.Redacted())
	}
	opts := o.Options
	if err := parseQuery(name, u.Query(), &opts); err != nil {
		return nil, err
	}
	fc, err := functions.NewFunctionClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("gcpfunctions://%s: creating the Cloud Functions client (Application Default Credentials: run gcloud auth application-default login or set GOOGLE_APPLICATION_CREDENTIALS): %w", name, err)
	}
	sc, err := run.NewServicesClient(ctx)
	if err != nil {
		fc.Close()
		return nil, fmt.Errorf("gcpfunctions://%s: creating the Cloud Run client: %w", name, err)
	}
	owned := []closer{fc, sc}
	if opts.MetricClient == nil {
		mc, err := monitoring.NewMetricClient(ctx)
		if err != nil {
			closeAll(owned)
			return nil, fmt.Errorf("gcpfunctions://%s: creating the Cloud Monitoring client: %w", name, err)
		}
		opts.MetricClient = mc
		owned = append(owned, mc)
	}
	if opts.SchedulerClient == nil && opts.SchedulerServiceAccount != "" {
		sch, err := scheduler.NewCloudSchedulerClient(ctx)
		if err != nil {
			closeAll(owned)
			return nil, fmt.Errorf("gcpfunctions://%s: creating the Cloud Scheduler client: %w", name, err)
		}
		opts.SchedulerClient = sch
		owned = append(owned, sch)
	}
	d, err := openDriver(ctx, fc, sc, name, &opts)
	if err != nil {
		closeAll(owned)
		return nil, err
	}
	d.owned = append(d.owned, owned...)
	return provider.NewFunction(d), nil
}

// parseQuery applies a URL's query parameters to opts.
func parseQuery(name string, q url.Values, opts *Options) error {
	for k, v := range q {
		val := v[len(v)-1]
		switch k {
		case "service_account":
			opts.ServiceAccount = val
		case "build_service_account":
			opts.BuildServiceAccount = val
		case "worker_pool":
			opts.WorkerPool = val
		case "docker_repository":
			opts.DockerRepository = val
		case "build_env":
			opts.BuildEnv = map[string]string{}
			for _, kv := range strings.Split(val, ",") {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("gcpfunctions://%s: build_env %q: write K=V pairs joined by commas", name, val)
				}
				opts.BuildEnv[k] = v
			}
		case "ingress":
			opts.Ingress = val
		case "concurrency":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > 1000 {
				return fmt.Errorf("gcpfunctions://%s: concurrency %q: use 1 to 1000", name, val)
			}
			opts.RequestConcurrency = n
		case "scheduler_service_account":
			opts.SchedulerServiceAccount = val
		case "trigger_service_account":
			opts.TriggerServiceAccount = val
		case "trigger_region":
			opts.TriggerRegion = val
		default:
			return fmt.Errorf("gcpfunctions://%s: unknown query parameter %q: use service_account, build_service_account, worker_pool, docker_repository, build_env, ingress, concurrency, scheduler_service_account, trigger_service_account or trigger_region", name, k)
		}
	}
	return nil
}

type closer interface{ Close() error }

func closeAll(cs []closer) error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// OpenFunction returns a handle to the function name (its full resource
// name, projects/P/locations/L/functions/ID), reached through fc and sc.
// The function need not exist yet: Apply creates it. The clients stay
// the caller's to close.
func OpenFunction(ctx context.Context, fc *functions.FunctionClient, sc *run.ServicesClient, name string, opts *Options) (*provider.Function, error) {
	d, err := openDriver(ctx, fc, sc, name, opts)
	if err != nil {
		return nil, err
	}
	return provider.NewFunction(d), nil
}

// OpenDriver returns the driver behind OpenFunction, for conformance
// harnesses. Application code uses OpenFunction.
func OpenDriver(ctx context.Context, fc *functions.FunctionClient, sc *run.ServicesClient, name string, opts *Options) (driver.Function, error) {
	return openDriver(ctx, fc, sc, name, opts)
}

func openDriver(ctx context.Context, fc *functions.FunctionClient, sc *run.ServicesClient, name string, opts *Options) (*function, error) {
	target := Scheme + "://" + name
	if fc == nil || sc == nil {
		return nil, provider.Errorf(provider.InvalidArgument, target, "Open", "%s", "pass a *functions.FunctionClient and a *run.ServicesClient")
	}
	m := fullNameRE.FindStringSubmatch(name)
	if m == nil {
		return nil, provider.Errorf(provider.InvalidArgument, target, "Open", "%s", "name the function projects/PROJECT/locations/REGION/functions/ID (ID: 1 to 63 lower-case letters, digits and '-', starting with a letter)")
	}
	o := opts.withDefaults()
	switch o.Ingress {
	case "", "all", "internal", "internal-and-gclb":
	default:
		return nil, provider.Errorf(provider.InvalidArgument, target, "Open", "%s", fmt.Sprintf("ingress %q: use all, internal or internal-and-gclb", o.Ingress))
	}
	for _, sa := range []string{o.ServiceAccount, o.SchedulerServiceAccount, o.TriggerServiceAccount} {
		if sa != "" && !emailRE.MatchString(sa) {
			return nil, provider.Errorf(provider.InvalidArgument, target, "Open", "%s", fmt.Sprintf("service account %q: give its email", sa))
		}
	}
	f := &function{fc: fc, sc: sc, rc: o.RevisionsClient, name: name, project: m[1], location: m[2], id: m[3], opts: o}
	f.parent = "projects/" + f.project + "/locations/" + f.location
	f.svcName = f.parent + "/services/" + f.id
	f.log = o.Logger.With("function", name)
	if f.rc == nil {
		rc, err := run.NewRevisionsClient(ctx)
		if err != nil {
			return nil, provider.Errorf(provider.InvalidArgument, target, "Open", "%s", "pass Options.RevisionsClient, or set up Application Default Credentials")
		}
		f.rc = rc
		f.owned = append(f.owned, rc)
	}
	return f, nil
}

// function implements driver.Function for one Cloud Functions (2nd gen)
// function and its Cloud Run service.
type function struct {
	fc   *functions.FunctionClient
	sc   *run.ServicesClient
	rc   *run.RevisionsClient
	opts Options
	log  *slog.Logger

	name, parent, project, location, id, svcName string

	owned []closer

	mu      sync.Mutex
	invokes map[string]*http.Client // ID-token clients by audience
}

func (f *function) Name() string { return f.name }

// DefaultRuntimes maps portable runtime ids to Cloud Functions 2nd gen
// runtimes, from ListRuntimes (GA stage) as of late 2026.
var DefaultRuntimes = map[string]string{
	"go":         "go126",
	"nodejs22":   "nodejs22",
	"nodejs20":   "nodejs20",
	"python3.13": "python313",
	"python3.12": "python312",
	"java21":     "java21",
}

// envRules are Cloud Functions' rules for variable names: the ones Cloud
// Run and the Functions Framework set, Google's prefix, and updraft's own.
var envRules = driver.EnvRules{
	ReservedNames:    []string{"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION", "FUNCTION_TARGET", "FUNCTION_SIGNATURE_TYPE"},
	ReservedPrefixes: []string{"X_GOOGLE_", envPrefix},
}

// MaxZipBytes is the largest source zip the adapter uploads (the limit
// gcloud asks the signed URL to enforce).
const MaxZipBytes = 100 << 20

// Capabilities implements driver.Function.
func (f *function) Capabilities() driver.Capabilities {
	kinds := []trigger.Kind{trigger.KindHTTP, trigger.KindQueue, trigger.KindStream, trigger.KindStorage}
	if f.opts.SchedulerClient != nil && f.opts.SchedulerServiceAccount != "" {
		kinds = append(kinds, trigger.KindSchedule)
	}
	return driver.Capabilities{
		Provider:         Scheme,
		Memory:           driver.Range{Min: 128, Max: 32768, Step: 1},
		DefaultMemoryMB:  256,
		DefaultTimeout:   60 * time.Second,
		MaxTimeout:       3600 * time.Second,
		MaxEventTimeout:  540 * time.Second,
		Runtimes:         slices.Sorted(maps.Keys(f.opts.Runtimes)),
		Architectures:    []string{"amd64"},
		Triggers:         kinds,
		MaxEventTriggers: 1,
		WeightedTraffic:  true,
		Provisioned:      true,
		MaxConcurrency:   true,
		MaxProvisioned:   1000,
		Secrets:          true,
		MaxEnvBytes:      32 << 10,
		Env:              envRules,
		CodeForm:         bundle.Form{},
		CodeLimits:       bundle.Limits{Target: Scheme, MaxZipBytes: MaxZipBytes, MaxUnzippedBytes: 500 << 20},
	}
}

// ErrorCode implements driver.Function: it maps gRPC status codes (never
// message text).
func (f *function) ErrorCode(err error) driver.ErrorCode { return errorCode(err) }

func errorCode(err error) driver.ErrorCode {
	switch {
	case err == nil:
		return driver.OK
	case errors.Is(err, context.Canceled):
		return driver.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return driver.DeadlineExceeded
	}
	if c := driver.CodeOf(err); c != driver.Unknown {
		return c
	}
	switch status.Code(err) {
	case codes.OK:
		return driver.OK
	case codes.NotFound:
		return driver.NotFound
	case codes.AlreadyExists:
		return driver.AlreadyExists
	case codes.InvalidArgument, codes.OutOfRange:
		return driver.InvalidArgument
	case codes.FailedPrecondition, codes.Aborted:
		return driver.FailedPrecondition
	case codes.PermissionDenied, codes.Unauthenticated:
		return driver.PermissionDenied
	case codes.ResourceExhausted:
		return driver.ResourceExhausted
	case codes.Unimplemented:
		return driver.Unimplemented
	case codes.Canceled:
		return driver.Canceled
	case codes.DeadlineExceeded:
		return driver.DeadlineExceeded
	case codes.Unavailable, codes.Internal, codes.DataLoss:
		return driver.Internal
	}
	return driver.Unknown
}

// As implements driver.Function. See the package doc for the types.
func (f *function) As(i any) bool {
	switch p := i.(type) {
	case **functions.FunctionClient:
		*p = f.fc
		return true
	case **run.ServicesClient:
		*p = f.sc
		return true
	case **run.RevisionsClient:
		*p = f.rc
		return true
	case **scheduler.CloudSchedulerClient:
		*p = f.opts.SchedulerClient
		return f.opts.SchedulerClient != nil
	case **monitoring.MetricClient:
		*p = f.opts.MetricClient
		return f.opts.MetricClient != nil
	}
	return false
}

// ErrorAs implements driver.Function with errors.As, returning false
// instead of panicking for a target errors.As does not accept.
func (f *function) ErrorAs(err error, i any) bool {
	if err == nil || i == nil {
		return false
	}
	v := reflect.ValueOf(i)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return false
	}
	t := v.Type().Elem()
	if t.Kind() != reflect.Interface && !t.Implements(reflect.TypeFor[error]()) {
		return false
	}
	return errors.As(err, i)
}

// Close implements driver.Function: it closes the clients the handle
// created (never the ones passed in).
func (f *function) Close() error { return closeAll(f.owned) }

// BuildError reports a deploy whose Cloud Build failed, with the build's
// message and log URL. Its code is the operation's (InvalidArgument).
type BuildError struct {
	// Function is the full resource name.
	Function string
	// Message is what the build stage reported; LogURL its Cloud Build log.
	Message, LogURL string
	// Err is the operation's error (an *apierror.APIError).
	Err error
}

// Error says what failed and where the log is.
func (e *BuildError) Error() string {
	msg := fmt.Sprintf("build of %s failed: %s", e.Function, e.Message)
	if e.LogURL != "" && !strings.Contains(e.Message, e.LogURL) {
		msg += " (build log: " + e.LogURL + ")"
	}
	return msg
}

// Unwrap returns the operation's error.
func (e *BuildError) Unwrap() error { return e.Err }
