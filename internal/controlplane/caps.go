package controlplane

import (
	"time"

	"github.com/updraft-dev/updraft/provider"
)

// LambdaLike returns the capabilities the in-process targets share: AWS
// Lambda's memory, timeout and environment limits, weighted traffic,
// provisioned and maximum concurrency, and secrets. The caller adds its
// runtimes, architectures, trigger kinds and code form.
func LambdaLike(name string) provider.Capabilities {
	return provider.Capabilities{
		Provider:        name,
		Memory:          provider.Range{Min: 128, Max: 10240, Step: 1},
		DefaultMemoryMB: 128,
		DefaultTimeout:  3 * time.Second,
		MaxTimeout:      15 * time.Minute,
		WeightedTraffic: true,
		Provisioned:     true,
		MaxConcurrency:  true,
		Secrets:         true,
		MaxEnvBytes:     4096,
	}
}
