package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestPortable runs the example as `go run ./examples/portable` does: the
// same package is built in every form, and the Lambda-protocol and
// $PORT-protocol deployments on local:// both answer.
func TestPortable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the function")
	}
	var out bytes.Buffer
	if err := run(t.Context(), &out, nil); err != nil {
		t.Fatalf("portable failed: %v\n%s", err, out.String())
	}
	report := out.String()
	t.Log("\n" + report)
	for _, want := range []string{
		"awslambda (arm64)      1 files",
		": bootstrap\n",
		": go.mod go.sum updraftfn.go\n",
		": handler host.json jobs/function.json web/function.json\n",
		"local://portable-lambda (Runtime API protocol):\n  GET /hello?name=gopher -> 200 hello, gopher (version v1, platform aws-lambda)",
		`SQS batch of 3 -> {"batchItemFailures":[{"itemIdentifier":"job-2"}]}`,
		"local://portable-http (HTTP on $PORT protocol):\n  GET /hello?name=gopher -> 200 hello, gopher (version v1, platform gcp)",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
