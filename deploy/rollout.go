package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/updraft-dev/updraft/provider"
)

// Strategy says how traffic moves to the candidate: Steps are the
// candidate's share of traffic, in percent, at each step, ending at 100.
// Build one with AllAtOnce, BlueGreen, Canary or Linear.
type Strategy struct {
	// Name is for messages ("canary").
	Name string `json:"name"`
	// Steps are increasing percentages from 0 to 100; the last is 100. A
	// step of 0 deploys the candidate with no traffic, for gates that
	// invoke it directly (blue/green).
	Steps []int `json:"steps"`
	// Interval, when non-zero, is the bake time after each shift and
	// overrides RolloutOptions.Interval.
	Interval time.Duration `json:"interval,omitempty"`
}

// AllAtOnce moves all traffic to the candidate in one step, then runs the
// gates; a failure moves it back.
func AllAtOnce() Strategy { return Strategy{Name: "all-at-once", Steps: []int{100}} }

// BlueGreen deploys the candidate at 0%, runs the gates on it (InvokeGate
// invokes it directly), then swaps all traffic to it and runs the gates
// again.
func BlueGreen() Strategy { return Strategy{Name: "blue-green", Steps: []int{0, 100}} }

// Canary moves traffic through the given percentages, such as
// Canary(10, 50, 100); 100 is added if missing. With no arguments it is
// Canary(10, 50, 100). On a target without weighted traffic, every step
// below 100 runs at 0% (blue/green).
func Canary(percents ...int) Strategy {
	if len(percents) == 0 {
		percents = []int{10, 50, 100}
	}
	steps := slices.Clone(percents)
	if steps[len(steps)-1] != 100 {
		steps = append(steps, 100)
	}
	return Strategy{Name: "canary", Steps: steps}
}

// Linear moves step percent more traffic to the candidate every interval:
// Linear(25, time.Minute) is 25, 50, 75, 100 with a minute between.
func Linear(step int, interval time.Duration) Strategy {
	s := Strategy{Name: "linear", Interval: interval}
	if step <= 0 || step > 100 {
		s.Steps = []int{step} // rejected by validate
		return s
	}
	for p := step; p < 100; p += step {
		s.Steps = append(s.Steps, p)
	}
	s.Steps = append(s.Steps, 100)
	return s
}

func (s Strategy) validate() error {
	if len(s.Steps) == 0 {
		return errors.New("strategy has no steps")
	}
	prev := -1
	for _, p := range s.Steps {
		if p < 0 || p > 100 || p <= prev {
			return fmt.Errorf("strategy %s steps %v: use increasing percentages from 0 to 100", s.Name, s.Steps)
		}
		prev = p
	}
	if prev != 100 {
		return fmt.Errorf("strategy %s steps %v: the last step must be 100", s.Name, s.Steps)
	}
	return nil
}

// RolloutOptions configure Rollout. Nil means the defaults.
type RolloutOptions struct {
	// Strategy defaults to BlueGreen.
	Strategy Strategy
	// Interval is the bake time after each shift that gives the candidate
	// traffic, before the gates run. 0 means no wait.
	Interval time.Duration
	// Gates run on every target after each step; any failure rolls all
	// targets back.
	Gates []Gate
	// GateTimeout bounds one run of one gate; 0 means 5 minutes.
	GateTimeout time.Duration

	// ID names this rollout in the marker; "" means a generated id.
	ID string
	// Holder says who runs the rollout ("ci@runner-7"); "" means
	// $USER@hostname. A marker left by the same holder for the same
	// candidate is resumed; one left by another holder stops the rollout
	// with FailedPrecondition unless TakeOver is set.
	Holder string
	// TakeOver resumes (or, with Revert, reverts) a rollout held by another
	// holder. Use it only when that holder is known to be gone: a holder
	// still running stops at its next step, without touching traffic.
	TakeOver bool
	// Revert reverts the interrupted rollout recorded on the targets
	// (traffic back to its stable revision, marker cleared) instead of
	// rolling out the Spec. Nothing is applied.
	Revert bool
	// RollbackTimeout bounds the automatic rollback, which runs even after
	// ctx is cancelled and retries transient failures until it expires;
	// 0 means 5 minutes.
	RollbackTimeout time.Duration

	// Concurrency bounds how many targets are worked on at once; 0 means 16.
	Concurrency int
	// Bundle configures the code build.
	Bundle *provider.BundleOptions
	// Retry says how calls failing with a transient code are retried.
	Retry RetryPolicy
	// Logger receives progress records; nil means none.
	Logger *slog.Logger
	// OnEvent, when set, receives progress events, one call at a time.
	OnEvent func(Event)
}

