package awslambda

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/internal/cloudfake/lambdafake"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/trigger"
)

// The call counts of issue 11, measured against the fakes through the
// real SDK clients. The fake settles every change at its first read
// (SettleOnRead), so each wait costs exactly one poll, as against a quick
// real Lambda.

// assets is 2.4 MB of incompressible bytes, the size the issue measured.
var assets = func() []byte {
	b := make([]byte, 2400<<10)
	mrand.NewChaCha8([32]byte{'i', '1', '1'}).Read(b)
	return b
}()

func bigSpec(version string) *provider.Spec {
	return &provider.Spec{Runtime: "go", Code: bundle.Files(map[string][]byte{
		"bootstrap":  []byte("#!/bin/sh\necho " + version + "\n"),
		"assets.bin": assets,
	})}
}

// smallSpec is bigSpec without the assets: the size of the code changes
// bytes, not calls, so the per-kind counts use it to keep -race quick.
func smallSpec(version string) *provider.Spec {
	return &provider.Spec{Runtime: "go", Code: bundle.Files(map[string][]byte{"bootstrap": []byte("#!/bin/sh\necho " + version + "\n")})}
}

// counter opens a function on fresh fakes and counts calls per step.
type counter struct {
	t  *testing.T
	fa *fakeAWS
	d  *function
	fn *provider.Function
}

func newCounter(t *testing.T, name string) *counter {
	fa := newFakeAWS(t, &lambdafake.Options{SettleOnRead: true})
	fa.s3.CreateBucket("inbox")
	d, err := openDriver(fa.client, name, fa.options())
	if err != nil {
		t.Fatal(err)
	}
	return &counter{t: t, fa: fa, d: d, fn: provider.NewFunction(d)}
}

func (c *counter) reset() {
	for _, r := range []interface{ ResetCalls() }{c.fa.lam, c.fa.s3, c.fa.sch, c.fa.cw} {
		r.ResetCalls()
	}
}

func (c *counter) calls() []string {
	return slices.Concat(c.fa.lam.Calls(), c.fa.s3.Calls(), c.fa.sch.Calls(), c.fa.cw.Calls())
}

// step runs f and returns the calls it made.
func (c *counter) step(f func() error) []string {
	c.t.Helper()
	c.reset()
	if err := f(); err != nil {
		c.t.Fatal(err)
	}
	return c.calls()
}

// scope is what a deploy of s reads.
func scope(s *provider.Spec) *ReadScope {
	return &ReadScope{Route: provider.DefaultRoute, Triggers: s.Triggers != nil, Provisioned: s.Concurrency.Provisioned != nil}
}

// plan is a rollout's read: the scoped Get, returning the function and
// route ETags (empty when absent).
func (c *counter) plan(s *provider.Spec) (fnETag, routeETag string, exists bool) {
	c.t.Helper()
	st, err := c.d.GetScoped(c.t.Context(), scope(s))
	if errorCode(err) == provider.NotFound {
		return "", "", false
	}
	if err != nil {
		c.t.Fatal(err)
	}
	if r := st.Routes[provider.DefaultRoute]; r != nil {
		routeETag = r.ETag
	}
	return st.ETag, routeETag, true
}

func (c *counter) apply(s *provider.Spec, opts *provider.ApplyOptions) *provider.ApplyResult {
	c.t.Helper()
	res, err := c.fn.Apply(c.t.Context(), s, opts)
	if err != nil {
		c.t.Fatal(err)
	}
	return res
}

func (c *counter) route(etag string, u *provider.RouteUpdate) string {
	c.t.Helper()
	r, err := c.fn.UpdateRoute(c.t.Context(), "", u, &provider.ConditionOptions{IfMatch: etag})
	if err != nil {
		c.t.Fatal(err)
	}
	return r.ETag
}

// steps are the counts of one scenario, by step name.
type steps struct {
	names  []string
	counts map[string][]string
	bytes  map[string]int64
}

