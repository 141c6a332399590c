package deploy

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/updraft-dev/updraft/provider"
)

// RollbackOptions configure Rollback. Nil means the defaults.
type RollbackOptions struct {
	// Revision is the revision to serve; "" means the recorded previous
	// one: the stable revision of a rollout in progress on the route, or
	// else the newest revision published before the one serving now.
	// Name it when a revision in between failed its gates.
	Revision string
	// Route defaults to provider.DefaultRoute.
	Route string
	// Concurrency bounds how many targets are worked on at once; 0 means 16.
	Concurrency int
	// Retry says how calls failing with a transient code are retried.
	Retry RetryPolicy
	// Logger receives progress records; nil means none.
	Logger *slog.Logger
	// OnEvent, when set, receives progress events, one call at a time.
	OnEvent func(Event)
}

// RollbackResult reports a rollback per target, in the order given.
type RollbackResult struct {
	Targets []*TargetRollback `json:"targets"`
}

// TargetRollback reports a rollback on one target.
type TargetRollback struct {
	Target string `json:"target"`
	Route  string `json:"route"`
	// From is what served the route before; To is the revision serving it now.
	From string `json:"from"`
	To   string `json:"to"`
	// ClearedMarker names the rollout whose marker was cleared, if any.
	ClearedMarker string `json:"clearedMarker,omitempty"`
}

