package memprovider

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/internal/controlplane"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// Scheme is the URL scheme memprovider registers: mem://NAME.
const Scheme = "mem"

func init() {
	provider.DefaultURLMux().RegisterFunction(Scheme, &URLOpener{Cloud: NewCloud(nil)})
}

// URLOpener opens mem:// URLs on one Cloud. The opener registered for the
// default mux has a Cloud of its own, so every mem://NAME opened through
// provider.Open in one process refers to the same function.
type URLOpener struct {
	Cloud *Cloud
}

// OpenFunctionURL implements provider.FunctionURLOpener. The URL is
// mem://NAME with no query parameters.
func (o *URLOpener) OpenFunctionURL(ctx context.Context, u *url.URL) (*provider.Function, error) {
	if q := u.Query(); len(q) > 0 {
		// Name the parameters, never their values: one may be a credential.
		return nil, driver.NewError(driver.InvalidArgument, fmt.Sprintf("mem:// takes no query parameters, got %s", strings.Join(slices.Sorted(maps.Keys(q)), ", ")))
	}
	if u.Path != "" && u.Path != "/" {
		return nil, driver.NewError(driver.InvalidArgument, "write mem://NAME with no path")
	}
	return o.Cloud.OpenFunction(ctx, u.Host)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// OpenFunction returns a handle to the function name on c. The function
// need not exist yet: Apply creates it.
func (c *Cloud) OpenFunction(ctx context.Context, name string) (*provider.Function, error) {
	d, err := c.openDriver(name)
	if err != nil {
		return nil, provider.Errorf(driver.CodeOf(err), Scheme+"://"+name, "Open", "%w", err)
	}
	return provider.NewFunction(d), nil
}

// OpenDriver returns the driver for name without the portable
// *provider.Function around it. It is a test hook: for conformance
// harnesses (providertest.Harness) and tests that wrap the driver to
// break or observe it; programs use OpenFunction.
func (c *Cloud) OpenDriver(name string) (driver.Function, error) { return c.openDriver(name) }

func (c *Cloud) openDriver(name string) (*memFunction, error) {
	if !nameRE.MatchString(name) {
		return nil, driver.NewError(driver.InvalidArgument, fmt.Sprintf("function name %q: use 1 to 64 letters, digits, '-' and '_'", name))
	}
	caps := Capabilities()
	if c.opts.Capabilities != nil {
		c.opts.Capabilities(&caps)
	}
	return &memFunction{c: c, name: name, caps: provider.DriverCapabilities(caps)}, nil
}

// Capabilities returns what a mem function supports by default: Lambda's
// limits, every trigger kind, weighted traffic and provisioned concurrency.
func Capabilities() provider.Capabilities {
	c := controlplane.LambdaLike("mem")
	c.Triggers, c.MaxProvisioned = trigger.Kinds(), 1000
	c.Runtimes = []string{"go", "nodejs22", "nodejs20", "python3.13", "python3.12", "java21"}
	c.Architectures = []string{"amd64", "arm64"}
	c.Env = provider.EnvRules{
		NamePattern: `[A-Za-z][A-Za-z0-9_]*`,
		NameRule:    "use letters, digits and '_', starting with a letter",
		// The variables Lambda's runtime sets itself and refuses.
		ReservedNames: []string{"_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
			"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
			"AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
			"AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
			"AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"},
	}
	c.CodeForm = bundle.Form{GoBuild: true, GOOS: "linux", Binary: "bootstrap"}
	c.CodeLimits = bundle.Limits{Target: "mem", MaxZipBytes: 50 << 20, MaxUnzippedBytes: 250 << 20}
	return c
}
