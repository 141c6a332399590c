package deploy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/updraft-dev/updraft/provider"
)

// RollbackOptions configure Rollback. Nil means the defaults.
type RollbackOptions struct {
	// Revision is the revision to serve; "" means the recorded one: the
	// stable revision of an interrupted rollout on the route, else the
	// route's last known good revision (the last one a rollout completed
	// with) when it is not the one serving, else the newest revision
	// published before the serving one that is not recorded as failed.
	Revision string
	// Route defaults to provider.DefaultRoute.
	Route string
	// TakeOver lets Rollback clear the marker of a rollout whose lease is
	// live (it is running, or its holder died less than a lease ago).
	// That rollout's next write then fails and it stops without touching
	// traffic. Without TakeOver such a route is refused with
	// FailedPrecondition naming the holder.
	TakeOver bool
	// Concurrency bounds how many targets are worked on at once; 0 means 16.
	Concurrency int
	// Retry bounds the re-reads after a conditioned write found the route
	// changed.
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
	// Why says how To was chosen.
	Why string `json:"why"`
	// ClearedMarker names the rollout whose marker was cleared, if any.
	ClearedMarker string `json:"clearedMarker,omitempty"`
}

// Rollback points each target's route at a previous revision (see
// RollbackOptions.Revision) and clears any rollout marker on it, in one
// write conditioned on the route's ETag. A route held by a rollout with a
// live lease is refused (FailedPrecondition naming holder, rollout and
// lease expiry) unless TakeOver is set; the marker of a rollout whose
// lease expired is cleared. FailedPrecondition when there is no previous
// revision; NotFound when the route or the named revision does not
// exist. Rollback records no verdict.
func Rollback(ctx context.Context, fns []*provider.Function, opts *RollbackOptions) (*RollbackResult, error) {
	if opts == nil {
		opts = &RollbackOptions{}
	}
	if err := checkFns(fns, "Rollback"); err != nil {
		return nil, err
	}
	routeName := cmp.Or(opts.Route, provider.DefaultRoute)
	em := newEmitter(opts.Logger, opts.OnEvent, nil)
	res := &RollbackResult{Targets: make([]*TargetRollback, len(fns))}
	errs := forEach(len(fns), opts.Concurrency, func(i int) error {
		fn := fns[i]
		tr := &TargetRollback{Target: fn.Target(), Route: routeName}
		res.Targets[i] = tr
		if err := opts.Retry.do(ctx, nil, func() error { return rollbackTarget(ctx, fn, tr, opts) }); err != nil {
			return err
		}
		em.emit(Event{Kind: EventRollback, Target: fn.Target(), Stable: tr.To,
			Message: fmt.Sprintf("route %s: %s → %s (%s)", routeName, tr.From, tr.To, tr.Why)})
		return nil
	})
	for i, err := range errs {
		if err != nil {
			errs[i] = targetErr(fns[i].Target(), StepRollback, err)
			em.emit(Event{Kind: EventFailed, Target: fns[i].Target(), Message: errs[i].Error(), Err: errs[i]})
		}
	}
	return res, joinErrors(errs...)
}

// rollbackTarget is one attempt of Rollback on one target; a
// FailedPrecondition from the write is retried after a fresh read. It
// reads the route only, and lists the revisions only when the route does
// not name where to go (no revision given, no interrupted rollout, no
// last known good other than the serving one) or the write found the
// revision it named gone: the write itself checks that a revision
// exists, as UpdateRoute fails with NotFound for an unknown one.
func rollbackTarget(ctx context.Context, fn *provider.Function, tr *TargetRollback, opts *RollbackOptions) error {
	st, err := fn.Read(ctx, &provider.ReadOptions{Route: tr.Route})
	if err != nil {
		return final(err)
	}
	route := st.Routes[tr.Route]
	if route == nil {
		return final(provider.Errorf(provider.NotFound, fn.Target(), "Rollback", "route %s does not exist", tr.Route))
	}
	if m := route.Marker; m != nil && leaseLive(m, time.Now()) && !opts.TakeOver {
		return final(liveMarkerErr(fn.Target(), tr.Route, m, "Rollback"))
	}
	tr.From = describeTraffic(route.Traffic)
	var revs []*provider.Revision
	listed := false
	for {
		to, why, err := rollbackTo(fn.Target(), route, revs, listed, opts.Revision)
		if err == errNeedRevisions {
			if revs, err = fn.Revisions(ctx); err != nil {
				return final(err)
			}
			listed = true
			continue
		}
		if err != nil {
			return final(err)
		}
		tr.To, tr.Why = to, why
		u := &provider.RouteUpdate{ClearMarker: route.Marker != nil}
		if route.Traffic != (provider.Traffic{Stable: to}) {
			u.Traffic = &provider.Traffic{Stable: to}
		}
		if u.Traffic == nil && !u.ClearMarker {
			return nil
		}
		_, err = fn.UpdateRoute(ctx, tr.Route, u, &provider.ConditionOptions{IfMatch: route.ETag})
		if provider.Code(err) == provider.NotFound && u.Traffic != nil && !listed {
			// The revision chosen without the list is gone: choose again
			// from the list.
			if revs, err = fn.Revisions(ctx); err != nil {
				return final(err)
			}
			listed = true
			continue
		}
		if err != nil {
			return err
		}
		if route.Marker != nil {
			tr.ClearedMarker = route.Marker.ID
		}
		return nil
	}
}

