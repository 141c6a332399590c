package deploy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/updraft-dev/updraft/provider"
)

// finish records every candidate as its route's last known good and
// clears the markers, in one write per target.
func (r *roller) finish(ctx context.Context) error {
	r.stopLeasesOnce()
	steps := len(r.opts.Strategy.Steps)
	errs := forEach(len(r.targets), r.opts.Concurrency, func(i int) error {
		rt := r.targets[i]
		rt.mu.Lock()
		defer rt.mu.Unlock()
		var err error
		if !rt.finished {
			err = r.writeOr(ctx, rt, func() *provider.RouteUpdate {
				return &provider.RouteUpdate{ClearMarker: true, Verdicts: withGood(rt.verdicts, rt.cand)}
			}, func(cur *provider.Route) bool {
				return cur.Marker == nil && cur.Traffic == provider.Traffic{Stable: rt.cand} && cur.Verdicts != nil && cur.Verdicts.Good == rt.cand
			})
		}
		if err != nil {
			err = targetErr(rt.target(), StepMarker, rehint(err, fmt.Sprintf(
				"the candidate serves all traffic; run the same Rollout again to clear the marker once its lease expires (%s)",
				rt.marker.Expires().UTC().Format(time.RFC3339))))
			rt.res.Failure = r.plan.red.scrub(err.Error())
			return err
		}
		rt.res.Outcome, rt.res.Percent = OutcomeSucceeded, 100
		if rt.created {
			rt.res.Outcome = OutcomeCreated
		}
		r.em.emit(Event{Kind: EventPromoted, Target: rt.target(), Step: steps, Steps: steps, Percent: 100, Stable: rt.stable, Candidate: rt.cand,
			Message: fmt.Sprintf("revision %s serves all traffic on route %s", rt.cand, rt.tp.Route)})
		return nil
	})
	if err := joinErrors(errs...); err != nil {
		r.res.Outcome = OutcomeFailed
		return err
	}
	r.res.Outcome = OutcomeSucceeded
	return nil
}

// fail rolls every target back (even after ctx is cancelled, within
// RollbackTimeout) and returns cause with any rollback failures. When a
// gate judged the candidate bad (see GateError.judged), the candidate is
// recorded as failed on every target, in the same write that moves the
// traffic back and clears the marker.
func (r *roller) fail(ctx context.Context, cause error) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.RollbackTimeout)
	defer cancel()
	failures := map[string]string{}
	all := flatten(cause)
	gateFailed := false
	for _, e := range all {
		var te *TargetError
		var ge *GateError
		switch {
		case errors.As(e, &ge):
			failures[ge.Target] = r.plan.red.scrub(e.Error())
			gateFailed = gateFailed || ge.judged()
		case errors.As(e, &te):
			failures[te.Target] = r.plan.red.scrub(e.Error())
		}
	}
	// The renewer keeps the leases while the rollback runs; each undone
	// target drops out of it.
	errs := forEach(len(r.targets), r.opts.Concurrency, func(i int) error {
		rt := r.targets[i]
		if f, ok := failures[rt.target()]; ok {
			rt.res.Failure = f
		}
		return r.undo(rctx, rt, gateFailed)
	})
	r.stopLeasesOnce()
	r.res.Outcome = OutcomeRolledBack
	if len(r.targets) == 0 {
		r.res.Outcome = OutcomeFailed
	}
	for _, rt := range r.targets {
		if rt.res.Outcome == OutcomeFailed {
			r.res.Outcome = OutcomeFailed
		}
	}
	for _, tr := range r.res.Targets {
		if f, ok := failures[tr.Target]; ok && tr.Failure == "" {
			tr.Failure = f
		}
		if tr.Outcome == "" {
			tr.Outcome = OutcomeUnchanged
			if tr.Failure != "" {
				tr.Outcome = OutcomeFailed
			}
		}
	}
	return joinErrors(append(all, errs...)...)
}

// persistently retries f on transient failures until ctx ends: the
// rollback's one exception to "drivers retry".
func (r *roller) persistently(ctx context.Context, f func() error) error {
	p := RetryPolicy{Attempts: 1 << 20, Backoff: r.opts.Retry.norm().Backoff}
	return p.do(ctx, transient, f)
}

