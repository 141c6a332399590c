package deploy

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/updraft-dev/updraft/provider"
)

// ApplyOptions configure Apply and ApplyPlan. Nil means the defaults.
type ApplyOptions struct {
	// Concurrency bounds how many targets are worked on at once; 0 means 16.
	Concurrency int
	// Bundle configures the code build when Apply plans (ignored by ApplyPlan).
	Bundle *provider.BundleOptions
	// Retry bounds the re-reads of a route whose conditioned traffic
	// write failed on a stale ETag. Transient failures are retried by
	// the drivers, not here.
	Retry RetryPolicy
	// NoTraffic publishes the new revision without moving the route's
	// traffic to it; a Rollout or a later Apply does that. A route that
	// does not exist yet is still created on the first revision.
	NoTraffic bool
	// AllowFailedRevision lets Apply move traffic to a revision recorded
	// as failed by a rollout (see TargetPlan.FailedRevision). Without it
	// Apply refuses such a target with FailedPrecondition, before any
	// change to it.
	AllowFailedRevision bool
	// Logger receives progress records; nil means none.
	Logger *slog.Logger
	// OnEvent, when set, receives progress events, one call at a time.
	OnEvent func(Event)
}

// ApplyResult reports what Apply did, per target in the order given.
type ApplyResult struct {
	Targets []*TargetResult `json:"targets"`
}

// TargetResult reports what Apply did on one target.
type TargetResult struct {
	Target string `json:"target"`
	// Revision serves (or, with NoTraffic, is ready to serve) the route.
	Revision string `json:"revision,omitempty"`
	// Unchanged is true when the plan had no changes: nothing was called.
	Unchanged bool `json:"unchanged,omitempty"`
	Created   bool `json:"created,omitempty"`
	Changed   bool `json:"changed,omitempty"`
	Published bool `json:"published,omitempty"`
	// TrafficMoved is true when the route was pointed at Revision.
	TrafficMoved  bool  `json:"trafficMoved,omitempty"`
	UploadedBytes int64 `json:"uploadedBytes,omitempty"`
}

// Apply plans spec on every target and applies the plan: see Plan and
// ApplyPlan.
func Apply(ctx context.Context, fns []*provider.Function, spec *provider.Spec, opts *ApplyOptions) (*ApplyResult, error) {
	if opts == nil {
		opts = &ApplyOptions{}
	}
	p, err := Plan(ctx, fns, spec, &PlanOptions{Concurrency: opts.Concurrency, Bundle: opts.Bundle, Retry: opts.Retry, Logger: opts.Logger, OnEvent: opts.OnEvent})
	if err != nil {
		return nil, err
	}
	return ApplyPlan(ctx, p, opts)
}