// errNeedRevisions is rollbackTo's answer when it cannot choose without
// the list of revisions.
var errNeedRevisions = errors.New("the revisions are needed")

// rollbackTo chooses the revision a Rollback goes to, and says why. When
// listed is false revs is unknown: a revision the route names is taken to
// exist (the write checks it), and errNeedRevisions is returned when the
// choice needs the list.
func rollbackTo(target string, route *provider.Route, revs []*provider.Revision, listed bool, named string) (string, string, error) {
	exists := func(id string) bool {
		return !listed || slices.ContainsFunc(revs, func(r *provider.Revision) bool { return r.ID == id })
	}
	live, v := route.Traffic.Stable, route.Verdicts
	switch {
	case named != "" && !exists(named):
		return "", "", provider.Errorf(provider.NotFound, target, "Rollback", "revision %s does not exist", named)
	case named != "":
		return named, "named", nil
	case route.Marker != nil && route.Marker.Stable != "" && exists(route.Marker.Stable):
		return route.Marker.Stable, "stable revision of rollout " + route.Marker.ID, nil
	case v != nil && v.Good != "" && v.Good != live && exists(v.Good) && !v.IsFailed(v.Good):
		return v.Good, "last known good", nil
	case !listed:
		return "", "", errNeedRevisions
	}
	i := slices.IndexFunc(revs, func(r *provider.Revision) bool { return r.ID == live })
	if i < 0 {
		i = len(revs)
	}
	for j := i - 1; j >= 0; j-- {
		if !v.IsFailed(revs[j].ID) {
			return revs[j].ID, "newest revision before " + live + " not recorded as failed", nil
		}
	}
	return "", "", withHint(provider.FailedPrecondition, target, "Rollback", "name the revision to roll back to in RollbackOptions.Revision",
		"no revision that did not fail was published before %s, the one serving route %s", live, route.Name)
}

// PruneOptions configure Prune. Nil means the defaults.
type PruneOptions struct {
	// Keep is how many of the newest revisions not recorded as failed to
	// keep besides those in use; 0 means 3, and at least 1 is always kept.
	Keep int
	// DryRun reports what would be deleted without deleting.
	DryRun bool
	// Concurrency bounds how many targets are worked on at once; 0 means 16.
	Concurrency int
	// Retry is kept for compatibility: deletes are not retried by deploy
	// (drivers retry transient failures inside each call).
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
	// Reasons says why each kept revision was kept.
	Reasons map[string]string `json:"reasons"`
}

// Prune deletes old revisions of each target. It keeps every revision a
// route references (its stable and candidate, the weights and the
// provisioned concurrency attached to the route, the stable and candidate
// of a rollout marker), the last known good revision of every route, and
// the newest opts.Keep revisions that are not recorded as failed; so
// failed candidates are deleted first, and the last known good never.
// TargetPrune.Reasons says why each kept revision was kept. A revision
// that becomes referenced while Prune runs (the cloud refuses to delete
// it with FailedPrecondition) is kept, not reported as an error. A live
// rollout does not stop Prune: the revisions its marker names are kept.
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
	errs := forEach(len(fns), opts.Concurrency, func(i int) error {
		fn := fns[i]
		tr := &TargetPrune{Target: fn.Target(), Deleted: []string{}, Kept: []string{}, InUse: []string{}, Reasons: map[string]string{}}
		res.Targets[i] = tr
		return pruneTarget(ctx, fn, tr, keep, opts, em)
	})
	return res, joinErrors(errs...)
}

