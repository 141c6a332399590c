package localprovider

import (
	"cmp"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/updraft-dev/updraft/trigger"
)

// Queue pollers: like Lambda's SQS event source mapping, up to five
// batches of a queue trigger are in flight at once (fewer when the
// function's maximum concurrency is lower), each one receive of up to
// the trigger's batch size (default 10) hidden for the queue's
// visibility timeout, or the function's timeout if that is longer. A
// batch that succeeds is deleted; with a partial failure (an SQS batch
// response naming failed message ids, or the failed requests of a $PORT
// function) only the failed messages stay, to be received again when
// their visibility timeout ends; a batch whose invocation fails stays
// whole. A batch that reached no function (throttled, the host closing)
// is made visible again at once and its receive is not counted.

const (
	queuePoll         = 200 * time.Millisecond
	maxQueuePollers   = 5
	defaultQueueBatch = 10
)

func (fr *fnRuntime) runQueue(ctx context.Context, q trigger.Queue, route string) {
	name := QueueName(q.Source)
	if err := validQueueName(name); err != nil {
		fr.h.opts.Logger.Warn("queue trigger not started", "function", fr.name, "trigger", q.Key, "err", err)
		return
	}
	// The queue exists once a function consumes it (GetQueueUrl finds it).
	if err := fr.h.queues.ensure(ctx, name); err != nil && ctx.Err() == nil {
		fr.h.opts.Logger.Warn("queue not created; its pollers retry", "function", fr.name, "trigger", q.Key, "queue", name, "err", err)
	}
	fr.mu.Lock()
	n := min(max(fr.max, 1), maxQueuePollers)
	fr.mu.Unlock()
	done := make(chan struct{})
	for range n {
		go func() {
			defer func() { done <- struct{}{} }()
			defer fr.h.recovered("queue poller", "function", fr.name, "trigger", q.Key)
			fr.pollQueue(ctx, q, name, route)
		}()
	}
	for range n {
		<-done
	}
}

func (fr *fnRuntime) pollQueue(ctx context.Context, q trigger.Queue, name, route string) {
	qs := &fr.h.queues
	wake, stop := qs.watch(name)
	defer stop()
	batch := q.BatchSize
	if batch <= 0 {
		batch = defaultQueueBatch
	}
	var firstSeen time.Time
	failures := 0
	for ctx.Err() == nil {
		// Look before receiving: a read-only transaction, so that an
		// idle queue costs no write and no fsync.
		visible, err := qs.visibleCount(ctx, name, batch)
		if err == nil && visible == 0 {
			firstSeen = time.Time{}
			if !sleep(ctx, queuePoll, wake) {
				return
			}
			continue
		}
		if q.MaxBatchingWindow > 0 {
			// Gather: wait until a full batch is visible or the window
			// since the first visible message ends.
			if err == nil && visible < batch {
				if firstSeen.IsZero() {
					firstSeen = time.Now()
				}
				if left := q.MaxBatchingWindow - time.Since(firstSeen); left > 0 {
					if !sleep(ctx, min(left, queuePoll), wake) {
						return
					}
					continue
				}
			}
		}
		msgs, cfg, err := qs.receive(ctx, name, batch, fr.maxTimeout(route))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			if failures == 1 || failures%50 == 0 {
				fr.h.opts.Logger.Warn("queue receive failed; retrying", "function", fr.name, "trigger", q.Key, "queue", name, "err", err)
			}
			if !sleep(ctx, time.Second, nil) {
				return
			}
			continue
		}
		failures = 0
		if len(msgs) == 0 {
			firstSeen = time.Time{}
			if !sleep(ctx, queuePoll, wake) {
				return
			}
			continue
		}
		firstSeen = time.Time{}
		fr.deliverMessages(ctx, q, name, route, cfg, msgs)
	}
}

// deliverMessages delivers one received batch and settles it: deletes
// what succeeded, leaves what failed hidden until its visibility timeout
// ends, and gives back what reached no function.
func (fr *fnRuntime) deliverMessages(ctx context.Context, q trigger.Queue, name, route string, cfg *queueConfig, msgs []*storedMessage) {
	qs := &fr.h.queues
	d := &delivery{route: route, trigger: q.Key,
		lambda: func() []byte { return sqsEvent(name, msgs) },
		http:   func() []httpEvent { return pubsubEvents(name, fr.name, q.Key, msgs) }}
	res := fr.deliver(ctx, d)
	// Settle even when ctx ended: the batch's fate is known.
	sctx := context.WithoutCancel(ctx)
	receipts := func(keep func(i int, m *storedMessage) bool) []string {
		var out []string
		for i, m := range msgs {
			if keep(i, m) {
				out = append(out, m.receiptHandle())
			}
		}
		return out
	}
	if !res.delivered {
		if err := qs.release(sctx, name, receipts(func(int, *storedMessage) bool { return true }), res.retryAfter, true); err != nil {
			fr.h.opts.Logger.Warn("queue batch not given back; it is received again after its visibility timeout", "queue", name, "err", err)
		}
		if res.retryAfter > 0 {
			sleep(ctx, res.retryAfter, nil)
		}
		return
	}
	var failed map[string]bool
	switch {
	case res.lambda && res.status == StatusOK:
		var ok bool
		failed, ok = batchItemFailures(res.payload, msgs)
		if !ok {
			fr.h.opts.Logger.Warn("queue batch response names unknown messages or is not valid JSON; the whole batch is retried, as Lambda does", "function", fr.name, "trigger", q.Key)
			return
		}
	case res.lambda:
		fr.h.opts.Logger.Warn("queue batch failed; its messages are received again after the visibility timeout", "function", fr.name, "trigger", q.Key, "queue", name, "messages", len(msgs), "status", res.status, "visibility", cfg.Visibility)
		return
	default:
		failed = map[string]bool{}
		for i := range res.httpFailed {
			failed[msgs[i].ID] = true
		}
	}
	if len(failed) > 0 {
		fr.h.opts.Logger.Info("queue messages failed; they are received again after the visibility timeout", "function", fr.name, "trigger", q.Key, "queue", name, "failed", len(failed), "of", len(msgs))
	}
	if err := qs.ack(sctx, name, receipts(func(_ int, m *storedMessage) bool { return !failed[m.ID] })); err != nil {
		fr.h.opts.Logger.Warn("processed messages not deleted; they will be delivered again", "queue", name, "err", err)
	}
}

