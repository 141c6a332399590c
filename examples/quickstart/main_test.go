package main

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestQuickstart runs the quickstart as `go run ./examples/quickstart`
// does, and checks its report and that it leaves no process behind.
func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), &out, []string{"-requests", "100"}); err != nil {
		t.Fatalf("quickstart failed: %v\n%s", err, out.String())
	}
	report := out.String()
	t.Log("\n" + report)
	for _, want := range []string{
		"deployed v1: created, revision 1 serves 100%",
		"cold call: 200 {\"message\":\"hello, gopher\",\"version\":\"v1\"",
		"of which instance start",
		"warm call: 200",
		"gate invoke passed",
		"candidate at  10%: v1 (revision 1)",
		"candidate at 100%: v2 (revision 2) 100.0%",
		"rollout succeeded",
		"revision 2 serves 100%",
		"GB-s",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(report, "failed") {
		t.Errorf("requests failed during the rollout")
	}
	if runtime.GOOS == "linux" {
		if kids := children(); len(kids) > 0 {
			t.Errorf("processes left behind: %v", kids)
		}
	}
}

// children lists the live processes whose parent is this one.
func children() []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	me := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 1 && f[1] == me && f[0] != "Z" {
			pid, _ := strconv.Atoi(e.Name())
			out = append(out, pid)
		}
	}
	return out
}