func (s *steps) add(name string, calls []string, uploaded int64) {
	if s.counts == nil {
		s.counts, s.bytes = map[string][]string{}, map[string]int64{}
	}
	s.names = append(s.names, name)
	s.counts[name], s.bytes[name] = calls, uploaded
}

const (
	stepCreate   = "create + route"
	stepCode     = "code change + publish + route moved"
	stepCanary   = "code change + publish + 10% + 100%"
	stepNoChange = "no change"
	stepRollback = "rollback"
)

// scenario runs the five steps of the issue the way a rollout drives the
// portable API: one read (the plan), Apply conditioned on its ETag, and
// one UpdateRoute per traffic step carrying marker and verdicts.
func scenario(t *testing.T, name string, code func(string) *provider.Spec, mod func(*provider.Spec)) *steps {
	c := newCounter(t, name)
	spec := func(v string) *provider.Spec {
		s := code(v)
		if mod != nil {
			mod(s)
		}
		return s
	}
	var st steps
	var res *provider.ApplyResult
	calls := c.step(func() error {
		s := spec("v1")
		c.plan(s)
		res = c.apply(s, &provider.ApplyOptions{Publish: true, IfNotExist: true})
		return nil
	})
	st.add(stepCreate, calls, res.UploadedBytes)
	good := res.Revision.ID

	calls = c.step(func() error {
		s := spec("v2")
		fe, re, _ := c.plan(s)
		res = c.apply(s, &provider.ApplyOptions{Publish: true, IfMatch: fe})
		c.route(re, &provider.RouteUpdate{Traffic: &provider.Traffic{Stable: res.Revision.ID}, Verdicts: &provider.Verdicts{Good: res.Revision.ID}})
		return nil
	})
	st.add(stepCode, calls, res.UploadedBytes)
	good = res.Revision.ID

	calls = c.step(func() error {
		s := spec("v3")
		fe, re, _ := c.plan(s)
		res = c.apply(s, &provider.ApplyOptions{Publish: true, IfMatch: fe})
		cand := res.Revision.ID
		m := &provider.Marker{ID: "ro-1", Holder: "ci", Stable: good, Candidate: cand, Step: 1, Percent: 10, Started: time.Now()}
		re = c.route(re, &provider.RouteUpdate{Traffic: &provider.Traffic{Stable: good, Candidate: cand, CandidatePercent: 10}, Marker: m})
		c.route(re, &provider.RouteUpdate{Traffic: &provider.Traffic{Stable: cand}, ClearMarker: true, Verdicts: &provider.Verdicts{Good: cand}})
		return nil
	})
	st.add(stepCanary, calls, res.UploadedBytes)
	prev, cur := good, res.Revision.ID

	calls = c.step(func() error {
		s := spec("v3")
		fe, _, _ := c.plan(s)
		res = c.apply(s, &provider.ApplyOptions{Publish: true, IfMatch: fe})
		if res.Changed || res.Published || res.Revision.ID != cur {
			return fmt.Errorf("no-change apply: %+v (revision %s, want %s)", res, res.Revision.ID, cur)
		}
		return nil
	})
	st.add(stepNoChange, calls, res.UploadedBytes)

	calls = c.step(func() error {
		// A rollback manages the route only: it reads nothing else.
		st, err := c.d.GetScoped(t.Context(), &ReadScope{Route: provider.DefaultRoute})
		if err != nil {
			return err
		}
		c.route(st.Routes[provider.DefaultRoute].ETag, &provider.RouteUpdate{Traffic: &provider.Traffic{Stable: prev}, ClearMarker: true,
			Verdicts: &provider.Verdicts{Good: prev, Failed: []string{cur}}})
		return nil
	})
	st.add(stepRollback, calls, 0)
	if v, _, _, _ := c.fa.lam.Alias(name, "live"); v != prev {
		t.Fatalf("after rollback the route serves %s, want %s", v, prev)
	}
	return &st
}

