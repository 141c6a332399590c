package deploy

// One test per numbered case of "rollouts that never promote a bad
// revision", on mem://. The local:// versions, with real processes, are
// in internal/localrollout.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/provider/memprovider"
)

// httpMetrics reports HTTP response classes beside memprovider's counts:
// every invocation that was not a function error answered 5xx when
// fail5xx, else 2xx. memprovider has no HTTP classes of its own.
type httpMetrics struct {
	driver.Function
	fail5xx func(revision string) bool
}

func (h *httpMetrics) Metrics(ctx context.Context, q *driver.MetricsQuery) (*driver.Metrics, error) {
	m, err := h.Function.Metrics(ctx, q)
	if err != nil {
		return nil, err
	}
	m.HTTP = true
	if h.fail5xx(q.Revision) {
		m.Status5xx = m.Invocations - m.Errors
	} else {
		m.Status2xx = m.Invocations - m.Errors
	}
	return m, nil
}

// Case 1: a candidate answering HTTP 500 is caught by InvokeGate (with an
// HTTP-shaped request) and by ErrorRateGate (5xx counted as errors), at
// the first step, and rolled back.
func TestCase1HTTPErrorsFailTheGates(t *testing.T) {
	const secret = "sk_live_0123456789abcdefSECRET"
	c := newCloud(t, &memprovider.Options{Handler: func(ctx context.Context, inv *memprovider.Invocation) ([]byte, error) {
		if inv.Env["VERSION"] == "2" {
			// A secret sits across the 300-byte cut of the shown body.
			body := strings.Repeat("x", 290) + " " + secret + " internal error"
			return fmt.Appendf(nil, `{"statusCode":500,"body":%q}`, body), nil
		}
		return []byte(`{"statusCode":200,"body":"ok"}`), nil
	}})
	d, err := c.OpenDriver("a")
	if err != nil {
		t.Fatal(err)
	}
	fn := provider.NewFunction(&httpMetrics{Function: d, fail5xx: func(rev string) bool { return rev == "2" }})
	t.Cleanup(func() { fn.Close() })
	fns := []*provider.Function{fn}
	deployed(t, fns, "1")

	spec := testSpec("2")
	spec.Env["API_TOKEN"] = secret
	res, err := Rollout(t.Context(), fns, spec, rolloutOpts(Canary(10, 50), InvokeGate(HTTPEvent("GET", "/health?deep=1", nil))))
	var ge *GateError
	if !errors.As(err, &ge) || ge.Gate != "invoke" || ge.Step != 1 || !strings.Contains(err.Error(), "answered HTTP 500") {
		t.Fatalf("invoke gate: %v", err)
	}
	if strings.Contains(err.Error(), "sk_live") || strings.Contains(fmt.Sprint(res.Targets[0].Gates), "sk_live") {
		t.Errorf("the secret's start leaks: %v", err)
	}
	wantStable(t, fn, "1")

	// The error-rate gate counts the 5xx responses of traffic on the
	// candidate, which the function does not report as errors.
	rec := &recorder{hook: func(e Event) {
		if e.Kind == EventShifted && e.Percent > 0 {
			c.RecordInvocations("a", e.Candidate, 40, 0, 0)
		}
	}}
	o := rolloutOpts(Canary(10, 50), ErrorRateGate(0.05, 5))
	o.OnEvent = rec.on
	spec = testSpec("3")
	_, err = Rollout(t.Context(), []*provider.Function{provider.NewFunction(&httpMetrics{Function: d, fail5xx: func(string) bool { return true }})}, spec, o)
	if !errors.As(err, &ge) || ge.Gate != "error-rate" || ge.Step != 1 ||
		!strings.Contains(err.Error(), "error rate 100.00% (40 of 40 invocations; 0 function errors, 40 HTTP 5xx)") {
		t.Fatalf("error-rate gate: %v", err)
	}
	wantStable(t, fn, "1")
	// A candidate answering 2xx passes the same gate.
	_, err = Rollout(t.Context(), []*provider.Function{provider.NewFunction(&httpMetrics{Function: d, fail5xx: func(string) bool { return false }})}, testSpec("4"), o)
	if err != nil {
		t.Fatal(err)
	}
}

