package provider

import (
	"context"

	"github.com/updraft-dev/updraft/provider/driver"
)

// ReadOptions limit a Read to what a Spec manages: one route, and its
// triggers and provisioned concurrency only when asked. Build them from a
// Spec with ReadOptionsFor.
type ReadOptions struct {
	// Route is the one route to read; "" means DefaultRoute.
	Route string
	// Triggers reads the triggers updraft owns on Route.
	Triggers bool
	// Provisioned reads provisioned concurrency on Route.
	Provisioned bool
}

// ReadOptionsFor returns what a deploy of s reads: s's route, its triggers
// when s manages them (non-nil Triggers) and its provisioned concurrency
// when s manages it (non-nil Concurrency.Provisioned).
func ReadOptionsFor(s *Spec) *ReadOptions {
	if s == nil {
		return &ReadOptions{Route: DefaultRoute}
	}
	r := s.Route
	if r == "" {
		r = DefaultRoute
	}
	return &ReadOptions{Route: r, Triggers: s.Triggers != nil, Provisioned: s.Concurrency.Provisioned != nil}
}

// Read reads the live state a Spec manages, as opts says. Get reads
// everything (every route, every trigger, provisioned concurrency): it is
// a status read. Read may read less: the function's configuration and
// opts.Route, with its triggers and provisioned concurrency only when
// opts asks, so a deploy needs no permission (and no API call) for what
// its Spec leaves unmanaged. What Read leaves out is absent from the
// State: other routes, and Triggers or Route.Provisioned when not asked.
// A target that cannot read by scope is read with Get, so the State may
// hold more than asked. opts nil is Get. NotFound if the function does
// not exist.
func (f *Function) Read(ctx context.Context, opts *ReadOptions) (*State, error) {
	if opts == nil {
		return f.Get(ctx)
	}
	if err := f.begin(ctx, "Read"); err != nil {
		return nil, err
	}
	defer f.mu.RUnlock()
	route := opts.Route
	if route == "" {
		route = DefaultRoute
	}
	if !routeRE.MatchString(route) {
		return nil, f.invalid("Read", "route %q: use lower-case letters, digits and '-', starting with a letter", route)
	}
	var s *driver.State
	var err error
	if sg, ok := f.d.(driver.ScopedGetter); ok {
		s, err = sg.GetScoped(ctx, &driver.ReadScope{Route: route, Triggers: opts.Triggers, Provisioned: opts.Provisioned})
	} else {
		s, err = f.d.Get(ctx)
	}
	if err != nil {
		return nil, f.wrap(ctx, "Read", err)
	}
	return stateFromDriver(s), nil
}

// LiveRevision returns the revision that route serves alone when the
// target knows, without a call, that it holds exactly the live code and
// configuration of st (which must be this handle's latest Get or Read);
// "" when it does not know. A deploy uses it to tell that nothing
// changes without listing revisions; "" means "list them to find out",
// never "no such revision".
func (f *Function) LiveRevision(st *State, route string) string {
	if st == nil {
		return ""
	}
	lr, ok := f.d.(driver.LiveRevisioner)
	if !ok {
		return ""
	}
	if route == "" {
		route = DefaultRoute
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return ""
	}
	return lr.LiveRevision(st.ETag, route)
}
