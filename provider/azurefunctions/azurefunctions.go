package azurefunctions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appservice/armappservice/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// Scheme is the URL scheme azurefunctions registers.
const Scheme = "azurefunctions"

func init() {
	provider.DefaultURLMux().RegisterFunction(Scheme, new(URLOpener))
}

// Plan is an Azure Functions hosting plan.
type Plan string

// The hosting plans the adapter deploys to.
const (
	// Flex is Flex Consumption (FC1): no slots, no traffic split.
	Flex Plan = "flex"
	// Premium is Elastic Premium (EP1–EP3): a staging slot and swaps.
	Premium Plan = "premium"
)

// Options configure a function handle. Nil means the defaults. Only what
// creating an app needs is required, and only when it is created.
type Options struct {
	// Plan is the hosting plan (default Flex). An existing app must be on
	// this plan.
	Plan Plan
	// Location is the Azure region used to create the app and its plan.
	Location string
	// PlanName names the App Service plan (default APP-plan); created if
	// missing. PremiumSKU is EP1, EP2 or EP3; by default the SKU whose
	// memory the Spec asks for (3584, 7168 or 14336 MB). An existing
	// plan's SKU is not changed.
	PlanName, PremiumSKU string
	// StorageAccount is the host storage account (AzureWebJobsStorage,
	// reached with the app's managed identity). Required to create.
	StorageAccount string
	// DeploymentContainer is the Flex deployment container URL (default
	// https://ACCOUNT.blob.core.windows.net/app-package-APP).
	DeploymentContainer string
	// RevisionContainer is the blob container where revisions (their
	// configuration and package) are kept (default: the deployment
	// container on Flex, https://ACCOUNT.blob.core.windows.net/updraft-APP
	// on Premium). The caller's identity needs Storage Blob Data
	// Contributor on it.
	RevisionContainer string
	// FlexRuntime is the Flex functionAppConfig runtime (default
	// "custom" "1.0": the package is a custom handler).
	FlexRuntime, FlexRuntimeVersion string
	// PerInstanceConcurrency sets Flex's HTTP per-instance concurrency
	// (0 = the platform default).
	PerInstanceConcurrency int
	// PreWarmedInstances sets Premium's pre-warmed buffer (0 = default).
	PreWarmedInstances int
	// StagingSlot names the Premium staging slot (default "staging").
	StagingSlot string
	// ApplicationInsightsConnectionString, when set, is written as
	// APPLICATIONINSIGHTS_CONNECTION_STRING for specs with Tracing.
	ApplicationInsightsConnectionString string

	// MetricsClient reads Azure Monitor metrics for rollout gates; nil
	// makes Metrics return Unimplemented. URLs get one.
	MetricsClient *armmonitor.MetricsClient

	// SCMScope is the token scope for the SCM (Kudu) host (default
	// https://management.azure.com/.default).
	SCMScope string
	// ARMOptions configure the armappservice clients.
	ARMOptions *arm.ClientOptions
	// Transport carries SCM, app host and blob requests (default
	// http.DefaultClient).
	Transport policy.Transporter

	// PollInterval is the delay between ARM and deployment status polls
	// (default 2s); DeployTimeout bounds one deployment (default 15m).
	PollInterval, DeployTimeout time.Duration
	// MaxRetries bounds retries of throttled (429), failed (5xx) and
	// conflicting (409 deployment in progress) calls (default 6);
	// RetryDelay is the first backoff (default 1s, doubling to 30s).
	MaxRetries int
	RetryDelay time.Duration

	// Logger receives debug records; nil discards them. Setting values
	// are never logged.
	Logger *slog.Logger
}

