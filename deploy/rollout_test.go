package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/memprovider"
)

// shifted returns the percentages of the shifted events of target.
func (r *recorder) shifted(target string) []int {
	var out []int
	for _, e := range r.kinds(target, EventShifted) {
		out = append(out, e.Percent)
	}
	return out
}

func TestRolloutStrategies(t *testing.T) {
	for _, tc := range []struct {
		s     Strategy
		steps []int
	}{
		{AllAtOnce(), []int{100}},
		{BlueGreen(), []int{0, 100}},
		{Canary(), []int{10, 50, 100}},
		{Canary(5, 25), []int{5, 25, 100}},
		{Linear(25, time.Millisecond), []int{25, 50, 75, 100}},
		{Linear(30, 0), []int{30, 60, 90, 100}},
	} {
		t.Run(fmt.Sprint(tc.s.Name, tc.steps), func(t *testing.T) {
			ctx := t.Context()
			c := newCloud(t, nil)
			fns := openFns(t, c, "a", "b")
			deployed(t, fns, "1")
			rec := &recorder{}
			var gateSeen []int
			var mu sync.Mutex
			gate := Gate{Name: "observe", Check: func(ctx context.Context, in *GateInput) error {
				// The marker and traffic are in place when gates run.
				r := route(t, in.Function)
				if r.Marker == nil || r.Marker.Step != in.Step || r.Marker.Percent != in.Percent || r.Marker.Candidate != "2" {
					return fmt.Errorf("marker %+v at step %d", r.Marker, in.Step)
				}
				want := provider.Traffic{Stable: "1", Candidate: "2", CandidatePercent: in.Percent}
				switch in.Percent {
				case 0:
					want = provider.Traffic{Stable: "1"}
				case 100:
					want = provider.Traffic{Stable: "2"}
				}
				if r.Traffic != want {
					return fmt.Errorf("traffic %+v at step %d, want %+v", r.Traffic, in.Step, want)
				}
				if in.Target == "mem://a" {
					mu.Lock()
					gateSeen = append(gateSeen, in.Percent)
					mu.Unlock()
				}
				return nil
			}}
			o := rolloutOpts(tc.s, gate, InvokeGate(nil))
			o.Interval = time.Millisecond
			o.OnEvent = rec.on
			res, err := Rollout(ctx, fns, testSpec("2"), o)
			if err != nil {
				t.Fatalf("%v\n%s", err, rec)
			}
			if res.Outcome != OutcomeSucceeded {
				t.Fatalf("outcome %s", res.Outcome)
			}
			for _, fn := range fns {
				wantStable(t, fn, "2")
			}
			if got := rec.shifted("mem://a"); !slices.Equal(got, tc.steps) {
				t.Errorf("shifts %v, want %v", got, tc.steps)
			}
			if !slices.Equal(gateSeen, tc.steps) {
				t.Errorf("gates ran at %v, want %v", gateSeen, tc.steps)
			}
			tr := res.Targets[0]
			if tr.Outcome != OutcomeSucceeded || tr.Stable != "1" || tr.Candidate != "2" || tr.Percent != 100 || len(tr.Gates) != 2*len(tc.steps) {
				t.Errorf("target result %+v", tr)
			}
			// Rolling out the same spec again changes nothing.
			c.ResetCounters()
			res, err = Rollout(ctx, fns, testSpec("2"), rolloutOpts(tc.s))
			if err != nil || res.Outcome != OutcomeUnchanged || c.Mutations() != 0 {
				t.Fatalf("second rollout: %v %v, %d mutations", res.Outcome, err, c.Mutations())
			}
		})
	}
}

func TestRolloutRejectsBadStrategy(t *testing.T) {
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	for _, s := range []Strategy{{Name: "x", Steps: []int{50, 20, 100}}, Linear(0, time.Second), {Name: "y", Steps: []int{10, 50}}} {
		if _, err := Rollout(t.Context(), fns, testSpec("1"), rolloutOpts(s)); provider.Code(err) != provider.InvalidArgument {
			t.Errorf("strategy %+v: %v", s, err)
		}
	}
}

