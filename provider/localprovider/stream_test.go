package localprovider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/updraft-dev/updraft/function"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/trigger"
)

func TestStreamName(t *testing.T) {
	for src, want := range map[string]string{
		"orders": "orders",
		"arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2024-01-01T00:00:00.000": "orders",
		"arn:aws:dynamodb:us-east-1:123456789012:table/orders":                                "orders",
		"projects/p/databases/(default)/documents/orders/{id}":                                "orders",
		"projects/p/databases/(default)/documents/users/{uid}/orders/{id}":                    "orders",
		"documents/orders":                          "orders",
		"arn:aws:kinesis:us-east-1:1:stream/clicks": "clicks",
		"cosmos:acct/shop/items":                    "items",
	} {
		if got := StreamName(src); got != want {
			t.Errorf("StreamName(%q) = %q, want %q", src, got, want)
		}
	}
}

func TestAppendChangesChecks(t *testing.T) {
	h := newHost(t, &Options{Dir: t.TempDir()})
	ctx := context.Background()
	k := map[string]any{"id": "a"}
	for name, c := range map[string]StreamChange{
		"no key":           {Op: StreamInsert, New: map[string]any{"x": 1}},
		"bad op":           {Op: "upsert", Key: k, New: k},
		"insert no new":    {Op: StreamInsert, Key: k},
		"insert with old":  {Op: StreamInsert, Key: k, New: k, Old: k},
		"modify no new":    {Op: StreamModify, Key: k, Old: k},
		"remove with new":  {Op: StreamRemove, Key: k, New: k},
		"bool key":         {Op: StreamInsert, Key: map[string]any{"id": true}, New: map[string]any{}},
		"key differs":      {Op: StreamInsert, Key: k, New: map[string]any{"id": "b"}},
		"unsupported type": {Op: StreamInsert, Key: k, New: map[string]any{"c": make(chan int)}},
		"not a number":     {Op: StreamInsert, Key: k, New: map[string]any{"n": json.Number("1x")}},
		"image too large":  {Op: StreamInsert, Key: k, New: map[string]any{"big": strings.Repeat("x", 401<<10)}},
	} {
		if _, err := h.AppendChanges(ctx, "checks", StreamChange{Op: StreamInsert, Key: k, New: k}, c); provider.Code(err) != provider.InvalidArgument {
			t.Errorf("%s: err = %v, want InvalidArgument", name, err)
		}
	}
	if _, err := h.AppendChanges(ctx, "a/b", StreamChange{Op: StreamInsert, Key: k, New: k}); provider.Code(err) != provider.InvalidArgument {
		t.Errorf("a bad stream name: err = %v, want InvalidArgument", err)
	}
	if _, err := h.StreamStats(ctx, "checks"); provider.Code(err) != provider.NotFound {
		t.Errorf("stats of a stream nothing was appended to: err = %v, want NotFound", err)
	}
	seqs, err := h.AppendChanges(ctx, "checks",
		StreamChange{Op: "INSERT", Key: k, New: map[string]any{"n": 1, "f": 1.5, "b": []byte("hi"), "l": []string{"x"}, "m": map[string]int{"y": 2}, "t": time.Unix(0, 0), "z": nil}},
		StreamChange{Op: StreamRemove, Key: k})
	if err != nil || len(seqs) != 2 || seqs[0] != "00000000000000000001" || seqs[1] != "00000000000000000002" {
		t.Fatalf("AppendChanges = %v, %v", seqs, err)
	}
	st, err := h.StreamStats(ctx, "checks")
	if err != nil || st.Records != 2 || st.Appended != 2 || st.First != seqs[0] || st.Last != seqs[1] {
		t.Fatalf("StreamStats = %+v, %v", st, err)
	}
}