func (o *Options) withDefaults(app string) Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Plan == "" {
		c.Plan = Flex
	}
	if c.PlanName == "" {
		c.PlanName = app + "-plan"
	}
	if c.StorageAccount != "" {
		base := "https://" + c.StorageAccount + ".blob.core.windows.net/"
		if c.DeploymentContainer == "" {
			c.DeploymentContainer = base + "app-package-" + app
		}
		if c.RevisionContainer == "" && c.Plan == Premium {
			c.RevisionContainer = base + "updraft-" + app
		}
	}
	if c.FlexRuntime == "" {
		c.FlexRuntime, c.FlexRuntimeVersion = string(armappservice.RuntimeNameCustom), "1.0"
	}
	if c.StagingSlot == "" {
		c.StagingSlot = "staging"
	}
	if c.SCMScope == "" {
		c.SCMScope = "https://management.azure.com/.default"
	}
	if c.Transport == nil {
		c.Transport = http.DefaultClient
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 2 * time.Second
	}
	if c.DeployTimeout <= 0 {
		c.DeployTimeout = 15 * time.Minute
	}
	if c.MaxRetries <= 0 {
		c.MaxRetries = 6
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// URLOpener opens azurefunctions URLs,
// azurefunctions://subscriptions/SUB/resourceGroups/RG/sites/APP, with
// the default Azure credential (azidentity.NewDefaultAzureCredential).
// Query parameters: plan (flex, premium), location, storage (account),
// plan_name, sku (EP1–EP3), revisions (container URL).
type URLOpener struct {
	// Options are the defaults the URL's parameters override.
	Options Options
}

var (
	appRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9-]{0,58}[a-zA-Z0-9]$`)
	rgRE  = regexp.MustCompile(`^[-\w._()]{1,90}$`)
)

// OpenFunctionURL implements provider.FunctionURLOpener.
func (o *URLOpener) OpenFunctionURL(ctx context.Context, u *url.URL) (*provider.Function, error) {
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if u.Host != "subscriptions" || len(parts) != 5 || !strings.EqualFold(parts[1], "resourceGroups") || parts[3] != "sites" {
		return nil, fmt.Errorf("azurefunctions URL %q: write azurefunctions://subscriptions/SUB/resourceGroups/RG/sites/APP", u.Redacted())
	}
	sub, rg, app := parts[0], parts[2], parts[4]
	opts := o.Options
	for k, v := range u.Query() {
		val := v[len(v)-1]
		switch k {
		case "plan":
			opts.Plan = Plan(val)
		case "location":
			opts.Location = val
		case "storage":
			opts.StorageAccount = val
		case "plan_name":
			opts.PlanName = val
		case "sku":
			opts.PremiumSKU = val
		case "revisions":
			opts.RevisionContainer = val
		default:
			return nil, fmt.Errorf("azurefunctions URL: unknown query parameter %q: use plan, location, storage, plan_name, sku or revisions", k)
		}
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("azurefunctions: default Azure credential: %w", err)
	}
	if opts.MetricsClient == nil {
		if opts.MetricsClient, err = armmonitor.NewMetricsClient(sub, cred, opts.ARMOptions); err != nil {
			return nil, fmt.Errorf("azurefunctions: Azure Monitor client: %w", err)
		}
	}
	return OpenFunction(ctx, cred, sub, rg, app, &opts)
}

// OpenFunction returns a handle to function app APP in resource group rg
// of subscription sub, reached with cred. The app need not exist yet.
func OpenFunction(ctx context.Context, cred azcore.TokenCredential, sub, rg, app string, opts *Options) (*provider.Function, error) {
	d, err := openDriver(cred, sub, rg, app, opts)
	if err != nil {
		return nil, err
	}
	return provider.NewFunction(d), nil
}

// OpenDriver returns the driver behind OpenFunction, for conformance
// harnesses. Application code uses OpenFunction.
func OpenDriver(cred azcore.TokenCredential, sub, rg, app string, opts *Options) (driver.Function, error) {
	return openDriver(cred, sub, rg, app, opts)
}

func openDriver(cred azcore.TokenCredential, sub, rg, app string, opts *Options) (*function, error) {
	target := Scheme + "://" + app
	bad := func(hint string) error {
		return &provider.Error{Code: provider.InvalidArgument, Target: target, Op: "Open", Hint: hint}
	}
	switch {
	case cred == nil:
		return nil, bad("pass an azcore.TokenCredential, such as azidentity.NewDefaultAzureCredential(nil)")
	case sub == "":
		return nil, bad("name the subscription")
	case !rgRE.MatchString(rg):
		return nil, bad("resource group: use 1 to 90 letters, digits, '-', '_', '.', '(' and ')'")
	case !appRE.MatchString(app):
		return nil, bad("app name: use 2 to 60 letters, digits and inner hyphens")
	}
	o := opts.withDefaults(app)
	if o.Plan != Flex && o.Plan != Premium {
		return nil, bad(fmt.Sprintf("plan %q: use %q or %q", o.Plan, Flex, Premium))
	}
	armOpts := arm.ClientOptions{}
	if o.ARMOptions != nil {
		armOpts = *o.ARMOptions
	}
	if armOpts.Retry.MaxRetries == 0 && armOpts.Retry.RetryDelay == 0 && armOpts.Retry.StatusCodes == nil {
		// Throttling (429, honouring Retry-After) and 5xx are retried by
		// the SDK's pipeline, bounded like the driver's own retries.
		armOpts.Retry = policy.RetryOptions{MaxRetries: int32(o.MaxRetries), RetryDelay: o.RetryDelay, MaxRetryDelay: 30 * time.Second}
	}
	cf, err := armappservice.NewClientFactory(sub, cred, &armOpts)
	if err != nil {
		return nil, &provider.Error{Code: provider.InvalidArgument, Target: target, Op: "Open", Hint: err.Error()}
	}
	f := &function{cred: cred, sub: sub, rg: rg, app: app, opts: o, log: o.Logger.With("app", app),
		web: cf.NewWebAppsClient(), plans: cf.NewPlansClient()}
	f.scm = newSCM(cred, &o)
	return f, nil
}

// function implements driver.Function for one function app.
type function struct {
	cred         azcore.TokenCredential
	sub, rg, app string
	opts         Options
	log          *slog.Logger
	web          *armappservice.WebAppsClient
	plans        *armappservice.PlansClient
	scm          *scmClient
}

func (f *function) Name() string { return f.app }

// Capabilities implements driver.Function.
func (f *function) Capabilities() driver.Capabilities {
	c := driver.Capabilities{
		Provider:        Scheme,
		DefaultTimeout:  30 * time.Minute,
		MaxTimeout:      24 * time.Hour,
		Runtimes:        []string{"go"},
		Architectures:   []string{"amd64"},
		Triggers:        trigger.Kinds(),
		WeightedTraffic: false,
		Provisioned:     true,
		MaxConcurrency:  true,
		Secrets:         true,
		CodeForm:        bundle.Form{GoBuild: true, GOOS: "linux", GOARCH: "amd64", Binary: handlerBinary},
		CodeLimits:      bundle.Limits{Target: Scheme, MaxZipBytes: 1 << 30, MaxUnzippedBytes: 1 << 30},
	}
	if f.opts.Plan == Premium {
		c.MemoryValues, c.DefaultMemoryMB, c.MaxProvisioned = []int{3584, 7168, 14336}, 3584, 20
	} else {
		c.MemoryValues, c.DefaultMemoryMB, c.MaxProvisioned = []int{512, 2048, 4096}, 2048, 1000
	}
	return c
}

// ErrorCode implements driver.Function.
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
	var de *DeploymentError
	if errors.As(err, &de) {
		return driver.Internal
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return statusCode(re.StatusCode)
	}
	var se *SCMError
	if errors.As(err, &se) {
		return statusCode(se.StatusCode)
	}
	return driver.Unknown
}

func statusCode(status int) driver.ErrorCode {
	switch {
	case status == http.StatusNotFound:
		return driver.NotFound
	case status == http.StatusConflict, status == http.StatusPreconditionFailed:
		return driver.FailedPrecondition
	case status == http.StatusBadRequest, status == http.StatusRequestEntityTooLarge, status == http.StatusUnprocessableEntity:
		return driver.InvalidArgument
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return driver.PermissionDenied
	case status == http.StatusTooManyRequests:
		return driver.ResourceExhausted
	case status >= 500:
		return driver.Internal
	}
	return driver.Unknown
}

// As implements driver.Function: *armappservice.WebAppsClient,
// *armappservice.PlansClient, *container.Client (the revision container,
// when known) and azcore.TokenCredential.
func (f *function) As(i any) bool {
	switch p := i.(type) {
	case **armappservice.WebAppsClient:
		*p = f.web
		return true
	case **armappservice.PlansClient:
		*p = f.plans
		return true
	case **armmonitor.MetricsClient:
		*p = f.opts.MetricsClient
		return f.opts.MetricsClient != nil
	case *azcore.TokenCredential:
		*p = f.cred
		return true
	case **container.Client:
		c, err := f.store(f.opts.RevisionContainer)
		if err != nil || f.opts.RevisionContainer == "" {
			return false
		}
		*p = c.c
		return true
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

// Close implements driver.Function.
func (f *function) Close() error { return nil }
