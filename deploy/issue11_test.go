package deploy

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/memprovider"
)

// Issue 11: a solo rollout (one target, no gates, no bake) writes no
// marker before publishing; its first route write, conditioned on the
// ETag Plan read, is its lock. These tests change the route between Plan
// and that write and see the rollout refuse without moving traffic.

func TestSoloRolloutRefusesARouteClaimedSincePlan(t *testing.T) {
	for _, strategy := range []Strategy{AllAtOnce(), Canary(10)} {
		t.Run(strategy.Name, func(t *testing.T) {
			c := newCloud(t, nil)
			fns := openFns(t, c, "a")
			other := openFns(t, c, "a")[0]
			deployed(t, fns, "1")
			o := rolloutOpts(strategy)
			o.OnEvent = func(e Event) {
				if e.Kind == EventPlanned {
					m := &provider.Marker{ID: "r-other", Holder: "eve@ci-3", Stable: "1", Started: time.Now(), Heartbeat: time.Now(), Lease: time.Hour}
					if err := other.SetMarker(context.Background(), "", m, nil); err != nil {
						t.Error(err)
					}
				}
			}
			_, err := Rollout(t.Context(), fns, testSpec("2"), o)
			if provider.Code(err) != provider.FailedPrecondition || !strings.Contains(err.Error(), "r-other by eve@ci-3") {
				t.Fatalf("rollout of a route claimed since its plan: %v", err)
			}
			r := route(t, fns[0])
			if r.Traffic != (provider.Traffic{Stable: "1"}) || r.Marker == nil || r.Marker.ID != "r-other" {
				t.Fatalf("route after the refusal: %+v %+v", r.Traffic, r.Marker)
			}
		})
	}
}

func TestSoloRolloutRefusesTrafficMovedSincePlan(t *testing.T) {
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	other := openFns(t, c, "a")[0]
	deployed(t, fns, "1", "2")
	o := rolloutOpts(AllAtOnce())
	o.OnEvent = func(e Event) {
		if e.Kind == EventPlanned {
			if err := other.SetTraffic(context.Background(), "", provider.Traffic{Stable: "1"}, nil); err != nil {
				t.Error(err)
			}
		}
	}
	_, err := Rollout(t.Context(), fns, testSpec("3"), o)
	if provider.Code(err) != provider.FailedPrecondition || !strings.Contains(err.Error(), "changed since it was planned (it now serves 1)") {
		t.Fatalf("rollout of a route moved since its plan: %v", err)
	}
	wantStable(t, fns[0], "1")
}

// Two solo rollouts of different specs at the same moment: exactly one
// wins (the loser fails at its conditioned Apply or first route write)
// and the route serves the winner's candidate with no marker left.
func TestSoloRolloutsRace(t *testing.T) {
	for i := range 10 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			c := newCloud(t, nil)
			fns := openFns(t, c, "a")
			deployed(t, fns, "1")
			var planned sync.WaitGroup
			planned.Add(2)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			results := make([]*RolloutResult, 2)
			for j := range 2 {
				wg.Go(func() {
					o := rolloutOpts([]Strategy{AllAtOnce(), Canary(10)}[j])
					o.Holder = fmt.Sprint("holder-", j)
					o.OnEvent = func(e Event) {
						if e.Kind == EventPlanned {
							planned.Done()
							planned.Wait()
						}
					}
					results[j], errs[j] = Rollout(t.Context(), fns, testSpec(fmt.Sprint(j+2)), o)
				})
			}
			wg.Wait()
			wins := 0
			for _, err := range errs {
				if err == nil {
					wins++
				} else if provider.Code(err) != provider.FailedPrecondition {
					t.Errorf("loser: %v", err)
				}
			}
			if wins != 1 {
				t.Fatalf("%d winners: %v", wins, errs)
			}
			winner := results[0]
			if errs[0] != nil {
				winner = results[1]
			}
			wantStable(t, fns[0], winner.Targets[0].Candidate)
		})
	}
}

// ApplyPlan's traffic write is conditioned on the route Plan read: a
// marker written since fails it, and the re-read names the holder.
func TestApplyPlanRefusesARouteClaimedSincePlan(t *testing.T) {
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	other := openFns(t, c, "a")[0]
	deployed(t, fns, "1")
	p, err := Plan(t.Context(), fns, testSpec("2"), &PlanOptions{Bundle: noCache})
	if err != nil {
		t.Fatal(err)
	}
	m := &provider.Marker{ID: "r-other", Holder: "eve@ci-3", Stable: "1", Started: time.Now(), Heartbeat: time.Now(), Lease: time.Hour}
	if err := other.SetMarker(t.Context(), "", m, nil); err != nil {
		t.Fatal(err)
	}
	_, err = ApplyPlan(t.Context(), p, applyOpts())
	if provider.Code(err) != provider.FailedPrecondition || !strings.Contains(err.Error(), "r-other by eve@ci-3") {
		t.Fatalf("apply of a route claimed since its plan: %v", err)
	}
	if r := route(t, fns[0]); r.Traffic != (provider.Traffic{Stable: "1"}) {
		t.Fatalf("traffic moved: %+v", r.Traffic)
	}
}

