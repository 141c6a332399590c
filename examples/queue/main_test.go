package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestQueueExample runs the example as `go run ./examples/queue` does:
// every job POSTed to the api function is done by the worker, and the
// poison job ends in the dead-letter queue.
func TestQueueExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs two functions")
	}
	var out bytes.Buffer
	if err := run(t.Context(), &out, []string{"-dir", t.TempDir()}); err != nil {
		t.Fatalf("queue example failed: %v\n%s", err, out.String())
	}
	report := out.String()
	t.Log("\n" + report)
	for _, want := range []string{
		"deployed worker (queue jobs from arn:aws:sqs:us-east-1:000000000000:jobs)",
		`POST /jobs "bill customer"          -> 202`,
		"the worker had done 5 jobs; 1 was dead-lettered after 3 receives",
		"sent 6, received 8 (2 redeliveries), deleted 5, dead-lettered 1, left 0",
		`queue jobs-dlq: "poison: corrupt upload" (from jobs)`,
	} {
		if !strings.Contains(report, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