func TestErrorRateGateRejectsBadThresholds(t *testing.T) {
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	deployed(t, fns, "1")
	c.ResetCounters()
	for _, rate := range []float64{math.NaN(), -0.1, 1.5, math.Inf(1)} {
		_, err := Rollout(t.Context(), fns, testSpec("2"), rolloutOpts(Canary(10), ErrorRateGate(rate, 10)))
		if provider.Code(err) != provider.InvalidArgument || !strings.Contains(err.Error(), "from 0 to 1") {
			t.Errorf("rate %v: %v", rate, err)
		}
		if _, err := Rollout(t.Context(), fns, testSpec("2"), rolloutOpts(Canary(10), ThrottleGate(rate, 10))); provider.Code(err) != provider.InvalidArgument {
			t.Errorf("throttle rate %v: %v", rate, err)
		}
	}
	if c.Mutations() != 0 {
		t.Errorf("%d mutations", c.Mutations())
	}
	for _, rate := range []float64{0, 1} {
		if g := ErrorRateGate(rate, 10); g.invalid != nil {
			t.Errorf("rate %v refused: %v", rate, g.invalid)
		}
	}
}

// Case 2: after a rollout rolled a candidate back, the same spec plans as
// a known-failed revision and Apply and Rollout refuse it; only
// AllowFailedRevision deploys it.
func TestCase2FailedCandidateDoesNotComeBack(t *testing.T) {
	ctx := t.Context()
	c := newCloud(t, nil)
	fns := openFns(t, c, "a", "b")
	deployed(t, fns, "1")
	_, err := Rollout(ctx, fns, testSpec("2"), rolloutOpts(Canary(10, 50), failAt(1)))
	if err == nil {
		t.Fatal("failing candidate promoted")
	}
	for _, fn := range fns {
		r := route(t, fn)
		if r.Verdicts == nil || !slices.Equal(r.Verdicts.Failed, []string{"2"}) {
			t.Fatalf("%s verdicts %+v", fn.Target(), r.Verdicts)
		}
	}
	p, err := Plan(ctx, fns, testSpec("2"), &PlanOptions{Bundle: noCache})
	if err != nil {
		t.Fatal(err)
	}
	if p.Targets[0].FailedRevision != "2" || !strings.Contains(p.String(), "the spec is revision 2, which failed a rollout") {
		t.Errorf("plan does not show the failed revision:\n%s", p)
	}
	c.ResetCounters()
	_, err = Apply(ctx, fns, testSpec("2"), applyOpts())
	if provider.Code(err) != provider.FailedPrecondition || !strings.Contains(err.Error(), "AllowFailedRevision") {
		t.Fatalf("apply of the failed revision: %v", err)
	}
	_, err = Rollout(ctx, fns, testSpec("2"), rolloutOpts(Canary(10)))
	if provider.Code(err) != provider.FailedPrecondition || !strings.Contains(err.Error(), "AllowFailedRevision") {
		t.Fatalf("rollout of the failed revision: %v", err)
	}
	if c.Mutations() != 0 {
		t.Errorf("refusals made %d mutations: %v", c.Mutations(), c.Calls())
	}
	wantStable(t, fns[0], "1")

	// The same code with a configuration fix is a warning, not a refusal.
	fixed := testSpec("2")
	fixed.Env["FEATURE"] = "off"
	p, err = Plan(ctx, fns, fixed, &PlanOptions{Bundle: noCache})
	if err != nil || p.Targets[0].FailedRevision != "" || p.Targets[0].FailedCode != "2" || !strings.Contains(p.String(), "the code is that of revision 2") {
		t.Fatalf("plan of a configuration fix: %v\n%s", err, p)
	}

	// The explicit option deploys it anyway: a rollout that then
	// completes makes it the last known good.
	ro := rolloutOpts(Canary(10))
	ro.AllowFailedRevision = true
	if _, err := Rollout(ctx, fns[:1], testSpec("2"), ro); err != nil {
		t.Fatal(err)
	}
	if r := route(t, fns[0]); r.Verdicts.Good != "2" || len(r.Verdicts.Failed) != 0 {
		t.Errorf("verdicts after a completed rollout: %+v", r.Verdicts)
	}
	o := applyOpts()
	o.AllowFailedRevision = true
	if _, err := Apply(ctx, fns[1:], testSpec("2"), o); err != nil {
		t.Fatal(err)
	}
	wantStable(t, fns[1], "2")
}

