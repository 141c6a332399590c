package memprovider

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/updraft-dev/updraft/bundle"
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

// OpenDriver returns the driver for name, for conformance harnesses.
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
	return provider.Capabilities{
		Provider:        "mem",
		Memory:          provider.Range{Min: 128, Max: 10240, Step: 1},
		DefaultMemoryMB: 128,
		DefaultTimeout:  3 * time.Second,
		MaxTimeout:      15 * time.Minute,
		Runtimes:        []string{"go", "nodejs22", "nodejs20", "python3.13", "python3.12", "java21"},
		Architectures:   []string{"amd64", "arm64"},
		Triggers:        trigger.Kinds(),
		WeightedTraffic: true,
		Provisioned:     true,
		MaxConcurrency:  true,
		MaxProvisioned:  1000,
		Secrets:         true,
		MaxEnvBytes:     4096,
		Env: provider.EnvRules{
			NamePattern: `[A-Za-z][A-Za-z0-9_]*`,
			NameRule:    "use letters, digits and '_', starting with a letter",
			// The variables Lambda's runtime sets itself and refuses.
			ReservedNames: []string{"_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
				"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
				"AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
				"AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
				"AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"},
		},
		CodeForm:   bundle.Form{GoBuild: true, GOOS: "linux", Binary: "bootstrap"},
		CodeLimits: bundle.Limits{Target: "mem", MaxZipBytes: 50 << 20, MaxUnzippedBytes: 250 << 20},
	}
}

type function struct {
	name      string
	config    driver.Config
	etag      string
	revisions []*driver.Revision
	nextRev   int
	routes    map[string]*route
	triggers  map[string]trigger.Trigger
	foreign   map[string]trigger.Trigger
}

// routeOp names an UpdateRoute for fault injection by what it writes:
// traffic first, then the marker, then verdicts.
func routeOp(u *driver.RouteUpdate) string {
	switch {
	case u.Traffic != nil:
		return OpSetTraffic
	case u.Marker != nil || u.ClearMarker:
		return OpSetMarker
	}
	return OpSetVerdicts
}

// copyRoute returns a deep copy of r.
func copyRoute(r *driver.Route) *driver.Route {
	cp := *r
	if r.Marker != nil {
		mk := *r.Marker
		cp.Marker = &mk
	}
	cp.Verdicts = r.Verdicts.Clone()
	if r.Provisioned != nil {
		p := *r.Provisioned
		cp.Provisioned = &p
	}
	return &cp
}

type route struct {
	driver.Route
	readyAt    time.Time
	failReason string
}

// refresh moves provisioned concurrency on once its delay has passed.
func (r *route) refresh(now time.Time) {
	p := r.Provisioned
	if p == nil || p.Status != "IN_PROGRESS" || now.Before(r.readyAt) {
		return
	}
	if r.failReason != "" {
		p.Status, p.Reason, p.Ready = "FAILED", r.failReason, 0
		return
	}
	p.Status, p.Ready = "READY", p.Requested
}

type memFunction struct {
	c    *Cloud
	name string
	caps driver.Capabilities
}

func (m *memFunction) Name() string                      { return m.name }
func (m *memFunction) Capabilities() driver.Capabilities { return m.caps }
func (m *memFunction) ErrorCode(err error) driver.ErrorCode {
	return driver.CodeOf(err)
}
func (m *memFunction) As(any) bool             { return false }
func (m *memFunction) ErrorAs(error, any) bool { return false }
func (m *memFunction) Close() error            { return nil }

// exists is the error of a create that lost its race: someone else made
// the function after the caller read that it did not exist.
func (m *memFunction) exists() error {
	return driver.NewError(driver.AlreadyExists, fmt.Sprintf("function %s already exists: another deployment created it since it was read; read it again and plan an update", m.name))
}

func (m *memFunction) notFound() error {
	return driver.NewError(driver.NotFound, fmt.Sprintf("function %s does not exist: Apply a spec to create it", m.name))
}

// enter records op, applies latency and faults, then locks the cloud and
// returns the function. On success the caller must unlock m.c.mu.
func (m *memFunction) enter(ctx context.Context, op string) (*function, error) {
	if err := m.c.begin(ctx, op, m.name); err != nil {
		return nil, err
	}
	m.c.mu.Lock()
	f := m.c.fns[m.name]
	if f == nil {
		m.c.mu.Unlock()
		return nil, m.notFound()
	}
	return f, nil
}

func (m *memFunction) Get(ctx context.Context) (*driver.State, error) {
	f, err := m.enter(ctx, OpGet)
	if err != nil {
		return nil, err
	}
	defer m.c.mu.Unlock()
	return f.state(time.Now()), nil
}

