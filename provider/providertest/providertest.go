// Package providertest is the conformance suite every provider adapter
// passes. It runs through the portable *provider.Function, asserts error
// codes rather than messages, and skips features an adapter reports as
// Unimplemented.
//
// An adapter's test file supplies a Harness:
//
//	func TestConformance(t *testing.T) {
//		providertest.RunConformanceTests(t, newHarness, nil)
//	}
//
// and benchmarks the same harness with RunBenchmarks, as the Go CDK's
// drivertest does:
//
//	func BenchmarkConformance(b *testing.B) {
//		providertest.RunBenchmarks(b, newBenchHarness(b))
//	}
package providertest

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// Harness supplies drivers for one test. Each test gets a new Harness.
type Harness interface {
	// MakeDriver returns a driver for the test's function. Every call in
	// one test refers to the same function, which does not exist at first.
	MakeDriver(ctx context.Context) (driver.Function, error)
	// MakeDriverForNonexistentFunction returns a driver for a function that
	// never exists.
	MakeDriverForNonexistentFunction(ctx context.Context) (driver.Function, error)
	// Spec returns a small valid spec for this target (its code, runtime
	// and entrypoint). Tests change Env to force new revisions.
	Spec(ctx context.Context) (*provider.Spec, error)
	// Triggers returns three valid triggers of kinds the target supports,
	// with distinct keys, or nil if it supports none.
	Triggers() []trigger.Trigger
	// Close releases the harness's resources.
	Close()
}

// HarnessMaker makes a Harness for one test.
type HarnessMaker func(ctx context.Context, t *testing.T) (Harness, error)

// AsTest checks an adapter's As escape hatches.
type AsTest interface {
	// Name names the test.
	Name() string
	// FunctionCheck is called with an open function.
	FunctionCheck(fn *provider.Function) error
	// ErrorCheck is called with an error the function returned (from Get
	// on a missing function).
	ErrorCheck(fn *provider.Function, err error) error
	// BeforeApply is called from ApplyOptions.BeforeApply with its asFunc.
	BeforeApply(as func(any) bool) error
}

type fixture struct {
	t    *testing.T
	ctx  context.Context
	h    Harness
	fn   *provider.Function
	spec *provider.Spec
}

func setup(t *testing.T, mk HarnessMaker) *fixture {
	t.Helper()
	ctx := t.Context()
	h, err := mk(ctx, t)
	if err != nil {
		t.Fatalf("making harness: %v", err)
	}
	t.Cleanup(h.Close)
	d, err := h.MakeDriver(ctx)
	if err != nil {
		t.Fatalf("making driver: %v", err)
	}
	fn := provider.NewFunction(d)
	t.Cleanup(func() { fn.Close() })
	spec, err := h.Spec(ctx)
	if err != nil {
		t.Fatalf("harness spec: %v", err)
	}
	return &fixture{t: t, ctx: ctx, h: h, fn: fn, spec: spec}
}

// apply applies s with Publish and fails the test on error.
func (f *fixture) apply(s *provider.Spec) *provider.ApplyResult {
	f.t.Helper()
	res, err := f.fn.Apply(f.ctx, s, &provider.ApplyOptions{Publish: true})
	if err != nil {
		f.t.Fatalf("Apply: %v", err)
	}
	return res
}

func (f *fixture) get() *provider.State {
	f.t.Helper()
	st, err := f.fn.Get(f.ctx)
	if err != nil {
		f.t.Fatalf("Get: %v", err)
	}
	return st
}

func (f *fixture) route(st *provider.State) *provider.Route {
	f.t.Helper()
	name := f.spec.Route
	if name == "" {
		name = provider.DefaultRoute
	}
	r := st.Routes[name]
	if r == nil {
		f.t.Fatalf("route %q missing from state; routes: %v", name, slices.Collect(maps.Keys(st.Routes)))
	}
	return r
}

func wantCode(t *testing.T, what string, err error, want provider.ErrorCode) {
	t.Helper()
	if got := provider.Code(err); got != want {
		t.Fatalf("%s: got code %v (err %v), want %v", what, got, err, want)
	}
}

func ptr(n int) *int { return &n }

// cases is the suite, in the order it runs.
var cases = []struct {
	name string
	run  func(*testing.T, HarnessMaker)
}{
	{"NotFound", testNotFound},
	{"Create", testCreate},
	{"CreateRace", testCreateRace},
	{"IdempotentApply", testIdempotent},
	{"BackToBackUpdates", testBackToBack},
	{"InvalidInput", testInvalid},
	{"Publish", testPublish},
	{"Traffic", testTraffic},
	{"Preconditions", testPreconditions},
	{"DeleteRevision", testDeleteRevision},
	{"NilVersusEmpty", testNilVersusEmpty},
	{"TriggersByKey", testTriggers},
	{"Provisioned", testProvisioned},
	{"Marker", testMarker},
	{"Verdicts", testVerdicts},
	{"RouteUpdate", testRouteUpdate},
	{"Invoke", testInvoke},
	{"Canceled", testCanceled},
	{"CanceledDuringApply", testCanceledDuringApply},
	{"Metrics", testMetrics},
	{"Closed", testClosed},
	{"Delete", testDelete},
}

