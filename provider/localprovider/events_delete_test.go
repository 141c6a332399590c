package localprovider

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/trigger"
)

// TestDeleteForgetsStreamPosition: deleting a function forgets its
// stream checkpoints, as deleting a Lambda function deletes its event
// source mappings; a function created again starts at its trigger's
// starting position.
func TestDeleteForgetsStreamPosition(t *testing.T) {
	dir := t.TempDir()
	h := newHost(t, &Options{Dir: dir})
	ctx := context.Background()
	if _, err := h.AppendChanges(ctx, "ledger", StreamChange{Op: StreamInsert, Key: map[string]any{"id": "1"}, New: map[string]any{"id": "1"}}); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "events.log")
	spec := consumerSpec(log, false, trigger.Stream{Key: "changes", Source: "ledger", StartingPosition: trigger.StartTrimHorizon})
	fn, _ := deploy(t, h, "ledger", spec)
	waitEvents(t, log, 30*time.Second, "the change delivered", func(evs []eventLine) bool { return len(evs) == 1 })
	if err := fn.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := h.StreamStats(ctx, "ledger")
	if err != nil || len(st.Consumers) != 0 {
		t.Fatalf("after Delete: %+v, %v; the function's checkpoint should be gone", st, err)
	}
	deploy(t, h, "ledger", spec)
	waitEvents(t, log, 30*time.Second, "the change delivered again from the trim horizon", func(evs []eventLine) bool { return len(evs) == 2 })
}