func (f *function) state(now time.Time) *driver.State {
	s := &driver.State{Name: f.name, Config: f.config.Clone(), ETag: f.etag, Routes: map[string]*driver.Route{}}
	for name, r := range f.routes {
		r.refresh(now)
		s.Routes[name] = copyRoute(&r.Route)
	}
	for _, k := range slices.Sorted(maps.Keys(f.triggers)) {
		s.Triggers = append(s.Triggers, f.triggers[k])
		if f.triggers[k].Kind() == trigger.KindHTTP {
			s.Endpoint = "https://" + strings.ToLower(f.name) + ".mem.invalid/"
		}
	}
	return s
}

// waitReady polls until the function is no longer busy.
func (m *memFunction) waitReady(ctx context.Context) error {
	for {
		m.c.mu.Lock()
		busy := m.c.notReady[m.name] > 0
		if busy {
			m.c.notReady[m.name]--
		}
		m.c.mu.Unlock()
		if !busy {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for function %s to be ready: %w", m.name, ctx.Err())
		case <-time.After(m.c.opts.PollInterval):
		}
	}
}

// step runs one Apply step: readiness, fault check, the mutation, readiness.
func (m *memFunction) step(ctx context.Context, op string, mutate func(f *function) error) error {
	if err := m.waitReady(ctx); err != nil {
		return err
	}
	if err := m.c.begin(ctx, op, m.name); err != nil {
		return err
	}
	m.c.mu.Lock()
	f := m.c.fns[m.name]
	if f == nil && op != OpCreate {
		m.c.mu.Unlock()
		return driver.NewError(driver.NotFound, fmt.Sprintf("function %s was deleted during Apply", m.name))
	}
	err := mutate(f)
	m.c.mu.Unlock()
	if err != nil {
		return err
	}
	return m.waitReady(ctx)
}

func (m *memFunction) Apply(ctx context.Context, s *driver.Spec, opts *driver.ApplyOptions) (*driver.ApplyResult, error) {
	res := &driver.ApplyResult{}
	if opts.BeforeApply != nil {
		// mem has no native request; asFunc never converts.
		if err := opts.BeforeApply(func(any) bool { return false }); err != nil {
			return nil, err
		}
	}
	m.c.mu.Lock()
	f := m.c.fns[m.name]
	var live driver.Config
	if f != nil {
		live = f.config
		if err := driver.CheckETag("function "+m.name, opts.IfMatch, f.etag); err != nil {
			m.c.mu.Unlock()
			return nil, err
		}
		if opts.IfNotExist {
			m.c.mu.Unlock()
			return nil, m.exists()
		}
	}
	m.c.mu.Unlock()

	want := driver.Desired(live, s)
	if f == nil {
		if s.Bundle == nil {
			return nil, driver.NewError(driver.InvalidArgument, fmt.Sprintf("function %s does not exist and the spec has no code: set Spec.Code to create it", m.name))
		}
		err := m.step(ctx, OpCreate, func(*function) error {
			if m.c.fns[m.name] != nil {
				return m.exists()
			}
			m.c.fns[m.name] = &function{name: m.name, config: want, etag: m.c.nextETag(), nextRev: 1,
				routes: map[string]*route{}, triggers: map[string]trigger.Trigger{}, foreign: map[string]trigger.Trigger{}}
			m.c.uploaded += s.Bundle.Size
			return nil
		})
		if err != nil {
			return nil, err
		}
		res.Created, res.Changed, res.UploadedBytes = true, true, s.Bundle.Size
	} else {
		if s.Bundle != nil && s.Bundle.Digest != live.CodeDigest {
			err := m.step(ctx, OpUpdateCode, func(f *function) error {
				f.config.CodeDigest, f.config.CodeSize = s.Bundle.Digest, s.Bundle.Size
				f.etag = m.c.nextETag()
				m.c.uploaded += s.Bundle.Size
				return nil
			})
			if err != nil {
				return nil, err
			}
			res.Changed, res.UploadedBytes = true, s.Bundle.Size
		}
		if !driver.SameConfig(withCode(live, want), want) {
			err := m.step(ctx, OpUpdateConf, func(f *function) error {
				f.config = want.Clone()
				f.etag = m.c.nextETag()
				return nil
			})
			if err != nil {
				return nil, err
			}
			res.Changed = true
		}
	}

	if opts.Publish {
		m.c.mu.Lock()
		f = m.c.fns[m.name]
		var newest *driver.Revision
		if f != nil && len(f.revisions) > 0 {
			newest = f.revisions[len(f.revisions)-1]
		}
		needed := f != nil && (newest == nil || !driver.SameConfig(newest.Config, f.config))
		m.c.mu.Unlock()
		if needed {
			err := m.step(ctx, OpPublish, func(f *function) error {
				r := &driver.Revision{ID: fmt.Sprint(f.nextRev), CodeDigest: f.config.CodeDigest, Created: time.Now(), Config: f.config.Clone()}
				f.nextRev++
				f.revisions = append(f.revisions, r)
				newest = r
				return nil
			})
			if err != nil {
				return nil, err
			}
			res.Published = true
		}
		if newest != nil {
			r := *newest
			r.Config = r.Config.Clone()
			res.Revision = &r
		}
	}

	if err := m.applyRoute(ctx, s, res); err != nil {
		return nil, err
	}
	return res, nil
}

