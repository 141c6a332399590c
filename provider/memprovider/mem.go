package memprovider

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/internal/controlplane"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// function is one function of a Cloud: the control plane's model, the
// triggers other tools attached, and the progress of provisioned
// concurrency by route.
type function struct {
	*controlplane.Function
	foreign map[string]trigger.Trigger
	prov    map[string]provState
}

// provState is provisioned concurrency in progress on one route.
type provState struct {
	readyAt    time.Time
	failReason string
}

// provisioned reports the status of n instances on route at now: IN_PROGRESS
// until the provisioning delay has passed, then READY or FAILED.
func (f *function) provisioned(now time.Time) controlplane.ProvisionedStatus {
	return func(route string, n int) *driver.Provisioned {
		ps := f.prov[route]
		switch {
		case now.Before(ps.readyAt):
			return &driver.Provisioned{Requested: n, Status: "IN_PROGRESS"}
		case ps.failReason != "":
			return &driver.Provisioned{Requested: n, Status: "FAILED", Reason: ps.failReason}
		}
		return &driver.Provisioned{Requested: n, Ready: n, Status: "READY"}
	}
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
		return nil, driver.FunctionNotFound("function " + m.name)
	}
	return f, nil
}

func (m *memFunction) Get(ctx context.Context) (*driver.State, error) {
	f, err := m.enter(ctx, OpGet)
	if err != nil {
		return nil, err
	}
	defer m.c.mu.Unlock()
	return f.State("https://"+strings.ToLower(f.Name)+".mem.invalid/", f.provisioned(time.Now())), nil
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

// memApply is the controlplane.Backend of one Apply: the Cloud's map,
// with its faults, latency and readiness around every step.
type memApply struct {
	m *memFunction
	// provisioned is the route whose provisioned concurrency the Apply
	// raised, to wait for.
	provisioned string
}

func (a *memApply) View(fn func(f *controlplane.Function)) {
	a.m.c.mu.Lock()
	defer a.m.c.mu.Unlock()
	if f := a.m.c.fns[a.m.name]; f != nil {
		fn(f.Function)
		return
	}
	fn(nil)
}

// Step runs one Apply step: readiness, fault check, the mutation, readiness.
func (a *memApply) Step(ctx context.Context, op string, mutate func(*controlplane.Function) (*controlplane.Function, error)) error {
	m := a.m
	if err := m.waitReady(ctx); err != nil {
		return err
	}
	if err := m.c.begin(ctx, op, m.name); err != nil {
		return err
	}
	m.c.mu.Lock()
	var cur *controlplane.Function
	if f := m.c.fns[m.name]; f != nil {
		cur = f.Function
	}
	next, err := mutate(cur)
	if err == nil && cur == nil {
		m.c.fns[m.name] = &function{Function: next, foreign: map[string]trigger.Trigger{}, prov: map[string]provState{}}
	}
	m.c.mu.Unlock()
	if err != nil {
		return err
	}
	return m.waitReady(ctx)
}

func (a *memApply) NewETag() string { return a.m.c.nextETag() }

// Upload counts the code's bytes; m.c.mu is held.
func (a *memApply) Upload(_ context.Context, b *bundle.Bundle, _ driver.Config) error {
	a.m.c.uploaded += b.Size
	return nil
}

// Provision starts provisioning n instances on route; m.c.mu is held.
func (a *memApply) Provision(route string, n int) {
	c, f := a.m.c, a.m.c.fns[a.m.name]
	if n == 0 {
		delete(f.prov, route)
		return
	}
	f.prov[route] = provState{readyAt: time.Now().Add(c.opts.ProvisionDelay), failReason: c.failProv[a.m.name]}
	delete(c.failProv, a.m.name)
	a.provisioned = route
}

func (m *memFunction) Apply(ctx context.Context, s *driver.Spec, opts *driver.ApplyOptions) (*driver.ApplyResult, error) {
	if opts.BeforeApply != nil {
		// mem has no native request; asFunc never converts.
		if err := opts.BeforeApply(func(any) bool { return false }); err != nil {
			return nil, err
		}
	}
	a := &memApply{m: m}
	res, err := controlplane.Apply(ctx, a, m.name, s, opts)
	if err == nil && a.provisioned != "" {
		err = m.waitProvisioned(ctx, a.provisioned)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// waitProvisioned polls a route's provisioned concurrency to READY or FAILED.
func (m *memFunction) waitProvisioned(ctx context.Context, routeName string) error {
	return controlplane.WaitProvisioned(ctx, m.name, routeName, m.c.opts.PollInterval, func() *driver.Provisioned {
		m.c.mu.Lock()
		defer m.c.mu.Unlock()
		if f := m.c.fns[m.name]; f != nil && f.Routes[routeName] != nil {
			return f.Routes[routeName].View(f.provisioned(time.Now())).Provisioned
		}
		return nil
	})
}

func (m *memFunction) ListRevisions(ctx context.Context) ([]*driver.Revision, error) {
	f, err := m.enter(ctx, OpListRevisions)
	if err != nil {
		return nil, err
	}
	defer m.c.mu.Unlock()
	return f.RevisionList(), nil
}

func (m *memFunction) UpdateRoute(ctx context.Context, routeName string, u *driver.RouteUpdate, opts *driver.ConditionOptions) (*driver.Route, error) {
	f, err := m.enter(ctx, routeOp(u))
	if err != nil {
		return nil, err
	}
	defer m.c.mu.Unlock()
	r, err := f.Function.UpdateRoute(routeName, u, opts.IfMatch, m.c.nextETag())
	if err != nil {
		return nil, err
	}
	return r.View(f.provisioned(time.Now())), nil
}

func (m *memFunction) DeleteRevision(ctx context.Context, id string) error {
	f, err := m.enter(ctx, OpDeleteRevision)
	if err != nil {
		return err
	}
	defer m.c.mu.Unlock()
	return f.Function.DeleteRevision(id)
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
		r := f.Routes[req.Route]
		if r == nil {
			m.c.mu.Unlock()
			return nil, driver.RouteNotFound(m.name, req.Route)
		}
		revID = r.Traffic.Stable
		if r.Traffic.Candidate != "" && m.c.rnd.IntN(100) < r.Traffic.CandidatePercent {
			revID = r.Traffic.Candidate
		}
	}
	rev := f.Revision(revID)
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