// undo rolls one target back: a function this rollout created is
// deleted; a route it holds goes back to the stable revision with the
// marker cleared (and the candidate recorded as failed when markFailed).
// A route another holder took is left alone.
func (r *roller) undo(ctx context.Context, rt *rolloutTarget, markFailed bool) error {
	// rt.mu is taken per write, not for the whole (retried) rollback, so
	// the renewer keeps the lease meanwhile.
	rt.mu.Lock()
	lost, acquired := rt.lost, rt.acquired
	if rt.fnCreated {
		rt.acquired = false // the function goes: nothing left to renew
	}
	rt.mu.Unlock()
	switch {
	case lost:
		rt.res.Outcome = OutcomeFailed
		return nil
	case rt.fnCreated:
		return r.deleteCreated(ctx, rt)
	case !acquired && rt.dirty:
		return r.repair(ctx, rt)
	case !acquired:
		// Nothing of ours to undo; a target that failed itself says so.
		rt.res.Outcome, rt.res.Percent = OutcomeRolledBack, 0
		if rt.res.Failure != "" {
			rt.res.Outcome = OutcomeFailed
		}
		return nil
	}
	err := r.persistently(ctx, func() error {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		err := r.write(ctx, rt, func() *provider.RouteUpdate {
			u := &provider.RouteUpdate{ClearMarker: true}
			if want := (provider.Traffic{Stable: rt.stable}); rt.traffic != want && !rt.created {
				u.Traffic = &want
			}
			if markFailed && rt.cand != "" && (rt.created || rt.cand != rt.stable) {
				u.Verdicts = withFailed(rt.verdicts, rt.cand)
			}
			return u
		})
		if err == nil {
			rt.acquired = false // the marker is gone: no more renewals
		}
		return err
	})
	rt.mu.Lock()
	lost, exp := rt.lost, rt.marker.Expires()
	rt.mu.Unlock()
	switch {
	case lost:
		rt.res.Outcome = OutcomeFailed
		return nil
	case err != nil:
		rt.res.Outcome = OutcomeFailed
		return targetErr(rt.target(), StepRollback, rehint(err, fmt.Sprintf(
			"rolling back to revision %s failed and traffic may still reach the candidate; once its lease expires (%s), run the same Rollout with Revert to move it back",
			rt.stable, exp.UTC().Format(time.RFC3339))))
	case rt.created:
		rt.res.Outcome = OutcomeFailed
		rt.res.Failure = "the route was created by this rollout on the candidate, so there is no earlier revision to go back to; the candidate is recorded as failed"
		return nil
	}
	rt.res.Outcome, rt.res.Percent = OutcomeRolledBack, 0
	r.em.emit(Event{Kind: EventRollback, Target: rt.target(), Stable: rt.stable, Candidate: rt.cand,
		Message: fmt.Sprintf("traffic back on revision %s; candidate %s has none", rt.stable, rt.cand)})
	return nil
}

// repair rolls back a lazily locked target whose first write, carrying
// traffic, failed without a refusal: the write may have been applied in
// part (on a target whose traffic write deploys code, such as a slotless
// Azure plan), so the stable traffic is written back, conditioned on the
// ETag Plan read, as a marker's rollback would.
func (r *roller) repair(ctx context.Context, rt *rolloutTarget) error {
	want := provider.Traffic{Stable: rt.stable}
	err := r.persistently(ctx, func() error {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		return r.opts.Retry.do(ctx, nil, func() error {
			_, err := rt.tp.fn.UpdateRoute(ctx, rt.tp.Route, &provider.RouteUpdate{Traffic: &want}, &provider.ConditionOptions{IfMatch: rt.etag})
			if err == nil || !conflict(err) {
				return err
			}
			// The failed write may have moved the route (its ETag with
			// it): write over it only while it holds no marker and what
			// Plan saw or what that write asked for.
			cur, rerr := r.readRoute(ctx, rt)
			switch {
			case rerr != nil:
				return final(rerr)
			case cur.Marker == nil && cur.Traffic == want:
				return nil
			case cur.Marker != nil || (cur.Traffic != rt.planTraffic && cur.Traffic != rt.tried):
				return final(withHint(provider.FailedPrecondition, rt.target(), "Rollout",
					"another deployment changed it; check what it serves and use Rollback if needed",
					"route %s changed since it was planned (it now serves %s)", rt.tp.Route, describeTraffic(cur.Traffic)))
			}
			rt.etag = cur.ETag
			return err
		})
	})
	if err != nil {
		rt.res.Outcome = OutcomeFailed
		return targetErr(rt.target(), StepRollback, rehint(err, fmt.Sprintf(
			"rolling back to revision %s failed and traffic may reach the candidate; run Rollback", rt.stable)))
	}
	rt.res.Outcome, rt.res.Percent = OutcomeRolledBack, 0
	r.em.emit(Event{Kind: EventRollback, Target: rt.target(), Stable: rt.stable, Candidate: rt.cand,
		Message: fmt.Sprintf("traffic back on revision %s; candidate %s has none", rt.stable, rt.cand)})
	return nil
}

