package awslambda

import (
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

// TestCallCountsDeployEngine reports what deploy.Rollout and
// deploy.Rollback cost today on the same steps; the engine's call
// pattern is its owner's, so this reports rather than asserts.
func TestCallCountsDeployEngine(t *testing.T) {
	c := newCounter(t, "engine")
	opts := func(strategy deploy.Strategy) *deploy.RolloutOptions {
		return &deploy.RolloutOptions{Strategy: strategy, Holder: "ci", Bundle: &provider.BundleOptions{NoCache: true}}
	}
	fns := []*provider.Function{c.fn}
	var rows []string
	run := func(name string, f func() error) {
		rows = append(rows, fmt.Sprintf("| %s | %d | %s |", name, len(c.step(f)), strings.Join(c.calls(), " ")))
	}
	run("Rollout create", func() error {
		_, err := deploy.Rollout(t.Context(), fns, bigSpec("v1"), opts(deploy.AllAtOnce()))
		return err
	})
	run("Rollout code change, all at once", func() error {
		_, err := deploy.Rollout(t.Context(), fns, bigSpec("v2"), opts(deploy.AllAtOnce()))
		return err
	})
	run("Rollout code change, canary 10% then 100%", func() error {
		_, err := deploy.Rollout(t.Context(), fns, bigSpec("v3"), opts(deploy.Canary(10)))
		return err
	})
	run("Rollout no change", func() error {
		_, err := deploy.Rollout(t.Context(), fns, bigSpec("v3"), opts(deploy.AllAtOnce()))
		return err
	})
	run("Rollback", func() error { _, err := deploy.Rollback(t.Context(), fns, nil); return err })
	t.Logf("\n| deploy engine step | calls | |\n|---|--:|---|\n%s", strings.Join(rows, "\n"))
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