var lambroll = map[string]string{stepCreate: "4", stepCode: "8", stepCanary: "—", stepNoChange: "8", stepRollback: "3"}
var before = map[string]string{stepCreate: "12", stepCode: "19", stepCanary: "—", stepNoChange: "7", stepRollback: "8"}
var target = map[string]int{stepCreate: 4, stepCode: 6, stepCanary: 8, stepNoChange: 2, stepRollback: 3}

func TestCallCounts(t *testing.T) {
	base := scenario(t, "calls", bigSpec, nil)
	var table strings.Builder
	fmt.Fprintf(&table, "| step (2.4 MB zip, no triggers) | lambroll | before | after | calls |\n|---|--:|--:|--:|---|\n")
	for _, n := range base.names {
		got := base.counts[n]
		fmt.Fprintf(&table, "| %s | %s | %s | %d | %s |\n", n, lambroll[n], before[n], len(got), strings.Join(got, " "))
		if len(got) > target[n] {
			t.Errorf("%s: %d calls %v, target ≤ %d", n, len(got), got, target[n])
		}
	}
	if b := base.bytes[stepNoChange]; b != 0 || len(mutations(base.counts[stepNoChange])) != 0 {
		t.Errorf("no change uploaded %d bytes, calls %v", b, base.counts[stepNoChange])
	}
	t.Logf("\n%s", table.String())
}

// kindSpecs adds one trigger of each kind, and provisioned concurrency.
var kindSpecs = []struct {
	name string
	mod  func(*provider.Spec)
	// reads is what the kind adds to a no-change read (its own API).
	reads int
}{
	{"http", func(s *provider.Spec) {
		s.Triggers = []trigger.Trigger{trigger.HTTP{Key: "web", Auth: trigger.AuthNone}}
	}, 2},
	{"queue", func(s *provider.Spec) {
		s.Triggers = []trigger.Trigger{trigger.Queue{Key: "jobs", Source: "arn:aws:sqs:us-east-1:123456789012:jobs"}}
	}, 2},
	{"stream", func(s *provider.Spec) {
		s.Triggers = []trigger.Trigger{trigger.Stream{Key: "clicks", Source: "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"}}
	}, 2},
	{"schedule", func(s *provider.Spec) { s.Triggers = []trigger.Trigger{trigger.Schedule{Key: "tick", Rate: time.Hour}} }, 2},
	{"storage", func(s *provider.Spec) { s.Triggers = []trigger.Trigger{trigger.Storage{Key: "files", Bucket: "inbox"}} }, 2},
	{"provisioned", func(s *provider.Spec) { s.Concurrency.Provisioned = ptr(1) }, 1},
}

func TestCallCountsPerTriggerKind(t *testing.T) {
	base := scenario(t, "calls", smallSpec, nil)
	var table strings.Builder
	fmt.Fprintf(&table, "| spec manages | %s |\n|---|%s\n", strings.Join(base.names, " | "), strings.Repeat("--:|", len(base.names)))
	fmt.Fprintf(&table, "| nothing | %s |\n", countsRow(base))
	for _, k := range kindSpecs {
		got := scenario(t, "calls-"+k.name, smallSpec, k.mod)
		fmt.Fprintf(&table, "| %s | %s |\n", k.name, countsRow(got))
		noop := got.counts[stepNoChange]
		if m := mutations(noop); len(m) != 0 || len(noop) > target[stepNoChange]+k.reads {
			t.Errorf("%s: no change made %v, want at most %d reads", k.name, noop, target[stepNoChange]+k.reads)
		}
		if n := len(got.counts[stepRollback]); n > target[stepRollback] {
			t.Errorf("%s: rollback made %v", k.name, got.counts[stepRollback])
		}
		for _, n := range []string{stepCode, stepCanary} {
			if extra := len(got.counts[n]) - len(base.counts[n]); extra > k.reads {
				t.Errorf("%s: %s adds %d calls (%v), want at most the kind's %d reads", k.name, n, extra, got.counts[n], k.reads)
			}
		}
	}
	t.Logf("\n%s", table.String())
}

