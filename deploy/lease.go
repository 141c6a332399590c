package deploy

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/updraft-dev/updraft/provider"
)

// markerAt is this rollout's marker on rt at step and percent, with a
// fresh heartbeat.
func (r *roller) markerAt(rt *rolloutTarget, step, pct int) *provider.Marker {
	return &provider.Marker{ID: r.opts.ID, Holder: r.opts.Holder, Stable: rt.stable, Candidate: rt.cand, Step: step, Percent: pct,
		Started: rt.started, Heartbeat: time.Now().UTC(), Lease: r.opts.Lease}
}

// readRoute reads rt's route (only the route). Mid-rollout a function
// or route that is gone is an error, never a route to create.
func (r *roller) readRoute(ctx context.Context, rt *rolloutTarget) (*provider.Route, error) {
	st, err := rt.tp.fn.Read(ctx, &provider.ReadOptions{Route: rt.tp.Route})
	if err != nil {
		return nil, err
	}
	route := st.Routes[rt.tp.Route]
	if route == nil {
		return nil, withHint(provider.NotFound, rt.target(), "Rollout", "another tool deleted it; run the Rollout again to plan from what is live",
			"route %s was deleted during the rollout", rt.tp.Route)
	}
	return route, nil
}

// acquire writes this rollout's marker on rt's route, conditioned on the
// ETag Plan read (or, for a route this rollout created, read after the
// create): see claim.
func (r *roller) acquire(ctx context.Context, rt *rolloutTarget) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	want := r.markerAt(rt, rt.resumeStep, rt.resumePercent)
	err := r.claim(ctx, rt, func() *provider.RouteUpdate { return &provider.RouteUpdate{Marker: want} }, r.ours)
	if err != nil {
		return targetErr(rt.target(), StepMarker, err)
	}
	r.hold(rt, want)
	return nil
}

// ours reports whether cur holds this rollout's marker.
func (r *roller) ours(cur *provider.Route) bool {
	return cur.Marker != nil && cur.Marker.ID == r.opts.ID
}

// hold records that rt's route holds this rollout's marker m.
func (r *roller) hold(rt *rolloutTarget, m *provider.Marker) {
	rt.acquired, rt.marker, rt.owner = true, m, r.opts.ID
	if rt.prevID == "" {
		r.em.emit(Event{Kind: EventStarted, Target: rt.target(), Stable: rt.stable,
			Message: fmt.Sprintf("rollout on route %s from revision %s by %s, lease %s", rt.tp.Route, cmpNone(rt.stable), r.opts.Holder, r.opts.Lease)})
	}
}

// claim makes the first write of this rollout on rt's route: build's
// update, conditioned on the ETag Plan read. A stale ETag is re-read: if
// our write landed (its answer was lost) it is done; if the route still
// holds the traffic and marker Plan saw, only its ETag moved and the
// write is retried; otherwise the error names whoever changed it. The
// caller holds rt.mu.
func (r *roller) claim(ctx context.Context, rt *rolloutTarget, build func() *provider.RouteUpdate, landed func(*provider.Route) bool) error {
	return r.opts.Retry.do(ctx, nil, func() error {
		route, err := rt.tp.fn.UpdateRoute(ctx, rt.tp.Route, build(), &provider.ConditionOptions{IfMatch: rt.etag})
		if err == nil {
			rt.etag, rt.traffic, rt.verdicts = route.ETag, route.Traffic, route.Verdicts
			return nil
		}
		if !conflict(err) {
			return final(err)
		}
		cur, rerr := r.readRoute(ctx, rt)
		if rerr != nil {
			return final(rerr)
		}
		m := cur.Marker
		switch {
		case landed(cur): // our write landed; its answer was lost
			rt.etag, rt.traffic, rt.verdicts = cur.ETag, cur.Traffic, cur.Verdicts
			return nil
		case m != nil && m.ID == rt.planMarker && !m.Heartbeat.Equal(rt.planHeartbeat) && !r.opts.TakeOver:
			// The rollout Plan found expired renewed its lease since: its
			// holder is alive.
			return final(liveMarkerErr(rt.target(), rt.tp.Route, m, "Rollout"))
		case m != nil && m.ID != rt.planMarker && leaseLive(m, time.Now()):
			return final(liveMarkerErr(rt.target(), rt.tp.Route, m, "Rollout"))
		case m != nil && m.ID != rt.planMarker:
			return final(withHint(provider.FailedPrecondition, rt.target(), "Rollout",
				"run the Rollout again to resume or refuse it with fresh state",
				"route %s was claimed by another rollout after planning: %s", rt.tp.Route, markerInfo(m)))
		case m == nil && rt.planMarker != "", cur.Traffic != rt.planTraffic:
			return final(withHint(provider.FailedPrecondition, rt.target(), "Rollout",
				"another deployment changed it; run the Rollout again to plan from what is live",
				"route %s changed since it was planned (it now serves %s)", rt.tp.Route, describeTraffic(cur.Traffic)))
		}
		rt.etag, rt.traffic, rt.verdicts = cur.ETag, cur.Traffic, cur.Verdicts
		return err
	})
}