// ApplyPlan makes each target match the plan's Spec, targets in parallel
// (bounded by opts.Concurrency), each in a fixed order of steps:
//
//  1. check: refuse (FailedPrecondition) if a rollout marker is on the
//     route, naming its holder, rollout id and lease (live or expired),
//     or if the plan's revision is recorded as failed (unless
//     AllowFailedRevision);
//  2. apply: create or update code and configuration, publish a revision,
//     reconcile triggers and provisioned concurrency — conditioned on the
//     ETag Plan read, so a concurrent change fails with
//     FailedPrecondition; a function Plan found absent is created with
//     IfNotExist, so a concurrent create fails with AlreadyExists;
//  3. traffic: point the route at the revision (unless NoTraffic), with a
//     write conditioned on the route's ETag.
//
// A target whose plan has no changes is not called at all. The code built
// by Plan is uploaded as is, and not at all when its digest is live.
// Failures are aggregated in a go-multierror of *TargetError naming
// target and step; the result lists what was done on every target,
// including those that succeeded.
func ApplyPlan(ctx context.Context, p *PlanResult, opts *ApplyOptions) (*ApplyResult, error) {
	if opts == nil {
		opts = &ApplyOptions{}
	}
	if p == nil {
		return nil, provider.Errorf(provider.InvalidArgument, "deploy", "Apply", "plan is nil")
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	em := newEmitter(opts.Logger, opts.OnEvent, p.red)
	res := &ApplyResult{Targets: make([]*TargetResult, len(p.Targets))}
	errs := forEach(len(p.Targets), opts.Concurrency, func(i int) error {
		tp := p.Targets[i]
		res.Targets[i] = &TargetResult{Target: tp.Target, Revision: tp.Revision}
		r, err := applyTarget(ctx, tp, opts, em, false)
		res.Targets[i] = r
		return err
	})
	for i, err := range errs {
		if err != nil {
			errs[i] = targetErr(p.Targets[i].Target, StepApply, err)
			em.emit(Event{Kind: EventFailed, Target: p.Targets[i].Target, Message: errs[i].Error(), Err: errs[i]})
		}
	}
	return res, p.red.scrubErr(joinErrors(errs...))
}

// applyTarget runs one target's steps. inRollout says Rollout runs it:
// Rollout checks markers and verdicts itself and holds the route.
func applyTarget(ctx context.Context, tp *TargetPlan, opts *ApplyOptions, em *emitter, inRollout bool) (*TargetResult, error) {
	res := &TargetResult{Target: tp.Target, Revision: tp.Revision}
	if !tp.HasChanges() {
		res.Unchanged = true
		em.emit(Event{Kind: EventUnchanged, Target: tp.Target, Message: "no changes; revision " + tp.Revision + " serves route " + tp.Route})
		return res, nil
	}
	if !inRollout {
		if r := tp.route(); r != nil && r.Marker != nil {
			return res, targetErr(tp.Target, StepCheck, markerErr(tp.Target, tp.Route, r.Marker, "Apply"))
		}
		if tp.refusesFailed() && !opts.NoTraffic && !opts.AllowFailedRevision {
			return res, targetErr(tp.Target, StepCheck, failedRevisionErr(tp, "Apply"))
		}
	}
	applied := tp.needsApply()
	if applied {
		if err := applyConfig(ctx, tp, res); err != nil {
			return res, targetErr(tp.Target, StepApply, err)
		}
	}
	if res.Revision == "" {
		return res, targetErr(tp.Target, StepApply, provider.Errorf(provider.Internal, tp.Target, "Apply", "no revision was published"))
	}
	if !opts.NoTraffic {
		moved, err := pointRoute(ctx, tp, res.Revision, applied, opts, inRollout)
		if err != nil {
			return res, targetErr(tp.Target, StepTraffic, err)
		}
		res.TrafficMoved = moved
	}
	em.emit(Event{Kind: EventApplied, Target: tp.Target, Message: describeApply(res, tp.Route)})
	return res, nil
}

// applyConfig applies code and configuration and publishes, conditioned
// on the ETag Plan read, or as a create only when Plan found no function.
func applyConfig(ctx context.Context, tp *TargetPlan, res *TargetResult) error {
	ao := &provider.ApplyOptions{Publish: true, IfNotExist: tp.state == nil}
	if tp.state != nil {
		ao.IfMatch = tp.state.ETag
	}
	ar, err := tp.fn.ApplyBundle(ctx, tp.spec, tp.bundle, ao)
	if err != nil {
		return err
	}
	res.Created, res.Changed, res.Published = ar.Created, ar.Changed, ar.Published
	res.UploadedBytes += ar.UploadedBytes
	if ar.Revision != nil {
		res.Revision = ar.Revision.ID
	}
	if tp.state == nil && !ar.Created {
		// A driver that does not implement IfNotExist yet updated a
		// function Plan read as absent.
		return withHint(provider.AlreadyExists, tp.Target, "Apply", "plan again: the plan was made from a read that did not see it",
			"the function exists, although Plan read it as absent (a NotFound read that was not true, or a concurrent create)")
	}
	return nil
}

func describeApply(r *TargetResult, route string) string {
	var parts []string
	switch {
	case r.Created:
		parts = append(parts, "created")
	case r.Changed:
		parts = append(parts, "updated")
	}
	if r.Published {
		parts = append(parts, "published revision "+r.Revision)
	}
	if r.UploadedBytes > 0 {
		parts = append(parts, fmt.Sprintf("uploaded %d bytes", r.UploadedBytes))
	}
	if r.TrafficMoved {
		parts = append(parts, fmt.Sprintf("route %s on revision %s", route, r.Revision))
	}
	if len(parts) == 0 {
		return "revision " + r.Revision + " ready"
	}
	return strings.Join(parts, ", ")
}

// pointRoute makes the route serve rev alone, in one write conditioned
// on the route's ETag as Plan read it: Plan's read is this write's, and
// Plan's checks (no marker, no failed revision) hold as long as that ETag
// does. The route of a function this Apply created (IfNotExist) was
// created with it on rev (a driver's Apply creates the Spec's route at
// 100% on the published revision), so it needs no write. Only a failed
// precondition, or a route Plan found absent on a function that existed
// (someone may have created it since), makes it read the route, check it
// afresh and retry.
func pointRoute(ctx context.Context, tp *TargetPlan, rev string, applied bool, opts *ApplyOptions, inRollout bool) (bool, error) {
	moved := false
	r := tp.route()
	if tp.state == nil && applied {
		return true, nil
	}
	first := r != nil
	err := opts.Retry.do(ctx, nil, func() error {
		if !first {
			st, err := tp.fn.Read(ctx, &provider.ReadOptions{Route: tp.Route})
			if err != nil {
				return final(err)
			}
			r = st.Routes[tp.Route]
		}
		first = false
		var cond *provider.ConditionOptions
		if r != nil {
			if r.Marker != nil && !inRollout {
				return final(markerErr(tp.Target, tp.Route, r.Marker, "Apply"))
			}
			if r.Verdicts.IsFailed(rev) && !opts.AllowFailedRevision && !inRollout {
				return final(withHint(provider.FailedPrecondition, tp.Target, "Apply",
					"fix the code or configuration and deploy again; to deploy this revision anyway set AllowFailedRevision",
					"revision %s failed a rollout on route %s", rev, tp.Route))
			}
			if r.Traffic == (provider.Traffic{Stable: rev}) {
				return nil
			}
			cond = &provider.ConditionOptions{IfMatch: r.ETag}
		}
		if err := tp.fn.SetTraffic(ctx, tp.Route, provider.Traffic{Stable: rev}, cond); err != nil {
			return err
		}
		moved = true
		return nil
	})
	return moved, err
}

// markerErr is the error for a route held by a rollout: one with a live
// lease, or an interrupted one whose holder is gone.
func markerErr(target, route string, m *provider.Marker, op string) error {
	if leaseLive(m, time.Now()) {
		return liveMarkerErr(target, route, m, op)
	}
	return markerHeld(target, route, markerInfo(m), op)
}

// markerHeld is the error for a route held by an interrupted rollout.
func markerHeld(target, route string, m *MarkerInfo, op string) error {
	return withHint(provider.FailedPrecondition, target, op,
		"resume it by running its Rollout again, revert it with Rollout (Revert), or use Rollback",
		"route %s is held by %s", route, m)
}
