package localprovider

import (
	"context"
	"fmt"
	"net/url"
	"syscall"
	"testing"
	"time"
)

// TestIsolationLevels runs the setsid escape at each namespace level this
// machine allows: the PID namespace alone (root) and with a user
// namespace (what an unprivileged user gets).
func TestIsolationLevels(t *testing.T) {
	for _, level := range []int32{isolatePID, isolateUserPID} {
		t.Run(fmt.Sprint(level), func(t *testing.T) {
			h, err := NewHost(context.Background(), &Options{Dir: stateDir})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			h.isolation.Store(level)
			name := fmt.Sprintf("iso%d", level)
			deploy(t, h, name, testSpec("1"))
			tag := fmt.Sprintf("300 0.%d", time.Now().UnixNano())
			if r := get(t, h.URL(name)+"?spawn="+url.QueryEscape(tag)); r.code != 200 {
				t.Fatalf("spawn: %d %q", r.code, r.body)
			}
			if got := h.isolation.Load(); got != level {
				t.Skipf("level %d is not available here (fell back to %d)", level, got)
			}
			var pid int
			waitFor(t, 5*time.Second, "the child to start", func() bool { pid = findProcess(tag); return pid != 0 })
			t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
			h.Close()
			if !processGone(pid, 5*time.Second) {
				t.Fatalf("process %d started with setsid survived Host.Close at level %d", pid, level)
			}
		})
	}
}