func TestRolloutCreatesNewFunction(t *testing.T) {
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	res, err := Rollout(t.Context(), fns, testSpec("1"), rolloutOpts(Canary()))
	if err != nil || res.Targets[0].Outcome != OutcomeCreated {
		t.Fatalf("%+v %v", res, err)
	}
	wantStable(t, fns[0], "1")
}

func TestCanaryDegradesToBlueGreen(t *testing.T) {
	ctx := t.Context()
	c := newCloud(t, nil)
	swap := memprovider.NewCloud(&memprovider.Options{Capabilities: func(c *provider.Capabilities) { c.WeightedTraffic = false }})
	fns := append(openFns(t, c, "weighted"), openFns(t, swap, "swaponly")...)
	deployed(t, fns, "1")
	rec := &recorder{}
	o := rolloutOpts(Canary(10, 50), InvokeGate(nil))
	o.OnEvent = rec.on
	res, err := Rollout(ctx, fns, testSpec("2"), o)
	if err != nil {
		t.Fatalf("%v\n%s", err, rec)
	}
	if got := rec.shifted("mem://weighted"); !slices.Equal(got, []int{10, 50, 100}) {
		t.Errorf("weighted shifts %v", got)
	}
	if got := rec.shifted("mem://swaponly"); !slices.Equal(got, []int{0, 0, 100}) {
		t.Errorf("swap-only shifts %v", got)
	}
	if !res.Targets[1].Degraded || res.Targets[0].Degraded {
		t.Errorf("degraded flags: %+v %+v", res.Targets[0], res.Targets[1])
	}
	d := rec.kinds("mem://swaponly", EventDegraded)
	if len(d) != 1 || !strings.Contains(d[0].Message, "blue/green") {
		t.Errorf("degraded events %v", d)
	}
	for _, fn := range fns {
		wantStable(t, fn, "2")
	}
}

// TestGateFailureAtEachStep fails a gate at each step of a canary on one
// of three targets: all three go back to the stable revision, and the
// error and result say which target failed which gate.
func TestGateFailureAtEachStep(t *testing.T) {
	for step := 1; step <= 3; step++ {
		t.Run(fmt.Sprint("step", step), func(t *testing.T) {
			ctx := t.Context()
			c := newCloud(t, nil)
			fns := openFns(t, c, "a", "b", "c")
			deployed(t, fns, "1")
			gate := Gate{Name: "health", Check: func(ctx context.Context, in *GateInput) error {
				if in.Target == "mem://b" && in.Step == step {
					return errors.New("p99 latency too high")
				}
				return nil
			}}
			rec := &recorder{}
			o := rolloutOpts(Canary(10, 50), gate)
			o.OnEvent = rec.on
			res, err := Rollout(ctx, fns, testSpec("2"), o)
			var ge *GateError
			if !errors.As(err, &ge) || ge.Target != "mem://b" || ge.Gate != "health" || ge.Step != step || ge.Candidate != "2" {
				t.Fatalf("error %v", err)
			}
			if provider.Code(err) != provider.FailedPrecondition {
				t.Errorf("code %v", provider.Code(err))
			}
			if !strings.Contains(err.Error(), "mem://b: gate health failed for candidate revision 2 at step") {
				t.Errorf("message: %v", err)
			}
			if res.Outcome != OutcomeRolledBack {
				t.Errorf("outcome %s", res.Outcome)
			}
			for i, fn := range fns {
				wantStable(t, fn, "1")
				if res.Targets[i].Outcome != OutcomeRolledBack || res.Targets[i].Percent != 0 {
					t.Errorf("target %+v", res.Targets[i])
				}
			}
			if res.Targets[1].FailedGate != "health" || res.Targets[0].FailedGate != "" {
				t.Errorf("failed gates: %q %q", res.Targets[1].FailedGate, res.Targets[0].FailedGate)
			}
			if n := len(rec.kinds("", EventRollback)); n != 3 {
				t.Errorf("%d rollback events\n%s", n, rec)
			}
			// The candidate never got more traffic after the failure.
			if got := rec.shifted("mem://a"); len(got) != step {
				t.Errorf("shifts after a failure at step %d: %v", step, got)
			}
		})
	}
}