// TestStreamEventShapes: the events a stream delivers decode, through
// the portable function package, into the changes appended: the
// DynamoDB Streams event of a Runtime API function and the Firestore
// CloudEvent of a $PORT one.
func TestStreamEventShapes(t *testing.T) {
	changes := []StreamChange{
		{Op: StreamInsert, Key: map[string]any{"id": "a/1", "n": 2}, New: map[string]any{"v": 1, "s": "x", "ok": true, "l": []any{"p", 3}, "m": map[string]any{"q": nil}}},
		{Op: StreamModify, Key: map[string]any{"id": "a/1", "n": 2}, Old: map[string]any{"v": 1}, New: map[string]any{"v": 2.5}},
		{Op: StreamRemove, Key: map[string]any{"id": "a/1", "n": 2}, Old: map[string]any{"v": 2.5}},
		{Op: StreamRemove, Key: map[string]any{"id": "a/1", "n": 2}},
	}
	recs := make([]*streamRecord, len(changes))
	now := time.Now().UTC()
	for i := range changes {
		r, err := newStreamRecord("orders", i, &changes[i])
		if err != nil {
			t.Fatal(err)
		}
		r.Seq, r.Time = uint64(i+1), now
		recs[i] = r
	}
	var got []function.Change
	m := &function.Mux{}
	m.Stream("changes", func(_ context.Context, batch []function.Change) ([]string, error) {
		got = append(got, batch...)
		return []string{batch[0].ID}, nil
	})
	out, err := function.NewLambdaHandler(m, "").Invoke(context.Background(), dynamoStreamEvent("orders", "2024-01-01T00:00:00.000", recs))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(`"itemIdentifier":"00000000000000000001"`)) {
		t.Errorf("batch response %s", out)
	}
	num := func(s string) json.Number { return json.Number(s) }
	key := map[string]any{"id": "a/1", "n": num("2")}
	with := func(m map[string]any) map[string]any {
		m["id"], m["n"] = "a/1", num("2")
		return m
	}
	want := []function.Change{
		{ID: "00000000000000000001", Op: function.Insert, Source: "orders", Key: key,
			New: with(map[string]any{"v": num("1"), "s": "x", "ok": true, "l": []any{"p", num("3")}, "m": map[string]any{"q": nil}}), Time: now.Truncate(time.Second)},
		{ID: "00000000000000000002", Op: function.Modify, Source: "orders", Key: key, Old: with(map[string]any{"v": num("1")}), New: with(map[string]any{"v": num("2.5")}), Time: now.Truncate(time.Second)},
		{ID: "00000000000000000003", Op: function.Remove, Source: "orders", Key: key, Old: with(map[string]any{"v": num("2.5")}), Time: now.Truncate(time.Second)},
		{ID: "00000000000000000004", Op: function.Remove, Source: "orders", Key: key, Time: now.Truncate(time.Second)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("from the DynamoDB event:\n got %+v\nwant %+v", got, want)
	}

	got = nil
	srv := httptest.NewServer(m.Handler(nil))
	defer srv.Close()
	for _, r := range recs {
		ev := firestoreEvent("orders", "changes", r)
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(ev.body))
		req.Header = ev.header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError { // the handler fails each
			t.Errorf("status %d: %s", resp.StatusCode, body)
		}
	}
	fkey := map[string]any{"path": "orders/a%2F1#2"}
	want = []function.Change{
		{ID: "00000000000000000001", Op: function.Insert, Source: "orders", Key: fkey,
			New: with(map[string]any{"v": num("1"), "s": "x", "ok": true, "l": []any{"p", num("3")}, "m": map[string]any{"q": nil}}), Time: now},
		{ID: "00000000000000000002", Op: function.Modify, Source: "orders", Key: fkey, Old: with(map[string]any{"v": num("1")}), New: with(map[string]any{"v": 2.5}), Time: now},
		{ID: "00000000000000000003", Op: function.Remove, Source: "orders", Key: fkey, Old: with(map[string]any{"v": 2.5}), Time: now},
		{ID: "00000000000000000004", Op: function.Remove, Source: "orders", Key: fkey, Old: with(map[string]any{}), Time: now},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("from the Firestore events:\n got %+v\nwant %+v", got, want)
	}
}

// waitStream polls stream name's stats until cond holds, or fails after d.
func waitStream(t testing.TB, h *Host, name string, d time.Duration, what string, cond func(*StreamStats) bool) *StreamStats {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st, err := h.StreamStats(context.Background(), name)
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %s: stats %+v, %v", d, what, st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func consumer(st *StreamStats, fn string) *StreamConsumerStats {
	for i := range st.Consumers {
		if st.Consumers[i].Function == fn {
			return &st.Consumers[i]
		}
	}
	return nil
}

func streamEvents(evs []eventLine) []eventLine {
	var out []eventLine
	for _, e := range evs {
		if e.Kind == "stream" {
			out = append(out, e)
		}
	}
	return out
}

// itemOf is the item key an event line names: the DynamoDB key's id, or
// the Firestore document's id.
func itemOf(e eventLine) string {
	if p, ok := e.Item["path"].(string); ok {
		_, id, _ := strings.Cut(p, "/")
		return id
	}
	s, _ := e.Item["id"].(string)
	return s
}

// streamTrigger is a stream trigger on name in the source form of the
// protocol's cloud.
func streamTrigger(mode, name string, s trigger.Stream) trigger.Stream {
	s.Key = "changes"
	s.Source = "arn:aws:dynamodb:us-east-1:123456789012:table/" + name + "/stream/2024-01-01T00:00:00.000"
	if mode == "http" {
		s.Source = "projects/p/databases/(default)/documents/" + name + "/{id}"
	}
	return s
}

var streamModes = []string{"runtime-api", "http"}

