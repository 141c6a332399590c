package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/updraft-dev/updraft/provider"
)

// roller runs one rollout.
type roller struct {
	opts    *RolloutOptions
	plan    *PlanResult
	em      *emitter
	res     *RolloutResult
	targets []*rolloutTarget // the targets whose route the rollout moves or creates
	// solo is true when one target moves and nothing runs between its
	// route writes (no gates, no bake): see (*roller).selectTargets.
	solo bool

	stopLeases func() // stops the lease renewer; nil before it starts
}

// rolloutTarget is one target's rollout state.
type rolloutTarget struct {
	tp       *TargetPlan
	res      *TargetRollout
	stable   string
	cand     string
	percents []int
	// created is set when the route did not exist: this rollout creates
	// it on the candidate; fnCreated when it created the function too.
	created, fnCreated bool
	// finished is set once the last step's write recorded the verdict
	// and cleared the marker (a solo rollout's last shift), so finish
	// has nothing left to write.
	finished bool
	// dirty is set when a lazily locked target's first write, carrying
	// traffic, failed without a refusal: it may have been applied in part,
	// so the rollback writes the stable traffic back (see repair).
	dirty         bool
	tried         provider.Traffic // the traffic that write asked for
	resumeStep    int              // step recorded by an interrupted rollout
	resumePercent int              // and its percentage
	prevID        string           // ID of the interrupted rollout's marker ("" when not resuming)
	started       time.Time
	shiftedAt     time.Time

	// planTraffic and planMarker are what Plan read: the first marker
	// write is conditioned on the plan's ETag and may only retry on a
	// fresh one while these still hold.
	planTraffic   provider.Traffic
	planMarker    string
	planHeartbeat time.Time

	// mu serializes the route writes of the steps and of the lease
	// renewer, and guards the fields below.
	mu       sync.Mutex
	etag     string             // the route's ETag after our last write (Plan's before the first)
	owner    string             // the marker ID a write expects on the route
	marker   *provider.Marker   // our marker as last written
	traffic  provider.Traffic   // the route's traffic as last read or written
	verdicts *provider.Verdicts // the route's verdicts as last read or written
	acquired bool               // our marker is on the route
	lost     bool               // our marker was replaced or cleared by someone else
}

func (rt *rolloutTarget) target() string { return rt.tp.Target }

// run is the rollout, in the order of its seams: preflight (refuse
// before any mutation), lock (markers with leases), publish (candidates,
// traffic untouched), plan the steps, the step loop (shift, bake, gates),
// and finish (verdicts, markers cleared). Any failure after the preflight
// rolls every target back (fail).
func (r *roller) run(ctx context.Context) error {
	if err := r.preflight(); err != nil {
		r.res.Outcome = OutcomeFailed
		r.failAll(err)
		return err
	}
	if r.opts.Revert {
		return r.revert(ctx)
	}
	r.selectTargets()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.startLeases(ctx, cancel)
	defer r.stopLeasesOnce()
	if err := r.lock(ctx); err != nil {
		return r.fail(ctx, err)
	}
	if err := r.publish(ctx); err != nil {
		return r.fail(ctx, err)
	}
	if len(r.targets) == 0 {
		r.res.Outcome = OutcomeUnchanged
		for _, tr := range r.res.Targets {
			if tr.Outcome != OutcomeUnchanged {
				r.res.Outcome = OutcomeSucceeded
			}
		}
		return nil
	}
	first := r.planSteps()
	if err := r.steps(ctx, first); err != nil {
		return r.fail(ctx, err)
	}
	return r.finish(ctx)
}

// preflight refuses, before any mutation: routes held by a rollout with a
// live lease (unless TakeOver), an interrupted rollout of another
// candidate, and a spec that is a revision recorded as failed (unless
// AllowFailedRevision).
func (r *roller) preflight() error {
	var errs []error
	for _, tp := range r.plan.Targets {
		if tp.refusesFailed() && !r.opts.AllowFailedRevision && !r.opts.Revert {
			errs = append(errs, targetErr(tp.Target, StepCheck, failedRevisionErr(tp, "Rollout")))
			continue
		}
		route := tp.route()
		if route == nil || route.Marker == nil {
			continue
		}
		m := route.Marker
		// A lease is judged when it was read (building the bundle may
		// take a while): a holder alive then still counts as alive.
		if leaseLive(m, tp.readAt) && !r.opts.TakeOver {
			errs = append(errs, targetErr(tp.Target, StepCheck, liveMarkerErr(tp.Target, tp.Route, m, "Rollout")))
			continue
		}
		if !r.opts.Revert && m.Candidate != "" && (tp.NewRevision || m.Candidate != tp.Revision) {
			errs = append(errs, targetErr(tp.Target, StepCheck, withHint(provider.FailedPrecondition, tp.Target, "Rollout",
				"re-run the spec that made that candidate to resume it, or roll out with Revert to revert it first",
				"route %s holds an interrupted rollout of another candidate: %s", tp.Route, markerInfo(m))))
		}
	}
	return joinErrors(errs...)
}

