package localprovider

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	bolt "go.etcd.io/bbolt"

	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// Stream pollers: see stream.go for the model.

const (
	streamPoll       = 200 * time.Millisecond
	streamBackoffMin = 100 * time.Millisecond
	streamBackoffMax = 5 * time.Second
	// streamLockRetry is how often a host tries to take a consumer
	// another host delivers.
	streamLockRetry = time.Second
)

func (fr *fnRuntime) runStream(ctx context.Context, s trigger.Stream, route string) {
	name := StreamName(s.Source)
	if err := validStreamName(name); err != nil {
		fr.h.opts.Logger.Warn("stream trigger not started", "function", fr.name, "trigger", s.Key, "err", err)
		return
	}
	lock := filepath.Join(fr.h.dir, "streams", name+"."+fr.name+"."+s.Key+".lock")
	if err := os.MkdirAll(filepath.Dir(lock), 0o755); err != nil {
		fr.h.opts.Logger.Warn("stream trigger not started: its directory cannot be created", "function", fr.name, "trigger", s.Key, "err", err)
		return
	}
	warned := false
	for {
		unlock, ok, err := tryLockFile(lock)
		if ok {
			defer unlock()
			break
		}
		if err != nil && !warned {
			fr.h.opts.Logger.Warn("stream consumer lock not taken; retrying every second", "function", fr.name, "trigger", s.Key, "lock", lock, "err", err)
			warned = true
		}
		if !sleep(ctx, streamLockRetry, nil) {
			return
		}
	}
	newStreamPoller(fr, s, name, route).run(ctx)
}

func newStreamPoller(fr *fnRuntime, s trigger.Stream, name, route string) *streamPoller {
	p := &streamPoller{fr: fr, s: s, name: name, route: route, batch: s.BatchSize}
	if p.batch <= 0 {
		p.batch = defaultStreamBatch
	}
	p.deliver = p.attempt
	return p
}

// streamPoller delivers one consumer (a function's stream trigger) while
// it holds the consumer's lock.
type streamPoller struct {
	fr          *fnRuntime
	s           trigger.Stream
	name, route string
	batch       int
	// label is the stream's label, read with every transaction.
	label string
	// deliver delivers a span once (attempt; tests replace it).
	deliver func(ctx context.Context, recs []*streamRecord) streamAttempt
	// checkpoint is the consumer's as last saved or read, once known.
	checkpoint uint64
	known      bool
}

func (p *streamPoller) logArgs(args ...any) []any {
	return append([]any{"function", p.fr.name, "trigger", p.s.Key, "stream", p.name}, args...)
}

func (p *streamPoller) run(ctx context.Context) {
	wake, stop := p.fr.h.queues.watch(streamWakeKey(p.name))
	defer stop()
	failures := 0
	for ctx.Err() == nil {
		if p.idle(ctx) {
			if !sleep(ctx, streamPoll, wake) {
				return
			}
			continue
		}
		recs, err := p.read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			if failures == 1 || failures%50 == 0 {
				p.fr.h.opts.Logger.Warn("stream read failed; retrying", p.logArgs("err", err)...)
			}
			if !sleep(ctx, time.Second, nil) {
				return
			}
			continue
		}
		failures = 0
		if len(recs) == 0 {
			if !sleep(ctx, streamPoll, wake) {
				return
			}
			continue
		}
		if err := p.process(ctx, recs); err != nil {
			if ctx.Err() != nil {
				return
			}
			p.fr.h.opts.Logger.Warn("stream checkpoint not saved; the records after the last saved one are delivered again", p.logArgs("err", err)...)
			if !sleep(ctx, time.Second, nil) {
				return
			}
		}
	}
}