func TestBuiltInGates(t *testing.T) {
	ctx := t.Context()
	c := newCloud(t, &memprovider.Options{Handler: func(ctx context.Context, inv *memprovider.Invocation) ([]byte, error) {
		if inv.Env["VERSION"] == "2" {
			return nil, errors.New("nil pointer dereference")
		}
		return []byte("ok"), nil
	}})
	fns := openFns(t, c, "a")
	deployed(t, fns, "1")
	res, err := Rollout(ctx, fns, testSpec("2"), rolloutOpts(BlueGreen(), InvokeGate([]byte(`{}`))))
	if !strings.Contains(fmt.Sprint(err), "smoke invoke of revision 2 returned a function error: nil pointer dereference") || res.Targets[0].FailedGate != "invoke" {
		t.Fatalf("invoke gate: %v", err)
	}
	wantStable(t, fns[0], "1")

	// Error rate: traffic on the candidate during the bake produces errors.
	rec := &recorder{hook: func(e Event) {
		if e.Kind == EventShifted && e.Percent == 50 {
			c.RecordInvocations("a", e.Candidate, 200, 20, 0)
		}
	}}
	o := rolloutOpts(Canary(10, 50), ErrorRateGate(0.05, 100))
	o.OnEvent = rec.on
	res, err = Rollout(ctx, fns, testSpec("3"), o)
	var ge *GateError
	if !errors.As(err, &ge) || ge.Step != 2 || !strings.Contains(err.Error(), "error rate 10.00% (20 of 200 invocations)") {
		t.Fatalf("error-rate gate: %v", err)
	}
	gates := res.Targets[0].Gates
	if len(gates) != 2 || gates[0].Result != GateSkipped || gates[1].Result != GateFailed {
		t.Errorf("gate outcomes %+v", gates)
	}
	wantStable(t, fns[0], "1")

	// Throttles.
	rec.hook = func(e Event) {
		if e.Kind == EventShifted && e.Percent == 10 {
			c.RecordInvocations("a", e.Candidate, 100, 0, 30)
		}
	}
	o = rolloutOpts(Canary(10), ThrottleGate(0.1, 50), ErrorRateGate(0.05, 50))
	o.OnEvent = rec.on
	_, err = Rollout(ctx, fns, testSpec("4"), o)
	if !errors.As(err, &ge) || ge.Gate != "throttle-rate" || ge.Step != 1 {
		t.Fatalf("throttle gate: %v", err)
	}
	// A healthy candidate passes both.
	rec.hook = func(e Event) {
		if e.Kind == EventShifted && e.Percent > 0 {
			c.RecordInvocations("a", e.Candidate, 100, 1, 0)
		}
	}
	o = rolloutOpts(Canary(10), ThrottleGate(0.1, 50), ErrorRateGate(0.05, 50))
	o.OnEvent = rec.on
	if _, err := Rollout(ctx, fns, testSpec("5"), o); err != nil {
		t.Fatal(err)
	}
}

func TestGateTimeout(t *testing.T) {
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	deployed(t, fns, "1")
	slow := Gate{Name: "slow", Check: func(ctx context.Context, in *GateInput) error {
		<-ctx.Done()
		return ctx.Err()
	}}
	o := rolloutOpts(Canary(10), slow)
	o.GateTimeout = 5 * time.Millisecond
	_, err := Rollout(t.Context(), fns, testSpec("2"), o)
	if !strings.Contains(fmt.Sprint(err), "gate timed out after 5ms") {
		t.Fatalf("%v", err)
	}
	wantStable(t, fns[0], "1")
}