// Revert records the reverted candidate as failed; Apply over an expired
// marker says how to resume or revert it.
func TestRevertRecordsTheCandidateAsFailed(t *testing.T) {
	ctx := t.Context()
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	deployed(t, fns, "1")
	cctx, cancel := context.WithCancel(ctx)
	o := rolloutOpts(Canary(10, 50))
	o.Lease, o.RollbackTimeout = shortLease, 20*time.Millisecond
	o.OnEvent = func(e Event) {
		if e.Kind == EventShifted && e.Step == 1 {
			kill(c, cancel)
		}
	}
	if _, err := Rollout(cctx, fns, testSpec("2"), o); err == nil {
		t.Fatal("killed rollout succeeded")
	}
	c.ClearFaults()
	waitLeases(t, fns...)
	_, err := Apply(ctx, fns, testSpec("3"), applyOpts())
	if provider.Code(err) != provider.FailedPrecondition || !strings.Contains(err.Error(), "lease expired") || !strings.Contains(err.Error(), "Revert") {
		t.Fatalf("apply over an expired rollout: %v", err)
	}
	o = rolloutOpts(Canary(10, 50))
	o.Revert = true
	if res, err := Rollout(ctx, fns, testSpec("2"), o); err != nil || res.Outcome != OutcomeReverted {
		t.Fatalf("revert: %+v %v", res, err)
	}
	wantStable(t, fns[0], "1")
	if r := route(t, fns[0]); !r.Verdicts.IsFailed("2") {
		t.Errorf("verdicts after revert: %+v", r.Verdicts)
	}
}

