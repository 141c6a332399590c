package main

import (
	"bytes"
	"os"
	"path/filepath"
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
	dir := t.TempDir()
	if err := run(t.Context(), &out, []string{"-dir", dir}); err != nil {
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
		"local://portable-http (HTTP on $PORT protocol):\n  GET /hello?name=gopher -> 200 hello, gopher (version v1, platform local)",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// The functions' slog records carry each mode's correlation fields.
	for name, want := range map[string][]string{
		"portable-lambda": {`"level":"INFO","message":"greeting","name":"gopher","trigger":"web","requestId":"`, `","xray_trace_id":"1-`, `"level":"WARN","message":"job failed","id":"job-2","trigger":"jobs","requestId":"`},
		"portable-http":   {`"level":"INFO","msg":"greeting","name":"gopher","trigger":"web","request_id":"`},
	} {
		log, err := os.ReadFile(filepath.Join(dir, "functions", name, "function.log"))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(string(log), w) {
				t.Errorf("%s log lacks %s:\n%s", name, w, log)
			}
		}
	}
}