// TestRolloutFaults injects each fault into each call of a three-target
// canary: every run ends in success (all on the candidate) or a clear
// error with all traffic on the stable revision and no marker left.
func TestRolloutFaults(t *testing.T) {
	ops := []string{memprovider.OpGet, memprovider.OpSetMarker, memprovider.OpSetTraffic, memprovider.OpPublish,
		memprovider.OpUpdateCode, memprovider.OpListRevisions, memprovider.OpInvoke}
	codes := []provider.ErrorCode{provider.ResourceExhausted, provider.Internal, provider.FailedPrecondition}
	// Count each op's calls on b in a clean run.
	counts := map[string]int{}
	{
		c := newCloud(t, nil)
		fns := openFns(t, c, "a", "b", "c")
		deployed(t, fns, "1")
		c.ResetCounters()
		if _, err := Rollout(t.Context(), fns, testSpec("2"), rolloutOpts(Canary(10, 50), InvokeGate(nil))); err != nil {
			t.Fatal(err)
		}
		for _, call := range c.Calls() {
			if call.Function == "b" {
				counts[call.Op]++
			}
		}
	}
	runs, successes := 0, 0
	for _, op := range ops {
		for _, code := range codes {
			for after := 0; after < counts[op]; after++ {
				for _, times := range []int{1, 5} {
					name := fmt.Sprintf("%s/%s/after=%d/times=%d", op, code, after, times)
					runs++
					if ok := t.Run(name, func(t *testing.T) {
						ctx := t.Context()
						c := newCloud(t, nil)
						fns := openFns(t, c, "a", "b", "c")
						deployed(t, fns, "1")
						c.InjectFault(memprovider.Fault{Op: op, Function: "b", After: after, Times: times, Code: code})
						fo := rolloutOpts(Canary(10, 50), InvokeGate(nil))
						fo.Lease = shortLease
						res, err := Rollout(ctx, fns, testSpec("2"), fo)
						if err == nil {
							successes++
							for _, fn := range fns {
								wantStable(t, fn, "2")
							}
							return
						}
						c.ClearFaults()
						if strings.Contains(err.Error(), "run the same Rollout again to clear the marker") {
							// Every gate passed and the candidate serves all
							// traffic; only the final marker clear failed.
							for _, fn := range fns {
								if r := route(t, fn); r.Traffic != (provider.Traffic{Stable: "2"}) {
									t.Errorf("%s: traffic %+v", fn.Target(), r.Traffic)
								}
							}
						} else {
							c.ClearFaults()
							for _, fn := range fns {
								r := route(t, fn)
								if r.Traffic.Stable != "1" || r.Traffic.CandidatePercent != 0 {
									t.Errorf("%s: traffic %+v after a failed rollout (%v)", fn.Target(), r.Traffic, err)
								}
								if r.Marker != nil {
									t.Errorf("%s: marker left: %+v", fn.Target(), *r.Marker)
								}
							}
						}
						if provider.Code(err) == provider.Unknown || provider.Code(err) == provider.OK {
							t.Errorf("error without a code: %v", err)
						}
						if !strings.Contains(err.Error(), "mem://b") {
							t.Errorf("error does not name b: %v", err)
						}
						c.ClearFaults()
						if res != nil && res.Outcome != OutcomeRolledBack && res.Outcome != OutcomeFailed {
							t.Errorf("outcome %s", res.Outcome)
						}
						// The next run succeeds (once a marker left behind
						// has an expired lease).
						waitLeases(t, fns...)
						if _, err := Rollout(ctx, fns, testSpec("2"), rolloutOpts(Canary(10, 50), InvokeGate(nil))); err != nil {
							t.Fatalf("rollout after the fault cleared: %v", err)
						}
						for _, fn := range fns {
							wantStable(t, fn, "2")
						}
					}); !ok {
						return
					}
				}
			}
		}
	}
	t.Logf("%d fault runs, %d recovered by retries, the rest rolled back", runs, successes)
}