// Rollback writes to the revision the route names without listing
// revisions; one that is gone is a NotFound after the list, as before.
func TestRollbackToAMissingRevision(t *testing.T) {
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	deployed(t, fns, "1", "2")
	_, err := Rollback(t.Context(), fns, &RollbackOptions{Revision: "9"})
	if provider.Code(err) != provider.NotFound || !strings.Contains(err.Error(), "revision 9 does not exist") {
		t.Fatalf("rollback to a missing revision: %v", err)
	}
	wantStable(t, fns[0], "2")
	res, err := Rollback(t.Context(), fns, &RollbackOptions{Revision: "1"})
	if err != nil || res.Targets[0].To != "1" || res.Targets[0].Why != "named" {
		t.Fatalf("rollback to a named revision: %+v %v", res, err)
	}
	wantStable(t, fns[0], "1")
}

// A rollout of a spec the function already holds onto a route that does
// not exist creates the route (no Apply ran to create it).
// (With gates, where the route is held while they run, too.)
func TestRolloutCreatesAMissingRoute(t *testing.T) {
	for _, gates := range [][]Gate{nil, {InvokeGate(nil)}} {
		c := newCloud(t, nil)
		fns := openFns(t, c, "a")
		deployed(t, fns, "1")
		s := testSpec("1")
		s.Route = "blue"
		res, err := Rollout(t.Context(), fns, s, rolloutOpts(AllAtOnce(), gates...))
		if err != nil || res.Targets[0].Outcome != OutcomeCreated {
			t.Fatalf("gates %d: %+v %v", len(gates), res, err)
		}
		st, err := fns[0].Get(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if r := st.Routes["blue"]; r == nil || r.Traffic != (provider.Traffic{Stable: "1"}) || r.Marker != nil {
			t.Fatalf("gates %d: route blue: %+v", len(gates), r)
		}
		wantStable(t, fns[0], "1")
	}
}

// When the plan needs the revisions (the spec changes nothing, and the
// target cannot tell which revision holds it), a failure to list them
// fails the plan as a read failure and changes nothing.
func TestNoChangePlanNeedsTheRevisions(t *testing.T) {
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	deployed(t, fns, "1")
	c.ResetCounters()
	c.InjectFault(memprovider.Fault{Op: memprovider.OpListRevisions, Times: -1, Code: provider.Internal})
	_, err := Apply(t.Context(), fns, testSpec("1"), applyOpts())
	if provider.Code(err) != provider.Internal || !strings.Contains(err.Error(), "mem://a: read:") {
		t.Fatalf("no-change apply with revisions unlistable: %v", err)
	}
	if c.Mutations() != 0 {
		t.Errorf("mutations: %v", c.Calls())
	}
}

// A solo rollout whose conditioned Apply fails because another rollout
// changed the function since Plan names that rollout's holder, as a lock
// written before publishing would have.
func TestSoloRolloutNamesTheRolloutThatChangedTheFunction(t *testing.T) {
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	other := openFns(t, c, "a")[0]
	deployed(t, fns, "1")
	o := rolloutOpts(AllAtOnce())
	o.OnEvent = func(e Event) {
		if e.Kind != EventPlanned {
			return
		}
		m := &provider.Marker{ID: "r-other", Holder: "eve@ci-3", Stable: "1", Started: time.Now(), Heartbeat: time.Now(), Lease: time.Hour}
		if err := other.SetMarker(context.Background(), "", m, nil); err != nil {
			t.Error(err)
		}
		if _, err := other.Apply(context.Background(), testSpec("9"), &provider.ApplyOptions{Publish: true}); err != nil {
			t.Error(err)
		}
	}
	_, err := Rollout(t.Context(), fns, testSpec("2"), o)
	if provider.Code(err) != provider.FailedPrecondition || !strings.Contains(err.Error(), "r-other by eve@ci-3") {
		t.Fatalf("solo rollout after another changed the function: %v", err)
	}
}

// A solo rollout's one traffic write that fails without a refusal may
// have been applied in part (where a traffic write deploys code): the
// rollback writes the stable traffic back, as it would with a marker.
func TestSoloRolloutRepairsAFailedTrafficWrite(t *testing.T) {
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	deployed(t, fns, "1")
	c.InjectFault(memprovider.Fault{Op: memprovider.OpSetTraffic, Times: 1, Code: provider.Internal})
	res, err := Rollout(t.Context(), fns, testSpec("2"), rolloutOpts(AllAtOnce()))
	if provider.Code(err) != provider.Internal || res.Outcome != OutcomeRolledBack || res.Targets[0].Outcome != OutcomeRolledBack {
		t.Fatalf("solo rollout whose traffic write failed: %s %v", res.Outcome, err)
	}
	wantStable(t, fns[0], "1")
	c.ClearFaults()
	c.InjectFault(memprovider.Fault{Op: memprovider.OpSetTraffic, Times: 1, Code: provider.FailedPrecondition})
	c.ResetCounters()
	if _, err := Rollout(t.Context(), fns, testSpec("3"), rolloutOpts(AllAtOnce())); err != nil {
		// A refusal re-reads; the route is as planned, so the write is retried.
		t.Fatalf("solo rollout after a refused write: %v", err)
	}
	wantStable(t, fns[0], "3")
}
