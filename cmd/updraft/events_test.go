package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestQueueCommands: send, stats and peek on a state directory, with no
// host serving it.
func TestQueueCommands(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := runCLI(t, "queue", "send", "--dir", dir, "--attr", "k=v", "jobs", "one", "two"); code != 0 || strings.Count(out, "sent ") != 2 {
		t.Fatalf("send: %d %q %q", code, out, errOut)
	}
	code, out, _ := runCLI(t, "--output", "json", "queue", "stats", "--dir", dir, "jobs")
	var st struct {
		Visible, Sent   int
		DeadLetterQueue string
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Visible != 2 || st.Sent != 2 || st.DeadLetterQueue != "jobs-dlq" {
		t.Fatalf("stats: %d %s", code, out)
	}
	code, out, _ = runCLI(t, "--output", "json", "queue", "peek", "--dir", dir, "jobs")
	var msgs []struct {
		Body       string
		Attributes map[string]string
	}
	if code != 0 || json.Unmarshal([]byte(out), &msgs) != nil || len(msgs) != 2 || msgs[0].Body != "one" || msgs[1].Attributes["k"] != "v" {
		t.Fatalf("peek: %d %s", code, out)
	}
	if code, _, errOut := runCLI(t, "queue", "send", "--dir", dir, "jobs.fifo", "x"); code != 1 || !strings.Contains(errOut, "--group") {
		t.Fatalf("FIFO send without a group: %d %q", code, errOut)
	}
	if code, _, _ := runCLI(t, "queue", "send", "--dir", dir, "--attr", "novalue", "jobs", "x"); code != 64 {
		t.Fatalf("bad --attr: exit %d, want 64", code)
	}
}