// Cases lists the names of the conformance tests in the order they run;
// each is a subtest of RunConformanceTests, followed by one As/NAME
// subtest per AsTest.
func Cases() []string {
	names := make([]string, len(cases))
	for i, c := range cases {
		names[i] = c.name
	}
	return names
}

// RunConformanceTests runs the suite against the drivers newHarness makes.
func RunConformanceTests(t *testing.T, newHarness HarnessMaker, asTests []AsTest) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, newHarness) })
	}
	asTests = append([]AsTest{verifyAsFailsOnNil{}}, asTests...)
	for _, at := range asTests {
		t.Run("As/"+at.Name(), func(t *testing.T) { testAs(t, newHarness, at) })
	}
}

func testNotFound(t *testing.T, mk HarnessMaker) {
	ctx := t.Context()
	h, err := mk(ctx, t)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	d, err := h.MakeDriverForNonexistentFunction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fn := provider.NewFunction(d)
	defer fn.Close()
	_, err = fn.Get(ctx)
	wantCode(t, "Get of a missing function", err, provider.NotFound)
	if !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("errors.Is(err, ErrNotFound) = false for %v", err)
	}
	_, err = fn.Revisions(ctx)
	wantCode(t, "Revisions of a missing function", err, provider.NotFound)
	wantCode(t, "Delete of a missing function", fn.Delete(ctx), provider.NotFound)
	wantCode(t, "SetTraffic on a missing function", fn.SetTraffic(ctx, "", provider.Traffic{Stable: "1"}, nil), provider.NotFound)
}

func testCreate(t *testing.T, mk HarnessMaker) {
	f := setup(t, mk)
	s := f.spec.Clone()
	s.MemoryMB = f.fn.Capabilities().DefaultMemoryMB
	s.Env = map[string]string{"GREETING": "hello"}
	res := f.apply(s)
	if !res.Created || !res.Changed || res.Revision == nil || res.UploadedBytes == 0 {
		t.Fatalf("first Apply: got %+v, want Created, Changed, a revision and uploaded bytes", res)
	}
	st := f.get()
	if st.Config.Env["GREETING"] != "hello" || st.Config.MemoryMB != s.MemoryMB {
		t.Errorf("state config = %+v, want GREETING=hello and %d MB", st.Config, s.MemoryMB)
	}
	if st.Config.CodeDigest == "" || st.Config.CodeDigest != res.Revision.CodeDigest {
		t.Errorf("code digest: state %q, revision %q", st.Config.CodeDigest, res.Revision.CodeDigest)
	}
	if r := f.route(st); r.Traffic.Stable != res.Revision.ID || r.Traffic.Candidate != "" {
		t.Errorf("route traffic = %+v, want all on %s", r.Traffic, res.Revision.ID)
	}
}

