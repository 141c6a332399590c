package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/updraft-dev/updraft/provider"
)

// shift moves rt's route to the step's percentage and records the step
// in the marker, in one conditioned write; the first write of a lazily
// locked target (see lazy) is its lock. The last step of a solo rollout
// also records the candidate as the last known good and clears the
// marker in that write, since no gate runs after it: finish then has
// nothing to write. A write that would change nothing is not made.
func (r *roller) shift(ctx context.Context, rt *rolloutTarget, step int) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	pct := rt.percents[step-1]
	tr := stepTraffic(rt, pct)
	last := r.solo && step == len(rt.percents)
	var err error
	switch {
	case r.solo && rt.fnCreated:
		// Apply created the function with its route at 100% on the
		// candidate, and nothing runs before the rollout ends: there is
		// nothing to hold or move.
		rt.finished = last
	case last:
		err = r.shiftLast(ctx, rt, tr)
	default:
		err = r.shiftStep(ctx, rt, tr, r.markerAt(rt, step, pct))
	}
	if err != nil {
		if !rt.acquired && !rt.created && tr != rt.planTraffic && !refusal(err) {
			rt.dirty, rt.tried = true, tr
		}
		return targetErr(rt.target(), StepTraffic, err)
	}
	rt.res.Percent = pct
	rt.shiftedAt = time.Now()
	r.em.emit(Event{Kind: EventShifted, Target: rt.target(), Step: step, Steps: len(rt.percents), Percent: pct, Stable: rt.stable, Candidate: rt.cand,
		Message: fmt.Sprintf("revision %s at %d%%, %s at %d%%", rt.cand, pct, rt.stable, 100-pct)})
	return nil
}

// stepTraffic is rt's traffic with the candidate at pct.
func stepTraffic(rt *rolloutTarget, pct int) provider.Traffic {
	switch {
	case pct == 100 || rt.stable == rt.cand:
		return provider.Traffic{Stable: rt.cand}
	case pct > 0:
		return provider.Traffic{Stable: rt.stable, Candidate: rt.cand, CandidatePercent: pct}
	}
	return provider.Traffic{Stable: rt.stable}
}

// shiftLast is the last step of a solo rollout: traffic to tr, the
// candidate recorded as last known good and the marker cleared, in one
// write (none when nothing would change).
func (r *roller) shiftLast(ctx context.Context, rt *rolloutTarget, tr provider.Traffic) error {
	build := func() *provider.RouteUpdate {
		u := &provider.RouteUpdate{ClearMarker: rt.acquired}
		if rt.traffic != tr {
			u.Traffic = &tr
		}
		if v := withGood(rt.verdicts, rt.cand); !sameVerdicts(v, rt.verdicts) {
			u.Verdicts = v
		}
		return u
	}
	landed := func(cur *provider.Route) bool {
		return cur.Marker == nil && cur.Traffic == tr && cur.Verdicts != nil && cur.Verdicts.Good == rt.cand
	}
	var err error
	switch u := build(); {
	case u.Traffic == nil && u.Verdicts == nil && !u.ClearMarker:
	case rt.acquired:
		err = r.writeOr(ctx, rt, build, landed)
	default:
		err = r.claim(ctx, rt, build, landed)
	}
	if err == nil {
		rt.finished, rt.acquired = true, false
	}
	return err
}

// shiftStep moves traffic to tr and records want as the marker, in one
// write; the first write of a lazily locked target claims it.
func (r *roller) shiftStep(ctx context.Context, rt *rolloutTarget, tr provider.Traffic, want *provider.Marker) error {
	build := func() *provider.RouteUpdate {
		u := &provider.RouteUpdate{Marker: want}
		if rt.traffic != tr {
			u.Traffic = &tr
		}
		return u
	}
	var err error
	if rt.acquired {
		err = r.write(ctx, rt, build)
	} else if err = r.claim(ctx, rt, build, r.ours); err == nil {
		r.hold(rt, want)
	}
	if err == nil {
		rt.marker = want
	}
	return err
}

// refusal reports whether err says a write was refused before any change:
// a precondition, a missing route or revision, a bad or unsupported
// update, a denied permission.
func refusal(err error) bool {
	switch provider.Code(err) {
	case provider.FailedPrecondition, provider.NotFound, provider.InvalidArgument, provider.Unimplemented, provider.PermissionDenied:
		return true
	}
	return false
}

// gates runs every gate on rt at step, stopping at the first failure.
func (r *roller) gates(ctx context.Context, rt *rolloutTarget, step int) error {
	steps := len(rt.percents)
	pct := rt.percents[step-1]
	in := &GateInput{Function: rt.tp.fn, Target: rt.target(), Route: rt.tp.Route, Stable: rt.stable, Candidate: rt.cand,
		Step: step, Steps: steps, Percent: pct, Since: rt.shiftedAt, red: r.plan.red}
	for _, g := range r.opts.Gates {
		start := time.Now()
		result, err := runGate(ctx, g, in, r.opts.GateTimeout)
		err = r.plan.red.scrubErr(err)
		out := GateOutcome{Gate: g.Name, Step: step, Percent: pct, Result: result, Elapsed: time.Since(start)}
		var skip *SkipError
		switch {
		case errors.As(err, &skip):
			out.Message = r.plan.red.scrub(skip.Reason)
		case err != nil:
			out.Message = r.plan.red.scrub(err.Error())
		}
		rt.res.Gates = append(rt.res.Gates, out)
		r.em.emit(Event{Kind: EventGate, Target: rt.target(), Step: step, Steps: steps, Percent: pct, Stable: rt.stable, Candidate: rt.cand,
			Gate: g.Name, GateResult: result, Message: out.Message, Err: err})
		if result != GateFailed {
			continue
		}
		if ctx.Err() != nil {
			return interrupted(step, steps, context.Cause(ctx))
		}
		rt.res.FailedGate = g.Name
		return &GateError{Target: rt.target(), Gate: g.Name, Step: step, Steps: steps, Percent: pct, Candidate: rt.cand, Stable: rt.stable, Err: err}
	}
	return nil
}