// update runs fn on the consumer's stored state in a transaction of the
// stream, creating the consumer at its starting position on first use,
// and saves the state fn leaves.
func (p *streamPoller) update(ctx context.Context, fn func(tx *bolt.Tx, c *streamConsumer) error) error {
	var saved uint64
	err := p.fr.h.streamTx(ctx, p.name, func(tx *bolt.Tx, label string) error {
		p.label = label
		cb := tx.Bucket(bktConsumers)
		id := streamConsumerID(p.fr.name, p.s.Key)
		c := new(streamConsumer)
		if raw := cb.Get(id); raw != nil {
			if err := json.Unmarshal(raw, c); err != nil {
				return driver.Wrap(driver.Internal, err, "the stored position of stream "+p.name+"'s consumer "+string(id)+" is corrupt")
			}
		} else {
			pos := p.s.StartingPosition
			if pos == "" {
				pos = trigger.StartLatest
			}
			c = &streamConsumer{Function: p.fr.name, Trigger: p.s.Key, StartingPosition: string(pos), Created: time.Now().UTC()}
			c.Checkpoint = tx.Bucket(bktRecords).Sequence()
			if f := firstKept(tx); f > 0 && pos == trigger.StartTrimHorizon {
				c.Checkpoint = f - 1
			}
		}
		if err := fn(tx, c); err != nil {
			return err
		}
		saved = c.Checkpoint
		raw, _ := json.Marshal(c)
		if bytes.Equal(raw, cb.Get(id)) {
			return nil
		}
		return cb.Put(id, raw)
	})
	if err == nil {
		p.checkpoint, p.known = saved, true
	}
	return err
}

// idle reports whether the stream has no record after the consumer's
// checkpoint, in a read-only transaction: an idle poll writes nothing.
// It is false until the consumer's state is known, and when the stream
// cannot be read (read reports why).
func (p *streamPoller) idle(ctx context.Context) bool {
	if !p.known || ctx.Err() != nil {
		return false
	}
	idle := false
	err := viewBolt(ctx, p.fr.h.streamPath(p.name), "stream "+p.name, "its records and positions are lost", func(tx *bolt.Tx) error {
		if b := tx.Bucket(bktRecords); b != nil {
			idle = b.Sequence() <= p.checkpoint
		}
		return nil
	})
	if err != nil {
		return false
	}
	return idle
}