// Case 3: Rollback goes to the last known good, not to an interrupted
// candidate; Prune keeps the last known good, deletes failed candidates
// first, and says why it kept each revision.
func TestCase3RollbackAndPrunePickTheGoodRevision(t *testing.T) {
	ctx := t.Context()
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	fn := fns[0]
	deployed(t, fns, "1")
	if _, err := Rollout(ctx, fns, testSpec("2"), rolloutOpts(Canary(10))); err != nil {
		t.Fatal(err)
	}
	if r := route(t, fn); r.Verdicts == nil || r.Verdicts.Good != "2" {
		t.Fatalf("last good after a completed rollout: %+v", r.Verdicts)
	}
	// Ctrl-C during v3's bake: rolled back, not a verdict on v3.
	cctx, cancel := context.WithCancel(ctx)
	o := rolloutOpts(Canary(10))
	o.Interval = time.Hour
	o.OnEvent = func(e Event) {
		if e.Kind == EventBaking {
			cancel()
		}
	}
	if _, err := Rollout(cctx, fns, testSpec("3"), o); provider.Code(err) != provider.Canceled {
		t.Fatalf("interrupted rollout: %v", err)
	}
	// v4 fails its gate: a failed candidate.
	if _, err := Rollout(ctx, fns, testSpec("4"), rolloutOpts(Canary(10), failAt(1))); err == nil {
		t.Fatal("failing candidate promoted")
	}
	// v5 is applied without a rollout.
	deployed(t, fns, "5")

	dry, err := Prune(ctx, fns, &PruneOptions{Keep: 2, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	tp := dry.Targets[0]
	// Keep 2 of the newest not failed: 5 and 3; 2 as the last good; the
	// failed 4 goes although it is newer than 3.
	if fmt.Sprint(tp.Kept) != "[2 3 5]" || fmt.Sprint(tp.Deleted) != "[1 4]" {
		t.Fatalf("prune keep 2: %+v", tp)
	}
	res, err := Prune(ctx, fns, &PruneOptions{Keep: 1})
	if err != nil {
		t.Fatal(err)
	}
	tp = res.Targets[0]
	if fmt.Sprint(tp.Kept) != "[2 5]" || fmt.Sprint(tp.Deleted) != "[1 3 4]" {
		t.Fatalf("prune keep 1: %+v", tp)
	}
	if tp.Reasons["2"] != "last known good of route live" || tp.Reasons["5"] != "serves route live" {
		t.Errorf("reasons %v", tp.Reasons)
	}
	rb, err := Rollback(ctx, fns, nil)
	if err != nil || rb.Targets[0].To != "2" || rb.Targets[0].Why != "last known good" {
		t.Fatalf("rollback: %+v %v", rb.Targets[0], err)
	}
	wantStable(t, fn, "2")
}

// Case 4: a Rollback during a shift cannot be undone by the shift: a
// live rollout refuses Rollback without TakeOver; with it, the rollout's
// next conditioned write fails and it stops without touching traffic.
func TestCase4RollbackDuringAShift(t *testing.T) {
	ctx := t.Context()
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	deployed(t, fns, "1")
	var once sync.Once
	inGate := Gate{Name: "rollback-now", Check: func(ctx context.Context, in *GateInput) error {
		once.Do(func() {
			if _, err := Rollback(ctx, fns, nil); provider.Code(err) != provider.FailedPrecondition || !strings.Contains(err.Error(), "lease is live") {
				t.Errorf("rollback of a live rollout: %v", err)
			}
			rb, err := Rollback(ctx, fns, &RollbackOptions{TakeOver: true})
			if err != nil || rb.Targets[0].To != "1" || rb.Targets[0].ClearedMarker == "" {
				t.Errorf("rollback with TakeOver: %+v %v", rb.Targets[0], err)
			}
		})
		return nil
	}}
	res, err := Rollout(ctx, fns, testSpec("2"), rolloutOpts(Canary(10, 50), inGate))
	if provider.Code(err) != provider.FailedPrecondition || !strings.Contains(err.Error(), "taken over by a Rollback") {
		t.Fatalf("rollout after the rollback: %v", err)
	}
	if res.Targets[0].Outcome != OutcomeFailed {
		t.Errorf("outcome %s", res.Targets[0].Outcome)
	}
	wantStable(t, fns[0], "1")
	o := rolloutOpts(Canary(10, 50))
	o.Revert = true
	if res, err := Rollout(ctx, fns, testSpec("2"), o); err != nil || res.Outcome != OutcomeUnchanged {
		t.Fatalf("revert: %v %v", res, err)
	}
	wantStable(t, fns[0], "1")
}

// Case 5: a second rollout by the same holder of the same spec is refused
// while the first's lease is live, naming holder, rollout and expiry; a
// holder that died is resumed without TakeOver once its lease expires.
func TestCase5SameHolderIsRefusedWhileTheLeaseIsLive(t *testing.T) {
	ctx := t.Context()
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	deployed(t, fns, "1")
	inGate, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hold := Gate{Name: "hold", Check: func(ctx context.Context, in *GateInput) error {
		once.Do(func() { close(inGate) })
		<-release
		return nil
	}}
	done := make(chan error, 1)
	go func() {
		o := rolloutOpts(Canary(10), hold)
		o.ID = "r-first"
		o.Holder = "" // the default holder, $USER@host
		_, err := Rollout(ctx, fns, testSpec("2"), o)
		done <- err
	}()
	<-inGate
	o := rolloutOpts(Canary(10))
	o.Holder = ""
	_, err := Rollout(ctx, fns, testSpec("2"), o)
	if provider.Code(err) != provider.FailedPrecondition || !strings.Contains(err.Error(), "rollout r-first by "+defaultHolder()) ||
		!strings.Contains(err.Error(), "lease is live until") {
		t.Fatalf("second rollout by the same holder: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the first rollout was disturbed: %v", err)
	}
	wantStable(t, fns[0], "2")

	// The holder dies at step 1: refused while its lease is live, resumed
	// without TakeOver once it expired.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	o = rolloutOpts(Canary(10, 50))
	o.Lease, o.RollbackTimeout = 2*time.Second, 20*time.Millisecond
	o.OnEvent = func(e Event) {
		if e.Kind == EventShifted && e.Step == 1 {
			kill(c, cancel)
		}
	}
	if _, err := Rollout(cctx, fns, testSpec("3"), o); err == nil {
		t.Fatal("killed rollout succeeded")
	}
	c.ClearFaults()
	if _, err := Rollout(ctx, fns, testSpec("3"), rolloutOpts(Canary(10, 50))); provider.Code(err) != provider.FailedPrecondition {
		t.Fatalf("resume while the lease is live: %v", err)
	}
	waitLeases(t, fns...)
	res, err := Rollout(ctx, fns, testSpec("3"), rolloutOpts(Canary(10, 50)))
	if err != nil || res.Targets[0].ResumedAt != 1 {
		t.Fatalf("resume after the lease expired: %+v %v", res, err)
	}
	wantStable(t, fns[0], "3")
}

// Case 6: a NotFound read while planning an existing function does not
// make the rollout "create" it: the create is conditioned (IfNotExist, or
// the created flag Apply reports), so the rollout fails and moves nothing.
func TestCase6TransientNotFoundIsNotACreate(t *testing.T) {
	ctx := t.Context()
	c := newCloud(t, nil)
	fns := openFns(t, c, "a", "b")
	deployed(t, fns, "1")
	c.InjectFault(memprovider.Fault{Op: memprovider.OpGet, Function: "b", Code: provider.NotFound, Message: "function b does not exist (eventual consistency)"})
	res, err := Rollout(ctx, fns, testSpec("2"), rolloutOpts(Canary(10, 50), failAt(1)))
	if provider.Code(err) != provider.AlreadyExists || !strings.Contains(err.Error(), "mem://b: apply:") {
		t.Fatalf("rollout over a NotFound read: %v", err)
	}
	if res.Targets[1].Outcome == OutcomeCreated || res.Targets[1].Outcome != OutcomeFailed || len(res.Targets[1].Gates) != 0 {
		t.Errorf("b: %+v", res.Targets[1])
	}
	for _, fn := range fns {
		wantStable(t, fn, "1")
	}
	// A NotFound read mid-rollout (the re-read after a stale marker
	// write) is an error too, never a route to create.
	c.InjectFault(memprovider.Fault{Op: memprovider.OpGet, Function: "b", After: 1, Times: -1, Code: provider.NotFound})
	c.InjectFault(memprovider.Fault{Op: memprovider.OpSetMarker, Function: "b", Code: provider.FailedPrecondition})
	res, err = Rollout(ctx, fns, testSpec("3"), rolloutOpts(Canary(10)))
	if provider.Code(err) != provider.NotFound || !strings.Contains(err.Error(), "mem://b: marker:") || res.Targets[1].Outcome == OutcomeCreated {
		t.Fatalf("rollout over a NotFound mid-rollout read: %v", err)
	}
	c.ClearFaults()
	for _, fn := range fns {
		wantStable(t, fn, "1")
	}
}

// Case 7: a target created by the rollout is rolled back with the rest:
// the function it created is deleted when another target fails a gate;
// it is gated and recorded as good when all pass.
func TestCase7NewTargetsAreInTheLockstep(t *testing.T) {
	ctx := t.Context()
	c := newCloud(t, nil)
	fns := openFns(t, c, "a", "b", "c")
	deployed(t, fns[:2], "1")
	gate := Gate{Name: "health", Check: func(ctx context.Context, in *GateInput) error {
		if in.Target == "mem://b" && in.Candidate == "2" {
			return errors.New("p99 too high")
		}
		return nil
	}}
	res, err := Rollout(ctx, fns, testSpec("2"), rolloutOpts(Canary(10, 50), gate))
	var ge *GateError
	if !errors.As(err, &ge) || ge.Target != "mem://b" {
		t.Fatalf("error %v", err)
	}
	if res.Targets[2].Outcome != OutcomeRolledBack {
		t.Errorf("new target c: %+v", res.Targets[2])
	}
	if _, err := fns[2].Get(ctx); provider.Code(err) != provider.NotFound {
		t.Fatalf("c still exists after the rollback: %v", err)
	}
	wantStable(t, fns[0], "1")
	wantStable(t, fns[1], "1")

	res, err = Rollout(ctx, fns, testSpec("3"), rolloutOpts(Canary(10, 50), gate, InvokeGate(nil)))
	if err != nil {
		t.Fatal(err)
	}
	tc := res.Targets[2]
	if tc.Outcome != OutcomeCreated || len(tc.Gates) != 6 {
		t.Errorf("new target c: %+v", tc)
	}
	if r := route(t, fns[2]); r.Marker != nil || r.Verdicts == nil || r.Verdicts.Good != tc.Candidate {
		t.Errorf("c route %+v %+v", r.Marker, r.Verdicts)
	}
}

// Issue 9: a panic in a gate is an Internal error for its target, and a
// panic in a plan worker is too; neither crashes the caller.
func TestPanicsBecomeInternalErrors(t *testing.T) {
	c := newCloud(t, nil)
	fns := openFns(t, c, "a", "b")
	deployed(t, fns, "1")
	boom := Gate{Name: "boom", Check: func(ctx context.Context, in *GateInput) error {
		if in.Target == "mem://b" {
			panic("nil map")
		}
		return nil
	}}
	_, err := Rollout(t.Context(), fns, testSpec("2"), rolloutOpts(Canary(10), boom))
	var ge *GateError
	if !errors.As(err, &ge) || ge.Target != "mem://b" || provider.Code(ge.Err) != provider.Internal || !strings.Contains(err.Error(), "panic: nil map") {
		t.Fatalf("panicking gate: %v", err)
	}
	for _, fn := range fns {
		wantStable(t, fn, "1")
	}
	errs := forEach(3, 2, func(i int) error {
		if i == 1 {
			panic("worker")
		}
		return nil
	})
	if errs[0] != nil || provider.Code(errs[1]) != provider.Internal || errs[2] != nil {
		t.Fatalf("forEach: %v", errs)
	}
}

// Issue 9: errors say target and step once, and every layer a caller can
// reach with errors.As is redacted.
func TestErrorsReadWellAndRedactEveryLayer(t *testing.T) {
	c := newCloud(t, nil)
	fns := openFns(t, c, "m1")
	s := testSpec("1")
	s.MemoryMB = 1
	_, err := Plan(t.Context(), fns, s, &PlanOptions{Bundle: noCache})
	if err == nil {
		p, _ := Plan(t.Context(), fns, s, &PlanOptions{Bundle: noCache})
		err = p.Err()
	}
	msg := fmt.Sprint(err)
	t.Log(msg)
	if strings.Count(msg, "mem://m1") != 1 || strings.Contains(strings.ToLower(msg), "validate: validate") || strings.Contains(msg, "(Unknown) (Unknown)") {
		t.Errorf("repeated prefixes: %s", msg)
	}

	const secret = "ghp_abcdefghijklmnopqrstuvwxyz0123"
	c2 := newCloud(t, &memprovider.Options{Handler: func(ctx context.Context, inv *memprovider.Invocation) ([]byte, error) {
		if inv.Env["VERSION"] == "2" {
			return nil, errors.New("token " + inv.Env["GH_TOKEN"] + " rejected")
		}
		return nil, nil
	}})
	fns = openFns(t, c2, "a")
	deployed(t, fns, "1")
	s = testSpec("2")
	s.Env["GH_TOKEN"] = secret
	_, err = Rollout(t.Context(), fns, s, rolloutOpts(Canary(10), InvokeGate(nil)))
	var te *TargetError
	var ge *GateError
	for _, e := range []error{err, errors.Unwrap(err)} {
		if e != nil && strings.Contains(e.Error(), "ghp_") {
			t.Errorf("secret in %T: %v", e, e)
		}
	}
	if !errors.As(err, &ge) || strings.Contains(ge.Error(), "ghp_") || strings.Contains(fmt.Sprint(ge.Err), "ghp_") {
		t.Errorf("GateError layer: %v", ge)
	}
	if errors.As(err, &te) && strings.Contains(te.Error(), "ghp_") {
		t.Errorf("TargetError layer: %v", te)
	}
	// Walk every layer.
	var walk func(e error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if strings.Contains(e.Error(), "ghp_") {
			t.Errorf("secret in layer %T: %v", e, e)
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, w := range u.Unwrap() {
				walk(w)
			}
		}
	}
	walk(err)
	if provider.Code(err) != provider.FailedPrecondition {
		t.Errorf("code after redaction: %v", provider.Code(err))
	}
}

// A gate that stops the rollout with Stop (a lockstep barrier, an
// operator) rolls back without recording the candidate as failed, and a
// gate that could not judge (a failed provider call) does not either.
func TestStopAndUnjudgedFailuresRecordNoVerdict(t *testing.T) {
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	deployed(t, fns, "1")
	stop := Gate{Name: "barrier", Check: func(ctx context.Context, in *GateInput) error {
		return Stop("function other failed: every function rolls back with it")
	}}
	res, err := Rollout(t.Context(), fns, testSpec("2"), rolloutOpts(Canary(10), stop))
	if err == nil || res.Outcome != OutcomeRolledBack || provider.Code(err) != provider.FailedPrecondition {
		t.Fatalf("stopped rollout: %v %v", res.Outcome, err)
	}
	c.InjectFault(memprovider.Fault{Op: memprovider.OpInvoke, Code: provider.ResourceExhausted})
	if _, err := Rollout(t.Context(), fns, testSpec("2"), rolloutOpts(Canary(10), InvokeGate(nil))); err == nil {
		t.Fatal("rollout passed a throttled smoke invoke")
	}
	if r := route(t, fns[0]); r.Verdicts != nil && len(r.Verdicts.Failed) > 0 {
		t.Fatalf("verdicts %+v", r.Verdicts)
	}
	wantStable(t, fns[0], "1")
	if _, err := Rollout(t.Context(), fns, testSpec("2"), rolloutOpts(Canary(10))); err != nil {
		t.Fatalf("the same spec after a stop: %v", err)
	}
}

// A target that cannot invoke a revision before it serves traffic (Azure
// Flex Consumption answers Unimplemented) skips the smoke invoke at 0% and
// runs it once the candidate serves; a failure then still rolls back.
func TestInvokeGateSkipsUnservedOnlyAtZero(t *testing.T) {
	c := memprovider.NewCloud(nil)
	fns := openFns(t, c, "flex")
	deployed(t, fns, "1")
	c.InjectFault(memprovider.Fault{Op: memprovider.OpInvoke, Code: provider.Unimplemented, Times: 1})
	res, err := Rollout(t.Context(), fns, testSpec("2"), rolloutOpts(BlueGreen(), InvokeGate(nil)))
	if err != nil || res.Outcome != OutcomeSucceeded {
		t.Fatalf("blue/green with an unservable 0%% invoke: %v %v", res.Outcome, err)
	}
	g := res.Targets[0].Gates
	if len(g) != 2 || g[0].Result != GateSkipped || g[0].Percent != 0 || g[1].Result != GatePassed || g[1].Percent != 100 {
		t.Fatalf("gates %+v: want skipped at 0%%, passed at 100%%", g)
	}
	// Unimplemented once the candidate serves is a failure, not a pass.
	c.InjectFault(memprovider.Fault{Op: memprovider.OpInvoke, Code: provider.Unimplemented, Times: -1})
	if _, err := Rollout(t.Context(), fns, testSpec("3"), rolloutOpts(BlueGreen(), InvokeGate(nil))); err == nil {
		t.Fatal("a candidate that could never be invoked was promoted")
	}
	wantStable(t, fns[0], "2")
}
