package controlplane

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// The steps of Apply, in the order it runs them. Backend.Step receives
// one of them, so a fault can hit any one; Apply stops at the first
// failure, leaving the earlier steps applied, as a real cloud would.
const (
	OpCreate      = "Apply.Create"       // create the function
	OpUpdateCode  = "Apply.UpdateCode"   // upload new code
	OpUpdateConf  = "Apply.UpdateConfig" // change configuration
	OpPublish     = "Apply.Publish"      // publish a revision
	OpCreateRoute = "Apply.CreateRoute"  // create the route on first publish
	OpTriggers    = "Apply.Triggers"     // reconcile triggers
	OpProvisioned = "Apply.Provisioned"  // set provisioned concurrency
)

// Function is the model of one function. Its JSON form is what
// localprovider persists (Triggers are encoded by the adapter: they are
// an interface).
type Function struct {
	Name      string             `json:"name"`
	Config    driver.Config      `json:"config"`
	ETag      string             `json:"etag"`
	NextRev   int                `json:"nextRevision"`
	Revisions []*driver.Revision `json:"revisions"`
	Routes    map[string]*Route  `json:"routes"`
	// Triggers are the triggers updraft owns, by trigger key.
	Triggers map[string]trigger.Trigger `json:"-"`
	// TriggerRoute is the route the triggers target.
	TriggerRoute string `json:"triggerRoute,omitempty"`
}

// Route is one route of a Function. Provisioned is the provisioned
// concurrency requested on it; its status is the adapter's.
type Route struct {
	Name        string           `json:"name"`
	Traffic     driver.Traffic   `json:"traffic"`
	ETag        string           `json:"etag"`
	Marker      *driver.Marker   `json:"marker,omitempty"`
	Verdicts    *driver.Verdicts `json:"verdicts,omitempty"`
	Provisioned int              `json:"provisioned,omitempty"`
}

// ProvisionedStatus reports the status of n provisioned instances
// requested on a route; the adapter's, since only it runs instances.
type ProvisionedStatus func(route string, n int) *driver.Provisioned

// Backend is what an adapter gives Apply.
type Backend interface {
	// View calls fn with the function's current state, nil when it does
	// not exist. fn only reads it.
	View(fn func(f *Function))
	// Step runs one mutating step, op: mutate receives the current state
	// (nil only for OpCreate of a missing function) and returns the new
	// one. Fault injection, latency, readiness and locking go here.
	Step(ctx context.Context, op string, mutate func(f *Function) (*Function, error)) error
	// NewETag returns a fresh opaque etag; called inside mutate.
	NewETag() string
	// Upload stores code b, to run with config c; called inside the
	// OpCreate and OpUpdateCode steps.
	Upload(ctx context.Context, b *bundle.Bundle, c driver.Config) error
	// Provision records that route's provisioned concurrency is now n (0
	// removes it); called inside the OpProvisioned step.
	Provision(route string, n int)
}