// TestStreamOrderPerKey: changes of several keys are delivered in the
// order appended, each once, with the item's key and old and new
// images, in batches of the trigger's size (one per request to a $PORT
// function); on both function protocols.
func TestStreamOrderPerKey(t *testing.T) {
	for _, mode := range streamModes {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			h := newHost(t, &Options{Dir: dir})
			ctx := context.Background()
			name := "orders-" + mode
			var changes []StreamChange
			keys := []string{"k0", "k1", "k2"}
			for v := 1; v <= 5; v++ {
				for _, k := range keys {
					c := StreamChange{Op: StreamModify, Key: map[string]any{"id": k}, Old: map[string]any{"v": v - 1}, New: map[string]any{"v": v}}
					if v == 1 {
						c.Op, c.Old = StreamInsert, nil
					}
					changes = append(changes, c)
				}
			}
			changes = append(changes, StreamChange{Op: StreamRemove, Key: map[string]any{"id": "k0"}, Old: map[string]any{"v": 5}})
			if _, err := h.AppendChanges(ctx, name, changes[:8]...); err != nil {
				t.Fatal(err)
			}
			log := filepath.Join(dir, "events.log")
			deploy(t, h, "cons", consumerSpec(log, mode == "http",
				streamTrigger(mode, name, trigger.Stream{StartingPosition: trigger.StartTrimHorizon, BatchSize: 4})))
			waitStream(t, h, name, 30*time.Second, "the consumer created", func(st *StreamStats) bool { return consumer(st, "cons") != nil })
			if _, err := h.AppendChanges(ctx, name, changes[8:]...); err != nil {
				t.Fatal(err)
			}
			st := waitStream(t, h, name, 30*time.Second, "every change delivered", func(st *StreamStats) bool {
				c := consumer(st, "cons")
				return c != nil && c.Lag == 0 && c.Delivered == int64(len(changes))
			})
			evs := streamEvents(readEvents(t, log))
			if len(evs) != len(changes) {
				t.Fatalf("%d deliveries of %d changes: %+v", len(evs), len(changes), evs)
			}
			last := map[string]float64{}
			for i, e := range evs {
				if i > 0 && e.ID <= evs[i-1].ID {
					t.Errorf("delivery %d (%s) after %s: out of order", i, e.ID, evs[i-1].ID)
				}
				if want := fmt.Sprintf("%020d", i+1); e.ID != want {
					t.Errorf("delivery %d is %s, want %s", i, e.ID, want)
				}
				if (mode == "http" && e.Batch != 1) || e.Batch > 4 {
					t.Errorf("delivery %d came in a batch of %d", i, e.Batch)
				}
				k, c := itemOf(e), changes[i]
				if k != c.Key["id"] || e.Op != string(c.Op) {
					t.Errorf("delivery %d: %s of %q, want %s of %v", i, e.Op, k, c.Op, c.Key["id"])
				}
				switch c.Op {
				case StreamRemove:
					if e.New != nil || e.Old["v"] != 5.0 || e.Old["id"] != k {
						t.Errorf("remove %d: old %v new %v", i, e.Old, e.New)
					}
				default:
					v, _ := e.New["v"].(float64)
					if v != last[k]+1 || e.New["id"] != k {
						t.Errorf("delivery %d of %s: new image %v after version %v", i, k, e.New, last[k])
					}
					if c.Op == StreamModify && e.Old["v"] != last[k] {
						t.Errorf("delivery %d of %s: old image %v, want version %v", i, k, e.Old, last[k])
					}
					if c.Op == StreamInsert && e.Old != nil {
						t.Errorf("insert %d has an old image %v", i, e.Old)
					}
					last[k] = v
				}
			}
			if c := consumer(st, "cons"); c.Retries != 0 || c.Discarded != 0 || c.Checkpoint != st.Last {
				t.Errorf("consumer %+v, stream %+v", c, st)
			}
			for _, inv := range h.Invocations("cons", nil) {
				if inv.Trigger != "changes" || inv.Status != StatusOK {
					t.Errorf("invocation %+v: want the stream trigger's, ok", inv)
				}
			}
		})
	}
}

// TestStreamRetriesInOrder: a change whose handler fails is retried,
// and nothing after it is processed meanwhile (a $PORT function does not
// see the next change at all; a Runtime API one gets it in the same
// batch, after the failing one); on both protocols.
func TestStreamRetriesInOrder(t *testing.T) {
	for _, mode := range streamModes {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			h := newHost(t, &Options{Dir: dir})
			ctx := context.Background()
			name := "retry-" + mode
			log := filepath.Join(dir, "events.log")
			deploy(t, h, "cons", consumerSpec(log, mode == "http", streamTrigger(mode, name, trigger.Stream{})))
			waitStream(t, h, name, 30*time.Second, "the consumer created", func(st *StreamStats) bool { return consumer(st, "cons") != nil })
			k := map[string]any{"id": "k"}
			a, err := h.AppendChanges(ctx, name, StreamChange{Op: StreamInsert, Key: k, New: map[string]any{"v": 1}})
			if err != nil {
				t.Fatal(err)
			}
			waitEvents(t, log, 30*time.Second, "the first change delivered", func(evs []eventLine) bool { return len(streamEvents(evs)) == 1 })
			bc, err := h.AppendChanges(ctx, name,
				StreamChange{Op: StreamModify, Key: k, New: map[string]any{"v": 2, "fail": true}},
				StreamChange{Op: StreamModify, Key: k, New: map[string]any{"v": 3}})
			if err != nil {
				t.Fatal(err)
			}
			evs := waitEvents(t, log, 30*time.Second, "the failing change retried twice", func(evs []eventLine) bool {
				n := 0
				for _, e := range evs {
					if e.ID == bc[0] {
						n++
					}
				}
				return n >= 3
			})
			evs = streamEvents(evs)
			for i, e := range evs[1:] {
				switch {
				case mode == "http" && e.ID != bc[0]:
					t.Errorf("delivery %d is %s: only the failing change %s is delivered until it succeeds", i+1, e.ID, bc[0])
				case mode != "http" && e.Batch != 2:
					t.Errorf("delivery %d came in a batch of %d: want the failing change and the next", i+1, e.Batch)
				case mode != "http" && e.ID != bc[i%2]:
					t.Errorf("delivery %d is %s, want %s: the batch is redelivered in order", i+1, e.ID, bc[i%2])
				}
			}
			st, err := h.StreamStats(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if c := consumer(st, "cons"); c.Checkpoint != a[0] || c.Lag != 2 || c.Delivered != 1 || c.Retries < 2 || c.Discarded != 0 {
				t.Fatalf("consumer %+v: want the checkpoint at %s, 2 behind", c, a[0])
			}
		})
	}
}