func cmpNone(s string) string {
	if s == "" {
		return "none (new)"
	}
	return s
}

// write applies build's update to rt's route in one write conditioned on
// the ETag of our last write, and chains the ETag it returns. A stale
// ETag is re-read: while the route still holds the marker rt expects
// (rt.owner), the change was ours (a write whose answer was lost) or a
// refresh, and the write is retried on the fresh ETag; otherwise the lock
// is lost and write fails without writing. The caller holds rt.mu.
func (r *roller) write(ctx context.Context, rt *rolloutTarget, build func() *provider.RouteUpdate) error {
	return r.writeOr(ctx, rt, build, nil)
}

// writeOr is write for an update that may clear our marker: landed, when
// non-nil, tells from a re-read that such a write landed although its
// answer was lost.
func (r *roller) writeOr(ctx context.Context, rt *rolloutTarget, build func() *provider.RouteUpdate, landed func(*provider.Route) bool) error {
	return r.opts.Retry.do(ctx, nil, func() error {
		route, err := rt.tp.fn.UpdateRoute(ctx, rt.tp.Route, build(), &provider.ConditionOptions{IfMatch: rt.etag})
		if err == nil {
			rt.etag, rt.traffic, rt.verdicts = route.ETag, route.Traffic, route.Verdicts
			return nil
		}
		if !conflict(err) {
			return final(err)
		}
		cur, rerr := r.readRoute(ctx, rt)
		if rerr != nil {
			return final(rerr)
		}
		if landed != nil && landed(cur) {
			rt.etag, rt.traffic, rt.verdicts = cur.ETag, cur.Traffic, cur.Verdicts
			return nil
		}
		if cur.Marker == nil || cur.Marker.ID != rt.owner {
			rt.lost = rt.acquired
			return final(r.lostErr(rt, cur.Marker))
		}
		rt.etag, rt.traffic, rt.verdicts = cur.ETag, cur.Traffic, cur.Verdicts
		return err
	})
}

// lostErr says who took rt's route.
func (r *roller) lostErr(rt *rolloutTarget, m *provider.Marker) error {
	holder := "a Rollback or another tool (the marker was cleared)"
	if m != nil {
		holder = fmt.Sprintf("rollout %s by %s", m.ID, m.Holder)
	}
	return withHint(provider.FailedPrecondition, rt.target(), "Rollout",
		"this rollout stops without touching traffic; the new holder owns the route",
		"route %s was taken over by %s", rt.tp.Route, holder)
}

// startLeases starts the goroutine that renews the lease of every marker
// this rollout holds once it is Lease/3 old (checked every Lease/6) until
// stopLeasesOnce — also after ctx
// is cancelled, while the rollback runs, so that no other run takes the
// route for dead meanwhile. When a renewal finds the marker taken, it
// cancels the rollout with that error, so a bake or a gate stops at once.
func (r *roller) startLeases(ctx context.Context, lost context.CancelCauseFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(max(r.opts.Lease/6, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			errs := forEach(len(r.targets), r.opts.Concurrency, func(i int) error { return r.renew(ctx, r.targets[i]) })
			if err := joinErrors(errs...); err != nil {
				lost(err)
				return
			}
		}
	})
	var once sync.Once
	r.stopLeases = func() { once.Do(func() { cancel(); wg.Wait() }) }
}

// stopLeasesOnce stops the renewer and waits for it (the final writes
// then need no lock against it).
func (r *roller) stopLeasesOnce() {
	if r.stopLeases != nil {
		r.stopLeases()
	}
}

// renew rewrites rt's marker with a fresh heartbeat. It returns an error
// only when the lock is lost; other failures wait for the next tick (the
// driver has retried them already).
func (r *roller) renew(ctx context.Context, rt *rolloutTarget) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if !rt.acquired || rt.lost || rt.marker == nil {
		return nil
	}
	if time.Since(rt.marker.Heartbeat) < r.opts.Lease/3 {
		// Not due: a step's write renewed it (every marker write carries a
		// fresh heartbeat), so a quick rollout makes no renewal at all.
		return nil
	}
	m := *rt.marker
	m.Heartbeat = time.Now().UTC()
	err := r.write(ctx, rt, func() *provider.RouteUpdate { return &provider.RouteUpdate{Marker: &m} })
	switch {
	case err == nil:
		rt.marker = &m
	case rt.lost:
		return targetErr(rt.target(), StepMarker, err)
	default:
		// Not an event: nothing failed yet, and a watcher of EventFailed
		// (a lockstep) must not stop the rollout for it.
		r.em.warn(rt.target(), "renewing the lease failed; retried at the next tick", err)
	}
	return nil
}