// read returns up to a batch of records after the checkpoint. Records
// trimmed before the consumer read them are counted expired.
func (p *streamPoller) read(ctx context.Context) ([]*streamRecord, error) {
	var out []*streamRecord
	err := p.update(ctx, func(tx *bolt.Tx, c *streamConsumer) error {
		out = nil
		b := tx.Bucket(bktRecords)
		last := b.Sequence()
		f := firstKept(tx)
		if f == 0 {
			f = last + 1
		}
		if c.Checkpoint+1 < f {
			c.Expired += int64(f - 1 - c.Checkpoint)
			c.Checkpoint = f - 1
		}
		cur := b.Cursor()
		for k, v := cur.Seek(seqKey(c.Checkpoint + 1)); k != nil && len(out) < p.batch; k, v = cur.Next() {
			r, err := decodeRecord(v)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// advance moves the checkpoint to seq and counts with count. It saves
// even when ctx has ended: the fate of the records is known.
func (p *streamPoller) advance(ctx context.Context, seq uint64, count func(c *streamConsumer)) error {
	return p.update(context.WithoutCancel(ctx), func(_ *bolt.Tx, c *streamConsumer) error {
		if seq > c.Checkpoint {
			c.Checkpoint = seq
		}
		count(c)
		return nil
	})
}

// streamSpan is a run of records to deliver and how many times it was
// retried.
type streamSpan struct {
	recs  []*streamRecord
	tries int
}

// process delivers a batch until each of its records is checkpointed,
// processed or skipped: retried, bisected and discarded as the trigger
// says. It returns early, nil, when ctx ends, and with an error when a
// checkpoint cannot be saved (the caller reads from the saved one).
func (p *streamPoller) process(ctx context.Context, recs []*streamRecord) error {
	// A stack of spans, the next to deliver on top: bisecting replaces a
	// span by its halves, the first on top.
	stack := []streamSpan{{recs: recs}}
	var backoff time.Duration
	for len(stack) > 0 && ctx.Err() == nil {
		top := &stack[len(stack)-1]
		if n := expiredPrefix(top.recs, time.Now()); n > 0 {
			if err := p.advance(ctx, top.recs[n-1].Seq, func(c *streamConsumer) { c.Expired += int64(n) }); err != nil {
				return err
			}
			top.recs, top.tries = top.recs[n:], 0
		}
		if len(top.recs) == 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		a := p.deliver(ctx, top.recs)
		if !a.delivered {
			if !sleep(ctx, max(a.retryAfter, streamBackoffMin), nil) {
				return nil
			}
			continue
		}
		// What succeeded before the first failure is checkpointed.
		ok := a.covered
		if a.failedAt >= 0 {
			ok = a.failedAt
		}
		if ok > 0 {
			done := top.recs[:ok]
			if err := p.advance(ctx, done[len(done)-1].Seq, func(c *streamConsumer) { c.Delivered += int64(len(done)) }); err != nil {
				return err
			}
			top.recs, top.tries = top.recs[ok:], 0
		}
		if a.failedAt < 0 {
			backoff = 0
			continue
		}
		// The records the delivery carried from the first failure on (one,
		// for a $PORT instance; the span may hold more).
		failed := top.recs[:a.covered-ok]
		if a.fnError && p.s.BisectOnError && len(failed) > 1 {
			mid := len(failed) / 2
			p.fr.h.opts.Logger.Info("stream batch failed; bisecting it", p.logArgs("first", seqString(failed[0].Seq), "records", len(failed), "err", a.detail)...)
			tries := top.tries
			rest := streamSpan{recs: top.recs[len(failed):]}
			stack = append(stack[:len(stack)-1], rest, streamSpan{recs: failed[mid:], tries: tries}, streamSpan{recs: failed[:mid], tries: tries})
		} else {
			top.tries++
			if p.s.MaxRetries != nil && top.tries > *p.s.MaxRetries {
				if err := p.advance(ctx, failed[len(failed)-1].Seq, func(c *streamConsumer) { c.Discarded += int64(len(failed)) }); err != nil {
					return err
				}
				p.fr.h.opts.Logger.Warn("stream records discarded after their retries (local:// has no on-failure destination)",
					p.logArgs("retries", *p.s.MaxRetries, "sequenceNumbers", seqList(failed), "err", a.detail)...)
				top.recs, top.tries = top.recs[len(failed):], 0
				backoff = 0
				continue
			}
			p.fr.h.opts.Logger.Warn("stream batch failed; retrying it", p.logArgs("first", seqString(failed[0].Seq), "records", len(failed), "retry", top.tries, "err", a.detail)...)
		}
		if err := p.advance(ctx, 0, func(c *streamConsumer) { c.Retries++ }); err != nil {
			return err
		}
		backoff = min(max(2*backoff, streamBackoffMin), streamBackoffMax)
		if !sleep(ctx, backoff, nil) {
			return nil
		}
	}
	return nil
}

// expiredPrefix counts the records at the start of recs that are past
// the retention.
func expiredPrefix(recs []*streamRecord, now time.Time) int {
	n := 0
	for n < len(recs) && now.Sub(recs[n].Time) > streamRetention {
		n++
	}
	return n
}

// seqList names records in a log line: all of them, or the first and
// last of a long run.
func seqList(recs []*streamRecord) string {
	if len(recs) > 10 {
		return seqString(recs[0].Seq) + "…" + seqString(recs[len(recs)-1].Seq) + " (" + strconv.Itoa(len(recs)) + ")"
	}
	s := make([]string, len(recs))
	for i, r := range recs {
		s[i] = seqString(r.Seq)
	}
	return strings.Join(s, ",")
}

// streamAttempt is how one delivery of a span ended.
type streamAttempt struct {
	// delivered is false when no function ran; retryAfter says when to
	// offer the span again.
	delivered  bool
	retryAfter time.Duration
	// covered counts the records the delivery carried (a $PORT instance
	// gets one).
	covered int
	// failedAt is the index of the lowest failed record, -1 when none;
	// fnError says the invocation failed, not a record it named.
	failedAt int
	fnError  bool
	detail   string
}

// attempt delivers recs (or their first, to a $PORT instance) once.
func (p *streamPoller) attempt(ctx context.Context, recs []*streamRecord) streamAttempt {
	name, label, key := p.name, p.label, p.s.Key
	d := &delivery{route: p.route, trigger: key,
		lambda: func() []byte { return dynamoStreamEvent(name, label, recs) },
		http:   func() []httpEvent { return []httpEvent{firestoreEvent(name, key, recs[0])} }}
	res := p.fr.deliver(ctx, d)
	if !res.delivered {
		return streamAttempt{retryAfter: res.retryAfter}
	}
	a := streamAttempt{delivered: true, covered: len(recs), failedAt: -1}
	switch {
	case res.lambda && res.status == StatusOK:
		ids := make([]*storedMessage, len(recs))
		for i, r := range recs {
			ids[i] = &storedMessage{ID: seqString(r.Seq)}
		}
		failed, ok := batchItemFailures(res.payload, ids)
		if !ok {
			a.failedAt, a.fnError = 0, true
			a.detail = "the batch response names records not in the batch or is not valid JSON: the batch failed, as on Lambda"
			return a
		}
		for i, m := range ids {
			if failed[m.ID] {
				a.failedAt = i
				a.detail = "the function reported record " + m.ID + " failed"
				break
			}
		}
	case res.lambda:
		a.failedAt, a.fnError = 0, true
		a.detail = string(res.status)
		if res.detail != "" {
			a.detail += ": " + res.detail
		}
	default:
		a.covered = 1
		if res.httpFailed[0] {
			a.failedAt, a.fnError, a.detail = 0, true, res.detail
		}
	}
	return a
}

// streamARN is the ARN a local stream is given in DynamoDB events.
func streamARN(name, label string) string {
	return "arn:aws:dynamodb:local:000000000000:table/" + name + "/stream/" + label
}

var dynamoEventNames = map[StreamOp]string{StreamInsert: "INSERT", StreamModify: "MODIFY", StreamRemove: "REMOVE"}

// dynamoStreamEvent is a batch as Lambda's DynamoDB Streams poller
// delivers it.
func dynamoStreamEvent(name, label string, recs []*streamRecord) []byte {
	ev := events.DynamoDBEvent{Records: make([]events.DynamoDBEventRecord, len(recs))}
	arn := streamARN(name, label)
	for i, r := range recs {
		sum := sha256.Sum256([]byte(arn + "/" + seqString(r.Seq)))
		ev.Records[i] = events.DynamoDBEventRecord{
			AWSRegion: "local", EventID: hex.EncodeToString(sum[:16]), EventName: dynamoEventNames[r.Op],
			EventSource: "aws:dynamodb", EventVersion: "1.1", EventSourceArn: arn,
			Change: events.DynamoDBStreamRecord{
				// Whole seconds, as DynamoDB gives them.
				ApproximateCreationDateTime: events.SecondsEpochTime{Time: r.Time.Truncate(time.Second)},
				Keys:                        r.Keys, NewImage: r.New, OldImage: r.Old,
				SequenceNumber: seqString(r.Seq), SizeBytes: r.Size, StreamViewType: "NEW_AND_OLD_IMAGES",
			},
		}
	}
	b, _ := json.Marshal(ev)
	return b
}

// firestoreDocID is the document id a record's key gives: the key's
// values in the order of their names, each path-escaped, joined with '#'.
func firestoreDocID(keys map[string]events.DynamoDBAttributeValue) string {
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		v := keys[k]
		var s string
		switch v.DataType() {
		case events.DataTypeString:
			s = v.String()
		case events.DataTypeNumber:
			s = v.Number()
		case events.DataTypeBinary:
			s = base64.RawURLEncoding.EncodeToString(v.Binary())
		}
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "#")
}

var integerRE = regexp.MustCompile(`^-?[0-9]+$`)

// firestoreValue is an attribute value as a Firestore Value in its JSON
// form.
func firestoreJSONValue(v events.DynamoDBAttributeValue) map[string]any {
	switch v.DataType() {
	case events.DataTypeString:
		return map[string]any{"stringValue": v.String()}
	case events.DataTypeNumber:
		n := v.Number()
		if integerRE.MatchString(n) {
			if _, err := strconv.ParseInt(n, 10, 64); err == nil {
				return map[string]any{"integerValue": n}
			}
		}
		f, _ := strconv.ParseFloat(n, 64)
		return map[string]any{"doubleValue": f}
	case events.DataTypeBoolean:
		return map[string]any{"booleanValue": v.Boolean()}
	case events.DataTypeBinary:
		return map[string]any{"bytesValue": v.Binary()}
	case events.DataTypeList:
		l := v.List()
		out := make([]any, len(l))
		for i, e := range l {
			out[i] = firestoreJSONValue(e)
		}
		return map[string]any{"arrayValue": map[string]any{"values": out}}
	case events.DataTypeMap:
		return map[string]any{"mapValue": map[string]any{"fields": firestoreFieldsOf(v.Map())}}
	case events.DataTypeStringSet:
		return firestoreArray(v.StringSet(), func(s string) map[string]any { return map[string]any{"stringValue": s} })
	case events.DataTypeNumberSet:
		return firestoreArray(v.NumberSet(), func(s string) map[string]any { return firestoreJSONValue(events.NewNumberAttribute(s)) })
	case events.DataTypeBinarySet:
		return firestoreArray(v.BinarySet(), func(b []byte) map[string]any { return map[string]any{"bytesValue": b} })
	}
	return map[string]any{"nullValue": nil}
}

func firestoreArray[T any](s []T, f func(T) map[string]any) map[string]any {
	out := make([]any, len(s))
	for i, e := range s {
		out[i] = f(e)
	}
	return map[string]any{"arrayValue": map[string]any{"values": out}}
}

func firestoreFieldsOf(m map[string]events.DynamoDBAttributeValue) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = firestoreJSONValue(v)
	}
	return out
}

// firestoreEvent is a record as Eventarc delivers a Firestore document
// change to Cloud Run: a binary-mode CloudEvent of type
// google.cloud.firestore.document.v1.written with JSON data.
func firestoreEvent(name, key string, r *streamRecord) httpEvent {
	docID := firestoreDocID(r.Keys)
	const db = "projects/local/databases/(default)"
	doc := db + "/documents/" + name + "/" + docID
	t := r.Time.UTC().Format(time.RFC3339Nano)
	data := map[string]any{}
	// Firestore tells the ops apart by the documents present: a modify or
	// remove appended without an old image gets an old document holding
	// the key alone.
	if old := r.Old; old != nil || r.Op != StreamInsert {
		if old == nil {
			old = r.Keys
		}
		data["oldValue"] = map[string]any{"name": doc, "fields": firestoreFieldsOf(old)}
	}
	if r.New != nil {
		v := map[string]any{"name": doc, "fields": firestoreFieldsOf(r.New), "updateTime": t}
		if r.Op == StreamInsert {
			v["createTime"] = t
		}
		data["value"] = v
	}
	if r.Op == StreamModify && r.Old != nil {
		var changed []string
		for k, v := range r.New {
			if o, ok := r.Old[k]; !ok || !reflect.DeepEqual(o, v) {
				changed = append(changed, k)
			}
		}
		for k := range r.Old {
			if _, ok := r.New[k]; !ok {
				changed = append(changed, k)
			}
		}
		sort.Strings(changed)
		data["updateMask"] = map[string]any{"fieldPaths": changed}
	}
	body, _ := json.Marshal(data)
	h := ceHeader("google.cloud.firestore.document.v1.written", "//firestore.googleapis.com/"+db,
		seqString(r.Seq), r.Time, "documents/"+name+"/"+docID, key)
	h["Ce-Project"] = []string{"local"}
	h["Ce-Database"] = []string{"(default)"}
	h["Ce-Namespace"] = []string{"(default)"}
	h["Ce-Document"] = []string{name + "/" + docID}
	h["Ce-Location"] = []string{"local"}
	return httpEvent{header: h, body: body}
}