func countsRow(s *steps) string {
	var cells []string
	for _, n := range s.names {
		cells = append(cells, fmt.Sprint(len(s.counts[n])))
	}
	return strings.Join(cells, " | ")
}

// engineStep is one step of issue 11's scenario driven through package
// deploy: its calls must be at most target.
type engineStep struct {
	name     string
	lambroll string // lambroll's calls for the same step ("—": no such step)
	before   string // the engine's calls before issue 11 (main at 29bd318)
	target   int
	// readOnly steps must make no mutation and upload nothing.
	readOnly bool
	run      func(fns []*provider.Function) (uploaded int64, err error)
}

func rolloutStep(spec func(string) *provider.Spec, v string, strategy deploy.Strategy) func([]*provider.Function) (int64, error) {
	return func(fns []*provider.Function) (int64, error) {
		_, err := deploy.Rollout(context.Background(), fns, spec(v), &deploy.RolloutOptions{Strategy: strategy, Holder: "ci",
			Bundle: &provider.BundleOptions{NoCache: true}})
		return 0, err
	}
}

func applyStep(spec func(string) *provider.Spec, v string) func([]*provider.Function) (int64, error) {
	return func(fns []*provider.Function) (int64, error) {
		res, err := deploy.Apply(context.Background(), fns, spec(v), &deploy.ApplyOptions{Bundle: &provider.BundleOptions{NoCache: true}})
		if err != nil {
			return 0, err
		}
		return res.Targets[0].UploadedBytes, nil
	}
}

func rollbackStep(named string) func([]*provider.Function) (int64, error) {
	return func(fns []*provider.Function) (int64, error) {
		_, err := deploy.Rollback(context.Background(), fns, &deploy.RollbackOptions{Revision: named})
		return 0, err
	}
}

// engineSteps are the steps of issue 11 through deploy.Rollout and
// deploy.Apply (each on its own function), then deploy.Rollback.
//
// Rollback to "the revision before the serving one" lists the versions
// (ListVersionsByFunction), as lambroll does; the route records the last
// known good revision, not the one before it, and the route read is
// GetFunction + GetAlias, so it costs 4, one more than lambroll's 3 (a
// route-only read in the adapter, GetAlias alone, would make it 3). A
// rollback whose route names where to go (a named revision, an
// interrupted rollout's stable revision, a last known good that is not
// serving) lists nothing: 3.
func engineSteps(spec func(string) *provider.Spec) (rollout, apply []engineStep) {
	rollout = []engineStep{
		{"Rollout create + route", "4", "10", 4, false, rolloutStep(spec, "v1", deploy.AllAtOnce())},
		{"Rollout code change + publish + route moved", "8", "10", 6, false, rolloutStep(spec, "v2", deploy.AllAtOnce())},
		{"Rollout code change, canary 10% then 100%", "—", "11", 8, false, rolloutStep(spec, "v3", deploy.Canary(10))},
		{"Rollout no change", "8 (re-uploads)", "4", 2, true, rolloutStep(spec, "v3", deploy.AllAtOnce())},
		{"Rollback to the revision before", "3", "5", 4, false, rollbackStep("")},
		{"Rollback to a named revision", "3", "5", 3, false, rollbackStep("3")},
	}
	apply = []engineStep{
		{"Apply create + route", "4", "7", 4, false, applyStep(spec, "v1")},
		{"Apply code change + publish + route moved", "8", "11", 6, false, applyStep(spec, "v2")},
		{"Apply no change", "8 (re-uploads)", "4", 2, true, applyStep(spec, "v2")},
		{"Rollback to the revision before", "3", "5", 4, false, rollbackStep("")},
	}
	return rollout, apply
}