// selectTargets picks the targets whose route the rollout moves: those
// with changes or an interrupted rollout to resume, and those whose route
// (or function) it creates.
func (r *roller) selectTargets() {
	for i, tp := range r.plan.Targets {
		route := tp.route()
		rt := &rolloutTarget{tp: tp, res: r.res.Targets[i], started: time.Now().UTC(), owner: r.opts.ID}
		switch {
		case route == nil:
			rt.created = true
		case !tp.HasChanges() && route.Marker == nil:
			continue // already serving the spec
		default:
			rt.stable, rt.etag, rt.traffic, rt.verdicts = route.Traffic.Stable, route.ETag, route.Traffic, route.Verdicts
			rt.planTraffic = route.Traffic
			if m := route.Marker; m != nil {
				rt.stable, rt.prevID, rt.started, rt.planMarker, rt.planHeartbeat = m.Stable, m.ID, m.Started, m.ID, m.Heartbeat
				rt.resumeStep, rt.resumePercent, rt.cand = m.Step, m.Percent, m.Candidate
			} else if !tp.NewRevision {
				rt.cand = tp.Revision
			}
			rt.res.Stable = rt.stable
			if route.Traffic.Candidate != "" && route.Traffic.Candidate == rt.cand {
				rt.res.Percent = route.Traffic.CandidatePercent
			}
		}
		r.targets = append(r.targets, rt)
	}
	// A solo rollout moves one target's route with nothing run between its
	// writes. Its route writes are then the lock: the first one is
	// conditioned on the ETag Plan read (so it fails if anyone changed the
	// route since, and names them), and the last one moves the traffic,
	// records the verdict and clears the marker together. No marker is
	// written before publishing, since a concurrent rollout of the same
	// function fails at its own conditioned Apply or first route write,
	// and there is no other target for the two to split. A rollout with
	// gates, a bake interval or several targets holds the route from
	// before publishing to the end, as the package documentation says.
	r.solo = len(r.targets) == 1 && len(r.opts.Gates) == 0 && r.opts.Interval <= 0
}

// lazy reports whether rt is locked by its first step's write rather
// than before publishing: a solo rollout that is not resuming (a resumed
// rollout takes the interrupted one's marker over first) and whose route
// exists.
func (r *roller) lazy(rt *rolloutTarget) bool {
	return r.solo && !rt.created && rt.prevID == ""
}

// lock writes this rollout's marker (no candidate yet, unless resuming)
// on every existing route it moves (but a lazily locked one: see lazy),
// before anything is published, so that
// of two concurrent rollouts the loser fails naming the winner and
// changes nothing. The first target in a fixed order is locked alone
// first, so that of two rollouts of the same targets one gets every lock
// and the other none (rather than each a part, and both giving up).
func (r *roller) lock(ctx context.Context) error {
	var order []*rolloutTarget
	for _, rt := range r.targets {
		if !rt.created && !r.lazy(rt) {
			order = append(order, rt)
		}
	}
	if len(order) == 0 {
		return nil
	}
	slices.SortFunc(order, func(a, b *rolloutTarget) int { return strings.Compare(a.target(), b.target()) })
	if err := r.acquire(ctx, order[0]); err != nil {
		return err
	}
	return joinErrors(forEach(len(order)-1, r.opts.Concurrency, func(i int) error { return r.acquire(ctx, order[i+1]) })...)
}

