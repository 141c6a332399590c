package localprovider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/internal/controlplane"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// Scheme is the URL scheme localprovider registers: local://NAME?dir=DIR.
const Scheme = "local"

func init() {
	provider.DefaultURLMux().RegisterFunction(Scheme, &URLOpener{})
}

// Options configure a Host. A nil *Options means the defaults.
type Options struct {
	// Dir is the state directory holding functions, revisions and logs.
	// "" means $XDG_STATE_HOME/updraft, else ~/.local/state/updraft.
	Dir string
	// Addr is the gateway's listen address. "" means 127.0.0.1 on a free
	// port. Give a wider address only on purpose: functions get no
	// authentication on local.
	Addr string
	// KeepAlive is how long an idle instance lives before it is reaped;
	// provisioned instances are kept regardless. 0 means 5 minutes.
	KeepAlive time.Duration
	// QueueTimeout is how long a request waits for an instance when the
	// function is at its maximum concurrency before it is answered 429.
	// 0 means 1 second.
	QueueTimeout time.Duration
	// MaxConcurrency caps instances of a function whose Spec leaves
	// Concurrency.Max nil. 0 means 64.
	MaxConcurrency int
	// BodyTimeout bounds how long the gateway waits for a request's body,
	// which it reads whole before the request takes an instance. 0 means
	// 10 seconds (6 MB at 600 kB/s); a body not received by then is
	// answered 408.
	BodyTimeout time.Duration
	// InitTimeout bounds a new instance's start, until it polls the
	// Runtime API or accepts connections on $PORT. 0 means 10 seconds.
	InitTimeout time.Duration
	// FunctionOutput receives the functions' stdout and stderr. nil means
	// the file DIR/functions/NAME/function.log.
	FunctionOutput io.Writer
	// Logger receives the host's records (instances started, reaped,
	// killed). nil means none.
	Logger *slog.Logger
	// RecordMemory bounds the memory of the raw invocation records a host
	// keeps per function for Invocations and Summarize; older ones are
	// dropped (Metrics keeps exact per-second aggregates regardless). 0
	// means 4 MiB, 11,000 to 22,000 records.
	RecordMemory int64
	// MaxRecords, when positive, also bounds the number of those records.
	MaxRecords int
	// Buckets maps a storage trigger's bucket name to the directory that
	// is that bucket on this machine. A bucket not named here is the
	// directory DIR/buckets/NAME.
	Buckets map[string]string
}

