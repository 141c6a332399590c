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

// Example_queue deploys a queue consumer built on the portable function
// package with a trigger on an SQS queue, sends it three messages of
// which one always fails, and waits until the good ones are done and the
// bad one is in the dead-letter queue. (POST /.updraft/queues/orders on
// the gateway, `updraft queue send orders BODY` and the AWS SDK's SQS
// client send to the local queue too.)
func Example_queue() {
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
	// A failed message is received again after 200 ms, and moved to
	// orders-dlq after its second receive.
	if err := h.CreateQueue(ctx, "orders", &localprovider.QueueOptions{VisibilityTimeout: 200 * time.Millisecond, MaxReceiveCount: 2}); err != nil {
		log.Fatal(err)
	}
	fn, err := h.OpenFunction(ctx, "fulfil")
	if err != nil {
		log.Fatal(err)
	}
	defer fn.Close()
	spec := &provider.Spec{
		Code:    bundle.GoSource("testdata/events"),
		Runtime: "go",
		Timeout: time.Second,
		Env:     map[string]string{"EVENTS_LOG": filepath.Join(dir, "events.log")},
		// The local queue is the ARN's last element: "orders".
		Triggers: []trigger.Trigger{trigger.Queue{Key: "jobs", Source: "arn:aws:sqs:us-east-1:123456789012:orders", BatchSize: 10}},
	}
	if _, err := fn.Apply(ctx, spec, &provider.ApplyOptions{Publish: true}); err != nil {
		log.Fatal(err)
	}
	if _, err := h.SendMessages(ctx, "orders",
		localprovider.QueueMessage{Body: []byte("ship o-1")},
		localprovider.QueueMessage{Body: []byte("fail: o-2 has no address")}, // the consumer reports it failed
		localprovider.QueueMessage{Body: []byte("ship o-3")}); err != nil {
		log.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		st, err := h.QueueStats(ctx, "orders")
		if err != nil {
			log.Fatal(err)
		}
		if st.Deleted == 2 && st.DeadLettered == 1 {
			fmt.Printf("orders: %d sent, %d done, %d dead-lettered to %s\n", st.Sent, st.Deleted, st.DeadLettered, st.DeadLetterQueue)
			break
		}
		if time.Now().After(deadline) {
			log.Fatalf("not processed: %+v", st)
		}
	}
	dead, err := h.PeekMessages(ctx, "orders-dlq", 10)
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range dead {
		fmt.Printf("orders-dlq: %q (from %s)\n", m.Body, m.From)
	}
	// Output:
	// orders: 3 sent, 2 done, 1 dead-lettered to orders-dlq
	// orders-dlq: "fail: o-2 has no address" (from orders)
}