// TestStreamBisect: with BisectOnError a failing batch is split in
// halves, the first retried first, down to the bad record; the good
// records before it are checkpointed and delivered, the bad one is
// discarded after MaxRetries, and the rest follows.
func TestStreamBisect(t *testing.T) {
	dir := t.TempDir()
	h := newHost(t, &Options{Dir: dir})
	ctx := context.Background()
	var changes []StreamChange
	for i := range 8 {
		c := StreamChange{Op: StreamInsert, Key: map[string]any{"id": fmt.Sprint("r", i)}, New: map[string]any{"v": i}}
		if i == 4 {
			c.New["fail"] = true
		}
		changes = append(changes, c)
	}
	seqs, err := h.AppendChanges(ctx, "bisect", changes...)
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "events.log")
	deploy(t, h, "cons", consumerSpec(log, false, streamTrigger("runtime-api", "bisect",
		trigger.Stream{StartingPosition: trigger.StartTrimHorizon, BatchSize: 8, BisectOnError: true, MaxRetries: new(2)})))
	st := waitStream(t, h, "bisect", 60*time.Second, "the stream processed", func(st *StreamStats) bool {
		c := consumer(st, "cons")
		return c != nil && c.Lag == 0
	})
	// Batches as delivered: [0-7] fails and is split; [0-3] succeeds;
	// [4-7] fails and is split; [4-5] fails and is split; [4] fails, is
	// retried twice and discarded; [5] and [6-7] succeed.
	want := [][]int{{0, 1, 2, 3, 4, 5, 6, 7}, {0, 1, 2, 3}, {4, 5, 6, 7}, {4, 5}, {4}, {4}, {4}, {5}, {6, 7}}
	var wantLines []string
	for _, b := range want {
		for _, i := range b {
			wantLines = append(wantLines, fmt.Sprintf("%s/%d", seqs[i], len(b)))
		}
	}
	var got []string
	for _, e := range streamEvents(readEvents(t, log)) {
		got = append(got, fmt.Sprintf("%s/%d", e.ID, e.Batch))
	}
	if !slices.Equal(got, wantLines) {
		t.Fatalf("deliveries (sequence number/batch size):\n got %v\nwant %v", got, wantLines)
	}
	if c := consumer(st, "cons"); c.Delivered != 7 || c.Discarded != 1 || c.Retries != 5 || c.Checkpoint != seqs[7] {
		t.Fatalf("consumer %+v: want 7 delivered, 1 discarded, 5 retries (3 splits, 2 retries)", c)
	}
}

// TestStreamMaxRetries: with MaxRetries 1 a failing record is delivered
// twice, then discarded, and the stream moves on; on both protocols.
func TestStreamMaxRetries(t *testing.T) {
	for _, mode := range streamModes {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			h := newHost(t, &Options{Dir: dir})
			ctx := context.Background()
			name := "maxretries-" + mode
			seqs, err := h.AppendChanges(ctx, name,
				StreamChange{Op: StreamInsert, Key: map[string]any{"id": "a"}, New: map[string]any{}},
				StreamChange{Op: StreamInsert, Key: map[string]any{"id": "bad"}, New: map[string]any{"fail": true}},
				StreamChange{Op: StreamInsert, Key: map[string]any{"id": "c"}, New: map[string]any{}})
			if err != nil {
				t.Fatal(err)
			}
			log := filepath.Join(dir, "events.log")
			// A Runtime API function gets batches of one, or the whole
			// batch would be discarded; a $PORT one gets one change per
			// request whatever the batch size.
			batch := 1
			if mode == "http" {
				batch = 10
			}
			deploy(t, h, "cons", consumerSpec(log, mode == "http", streamTrigger(mode, name,
				trigger.Stream{StartingPosition: trigger.StartTrimHorizon, BatchSize: batch, MaxRetries: new(1)})))
			st := waitStream(t, h, name, 30*time.Second, "the stream processed", func(st *StreamStats) bool {
				c := consumer(st, "cons")
				return c != nil && c.Lag == 0
			})
			var got []string
			for _, e := range streamEvents(readEvents(t, log)) {
				got = append(got, itemOf(e))
			}
			if want := []string{"a", "bad", "bad", "c"}; !slices.Equal(got, want) {
				t.Fatalf("deliveries %v, want %v", got, want)
			}
			if c := consumer(st, "cons"); c.Delivered != 2 || c.Discarded != 1 || c.Retries != 1 || c.Checkpoint != seqs[2] {
				t.Fatalf("consumer %+v", c)
			}
		})
	}
}

