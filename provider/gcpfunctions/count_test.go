package gcpfunctions

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/internal/cloudfake/gcpfake"
	"github.com/updraft-dev/updraft/provider"
)

// TestCallCounts counts the calls of each deploy step through the engine
// (operations finish at once, so no GetOperation polls are counted; a
// real cloud adds at least one per long-running operation). The package
// doc reports these numbers; change both together.
func TestCallCounts(t *testing.T) {
	fg := newFakeGCP(t, &gcpfake.Options{})
	fn := fg.open(t, testFunction, func(o *Options) { o.SchedulerClient = nil; o.SchedulerServiceAccount = "" })
	fns := []*provider.Function{fn}
	ctx := t.Context()
	s := testSpec()
	step := func(name string, run func() error) (int, map[string]int) {
		t.Helper()
		fg.srv.ResetCalls()
		if err := run(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		calls := fg.srv.Calls()
		m := countCalls(calls)
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
		t.Logf("%-12s %2d calls: %s", name, len(calls), strings.Join(parts, ", "))
		return len(calls), m
	}
	want := map[string]int{"create": 9, "code change": 13, "no-op": 4, "rollback": 6}
	n, m := step("create", func() error { _, err := deploy.Apply(ctx, fns, s, nil); return err })
	if n != want["create"] || m["PUT upload"] != 1 {
		t.Errorf("create: %d calls, want %d", n, want["create"])
	}
	s.Code = bundle.Files(map[string][]byte{"go.mod": []byte("module example.com/fn\n"), "fn.go": []byte("package fn // v2\n")})
	n, m = step("code change", func() error { _, err := deploy.Apply(ctx, fns, s, nil); return err })
	if n != want["code change"] || m["PUT upload"] != 1 {
		t.Errorf("code change: %d calls, want %d", n, want["code change"])
	}
	n, m = step("no-op", func() error { _, err := deploy.Apply(ctx, fns, s, nil); return err })
	if n != want["no-op"] || m["UpdateFunction"]+m["UpdateService"]+m["PUT upload"] != 0 {
		t.Errorf("no-op: %d calls, want %d reads", n, want["no-op"])
	}
	n, _ = step("rollback", func() error { _, err := deploy.Rollback(ctx, fns, nil); return err })
	if n != want["rollback"] {
		t.Errorf("rollback: %d calls, want %d", n, want["rollback"])
	}
}