// TestCallCountsDeployEngine asserts issue 11's targets for the deploy
// engine: Plan reads once with a scoped read, Apply and every route write
// are conditioned on what it read, and each traffic step is one
// UpdateAlias carrying marker, traffic and verdicts.
func TestCallCountsDeployEngine(t *testing.T) {
	rollout, apply := engineSteps(bigSpec)
	var table strings.Builder
	fmt.Fprintf(&table, "| deploy engine step (2.4 MB zip, no triggers) | lambroll | before | after | target | calls |\n|---|--:|--:|--:|--:|---|\n")
	for i, steps := range [][]engineStep{rollout, apply} {
		c := newCounter(t, fmt.Sprint("engine-", i))
		fns := []*provider.Function{c.fn}
		for _, st := range steps {
			var uploaded int64
			calls := c.step(func() (err error) { uploaded, err = st.run(fns); return err })
			fmt.Fprintf(&table, "| %s | %s | %s | %d | %d | %s |\n", st.name, st.lambroll, st.before, len(calls), st.target, strings.Join(calls, " "))
			if len(calls) > st.target {
				t.Errorf("%s: %d calls %v, target ≤ %d", st.name, len(calls), calls, st.target)
			}
			if st.readOnly && (uploaded != 0 || len(mutations(calls)) != 0) {
				t.Errorf("%s: uploaded %d bytes, calls %v", st.name, uploaded, calls)
			}
		}
	}
	t.Logf("\n%s", table.String())
}

// TestEngineAppliesManagedFieldsAfterReadlessSteps changes each managed
// field after a no-change rollout (the path that reads nothing but the
// function and its route) and sees it applied: nothing managed becomes
// unmanaged by the reads the engine skips.
func TestEngineAppliesManagedFieldsAfterReadlessSteps(t *testing.T) {
	c := newCounter(t, "fields")
	fns := []*provider.Function{c.fn}
	ro := func(s *provider.Spec) {
		t.Helper()
		if _, err := deploy.Rollout(t.Context(), fns, s, &deploy.RolloutOptions{Strategy: deploy.AllAtOnce(), Holder: "ci"}); err != nil {
			t.Fatal(err)
		}
	}
	spec := smallSpec("v1")
	ro(spec)
	first, err := c.fn.Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		name  string
		mod   func(*provider.Spec)
		check func(*provider.State) bool
	}{
		{"code", func(s *provider.Spec) { s.Code = smallSpec("v2").Code }, func(st *provider.State) bool { return st.Config.CodeDigest != first.Config.CodeDigest }},
		{"memory", func(s *provider.Spec) { s.MemoryMB = 256 }, func(st *provider.State) bool { return st.Config.MemoryMB == 256 }},
		{"timeout", func(s *provider.Spec) { s.Timeout = 7 * time.Second }, func(st *provider.State) bool { return st.Config.Timeout == 7*time.Second }},
		{"env", func(s *provider.Spec) { s.Env = map[string]string{"MODE": "x"} }, func(st *provider.State) bool { return st.Config.Env["MODE"] == "x" }},
		{"labels", func(s *provider.Spec) { s.Labels = map[string]string{"team": "core"} }, func(st *provider.State) bool { return st.Config.Labels["team"] == "core" }},
		{"max concurrency", func(s *provider.Spec) { s.Concurrency.Max = ptr(3) }, func(st *provider.State) bool {
			return st.Config.MaxConcurrency != nil && *st.Config.MaxConcurrency == 3
		}},
		{"provisioned", func(s *provider.Spec) { s.Concurrency.Provisioned = ptr(1) }, func(st *provider.State) bool {
			r := st.Routes[provider.DefaultRoute]
			return r != nil && r.Provisioned != nil && r.Provisioned.Requested == 1
		}},
		{"trigger", func(s *provider.Spec) { s.Triggers = []trigger.Trigger{trigger.Schedule{Key: "tick", Rate: time.Hour}} }, func(st *provider.State) bool {
			return len(st.Triggers) == 1 && st.Triggers[0].TriggerKey() == "tick"
		}},
	} {
		calls := c.step(func() error { ro(spec); return nil })
		if len(mutations(calls)) != 0 || len(calls) > 4 {
			t.Fatalf("before %s: the no-change rollout made %v", m.name, calls)
		}
		m.mod(spec)
		before := c.fa.lam.Calls()
		ro(spec)
		st, err := c.fn.Get(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !m.check(st) {
			t.Errorf("%s was not applied after a read-less step (calls %v): %+v", m.name, slices.Clone(before), st.Config)
		}
	}
}