// TestStreamStartingPosition: a trim_horizon consumer gets the records
// appended before it started; a latest one only those after.
func TestStreamStartingPosition(t *testing.T) {
	dir := t.TempDir()
	h := newHost(t, &Options{Dir: dir})
	ctx := context.Background()
	insert := func(id string) StreamChange {
		return StreamChange{Op: StreamInsert, Key: map[string]any{"id": id}, New: map[string]any{}}
	}
	if _, err := h.AppendChanges(ctx, "positions", insert("r1"), insert("r2")); err != nil {
		t.Fatal(err)
	}
	horizon, latest := filepath.Join(dir, "horizon.log"), filepath.Join(dir, "latest.log")
	deploy(t, h, "horizon", consumerSpec(horizon, false, trigger.Stream{Key: "changes", Source: "positions", StartingPosition: trigger.StartTrimHorizon}))
	deploy(t, h, "latest", consumerSpec(latest, false, trigger.Stream{Key: "changes", Source: "positions"}))
	waitStream(t, h, "positions", 30*time.Second, "both consumers created", func(st *StreamStats) bool {
		return consumer(st, "horizon") != nil && consumer(st, "latest") != nil
	})
	if _, err := h.AppendChanges(ctx, "positions", insert("r3")); err != nil {
		t.Fatal(err)
	}
	st := waitStream(t, h, "positions", 30*time.Second, "both consumers at the end", func(st *StreamStats) bool {
		a, b := consumer(st, "horizon"), consumer(st, "latest")
		return a.Lag == 0 && b.Lag == 0 && a.Delivered == 3 && b.Delivered == 1
	})
	ids := func(log string) []string {
		var out []string
		for _, e := range streamEvents(readEvents(t, log)) {
			out = append(out, itemOf(e))
		}
		return out
	}
	if got := ids(horizon); !slices.Equal(got, []string{"r1", "r2", "r3"}) {
		t.Errorf("trim_horizon consumer got %v", got)
	}
	if got := ids(latest); !slices.Equal(got, []string{"r3"}) {
		t.Errorf("latest consumer got %v", got)
	}
	if a, b := consumer(st, "horizon"), consumer(st, "latest"); a.StartingPosition != "trim_horizon" || b.StartingPosition != "latest" {
		t.Errorf("consumers %+v %+v", a, b)
	}
}

// TestStreamResumesAfterRestart: a host closed while it delivers, and a
// new one on the same directory, lose no change: the new host resumes
// from the saved checkpoint, redelivering at most the batch in flight.
func TestStreamResumesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "events.log")
	ctx := context.Background()
	insert := func(i int) StreamChange {
		return StreamChange{Op: StreamInsert, Key: map[string]any{"id": fmt.Sprintf("r%03d", i)}, New: map[string]any{}}
	}
	var first []StreamChange
	for i := range 300 {
		first = append(first, insert(i))
	}
	{
		h := newHost(t, &Options{Dir: dir})
		if _, err := h.AppendChanges(ctx, "resume", first...); err != nil {
			t.Fatal(err)
		}
		deploy(t, h, "cons", consumerSpec(log, false, trigger.Stream{Key: "changes", Source: "resume", StartingPosition: trigger.StartTrimHorizon, BatchSize: 5}))
		waitEvents(t, log, 30*time.Second, "some delivered", func(evs []eventLine) bool { return len(evs) >= 10 })
		h.Close()
	}
	before := len(readEvents(t, log))
	h := newHost(t, &Options{Dir: dir})
	var second []StreamChange
	for i := 300; i < 320; i++ {
		second = append(second, insert(i))
	}
	if _, err := h.AppendChanges(ctx, "resume", second...); err != nil {
		t.Fatal(err)
	}
	fn, err := h.OpenFunction(ctx, "cons")
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Close()
	if _, err := fn.Get(ctx); err != nil { // opening starts its pollers
		t.Fatal(err)
	}
	st := waitStream(t, h, "resume", 60*time.Second, "every change delivered after the restart", func(st *StreamStats) bool {
		c := consumer(st, "cons")
		return c != nil && c.Lag == 0
	})
	if before >= 300 {
		t.Fatalf("the first host delivered all %d changes before it closed: close it earlier to test anything", before)
	}
	evs := streamEvents(readEvents(t, log))
	seen := map[string]int{}
	for i, e := range evs {
		seen[itemOf(e)]++
		if i > 0 && e.ID < evs[i-1].ID && seen[itemOf(e)] == 1 {
			t.Errorf("delivery %d (%s) is new but after %s", i, e.ID, evs[i-1].ID)
		}
	}
	if len(seen) != 320 {
		t.Fatalf("%d distinct changes delivered, want 320", len(seen))
	}
	if dup := len(evs) - 320; dup > 5 {
		t.Fatalf("%d changes delivered twice: more than the batch in flight", dup)
	}
	if c := consumer(st, "cons"); c.Checkpoint != st.Last || c.Delivered < 320 {
		t.Fatalf("consumer %+v, stream %+v", c, st)
	}
	t.Logf("%d deliveries before the restart, %d in all for 320 changes", before, len(evs))
}

