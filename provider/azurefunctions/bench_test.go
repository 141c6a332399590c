package azurefunctions_test

import (
	"testing"

	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/azurefunctions"
)

// The benchmarks report the requests each step sends to the fake (ARM,
// SCM, blob), the cost that matters against the real cloud.
func reportCalls(b *testing.B, e *env, n int) {
	b.ReportMetric(float64(e.cloud.CountCalls("arm", ""))/float64(n), "arm-calls/op")
	b.ReportMetric(float64(e.cloud.CountCalls("scm", ""))/float64(n), "scm-calls/op")
	b.ReportMetric(float64(e.cloud.CountCalls("blob", ""))/float64(n), "blob-calls/op")
}

func BenchmarkCreate(b *testing.B) {
	e := newEnv(b, azurefunctions.Flex)
	var arm, scm, blob int
	n := 0
	for b.Loop() {
		fn := e.open(b, "fn")
		if _, err := fn.Apply(b.Context(), baseSpec(), &provider.ApplyOptions{Publish: true}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		n++
		arm, scm, blob = arm+e.cloud.CountCalls("arm", ""), scm+e.cloud.CountCalls("scm", ""), blob+e.cloud.CountCalls("blob", "")
		if err := fn.Delete(b.Context()); err != nil {
			b.Fatal(err)
		}
		e.cloud.ResetCalls()
		b.StartTimer()
	}
	b.ReportMetric(float64(arm)/float64(n), "arm-calls/op")
	b.ReportMetric(float64(scm)/float64(n), "scm-calls/op")
	b.ReportMetric(float64(blob)/float64(n), "blob-calls/op")
}

func BenchmarkNoopApply(b *testing.B) {
	e := newEnv(b, azurefunctions.Flex)
	fn := e.open(b, "fn")
	if _, err := fn.Apply(b.Context(), baseSpec(), &provider.ApplyOptions{Publish: true}); err != nil {
		b.Fatal(err)
	}
	e.cloud.ResetCalls()
	n := 0
	for b.Loop() {
		if _, err := fn.Apply(b.Context(), baseSpec(), &provider.ApplyOptions{Publish: true}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportCalls(b, e, n)
}

// BenchmarkFlexRollback moves the route back to a revision whose package
// differs (a redeploy of the kept package).
func BenchmarkFlexRollback(b *testing.B) {
	e := newEnv(b, azurefunctions.Flex)
	fn := e.open(b, "fn")
	s := baseSpec()
	r1, _ := fn.Apply(b.Context(), s, &provider.ApplyOptions{Publish: true})
	s.Code = handlerCode("v2")
	r2, _ := fn.Apply(b.Context(), s, &provider.ApplyOptions{Publish: true})
	e.cloud.ResetCalls()
	n := 0
	for b.Loop() {
		for _, r := range []string{r2.Revision.ID, r1.Revision.ID} {
			if err := fn.SetTraffic(b.Context(), "", provider.Traffic{Stable: r}, nil); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	reportCalls(b, e, n)
}

func BenchmarkPremiumSwap(b *testing.B) {
	e := newEnv(b, azurefunctions.Premium)
	fn := e.open(b, "fn")
	s := baseSpec()
	r1, _ := fn.Apply(b.Context(), s, &provider.ApplyOptions{Publish: true})
	s.Code = handlerCode("v2")
	r2, _ := fn.Apply(b.Context(), s, &provider.ApplyOptions{Publish: true})
	e.cloud.ResetCalls()
	n := 0
	for b.Loop() {
		for _, r := range []string{r2.Revision.ID, r1.Revision.ID} {
			if err := fn.SetTraffic(b.Context(), "", provider.Traffic{Stable: r}, nil); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	reportCalls(b, e, n)
}