// TestRolloutFaultBreaksRollback makes SetTraffic fail for good on one
// target after its first shift: the rollback cannot restore it, so the
// error says so and leaves the marker; Revert finishes the job once the
// cloud recovers.
func TestRolloutFaultBreaksRollback(t *testing.T) {
	ctx := t.Context()
	c := newCloud(t, nil)
	fns := openFns(t, c, "a", "b")
	deployed(t, fns, "1")
	c.InjectFault(memprovider.Fault{Op: memprovider.OpSetTraffic, Function: "b", After: 1, Times: -1, Code: provider.Internal})
	o := rolloutOpts(Canary(10, 50))
	o.RollbackTimeout = 100 * time.Millisecond
	o.Lease = shortLease
	res, err := Rollout(ctx, fns, testSpec("2"), o)
	if err == nil || !strings.Contains(err.Error(), "mem://b: rollback:") || !strings.Contains(err.Error(), "Revert") {
		t.Fatalf("error %v", err)
	}
	if res.Outcome != OutcomeFailed || res.Targets[1].Outcome != OutcomeFailed || res.Targets[0].Outcome != OutcomeRolledBack {
		t.Errorf("outcomes %s %s %s", res.Outcome, res.Targets[0].Outcome, res.Targets[1].Outcome)
	}
	wantStable(t, fns[0], "1")
	if r := route(t, fns[1]); r.Marker == nil || r.Traffic.CandidatePercent != 10 {
		t.Fatalf("b: %+v", r)
	}
	c.ClearFaults()
	waitLeases(t, fns...) // the failed rollout's holder is gone once its lease expires
	o = rolloutOpts(Canary(10, 50))
	o.Revert = true
	res, err = Rollout(ctx, fns, testSpec("2"), o)
	if err != nil || res.Outcome != OutcomeReverted || res.Targets[1].Outcome != OutcomeReverted || res.Targets[0].Outcome != OutcomeUnchanged {
		t.Fatalf("revert: %+v %v", res, err)
	}
	wantStable(t, fns[1], "1")
}

// kill stops a rollout the way a killed process would: the context is
// cancelled and no further call reaches the cloud, so no rollback happens.
func kill(c *memprovider.Cloud, cancel context.CancelFunc) {
	for _, op := range []string{memprovider.OpSetTraffic, memprovider.OpSetMarker, memprovider.OpGet} {
		c.InjectFault(memprovider.Fault{Op: op, Times: -1, Code: provider.Internal, Message: "process killed"})
	}
	cancel()
}

