package azurefunctions_test

import (
	"testing"

	"github.com/updraft-dev/updraft/provider/azurefunctions"
	"github.com/updraft-dev/updraft/provider/providertest"
)

// BenchmarkConformance runs the conformance suite's benchmarks through
// the real SDK clients against the in-repo fake, on the Flex plan.
func BenchmarkConformance(b *testing.B) {
	providertest.RunBenchmarks(b, &harness{e: newEnv(b, azurefunctions.Flex)})
}