// publish applies the spec to every target without moving traffic and
// records each candidate; a target whose function or route this rollout
// created is locked then.
func (r *roller) publish(ctx context.Context) error {
	aopts := &ApplyOptions{Concurrency: r.opts.Concurrency, Retry: r.opts.Retry, NoTraffic: true}
	applied := make([]*TargetResult, len(r.plan.Targets))
	errs := forEach(len(r.plan.Targets), r.opts.Concurrency, func(i int) (err error) {
		applied[i], err = applyTarget(ctx, r.plan.Targets[i], aopts, r.em, true)
		return targetErr(r.plan.Targets[i].Target, StepApply, err)
	})
	byPlan := map[*TargetPlan]*rolloutTarget{}
	for _, rt := range r.targets {
		byPlan[rt.tp] = rt
	}
	for i, tp := range r.plan.Targets {
		if rt := byPlan[tp]; rt != nil && applied[i] != nil && applied[i].Created {
			rt.fnCreated = true // if anything fails, the rollback deletes it
			rt.cand, rt.stable = applied[i].Revision, applied[i].Revision
		}
	}
	for i, e := range errs {
		if rt := byPlan[r.plan.Targets[i]]; e != nil && rt != nil && r.lazy(rt) && provider.Code(e) == provider.FailedPrecondition {
			errs[i] = r.whoChanged(ctx, rt, e)
		}
	}
	if err := joinErrors(errs...); err != nil {
		for i, e := range errs {
			if e == nil {
				r.res.Targets[i].Failure = "not rolled out: another target failed to apply"
			}
		}
		return err
	}
	for i, tp := range r.plan.Targets {
		tr := r.res.Targets[i]
		tr.Candidate = applied[i].Revision
		if rt := byPlan[tp]; rt != nil {
			rt.cand = applied[i].Revision
			if rt.created {
				tr.Stable, rt.stable = rt.cand, rt.cand
			}
			continue
		}
		tr.Stable, tr.Percent, tr.Outcome = tr.Candidate, 100, OutcomeUnchanged
		r.em.emit(Event{Kind: EventUnchanged, Target: tp.Target, Candidate: tr.Candidate, Message: "revision " + tr.Candidate + " serves route " + tp.Route})
	}
	var created []*rolloutTarget
	for _, rt := range r.targets {
		// A solo rollout that created the function needs no marker on its
		// route: Apply created it on the candidate with the function (so no
		// one else can have), and nothing runs before the rollout ends.
		if rt.created && !(r.solo && rt.fnCreated) {
			created = append(created, rt)
		}
	}
	return joinErrors(forEach(len(created), r.opts.Concurrency, func(i int) error { return r.lockCreated(ctx, created[i]) })...)
}

// whoChanged is the error for a lazily locked target whose conditioned
// Apply failed because the function changed since Plan: with no marker
// of its own written yet, it reads the route once to name the rollout
// that holds it, as a lock written before publishing would have.
func (r *roller) whoChanged(ctx context.Context, rt *rolloutTarget, err error) error {
	cur, rerr := r.readRoute(ctx, rt)
	if rerr != nil || cur.Marker == nil || cur.Marker.ID == r.opts.ID {
		return err
	}
	return targetErr(rt.target(), StepApply, markerErr(rt.target(), rt.tp.Route, cur.Marker, "Rollout"))
}

// lockCreated reads the route Apply created for rt and writes the marker
// on it, so a created target is held and rolled back like the others.
func (r *roller) lockCreated(ctx context.Context, rt *rolloutTarget) error {
	if !rt.tp.needsApply() {
		// No Apply ran (the function already held the spec), so none
		// created the route: create it on the candidate.
		if err := rt.tp.fn.SetTraffic(ctx, rt.tp.Route, provider.Traffic{Stable: rt.cand}, nil); err != nil {
			return targetErr(rt.target(), StepTraffic, err)
		}
	}
	route, err := r.readRoute(ctx, rt)
	if err != nil {
		return targetErr(rt.target(), StepMarker, err)
	}
	if route.Marker != nil {
		// Another rollout got to the route this one just created.
		return targetErr(rt.target(), StepMarker, markerErr(rt.target(), rt.tp.Route, route.Marker, "Rollout"))
	}
	rt.mu.Lock()
	rt.etag, rt.traffic, rt.verdicts, rt.planTraffic = route.ETag, route.Traffic, route.Verdicts, route.Traffic
	rt.mu.Unlock()
	return r.acquire(ctx, rt)
}