// TestStreamHTTPEndpoint: POST /.updraft/streams/NAME appends one
// change or an array of them; GET reports the stream's stats.
func TestStreamHTTPEndpoint(t *testing.T) {
	h := newHost(t, &Options{Dir: t.TempDir()})
	base := "http://" + h.Addr() + "/.updraft/streams/"
	post := func(name, body string) (int, string) {
		resp, err := http.Post(base+name, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := post("web", `{"op":"insert","key":{"id":"1"},"new":{"n":12345678901234567890123}}`)
	if code != 200 || strings.TrimSpace(body) != `{"sequenceNumbers":["00000000000000000001"]}` {
		t.Fatalf("POST one = %d %s", code, body)
	}
	code, body = post("web", `[{"op":"modify","key":{"id":"1"},"old":{"n":1},"new":{"n":2}},{"op":"remove","key":{"id":"1"}}]`)
	if code != 200 || strings.TrimSpace(body) != `{"sequenceNumbers":["00000000000000000002","00000000000000000003"]}` {
		t.Fatalf("POST two = %d %s", code, body)
	}
	for _, bad := range []string{``, `{`, `{"op":"insert"}`, `{"op":"upsert","key":{"id":"1"},"new":{}}`, `{"op":"insert","key":{"id":"1"},"new":{},"extra":1}`, `{} {}`} {
		if code, body := post("web", bad); code != http.StatusBadRequest {
			t.Errorf("POST %q = %d %s, want 400", bad, code, body)
		}
	}
	resp, err := http.Get(base + "web")
	if err != nil {
		t.Fatal(err)
	}
	var st StreamStats
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || st.Records != 3 || st.Appended != 3 || st.Last != "00000000000000000003" {
		t.Fatalf("GET = %d %+v, %v", resp.StatusCode, st, err)
	}
	resp, err = http.Get(base + "nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET of an unknown stream = %d, want 404", resp.StatusCode)
	}
	var r streamRecord
	err = h.streamTx(context.Background(), "web", func(tx *bolt.Tx, _ string) error {
		return json.Unmarshal(tx.Bucket(bktRecords).Get(seqKey(1)), &r)
	})
	if err != nil || r.New["n"].Number() != "12345678901234567890123" {
		t.Fatalf("stored record %+v, %v: numbers keep their digits", r, err)
	}
}

// scriptedDelivery replaces a poller's deliveries with results given in
// order, recording the sequence numbers of each span delivered.
type scriptedDelivery struct {
	results []streamAttempt
	calls   [][]uint64
}

func (s *scriptedDelivery) deliver(_ context.Context, recs []*streamRecord) streamAttempt {
	var seqs []uint64
	for _, r := range recs {
		seqs = append(seqs, r.Seq)
	}
	s.calls = append(s.calls, seqs)
	if len(s.results) == 0 {
		return streamAttempt{delivered: true, covered: len(recs), failedAt: -1}
	}
	a := s.results[0]
	s.results = s.results[1:]
	if a.covered == 0 {
		a.covered = len(recs)
	}
	return a
}

// TestStreamPartialBatchFailure: a batch response naming a failed
// record checkpoints the records before it and retries from it; after
// MaxRetries the rest of the batch is discarded; a delivery that reached
// no function is offered again without counting a retry.
func TestStreamPartialBatchFailure(t *testing.T) {
	h := newHost(t, &Options{Dir: t.TempDir()})
	ctx := context.Background()
	ok := streamAttempt{delivered: true, failedAt: -1}
	partial := streamAttempt{delivered: true, failedAt: 2}
	for _, tc := range []struct {
		name       string
		maxRetries *int
		results    []streamAttempt
		calls      [][]uint64
		delivered  int64
		discarded  int64
		retries    int64
	}{
		{"retried from the failed record", nil, []streamAttempt{partial, ok}, [][]uint64{{1, 2, 3, 4, 5}, {3, 4, 5}}, 5, 0, 1},
		{"discarded after max retries", new(0), []streamAttempt{partial}, [][]uint64{{1, 2, 3, 4, 5}}, 2, 3, 0},
		{"undelivered offered again", nil, []streamAttempt{{retryAfter: time.Millisecond}, ok}, [][]uint64{{1, 2, 3, 4, 5}, {1, 2, 3, 4, 5}}, 5, 0, 0},
		{"no bisect on a partial failure", nil, []streamAttempt{{delivered: true, failedAt: 0}, ok}, [][]uint64{{1, 2, 3, 4, 5}, {1, 2, 3, 4, 5}}, 5, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "partial-" + strings.ReplaceAll(tc.name, " ", "-")
			var cs []StreamChange
			for i := range 5 {
				cs = append(cs, StreamChange{Op: StreamInsert, Key: map[string]any{"id": i}, New: map[string]any{}})
			}
			if _, err := h.AppendChanges(ctx, name, cs...); err != nil {
				t.Fatal(err)
			}
			p := newStreamPoller(&fnRuntime{h: h, name: "fn"}, trigger.Stream{Key: "changes", Source: name,
				StartingPosition: trigger.StartTrimHorizon, MaxRetries: tc.maxRetries, BisectOnError: true}, name, provider.DefaultRoute)
			s := &scriptedDelivery{results: tc.results}
			p.deliver = s.deliver
			recs, err := p.read(ctx)
			if err != nil || len(recs) != 5 {
				t.Fatalf("read = %d records, %v", len(recs), err)
			}
			if err := p.process(ctx, recs); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.calls, tc.calls) {
				t.Errorf("deliveries %v, want %v", s.calls, tc.calls)
			}
			st, err := h.StreamStats(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			c := consumer(st, "fn")
			if c.Checkpoint != st.Last || c.Delivered != tc.delivered || c.Discarded != tc.discarded || c.Retries != tc.retries {
				t.Errorf("consumer %+v, want %d delivered, %d discarded, %d retries", c, tc.delivered, tc.discarded, tc.retries)
			}
		})
	}
}