// testCreateRace: a create conditioned with IfNotExist creates a missing
// function, and fails with AlreadyExists, changing nothing, on one that
// exists, as the loser of two plans that both said "create" must.
func testCreateRace(t *testing.T, mk HarnessMaker) {
	f := setup(t, mk)
	s := f.spec.Clone()
	s.Env = map[string]string{"VER": "1"}
	res, err := f.fn.Apply(f.ctx, s, &provider.ApplyOptions{Publish: true, IfNotExist: true})
	if err != nil {
		t.Fatalf("Apply with IfNotExist of a missing function: %v", err)
	}
	if !res.Created {
		t.Fatalf("Apply with IfNotExist of a missing function: got %+v, want Created", res)
	}
	before := f.get()
	s.Env = map[string]string{"VER": "2"}
	_, err = f.fn.Apply(f.ctx, s, &provider.ApplyOptions{Publish: true, IfNotExist: true})
	wantCode(t, "Apply with IfNotExist of an existing function", err, provider.AlreadyExists)
	if !errors.Is(err, provider.ErrAlreadyExists) {
		t.Errorf("errors.Is(err, ErrAlreadyExists) = false for %v", err)
	}
	after := f.get()
	if after.ETag != before.ETag || after.Config.Env["VER"] != "1" {
		t.Errorf("the losing create changed the function: etag %s → %s, VER=%q", before.ETag, after.ETag, after.Config.Env["VER"])
	}
	revs, err := f.fn.Revisions(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 1 || revs[0].ID != res.Revision.ID {
		t.Errorf("revisions after the losing create = %v, want only %s", revIDs(revs), res.Revision.ID)
	}
}

func testIdempotent(t *testing.T, mk HarnessMaker) {
	f := setup(t, mk)
	s := f.spec.Clone()
	s.Env = map[string]string{"AB": "1"}
	first := f.apply(s)
	second := f.apply(s.Clone())
	if second.Changed || second.Published || second.Created || second.UploadedBytes != 0 {
		t.Errorf("re-apply of the same spec: got %+v, want no change, no publish, no upload", second)
	}
	if second.Revision == nil || second.Revision.ID != first.Revision.ID {
		t.Errorf("re-apply returned revision %+v, want %s", second.Revision, first.Revision.ID)
	}
	revs, err := f.fn.Revisions(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 1 {
		t.Errorf("got %d revisions after two identical applies, want 1", len(revs))
	}
}

func testBackToBack(t *testing.T, mk HarnessMaker) {
	f := setup(t, mk)
	s := f.spec.Clone()
	for _, v := range []string{"1", "2", "3"} {
		s.Env = map[string]string{"VER": v}
		if _, err := f.fn.Apply(f.ctx, s, nil); err != nil {
			t.Fatalf("Apply VER=%s right after the previous one: %v", v, err)
		}
	}
	if got := f.get().Config.Env["VER"]; got != "3" {
		t.Errorf("after three updates VER = %q, want 3", got)
	}
}

func testInvalid(t *testing.T, mk HarnessMaker) {
	f := setup(t, mk)
	caps := f.fn.Capabilities()
	s := f.spec.Clone()
	s.MemoryMB = 1 << 20
	s.Timeout = -1
	s.Env = map[string]string{"1BAD": "x"}
	_, err := f.fn.Apply(f.ctx, s, nil)
	wantCode(t, "Apply with bad memory, timeout and env", err, provider.InvalidArgument)
	var ve *provider.ValidationError
	if !errors.As(err, &ve) || len(ve.Violations) < 3 {
		t.Fatalf("want a ValidationError listing all three problems, got %v", err)
	}
	_, err = f.fn.Get(f.ctx)
	wantCode(t, "Get after a rejected Apply", err, provider.NotFound)
	if caps.Memory.Max > 0 || len(caps.MemoryValues) > 0 {
		s = f.spec.Clone()
		s.MemoryMB = caps.Memory.Max + 1
		if len(caps.MemoryValues) > 0 {
			s.MemoryMB = slices.Max(caps.MemoryValues) + 1
		}
		wantCode(t, "Validate memory above the limit", f.fn.Validate(s), provider.InvalidArgument)
	}
	wantCode(t, "SetTraffic with 101%", f.fn.SetTraffic(f.ctx, "", provider.Traffic{Stable: "1", Candidate: "2", CandidatePercent: 101}, nil), provider.InvalidArgument)
}

func testPublish(t *testing.T, mk HarnessMaker) {
	f := setup(t, mk)
	s := f.spec.Clone()
	s.Env = map[string]string{"VER": "1"}
	r1 := f.apply(s).Revision
	s.Env = map[string]string{"VER": "2"}
	res := f.apply(s)
	if !res.Published || res.Revision.ID == r1.ID {
		t.Fatalf("changed env: got %+v, want a new revision", res)
	}
	revs, err := f.fn.Revisions(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 2 || revs[0].ID != r1.ID || revs[1].ID != res.Revision.ID {
		t.Fatalf("revisions = %v, want [%s %s] oldest first", revIDs(revs), r1.ID, res.Revision.ID)
	}
	if revs[0].Config.Env["VER"] != "1" || revs[1].Config.Env["VER"] != "2" {
		t.Errorf("revisions are not immutable snapshots: %v / %v", revs[0].Config.Env, revs[1].Config.Env)
	}
	// Publishing does not move the route: rollouts do that.
	if r := f.route(f.get()); r.Traffic.Stable != r1.ID {
		t.Errorf("route moved to %+v on publish, want it to stay on %s", r.Traffic, r1.ID)
	}
}

func revIDs(rs []*provider.Revision) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// twoRevisions creates the function with two revisions and returns them.
func (f *fixture) twoRevisions() (string, string) {
	s := f.spec.Clone()
	s.Env = map[string]string{"VER": "1"}
	r1 := f.apply(s).Revision.ID
	s.Env = map[string]string{"VER": "2"}
	r2 := f.apply(s).Revision.ID
	return r1, r2
}

func testTraffic(t *testing.T, mk HarnessMaker) {
	f := setup(t, mk)
	r1, r2 := f.twoRevisions()
	split := provider.Traffic{Stable: r1, Candidate: r2, CandidatePercent: 10}
	err := f.fn.SetTraffic(f.ctx, "", split, nil)
	if provider.Code(err) == provider.Unimplemented {
		if f.fn.Capabilities().WeightedTraffic {
			t.Fatalf("SetTraffic 10%% returned Unimplemented but Capabilities.WeightedTraffic is true")
		}
		t.Log("weighted traffic unsupported; checking swap only")
	} else if err != nil {
		t.Fatalf("SetTraffic 90/10: %v", err)
	} else if got := f.route(f.get()).Traffic; got != split {
		t.Errorf("traffic read back %+v, want %+v", got, split)
	}
	if err := f.fn.SetTraffic(f.ctx, "", provider.Traffic{Stable: r1, Candidate: r2, CandidatePercent: 100}, nil); err != nil {
		t.Fatalf("SetTraffic 100%% candidate: %v", err)
	}
	if got := f.route(f.get()).Traffic; got != (provider.Traffic{Stable: r2}) {
		t.Errorf("after 100%% candidate traffic = %+v, want all on %s", got, r2)
	}
	err = f.fn.SetTraffic(f.ctx, "", provider.Traffic{Stable: "999999"}, nil)
	wantCode(t, "SetTraffic to a missing revision", err, provider.NotFound)
}

func testPreconditions(t *testing.T, mk HarnessMaker) {
	f := setup(t, mk)
	r1, r2 := f.twoRevisions()
	st := f.get()
	etag := f.route(st).ETag
	if err := f.fn.SetTraffic(f.ctx, "", provider.Traffic{Stable: r2}, &provider.ConditionOptions{IfMatch: etag}); err != nil {
		t.Fatalf("SetTraffic with the current etag: %v", err)
	}
	err := f.fn.SetTraffic(f.ctx, "", provider.Traffic{Stable: r1}, &provider.ConditionOptions{IfMatch: etag})
	wantCode(t, "SetTraffic with a stale etag", err, provider.FailedPrecondition)
	if got := f.route(f.get()).Traffic.Stable; got != r2 {
		t.Errorf("stale SetTraffic changed traffic to %s", got)
	}
	s := f.spec.Clone()
	s.Env = map[string]string{"VER": "3"}
	f.apply(s) // another deployer changes the function after st was read
	s.Env = map[string]string{"VER": "4"}
	if _, err := f.fn.Apply(f.ctx, s, &provider.ApplyOptions{IfMatch: st.ETag}); provider.Code(err) != provider.FailedPrecondition {
		t.Errorf("Apply with a stale function etag: got %v, want FailedPrecondition", err)
	}
	cur := f.get().ETag
	if _, err := f.fn.Apply(f.ctx, s, &provider.ApplyOptions{IfMatch: cur}); err != nil {
		t.Errorf("Apply with the current etag: %v", err)
	}
}

func testDeleteRevision(t *testing.T, mk HarnessMaker) {
	f := setup(t, mk)
	r1, r2 := f.twoRevisions()
	wantCode(t, "DeleteRevision of the serving revision", f.fn.DeleteRevision(f.ctx, r1), provider.FailedPrecondition)
	if err := f.fn.DeleteRevision(f.ctx, r2); err != nil {
		t.Fatalf("DeleteRevision of an unreferenced revision: %v", err)
	}
	revs, err := f.fn.Revisions(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ids := revIDs(revs); slices.Contains(ids, r2) || !slices.Contains(ids, r1) {
		t.Errorf("revisions after delete = %v, want %s kept and %s gone", ids, r1, r2)
	}
	wantCode(t, "DeleteRevision of a deleted revision", f.fn.DeleteRevision(f.ctx, r2), provider.NotFound)
}

func testNilVersusEmpty(t *testing.T, mk HarnessMaker) {
	f := setup(t, mk)
	s := f.spec.Clone()
	s.Env = map[string]string{"KEEP": "1"}
	s.Labels = map[string]string{"team": "core"}
	f.apply(s)

	s.Env, s.Labels = nil, nil
	f.apply(s)
	st := f.get()
	if st.Config.Env["KEEP"] != "1" || st.Config.Labels["team"] != "core" {
		t.Errorf("nil Env/Labels changed live values: env %v labels %v", st.Config.Env, st.Config.Labels)
	}
	s.Env, s.Labels = map[string]string{}, map[string]string{}
	f.apply(s)
	st = f.get()
	if len(st.Config.Env) != 0 || len(st.Config.Labels) != 0 {
		t.Errorf("empty Env/Labels did not clear: env %v labels %v", st.Config.Env, st.Config.Labels)
	}
}

func testTriggers(t *testing.T, mk HarnessMaker) {
	f := setup(t, mk)
	ts := f.h.Triggers()
	if len(ts) < 3 {
		t.Skip("harness supplies fewer than three triggers")
	}
	a, b, c := ts[0], ts[1], ts[2]
	s := f.spec.Clone()
	s.Triggers = []trigger.Trigger{a, b}
	f.apply(s)
	if got := keys(f.get().Triggers); !slices.Equal(got, sortedKeys(a, b)) {
		t.Fatalf("triggers = %v, want %v", got, sortedKeys(a, b))
	}
	s.Triggers = nil
	f.apply(s)
	if got := keys(f.get().Triggers); !slices.Equal(got, sortedKeys(a, b)) {
		t.Fatalf("nil Triggers changed them to %v", got)
	}
	s.Triggers = []trigger.Trigger{a, c}
	f.apply(s)
	if got := keys(f.get().Triggers); !slices.Equal(got, sortedKeys(a, c)) {
		t.Fatalf("after replacing %s by %s triggers = %v", b.TriggerKey(), c.TriggerKey(), got)
	}
	s.Triggers = []trigger.Trigger{}
	f.apply(s)
	if got := f.get().Triggers; len(got) != 0 {
		t.Fatalf("empty Triggers left %v", keys(got))
	}
}

func keys(ts []trigger.Trigger) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.TriggerKey()
	}
	slices.Sort(out)
	return out
}

func sortedKeys(ts ...trigger.Trigger) []string { return keys(ts) }

func testProvisioned(t *testing.T, mk HarnessMaker) {
	f := setup(t, mk)
	s := f.spec.Clone()
	s.Concurrency.Provisioned = ptr(2)
	_, err := f.fn.Apply(f.ctx, s, &provider.ApplyOptions{Publish: true})
	if provider.Code(err) == provider.Unimplemented {
		if f.fn.Capabilities().Provisioned {
			t.Fatal("Apply with provisioned concurrency returned Unimplemented but Capabilities.Provisioned is true")
		}
		t.Skip("provisioned concurrency unsupported")
	}
	if err != nil {
		t.Fatalf("Apply with provisioned 2: %v", err)
	}
	p := f.route(f.get()).Provisioned
	if p == nil || p.Requested != 2 || p.Status != "READY" {
		t.Fatalf("provisioned after Apply = %+v, want 2 READY", p)
	}
	s.Concurrency.Provisioned = nil
	f.apply(s)
	if p := f.route(f.get()).Provisioned; p == nil || p.Requested != 2 {
		t.Fatalf("nil Provisioned changed it to %+v", p)
	}
	s.Concurrency.Provisioned = ptr(0)
	f.apply(s)
	if p := f.route(f.get()).Provisioned; p != nil {
		t.Fatalf("Provisioned 0 left %+v", p)
	}
}

func testMarker(t *testing.T, mk HarnessMaker) {
	f := setup(t, mk)
	r1, r2 := f.twoRevisions()
	m := &provider.Marker{ID: "ro-1", Holder: "ci-42", Stable: r1, Candidate: r2, Step: 1, Percent: 10}
	if err := f.fn.SetMarker(f.ctx, "", m, nil); err != nil {
		t.Fatalf("SetMarker: %v", err)
	}
	got := f.route(f.get()).Marker
	if got == nil || got.ID != m.ID || got.Holder != m.Holder || got.Stable != r1 || got.Candidate != r2 || got.Step != 1 || got.Percent != 10 {
		t.Fatalf("marker read back %+v, want %+v", got, m)
	}
	if err := f.fn.SetMarker(f.ctx, "", nil, nil); err != nil {
		t.Fatalf("clearing the marker: %v", err)
	}
	if got := f.route(f.get()).Marker; got != nil {
		t.Fatalf("marker after clear = %+v", got)
	}
	wantCode(t, "SetMarker on a missing route", f.fn.SetMarker(f.ctx, "nosuchroute", m, nil), provider.NotFound)
}

// testVerdicts: verdicts and a leased marker are stored beside each other
// on the route, each write keeps the other, and both read back whole.
func testVerdicts(t *testing.T, mk HarnessMaker) {
	f := setup(t, mk)
	r1, r2 := f.twoRevisions()
	hb := time.UnixMilli(time.Now().UnixMilli())
	m := &provider.Marker{ID: "ro-2", Holder: "ci-7", Stable: r1, Candidate: r2, Step: 1, Percent: 0, Started: hb, Heartbeat: hb, Lease: 90 * time.Second}
	if err := f.fn.SetMarker(f.ctx, "", m, nil); err != nil {
		t.Fatalf("SetMarker: %v", err)
	}
	v := provider.Verdicts{Good: r1, Failed: []string{r2}}
	if err := f.fn.SetVerdicts(f.ctx, "", v, nil); err != nil {
		t.Fatalf("SetVerdicts: %v", err)
	}
	rt := f.route(f.get())
	if rt.Marker == nil || rt.Marker.ID != m.ID || !rt.Marker.Heartbeat.Equal(hb) || rt.Marker.Lease != m.Lease {
		t.Fatalf("SetVerdicts lost or changed the marker's lease: %+v", rt.Marker)
	}
	if rt.Verdicts == nil || rt.Verdicts.Good != r1 || !rt.Verdicts.IsFailed(r2) || len(rt.Verdicts.Failed) != 1 {
		t.Fatalf("verdicts read back %+v, want %+v", rt.Verdicts, v)
	}
	if err := f.fn.SetMarker(f.ctx, "", nil, nil); err != nil {
		t.Fatalf("clearing the marker: %v", err)
	}
	if rt := f.route(f.get()); rt.Marker != nil || rt.Verdicts == nil || rt.Verdicts.Good != r1 {
		t.Fatalf("clearing the marker changed the verdicts: marker %+v verdicts %+v", rt.Marker, rt.Verdicts)
	}
	wantCode(t, "SetVerdicts on a missing route", f.fn.SetVerdicts(f.ctx, "nosuchroute", v, nil), provider.NotFound)
}

// testRouteUpdate: one UpdateRoute changes traffic, marker and verdicts
// together, returns the ETag to chain the next write on, and a stale ETag
// changes nothing.
func testRouteUpdate(t *testing.T, mk HarnessMaker) {
	f := setup(t, mk)
	r1, r2 := f.twoRevisions()
	before := f.route(f.get())
	m := &provider.Marker{ID: "ro-3", Holder: "ci-8", Stable: r1, Candidate: r2, Step: 1}
	got, err := f.fn.UpdateRoute(f.ctx, "", &provider.RouteUpdate{Traffic: &provider.Traffic{Stable: r1}, Marker: m,
		Verdicts: &provider.Verdicts{Good: r1}}, &provider.ConditionOptions{IfMatch: before.ETag})
	if err != nil {
		t.Fatalf("UpdateRoute: %v", err)
	}
	if got.ETag == "" || got.ETag == before.ETag || got.Marker == nil || got.Marker.ID != m.ID || got.Verdicts == nil || got.Verdicts.Good != r1 {
		t.Fatalf("UpdateRoute returned %+v", got)
	}
	// The old etag is stale: nothing of this write may land.
	_, err = f.fn.UpdateRoute(f.ctx, "", &provider.RouteUpdate{Traffic: &provider.Traffic{Stable: r2}, ClearMarker: true,
		Verdicts: &provider.Verdicts{Good: r2}}, &provider.ConditionOptions{IfMatch: before.ETag})
	wantCode(t, "UpdateRoute on a stale etag", err, provider.FailedPrecondition)
	rt := f.route(f.get())
	if rt.Traffic.Stable != r1 || rt.Marker == nil || rt.Verdicts == nil || rt.Verdicts.Good != r1 {
		t.Fatalf("a refused UpdateRoute changed the route: %+v marker %+v verdicts %+v", rt.Traffic, rt.Marker, rt.Verdicts)
	}
	if rt.ETag != got.ETag {
		t.Fatalf("Get reads etag %s, UpdateRoute returned %s", rt.ETag, got.ETag)
	}
	// The returned etag chains the next write.
	if _, err := f.fn.UpdateRoute(f.ctx, "", &provider.RouteUpdate{Traffic: &provider.Traffic{Stable: r2}, ClearMarker: true,
		Verdicts: &provider.Verdicts{Good: r2}}, &provider.ConditionOptions{IfMatch: got.ETag}); err != nil {
		t.Fatalf("UpdateRoute on the returned etag: %v", err)
	}
	if rt := f.route(f.get()); rt.Traffic.Stable != r2 || rt.Marker != nil || rt.Verdicts.Good != r2 {
		t.Fatalf("after the chained write: %+v marker %+v verdicts %+v", rt.Traffic, rt.Marker, rt.Verdicts)
	}
	_, err = f.fn.UpdateRoute(f.ctx, "nosuchroute", &provider.RouteUpdate{ClearMarker: true}, nil)
	wantCode(t, "UpdateRoute of a missing route without traffic", err, provider.NotFound)
}

func testInvoke(t *testing.T, mk HarnessMaker) {
	f := setup(t, mk)
	r1 := f.apply(f.spec.Clone()).Revision.ID
	res, err := f.fn.Invoke(f.ctx, &provider.InvokeOptions{Payload: []byte(`{}`)})
	if provider.Code(err) == provider.Unimplemented {
		t.Skip("Invoke unsupported")
	}
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if res.Revision != r1 || res.FunctionError != "" {
		t.Errorf("Invoke = %+v, want revision %s and no function error", res, r1)
	}
	_, err = f.fn.Invoke(f.ctx, &provider.InvokeOptions{Revision: "999999"})
	wantCode(t, "Invoke of a missing revision", err, provider.NotFound)
}

func testCanceled(t *testing.T, mk HarnessMaker) {
	f := setup(t, mk)
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	_, err := f.fn.Get(ctx)
	wantCode(t, "Get with a canceled context", err, provider.Canceled)
	_, err = f.fn.Apply(ctx, f.spec.Clone(), nil)
	wantCode(t, "Apply with a canceled context", err, provider.Canceled)
	_, err = f.fn.Get(f.ctx)
	wantCode(t, "Get after a canceled Apply", err, provider.NotFound)
}

// testCanceledDuringApply: a context canceled in the middle of Apply's
// driver call (from BeforeApply, which runs inside it) ends the call with
// Canceled, and nothing half-applied serves: a create leaves no route
// serving, an update leaves the route on the revision it served.
func testCanceledDuringApply(t *testing.T, mk HarnessMaker) {
	f := setup(t, mk)
	called := false
	cancelIn := func() (context.Context, *provider.ApplyOptions) {
		ctx, cancel := context.WithCancel(f.ctx)
		t.Cleanup(cancel)
		called = false
		return ctx, &provider.ApplyOptions{Publish: true, BeforeApply: func(func(any) bool) error { called = true; cancel(); return nil }}
	}
	// BeforeApply runs inside the driver call, right before its native
	// requests are sent; an Apply that changes something must call it.
	mustCall := func(what string) {
		t.Helper()
		if !called {
			t.Fatalf("%s never called BeforeApply: the driver contract calls it right before the native requests are sent", what)
		}
	}
	ctx, opts := cancelIn()
	_, err := f.fn.Apply(ctx, f.spec.Clone(), opts)
	mustCall("a create")
	wantCode(t, "create canceled during Apply", err, provider.Canceled)
	if st, err := f.fn.Get(f.ctx); err == nil {
		for name, r := range st.Routes {
			t.Errorf("a canceled create left route %s serving %+v", name, r.Traffic)
		}
	} else {
		wantCode(t, "Get after a canceled create", err, provider.NotFound)
	}

	r1 := f.apply(f.spec.Clone()).Revision.ID
	s := f.spec.Clone()
	s.Env = map[string]string{"CANCELED": "1"}
	ctx, opts = cancelIn()
	_, err = f.fn.Apply(ctx, s, opts)
	if !called {
		// An adapter that stages updates may write no request the hook
		// sees (Azure Flex writes its revision index only), so nothing
		// cancels this Apply in the middle.
		t.Skipf("the update never called BeforeApply (err %v): nothing to cancel in the middle", err)
	}
	wantCode(t, "update canceled during Apply", err, provider.Canceled)
	if r := f.route(f.get()); r.Traffic.Stable != r1 || r.Traffic.Candidate != "" {
		t.Errorf("a canceled update left the route serving %+v, want only revision %s", r.Traffic, r1)
	}
	// The function is not wedged: the same update applies afterwards.
	if res := f.apply(s); res.Revision == nil || res.Revision.ID == r1 {
		t.Errorf("the update after a canceled one published %+v, want a revision other than %s", res.Revision, r1)
	}
}

// MetricsLagger is an optional Harness method: how long the target's
// metrics may take to count an invocation. The Metrics case polls that
// long; 10 seconds when the Harness does not say.
type MetricsLagger interface {
	MetricsLag() time.Duration
}

// testMetrics: after n invocations through Invoke, Metrics counts at
// least n (skipped where Invoke or Metrics is Unimplemented).
func testMetrics(t *testing.T, mk HarnessMaker) {
	f := setup(t, mk)
	f.apply(f.spec.Clone())
	if _, err := f.fn.Metrics(f.ctx, nil); provider.Code(err) == provider.Unimplemented {
		t.Skipf("Metrics unsupported: %v", err)
	} else if err != nil {
		t.Fatalf("Metrics: %v", err)
	}
	const n = 3
	for range n {
		_, err := f.fn.Invoke(f.ctx, &provider.InvokeOptions{Payload: []byte(`{}`)})
		if provider.Code(err) == provider.Unimplemented {
			t.Skipf("Invoke unsupported: %v", err)
		}
		if err != nil {
			t.Fatalf("Invoke: %v", err)
		}
	}
	lag := 10 * time.Second
	if ml, ok := f.h.(MetricsLagger); ok {
		lag = ml.MetricsLag()
	}
	deadline := time.Now().Add(lag)
	for {
		m, err := f.fn.Metrics(f.ctx, nil)
		if err != nil {
			t.Fatalf("Metrics: %v", err)
		}
		if m.Errors > m.Invocations || m.Throttles > m.Invocations {
			t.Fatalf("Metrics = %+v: more errors or throttles than invocations", m)
		}
		if m.Invocations >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Metrics = %+v %v after %d invocations, want at least %d", m, lag, n, n)
		}
		select {
		case <-f.ctx.Done():
			t.Fatal(f.ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func testClosed(t *testing.T, mk HarnessMaker) {
	f := setup(t, mk)
	d, err := f.h.MakeDriver(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	fn := provider.NewFunction(d)
	if err := fn.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err = fn.Get(f.ctx)
	wantCode(t, "Get after Close", err, provider.FailedPrecondition)
	wantCode(t, "second Close", fn.Close(), provider.FailedPrecondition)
}

func testDelete(t *testing.T, mk HarnessMaker) {
	f := setup(t, mk)
	f.apply(f.spec.Clone())
	if err := f.fn.Delete(f.ctx); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := f.fn.Get(f.ctx)
	wantCode(t, "Get after Delete", err, provider.NotFound)
}

type verifyAsFailsOnNil struct{}

func (verifyAsFailsOnNil) Name() string { return "verify As returns false when passed nil" }
func (verifyAsFailsOnNil) FunctionCheck(fn *provider.Function) error {
	if fn.As(nil) {
		return errors.New("want Function.As(nil) to return false")
	}
	return nil
}
func (verifyAsFailsOnNil) ErrorCheck(fn *provider.Function, err error) error {
	if fn.ErrorAs(err, nil) {
		return errors.New("want ErrorAs(err, nil) to return false")
	}
	return nil
}
func (verifyAsFailsOnNil) BeforeApply(as func(any) bool) error {
	if as(nil) {
		return errors.New("want asFunc(nil) to return false")
	}
	return nil
}

func testAs(t *testing.T, mk HarnessMaker, at AsTest) {
	f := setup(t, mk)
	if err := at.FunctionCheck(f.fn); err != nil {
		t.Error(err)
	}
	called := false
	_, err := f.fn.Apply(f.ctx, f.spec.Clone(), &provider.ApplyOptions{Publish: true, BeforeApply: func(as func(any) bool) error {
		called = true
		return at.BeforeApply(as)
	}})
	if err != nil {
		t.Fatalf("Apply with BeforeApply: %v", err)
	}
	if !called {
		t.Error("BeforeApply was not called")
	}
	d, err := f.h.MakeDriverForNonexistentFunction(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	missing := provider.NewFunction(d)
	defer missing.Close()
	_, gerr := missing.Get(f.ctx)
	if gerr == nil {
		t.Fatal("Get of a missing function succeeded")
	}
	if err := at.ErrorCheck(missing, gerr); err != nil {
		t.Error(err)
	}
}

// RunBenchmarks benchmarks the calls a rollout makes most against the
// function h's driver refers to: a no-op Apply (the plan of an unchanged
// spec), Get, and an UpdateRoute chained on its etag. It creates the
// function and deletes it at the end.
func RunBenchmarks(b *testing.B, h Harness) {
	ctx := b.Context()
	d, err := h.MakeDriver(ctx)
	if err != nil {
		b.Fatalf("making driver: %v", err)
	}
	fn := provider.NewFunction(d)
	defer fn.Close()
	spec, err := h.Spec(ctx)
	if err != nil {
		b.Fatalf("harness spec: %v", err)
	}
	res, err := fn.Apply(ctx, spec.Clone(), &provider.ApplyOptions{Publish: true})
	if err != nil {
		b.Fatalf("Apply: %v", err)
	}
	defer fn.Delete(context.WithoutCancel(ctx))
	rev := res.Revision.ID
	b.Run("ApplyNoop", func(b *testing.B) {
		for b.Loop() {
			res, err := fn.Apply(ctx, spec.Clone(), &provider.ApplyOptions{Publish: true})
			if err != nil {
				b.Fatalf("Apply: %v", err)
			}
			if res.Changed || res.Published {
				b.Fatalf("an unchanged spec changed the function: %+v", res)
			}
		}
	})
	b.Run("Get", func(b *testing.B) {
		for b.Loop() {
			if _, err := fn.Get(ctx); err != nil {
				b.Fatalf("Get: %v", err)
			}
		}
	})
	b.Run("UpdateRoute", func(b *testing.B) {
		st, err := fn.Get(ctx)
		if err != nil {
			b.Fatalf("Get: %v", err)
		}
		route := cmp.Or(spec.Route, provider.DefaultRoute)
		etag := st.Routes[route].ETag
		for b.Loop() {
			r, err := fn.UpdateRoute(ctx, route, &provider.RouteUpdate{Traffic: &provider.Traffic{Stable: rev}},
				&provider.ConditionOptions{IfMatch: etag})
			if err != nil {
				b.Fatalf("UpdateRoute: %v", err)
			}
			etag = r.ETag
		}
	})
}