// A status read (Get, no Spec) reads every route but only the trigger
// APIs the kinds index names; a function without the index (deployed by
// an earlier updraft) is read with every API, and the next reconcile
// writes the index.
func TestStatusReadFollowsKindsIndex(t *testing.T) {
	c := newCounter(t, "status")
	c.apply(smallSpec("v1"), &provider.ApplyOptions{Publish: true})
	calls := c.step(func() error { _, err := c.fn.Get(t.Context()); return err })
	if fmt.Sprint(calls) != "[GetFunction ListAliases ListProvisionedConcurrencyConfigs]" {
		t.Errorf("status read of a function without triggers: %v", calls)
	}
	c.fa.lam.RemoveTag("status", kindsTag("live"))
	calls = c.step(func() error { _, err := c.fn.Get(t.Context()); return err })
	for _, want := range []string{"GetPolicy", "ListEventSourceMappings", "ListSchedules"} {
		if !slices.Contains(calls, want) {
			t.Errorf("status read without the index skipped %s: %v", want, calls)
		}
	}
	s := smallSpec("v1")
	s.Triggers = []trigger.Trigger{}
	c.apply(s, &provider.ApplyOptions{Publish: true})
	if v, ok := c.fa.lam.Tags("status")[kindsTag("live")]; !ok || v != "" {
		t.Errorf("reconcile did not write the kinds index: %q %v", v, ok)
	}
}

// A reading is used once: an Apply through the same handle without
// IfMatch forgets it, so a later Apply with the old ETag reads again
// and fails its precondition instead of trusting what changed.
func TestReadingUsedOnce(t *testing.T) {
	c := newCounter(t, "once")
	c.apply(smallSpec("v1"), &provider.ApplyOptions{Publish: true})
	fe, _, _ := c.plan(smallSpec("v1"))
	c.apply(smallSpec("v2"), &provider.ApplyOptions{Publish: true})
	_, err := c.fn.Apply(t.Context(), smallSpec("v1"), &provider.ApplyOptions{Publish: true, IfMatch: fe})
	if provider.Code(err) != provider.FailedPrecondition {
		t.Fatalf("Apply with the ETag of a reading that an Apply since made stale: %v", err)
	}
}

// A route written after the reading is what an Apply from that reading
// sees: it neither creates it again nor reads it.
func TestReadingSeesRoutesWrittenSince(t *testing.T) {
	c := newCounter(t, "since")
	res := c.apply(smallSpec("v1"), &provider.ApplyOptions{Publish: true})
	fe, _, _ := c.plan(smallSpec("v1"))
	if _, err := c.fn.UpdateRoute(t.Context(), "canary", &provider.RouteUpdate{Traffic: &provider.Traffic{Stable: res.Revision.ID}}, nil); err != nil {
		t.Fatal(err)
	}
	s := smallSpec("v1")
	s.Route = "canary"
	calls := c.step(func() error {
		_, err := c.fn.Apply(t.Context(), s, &provider.ApplyOptions{Publish: true, IfMatch: fe})
		return err
	})
	if len(mutations(calls)) != 0 {
		t.Fatalf("Apply after the route was created since the reading: %v", calls)
	}
}

