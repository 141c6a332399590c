//go:build unix

package deploy

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/memprovider"
)

func manyFunctions(t testing.TB, c *memprovider.Cloud, n int) []*provider.Function {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("fn-%04d", i)
	}
	fns := openFns(t, c, names...)
	if _, err := Apply(context.Background(), fns, testSpec("1"), &ApplyOptions{Bundle: noCache, Concurrency: 64}); err != nil {
		t.Fatal(err)
	}
	return fns
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkApply50Targets applies a new version to 50 functions whose
// every call takes 50ms, serially (concurrency=1) and with the default
// bound. DESIGN §8: the parallel apply takes at most 15% of the serial time.
func BenchmarkApply50Targets(b *testing.B) {
	for _, conc := range []int{1, 0} {
		name := fmt.Sprintf("concurrency=%d", conc)
		if conc == 0 {
			name = fmt.Sprintf("concurrency=default(%d)", defaultConcurrency)
		}
		b.Run(name, func(b *testing.B) {
			c := newCloud(b, nil)
			fns := manyFunctions(b, c, 50)
			c.SetLatency(50 * time.Millisecond)
			version := 1
			for b.Loop() {
				version++
				res, err := Apply(b.Context(), fns, testSpec(fmt.Sprint(version)), &ApplyOptions{Bundle: noCache, Concurrency: conc})
				if err != nil || !res.Targets[49].TrafficMoved {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPlan1000 plans a new version of 1,000 functions and reports
// the process CPU time (user+system) per plan. DESIGN §8: under 1s.
func BenchmarkPlan1000(b *testing.B) {
	c := newCloud(b, nil)
	fns := manyFunctions(b, c, 1000)
	spec := testSpec("2")
	start := cpuTime()
	for b.Loop() {
		p, err := Plan(b.Context(), fns, spec, &PlanOptions{Bundle: noCache})
		if err != nil || !p.HasChanges() {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e6, "cpu-ms/op")
}

// TestApplyConcurrencyBound checks that Apply runs targets in parallel up
// to its bound and never beyond it. (The speed bar itself is measured by
// BenchmarkApply50Targets, not in a timed test.)
func TestApplyConcurrencyBound(t *testing.T) {
	for _, conc := range []int{1, 4} {
		c := newCloud(t, nil)
		fns := manyFunctions(t, c, 12)
		c.SetLatency(2 * time.Millisecond)
		c.ResetCounters()
		if _, err := Apply(t.Context(), fns, testSpec("2"), &ApplyOptions{Bundle: noCache, Concurrency: conc}); err != nil {
			t.Fatal(err)
		}
		if got := c.PeakConcurrency(); got != conc {
			t.Errorf("concurrency %d: peak of %d calls in flight, want exactly %d", conc, got, conc)
		}
	}
}
