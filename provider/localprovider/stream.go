package localprovider

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
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
)

// Local change streams model DynamoDB Streams: a stream is an ordered
// log of item changes (insert, modify, remove, each with the item's key
// and its old and new images), appended by the program under test
// (Host.AppendChanges, or POST /.updraft/streams/NAME on the gateway)
// and read by the stream triggers of the functions a host has open.
//
// Stream NAME is the bbolt database DIR/streams/NAME.db, opened for each
// transaction and closed after it, as queues are, so several processes
// share it and every committed append survives their death. It holds the
// records by sequence number, kept 24 hours (DynamoDB Streams'
// retention) and then trimmed, and one checkpoint per consumer, a
// consumer being a function's stream trigger (function name and trigger
// key): the sequence number of the last record it processed or skipped.
// A consumer is created at its first run: StartLatest places it after
// the newest record then, StartTrimHorizon before the oldest kept.
// Changing the trigger later keeps its checkpoint, as does removing and
// adding it back, or deleting the function and creating it again
// (remove DIR/streams/NAME.db to start a stream afresh).
//
// Sequence numbers are 20-digit decimal strings, zero-padded so that
// they order the same as strings and as numbers. A stream has one shard:
// records are delivered in the order appended, so the changes of one key
// arrive in order (DynamoDB promises order per key, not across keys).
//
// Names: a trigger's Source names its stream by StreamName: the table of
// a DynamoDB stream or table ARN, the collection of a Firestore document
// path, else the last element of the source, so one Spec deploys to a
// cloud and to local:// alike.
//
// Delivery: one poller per consumer, holding the lock file
// DIR/streams/NAME.FUNCTION.KEY.lock, so that of several hosts on one
// state directory only one delivers a consumer (the others try again
// every second). It reads up to the trigger's batch size (100 by
// default, as on Lambda) after the checkpoint; an append through the
// same host wakes it at once, one by another process is seen within
// 200 ms (an idle poll is a read-only transaction). A Runtime API instance
// gets the batch as one DynamoDB Streams event (eventName INSERT, MODIFY
// or REMOVE, eventSource aws:dynamodb, eventSourceARN
// arn:aws:dynamodb:local:000000000000:table/NAME/stream/LABEL, Keys,
// NewImage and OldImage as DynamoDB attribute values,
// NEW_AND_OLD_IMAGES); a $PORT instance gets one Firestore
// google.cloud.firestore.document.v1.written CloudEvent per change, in
// order, each a batch of one (subject documents/NAME/DOCID, the DOCID
// being the key's values in the order of their names, path-escaped and
// joined with '#'; the data in Firestore's JSON form, the key attributes
// in the document; a modify or remove appended without an old image has
// an old document holding the key alone, as Firestore's events tell the
// ops apart by the documents they carry).
//
// A batch that succeeds moves the checkpoint past it. A batch response
// naming failed records ({"batchItemFailures":[{"itemIdentifier":SEQ}]},
// ReportBatchItemFailures) moves it to just before the lowest of them,
// and the rest of the batch is retried from there. A batch whose
// invocation fails (an error, a timeout, a crash, an invalid response)
// is retried whole after a backoff (100 ms, doubling up to 5 s); with
// BisectOnError it is split in two instead, the first half retried first
// and checkpointed when it succeeds, down to batches of one record
// (splitting does not count as a retry, as on Lambda). After MaxRetries
// retries a batch's records are skipped: they are counted discarded and
// logged as a warning naming their sequence numbers (Lambda would send
// their description to an on-failure destination; local:// has none).
// A retry that moves the checkpoint (a partial failure past the first
// record) starts the count afresh for the rest.
// With MaxRetries nil a batch is retried until its records expire. A
// batch that reached no function (throttled, no route, the host closing)
// is offered again, uncounted. The checkpoint is durable; the retry and
// bisect state is not: a host that restarts resumes from the checkpoint,
// redelivering what was in flight (at least once, as on Lambda). Every
// invocation is recorded with the trigger's key and counts in Metrics,
// so canary gates see a change handler's errors.

// Stream limits and defaults, as DynamoDB Streams has them.
const (
	streamRetention    = 24 * time.Hour
	defaultStreamBatch = 100
	maxStreamImage     = 400 << 10 // DynamoDB's item size limit
)

// StreamOp is the kind of a change.
type StreamOp string

// The changes a stream records.
const (
	StreamInsert StreamOp = "insert"
	StreamModify StreamOp = "modify"
	StreamRemove StreamOp = "remove"
)