// Apply from a reading that another tool made stale fails its
// precondition at the first write (Lambda's 412), without reading first.
func TestStaleReadingFailsAtTheWrite(t *testing.T) {
	c := newCounter(t, "stale")
	c.apply(smallSpec("v1"), &provider.ApplyOptions{Publish: true})
	fe, _, _ := c.plan(smallSpec("v1"))
	if _, err := c.fa.client.UpdateFunctionConfiguration(t.Context(), &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("stale"),
		MemorySize: aws.Int32(512)}); err != nil {
		t.Fatal(err)
	}
	c.fa.lam.Settle("stale")
	c.reset()
	_, err := c.fn.Apply(t.Context(), smallSpec("v2"), &provider.ApplyOptions{Publish: true, IfMatch: fe})
	if provider.Code(err) != provider.FailedPrecondition {
		t.Fatalf("Apply from a stale reading: %v", err)
	}
	if calls := c.calls(); fmt.Sprint(calls) != "[UpdateFunctionCode]" {
		t.Fatalf("calls %v: want the one conditioned write that failed", calls)
	}
}

// provider.Function.Read reaches GetScoped: a Spec without triggers or
// provisioned concurrency costs GetFunction and GetAlias, and the route
// the last Apply published on is known to hold the live configuration
// without a call, until the configuration changes.
func TestReadIsScopedAndKnowsTheLiveRevision(t *testing.T) {
	c := newCounter(t, "read")
	res := c.apply(smallSpec("v1"), &provider.ApplyOptions{Publish: true})
	var st *provider.State
	calls := c.step(func() (err error) {
		st, err = c.fn.Read(t.Context(), provider.ReadOptionsFor(smallSpec("v1")))
		return err
	})
	if fmt.Sprint(calls) != "[GetFunction GetAlias]" {
		t.Errorf("scoped read: %v", calls)
	}
	if id := c.fn.LiveRevision(st, ""); id != res.Revision.ID {
		t.Errorf("LiveRevision = %q, want %s", id, res.Revision.ID)
	}
	s := smallSpec("v1")
	s.MemoryMB = 256
	c.apply(s, &provider.ApplyOptions{})
	if st, err := c.fn.Read(t.Context(), provider.ReadOptionsFor(s)); err != nil || c.fn.LiveRevision(st, "") != "" {
		t.Errorf("LiveRevision after an unpublished change: %q %v", c.fn.LiveRevision(st, ""), err)
	}
}

// TestCallCountsDeployEnginePerTriggerKind runs the engine's steps with
// one trigger of each kind (and with provisioned concurrency): each adds
// to a step at most its own API's reads, as through the adapter directly.
func TestCallCountsDeployEnginePerTriggerKind(t *testing.T) {
	run := func(name string, mod func(*provider.Spec)) []int {
		spec := func(v string) *provider.Spec {
			s := smallSpec(v)
			if mod != nil {
				mod(s)
			}
			return s
		}
		rollout, _ := engineSteps(spec)
		c := newCounter(t, name)
		var counts []int
		for _, st := range rollout {
			calls := c.step(func() error { _, err := st.run([]*provider.Function{c.fn}); return err })
			if st.readOnly && len(mutations(calls)) != 0 {
				t.Errorf("%s: %s made %v", name, st.name, calls)
			}
			counts = append(counts, len(calls))
		}
		return counts
	}
	base := run("kinds", nil)
	rollout, _ := engineSteps(smallSpec)
	var table strings.Builder
	fmt.Fprintf(&table, "| spec manages |")
	for _, st := range rollout {
		fmt.Fprintf(&table, " %s |", st.name)
	}
	fmt.Fprintf(&table, "\n|---|%s\n| nothing | %s |\n", strings.Repeat("--:|", len(rollout)), strings.Trim(strings.Join(strings.Fields(fmt.Sprint(base)), " | "), "[]"))
	for _, k := range kindSpecs {
		got := run("kinds-"+k.name, k.mod)
		fmt.Fprintf(&table, "| %s | %s |\n", k.name, strings.Trim(strings.Join(strings.Fields(fmt.Sprint(got)), " | "), "[]"))
		for i, st := range rollout {
			if i == 0 {
				continue // the create also makes the trigger
			}
			if extra := got[i] - base[i]; extra > k.reads {
				t.Errorf("%s: %s adds %d calls, want at most the kind's %d reads", k.name, st.name, extra, k.reads)
			}
		}
	}
	t.Logf("\n%s", table.String())
}
