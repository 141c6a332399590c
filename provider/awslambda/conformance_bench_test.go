package awslambda

import (
	"testing"

	"github.com/updraft-dev/updraft/provider/providertest"
)

// BenchmarkConformance runs the conformance suite's benchmarks through
// the real SDK client against the in-repo fake.
func BenchmarkConformance(b *testing.B) {
	providertest.RunBenchmarks(b, &harness{fa: newFakeAWS(b, nil)})
}