// batchItemFailures reads an SQS or stream batch response
// ({"batchItemFailures":[{"itemIdentifier":…}]}). An empty or null
// answer, or one without the field, is a success; invalid JSON or an
// identifier that names no message of the batch fails the whole batch
// (ok false), as on Lambda.
func batchItemFailures(payload []byte, msgs []*storedMessage) (map[string]bool, bool) {
	failed := map[string]bool{}
	if len(payload) == 0 || string(payload) == "null" {
		return failed, true
	}
	var r struct {
		BatchItemFailures []struct {
			ItemIdentifier *string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if !json.Valid(payload) {
		return nil, false
	}
	if payload[0] != '{' || json.Unmarshal(payload, &r) != nil {
		return failed, true
	}
	ids := map[string]bool{}
	for _, m := range msgs {
		ids[m.ID] = true
	}
	for _, f := range r.BatchItemFailures {
		if f.ItemIdentifier == nil || !ids[*f.ItemIdentifier] {
			return nil, false
		}
		failed[*f.ItemIdentifier] = true
	}
	return failed, true
}

// queueARN is the ARN a local queue is given in SQS events.
func queueARN(name string) string { return "arn:aws:sqs:local:000000000000:" + name }

// sqsEvent is a batch as Lambda's SQS poller delivers it.
func sqsEvent(name string, msgs []*storedMessage) []byte {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(msgs))}
	for i, m := range msgs {
		sum := md5.Sum(m.Body)
		attrs := map[string]string{
			"ApproximateReceiveCount":          strconv.Itoa(m.Receives),
			"SentTimestamp":                    strconv.FormatInt(m.Sent.UnixMilli(), 10),
			"SenderId":                         "000000000000",
			"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.FirstRecv.UnixMilli(), 10),
		}
		if m.Group != "" {
			attrs["MessageGroupId"] = m.Group
			attrs["MessageDeduplicationId"] = m.Dedup
			attrs["SequenceNumber"] = strconv.FormatUint(m.Seq, 10)
		}
		var mattrs map[string]events.SQSMessageAttribute
		if len(m.Attributes) > 0 {
			mattrs = make(map[string]events.SQSMessageAttribute, len(m.Attributes))
			for k, v := range m.Attributes {
				mattrs[k] = events.SQSMessageAttribute{StringValue: &v, DataType: cmp.Or(m.AttrTypes[k], "String")}
			}
		}
		ev.Records[i] = events.SQSMessage{MessageId: m.ID, ReceiptHandle: m.receiptHandle(), Body: string(m.Body),
			Md5OfBody: hex.EncodeToString(sum[:]), Attributes: attrs, MessageAttributes: mattrs,
			EventSourceARN: queueARN(name), EventSource: "aws:sqs", AWSRegion: "local"}
	}
	b, _ := json.Marshal(ev)
	return b
}

// pubsubEvents are a batch as Pub/Sub push (through Eventarc) delivers
// it to Cloud Run: one CloudEvent per message, in binary mode.
func pubsubEvents(name, fn, key string, msgs []*storedMessage) []httpEvent {
	out := make([]httpEvent, len(msgs))
	for i, m := range msgs {
		type msg struct {
			Data        []byte            `json:"data"`
			Attributes  map[string]string `json:"attributes,omitempty"`
			MessageID   string            `json:"messageId"`
			PublishTime string            `json:"publishTime"`
			OrderingKey string            `json:"orderingKey,omitempty"`
		}
		body, _ := json.Marshal(struct {
			Message         msg    `json:"message"`
			Subscription    string `json:"subscription"`
			DeliveryAttempt int    `json:"deliveryAttempt"`
		}{msg{m.Body, m.Attributes, m.ID, m.Sent.Format(time.RFC3339Nano), m.Group},
			"projects/local/subscriptions/" + fn + "-" + key, m.Receives})
		out[i] = httpEvent{header: ceHeader("google.cloud.pubsub.topic.v1.messagePublished",
			"//pubsub.googleapis.com/projects/local/topics/"+name, m.ID, m.Sent, "", key), body: body}
	}
	return out
}

// ceHeader is the header of a binary-mode CloudEvent. The updraftkey
// extension names the trigger, for a function with several of a kind.
func ceHeader(typ, source, id string, t time.Time, subject, key string) http.Header {
	h := http.Header{
		"Content-Type":   {"application/json"},
		"Ce-Specversion": {"1.0"},
		"Ce-Type":        {typ},
		"Ce-Source":      {source},
		"Ce-Id":          {id},
		"Ce-Time":        {t.UTC().Format(time.RFC3339Nano)},
		"Ce-Updraftkey":  {key},
	}
	if subject != "" {
		h["Ce-Subject"] = []string{subject}
	}
	return h
}