// planSteps fixes each target's percentages (degraded to 0% below 100
// where the target cannot split traffic) and returns the first step: 1,
// or the earliest step recorded by the interrupted rollouts resumed.
func (r *roller) planSteps() int {
	steps := len(r.opts.Strategy.Steps)
	first := steps
	for _, rt := range r.targets {
		for _, pct := range r.opts.Strategy.Steps {
			switch {
			case rt.created:
				pct = 100
			case pct > 0 && pct < 100 && !rt.tp.caps.WeightedTraffic:
				pct, rt.res.Degraded = 0, true
			}
			rt.percents = append(rt.percents, pct)
		}
		rt.res.Steps = rt.percents
		rt.resumeStep = min(max(rt.resumeStep, 1), len(rt.percents))
		if rt.prevID == "" {
			first = 1
		} else {
			first = min(first, rt.resumeStep)
		}
	}
	for _, rt := range r.targets {
		if rt.res.Degraded {
			r.em.emit(Event{Kind: EventDegraded, Target: rt.target(), Stable: rt.stable, Candidate: rt.cand,
				Message: fmt.Sprintf("%s cannot split traffic by percent: %s %v runs as blue/green %v (0%% until the last step, then 100%%)",
					rt.tp.caps.Provider, r.opts.Strategy.Name, r.opts.Strategy.Steps, rt.percents)})
		}
		if rt.prevID != "" {
			rt.res.ResumedAt = first
			r.em.emit(Event{Kind: EventResumed, Target: rt.target(), Step: first, Steps: steps, Percent: rt.percents[first-1],
				Stable: rt.stable, Candidate: rt.cand,
				Message: fmt.Sprintf("resuming interrupted rollout %s at step %d (it recorded step %d)", rt.prevID, first, rt.resumeStep)})
		}
	}
	return first
}

// steps runs the step loop from first: shift every target, bake, run the
// gates on every target; the first failure stops it.
func (r *roller) steps(ctx context.Context, first int) error {
	steps := len(r.opts.Strategy.Steps)
	for step := first; step <= steps; step++ {
		if ctx.Err() != nil {
			return interrupted(step, steps, context.Cause(ctx))
		}
		if err := joinErrors(forEach(len(r.targets), r.opts.Concurrency, func(i int) error { return r.shift(ctx, r.targets[i], step) })...); err != nil {
			return err
		}
		if err := r.bake(ctx, step); err != nil {
			return err
		}
		if err := joinErrors(forEach(len(r.targets), r.opts.Concurrency, func(i int) error { return r.gates(ctx, r.targets[i], step) })...); err != nil {
			return err
		}
	}
	return nil
}

// bake waits the bake interval after a step that gives a candidate
// traffic; the lease renewer keeps the lock meanwhile.
func (r *roller) bake(ctx context.Context, step int) error {
	steps := len(r.opts.Strategy.Steps)
	if r.opts.Interval <= 0 || r.maxPercent(step) == 0 {
		return nil
	}
	r.em.emit(Event{Kind: EventBaking, Step: step, Steps: steps, Percent: r.maxPercent(step),
		Message: fmt.Sprintf("baking for %s", r.opts.Interval)})
	t := time.NewTimer(r.opts.Interval)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return interrupted(step, steps, context.Cause(ctx))
	case <-t.C:
		return nil
	}
}

func interrupted(step, steps int, err error) error {
	var te *TargetError
	if errors.As(err, &te) {
		return err // the lock was lost on a target: that is the failure
	}
	return provider.Errorf(provider.Code(err), "deploy", "Rollout", "interrupted at step %d/%d: %w", step, steps, err)
}

func (r *roller) maxPercent(step int) int {
	m := 0
	for _, rt := range r.targets {
		m = max(m, rt.percents[step-1])
	}
	return m
}

// failAll records err as the failure of every target in the result.
func (r *roller) failAll(err error) {
	for _, tr := range r.res.Targets {
		if tr.Outcome == "" {
			tr.Outcome = OutcomeFailed
		}
	}
	for _, e := range flatten(err) {
		var te *TargetError
		if errors.As(e, &te) {
			for _, tr := range r.res.Targets {
				if tr.Target == te.Target {
					tr.Failure = r.plan.red.scrub(e.Error())
				}
			}
		}
	}
}

// flatten lists the errors a go-multierror aggregates, or err alone.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	var me interface{ WrappedErrors() []error }
	if errors.As(err, &me) {
		return me.WrappedErrors()
	}
	return []error{err}
}