// StreamChange is a change to append to a local stream: an item's key
// and its images before and after the change.
//
// Values are strings, numbers (any Go integer or float type, or
// json.Number), bools, nil, []byte, time.Time (stored as an RFC 3339
// string, as DynamoDB has no time type), and slices and string-keyed maps
// of these; they become DynamoDB attribute values (S, N, BOOL, NULL, B, L,
// M). Key values are strings, numbers or []byte, as DynamoDB keys are.
// An image that lacks a key attribute gets it, as DynamoDB's images
// always hold the key.
type StreamChange struct {
	// Op is insert (New required, no Old), modify (New required, Old
	// optional) or remove (no New, Old optional).
	Op StreamOp `json:"op"`
	// Key is the item's key: one attribute, or a partition and a sort
	// key.
	Key map[string]any `json:"key"`
	// Old and New are the item before and after the change.
	Old map[string]any `json:"old,omitempty"`
	New map[string]any `json:"new,omitempty"`
}

// StreamStats counts a local stream's records and reports each
// consumer's position.
type StreamStats struct {
	Name string `json:"name"`
	// Records are kept now; First is the sequence number of the oldest
	// kept, Last of the newest appended ("" when none).
	Records int    `json:"records"`
	First   string `json:"first"`
	Last    string `json:"last"`
	// Appended and Expired (trimmed after 24 hours) count since creation.
	Appended  int64                 `json:"appended"`
	Expired   int64                 `json:"expired"`
	Consumers []StreamConsumerStats `json:"consumers"`
}

// StreamConsumerStats is one stream trigger's position in a stream.
type StreamConsumerStats struct {
	Function         string `json:"function"`
	Trigger          string `json:"trigger"`
	StartingPosition string `json:"startingPosition"`
	// Checkpoint is the sequence number of the last record processed or
	// skipped ("" before the first); Lag counts the records after it.
	Checkpoint string `json:"checkpoint"`
	Lag        int64  `json:"lag"`
	// Delivered counts records processed; Retries deliveries after a
	// failure (bisected halves included); Discarded records skipped after
	// MaxRetries; Expired records trimmed before the consumer read them.
	Delivered int64 `json:"delivered"`
	Retries   int64 `json:"retries"`
	Discarded int64 `json:"discarded"`
	Expired   int64 `json:"expired"`
}

var (
	bktStreamMeta = []byte("meta")
	bktRecords    = []byte("records")
	bktConsumers  = []byte("consumers")
	keyCreated    = []byte("created")
)

var streamNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,255}$`)

// StreamName is the local stream a stream trigger's source names:
//
//   - a DynamoDB table or stream ARN names its table
//     ("arn:aws:dynamodb:us-east-1:1:table/orders/stream/2024-01-01T00:00:00.000"
//     and "arn:aws:dynamodb:us-east-1:1:table/orders" name "orders");
//   - a Firestore document path names the collection of its documents
//     ("projects/p/databases/(default)/documents/orders/{id}" and
//     "users/{uid}/orders/{id}" under documents/ name "orders");
//   - anything else names its last element after ':' or '/' ("orders",
//     "arn:aws:kinesis:us-east-1:1:stream/orders").
func StreamName(source string) string {
	s := strings.TrimRight(strings.TrimSpace(source), "/")
	if _, rest, ok := strings.Cut(s, ":table/"); ok {
		t, _, _ := strings.Cut(rest, "/")
		return t
	}
	if i := strings.Index(s, "documents/"); i == 0 || (i > 0 && s[i-1] == '/') {
		segs := strings.Split(s[i+len("documents/"):], "/")
		if len(segs)%2 == 0 { // collection/doc pairs: a document pattern
			return segs[len(segs)-2]
		}
		return segs[len(segs)-1]
	}
	return QueueName(s)
}

func validStreamName(name string) error {
	if !streamNameRE.MatchString(name) || name == "." || name == ".." {
		return driver.NewError(driver.InvalidArgument, fmt.Sprintf("stream name %q: use 1 to 255 letters, digits, '-', '_' and '.', as DynamoDB table names", name))
	}
	return nil
}

// seqString is a sequence number as records carry it.
func seqString(seq uint64) string { return fmt.Sprintf("%020d", seq) }

// streamRecord is a record of a stream, its images as DynamoDB attribute
// values.
type streamRecord struct {
	Seq  uint64                                   `json:"seq"`
	Op   StreamOp                                 `json:"op"`
	Keys map[string]events.DynamoDBAttributeValue `json:"keys"`
	Old  map[string]events.DynamoDBAttributeValue `json:"old,omitempty"`
	New  map[string]events.DynamoDBAttributeValue `json:"new,omitempty"`
	Time time.Time                                `json:"time"`
	Size int64                                    `json:"size"`
}

// streamCounters are a stream's counts since creation.
type streamCounters struct {
	Appended, Expired int64
}

// streamConsumer is a consumer's stored state.
type streamConsumer struct {
	Function         string    `json:"function"`
	Trigger          string    `json:"trigger"`
	StartingPosition string    `json:"startingPosition"`
	Created          time.Time `json:"created"`
	Checkpoint       uint64    `json:"checkpoint"`
	Delivered        int64     `json:"delivered"`
	Retries          int64     `json:"retries"`
	Discarded        int64     `json:"discarded"`
	Expired          int64     `json:"expired"`
}

func streamConsumerID(fn, key string) []byte { return []byte(fn + "/" + key) }

// streamPath is stream name's database.
func (h *Host) streamPath(name string) string {
	return filepath.Join(h.dir, "streams", name+".db")
}

// streamWakeKey names a stream in the host's wake-up registry (shared
// with queues; a queue name has no '/').
func streamWakeKey(name string) string { return "stream/" + name }

// streamTx runs fn in a read-write transaction of stream name, creating
// its buckets on first use. It returns the stream's label (its creation
// time, as DynamoDB stream labels are).
func (h *Host) streamTx(ctx context.Context, name string, fn func(tx *bolt.Tx, label string) error) error {
	if err := validStreamName(name); err != nil {
		return err
	}
	return updateBolt(ctx, h.streamPath(name), "stream "+name, func(tx *bolt.Tx) error {
		for _, n := range [][]byte{bktStreamMeta, bktRecords, bktConsumers} {
			if _, err := tx.CreateBucketIfNotExists(n); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bktStreamMeta)
		created := meta.Get(keyCreated)
		if created == nil {
			created = []byte(time.Now().UTC().Format("2006-01-02T15:04:05.000"))
			if err := meta.Put(keyCreated, created); err != nil {
				return err
			}
		}
		if err := trimTx(tx, time.Now()); err != nil {
			return err
		}
		return fn(tx, string(created))
	})
}

func streamCountersOf(tx *bolt.Tx) streamCounters {
	var c streamCounters
	if raw := tx.Bucket(bktStreamMeta).Get(keyStats); raw != nil {
		json.Unmarshal(raw, &c)
	}
	return c
}

func putStreamCounters(tx *bolt.Tx, c streamCounters) error {
	raw, _ := json.Marshal(c)
	return tx.Bucket(bktStreamMeta).Put(keyStats, raw)
}

func decodeRecord(v []byte) (*streamRecord, error) {
	r := new(streamRecord)
	if err := json.Unmarshal(v, r); err != nil {
		return nil, driver.Wrap(driver.Internal, err, "a stored stream record is corrupt")
	}
	return r, nil
}

// trimTx drops the records past the retention, oldest first.
func trimTx(tx *bolt.Tx, now time.Time) error {
	b := tx.Bucket(bktRecords)
	cur := b.Cursor()
	n := int64(0)
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		r, err := decodeRecord(v)
		if err != nil {
			return err
		}
		if now.Sub(r.Time) <= streamRetention {
			break
		}
		if err := cur.Delete(); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return nil
	}
	c := streamCountersOf(tx)
	c.Expired += n
	return putStreamCounters(tx, c)
}

// firstKept is the sequence number of the oldest kept record (0 when
// none).
func firstKept(tx *bolt.Tx) uint64 {
	k, _ := tx.Bucket(bktRecords).Cursor().First()
	if k == nil {
		return 0
	}
	return beUint64(k)
}

func beUint64(k []byte) uint64 {
	var n uint64
	for _, b := range k {
		n = n<<8 | uint64(b)
	}
	return n
}

// newRecord checks a change and converts it to a record.
func newStreamRecord(name string, i int, c *StreamChange) (*streamRecord, error) {
	bad := func(format string, args ...any) error {
		return driver.NewError(driver.InvalidArgument, fmt.Sprintf("change %d to stream %s: ", i, name)+fmt.Sprintf(format, args...))
	}
	op := StreamOp(strings.ToLower(string(c.Op)))
	switch {
	case op != StreamInsert && op != StreamModify && op != StreamRemove:
		return nil, bad("op %q: use insert, modify or remove", c.Op)
	case len(c.Key) == 0:
		return nil, bad("no key: give the item's key attributes")
	case op == StreamInsert && c.New == nil:
		return nil, bad("an insert needs the new image")
	case op == StreamInsert && c.Old != nil:
		return nil, bad("an insert has no old image")
	case op == StreamModify && c.New == nil:
		return nil, bad("a modify needs the new image")
	case op == StreamRemove && c.New != nil:
		return nil, bad("a remove has no new image (give the removed item as the old one)")
	}
	r := &streamRecord{Op: op, Keys: map[string]events.DynamoDBAttributeValue{}}
	for k, v := range c.Key {
		av, err := attrValue(v)
		if err != nil {
			return nil, bad("key %s: %v", k, err)
		}
		switch av.DataType() {
		case events.DataTypeString, events.DataTypeNumber, events.DataTypeBinary:
		default:
			return nil, bad("key %s: a key attribute is a string, a number or binary", k)
		}
		r.Keys[k] = av
	}
	image := func(what string, m map[string]any) (map[string]events.DynamoDBAttributeValue, error) {
		if m == nil {
			return nil, nil
		}
		out := make(map[string]events.DynamoDBAttributeValue, len(m)+len(r.Keys))
		for k, v := range m {
			av, err := attrValue(v)
			if err != nil {
				return nil, bad("%s image, attribute %s: %v", what, k, err)
			}
			out[k] = av
		}
		for k, kv := range r.Keys {
			if v, ok := out[k]; !ok {
				out[k] = kv
			} else if !reflect.DeepEqual(v, kv) {
				return nil, bad("the %s image's %s differs from the key's", what, k)
			}
		}
		raw, _ := json.Marshal(out)
		if len(raw) > maxStreamImage {
			return nil, bad("the %s image is %d bytes, over DynamoDB's 400 KB item limit", what, len(raw))
		}
		r.Size += int64(len(raw))
		return out, nil
	}
	var err error
	if r.Old, err = image("old", c.Old); err != nil {
		return nil, err
	}
	if r.New, err = image("new", c.New); err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(r.Keys)
	r.Size += int64(len(raw))
	return r, nil
}

// attrValue converts a Go value to a DynamoDB attribute value.
func attrValue(v any) (events.DynamoDBAttributeValue, error) {
	switch x := v.(type) {
	case nil:
		return events.NewNullAttribute(), nil
	case string:
		return events.NewStringAttribute(x), nil
	case bool:
		return events.NewBooleanAttribute(x), nil
	case json.Number:
		if _, err := strconv.ParseFloat(string(x), 64); err != nil {
			return events.DynamoDBAttributeValue{}, fmt.Errorf("number %q is not a finite decimal number", x)
		}
		return events.NewNumberAttribute(string(x)), nil
	case []byte:
		return events.NewBinaryAttribute(append([]byte(nil), x...)), nil
	case time.Time:
		return events.NewStringAttribute(x.UTC().Format(time.RFC3339Nano)), nil
	case []any:
		l := make([]events.DynamoDBAttributeValue, len(x))
		for i, e := range x {
			av, err := attrValue(e)
			if err != nil {
				return av, fmt.Errorf("element %d: %w", i, err)
			}
			l[i] = av
		}
		return events.NewListAttribute(l), nil
	case map[string]any:
		m := make(map[string]events.DynamoDBAttributeValue, len(x))
		for k, e := range x {
			av, err := attrValue(e)
			if err != nil {
				return av, fmt.Errorf("%s: %w", k, err)
			}
			m[k] = av
		}
		return events.NewMapAttribute(m), nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return events.NewNumberAttribute(strconv.FormatInt(rv.Int(), 10)), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return events.NewNumberAttribute(strconv.FormatUint(rv.Uint(), 10)), nil
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return events.DynamoDBAttributeValue{}, fmt.Errorf("number %v is not finite", f)
		}
		return events.NewNumberAttribute(strconv.FormatFloat(f, 'g', -1, rv.Type().Bits())), nil
	case reflect.String:
		return events.NewStringAttribute(rv.String()), nil
	case reflect.Bool:
		return events.NewBooleanAttribute(rv.Bool()), nil
	case reflect.Slice, reflect.Array:
		l := make([]any, rv.Len())
		for i := range l {
			l[i] = rv.Index(i).Interface()
		}
		return attrValue(l)
	case reflect.Map:
		if rv.Type().Key().Kind() == reflect.String {
			m := make(map[string]any, rv.Len())
			for it := rv.MapRange(); it.Next(); {
				m[it.Key().String()] = it.Value().Interface()
			}
			return attrValue(m)
		}
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return events.NewNullAttribute(), nil
		}
		return attrValue(rv.Elem().Interface())
	}
	return events.DynamoDBAttributeValue{}, fmt.Errorf("a %T cannot be stored: use strings, numbers, bools, nil, []byte, time.Time, slices and maps", v)
}

// AppendChanges appends changes to local stream name in one transaction
// and returns their sequence numbers. Every change is checked before any
// is appended; the stream is created if it does not exist.
func (h *Host) AppendChanges(ctx context.Context, name string, changes ...StreamChange) ([]string, error) {
	if err := validStreamName(name); err != nil {
		return nil, err
	}
	if len(changes) == 0 {
		return nil, nil
	}
	recs := make([]*streamRecord, len(changes))
	for i := range changes {
		r, err := newStreamRecord(name, i, &changes[i])
		if err != nil {
			return nil, err
		}
		recs[i] = r
	}
	out := make([]string, len(recs))
	err := h.streamTx(ctx, name, func(tx *bolt.Tx, _ string) error {
		b := tx.Bucket(bktRecords)
		now := time.Now().UTC()
		for i, r := range recs {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			r.Seq, r.Time = seq, now
			raw, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := b.Put(seqKey(seq), raw); err != nil {
				return err
			}
			out[i] = seqString(seq)
		}
		c := streamCountersOf(tx)
		c.Appended += int64(len(recs))
		return putStreamCounters(tx, c)
	})
	if err != nil {
		return nil, err
	}
	h.queues.wake(streamWakeKey(name))
	return out, nil
}

// StreamStats reports local stream name's counts and consumers. A
// stream that was never appended to nor read is NotFound.
func (h *Host) StreamStats(ctx context.Context, name string) (*StreamStats, error) {
	if err := validStreamName(name); err != nil {
		return nil, err
	}
	if _, err := os.Stat(h.streamPath(name)); os.IsNotExist(err) {
		return nil, driver.NewError(driver.NotFound, fmt.Sprintf("stream %s does not exist: append a change to create it, or deploy a function with a stream trigger on it", name))
	}
	var st StreamStats
	err := h.streamTx(ctx, name, func(tx *bolt.Tx, _ string) error {
		st = streamStatsTx(tx, name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &st, nil
}

func streamStatsTx(tx *bolt.Tx, name string) StreamStats {
	c := streamCountersOf(tx)
	b := tx.Bucket(bktRecords)
	last := b.Sequence()
	st := StreamStats{Name: name, Appended: c.Appended, Expired: c.Expired, Consumers: []StreamConsumerStats{}}
	if f := firstKept(tx); f > 0 {
		// Records are trimmed oldest first: the kept ones are contiguous.
		st.First, st.Records = seqString(f), int(last-f+1)
	}
	if last > 0 {
		st.Last = seqString(last)
	}
	tx.Bucket(bktConsumers).ForEach(func(_, v []byte) error {
		var sc streamConsumer
		if json.Unmarshal(v, &sc) != nil {
			return nil
		}
		cs := StreamConsumerStats{Function: sc.Function, Trigger: sc.Trigger, StartingPosition: sc.StartingPosition,
			Lag: int64(last - min(sc.Checkpoint, last)), Delivered: sc.Delivered, Retries: sc.Retries, Discarded: sc.Discarded, Expired: sc.Expired}
		if sc.Checkpoint > 0 {
			cs.Checkpoint = seqString(sc.Checkpoint)
		}
		st.Consumers = append(st.Consumers, cs)
		return nil
	})
	sort.Slice(st.Consumers, func(i, j int) bool {
		a, b := st.Consumers[i], st.Consumers[j]
		return a.Function < b.Function || a.Function == b.Function && a.Trigger < b.Trigger
	})
	return st
}

// dropStreamConsumers forgets the stream positions of function fn's
// triggers in every stream of the state directory, so that a function
// created again under the same name starts its stream triggers at their
// starting positions, as a new Lambda event source mapping does. It is
// for Delete, once the function's pollers have stopped (a poller still
// running would create its consumer again).
func (h *Host) dropStreamConsumers(ctx context.Context, fn string) error {
	paths, _ := filepath.Glob(filepath.Join(h.dir, "streams", "*.db"))
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".db")
		if validStreamName(name) != nil {
			continue
		}
		err := h.streamTx(ctx, name, func(tx *bolt.Tx, _ string) error {
			cb := tx.Bucket(bktConsumers)
			var drop [][]byte
			cb.ForEach(func(k, v []byte) error {
				var c streamConsumer
				if json.Unmarshal(v, &c) == nil && c.Function == fn {
					drop = append(drop, append([]byte(nil), k...))
				}
				return nil
			})
			for _, k := range drop {
				if err := cb.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