// Outcome is how a rollout ended, overall or on one target.
type Outcome string

// The outcomes.
const (
	OutcomeSucceeded  Outcome = "succeeded"   // the candidate serves all traffic
	OutcomeCreated    Outcome = "created"     // the function was new: its first revision serves all traffic
	OutcomeUnchanged  Outcome = "unchanged"   // the candidate already served all traffic
	OutcomeRolledBack Outcome = "rolled-back" // a failure moved traffic back to the stable revision
	OutcomeReverted   Outcome = "reverted"    // Revert moved traffic back to the stable revision
	OutcomeFailed     Outcome = "failed"      // stopped by an error; see the error for traffic
)

// RolloutResult reports a rollout.
type RolloutResult struct {
	ID       string        `json:"id"`
	Holder   string        `json:"holder"`
	Strategy Strategy      `json:"strategy"`
	Outcome  Outcome       `json:"outcome"`
	Elapsed  time.Duration `json:"elapsed"`
	// Targets are in the order given.
	Targets []*TargetRollout `json:"targets"`
}

// TargetRollout reports a rollout on one target.
type TargetRollout struct {
	Target    string  `json:"target"`
	Route     string  `json:"route"`
	Outcome   Outcome `json:"outcome"`
	Stable    string  `json:"stable,omitempty"`
	Candidate string  `json:"candidate,omitempty"`
	// Percent is the candidate's share of traffic at the end.
	Percent int `json:"percent"`
	// Steps are the percentages this target went through; they differ from
	// the strategy's when Degraded.
	Steps []int `json:"steps,omitempty"`
	// Degraded is true when the target cannot split traffic by percent and
	// the canary ran as blue/green (0% then 100%).
	Degraded bool `json:"degraded,omitempty"`
	// ResumedAt is the step an interrupted rollout was resumed at (0: not resumed).
	ResumedAt int `json:"resumedAt,omitempty"`
	// Gates lists every gate run, in order.
	Gates []GateOutcome `json:"gates,omitempty"`
	// FailedGate names the gate that failed here, if one did.
	FailedGate string `json:"failedGate,omitempty"`
	// Failure says what failed on this target, if anything did.
	Failure string `json:"failure,omitempty"`
}

// GateOutcome is one run of one gate.
type GateOutcome struct {
	Gate    string        `json:"gate"`
	Step    int           `json:"step"`
	Percent int           `json:"percent"`
	Result  string        `json:"result"`
	Message string        `json:"message,omitempty"`
	Elapsed time.Duration `json:"elapsed"`
}

