package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// checkOutput validates a --output json result against the schema
// `updraft schema --of COMMAND` prints.
func checkOutput(t *testing.T, command, out string) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", command, err, out)
	}
	if err := compiledOutputSchema(t, command).Validate(v); err != nil {
		t.Errorf("%s output does not match its schema: %v\n%s", command, err, out)
	}
}

// TestQueueCommands: send, stats and peek on a state directory, with no
// host serving it.
func TestQueueCommands(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := runCLI(t, "queue", "send", "--dir", dir, "--attr", "k=v", "jobs", "one", "two"); code != 0 || strings.Count(out, "sent ") != 2 {
		t.Fatalf("send: %d %q %q", code, out, errOut)
	}
	code, out, _ := runCLI(t, "--output", "json", "queue", "send", "--dir", dir, "jobs", "three")
	if code != 0 {
		t.Fatalf("send: %d %s", code, out)
	}
	checkOutput(t, "queue send", out)
	code, out, _ = runCLI(t, "--output", "json", "queue", "stats", "--dir", dir, "jobs")
	checkOutput(t, "queue stats", out)
	var st struct {
		Visible, Sent   int
		DeadLetterQueue string
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Visible != 3 || st.Sent != 3 || st.DeadLetterQueue != "jobs-dlq" {
		t.Fatalf("stats: %d %s", code, out)
	}
	code, out, _ = runCLI(t, "--output", "json", "queue", "peek", "--dir", dir, "jobs")
	checkOutput(t, "queue peek", out)
	var msgs []struct {
		Body       string
		Attributes map[string]string
	}
	if code != 0 || json.Unmarshal([]byte(out), &msgs) != nil || len(msgs) != 3 || msgs[0].Body != "one" || msgs[1].Attributes["k"] != "v" {
		t.Fatalf("peek: %d %s", code, out)
	}
	if code, _, errOut := runCLI(t, "queue", "send", "--dir", dir, "jobs.fifo", "x"); code != 1 || !strings.Contains(errOut, "--group") {
		t.Fatalf("FIFO send without a group: %d %q", code, errOut)
	}
	if code, _, _ := runCLI(t, "queue", "send", "--dir", dir, "--attr", "novalue", "jobs", "x"); code != 64 {
		t.Fatalf("bad --attr: exit %d, want 64", code)
	}
}

// TestStreamCommands: append from arguments and stdin-less JSON, then stats.
func TestStreamCommands(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "stream", "append", "--dir", dir, "orders",
		`{"op":"insert","key":{"id":"1"},"new":{"id":"1","total":5}}`,
		`[{"op":"modify","key":{"id":"1"},"old":{"id":"1","total":5},"new":{"id":"1","total":7}},{"op":"remove","key":{"id":"1"}}]`)
	if code != 0 || strings.Count(out, "appended ") != 3 {
		t.Fatalf("append: %d %q %q", code, out, errOut)
	}
	code, out, _ = runCLI(t, "--output", "json", "stream", "stats", "--dir", dir, "orders")
	checkOutput(t, "stream stats", out)
	_, o, _ := runCLI(t, "--output", "json", "stream", "append", "--dir", dir, "orders", `{"op":"insert","key":{"id":"2"},"new":{"id":"2"}}`)
	checkOutput(t, "stream append", o)
	var st struct{ Records, Appended int }
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Records != 3 || st.Appended != 3 {
		t.Fatalf("stats: %d %s", code, out)
	}
	if code, _, errOut := runCLI(t, "stream", "append", "--dir", dir, "orders", `{"op":"insert","kee":{}}`); code != 64 || !strings.Contains(errOut, "kee") {
		t.Fatalf("a bad change: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "stream", "append", "--dir", dir, "orders", `{"op":"insert","key":{}}`); code != 1 || errOut == "" {
		t.Fatalf("a change without a key: %d %q", code, errOut)
	}
}

// TestBucketCommands: dir creates and prints the bucket's directory;
// stats counts it.
func TestBucketCommands(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCLI(t, "bucket", "dir", "--dir", dir, "arn:aws:s3:::photos")
	if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "/buckets/photos") {
		t.Fatalf("dir: %d %q %q", code, out, errOut)
	}
	if code, out, _ := runCLI(t, "--output", "json", "bucket", "stats", "--dir", dir, "photos"); code != 0 || !strings.Contains(out, `"bucket": "photos"`) {
		t.Fatalf("stats: %d %s", code, out)
	} else {
		checkOutput(t, "bucket stats", out)
	}
	_, out, _ = runCLI(t, "--output", "json", "bucket", "dir", "--dir", dir, "photos")
	checkOutput(t, "bucket dir", out)
	if code, _, errOut := runCLI(t, "bucket", "dir", "--dir", dir, "Bad_Name"); code != 1 || errOut == "" {
		t.Fatalf("a bad bucket name: %d %q", code, errOut)
	}
}