// TestStreamOneHostDelivers: of two hosts with the consumer open on one
// state directory, one delivers (the consumer's lock file): every change
// is delivered once.
func TestStreamOneHostDelivers(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "events.log")
	ctx := context.Background()
	a := newHost(t, &Options{Dir: dir})
	deploy(t, a, "cons", consumerSpec(log, false, trigger.Stream{Key: "changes", Source: "shared", BatchSize: 3}))
	b := newHost(t, &Options{Dir: dir})
	fn, err := b.OpenFunction(ctx, "cons")
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Close()
	if _, err := fn.Get(ctx); err != nil {
		t.Fatal(err)
	}
	waitStream(t, a, "shared", 30*time.Second, "the consumer created", func(st *StreamStats) bool { return consumer(st, "cons") != nil })
	var cs []StreamChange
	for i := range 60 {
		cs = append(cs, StreamChange{Op: StreamInsert, Key: map[string]any{"id": fmt.Sprint(i)}, New: map[string]any{}})
	}
	for i := 0; i < len(cs); i += 10 { // through both hosts
		h := a
		if i%20 == 10 {
			h = b
		}
		if _, err := h.AppendChanges(ctx, "shared", cs[i:i+10]...); err != nil {
			t.Fatal(err)
		}
	}
	waitStream(t, b, "shared", 30*time.Second, "every change delivered", func(st *StreamStats) bool {
		c := consumer(st, "cons")
		return c.Lag == 0 && c.Delivered >= 60
	})
	evs := streamEvents(readEvents(t, log))
	if st := waitStream(t, b, "shared", time.Second, "stats", func(*StreamStats) bool { return true }); len(evs) != 60 || consumer(st, "cons").Delivered != 60 {
		t.Fatalf("%d deliveries of 60 changes, consumer %+v: both hosts delivered", len(evs), consumer(st, "cons"))
	}
}

// The host process TestStreamSurvivesHostKill kills is this test binary
// with LOCALPROVIDER_STREAM_HELPER set: it runs before TestMain.
// TestStreamSurvivesHostKill: a host killed (SIGKILL) while it delivers
// loses no change: a new host resumes from the last saved checkpoint,
// redelivering at most the batch that was in flight.
func TestStreamSurvivesHostKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a host process")
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "events.log")
	ctx := context.Background()
	const n = 500
	{
		h := newHost(t, &Options{Dir: dir})
		var cs []StreamChange
		for i := range n {
			cs = append(cs, StreamChange{Op: StreamInsert, Key: map[string]any{"id": fmt.Sprintf("r%03d", i)}, New: map[string]any{}})
		}
		if _, err := h.AppendChanges(ctx, "killed", cs...); err != nil {
			t.Fatal(err)
		}
		h.Close()
	}
	cmd := startConsumerHost(t, dir, "cons", trigger.Stream{Key: "changes", Source: "killed", StartingPosition: trigger.StartTrimHorizon, BatchSize: 1})
	waitEvents(t, log, 60*time.Second, "the helper host delivered a few", func(evs []eventLine) bool { return len(evs) >= 20 })
	killConsumerHost(t, cmd)

	h := newHost(t, &Options{Dir: dir})
	before := len(readEvents(t, log))
	fn, err := h.OpenFunction(ctx, "cons")
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Close()
	if _, err := fn.Get(ctx); err != nil { // opening starts its pollers
		t.Fatal(err)
	}
	st := waitStream(t, h, "killed", 60*time.Second, "every change delivered after the restart", func(st *StreamStats) bool {
		c := consumer(st, "cons")
		return c != nil && c.Lag == 0
	})
	if before >= n {
		t.Fatalf("the killed host had delivered all %d changes: kill it earlier to test anything", before)
	}
	evs := streamEvents(readEvents(t, log))
	seen := map[string]bool{}
	for _, e := range evs {
		seen[e.ID] = true
	}
	if len(seen) != n || len(evs) > n+1 {
		t.Fatalf("%d deliveries of %d distinct changes, want all %d, at most one twice (the batch in flight)", len(evs), len(seen), n)
	}
	if c := consumer(st, "cons"); c.Checkpoint != st.Last {
		t.Fatalf("consumer %+v, stream %+v", c, st)
	}
	t.Logf("%d deliveries before the kill, %d in all for %d changes", before, len(evs), n)
}