// Rollout applies spec to every target without moving traffic, then moves
// each route's traffic from its stable revision to the new candidate by
// opts.Strategy, in lockstep across targets, with a bake interval and the
// gates after each step. See the package documentation for markers,
// resume, revert and takeover.
//
// On a failed shift or gate, or when ctx is cancelled, every target is
// rolled back to its stable revision (even after cancellation, within
// RollbackTimeout) and Rollout returns the result with the error: a
// go-multierror of *TargetError and *GateError naming which target failed
// where, plus any rollback failure. If a rollback itself fails, its marker
// stays on the route, so the next Rollout resumes or reverts it.
func Rollout(ctx context.Context, fns []*provider.Function, spec *provider.Spec, opts *RolloutOptions) (*RolloutResult, error) {
	o := RolloutOptions{}
	if opts != nil {
		o = *opts
	}
	if len(o.Strategy.Steps) == 0 && o.Strategy.Name == "" {
		o.Strategy = BlueGreen()
	}
	if err := o.Strategy.validate(); err != nil {
		return nil, provider.Errorf(provider.InvalidArgument, "deploy", "Rollout", "%w", err)
	}
	for i, g := range o.Gates {
		if g.Name == "" || g.Check == nil {
			return nil, provider.Errorf(provider.InvalidArgument, "deploy", "Rollout", "gate %d needs a Name and a Check function", i)
		}
	}
	if o.GateTimeout <= 0 {
		o.GateTimeout = 5 * time.Minute
	}
	if o.RollbackTimeout <= 0 {
		o.RollbackTimeout = 5 * time.Minute
	}
	if o.Strategy.Interval > 0 {
		o.Interval = o.Strategy.Interval
	}
	if o.ID == "" {
		o.ID = newRolloutID()
	}
	if o.Holder == "" {
		o.Holder = defaultHolder()
	}
	if strings.ContainsAny(o.ID+o.Holder, "\r\n") {
		return nil, provider.Errorf(provider.InvalidArgument, "deploy", "Rollout", "rollout ID and Holder must be one line each")
	}
	if err := checkTargets(fns, spec, "Rollout"); err != nil {
		return nil, err
	}
	p, err := Plan(ctx, fns, spec, &PlanOptions{Concurrency: o.Concurrency, Bundle: o.Bundle, Retry: o.Retry, Logger: o.Logger, OnEvent: o.OnEvent})
	if err != nil {
		return nil, err
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	r := &roller{o: &o, p: p, em: newEmitter(o.Logger, o.OnEvent, p.red)}
	r.em.rollout = o.ID
	r.res = &RolloutResult{ID: o.ID, Holder: o.Holder, Strategy: o.Strategy, Targets: make([]*TargetRollout, len(p.Targets))}
	for i, tp := range p.Targets {
		r.res.Targets[i] = &TargetRollout{Target: tp.Target, Route: tp.Route}
	}
	err = r.run(ctx)
	r.res.Elapsed = time.Since(r.em.start)
	return r.res, p.red.scrubErr(err)
}

func newRolloutID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "r-" + time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

func defaultHolder() string {
	user := os.Getenv("USER")
	if user == "" {
		user = os.Getenv("USERNAME")
	}
	if user == "" {
		user = "updraft"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return user + "@" + host
}

// roller runs one rollout.
type roller struct {
	o   *RolloutOptions
	p   *PlanResult
	em  *emitter
	res *RolloutResult
	rts []*rolloutTarget
}

// rolloutTarget is one target's rollout state.
type rolloutTarget struct {
	tp            *TargetPlan
	res           *TargetRollout
	stable        string
	cand          string
	percents      []int
	resumeStep    int    // step recorded by an interrupted rollout
	resumePercent int    // and its percentage
	prevID        string // ID of the interrupted rollout's marker ("" when not resuming)
	started       time.Time
	planETag      string // the route's ETag when planned: the first marker write is conditioned on it
	acquired      bool   // our marker is on the route
	moved         bool   // this run moved the route's traffic
	lost          bool   // our marker was replaced or cleared by someone else
	shiftedAt     time.Time
}

func (rt *rolloutTarget) target() string { return rt.tp.Target }

func (r *roller) run(ctx context.Context) error {
	// Preflight, before any mutation: markers held by others, or by an
	// interrupted rollout of another candidate.
	var errs []error
	for _, tp := range r.p.Targets {
		m := tp.Rollout
		if m == nil {
			continue
		}
		if m.Holder != r.o.Holder && !r.o.TakeOver {
			errs = append(errs, &TargetError{Target: tp.Target, Step: StepCheck, Err: markerHeld(tp.Target, tp.Route, m, "Rollout")})
			continue
		}
		if !r.o.Revert && m.Candidate != "" && (tp.NewRevision || m.Candidate != tp.Revision) {
			errs = append(errs, &TargetError{Target: tp.Target, Step: StepCheck, Err: withHint(provider.FailedPrecondition, tp.Target, "Rollout",
				"re-run the spec that made that candidate to resume it, or roll out with Revert to revert it first",
				"route %s holds an interrupted rollout of another candidate: %s", tp.Route, m)})
		}
	}
	if err := joinErrors(errs...); err != nil {
		r.res.Outcome = OutcomeFailed
		r.failAll(err)
		return err
	}
	if r.o.Revert {
		return r.revert(ctx)
	}

	// Classify the targets and lock the routes that will change with a
	// marker (no candidate yet), before anything is published, so that of
	// two concurrent rollouts the loser fails naming the winner and
	// changes nothing.
	byTarget := map[*TargetPlan]*rolloutTarget{}
	for i, tp := range r.p.Targets {
		route := tp.route()
		if route == nil || (!tp.HasChanges() && route.Marker == nil) {
			continue // created by Apply, or already serving the spec
		}
		rt := &rolloutTarget{tp: tp, res: r.res.Targets[i], stable: route.Traffic.Stable, started: time.Now().UTC(), planETag: route.ETag}
		if m := route.Marker; m != nil {
			rt.stable, rt.prevID, rt.started = m.Stable, m.ID, m.Started
			rt.resumeStep, rt.resumePercent, rt.cand = m.Step, m.Percent, m.Candidate
		} else if !tp.NewRevision {
			rt.cand = tp.Revision
		}
		rt.res.Stable = rt.stable
		rt.res.Percent = route.Traffic.CandidatePercent
		if route.Traffic.Candidate == "" || route.Traffic.Candidate != rt.cand {
			rt.res.Percent = 0
		}
		r.rts = append(r.rts, rt)
		byTarget[tp] = rt
	}
	// The first target in a fixed order is locked alone first, so that of
	// two rollouts of the same targets one gets every lock and the other
	// none (rather than each a part, and both giving up).
	lock := func(rt *rolloutTarget) error {
		want := &provider.Marker{ID: r.o.ID, Holder: r.o.Holder, Stable: rt.stable, Candidate: rt.cand,
			Step: rt.resumeStep, Percent: rt.resumePercent, Started: rt.started}
		if _, err := r.acquire(ctx, rt, want); err != nil {
			return err
		}
		if rt.prevID == "" {
			r.em.emit(Event{Kind: EventStarted, Target: rt.target(), Stable: rt.stable,
				Message: fmt.Sprintf("rollout on route %s from revision %s by %s", rt.tp.Route, rt.stable, r.o.Holder)})
		}
		return nil
	}
	if len(r.rts) > 0 {
		order := slices.Clone(r.rts)
		slices.SortFunc(order, func(a, b *rolloutTarget) int { return strings.Compare(a.target(), b.target()) })
		if err := lock(order[0]); err != nil {
			return r.fail(ctx, err)
		}
		errs = make([]error, len(order)-1)
		forEach(len(order)-1, r.o.Concurrency, func(i int) { errs[i] = lock(order[i+1]) })
		if err := joinErrors(errs...); err != nil {
			return r.fail(ctx, err)
		}
	}

	// Publish the candidates, traffic untouched.
	aopts := &ApplyOptions{Concurrency: r.o.Concurrency, Retry: r.o.Retry, NoTraffic: true}
	applied := make([]*TargetResult, len(r.p.Targets))
	errs = make([]error, len(r.p.Targets))
	forEach(len(r.p.Targets), r.o.Concurrency, func(i int) {
		applied[i], errs[i] = applyTarget(ctx, r.p.Targets[i], aopts, r.em, true)
	})
	if err := joinErrors(errs...); err != nil {
		for i, e := range errs {
			if e == nil {
				r.res.Targets[i].Failure = "not rolled out: another target failed to apply"
			}
		}
		return r.fail(ctx, err)
	}
	for i, tp := range r.p.Targets {
		tr := r.res.Targets[i]
		cand := applied[i].Revision
		tr.Candidate = cand
		rt := byTarget[tp]
		if rt == nil {
			tr.Stable, tr.Percent = cand, 100
			tr.Outcome = OutcomeUnchanged
			if tp.route() == nil {
				tr.Outcome = OutcomeCreated
			}
			r.em.emit(Event{Kind: EventUnchanged, Target: tp.Target, Candidate: cand, Message: "revision " + cand + " serves route " + tp.Route})
			continue
		}
		rt.cand = cand
		for _, pct := range r.o.Strategy.Steps {
			if pct > 0 && pct < 100 && !tp.caps.WeightedTraffic {
				pct, rt.res.Degraded = 0, true
			}
			rt.percents = append(rt.percents, pct)
		}
		tr.Steps = rt.percents
		rt.resumeStep = min(max(rt.resumeStep, 1), len(rt.percents))
	}
	if len(r.rts) == 0 {
		r.res.Outcome = OutcomeUnchanged
		for _, tr := range r.res.Targets {
			if tr.Outcome != OutcomeUnchanged {
				r.res.Outcome = OutcomeSucceeded
			}
		}
		return nil
	}

	steps := len(r.o.Strategy.Steps)
	first := steps
	for _, rt := range r.rts {
		if rt.prevID == "" {
			first = 1
			continue
		}
		first = min(first, rt.resumeStep)
	}
	for _, rt := range r.rts {
		if rt.res.Degraded {
			r.em.emit(Event{Kind: EventDegraded, Target: rt.target(), Stable: rt.stable, Candidate: rt.cand,
				Message: fmt.Sprintf("%s cannot split traffic by percent: %s %v runs as blue/green %v (0%% until the last step, then 100%%)",
					rt.tp.caps.Provider, r.o.Strategy.Name, r.o.Strategy.Steps, rt.percents)})
		}
		if rt.prevID != "" {
			rt.res.ResumedAt = first
			r.em.emit(Event{Kind: EventResumed, Target: rt.target(), Step: first, Steps: steps, Percent: rt.percents[first-1],
				Stable: rt.stable, Candidate: rt.cand,
				Message: fmt.Sprintf("resuming interrupted rollout %s at step %d (it recorded step %d)", rt.prevID, first, rt.resumeStep)})
		}
	}

	for step := first; step <= steps; step++ {
		if err := ctx.Err(); err != nil {
			return r.fail(ctx, interrupted(step, steps, err))
		}
		errs := make([]error, len(r.rts))
		forEach(len(r.rts), r.o.Concurrency, func(i int) { errs[i] = r.shift(ctx, r.rts[i], step) })
		if err := joinErrors(errs...); err != nil {
			return r.fail(ctx, err)
		}
		if r.o.Interval > 0 && r.maxPercent(step) > 0 {
			r.em.emit(Event{Kind: EventBaking, Step: step, Steps: steps, Percent: r.maxPercent(step),
				Message: fmt.Sprintf("baking for %s", r.o.Interval)})
			t := time.NewTimer(r.o.Interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return r.fail(ctx, interrupted(step, steps, ctx.Err()))
			case <-t.C:
			}
		}
		forEach(len(r.rts), r.o.Concurrency, func(i int) { errs[i] = r.gates(ctx, r.rts[i], step) })
		if err := joinErrors(errs...); err != nil {
			return r.fail(ctx, err)
		}
	}

	// Done: clear the markers.
	errs = make([]error, len(r.rts))
	forEach(len(r.rts), r.o.Concurrency, func(i int) {
		rt := r.rts[i]
		if err := r.clearMarker(ctx, rt); err != nil {
			errs[i] = targetErr(rt.target(), StepMarker, withHint(provider.Code(err), rt.target(), "Rollout",
				"the candidate serves all traffic; run the same Rollout again to clear the marker", "%w", err))
			rt.res.Failure = errs[i].Error()
			return
		}
		rt.res.Outcome, rt.res.Percent = OutcomeSucceeded, 100
		r.em.emit(Event{Kind: EventPromoted, Target: rt.target(), Step: steps, Steps: steps, Percent: 100, Stable: rt.stable, Candidate: rt.cand,
			Message: fmt.Sprintf("revision %s serves all traffic on route %s", rt.cand, rt.tp.Route)})
	})
	if err := joinErrors(errs...); err != nil {
		r.res.Outcome = OutcomeFailed
		return err
	}
	r.res.Outcome = OutcomeSucceeded
	return nil
}

func interrupted(step, steps int, err error) error {
	return provider.Errorf(provider.Code(err), "deploy", "Rollout", "interrupted at step %d/%d: %w", step, steps, err)
}

func (r *roller) maxPercent(step int) int {
	m := 0
	for _, rt := range r.rts {
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
	var me interface{ WrappedErrors() []error }
	if errors.As(err, &me) {
		for _, e := range me.WrappedErrors() {
			var te *TargetError
			if errors.As(e, &te) {
				for _, tr := range r.res.Targets {
					if tr.Target == te.Target {
						tr.Failure = r.p.red.scrub(e.Error())
					}
				}
			}
		}
	}
}

// owns reports whether m is this rollout's marker on rt, or the marker of
// the interrupted rollout it resumes.
func (r *roller) owns(rt *rolloutTarget, m *provider.Marker) bool {
	return m != nil && (m.ID == r.o.ID || (rt.prevID != "" && m.ID == rt.prevID))
}

// acquire writes want as rt's marker on the route, conditioned on the
// route's ETag, after checking that the route is not held by another
// rollout, and returns the route as read before the write.
func (r *roller) acquire(ctx context.Context, rt *rolloutTarget, want *provider.Marker) (*provider.Route, error) {
	fn, routeName := rt.tp.fn, rt.tp.Route
	var route *provider.Route
	err := r.o.Retry.do(ctx, transientOrConflict, func() error {
		st, err := fn.Get(ctx)
		if err != nil {
			return err
		}
		route = st.Routes[routeName]
		if route == nil {
			return final(provider.Errorf(provider.NotFound, rt.target(), "Rollout", "route %s was deleted during the rollout", routeName))
		}
		m := route.Marker
		switch {
		case !rt.acquired && route.ETag != rt.planETag && (m == nil || r.owns(rt, m)):
			return final(withHint(provider.FailedPrecondition, rt.target(), "Rollout",
				"another deployment changed it; run the Rollout again to plan from what is live",
				"route %s changed since it was planned (it now serves %s)", routeName, describeTraffic(route.Traffic)))
		case rt.acquired && (m == nil || m.ID != r.o.ID):
			rt.lost = true
			holder := "a Rollback or another tool (the marker was cleared)"
			if m != nil {
				holder = fmt.Sprintf("rollout %s by %s", m.ID, m.Holder)
			}
			return final(withHint(provider.FailedPrecondition, rt.target(), "Rollout",
				"this rollout stops without touching traffic; the new holder owns the route",
				"route %s was taken over by %s", routeName, holder))
		case !rt.acquired && m != nil && !r.owns(rt, m):
			if m.Holder != r.o.Holder && !r.o.TakeOver {
				return final(markerHeld(rt.target(), routeName, markerInfo(m), "Rollout"))
			}
			return final(withHint(provider.FailedPrecondition, rt.target(), "Rollout",
				"run the Rollout again to resume or refuse it with fresh state",
				"route %s was claimed by another rollout after planning: %s", routeName, markerInfo(m)))
		}
		if m != nil && sameMarker(m, want) {
			rt.acquired = true
			return nil
		}
		if err := fn.SetMarker(ctx, routeName, want, &provider.ConditionOptions{IfMatch: route.ETag}); err != nil {
			return err
		}
		rt.acquired = true
		return nil
	})
	if err != nil {
		return nil, targetErr(rt.target(), StepMarker, err)
	}
	return route, nil
}

// shift records step in the marker and then moves the route's traffic to
// the step's percentage.
func (r *roller) shift(ctx context.Context, rt *rolloutTarget, step int) error {
	pct := rt.percents[step-1]
	want := &provider.Marker{ID: r.o.ID, Holder: r.o.Holder, Stable: rt.stable, Candidate: rt.cand, Step: step, Percent: pct, Started: rt.started}
	route, err := r.acquire(ctx, rt, want)
	if err != nil {
		return err
	}
	tr := provider.Traffic{Stable: rt.stable}
	switch {
	case pct == 100 || rt.stable == rt.cand:
		tr = provider.Traffic{Stable: rt.cand}
	case pct > 0:
		tr = provider.Traffic{Stable: rt.stable, Candidate: rt.cand, CandidatePercent: pct}
	}
	if route.Traffic != tr {
		rt.moved = true
		err := r.o.Retry.do(ctx, nil, func() error { return rt.tp.fn.SetTraffic(ctx, rt.tp.Route, tr, nil) })
		if err != nil {
			return targetErr(rt.target(), StepTraffic, err)
		}
	}
	rt.res.Percent = pct
	rt.shiftedAt = time.Now()
	r.em.emit(Event{Kind: EventShifted, Target: rt.target(), Step: step, Steps: len(rt.percents), Percent: pct, Stable: rt.stable, Candidate: rt.cand,
		Message: fmt.Sprintf("revision %s at %d%%, %s at %d%%", rt.cand, pct, rt.stable, 100-pct)})
	return nil
}

func sameMarker(a, b *provider.Marker) bool {
	return a.ID == b.ID && a.Holder == b.Holder && a.Stable == b.Stable && a.Candidate == b.Candidate &&
		a.Step == b.Step && a.Percent == b.Percent && a.Started.Equal(b.Started)
}

// gates runs every gate on rt at step, stopping at the first failure.
func (r *roller) gates(ctx context.Context, rt *rolloutTarget, step int) error {
	steps := len(rt.percents)
	pct := rt.percents[step-1]
	in := &GateInput{Function: rt.tp.fn, Target: rt.target(), Route: rt.tp.Route, Stable: rt.stable, Candidate: rt.cand,
		Step: step, Steps: steps, Percent: pct, Since: rt.shiftedAt}
	for _, g := range r.o.Gates {
		start := time.Now()
		result, err := runGate(ctx, g, in, r.o.GateTimeout)
		out := GateOutcome{Gate: g.Name, Step: step, Percent: pct, Result: result, Elapsed: time.Since(start)}
		var skip *SkipError
		switch {
		case errors.As(err, &skip):
			out.Message = r.p.red.scrub(skip.Reason)
		case err != nil:
			out.Message = r.p.red.scrub(err.Error())
		}
		rt.res.Gates = append(rt.res.Gates, out)
		r.em.emit(Event{Kind: EventGate, Target: rt.target(), Step: step, Steps: steps, Percent: pct, Stable: rt.stable, Candidate: rt.cand,
			Gate: g.Name, GateResult: result, Message: out.Message, Err: err})
		if result != GateFailed {
			continue
		}
		if ctx.Err() != nil {
			return interrupted(step, steps, ctx.Err())
		}
		rt.res.FailedGate = g.Name
		return &GateError{Target: rt.target(), Gate: g.Name, Step: step, Steps: steps, Percent: pct, Candidate: rt.cand, Stable: rt.stable, Err: err}
	}
	return nil
}

// fail rolls every target back to its stable revision and returns cause
// with any rollback failures.
func (r *roller) fail(ctx context.Context, cause error) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.o.RollbackTimeout)
	defer cancel()
	failures := map[string]string{}
	var me interface{ WrappedErrors() []error }
	all := []error{cause}
	if errors.As(cause, &me) {
		all = me.WrappedErrors()
	}
	for _, e := range all {
		var te *TargetError
		var ge *GateError
		switch {
		case errors.As(e, &ge):
			failures[ge.Target] = r.p.red.scrub(e.Error())
		case errors.As(e, &te):
			failures[te.Target] = r.p.red.scrub(e.Error())
		}
	}
	errs := make([]error, len(r.rts))
	forEach(len(r.rts), r.o.Concurrency, func(i int) {
		rt := r.rts[i]
		if f, ok := failures[rt.target()]; ok {
			rt.res.Failure = f
		}
		if rt.lost {
			rt.res.Outcome = OutcomeFailed
			return
		}
		touched, err := r.rollback(rctx, rt, rt.stable)
		switch {
		case err != nil:
			rt.res.Outcome = OutcomeFailed
			errs[i] = targetErr(rt.target(), StepRollback, withHint(provider.Code(err), rt.target(), "Rollout",
				"traffic may still reach the candidate; run the same Rollout with Revert to move it back",
				"rolling back to revision %s: %w", rt.stable, err))
		case touched || rt.acquired:
			rt.res.Outcome, rt.res.Percent = OutcomeRolledBack, 0
			r.em.emit(Event{Kind: EventRollback, Target: rt.target(), Stable: rt.stable, Candidate: rt.cand,
				Message: fmt.Sprintf("traffic back on revision %s; candidate %s has none", rt.stable, rt.cand)})
		default:
			rt.res.Outcome, rt.res.Percent = OutcomeRolledBack, 0
		}
	})
	r.res.Outcome = OutcomeRolledBack
	if len(r.rts) == 0 {
		r.res.Outcome = OutcomeFailed
	}
	for _, rt := range r.rts {
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
	all = append(all, errs...)
	return joinErrors(all...)
}

// rollback points rt's route at stable and clears the marker, if the
// marker is this rollout's (or the one it resumed). It reports whether it
// found anything to undo.
func (r *roller) rollback(ctx context.Context, rt *rolloutTarget, stable string) (bool, error) {
	fn, routeName := rt.tp.fn, rt.tp.Route
	touched := false
	// Getting traffic back matters more than giving up early: retry until
	// ctx (bounded by RollbackTimeout) ends.
	persistent := RetryPolicy{Attempts: 1000, Backoff: r.o.Retry.norm().Backoff}
	err := persistent.do(ctx, transientOrConflict, func() error {
		st, err := fn.Get(ctx)
		if err != nil {
			return err
		}
		route := st.Routes[routeName]
		if route == nil {
			return nil
		}
		if !r.owns(rt, route.Marker) {
			if route.Marker != nil && rt.acquired {
				rt.lost = true
			}
			return nil // never ours, or taken over: not ours to touch
		}
		touched = true
		want := provider.Traffic{Stable: stable}
		if route.Traffic != want && (rt.moved || rt.prevID != "") {
			if err := fn.SetTraffic(ctx, routeName, want, &provider.ConditionOptions{IfMatch: route.ETag}); err != nil {
				return err
			}
			st, err = fn.Get(ctx)
			if err != nil {
				return err
			}
			route = st.Routes[routeName]
			if route == nil || !r.owns(rt, route.Marker) {
				return nil
			}
		}
		return fn.SetMarker(ctx, routeName, nil, &provider.ConditionOptions{IfMatch: route.ETag})
	})
	return touched, err
}

// clearMarker removes rt's marker if it is still this rollout's.
func (r *roller) clearMarker(ctx context.Context, rt *rolloutTarget) error {
	fn, routeName := rt.tp.fn, rt.tp.Route
	return r.o.Retry.do(ctx, transientOrConflict, func() error {
		st, err := fn.Get(ctx)
		if err != nil {
			return err
		}
		route := st.Routes[routeName]
		if route == nil || route.Marker == nil {
			return nil
		}
		if !r.owns(rt, route.Marker) {
			rt.lost = true
			return final(withHint(provider.FailedPrecondition, rt.target(), "Rollout", "the new holder owns the route",
				"route %s was taken over by %s", routeName, markerInfo(route.Marker)))
		}
		return fn.SetMarker(ctx, routeName, nil, &provider.ConditionOptions{IfMatch: route.ETag})
	})
}

// revert moves every route holding a marker back to its recorded stable
// revision and clears the marker.
func (r *roller) revert(ctx context.Context) error {
	errs := make([]error, len(r.p.Targets))
	var mu sync.Mutex
	reverted := 0
	forEach(len(r.p.Targets), r.o.Concurrency, func(i int) {
		tp, tr := r.p.Targets[i], r.res.Targets[i]
		m := tp.Rollout
		if m == nil {
			tr.Outcome = OutcomeUnchanged
			tr.Stable = tp.Live
			r.em.emit(Event{Kind: EventUnchanged, Target: tp.Target, Message: "no rollout to revert on route " + tp.Route})
			return
		}
		tr.Stable, tr.Candidate = m.Stable, m.Candidate
		rt := &rolloutTarget{tp: tp, res: tr, stable: m.Stable, cand: m.Candidate, prevID: m.ID}
		if _, err := r.rollback(ctx, rt, m.Stable); err != nil {
			errs[i] = targetErr(tp.Target, StepRollback, err)
			tr.Outcome, tr.Failure = OutcomeFailed, r.p.red.scrub(errs[i].Error())
			return
		}
		tr.Outcome, tr.Percent = OutcomeReverted, 0
		mu.Lock()
		reverted++
		mu.Unlock()
		r.em.emit(Event{Kind: EventReverted, Target: tp.Target, Stable: m.Stable, Candidate: m.Candidate,
			Message: fmt.Sprintf("reverted rollout %s by %s: revision %s serves route %s", m.ID, m.Holder, m.Stable, tp.Route)})
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
