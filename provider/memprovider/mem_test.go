package memprovider

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/provider/providertest"
	"github.com/updraft-dev/updraft/trigger"
)

type harness struct{ c *Cloud }

func newHarness(ctx context.Context, t *testing.T) (providertest.Harness, error) {
	return &harness{c: NewCloud(&Options{ProvisionDelay: 5 * time.Millisecond})}, nil
}

func (h *harness) MakeDriver(context.Context) (driver.Function, error) { return h.c.OpenDriver("fn") }
func (h *harness) MakeDriverForNonexistentFunction(context.Context) (driver.Function, error) {
	return h.c.OpenDriver("missing")
}
func (h *harness) Spec(context.Context) (*provider.Spec, error) { return testSpec(), nil }
func (h *harness) Triggers() []trigger.Trigger                  { return testTriggers() }
func (h *harness) Close()                                       {}

func testSpec() *provider.Spec {
	return &provider.Spec{
		Code:    bundle.Files(map[string][]byte{"index.js": []byte("exports.handler = async () => 'hi'\n")}),
		Runtime: "nodejs22", Entrypoint: "index.handler",
	}
}

func testTriggers() []trigger.Trigger {
	return []trigger.Trigger{
		trigger.HTTP{Key: "web", Auth: trigger.AuthNone},
		trigger.Queue{Key: "jobs", Source: "arn:aws:sqs:eu-west-1:123456789012:jobs", BatchSize: 10},
		trigger.Schedule{Key: "tick", Cron: "*/5 * * * *"},
	}
}

func TestConformance(t *testing.T) {
	providertest.RunConformanceTests(t, newHarness, nil)
}

func BenchmarkConformance(b *testing.B) {
	providertest.RunBenchmarks(b, &harness{c: NewCloud(nil)})
}

func TestConformanceSwapOnly(t *testing.T) {
	providertest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (providertest.Harness, error) {
		return &harness{c: NewCloud(&Options{Capabilities: func(c *provider.Capabilities) { c.WeightedTraffic = false }})}, nil
	}, nil)
}