// TestKillAndResumeAtEachStep kills a canary of two targets after each
// event (marker written, each shift, each gate) and runs it again: the
// second run resumes at the recorded step and succeeds, or with Revert
// moves everything back.
func TestKillAndResumeAtEachStep(t *testing.T) {
	type point struct {
		kind    EventKind
		percent int
	}
	points := []point{{EventStarted, 0}, {EventShifted, 10}, {EventGate, 10}, {EventShifted, 50}, {EventGate, 50}, {EventShifted, 100}, {EventGate, 100}}
	for _, revert := range []bool{false, true} {
		for _, p := range points {
			t.Run(fmt.Sprintf("%s-%d/revert=%v", p.kind, p.percent, revert), func(t *testing.T) {
				c := newCloud(t, nil)
				fns := openFns(t, c, "a", "b")
				deployed(t, fns, "1")
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				var once sync.Once
				killedAt := 0
				rec := &recorder{hook: func(e Event) {
					if e.Target == "mem://b" && e.Kind == p.kind && e.Percent == p.percent {
						once.Do(func() { killedAt = e.Step; kill(c, cancel) })
					}
				}}
				o := rolloutOpts(Canary(10, 50), InvokeGate(nil))
				o.OnEvent = rec.on
				o.RollbackTimeout = 50 * time.Millisecond
				o.Lease = shortLease
				if _, err := Rollout(ctx, fns, testSpec("2"), o); err == nil {
					t.Fatalf("killed rollout succeeded\n%s", rec)
				}
				c.ClearFaults()
				r := route(t, fns[1])
				if r.Marker == nil || r.Marker.Step != killedAt {
					t.Fatalf("after the kill at step %d the marker is %+v", killedAt, r.Marker)
				}
				if r.Traffic.CandidatePercent > p.percent || (r.Traffic.Stable == "2" && p.percent < 100) {
					t.Fatalf("traffic %+v beyond the killed step", r.Traffic)
				}

				// The killed holder's lease expires: the next run (same
				// holder, no TakeOver) resumes or reverts.
				waitLeases(t, fns...)
				rec2 := &recorder{}
				o2 := rolloutOpts(Canary(10, 50), InvokeGate(nil))
				o2.OnEvent, o2.Revert = rec2.on, revert
				res, err := Rollout(t.Context(), fns, testSpec("2"), o2)
				if err != nil {
					t.Fatalf("second run: %v\n%s", err, rec2)
				}
				if revert {
					if res.Outcome != OutcomeReverted {
						t.Errorf("outcome %s", res.Outcome)
					}
					for _, fn := range fns {
						wantStable(t, fn, "1")
					}
					return
				}
				if res.Outcome != OutcomeSucceeded || res.Targets[1].ResumedAt == 0 || res.Targets[1].ResumedAt > max(killedAt, 1) {
					t.Errorf("outcome %s, resumed at %d (killed at %d)\n%s", res.Outcome, res.Targets[1].ResumedAt, killedAt, rec2)
				}
				if ev := rec2.kinds("mem://b", EventResumed); len(ev) != 1 {
					t.Errorf("resumed events: %v", ev)
				}
				if got := rec2.shifted("mem://b"); got[0] != []int{10, 50, 100}[res.Targets[1].ResumedAt-1] {
					t.Errorf("second run shifted %v", got)
				}
				for _, fn := range fns {
					wantStable(t, fn, "2")
				}
			})
		}
	}
}

func TestCancelRollsBack(t *testing.T) {
	c := newCloud(t, nil)
	fns := openFns(t, c, "a", "b")
	deployed(t, fns, "1")
	ctx, cancel := context.WithCancel(t.Context())
	rec := &recorder{hook: func(e Event) {
		if e.Kind == EventBaking && e.Step == 1 {
			cancel()
		}
	}}
	o := rolloutOpts(Canary(10, 50))
	o.Interval = time.Hour
	o.OnEvent = rec.on
	res, err := Rollout(ctx, fns, testSpec("2"), o)
	if provider.Code(err) != provider.Canceled || !strings.Contains(err.Error(), "interrupted at step 1/3") {
		t.Fatalf("error %v", err)
	}
	if res.Outcome != OutcomeRolledBack {
		t.Errorf("outcome %s", res.Outcome)
	}
	for _, fn := range fns {
		wantStable(t, fn, "1")
	}
}

