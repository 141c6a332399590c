package localprovider

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/updraft-dev/updraft/trigger"
)

// BenchmarkQueueSend measures durable sends through the Host API: one
// message per transaction (each an fsync), and ten per transaction.
func BenchmarkQueueSend(b *testing.B) {
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			h := newHost(b, &Options{Dir: b.TempDir()})
			msgs := make([]QueueMessage, n)
			for i := range msgs {
				msgs[i] = QueueMessage{Body: []byte(`{"job":"resize","id":12345}`)}
			}
			ctx := context.Background()
			b.ResetTimer()
			for b.Loop() {
				if _, err := h.SendMessages(ctx, "bench", msgs...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkQueueSendSQS measures the SQS client's SendMessageBatch (10
// messages) against the gateway, as a producer sees it.
func BenchmarkQueueSendSQS(b *testing.B) {
	h := newHost(b, &Options{Dir: b.TempDir()})
	c := sqsClient(h)
	ctx := context.Background()
	cq, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("bench")})
	if err != nil {
		b.Fatal(err)
	}
	entries := make([]types.SendMessageBatchRequestEntry, 10)
	for i := range entries {
		entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(`{"job":"resize","id":12345}`)}
	}
	b.ResetTimer()
	for b.Loop() {
		out, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: cq.QueueUrl, Entries: entries})
		if err != nil || len(out.Failed) > 0 {
			b.Fatal(err, out)
		}
	}
	b.ReportMetric(float64(b.N*10)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkQueueDelivery measures end to end: b.N messages sent, then
// delivered in batches of 10 to a Runtime API consumer and deleted.
func BenchmarkQueueDelivery(b *testing.B) {
	dir := b.TempDir()
	h := newHost(b, &Options{Dir: dir})
	ctx := context.Background()
	deploy(b, h, "bench-consumer", consumerSpec(filepath.Join(dir, "events.log"), false,
		trigger.Queue{Key: "jobs", Source: "bench-delivery", BatchSize: 10}))
	// Warm the pollers' instances.
	if _, err := h.SendMessages(ctx, "bench-delivery", QueueMessage{Body: []byte("warm")}); err != nil {
		b.Fatal(err)
	}
	wait := func(n int64) {
		for deadline := time.Now().Add(2 * time.Minute); ; {
			st, err := h.QueueStats(ctx, "bench-delivery")
			if err != nil {
				b.Fatal(err)
			}
			if st.Deleted >= n {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("delivery stalled: %+v", st)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	wait(1)
	msgs := make([]QueueMessage, b.N)
	for i := range msgs {
		msgs[i] = QueueMessage{Body: []byte(`{"job":"resize"}`)}
	}
	b.ResetTimer()
	for i := 0; i < len(msgs); i += 100 {
		if _, err := h.SendMessages(ctx, "bench-delivery", msgs[i:min(i+100, len(msgs))]...); err != nil {
			b.Fatal(err)
		}
	}
	wait(int64(b.N) + 1)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