// TestDropStreamConsumers: a deleted function's stream positions are
// forgotten; other functions' are kept.
func TestDropStreamConsumers(t *testing.T) {
	h := newHost(t, &Options{Dir: t.TempDir()})
	ctx := context.Background()
	if _, err := h.AppendChanges(ctx, "drop", StreamChange{Op: StreamInsert, Key: map[string]any{"id": 1}, New: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	for _, fn := range []string{"gone", "kept"} {
		p := newStreamPoller(&fnRuntime{h: h, name: fn}, trigger.Stream{Key: "changes", Source: "drop"}, "drop", provider.DefaultRoute)
		if _, err := p.read(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.dropStreamConsumers(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	st, err := h.StreamStats(ctx, "drop")
	if err != nil || len(st.Consumers) != 1 || st.Consumers[0].Function != "kept" {
		t.Fatalf("stats = %+v, %v", st, err)
	}
}

// BenchmarkStreamAppend appends batches of 10 changes (one transaction,
// one fsync each).
func BenchmarkStreamAppend(b *testing.B) {
	h := newHost(b, &Options{Dir: b.TempDir()})
	ctx := context.Background()
	var cs []StreamChange
	for i := range 10 {
		cs = append(cs, StreamChange{Op: StreamModify, Key: map[string]any{"id": fmt.Sprint(i)}, Old: map[string]any{"v": 1}, New: map[string]any{"v": 2, "s": "some text"}})
	}
	for b.Loop() {
		if _, err := h.AppendChanges(ctx, "bench", cs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*10)/b.Elapsed().Seconds(), "changes/s")
}

// BenchmarkStreamDelivery measures end-to-end delivery to a Runtime API
// function in batches of 100: b.N changes appended, then processed.
func BenchmarkStreamDelivery(b *testing.B) {
	dir := b.TempDir()
	h := newHost(b, &Options{Dir: dir})
	ctx := context.Background()
	deploy(b, h, "cons", consumerSpec(filepath.Join(dir, "events.log"), false, trigger.Stream{Key: "changes", Source: "bench", StartingPosition: trigger.StartTrimHorizon}))
	waitStream(b, h, "bench", 30*time.Second, "the consumer created", func(st *StreamStats) bool { return consumer(st, "cons") != nil })
	cs := make([]StreamChange, b.N)
	for i := range cs {
		cs[i] = StreamChange{Op: StreamInsert, Key: map[string]any{"id": fmt.Sprint(i)}, New: map[string]any{"v": i}}
	}
	b.ResetTimer()
	if _, err := h.AppendChanges(ctx, "bench", cs...); err != nil {
		b.Fatal(err)
	}
	waitStream(b, h, "bench", 5*time.Minute, "every change delivered", func(st *StreamStats) bool { return consumer(st, "cons").Lag == 0 })
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
}

// TestStreamRetention: records older than 24 hours are trimmed, and
// counted expired by the stream and by a consumer that had not read
// them; a batch held in memory skips its expired records too.
func TestStreamRetention(t *testing.T) {
	h := newHost(t, &Options{Dir: t.TempDir()})
	ctx := context.Background()
	var cs []StreamChange
	for i := range 3 {
		cs = append(cs, StreamChange{Op: StreamInsert, Key: map[string]any{"id": i}, New: map[string]any{}})
	}
	if _, err := h.AppendChanges(ctx, "old", cs...); err != nil {
		t.Fatal(err)
	}
	newPoller := func(fn string) *streamPoller {
		return newStreamPoller(&fnRuntime{h: h, name: fn}, trigger.Stream{Key: "changes", Source: "old", StartingPosition: trigger.StartTrimHorizon}, "old", provider.DefaultRoute)
	}
	held, behind := newPoller("held"), newPoller("behind")
	recs, err := held.read(ctx)
	if err != nil || len(recs) != 3 {
		t.Fatalf("read = %d records, %v", len(recs), err)
	}
	if _, err := behind.read(ctx); err != nil {
		t.Fatal(err)
	}
	// Age the first two records, on disk and in the batch held.
	aged := time.Now().Add(-25 * time.Hour)
	for _, r := range recs[:2] {
		r.Time = aged
	}
	err = h.streamTx(ctx, "old", func(tx *bolt.Tx, _ string) error {
		for _, r := range recs[:2] {
			raw, _ := json.Marshal(r)
			if err := tx.Bucket(bktRecords).Put(seqKey(r.Seq), raw); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &scriptedDelivery{}
	held.deliver = s.deliver
	if err := held.process(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.calls, [][]uint64{{3}}) {
		t.Errorf("deliveries %v, want only the record not expired", s.calls)
	}
	got, err := behind.read(ctx)
	if err != nil || len(got) != 1 || got[0].Seq != 3 {
		t.Fatalf("read after the trim = %v, %v", got, err)
	}
	st, err := h.StreamStats(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 1 || st.Expired != 2 || st.First != seqString(3) {
		t.Errorf("stream %+v: want 1 record kept, 2 expired", st)
	}
	for _, fn := range []string{"held", "behind"} {
		if c := consumer(st, fn); c.Expired != 2 {
			t.Errorf("consumer %+v: want 2 expired", c)
		}
	}
	if c := consumer(st, "held"); c.Delivered != 1 || c.Lag != 0 {
		t.Errorf("consumer %+v: want the last record delivered", c)
	}
}