func (o *Options) withDefaults() (Options, error) {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Dir == "" {
		d, err := DefaultDir()
		if err != nil {
			return c, err
		}
		c.Dir = d
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.KeepAlive <= 0 {
		c.KeepAlive = 5 * time.Minute
	}
	if c.QueueTimeout <= 0 {
		c.QueueTimeout = time.Second
	}
	if c.MaxConcurrency <= 0 {
		c.MaxConcurrency = 64
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = 10 * time.Second
	}
	if c.InitTimeout <= 0 {
		c.InitTimeout = 10 * time.Second
	}
	if c.RecordMemory <= 0 {
		c.RecordMemory = 4 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// DefaultDir is the default state directory: $XDG_STATE_HOME/updraft, or
// ~/.local/state/updraft when XDG_STATE_HOME is unset.
func DefaultDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "updraft"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("localprovider: no state directory: %w (set XDG_STATE_HOME or pass Options.Dir / ?dir=)", err)
	}
	return filepath.Join(home, ".local", "state", "updraft"), nil
}

// Capabilities returns what a local function supports: Lambda-like
// memory and timeout limits, the "go" and "provided" runtimes (an
// executable bootstrap) built for this machine, HTTP, schedule and event
// (queue, stream, storage) triggers, weighted traffic, provisioned and
// maximum concurrency.
func Capabilities() provider.Capabilities {
	c := controlplane.LambdaLike("local")
	c.Runtimes, c.Architectures = []string{"go", "provided"}, []string{runtime.GOARCH}
	c.Triggers = []trigger.Kind{trigger.KindHTTP, trigger.KindSchedule, trigger.KindQueue, trigger.KindStream, trigger.KindStorage}
	c.MaxProvisioned = 64
	c.CodeForm = bundle.Form{GoBuild: true, GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, Binary: "bootstrap"}
	c.CodeLimits = bundle.Limits{Target: "local", MaxUnzippedBytes: 1 << 30}
	return c
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Host runs local functions: it owns the state directory's view in this
// process, the HTTP gateway and every function instance (process). Open
// one with NewHost, or let provider.Open("local://…") share one per
// state directory. A Host is safe for concurrent use.
type Host struct {
	opts Options
	dir  string

	ctx    context.Context
	cancel context.CancelFunc
	ln     net.Listener
	srv    *http.Server
	tr     *http.Transport // to HTTP-protocol instances
	ids    idGen
	id     string // names this host in the record log
	// isolation is the process isolation level instances start with.
	isolation atomic.Int32
	// logLimit is the size at which function.log rotates.
	logLimit int64

	queues queues
	// awsEnv is the AWS region and identity instances get (awsEnviron).
	awsEnv []string
	// control routes the gateway's /.updraft/ endpoints (control.go).
	controlOnce sync.Once
	control     *http.ServeMux

	mu     sync.Mutex
	fns    map[string]*fnRuntime
	closed bool
	bg     sync.WaitGroup // reaper, memory watch
	procs  sync.WaitGroup // one per live instance
}

// NewHost starts a host on the state directory of opts: it creates the
// directory, and listens for the gateway. Instances start on demand.
// When ctx ends, or on Close, every instance is killed and the gateway
// stops.
func NewHost(ctx context.Context, opts *Options) (*Host, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("localprovider: state directory %q: %w", o.Dir, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "functions"), 0o755); err != nil {
		return nil, fmt.Errorf("localprovider: creating state directory: %w (choose another with Options.Dir or ?dir=)", err)
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("localprovider: gateway cannot listen on %s: %w (choose another Options.Addr)", o.Addr, err)
	}
	h := &Host{opts: o, dir: dir, ln: ln, fns: map[string]*fnRuntime{}, logLimit: maxFunctionLog}
	h.ids.init()
	h.queues.h = h
	h.awsEnv = awsEnviron(os.LookupEnv)
	h.isolation.Store(bestIsolation())
	h.id = strconv.Itoa(os.Getpid()) + "-" + newETag()[:8]
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.tr = &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     o.KeepAlive,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	h.srv = &http.Server{Handler: http.HandlerFunc(h.safeGateway), ReadHeaderTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug)}
	h.bg.Add(2)
	go func() {
		defer h.bg.Done()
		defer h.recovered("gateway")
		if err := h.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Logger.Error("gateway stopped", "err", err)
		}
	}()
	go func() {
		defer h.bg.Done()
		defer h.recovered("housekeeping")
		h.housekeeping()
	}()
	if ctx != nil && ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { h.Close() })
		context.AfterFunc(h.ctx, func() { stop() })
	}
	return h, nil
}

// Dir is the host's state directory.
func (h *Host) Dir() string { return h.dir }

// Addr is the gateway's address, such as "127.0.0.1:41234".
func (h *Host) Addr() string { return h.ln.Addr().String() }

// URL is the gateway URL of function name's HTTP trigger. The function
// needs a trigger.HTTP for the gateway to serve it. Append ":QUALIFIER"
// to the name part (a route or a revision id) to reach one of them.
func (h *Host) URL(name string) string { return "http://" + h.Addr() + "/" + name + "/" }

// OpenFunction returns a handle to function name on this host. The
// function need not exist yet: Apply creates it. Closing the handle does
// not stop the host.
func (h *Host) OpenFunction(ctx context.Context, name string) (*provider.Function, error) {
	d, err := h.openDriver(name, nil)
	if err != nil {
		return nil, err
	}
	return provider.NewFunction(d), nil
}

// OpenDriver returns the driver for name without the portable
// *provider.Function around it. It is a test hook: for conformance
// harnesses (providertest.Harness) and tests that wrap the driver to
// break or observe it; programs use OpenFunction.
func (h *Host) OpenDriver(name string) (driver.Function, error) { return h.openDriver(name, nil) }

func (h *Host) openDriver(name string, onClose func()) (*localFunction, error) {
	if !nameRE.MatchString(name) {
		return nil, &provider.Error{Code: provider.InvalidArgument, Target: "local://" + name, Op: "Open",
			Hint: "use 1 to 64 letters, digits, '-' and '_'"}
	}
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return nil, &provider.Error{Code: provider.FailedPrecondition, Target: "local://" + name, Op: "Open", Hint: "the local host is closed; start a new one"}
	}
	return &localFunction{h: h, name: name, caps: provider.DriverCapabilities(Capabilities()), onClose: onClose}, nil
}

// Close kills every instance, stops the gateway and waits for both. It
// is safe to call more than once.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	fns := make([]*fnRuntime, 0, len(h.fns))
	for _, fr := range h.fns {
		fns = append(fns, fr)
	}
	h.mu.Unlock()
	h.cancel()
	err := h.srv.Close()
	for _, fr := range fns {
		fr.shutdown()
	}
	h.procs.Wait()
	h.bg.Wait()
	for _, fr := range fns {
		fr.closeOutput()
		fr.rec.closeLog()
	}
	h.tr.CloseIdleConnections()
	return err
}

