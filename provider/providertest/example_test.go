package providertest_test

import (
	"fmt"
	"strings"

	"github.com/updraft-dev/updraft/provider/providertest"
)

// Every adapter runs the same cases through the portable type; this lists them.
func ExampleCases() {
	fmt.Println(strings.Join(providertest.Cases(), "\n"))
	// Output:
	// NotFound
	// Create
	// CreateRace
	// IdempotentApply
	// BackToBackUpdates
	// InvalidInput
	// Publish
	// Traffic
	// Preconditions
	// DeleteRevision
	// NilVersusEmpty
	// TriggersByKey
	// Provisioned
	// Marker
	// Verdicts
	// RouteUpdate
	// Invoke
	// Canceled
	// CanceledDuringApply
	// Metrics
	// Closed
	// Delete
}