func open(t *testing.T, c *Cloud) *provider.Function {
	t.Helper()
	fn, err := c.OpenFunction(t.Context(), "fn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fn.Close() })
	return fn
}

func TestFaultInjection(t *testing.T) {
	ctx := t.Context()
	c := NewCloud(nil)
	fn := open(t, c)
	c.InjectFault(Fault{Op: OpPublish, After: 1, Code: provider.ResourceExhausted})
	if _, err := fn.Apply(ctx, testSpec(), &provider.ApplyOptions{Publish: true}); err != nil {
		t.Fatalf("first publish should pass: %v", err)
	}
	s := testSpec()
	s.Env = map[string]string{"V": "2"}
	_, err := fn.Apply(ctx, s, &provider.ApplyOptions{Publish: true})
	if provider.Code(err) != provider.ResourceExhausted {
		t.Fatalf("second publish: got %v, want ResourceExhausted", err)
	}
	// The config step before the failing publish stays applied, as in a real cloud.
	st, _ := fn.Get(ctx)
	if st.Config.Env["V"] != "2" {
		t.Errorf("config step before the fault was not applied: %v", st.Config.Env)
	}
	res, err := fn.Apply(ctx, s, &provider.ApplyOptions{Publish: true})
	if err != nil || !res.Published || res.Revision.ID != "2" {
		t.Fatalf("retry after a one-shot fault: %+v, %v", res, err)
	}
}

func TestFaultForever(t *testing.T) {
	c := NewCloud(nil)
	fn := open(t, c)
	c.InjectFault(Fault{Op: OpGet, Times: -1, Code: provider.Internal, Message: "boom"})
	for range 3 {
		if _, err := fn.Get(t.Context()); provider.Code(err) != provider.Internal {
			t.Fatalf("got %v, want Internal", err)
		}
	}
	c.ClearFaults()
	if _, err := fn.Get(t.Context()); provider.Code(err) != provider.NotFound {
		t.Fatalf("after ClearFaults: %v", err)
	}
}

func TestNotReadyIsWaitedFor(t *testing.T) {
	c := NewCloud(nil)
	fn := open(t, c)
	if _, err := fn.Apply(t.Context(), testSpec(), nil); err != nil {
		t.Fatal(err)
	}
	c.NotReady("fn", 5)
	s := testSpec()
	s.MemoryMB = 256
	if _, err := fn.Apply(t.Context(), s, nil); err != nil {
		t.Fatalf("Apply while busy: %v", err)
	}
	c.NotReady("fn", 1<<30)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	s.MemoryMB = 512
	_, err := fn.Apply(ctx, s, nil)
	if provider.Code(err) != provider.DeadlineExceeded {
		t.Fatalf("Apply on a function that never gets ready: got %v, want DeadlineExceeded", err)
	}
}

func TestProvisionedFailure(t *testing.T) {
	c := NewCloud(&Options{ProvisionDelay: 2 * time.Millisecond})
	fn := open(t, c)
	c.FailProvisioning("fn", "insufficient capacity")
	s := testSpec()
	two := 2
	s.Concurrency.Provisioned = &two
	_, err := fn.Apply(t.Context(), s, &provider.ApplyOptions{Publish: true})
	if provider.Code(err) != provider.Internal || !strings.Contains(err.Error(), "insufficient capacity") {
		t.Fatalf("got %v, want Internal with the reason", err)
	}
}

func TestNoOpApplyMakesNoMutation(t *testing.T) {
	c := NewCloud(nil)
	fn := open(t, c)
	s := testSpec()
	s.Triggers = testTriggers()
	one := 1
	s.Concurrency.Provisioned = &one
	if _, err := fn.Apply(t.Context(), s, &provider.ApplyOptions{Publish: true}); err != nil {
		t.Fatal(err)
	}
	c.ResetCounters()
	res, err := fn.Apply(t.Context(), s, &provider.ApplyOptions{Publish: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.Mutations() != 0 || c.UploadedBytes() != 0 || res.Changed {
		t.Fatalf("no-op apply: %d mutations, %d bytes, result %+v; calls %v", c.Mutations(), c.UploadedBytes(), res, c.Calls())
	}
}

func TestForeignTriggersLeftAlone(t *testing.T) {
	c := NewCloud(nil)
	fn := open(t, c)
	s := testSpec()
	s.Triggers = testTriggers()[:1]
	if _, err := fn.Apply(t.Context(), s, &provider.ApplyOptions{Publish: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.AddForeignTrigger("fn", "legacy-cron", trigger.Schedule{Key: "legacy", Rate: time.Hour}); err != nil {
		t.Fatal(err)
	}
	s.Triggers = []trigger.Trigger{}
	if _, err := fn.Apply(t.Context(), s, &provider.ApplyOptions{Publish: true}); err != nil {
		t.Fatal(err)
	}
	all := c.Triggers("fn")
	if _, ok := all["legacy-cron"]; !ok || len(all) != 1 {
		t.Fatalf("triggers after clearing updraft's: %v, want only legacy-cron", all)
	}
}

func TestWeightedInvokeAndMetrics(t *testing.T) {
	ctx := t.Context()
	c := NewCloud(&Options{Seed: 7, Handler: func(ctx context.Context, inv *Invocation) ([]byte, error) {
		if inv.Env["V"] == "2" {
			return nil, errors.New("candidate is broken")
		}
		return []byte("ok"), nil
	}})
	fn := open(t, c)
	s := testSpec()
	s.Env = map[string]string{"V": "1"}
	r1, _ := fn.Apply(ctx, s, &provider.ApplyOptions{Publish: true})
	s.Env = map[string]string{"V": "2"}
	r2, _ := fn.Apply(ctx, s, &provider.ApplyOptions{Publish: true})
	if err := fn.SetTraffic(ctx, "", provider.Traffic{Stable: r1.Revision.ID, Candidate: r2.Revision.ID, CandidatePercent: 20}, nil); err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		if _, err := fn.Invoke(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	m2, err := fn.Metrics(ctx, &provider.MetricsQuery{Revision: r2.Revision.ID})
	if err != nil {
		t.Fatal(err)
	}
	if m2.Invocations < 150 || m2.Invocations > 250 || m2.Errors != m2.Invocations {
		t.Fatalf("candidate metrics %+v, want about 200 invocations, all errors", m2)
	}
	all, _ := fn.Metrics(ctx, nil)
	if all.Invocations != 1000 {
		t.Fatalf("all invocations = %d", all.Invocations)
	}
	c.RecordInvocations("fn", r1.Revision.ID, 10, 1, 2)
	m1, _ := fn.Metrics(ctx, &provider.MetricsQuery{Revision: r1.Revision.ID})
	if m1.Throttles != 2 || m1.Errors != 1 {
		t.Fatalf("recorded metrics not read back: %+v", m1)
	}
}

func TestConcurrentUse(t *testing.T) {
	c := NewCloud(nil)
	ctx := t.Context()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn, err := c.OpenFunction(ctx, "fn")
			if err != nil {
				t.Error(err)
				return
			}
			defer fn.Close()
			s := testSpec()
			s.Env = map[string]string{"I": string(rune('a' + i))}
			for range 5 {
				_, err := fn.Apply(ctx, s, &provider.ApplyOptions{Publish: true})
				if err != nil && provider.Code(err) != provider.AlreadyExists {
					t.Error(err)
				}
				fn.Get(ctx)
			}
		}()
	}
	wg.Wait()
}

func TestLatencyHonoursContext(t *testing.T) {
	c := NewCloud(nil)
	c.SetLatency(time.Hour)
	fn := open(t, c)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if _, err := fn.Get(ctx); provider.Code(err) != provider.DeadlineExceeded {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
}

func TestURL(t *testing.T) {
	ctx := t.Context()
	fn, err := provider.Open(ctx, "mem://url-test")
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Close()
	if fn.Name() != "url-test" || fn.Target() != "mem://url-test" {
		t.Errorf("name %q target %q", fn.Name(), fn.Target())
	}
	for _, bad := range []string{"mem://x?region=eu", "mem://bad name", "nosuch://x", "hello", "mem://user:pw@x"} {
		if _, err := provider.Open(ctx, bad); provider.Code(err) != provider.InvalidArgument {
			t.Errorf("Open(%q): got %v, want InvalidArgument", bad, err)
		}
	}
	fns, err := provider.OpenAll(ctx, "mem://a", "mem://b")
	if err != nil || len(fns) != 2 {
		t.Fatalf("OpenAll: %v", err)
	}
	_, err = provider.OpenAll(ctx, "mem://a", "nosuch://b", "zzz://c")
	if err == nil || provider.Code(err) != provider.InvalidArgument {
		t.Fatalf("OpenAll with two bad URLs: %v", err)
	}
}
