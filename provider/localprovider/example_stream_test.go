package localprovider_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/localprovider"
	"github.com/updraft-dev/updraft/trigger"
)

// Example_stream deploys a change handler built on the portable function
// package with a stream trigger on a DynamoDB table's stream, appends two
// changes to the local stream of that table, and waits until the
// function has processed them. (POST /.updraft/streams/orders on the
// gateway appends them too.)
func Example_stream() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "updraft-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	h, err := localprovider.NewHost(ctx, &localprovider.Options{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	fn, err := h.OpenFunction(ctx, "audit")
	if err != nil {
		log.Fatal(err)
	}
	defer fn.Close()
	spec := &provider.Spec{
		Code:    bundle.GoSource("testdata/events"),
		Runtime: "go",
		Env:     map[string]string{"EVENTS_LOG": filepath.Join(dir, "events.log")},
		Triggers: []trigger.Trigger{trigger.Stream{
			Key: "changes",
			// The local stream is the table's: "orders".
			Source:           "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-01-01T00:00:00.000",
			StartingPosition: trigger.StartTrimHorizon,
		}},
	}
	if _, err := fn.Apply(ctx, spec, &provider.ApplyOptions{Publish: true}); err != nil {
		log.Fatal(err)
	}
	key := map[string]any{"id": "o-1"}
	seqs, err := h.AppendChanges(ctx, "orders",
		localprovider.StreamChange{Op: localprovider.StreamInsert, Key: key, New: map[string]any{"total": 30}},
		localprovider.StreamChange{Op: localprovider.StreamModify, Key: key, Old: map[string]any{"total": 30}, New: map[string]any{"total": 42}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("appended", seqs)

	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		st, err := h.StreamStats(ctx, "orders")
		if err != nil {
			log.Fatal(err)
		}
		if c := st.Consumers; len(c) == 1 && c[0].Lag == 0 {
			fmt.Printf("%s/%s: checkpoint %s, %d delivered, %d retries\n", c[0].Function, c[0].Trigger, c[0].Checkpoint, c[0].Delivered, c[0].Retries)
			break
		}
		if time.Now().After(deadline) {
			log.Fatalf("not processed: %+v", st)
		}
	}
	// Output:
	// appended [00000000000000000001 00000000000000000002]
	// audit/changes: checkpoint 00000000000000000002, 2 delivered, 0 retries
}