func TestConcurrentRolloutIsRefused(t *testing.T) {
	c := newCloud(t, nil)
	fns := openFns(t, c, "a", "b")
	deployed(t, fns, "1")
	inGate := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	hold := Gate{Name: "hold", Check: func(ctx context.Context, in *GateInput) error {
		once.Do(func() { close(inGate) })
		<-release
		return nil
	}}
	done := make(chan error, 1)
	go func() {
		o := rolloutOpts(Canary(10), hold)
		o.Holder, o.ID = "alice@ci-1", "r-alice"
		_, err := Rollout(t.Context(), fns, testSpec("2"), o)
		done <- err
	}()
	<-inGate
	c.ResetCounters()
	for _, spec := range []string{"2", "3"} {
		o := rolloutOpts(Canary(10))
		o.Holder = "bob@ci-2"
		_, err := Rollout(t.Context(), fns, testSpec(spec), o)
		if provider.Code(err) != provider.FailedPrecondition || !strings.Contains(err.Error(), "r-alice by alice@ci-1") {
			t.Fatalf("second rollout (spec %s): %v", spec, err)
		}
		if !strings.Contains(err.Error(), "mem://a") || !strings.Contains(err.Error(), "mem://b") {
			t.Errorf("error does not name both targets: %v", err)
		}
	}
	o := rolloutOpts(Canary(10))
	o.Holder = "bob@ci-2"
	o.Revert = true
	if _, err := Rollout(t.Context(), fns, testSpec("2"), o); provider.Code(err) != provider.FailedPrecondition {
		t.Fatalf("revert of another holder's rollout: %v", err)
	}
	if _, err := Apply(t.Context(), fns, testSpec("3"), applyOpts()); provider.Code(err) != provider.FailedPrecondition {
		t.Fatalf("apply during a rollout: %v", err)
	}
	if c.Mutations() != 0 {
		t.Errorf("refused rollouts made %d mutations: %v", c.Mutations(), c.Calls())
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, fn := range fns {
		wantStable(t, fn, "2")
	}
}

// TestConcurrentRolloutsRace starts two rollouts of different specs at
// the same moment: exactly one wins, the loser says who holds the route
// and does not touch its traffic.
func TestConcurrentRolloutsRace(t *testing.T) {
	for i := range 10 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			c := newCloud(t, nil)
			fns := openFns(t, c, "a", "b", "c")
			deployed(t, fns, "1")
			var wg sync.WaitGroup
			errs := make([]error, 2)
			results := make([]*RolloutResult, 2)
			// Both finish planning before either writes anything.
			var planned sync.WaitGroup
			planned.Add(2 * len(fns))
			for j, holder := range []string{"alice@ci-1", "bob@ci-2"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					o := rolloutOpts(Canary(10, 50), InvokeGate(nil))
					o.Interval = 10 * time.Millisecond
					o.OnEvent = func(e Event) {
						if e.Kind == EventPlanned {
							planned.Done()
							if e.Target == "mem://c" {
								planned.Wait()
							}
						}
					}
					o.Holder = holder
					results[j], errs[j] = Rollout(t.Context(), fns, testSpec(fmt.Sprint(j+2)), o)
				}()
			}
			wg.Wait()
			wins := 0
			for j, err := range errs {
				if err == nil {
					wins++
					continue
				}
				if provider.Code(err) != provider.FailedPrecondition || !strings.Contains(err.Error(), []string{"bob@ci-2", "alice@ci-1"}[j]) {
					t.Errorf("loser %d: %v", j, err)
				}
			}
			if wins != 1 {
				t.Fatalf("%d winners: %v", wins, errs)
			}
			winner := results[0]
			if errs[0] != nil {
				winner = results[1]
			}
			for k, fn := range fns {
				wantStable(t, fn, winner.Targets[k].Candidate)
			}
		})
	}
}

func TestTakeOver(t *testing.T) {
	ctx := t.Context()
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	deployed(t, fns, "1")
	// alice's rollout died at step 2.
	cctx, cancel := context.WithCancel(ctx)
	rec := &recorder{hook: func(e Event) {
		if e.Kind == EventShifted && e.Step == 2 {
			kill(c, cancel)
		}
	}}
	o := rolloutOpts(Canary(10, 50))
	o.Holder, o.OnEvent, o.RollbackTimeout = "alice@ci-1", rec.on, 20*time.Millisecond
	if _, err := Rollout(cctx, fns, testSpec("2"), o); err == nil {
		t.Fatal("killed rollout succeeded")
	}
	c.ClearFaults()
	o = rolloutOpts(Canary(10, 50))
	o.Holder = "bob@ci-2"
	_, err := Rollout(ctx, fns, testSpec("2"), o)
	if provider.Code(err) != provider.FailedPrecondition || !strings.Contains(err.Error(), "alice@ci-1") || !strings.Contains(err.Error(), "TakeOver") {
		t.Fatalf("without TakeOver: %v", err)
	}
	o.TakeOver = true
	res, err := Rollout(ctx, fns, testSpec("2"), o)
	if err != nil || res.Targets[0].ResumedAt != 2 {
		t.Fatalf("TakeOver: %+v %v", res, err)
	}
	wantStable(t, fns[0], "2")
}

