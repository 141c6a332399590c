package localprovider

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/provider"
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

// TestApplyRefusesBadEventSources: a source naming no possible local
// queue, stream or bucket is refused by Apply, before anything changes.
func TestApplyRefusesBadEventSources(t *testing.T) {
	h := newHost(t, &Options{Dir: t.TempDir()})
	ctx := context.Background()
	fn, err := h.OpenFunction(ctx, "badsrc")
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Close()
	for _, tr := range []trigger.Trigger{
		trigger.Queue{Key: "q", Source: "arn:aws:sqs:us-east-1:1:has space"},
		trigger.Stream{Key: "s", Source: "table/with*star"},
		trigger.Storage{Key: "b", Bucket: "Upper_Case"},
	} {
		spec := consumerSpec(filepath.Join(t.TempDir(), "log"), false, tr)
		if err := fn.Validate(spec); provider.Code(err) != provider.InvalidArgument || !strings.Contains(err.Error(), "last element") {
			t.Errorf("%s: Validate = %v, want the refusal Plan reports", trigger.Describe(tr), err)
		}
		_, err := fn.Apply(ctx, spec, &provider.ApplyOptions{Publish: true})
		if provider.Code(err) != provider.InvalidArgument || !strings.Contains(err.Error(), "last element") {
			t.Errorf("%s: err = %v, want InvalidArgument saying how the name is read", trigger.Describe(tr), err)
		}
	}
	if _, err := fn.Get(ctx); provider.Code(err) != provider.NotFound {
		t.Fatalf("after refused Applies: Get = %v, want NotFound", err)
	}
}
