package awslambda

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/smithy-go"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// Scheme is the URL scheme awslambda registers: awslambda://NAME?region=….
const Scheme = "awslambda"

func init() {
	provider.DefaultURLMux().RegisterFunction(Scheme, new(URLOpener))
}

// MaxDirectUpload is the largest zip Lambda accepts inline (ZipFile);
// larger code goes through S3.
const MaxDirectUpload = 50 << 20

// Options configure a function handle. Nil means the defaults. Every
// field is optional; a zero duration or count means its default.
type Options struct {
	// DefaultRole is the execution role ARN used when a Spec has no
	// Identity. Creating a function needs one of the two.
	DefaultRole string

	// S3Client uploads code above MaxDirectUpload to CodeBucket and
	// manages S3 notification (storage) triggers. Nil disables both: large
	// code fails with InvalidArgument and storage triggers are not offered.
	S3Client *s3.Client
	// CodeBucket is the S3 bucket (same region) for code above
	// MaxDirectUpload; CodeKeyPrefix prefixes its keys (default "updraft/").
	CodeBucket, CodeKeyPrefix string

	// SchedulerClient and SchedulerRoleArn enable schedule triggers
	// (EventBridge Scheduler schedules that invoke the route). The role
	// must allow scheduler.amazonaws.com to call lambda:InvokeFunction.
	// ScheduleGroup defaults to "default".
	SchedulerClient  *scheduler.Client
	SchedulerRoleArn string
	ScheduleGroup    string

	// CloudWatchClient reads metrics for rollout gates; nil makes Metrics
	// return Unimplemented.
	CloudWatchClient *cloudwatch.Client

	// PollInterval is the first delay between readiness polls (default
	// 1s); it grows by half each poll up to MaxPollInterval (default 5s).
	PollInterval, MaxPollInterval time.Duration
	// UpdateTimeout bounds each wait for LastUpdateStatus, a new version or
	// an event source mapping (default 10m); ProvisionedTimeout the wait
	// for provisioned concurrency to be READY (default 30m).
	UpdateTimeout, ProvisionedTimeout time.Duration
	// MaxRetries bounds the retries of one call: transient errors
	// (throttling, server errors, broken connections, classified by type)
	// through the SDK's retryer, which the driver sets to MaxRetries+1
	// attempts on its own copies of the clients; and, separately, waits
	// for an "update in progress" conflict (409) to clear (default 5).
	// RetryBackoff is the first wait after a conflict (default 500ms),
	// doubling up to MaxRetryBackoff (default 10s).
	MaxRetries                    int
	RetryBackoff, MaxRetryBackoff time.Duration

	// maxDirectUpload lowers the inline upload limit (tests only).
	maxDirectUpload int64

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
	def(&c.MaxPollInterval, 5*time.Second)
	def(&c.UpdateTimeout, 10*time.Minute)
	def(&c.ProvisionedTimeout, 30*time.Minute)
	def(&c.RetryBackoff, 500*time.Millisecond)
	def(&c.MaxRetryBackoff, 10*time.Second)
	if c.MaxPollInterval < c.PollInterval {
		c.MaxPollInterval = c.PollInterval
	}
	if c.MaxRetries <= 0 {
		c.MaxRetries = 5
	}
	if c.maxDirectUpload <= 0 {
		c.maxDirectUpload = MaxDirectUpload
	}
	if c.CodeKeyPrefix == "" {
		c.CodeKeyPrefix = "updraft/"
	}
	if c.ScheduleGroup == "" {
		c.ScheduleGroup = "default"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// URLOpener opens awslambda:// URLs with the SDK's default configuration
// (credentials from the default chain). Query parameters:
//
//   - region: the AWS region (default: the SDK's default chain)
//   - role: the execution role ARN used when a Spec has no Identity
//   - code_bucket: S3 bucket for code above 50 MB
//   - scheduler_role: role EventBridge Scheduler assumes to invoke the
//     function, enabling schedule triggers
type URLOpener struct {
	// Options are the defaults the URL's parameters override.
	Options Options
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// OpenFunctionURL implements provider.FunctionURLOpener.
func (o *URLOpener) OpenFunctionURL(ctx context.Context, u *url.URL) (*provider.Function, error) {
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("awslambda URL %q: write awslambda://NAME?region=REGION with no path", u.Redacted())
	}
	opts := o.Options
	var cfgOpts []func(*config.LoadOptions) error
	for k, v := range u.Query() {
		val := v[len(v)-1]
		switch k {
		case "region":
			cfgOpts = append(cfgOpts, config.WithRegion(val))
		case "role":
			opts.DefaultRole = val
		case "code_bucket":
			opts.CodeBucket = val
		case "scheduler_role":
			opts.SchedulerRoleArn = val
		default:
			return nil, fmt.Errorf("awslambda://%s: unknown query parameter %q: use region, role, code_bucket or scheduler_role", u.Host, k)
		}
	}
	if !nameRE.MatchString(u.Host) {
		return nil, fmt.Errorf("awslambda://%s: function name: use 1 to 64 letters, digits, '-' and '_'", u.Host)
	}
	cfg, err := config.LoadDefaultConfig(ctx, cfgOpts...)
	if err != nil {
		return nil, fmt.Errorf("awslambda://%s: loading AWS configuration: %w", u.Host, err)
	}
	if opts.S3Client == nil {
		opts.S3Client = s3.NewFromConfig(cfg)
	}
	if opts.SchedulerClient == nil && opts.SchedulerRoleArn != "" {
		opts.SchedulerClient = scheduler.NewFromConfig(cfg)
	}
	if opts.CloudWatchClient == nil {
		opts.CloudWatchClient = cloudwatch.NewFromConfig(cfg)
	}
	return OpenFunction(ctx, lambda.NewFromConfig(cfg), u.Host, &opts)
}

// OpenFunction returns a handle to the Lambda function name, reached
// through client. The function need not exist yet: Apply creates it.
func OpenFunction(ctx context.Context, client *lambda.Client, name string, opts *Options) (*provider.Function, error) {
	d, err := openDriver(client, name, opts)
	if err != nil {
		return nil, err
	}
	return provider.NewFunction(d), nil
}

func openDriver(client *lambda.Client, name string, opts *Options) (*function, error) {
	if client == nil {
		return nil, &provider.Error{Code: provider.InvalidArgument, Target: Scheme + "://" + name, Op: "Open", Hint: "pass a *lambda.Client"}
	}
	if !nameRE.MatchString(name) {
		return nil, &provider.Error{Code: provider.InvalidArgument, Target: Scheme + "://" + name, Op: "Open",
			Hint: "use 1 to 64 letters, digits, '-' and '_'"}
	}
	o := opts.withDefaults()
	f := &function{user: client, name: name, opts: o, log: o.Logger.With("function", name)}
	// The driver owns transient retries: its copies of the clients retry
	// MaxRetries+1 times in the SDK, and nothing retries around them.
	attempts := o.MaxRetries + 1
	f.client = lambda.New(client.Options(), func(lo *lambda.Options) { lo.Retryer = retry.AddWithMaxAttempts(lo.Retryer, attempts) })
	if o.S3Client != nil {
		f.s3 = s3.New(o.S3Client.Options(), func(so *s3.Options) { so.Retryer = retry.AddWithMaxAttempts(so.Retryer, attempts) })
	}
	if o.SchedulerClient != nil {
		f.sched = scheduler.New(o.SchedulerClient.Options(), func(so *scheduler.Options) { so.Retryer = retry.AddWithMaxAttempts(so.Retryer, attempts) })
	}
	if o.CloudWatchClient != nil {
		f.cw = cloudwatch.New(o.CloudWatchClient.Options(), func(co *cloudwatch.Options) { co.Retryer = retry.AddWithMaxAttempts(co.Retryer, attempts) })
	}
	f.cache.routes = map[string]*types.AliasConfiguration{}
	f.cache.keys = map[string]string{}
	return f, nil
}

// function implements driver.Function for one Lambda function.
type function struct {
	// user is the client the caller gave (As returns it); client, s3,
	// sched and cw are the driver's copies with its retry policy.
	user   *lambda.Client
	client *lambda.Client
	s3     *s3.Client
	sched  *scheduler.Client
	cw     *cloudwatch.Client
	name   string
	opts   Options
	log    *slog.Logger

	cache readCache
}

func (f *function) Name() string { return f.name }

// Target implements driver.Targeter: the function is selected by its
// name, its region and, for a client with its own endpoint (an emulator),
// that endpoint — awslambda://NAME?region=REGION. The account is not part
// of it: knowing it would cost a call (STS GetCallerIdentity).
func (f *function) Target() string {
	o := f.user.Options()
	return driver.TargetURL(Scheme, f.name, map[string]string{"region": o.Region, "endpoint": aws.ToString(o.BaseEndpoint)})
}

// Capabilities implements driver.Function.
func (f *function) Capabilities() driver.Capabilities {
	// Every kind Lambda can map is listed; what a kind needs from the
	// handle (scheduler_role, an S3 client) and code over the inline limit
	// without code_bucket are reported by CheckSpec and Apply's pre-flight
	// as InvalidArgument naming the missing setting.
	kinds := []trigger.Kind{trigger.KindHTTP, trigger.KindQueue, trigger.KindStream, trigger.KindSchedule, trigger.KindStorage}
	limits := bundle.Limits{Target: Scheme, MaxZipBytes: 250 << 20, MaxUnzippedBytes: 250 << 20}
	return driver.Capabilities{
		Provider:        Scheme,
		Memory:          driver.Range{Min: 128, Max: 10240, Step: 1},
		DefaultMemoryMB: 128,
		DefaultTimeout:  3 * time.Second,
		MaxTimeout:      900 * time.Second,
		Runtimes:        runtimeIDs(),
		Architectures:   []string{"amd64", "arm64"},
		Triggers:        kinds,
		WeightedTraffic: true,
		Provisioned:     true,
		MaxConcurrency:  true,
		Secrets:         true,
		Env:             envRules,
		MaxEnvBytes:     4096,
		CodeForm:        bundle.Form{GoBuild: true, GOOS: "linux", Binary: "bootstrap"},
		CodeLimits:      limits,
	}
}

// ErrorCode implements driver.Function: it maps AWS error codes.
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
	var fe *FailedError
	if errors.As(err, &fe) {
		return driver.Internal
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return driver.Unknown
	}
	switch ae.ErrorCode() {
	case "ResourceNotFoundException", "ProvisionedConcurrencyConfigNotFoundException", "NoSuchBucket", "NoSuchKey", "NotFound":
		return driver.NotFound
	case "ResourceConflictException":
		if strings.Contains(ae.ErrorMessage(), "already exist") {
			return driver.AlreadyExists
		}
		return driver.FailedPrecondition
	case "ConflictException":
		return driver.AlreadyExists
	case "PreconditionFailedException", "ResourceInUseException":
		return driver.FailedPrecondition
	case "InvalidParameterValueException", "ValidationException", "InvalidRequestContentException", "RequestTooLargeException",
		"CodeStorageExceededException", "PolicyLengthExceededException", "InvalidArgument", "MalformedXML", "InvalidParameterValue",
		"InvalidZipFileException", "UnsupportedMediaTypeException", "InvalidRuntimeException":
		return driver.InvalidArgument
	case "TooManyRequestsException", "ThrottlingException", "EC2ThrottledException", "SlowDown", "ServiceQuotaExceededException", "LimitExceeded":
		return driver.ResourceExhausted
	case "AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException",
		"KMSAccessDeniedException", "InvalidClientTokenId", "MissingAuthenticationToken":
		return driver.PermissionDenied
	case "ServiceException", "InternalFailure", "InternalServerException", "ResourceNotReadyException", "InternalError", "ServiceUnavailable":
		return driver.Internal
	case "UnknownOperationException":
		return driver.Unimplemented
	}
	return driver.Unknown
}

// As implements driver.Function. See the package doc for the types.
func (f *function) As(i any) bool {
	switch p := i.(type) {
	case **lambda.Client:
		*p = f.user
		return true
	case **s3.Client:
		*p = f.opts.S3Client
		return f.opts.S3Client != nil
	case **scheduler.Client:
		*p = f.opts.SchedulerClient
		return f.opts.SchedulerClient != nil
	case **cloudwatch.Client:
		*p = f.opts.CloudWatchClient
		return f.opts.CloudWatchClient != nil
	}
	return false
}

// ErrorAs implements driver.Function with driver.ErrorAs (errors.As
// that never panics).
func (f *function) ErrorAs(err error, i any) bool { return driver.ErrorAs(err, i) }

// Close implements driver.Function. The SDK clients hold no resources
// that need releasing.
func (f *function) Close() error { return nil }

// FailedError reports that Lambda finished an update, a version, an
// event source mapping or provisioned concurrency in a failed state, with
// the reason Lambda gave. Its code is Internal.
type FailedError struct {
	// Function and What name the resource ("update of configuration").
	Function, What string
	// Status is the terminal status ("Failed", "FAILED").
	Status string
	// ReasonCode and Reason are Lambda's explanation.
	ReasonCode, Reason string
}

// Error says what failed and Lambda's reason.
func (e *FailedError) Error() string {
	msg := fmt.Sprintf("lambda function %s: %s ended %s", e.Function, e.What, e.Status)
	if e.ReasonCode != "" {
		msg += " (" + e.ReasonCode + ")"
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

func str(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// envRules are Lambda's rules for environment variables: names start with
// a letter, and the names its runtime sets itself are refused.
var envRules = driver.EnvRules{
	NamePattern: `[A-Za-z][A-Za-z0-9_]*`,
	NameRule:    "use letters, digits and '_', starting with a letter",
	ReservedNames: []string{"_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
		"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
		"AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
		"AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"},
}