// isClosed reports whether Close has begun.
func (h *Host) isClosed() bool {
	select {
	case <-h.ctx.Done():
		return true
	default:
		return false
	}
}

// URLOpener opens local:// URLs. URLs naming the same state directory
// share one Host, started when the first function is opened and closed,
// killing its instances, when the last of them is closed.
//
// The URL is local://NAME with optional query parameters:
//
//	dir=PATH    state directory (default DefaultDir)
//	addr=HOST:PORT  gateway address (default 127.0.0.1 on a free port)
type URLOpener struct {
	// Options are the defaults for hosts this opener starts; the URL's
	// parameters override them.
	Options Options

	mu    sync.Mutex
	hosts map[string]*sharedHost
}

type sharedHost struct {
	h    *Host
	refs int
}

// OpenFunctionURL implements provider.FunctionURLOpener.
func (o *URLOpener) OpenFunctionURL(ctx context.Context, u *url.URL) (*provider.Function, error) {
	opts := o.Options
	for k, v := range u.Query() {
		switch k {
		case "dir":
			opts.Dir = v[0]
		case "addr":
			opts.Addr = v[0]
		default:
			return nil, &provider.Error{Code: provider.InvalidArgument, Target: u.Redacted(), Op: "Open",
				Hint: fmt.Sprintf("unknown query parameter %q: local:// takes dir and addr", k)}
		}
	}
	if u.Path != "" && u.Path != "/" {
		return nil, &provider.Error{Code: provider.InvalidArgument, Target: u.Redacted(), Op: "Open", Hint: "write local://NAME?dir=DIR with no path"}
	}
	if !nameRE.MatchString(u.Host) {
		return nil, &provider.Error{Code: provider.InvalidArgument, Target: u.Redacted(), Op: "Open", Hint: "use 1 to 64 letters, digits, '-' and '_' for the name"}
	}
	key := opts.Dir
	if key == "" {
		d, err := DefaultDir()
		if err != nil {
			return nil, &provider.Error{Code: provider.FailedPrecondition, Target: u.Redacted(), Op: "Open", Hint: err.Error()}
		}
		key = d
	}
	key, _ = filepath.Abs(key)
	opts.Dir = key
	o.mu.Lock()
	defer o.mu.Unlock()
	sh := o.hosts[key]
	if sh == nil {
		h, err := NewHost(context.Background(), &opts)
		if err != nil {
			return nil, &provider.Error{Code: provider.FailedPrecondition, Target: u.Redacted(), Op: "Open", Hint: err.Error()}
		}
		sh = &sharedHost{h: h}
		if o.hosts == nil {
			o.hosts = map[string]*sharedHost{}
		}
		o.hosts[key] = sh
	}
	var once sync.Once
	d, err := sh.h.openDriver(u.Host, func() {
		once.Do(func() {
			o.mu.Lock()
			sh.refs--
			last := sh.refs == 0
			if last && o.hosts[key] == sh {
				delete(o.hosts, key)
			}
			o.mu.Unlock()
			if last {
				sh.h.Close()
			}
		})
	})
	if err != nil {
		return nil, err
	}
	sh.refs++
	return provider.NewFunction(d), nil
}

// awsEnviron is the AWS environment a local instance gets, as Lambda
// always sets a region and the execution role's credentials: the
// region of the host's environment (AWS_REGION, else AWS_DEFAULT_REGION,
// else us-east-1), and the host's own AWS identity when it has one
// (its AWS_* credential and profile variables pass through, and
// ~/.aws is found through HOME), as SAM's local invoke does. A host with
// no AWS identity gives placeholder credentials: the local gateway's SQS
// endpoint does not check signatures, AWS refuses them. Spec.Env
// overrides any of it.
func awsEnviron(lookup func(string) (string, bool)) []string {
	region, ok := lookup("AWS_REGION")
	if !ok || region == "" {
		region, ok = lookup("AWS_DEFAULT_REGION")
	}
	if !ok || region == "" {
		region = "us-east-1"
	}
	env := []string{"AWS_REGION=" + region, "AWS_DEFAULT_REGION=" + region}
	identity := false
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"} {
		if v, ok := lookup(k); ok && v != "" {
			env = append(env, k+"="+v)
			identity = true
		}
	}
	if !identity {
		if home, ok := lookup("HOME"); ok && home != "" {
			if _, err := os.Stat(filepath.Join(home, ".aws", "credentials")); err == nil {
				identity = true
			}
		}
	}
	if !identity {
		env = append(env, "AWS_ACCESS_KEY_ID=updraft-local", "AWS_SECRET_ACCESS_KEY=updraft-local")
	}
	return env
}
