package deploy

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/updraft-dev/updraft/provider"
)

// ApplyOptions configure Apply and ApplyPlan. Nil means the defaults.
type ApplyOptions struct {
	// Concurrency bounds how many targets are worked on at once; 0 means 16.
	Concurrency int
	// Bundle configures the code build when Apply plans (ignored by ApplyPlan).
	Bundle *provider.BundleOptions
	// Retry says how calls failing with a transient code are retried.
	Retry RetryPolicy
	// NoTraffic publishes the new revision without moving the route's
	// traffic to it; a Rollout or a later Apply does that. A route that
	// does not exist yet is still created on the first revision.
	NoTraffic bool
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
//  1. check: refuse (FailedPrecondition, naming the holder) if a rollout
//     is in progress on the route;
//  2. apply: create or update code and configuration, publish a revision,
//     reconcile triggers and provisioned concurrency — conditioned on the
//     ETag Plan read, so a concurrent change fails with FailedPrecondition;
//  3. traffic: point the route at the revision (unless NoTraffic).
//
// A target whose plan has no changes is not called at all. The code built
// by Plan is uploaded as is, and not at all when its digest is live.
// Transient failures are retried (opts.Retry). Failures are aggregated in
// a go-multierror of *TargetError naming target and step; the result lists
// what was done on every target, including those that succeeded.
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
	errs := make([]error, len(p.Targets))
	forEach(len(p.Targets), opts.Concurrency, func(i int) {
		tp := p.Targets[i]
		r, err := applyTarget(ctx, tp, opts, em, false)
		res.Targets[i] = r
		if err != nil {
			errs[i] = err
			em.emit(Event{Kind: EventFailed, Target: tp.Target, Message: err.Error(), Err: err})
		}
	})
	return res, p.red.scrubErr(joinErrors(errs...))
}

// applyTarget runs one target's steps. With ignoreMarker a rollout marker
// on the route does not stop it (Rollout checks markers itself).
func applyTarget(ctx context.Context, tp *TargetPlan, opts *ApplyOptions, em *emitter, ignoreMarker bool) (*TargetResult, error) {
	res := &TargetResult{Target: tp.Target, Revision: tp.Revision}
	if !tp.HasChanges() {
		res.Unchanged = true
		em.emit(Event{Kind: EventUnchanged, Target: tp.Target, Message: "no changes; revision " + tp.Revision + " serves route " + tp.Route})
		return res, nil
	}
	if tp.Rollout != nil && !ignoreMarker {
		return res, markerHeld(tp.Target, tp.Route, tp.Rollout, "Apply")
	}
	fn := tp.fn
	if tp.needsApply() {
		etag := ""
		if tp.state != nil {
			etag = tp.state.ETag
		}
		want := tp.desired()
		err := opts.Retry.do(ctx, nil, func() error {
			ar, err := fn.ApplyBundle(ctx, tp.spec, tp.bundle, &provider.ApplyOptions{Publish: true, IfMatch: etag})
			if err == nil {
				res.Created, res.Changed, res.Published = ar.Created, ar.Changed, ar.Published
				res.UploadedBytes += ar.UploadedBytes
				if ar.Revision != nil {
					res.Revision = ar.Revision.ID
				}
				return nil
			}
			if transient(err) && tp.state != nil {
				// A failed step may have left earlier steps applied, which
				// changes the ETag. Retry on the new one only if what is
				// live is our own partial progress.
				st, gerr := fn.Get(ctx)
				if gerr != nil {
					return err
				}
				if !partialProgress(tp.state.Config, want, st.Config) {
					return final(withHint(provider.FailedPrecondition, tp.Target, "Apply",
						"plan again and review the changes, or wait for the other deployment",
						"the function changed during Apply by another writer (after a retryable failure: %v)", err))
				}
				etag = st.ETag
			}
			return err
		})
		if err != nil {
			return res, targetErr(tp.Target, StepApply, err)
		}
	}
	if res.Revision == "" {
		return res, targetErr(tp.Target, StepApply, provider.Errorf(provider.Internal, tp.Target, "Apply", "no revision was published"))
	}
	if !opts.NoTraffic {
		moved, err := pointRoute(ctx, tp, res.Revision, opts.Retry, ignoreMarker)
		if err != nil {
			return res, targetErr(tp.Target, StepTraffic, err)
		}
		res.TrafficMoved = moved
	}
	em.emit(Event{Kind: EventApplied, Target: tp.Target, Message: describeApply(res, tp.Route)})
	return res, nil
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

// partialProgress reports whether now is a mix of old and want: each of
// code and configuration is one or the other.
func partialProgress(old, want, now provider.Config) bool {
	code := now.CodeDigest == old.CodeDigest || now.CodeDigest == want.CodeDigest
	conf := len(configChanges(now, old)) == 0 || len(configChanges(now, want)) == 0
	return code && conf
}

// pointRoute makes the route serve rev alone, re-reading the route on
// every attempt and conditioning the change on its ETag.
func pointRoute(ctx context.Context, tp *TargetPlan, rev string, retry RetryPolicy, ignoreMarker bool) (bool, error) {
	moved := false
	err := retry.do(ctx, transientOrConflict, func() error {
		st, err := tp.fn.Get(ctx)
		if err != nil {
			return err
		}
		r := st.Routes[tp.Route]
		var cond *provider.ConditionOptions
		if r != nil {
			if r.Marker != nil && !ignoreMarker {
				return final(markerHeld(tp.Target, tp.Route, markerInfo(r.Marker), "Apply"))
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

// markerHeld is the error for a route held by a rollout.
func markerHeld(target, route string, m *MarkerInfo, op string) error {
	return withHint(provider.FailedPrecondition, target, op,
		"wait for it to finish; if its holder is gone, resume it with Rollout (TakeOver), revert it with Rollout (Revert), or use Rollback",
		"route %s is held by %s", route, m)
}