// deleteCreated deletes the function this rollout created on rt.
func (r *roller) deleteCreated(ctx context.Context, rt *rolloutTarget) error {
	err := r.persistently(ctx, func() error {
		if err := rt.tp.fn.Delete(ctx); provider.Code(err) != provider.NotFound {
			return err
		}
		return nil
	})
	if err != nil {
		rt.res.Outcome = OutcomeFailed
		return targetErr(rt.target(), StepRollback, rehint(err, "the function this rollout created still serves the candidate; delete it with Destroy"))
	}
	rt.res.Outcome, rt.res.Percent = OutcomeRolledBack, 0
	r.em.emit(Event{Kind: EventRollback, Target: rt.target(), Candidate: rt.cand,
		Message: "deleted the function this rollout created, with its candidate " + rt.cand})
	return nil
}

// revert moves every route holding a marker back to its recorded stable
// revision, records the candidate as failed and clears the marker, in one
// write conditioned on the ETag Plan read.
func (r *roller) revert(ctx context.Context) error {
	var mu sync.Mutex
	reverted := 0
	errs := forEach(len(r.plan.Targets), r.opts.Concurrency, func(i int) error {
		tp, tr := r.plan.Targets[i], r.res.Targets[i]
		route := tp.route()
		if route == nil || route.Marker == nil {
			tr.Outcome, tr.Stable = OutcomeUnchanged, tp.Live
			r.em.emit(Event{Kind: EventUnchanged, Target: tp.Target, Message: "no rollout to revert on route " + tp.Route})
			return nil
		}
		m := route.Marker
		tr.Stable, tr.Candidate = m.Stable, m.Candidate
		rt := &rolloutTarget{tp: tp, res: tr, stable: m.Stable, cand: m.Candidate, owner: m.ID, acquired: true,
			etag: route.ETag, traffic: route.Traffic, verdicts: route.Verdicts}
		rt.mu.Lock()
		defer rt.mu.Unlock()
		err := r.write(ctx, rt, func() *provider.RouteUpdate {
			u := &provider.RouteUpdate{ClearMarker: true}
			if want := (provider.Traffic{Stable: m.Stable}); rt.traffic != want {
				u.Traffic = &want
			}
			if m.Candidate != "" && m.Candidate != m.Stable {
				u.Verdicts = withFailed(rt.verdicts, m.Candidate)
			}
			return u
		})
		if err != nil {
			err = targetErr(tp.Target, StepRollback, err)
			tr.Outcome, tr.Failure = OutcomeFailed, r.plan.red.scrub(err.Error())
			return err
		}
		tr.Outcome, tr.Percent = OutcomeReverted, 0
		mu.Lock()
		reverted++
		mu.Unlock()
		r.em.emit(Event{Kind: EventReverted, Target: tp.Target, Stable: m.Stable, Candidate: m.Candidate,
			Message: fmt.Sprintf("reverted rollout %s by %s: revision %s serves route %s; candidate %s recorded as failed", m.ID, m.Holder, m.Stable, tp.Route, cmpNone(m.Candidate))})
		return nil
	})
	if err := joinErrors(errs...); err != nil {
		r.res.Outcome = OutcomeFailed
		return err
	}
	r.res.Outcome = OutcomeUnchanged
	if reverted > 0 {
		r.res.Outcome = OutcomeReverted
	}
	return nil
}

// hintedError is err with what to do next.
type hintedError struct {
	err  error
	hint string
}

func (e *hintedError) Error() string { return e.err.Error() + ": " + e.hint }
func (e *hintedError) Unwrap() error { return e.err }

// rehint returns err with hint as what to do next, replacing a
// provider.Error's own hint rather than adding a second layer.
func rehint(err error, hint string) error {
	if te, ok := err.(*TargetError); ok {
		cp := *te
		cp.Err = rehint(te.Err, hint)
		return &cp
	}
	if pe, ok := err.(*provider.Error); ok {
		cp := *pe
		cp.Hint = hint
		return &cp
	}
	return &hintedError{err: err, hint: hint}
}