// TestTakenOverRolloutStops checks that a rollout whose marker another
// holder took over stops without touching traffic.
func TestTakenOverRolloutStops(t *testing.T) {
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	deployed(t, fns, "1")
	var once sync.Once
	rec := &recorder{}
	rec.hook = func(e Event) {
		if e.Kind == EventGate && e.Step == 1 {
			once.Do(func() {
				// bob takes over mid-rollout and finishes it.
				o := rolloutOpts(Canary(10, 50))
				o.Holder, o.TakeOver = "bob@ci-2", true
				if _, err := Rollout(context.Background(), fns, testSpec("2"), o); err != nil {
					t.Errorf("takeover: %v", err)
				}
			})
		}
	}
	o := rolloutOpts(Canary(10, 50), InvokeGate(nil))
	o.Holder, o.OnEvent = "alice@ci-1", rec.on
	res, err := Rollout(t.Context(), fns, testSpec("2"), o)
	if provider.Code(err) != provider.FailedPrecondition || !strings.Contains(err.Error(), "taken over") {
		t.Fatalf("alice after the takeover: %v", err)
	}
	if res.Targets[0].Outcome != OutcomeFailed {
		t.Errorf("outcome %s", res.Targets[0].Outcome)
	}
	wantStable(t, fns[0], "2")
}

// TestRolloutWaitsForNotReady makes the function report busy during the
// candidate's publish: the rollout waits and succeeds.
func TestRolloutWaitsForNotReady(t *testing.T) {
	c := newCloud(t, nil)
	fns := openFns(t, c, "a", "b")
	deployed(t, fns, "1")
	c.NotReady("b", 25)
	if _, err := Rollout(t.Context(), fns, testSpec("2"), rolloutOpts(Canary(10, 50), InvokeGate(nil))); err != nil {
		t.Fatal(err)
	}
	for _, fn := range fns {
		wantStable(t, fn, "2")
	}
	// A function that never gets ready: the deadline ends the rollout with
	// traffic on the stable revision.
	// The deadline runs out 30ms after both routes are locked, while b's
	// publish waits (a fixed timeout from the start would sometimes run
	// out earlier on a loaded machine).
	c.NotReady("b", 1<<30)
	ctx := &deadlineAfter{Context: t.Context(), done: make(chan struct{})}
	o := rolloutOpts(Canary(10, 50))
	var locked sync.WaitGroup
	locked.Add(2)
	o.OnEvent = func(e Event) {
		if e.Kind == EventStarted {
			locked.Done()
		}
	}
	go func() { locked.Wait(); time.Sleep(30 * time.Millisecond); ctx.expire() }()
	_, err := Rollout(ctx, fns, testSpec("3"), o)
	if provider.Code(err) != provider.DeadlineExceeded || !strings.Contains(err.Error(), "mem://b: apply:") {
		t.Fatalf("rollout on a function that never gets ready: %v", err)
	}
	c.NotReady("b", -(1 << 30))
	for _, fn := range fns {
		wantStable(t, fn, "2")
	}
}

// deadlineAfter is a context whose deadline a test ends when it chooses:
// Err then reports DeadlineExceeded.
type deadlineAfter struct {
	context.Context
	once sync.Once
	done chan struct{}
}

func (d *deadlineAfter) expire()               { d.once.Do(func() { close(d.done) }) }
func (d *deadlineAfter) Done() <-chan struct{} { return d.done }
func (d *deadlineAfter) Err() error {
	select {
	case <-d.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}