// Rollback points each target's route at a previous revision (see
// RollbackOptions.Revision) and clears any rollout marker on it. It is the
// emergency lever, so it does not wait for a rollout in progress: that
// rollout stops at its next step with FailedPrecondition, without touching
// traffic. FailedPrecondition when there is no previous revision;
// NotFound when the route or the named revision does not exist.
func Rollback(ctx context.Context, fns []*provider.Function, opts *RollbackOptions) (*RollbackResult, error) {
	if opts == nil {
		opts = &RollbackOptions{}
	}
	if err := checkFns(fns, "Rollback"); err != nil {
		return nil, err
	}
	routeName := cmpOr(opts.Route, provider.DefaultRoute)
	em := newEmitter(opts.Logger, opts.OnEvent, nil)
	res := &RollbackResult{Targets: make([]*TargetRollback, len(fns))}
	errs := make([]error, len(fns))
	forEach(len(fns), opts.Concurrency, func(i int) {
		fn := fns[i]
		tr := &TargetRollback{Target: fn.Target(), Route: routeName}
		res.Targets[i] = tr
		err := opts.Retry.do(ctx, transientOrConflict, func() error {
			st, err := fn.Get(ctx)
			if err != nil {
				return err
			}
			route := st.Routes[routeName]
			if route == nil {
				return final(provider.Errorf(provider.NotFound, fn.Target(), "Rollback", "route %s does not exist", routeName))
			}
			tr.From = describeTraffic(route.Traffic)
			to := opts.Revision
			if to == "" && route.Marker != nil {
				to = route.Marker.Stable
			}
			revs, err := fn.Revisions(ctx)
			if err != nil {
				return err
			}
			if to == "" {
				i := slices.IndexFunc(revs, func(r *provider.Revision) bool { return r.ID == route.Traffic.Stable })
				if i <= 0 {
					return final(withHint(provider.FailedPrecondition, fn.Target(), "Rollback", "name the revision to roll back to in RollbackOptions.Revision",
						"no revision was published before %s, the one serving route %s", route.Traffic.Stable, routeName))
				}
				to = revs[i-1].ID
			} else if !slices.ContainsFunc(revs, func(r *provider.Revision) bool { return r.ID == to }) {
				return final(provider.Errorf(provider.NotFound, fn.Target(), "Rollback", "revision %s does not exist", to))
			}
			tr.To = to
			if route.Traffic != (provider.Traffic{Stable: to}) {
				if err := fn.SetTraffic(ctx, routeName, provider.Traffic{Stable: to}, &provider.ConditionOptions{IfMatch: route.ETag}); err != nil {
					return err
				}
			}
			if route.Marker != nil {
				tr.ClearedMarker = route.Marker.ID
				// Unconditional: the traffic write changed the ETag, and
				// the marker goes whoever holds it.
				if err := fn.SetMarker(ctx, routeName, nil, nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			errs[i] = targetErr(fn.Target(), StepRollback, err)
			em.emit(Event{Kind: EventFailed, Target: fn.Target(), Message: errs[i].Error(), Err: errs[i]})
			return
		}
		em.emit(Event{Kind: EventRollback, Target: fn.Target(), Stable: tr.To,
			Message: fmt.Sprintf("route %s: %s → %s", routeName, tr.From, tr.To)})
	})
	return res, joinErrors(errs...)
}

// PruneOptions configure Prune. Nil means the defaults.
type PruneOptions struct {
	// Keep is how many of the newest revisions to keep besides those in
	// use; 0 means 3, and at least 1 is always kept.
	Keep int
	// DryRun reports what would be deleted without deleting.
	DryRun bool
	// Concurrency bounds how many targets are worked on at once; 0 means 16.
	Concurrency int
	// Retry says how calls failing with a transient code are retried.
	Retry RetryPolicy
	// Logger receives progress records; nil means none.
	Logger *slog.Logger
	// OnEvent, when set, receives progress events, one call at a time.
	OnEvent func(Event)
}

// PruneResult reports a prune per target, in the order given.
type PruneResult struct {
	Targets []*TargetPrune `json:"targets"`
}

// TargetPrune reports a prune on one target.
type TargetPrune struct {
	Target string `json:"target"`
	// Deleted lists deleted revisions (with DryRun, those that would be).
	Deleted []string `json:"deleted"`
	// Kept lists the revisions kept; InUse those kept because a route, its
	// weights, its provisioned concurrency or a rollout marker references them.
	Kept  []string `json:"kept"`
	InUse []string `json:"inUse"`
}

// Prune deletes old revisions of each target, keeping the newest
// opts.Keep and every revision that any route references: its stable and
// candidate (the weights and the provisioned concurrency attached to the
// route) and the stable and candidate of a rollout marker. A revision
// that becomes referenced while Prune runs (the cloud refuses to delete
// it with FailedPrecondition) is kept, not reported as an error.
func Prune(ctx context.Context, fns []*provider.Function, opts *PruneOptions) (*PruneResult, error) {
	if opts == nil {
		opts = &PruneOptions{}
	}
	if err := checkFns(fns, "Prune"); err != nil {
		return nil, err
	}
	keep := opts.Keep
	if keep <= 0 {
		keep = 3
	}
	em := newEmitter(opts.Logger, opts.OnEvent, nil)
	res := &PruneResult{Targets: make([]*TargetPrune, len(fns))}
	errs := make([]error, len(fns))
	forEach(len(fns), opts.Concurrency, func(i int) {
		fn := fns[i]
		tr := &TargetPrune{Target: fn.Target(), Deleted: []string{}, Kept: []string{}, InUse: []string{}}
		res.Targets[i] = tr
		var st *provider.State
		var revs []*provider.Revision
		err := opts.Retry.do(ctx, nil, func() error {
			var err error
			if st, err = fn.Get(ctx); err != nil {
				return err
			}
			revs, err = fn.Revisions(ctx)
			return err
		})
		if err != nil {
			errs[i] = targetErr(fn.Target(), StepRead, err)
			return
		}
		inUse := map[string]bool{}
		for _, r := range st.Routes {
			inUse[r.Traffic.Stable], inUse[r.Traffic.Candidate] = true, true
			if m := r.Marker; m != nil {
				inUse[m.Stable], inUse[m.Candidate] = true, true
			}
		}
		delete(inUse, "")
		for j, rev := range revs {
			switch {
			case inUse[rev.ID]:
				tr.InUse = append(tr.InUse, rev.ID)
				tr.Kept = append(tr.Kept, rev.ID)
			case j >= len(revs)-keep:
				tr.Kept = append(tr.Kept, rev.ID)
			case opts.DryRun:
				tr.Deleted = append(tr.Deleted, rev.ID)
			default:
				err := opts.Retry.do(ctx, nil, func() error { return fn.DeleteRevision(ctx, rev.ID) })
				switch provider.Code(err) {
				case provider.OK, provider.NotFound:
					tr.Deleted = append(tr.Deleted, rev.ID)
					em.emit(Event{Kind: EventPruned, Target: fn.Target(), Message: "deleted revision " + rev.ID})
				case provider.FailedPrecondition:
					tr.InUse = append(tr.InUse, rev.ID)
					tr.Kept = append(tr.Kept, rev.ID)
				default:
					errs[i] = joinErrors(errs[i], targetErr(fn.Target(), StepPrune, err))
				}
			}
		}
	})
	return res, joinErrors(errs...)
}

// DestroyOptions configure Destroy. Nil means the defaults.
type DestroyOptions struct {
	// Force deletes a function even while a rollout marker is on one of its routes.
	Force bool
	// Concurrency bounds how many targets are worked on at once; 0 means 16.
	Concurrency int
	// Retry says how calls failing with a transient code are retried.
	Retry RetryPolicy
	// Logger receives progress records; nil means none.
	Logger *slog.Logger
	// OnEvent, when set, receives progress events, one call at a time.
	OnEvent func(Event)
}

// DestroyResult reports a destroy per target, in the order given.
type DestroyResult struct {
	Targets []*TargetDestroy `json:"targets"`
}

// TargetDestroy reports a destroy on one target.
type TargetDestroy struct {
	Target string `json:"target"`
	// Deleted is true when the function was deleted; false when it did not exist.
	Deleted bool `json:"deleted"`
}

// Destroy deletes each function with its routes and the triggers updraft
// owns. A function that does not exist is not an error. Every target is
// read before any is deleted: a function with a rollout in progress is
// refused with FailedPrecondition (unless opts.Force is set), and then
// none is deleted.
func Destroy(ctx context.Context, fns []*provider.Function, opts *DestroyOptions) (*DestroyResult, error) {
	if opts == nil {
		opts = &DestroyOptions{}
	}
	if err := checkFns(fns, "Destroy"); err != nil {
		return nil, err
	}
	em := newEmitter(opts.Logger, opts.OnEvent, nil)
	res := &DestroyResult{Targets: make([]*TargetDestroy, len(fns))}
	errs := make([]error, len(fns))
	exists := make([]bool, len(fns))
	// Check every target before deleting any, so a refusal leaves all in place.
	forEach(len(fns), opts.Concurrency, func(i int) {
		fn := fns[i]
		res.Targets[i] = &TargetDestroy{Target: fn.Target()}
		var st *provider.State
		err := opts.Retry.do(ctx, nil, func() error {
			var err error
			st, err = fn.Get(ctx)
			return err
		})
		switch {
		case provider.Code(err) == provider.NotFound:
			em.emit(Event{Kind: EventUnchanged, Target: fn.Target(), Message: "does not exist"})
			return
		case err != nil:
			errs[i] = targetErr(fn.Target(), StepRead, err)
			return
		}
		exists[i] = true
		if opts.Force {
			return
		}
		for _, name := range slices.Sorted(maps.Keys(st.Routes)) {
			if m := st.Routes[name].Marker; m != nil {
				errs[i] = targetErr(fn.Target(), StepCheck, withHint(provider.FailedPrecondition, fn.Target(), "Destroy",
					"wait for the rollout, or set Force to delete anyway", "route %s is held by %s", name, markerInfo(m)))
				return
			}
		}
	})
	if err := joinErrors(errs...); err != nil {
		return res, err
	}
	forEach(len(fns), opts.Concurrency, func(i int) {
		if !exists[i] {
			return
		}
		fn := fns[i]
		err := opts.Retry.do(ctx, nil, func() error { return fn.Delete(ctx) })
		switch provider.Code(err) {
		case provider.OK, provider.NotFound:
			res.Targets[i].Deleted = err == nil
			em.emit(Event{Kind: EventDestroyed, Target: fn.Target(), Message: "deleted"})
		default:
			errs[i] = targetErr(fn.Target(), StepDestroy, err)
		}
	})
	return res, joinErrors(errs...)
}
