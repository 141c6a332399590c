package providertest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/provider/memprovider"
	"github.com/updraft-dev/updraft/provider/providertest"
	"github.com/updraft-dev/updraft/trigger"
)

// The tests below show that the suite's cases can fail an adapter: each
// runs the suite in a child process against memprovider with one thing
// broken, and expects the case that covers it to fail there.

const brokenEnv = "PROVIDERTEST_BROKEN"

// broken is a mem driver with one behaviour broken, named by its mode.
type broken struct {
	driver.Function
	mode string
}

func (b *broken) Apply(ctx context.Context, s *driver.Spec, opts *driver.ApplyOptions) (*driver.ApplyResult, error) {
	switch b.mode {
	case "ignores-cancel": // finishes the Apply as if the ctx were live
		return b.Function.Apply(context.WithoutCancel(ctx), s, opts)
	case "half-applied": // applies everything, then reports the cancellation
		res, err := b.Function.Apply(context.WithoutCancel(ctx), s, opts)
		if err == nil {
			err = ctx.Err()
		}
		return res, err
	case "skips-hook": // never calls BeforeApply
		o := *opts
		o.BeforeApply = nil
		return b.Function.Apply(ctx, s, &o)
	case "noop-changes": // reports a change on every Apply
		res, err := b.Function.Apply(ctx, s, opts)
		if res != nil {
			res.Changed = true
		}
		return res, err
	}
	return b.Function.Apply(ctx, s, opts)
}

func (b *broken) Metrics(ctx context.Context, q *driver.MetricsQuery) (*driver.Metrics, error) {
	m, err := b.Function.Metrics(ctx, q)
	if b.mode == "metrics-zero" && m != nil { // never counts an invocation
		m.Invocations = 0
	}
	return m, err
}

type brokenHarness struct {
	c    *memprovider.Cloud
	mode string
}

func (h *brokenHarness) MakeDriver(context.Context) (driver.Function, error) { return h.open("fn") }
func (h *brokenHarness) MakeDriverForNonexistentFunction(context.Context) (driver.Function, error) {
	return h.open("missing")
}
func (h *brokenHarness) open(name string) (driver.Function, error) {
	d, err := h.c.OpenDriver(name)
	return &broken{Function: d, mode: h.mode}, err
}
func (h *brokenHarness) Spec(context.Context) (*provider.Spec, error) {
	return &provider.Spec{Code: bundle.Files(map[string][]byte{"index.js": []byte("exports.handler = async () => 'hi'\n")}),
		Runtime: "nodejs22", Entrypoint: "index.handler"}, nil
}
func (h *brokenHarness) Triggers() []trigger.Trigger {
	return []trigger.Trigger{trigger.HTTP{Key: "web", Auth: trigger.AuthNone}, trigger.Schedule{Key: "tick", Cron: "*/5 * * * *"},
		trigger.Queue{Key: "jobs", Source: "arn:aws:sqs:eu-west-1:123456789012:jobs", BatchSize: 10}}
}
func (h *brokenHarness) Close() {}

// MetricsLag is short: mem counts an invocation at once.
func (h *brokenHarness) MetricsLag() time.Duration { return 200 * time.Millisecond }

func newBrokenHarness(mode string) *brokenHarness {
	return &brokenHarness{c: memprovider.NewCloud(nil), mode: mode}
}

// TestBrokenChild runs the suite on the broken driver the parent names;
// it does nothing when run directly.
func TestBrokenChild(t *testing.T) {
	mode := os.Getenv(brokenEnv)
	if mode == "" {
		t.Skip("run by TestSuiteFailsBrokenDrivers")
	}
	providertest.RunConformanceTests(t, func(context.Context, *testing.T) (providertest.Harness, error) {
		return newBrokenHarness(mode), nil
	}, nil)
}

func BenchmarkBrokenChild(b *testing.B) {
	mode := os.Getenv(brokenEnv)
	if mode == "" {
		b.Skip("run by TestSuiteFailsBrokenDrivers")
	}
	providertest.RunBenchmarks(b, newBrokenHarness(mode))
}

func TestSuiteFailsBrokenDrivers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite in child processes")
	}
	for _, tc := range []struct {
		mode string
		args []string
		fail string // the line that must appear in the child's output
	}{
		{"ignores-cancel", []string{"-test.run=^TestBrokenChild$"}, "--- FAIL: TestBrokenChild/CanceledDuringApply"},
		{"half-applied", []string{"-test.run=^TestBrokenChild$"}, "a canceled create left route live serving"},
		{"skips-hook", []string{"-test.run=^TestBrokenChild$"}, "a create never called BeforeApply"},
		{"metrics-zero", []string{"-test.run=^TestBrokenChild$"}, "--- FAIL: TestBrokenChild/Metrics"},
		{"noop-changes", []string{"-test.run=^$", "-test.bench=^BenchmarkBrokenChild$", "-test.benchtime=1x"}, "an unchanged spec changed the function"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], append(tc.args, "-test.v")...)
			cmd.Env = append(os.Environ(), brokenEnv+"="+tc.mode)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a driver that %s:\n%s", tc.mode, out)
			}
			if !strings.Contains(string(out), tc.fail) {
				t.Fatalf("the suite failed a driver that %s, but not with %q:\n%s", tc.mode, tc.fail, out)
			}
		})
	}
}