// pruneTarget prunes one target.
func pruneTarget(ctx context.Context, fn *provider.Function, tr *TargetPrune, keep int, opts *PruneOptions, em *emitter) error {
	st, err := fn.Get(ctx)
	if err != nil {
		return targetErr(fn.Target(), StepRead, err)
	}
	revs, err := fn.Revisions(ctx)
	if err != nil {
		return targetErr(fn.Target(), StepRead, err)
	}
	inUse, reasons, failed := pruneReferences(st)
	recent := 0
	for _, rev := range slices.Backward(revs) {
		if !failed[rev.ID] && recent < keep {
			recent++
			if reasons[rev.ID] == "" {
				reasons[rev.ID] = fmt.Sprintf("one of the %d newest revisions not recorded as failed", keep)
			}
		}
	}
	var errs []error
	for _, rev := range revs {
		switch {
		case inUse[rev.ID]:
			tr.InUse = append(tr.InUse, rev.ID)
			tr.Kept = append(tr.Kept, rev.ID)
			tr.Reasons[rev.ID] = reasons[rev.ID]
		case reasons[rev.ID] != "":
			tr.Kept = append(tr.Kept, rev.ID)
			tr.Reasons[rev.ID] = reasons[rev.ID]
		case opts.DryRun:
			tr.Deleted = append(tr.Deleted, rev.ID)
		default:
			err := fn.DeleteRevision(ctx, rev.ID)
			switch provider.Code(err) {
			case provider.OK, provider.NotFound:
				tr.Deleted = append(tr.Deleted, rev.ID)
				em.emit(Event{Kind: EventPruned, Target: fn.Target(), Message: "deleted revision " + rev.ID})
			case provider.FailedPrecondition:
				tr.InUse = append(tr.InUse, rev.ID)
				tr.Kept = append(tr.Kept, rev.ID)
				tr.Reasons[rev.ID] = "the cloud refused to delete it: it became referenced while Prune ran"
			default:
				errs = append(errs, targetErr(fn.Target(), StepPrune, err))
			}
		}
	}
	return joinErrors(errs...)
}

// pruneReferences lists the revisions st's routes reference (inUse), why
// each revision referenced or known good is kept, and the failed ones.
func pruneReferences(st *provider.State) (inUse map[string]bool, reasons map[string]string, failed map[string]bool) {
	inUse, reasons, failed = map[string]bool{}, map[string]string{}, map[string]bool{}
	note := func(rev, why string, used bool) {
		if rev == "" {
			return
		}
		if used {
			inUse[rev] = true
		}
		if reasons[rev] == "" {
			reasons[rev] = why
		}
	}
	for _, name := range slices.Sorted(maps.Keys(st.Routes)) {
		r := st.Routes[name]
		note(r.Traffic.Stable, "serves route "+name, true)
		note(r.Traffic.Candidate, fmt.Sprintf("gets %d%% of route %s", r.Traffic.CandidatePercent, name), true)
		if m := r.Marker; m != nil {
			note(m.Stable, "stable revision of rollout "+m.ID+" on route "+name, true)
			note(m.Candidate, "candidate of rollout "+m.ID+" on route "+name, true)
		}
		if v := r.Verdicts; v != nil {
			note(v.Good, "last known good of route "+name, false)
			for _, id := range v.Failed {
				failed[id] = true
			}
		}
	}
	return inUse, reasons, failed
}

// DestroyOptions configure Destroy. Nil means the defaults.
type DestroyOptions struct {
	// Force deletes a function even while a rollout marker is on one of its routes.
	Force bool
	// Concurrency bounds how many targets are worked on at once; 0 means 16.
	Concurrency int
	// Retry is kept for compatibility: deploy does not retry Destroy's
	// calls (drivers retry transient failures inside each call).
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
	exists := make([]bool, len(fns))
	// Check every target before deleting any, so a refusal leaves all in place.
	errs := forEach(len(fns), opts.Concurrency, func(i int) error {
		fn := fns[i]
		res.Targets[i] = &TargetDestroy{Target: fn.Target()}
		st, err := fn.Get(ctx)
		switch {
		case provider.Code(err) == provider.NotFound:
			em.emit(Event{Kind: EventUnchanged, Target: fn.Target(), Message: "does not exist"})
			return nil
		case err != nil:
			return targetErr(fn.Target(), StepRead, err)
		}
		exists[i] = true
		if opts.Force {
			return nil
		}
		for _, name := range slices.Sorted(maps.Keys(st.Routes)) {
			if m := st.Routes[name].Marker; m != nil {
				return targetErr(fn.Target(), StepCheck, withHint(provider.FailedPrecondition, fn.Target(), "Destroy",
					"wait for the rollout, or set Force to delete anyway", "route %s is held by %s", name, markerInfo(m)))
			}
		}
		return nil
	})
	if err := joinErrors(errs...); err != nil {
		return res, err
	}
	errs = forEach(len(fns), opts.Concurrency, func(i int) error {
		if !exists[i] {
			return nil
		}
		fn := fns[i]
		err := fn.Delete(ctx)
		switch provider.Code(err) {
		case provider.OK, provider.NotFound:
			res.Targets[i].Deleted = err == nil
			em.emit(Event{Kind: EventDestroyed, Target: fn.Target(), Message: "deleted"})
			return nil
		}
		return targetErr(fn.Target(), StepDestroy, err)
	})
	return res, joinErrors(errs...)
}