// withCode is live with want's code, so code and config compare apart.
func withCode(live, want driver.Config) driver.Config {
	live.CodeDigest, live.CodeSize = want.CodeDigest, want.CodeSize
	return live
}

// applyRoute creates the route if needed and reconciles triggers and
// provisioned concurrency on it.
func (m *memFunction) applyRoute(ctx context.Context, s *driver.Spec, res *driver.ApplyResult) error {
	m.c.mu.Lock()
	f := m.c.fns[m.name]
	if f == nil {
		m.c.mu.Unlock()
		return driver.NewError(driver.NotFound, fmt.Sprintf("function %s was deleted during Apply", m.name))
	}
	r := f.routes[s.Route]
	curTriggers := maps.Clone(f.triggers)
	curProv := 0
	if r != nil && r.Provisioned != nil {
		curProv = r.Provisioned.Requested
	}
	m.c.mu.Unlock()

	needsRoute := len(s.Triggers) > 0 || (s.Concurrency.Provisioned != nil && *s.Concurrency.Provisioned > 0)
	if r == nil {
		switch {
		case res.Revision != nil:
			rev := res.Revision.ID
			err := m.step(ctx, OpCreateRoute, func(f *function) error {
				if f.routes[s.Route] == nil {
					f.routes[s.Route] = &route{Route: driver.Route{Name: s.Route, Traffic: driver.Traffic{Stable: rev}, ETag: m.c.nextETag()}}
				}
				return nil
			})
			if err != nil {
				return err
			}
		case needsRoute:
			return driver.NewError(driver.FailedPrecondition, fmt.Sprintf("route %s of %s does not exist, so triggers and provisioned concurrency have nothing to attach to: apply with Publish", s.Route, m.name))
		}
	}

	if s.Triggers != nil {
		want := map[string]trigger.Trigger{}
		for _, t := range s.Triggers {
			want[t.TriggerKey()] = t
		}
		if !reflect.DeepEqual(want, curTriggers) && !(len(want) == 0 && len(curTriggers) == 0) {
			err := m.step(ctx, OpTriggers, func(f *function) error {
				f.triggers = want
				return nil
			})
			if err != nil {
				return err
			}
			res.Changed = true
		}
	}

	if p := s.Concurrency.Provisioned; p != nil && *p != curProv {
		want := *p
		err := m.step(ctx, OpProvisioned, func(f *function) error {
			r := f.routes[s.Route]
			if r == nil {
				return driver.NewError(driver.NotFound, fmt.Sprintf("route %s of %s was deleted during Apply", s.Route, m.name))
			}
			r.ETag = m.c.nextETag()
			if want == 0 {
				r.Provisioned = nil
				return nil
			}
			r.Provisioned = &driver.Provisioned{Requested: want, Status: "IN_PROGRESS"}
			r.readyAt = time.Now().Add(m.c.opts.ProvisionDelay)
			r.failReason = m.c.failProv[m.name]
			delete(m.c.failProv, m.name)
			return nil
		})
		if err != nil {
			return err
		}
		res.Changed = true
		if want > 0 {
			if err := m.waitProvisioned(ctx, s.Route); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitProvisioned polls a route's provisioned concurrency to READY or FAILED.
func (m *memFunction) waitProvisioned(ctx context.Context, routeName string) error {
	for {
		m.c.mu.Lock()
		var p driver.Provisioned
		if f := m.c.fns[m.name]; f != nil && f.routes[routeName] != nil && f.routes[routeName].Provisioned != nil {
			r := f.routes[routeName]
			r.refresh(time.Now())
			p = *r.Provisioned
		}
		m.c.mu.Unlock()
		switch p.Status {
		case "READY", "":
			return nil
		case "FAILED":
			return driver.NewError(driver.Internal, fmt.Sprintf("provisioned concurrency %d on route %s of %s FAILED: %s", p.Requested, routeName, m.name, p.Reason))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for provisioned concurrency on %s: %w", routeName, ctx.Err())
		case <-time.After(m.c.opts.PollInterval):
		}
	}
}

func (m *memFunction) ListRevisions(ctx context.Context) ([]*driver.Revision, error) {
	f, err := m.enter(ctx, OpListRevisions)
	if err != nil {
		return nil, err
	}
	defer m.c.mu.Unlock()
	out := make([]*driver.Revision, len(f.revisions))
	for i, r := range f.revisions {
		cp := *r
		cp.Config = r.Config.Clone()
		out[i] = &cp
	}
	return out, nil
}

func (f *function) revision(id string) *driver.Revision {
	for _, r := range f.revisions {
		if r.ID == id {
			return r
		}
	}
	return nil
}

func (m *memFunction) UpdateRoute(ctx context.Context, routeName string, u *driver.RouteUpdate, opts *driver.ConditionOptions) (*driver.Route, error) {
	f, err := m.enter(ctx, routeOp(u))
	if err != nil {
		return nil, err
	}
	defer m.c.mu.Unlock()
	r := f.routes[routeName]
	var cur *driver.Route
	if r != nil {
		cur = &r.Route
	}
	exists := func(id string) bool { return f.revision(id) != nil }
	if err := driver.CheckRouteUpdate(m.name, routeName, cur, u, opts.IfMatch, exists); err != nil {
		return nil, err
	}
	if r == nil {
		r = &route{Route: driver.Route{Name: routeName}}
		f.routes[routeName] = r
	}
	driver.ApplyRouteUpdate(&r.Route, u, m.c.nextETag())
	return copyRoute(&r.Route), nil
}

func (m *memFunction) DeleteRevision(ctx context.Context, id string) error {
	f, err := m.enter(ctx, OpDeleteRevision)
	if err != nil {
		return err
	}
	defer m.c.mu.Unlock()
	i := slices.IndexFunc(f.revisions, func(r *driver.Revision) bool { return r.ID == id })
	if i < 0 {
		return driver.RevisionNotFound(m.name, id)
	}
	traffic := make(map[string]driver.Traffic, len(f.routes))
	for name, r := range f.routes {
		traffic[name] = r.Traffic
	}
	if err := driver.CheckNotServing(m.name, id, traffic); err != nil {
		return err
	}
	f.revisions = slices.Delete(f.revisions, i, i+1)
	return nil
}

func (m *memFunction) Delete(ctx context.Context) error {
	if _, err := m.enter(ctx, OpDelete); err != nil {
		return err
	}
	defer m.c.mu.Unlock()
	delete(m.c.fns, m.name)
	delete(m.c.invokes, m.name)
	return nil
}

func (m *memFunction) Invoke(ctx context.Context, req *driver.InvokeRequest) (*driver.InvokeResult, error) {
	f, err := m.enter(ctx, OpInvoke)
	if err != nil {
		return nil, err
	}
	revID := req.Revision
	if revID == "" {
		r := f.routes[req.Route]
		if r == nil {
			m.c.mu.Unlock()
			return nil, driver.RouteNotFound(m.name, req.Route)
		}
		revID = r.Traffic.Stable
		if r.Traffic.Candidate != "" && m.c.rnd.IntN(100) < r.Traffic.CandidatePercent {
			revID = r.Traffic.Candidate
		}
	}
	rev := f.revision(revID)
	if rev == nil {
		m.c.mu.Unlock()
		return nil, driver.RevisionNotFound(m.name, revID)
	}
	inv := &Invocation{Function: m.name, Revision: revID, Env: maps.Clone(rev.Config.Env), Payload: req.Payload}
	handler := m.c.opts.Handler
	m.c.mu.Unlock()

	start := time.Now()
	out := &driver.InvokeResult{Revision: revID, Payload: req.Payload}
	if handler != nil {
		p, err := handler(ctx, inv)
		out.Payload = p
		if err != nil {
			out.FunctionError = err.Error()
		}
	}
	out.Duration = time.Since(start)
	m.c.mu.Lock()
	m.c.invokes[m.name] = append(m.c.invokes[m.name], invocationRecord{at: time.Now(), revision: revID, route: req.Route, failed: out.FunctionError != ""})
	m.c.mu.Unlock()
	return out, nil
}

func (m *memFunction) Metrics(ctx context.Context, q *driver.MetricsQuery) (*driver.Metrics, error) {
	if _, err := m.enter(ctx, OpMetrics); err != nil {
		return nil, err
	}
	defer m.c.mu.Unlock()
	var out driver.Metrics
	for _, r := range m.c.invokes[m.name] {
		if (q.Revision != "" && r.revision != q.Revision) || (q.Route != "" && r.route != "" && r.route != q.Route) ||
			(!q.Since.IsZero() && r.at.Before(q.Since)) || (!q.Until.IsZero() && r.at.After(q.Until)) {
			continue
		}
		out.Invocations++
		if r.failed {
			out.Errors++
		}
		if r.throttled {
			out.Throttles++
		}
	}
	return &out, nil
}