// Apply makes function name match s through b, step by step, checking
// opts' preconditions first.
func Apply(ctx context.Context, b Backend, name string, s *driver.Spec, opts *driver.ApplyOptions) (*driver.ApplyResult, error) {
	var exists bool
	var etag string
	var live driver.Config
	b.View(func(f *Function) {
		if f != nil {
			exists, etag, live = true, f.ETag, f.Config.Clone()
		}
	})
	if err := driver.CheckApply(name, exists, etag, opts); err != nil {
		return nil, err
	}
	a := &applier{b: b, name: name, s: s, res: &driver.ApplyResult{}}
	steps := []func(context.Context) error{a.update, a.route, a.triggers, a.provisioned}
	if exists {
		a.live = &live
	}
	if opts.Publish {
		steps = slices.Insert(steps, 1, a.publish)
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return a.res, nil
}

// applier is one Apply in progress.
type applier struct {
	b    Backend
	name string
	s    *driver.Spec
	live *driver.Config // nil when the function did not exist
	res  *driver.ApplyResult
}

// step runs op through the backend; every step but OpCreate needs the
// function to still exist.
func (a *applier) step(ctx context.Context, op string, mutate func(f *Function) (*Function, error)) error {
	return a.b.Step(ctx, op, func(f *Function) (*Function, error) {
		if f == nil && op != OpCreate {
			return nil, driver.NewError(driver.NotFound, fmt.Sprintf("function %s was deleted during Apply", a.name))
		}
		return mutate(f)
	})
}

// update creates the function, or uploads its new code and changes its
// configuration.
func (a *applier) update(ctx context.Context) error {
	s := a.s
	if a.live == nil {
		if s.Bundle == nil {
			return driver.NoCode(a.name)
		}
		want := driver.Desired(driver.Config{}, s)
		err := a.step(ctx, OpCreate, func(f *Function) (*Function, error) {
			if f != nil {
				return nil, driver.FunctionExists(a.name)
			}
			if err := a.b.Upload(ctx, s.Bundle, want); err != nil {
				return nil, err
			}
			return &Function{Name: a.name, Config: want.Clone(), ETag: a.b.NewETag(), NextRev: 1,
				Routes: map[string]*Route{}, Triggers: map[string]trigger.Trigger{}}, nil
		})
		if err == nil {
			a.res.Created, a.res.Changed, a.res.UploadedBytes = true, true, s.Bundle.Size
		}
		return err
	}
	want := driver.Desired(*a.live, s)
	if s.Bundle != nil && s.Bundle.Digest != a.live.CodeDigest {
		err := a.step(ctx, OpUpdateCode, func(f *Function) (*Function, error) {
			if err := a.b.Upload(ctx, s.Bundle, want); err != nil {
				return nil, err
			}
			f.Config.CodeDigest, f.Config.CodeSize = s.Bundle.Digest, s.Bundle.Size
			f.ETag = a.b.NewETag()
			return f, nil
		})
		if err != nil {
			return err
		}
		a.res.Changed, a.res.UploadedBytes = true, s.Bundle.Size
	}
	// Code and configuration compare apart: live with want's code.
	withCode := *a.live
	withCode.CodeDigest, withCode.CodeSize = want.CodeDigest, want.CodeSize
	if driver.SameConfig(withCode, want) {
		return nil
	}
	err := a.step(ctx, OpUpdateConf, func(f *Function) (*Function, error) {
		f.Config = want.Clone()
		f.ETag = a.b.NewETag()
		return f, nil
	})
	if err == nil {
		a.res.Changed = true
	}
	return err
}

// publish publishes a revision unless the newest has the live
// configuration, and reports the newest in the result.
func (a *applier) publish(ctx context.Context) error {
	var newest *driver.Revision
	needed := false
	a.b.View(func(f *Function) {
		if f != nil {
			newest = f.newest()
			needed = newest == nil || !driver.SameConfig(newest.Config, f.Config)
		}
	})
	if needed {
		err := a.step(ctx, OpPublish, func(f *Function) (*Function, error) {
			newest = &driver.Revision{ID: fmt.Sprint(f.NextRev), CodeDigest: f.Config.CodeDigest, Created: time.Now().UTC(), Config: f.Config.Clone()}
			f.NextRev++
			f.Revisions = append(f.Revisions, newest)
			return f, nil
		})
		if err != nil {
			return err
		}
		a.res.Published = true
	}
	if newest != nil {
		a.res.Revision = cloneRevision(newest)
	}
	return nil
}

func (f *Function) newest() *driver.Revision {
	if n := len(f.Revisions); n > 0 {
		return f.Revisions[n-1]
	}
	return nil
}

// facts are what the route steps decide on, read from the current state.
type facts struct {
	exists    bool // the function exists
	hasRoute  bool // the spec's route exists
	prov      int  // provisioned concurrency requested on it
	trig      map[string]trigger.Trigger
	trigRoute string
}

func (a *applier) view() facts {
	var v facts
	a.b.View(func(f *Function) {
		if f == nil {
			return
		}
		v.exists, v.trig, v.trigRoute = true, maps.Clone(f.Triggers), f.TriggerRoute
		if r := f.Routes[a.s.Route]; r != nil {
			v.hasRoute, v.prov = true, r.Provisioned
		}
	})
	return v
}

// route creates the route on first publish, pointing at the revision.
func (a *applier) route(ctx context.Context) error {
	s := a.s
	switch v := a.view(); {
	case !v.exists:
		return driver.NewError(driver.NotFound, fmt.Sprintf("function %s was deleted during Apply", a.name))
	case v.hasRoute:
		return nil
	case a.res.Revision != nil:
		rev := a.res.Revision.ID
		return a.step(ctx, OpCreateRoute, func(f *Function) (*Function, error) {
			if f.Routes[s.Route] == nil {
				f.Routes[s.Route] = &Route{Name: s.Route, Traffic: driver.Traffic{Stable: rev}, ETag: a.b.NewETag()}
			}
			return f, nil
		})
	case len(s.Triggers) > 0 || (s.Concurrency.Provisioned != nil && *s.Concurrency.Provisioned > 0):
		return driver.NoRoute(a.name, s.Route)
	}
	return nil
}

// triggers replaces the owned triggers when the spec lists others, or
// targets them at another route.
func (a *applier) triggers(ctx context.Context) error {
	s := a.s
	if s.Triggers == nil {
		return nil
	}
	want := Keyed(s.Triggers)
	v := a.view()
	cur := v.trig
	moved := len(want) > 0 && v.trigRoute != s.Route
	if !moved && (reflect.DeepEqual(want, cur) || (len(want) == 0 && len(cur) == 0)) {
		return nil
	}
	err := a.step(ctx, OpTriggers, func(f *Function) (*Function, error) {
		f.Triggers = want
		if len(want) > 0 {
			f.TriggerRoute = s.Route
		}
		return f, nil
	})
	if err == nil {
		a.res.Changed = true
	}
	return err
}

// Keyed maps ts by trigger key.
func Keyed(ts []trigger.Trigger) map[string]trigger.Trigger {
	out := make(map[string]trigger.Trigger, len(ts))
	for _, t := range ts {
		out[t.TriggerKey()] = t
	}
	return out
}

// provisioned sets the route's provisioned concurrency when the spec
// asks for another amount.
func (a *applier) provisioned(ctx context.Context) error {
	s := a.s
	p := s.Concurrency.Provisioned
	if v := a.view(); p == nil || !v.hasRoute || *p == v.prov {
		return nil
	}
	want := *p
	err := a.step(ctx, OpProvisioned, func(f *Function) (*Function, error) {
		r := f.Routes[s.Route]
		if r == nil {
			return nil, driver.NewError(driver.NotFound, fmt.Sprintf("route %s of %s was deleted during Apply", s.Route, a.name))
		}
		r.Provisioned, r.ETag = want, a.b.NewETag()
		a.b.Provision(s.Route, want)
		return f, nil
	})
	if err == nil {
		a.res.Changed = true
	}
	return err
}

// State is f's portable state; endpoint is reported when f has an HTTP
// trigger, and prov gives the status of provisioned concurrency.
func (f *Function) State(endpoint string, prov ProvisionedStatus) *driver.State {
	s := &driver.State{Name: f.Name, Config: f.Config.Clone(), ETag: f.ETag, Routes: map[string]*driver.Route{}}
	for name, r := range f.Routes {
		s.Routes[name] = r.View(prov)
	}
	s.Triggers = f.TriggerList()
	for _, t := range s.Triggers {
		if t.Kind() == trigger.KindHTTP {
			s.Endpoint = endpoint
		}
	}
	return s
}

// TriggerList is f's owned triggers in key order; nil when none.
func (f *Function) TriggerList() []trigger.Trigger {
	var out []trigger.Trigger
	for _, k := range slices.Sorted(maps.Keys(f.Triggers)) {
		out = append(out, f.Triggers[k])
	}
	return out
}

// View is r's portable view, a copy; prov (nil for none) gives the status
// of its provisioned concurrency.
func (r *Route) View(prov ProvisionedStatus) *driver.Route {
	rt := &driver.Route{Name: r.Name, Traffic: r.Traffic, ETag: r.ETag, Verdicts: r.Verdicts.Clone()}
	if r.Marker != nil {
		mk := *r.Marker
		rt.Marker = &mk
	}
	if r.Provisioned > 0 && prov != nil {
		rt.Provisioned = prov(r.Name, r.Provisioned)
	}
	return rt
}

// Revision returns revision id of f, nil when there is none.
func (f *Function) Revision(id string) *driver.Revision {
	for _, r := range f.Revisions {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// RevisionList is a copy of f's revisions, oldest first.
func (f *Function) RevisionList() []*driver.Revision {
	out := make([]*driver.Revision, len(f.Revisions))
	for i, r := range f.Revisions {
		out[i] = cloneRevision(r)
	}
	return out
}

func cloneRevision(r *driver.Revision) *driver.Revision {
	cp := *r
	cp.Config = r.Config.Clone()
	return &cp
}

// UpdateRoute checks and writes u to route of f, creating the route when
// u sets its traffic, and gives it etag. It returns the route.
func (f *Function) UpdateRoute(route string, u *driver.RouteUpdate, ifMatch, etag string) (*Route, error) {
	r := f.Routes[route]
	var cur *driver.Route
	if r != nil {
		cur = r.View(nil)
	}
	exists := func(id string) bool { return f.Revision(id) != nil }
	if err := driver.CheckRouteUpdate(f.Name, route, cur, u, ifMatch, exists); err != nil {
		return nil, err
	}
	if r == nil {
		r = &Route{Name: route}
		cur = &driver.Route{Name: route}
		f.Routes[route] = r
	}
	driver.ApplyRouteUpdate(cur, u, etag)
	r.Traffic, r.ETag, r.Marker, r.Verdicts = cur.Traffic, cur.ETag, cur.Marker, cur.Verdicts
	return r, nil
}

// DeleteRevision deletes revision id of f unless a route serves it.
func (f *Function) DeleteRevision(id string) error {
	i := slices.IndexFunc(f.Revisions, func(r *driver.Revision) bool { return r.ID == id })
	if i < 0 {
		return driver.RevisionNotFound(f.Name, id)
	}
	traffic := make(map[string]driver.Traffic, len(f.Routes))
	for name, r := range f.Routes {
		traffic[name] = r.Traffic
	}
	if err := driver.CheckNotServing(f.Name, id, traffic); err != nil {
		return err
	}
	f.Revisions = slices.Delete(f.Revisions, i, i+1)
	return nil
}

// WaitProvisioned polls status every interval until the provisioned
// concurrency on route of fn is READY (or gone: status returns nil), and
// fails when it is FAILED.
func WaitProvisioned(ctx context.Context, fn, route string, interval time.Duration, status func() *driver.Provisioned) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		p := status()
		switch {
		case p == nil || p.Status == "READY" || p.Status == "":
			return nil
		case p.Status == "FAILED":
			return driver.NewError(driver.Internal, fmt.Sprintf("provisioned concurrency %d on route %s of %s FAILED: %s", p.Requested, route, fn, p.Reason))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for provisioned concurrency on %s: %w", route, ctx.Err())
		case <-t.C:
		}
	}
}
