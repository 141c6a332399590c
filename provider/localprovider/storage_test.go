package localprovider

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/trigger"
)

// waitStorage polls a bucket's stats until cond holds, or fails after d.
func waitStorage(t testing.TB, h *Host, bucket string, d time.Duration, what string, cond func(*StorageStats) bool) *StorageStats {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st, err := h.StorageStats(context.Background(), bucket)
		if err != nil {
			t.Fatal(err)
		}
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %s: stats %+v", d, what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// consumerDone is a condition: fn's trigger "uploads" settled n events
// (delivered or dropped) and has none pending.
func consumerDone(fn string, n int64) func(*StorageStats) bool {
	return func(st *StorageStats) bool {
		c, ok := st.Consumer(fn, "uploads")
		return ok && c.Delivered+c.Dropped >= n && c.Pending == 0
	}
}

// writeObject writes a file under a hidden name and renames it into
// place, so that it appears whole: a writer stalled between creating and
// writing a file (a busy machine) would rightly make two objects.
// TestStorageChunkedWrite writes in place.
func writeObject(t testing.TB, dir, key, content string) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(p), ".writing-"+filepath.Base(p))
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum([]byte(content))
	return hex.EncodeToString(sum[:])
}

func storageEvents(evs []eventLine, key string) []eventLine {
	var out []eventLine
	for _, e := range evs {
		if e.Kind == "storage" && e.Obj != nil && e.Obj.Key == key {
			out = append(out, e)
		}
	}
	return out
}

// TestStorageObjectEvents: a file dropped into the bucket directory
// invokes the function once with the object's key, size and MD5 ETag;
// an overwrite is another creation; a file in a subdirectory has a
// slash-separated key; hidden and temporary files are not objects; a
// deletion is delivered to a trigger that asks for deletions. On both
// function protocols (an S3 notification to a Runtime API function, a
// Cloud Storage CloudEvent to a $PORT one).
func TestStorageObjectEvents(t *testing.T) {
	for _, mode := range []string{"runtime-api", "http"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			h := newHost(t, &Options{Dir: dir})
			ctx := context.Background()
			bucket := map[string]string{"runtime-api": "arn:aws:s3:::photos", "http": "gs://photos"}[mode]
			bdir, err := h.BucketDir(bucket)
			if err != nil {
				t.Fatal(err)
			}
			if bdir != filepath.Join(dir, "buckets", "photos") {
				t.Fatalf("BucketDir = %s", bdir)
			}
			log := filepath.Join(dir, "events.log")
			fn, _ := deploy(t, h, "thumbs", consumerSpec(log, mode == "http",
				trigger.Storage{Key: "uploads", Bucket: bucket, Events: []trigger.StorageEvent{trigger.ObjectCreated, trigger.ObjectDeleted}}))

			// Dropped right after the deploy: the directory was created
			// by updraft, so its first scan takes it for a new object.
			etag := writeObject(t, bdir, "cat one.jpg", "meow")
			waitStorage(t, h, "photos", 30*time.Second, "the first object delivered", consumerDone("thumbs", 1))
			evs := storageEvents(readEvents(t, log), "cat one.jpg")
			if len(evs) != 1 {
				t.Fatalf("%d events for the object, want 1: %+v", len(evs), readEvents(t, log))
			}
			if o := evs[0].Obj; o.Bucket != "photos" || o.Size != 4 || o.ETag != etag || o.Event != "created" {
				t.Fatalf("object event = %+v, want bucket photos, size 4, etag %s, created", o, etag)
			}

			etag2 := writeObject(t, bdir, "cat one.jpg", "meow meow")
			if err := os.MkdirAll(filepath.Join(bdir, "a"), 0o755); err != nil {
				t.Fatal(err)
			}
			etag3 := writeObject(t, bdir, "a/b.txt", "nested")
			writeObject(t, bdir, ".hidden", "x")
			writeObject(t, bdir, "a/draft.tmp", "x")
			writeObject(t, bdir, "a/notes.txt~", "x")
			waitStorage(t, h, "photos", 30*time.Second, "the overwrite and the nested object delivered", consumerDone("thumbs", 3))
			all := readEvents(t, log)
			evs = storageEvents(all, "cat one.jpg")
			if len(evs) != 2 || evs[1].Obj.ETag != etag2 || evs[1].Obj.Size != 9 || evs[1].Obj.Event != "created" {
				t.Fatalf("after the overwrite: %+v", evs)
			}
			nested := storageEvents(all, "a/b.txt")
			if len(nested) != 1 || nested[0].Obj.ETag != etag3 || nested[0].Obj.Size != 6 {
				t.Fatalf("nested object events: %+v (all %+v)", nested, all)
			}
			if len(all) != 3 {
				t.Fatalf("%d events, want 3 (hidden and temporary files are no objects): %+v", len(all), all)
			}

			if err := os.Remove(filepath.Join(bdir, "a", "b.txt")); err != nil {
				t.Fatal(err)
			}
			st := waitStorage(t, h, "photos", 30*time.Second, "the deletion delivered", consumerDone("thumbs", 4))
			del := storageEvents(readEvents(t, log), "a/b.txt")
			if len(del) != 2 || del[1].Obj.Event != "deleted" {
				t.Fatalf("after the deletion: %+v", del)
			}
			if st.Objects != 1 || st.Bytes != 9 {
				t.Fatalf("index holds %d objects (%d bytes), want 1 (9)", st.Objects, st.Bytes)
			}
			for _, inv := range h.Invocations("thumbs", nil) {
				if inv.Trigger != "uploads" || inv.Status != StatusOK {
					t.Errorf("invocation %+v: want the storage trigger's, OK", inv)
				}
			}
			m, err := fn.Metrics(ctx, &provider.MetricsQuery{Route: provider.DefaultRoute, Since: time.Now().Add(-time.Minute)})
			if err != nil || m.Invocations != 4 {
				t.Fatalf("metrics = %+v, %v: want 4 invocations", m, err)
			}
		})
	}
}

// TestStorageChunkedWrite: a file written in several chunks, closer
// together than the quiet period, is one object event.
func TestStorageChunkedWrite(t *testing.T) {
	dir := t.TempDir()
	h := newHost(t, &Options{Dir: dir})
	bdir, err := h.BucketDir("chunks")
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "events.log")
	deploy(t, h, "chunky", consumerSpec(log, false, trigger.Storage{Key: "uploads", Bucket: "chunks"}))
	chunk := strings.Repeat("x", 64<<10)
	// A writer stalled past the quiet period (a busy machine) makes two
	// objects, rightly: try again with another file then.
	for try := range 5 {
		key := fmt.Sprintf("big-%d.bin", try)
		f, err := os.Create(filepath.Join(bdir, key))
		if err != nil {
			t.Fatal(err)
		}
		// The chunks are further apart than the watcher's settling tick,
		// closer than its quiet period.
		var gap time.Duration
		var last time.Time
		for i := range 8 {
			if i > 0 {
				time.Sleep(40 * time.Millisecond)
			}
			if _, err := f.WriteString(chunk); err != nil {
				t.Fatal(err)
			}
			if i > 0 {
				gap = max(gap, time.Since(last))
			}
			last = time.Now()
		}
		f.Close()
		waitStorage(t, h, "chunks", 30*time.Second, "the chunked file settled", func(st *StorageStats) bool { return st.Objects == try+1 })
		waitStorage(t, h, "chunks", 30*time.Second, "its events delivered", func(st *StorageStats) bool {
			c, ok := st.Consumer("chunky", "uploads")
			return ok && c.Pending == 0 && c.Delivered == c.Enqueued
		})
		evs := storageEvents(readEvents(t, log), key)
		if gap >= storageQuiet*9/10 {
			t.Logf("the writer stalled %s between chunks; %d events; trying again", gap, len(evs))
			continue
		}
		if len(evs) != 1 || evs[0].Obj.Size != 8*64<<10 {
			t.Fatalf("a file written in 8 chunks (at most %s apart) gave %+v, want one event of %d bytes", gap, evs, 8*64<<10)
		}
		return
	}
	t.Skip("the machine is too busy: every writer stalled past the quiet period")
}

// TestStorageFilters: prefix, suffix and event kinds are filtered per
// trigger: two functions on one bucket get what each asks for, and a
// trigger on creations alone gets no deletion.
func TestStorageFilters(t *testing.T) {
	dir := t.TempDir()
	h := newHost(t, &Options{Dir: dir})
	bdir, err := h.BucketDir("docs")
	if err != nil {
		t.Fatal(err)
	}
	logF, logA := filepath.Join(dir, "filtered.log"), filepath.Join(dir, "all.log")
	deploy(t, h, "filtered", consumerSpec(logF, false, trigger.Storage{Key: "uploads", Bucket: "docs", Prefix: "in/", Suffix: ".jpg"}))
	deploy(t, h, "all", consumerSpec(logA, true, trigger.Storage{Key: "uploads", Bucket: "docs",
		Events: []trigger.StorageEvent{trigger.ObjectDeleted, trigger.ObjectCreated}}))
	waitStorage(t, h, "docs", 30*time.Second, "both triggers registered", func(st *StorageStats) bool { return len(st.Consumers) == 2 })
	for _, k := range []string{"in/b.png", "out/c.jpg", "in/a.jpg", "in.jpg"} {
		writeObject(t, bdir, k, k)
	}
	st := waitStorage(t, h, "docs", 30*time.Second, "the four objects delivered to the unfiltered trigger", consumerDone("all", 4))
	if c, _ := st.Consumer("filtered", "uploads"); c.Enqueued != 1 {
		t.Fatalf("the filtered trigger got %d events, want 1 (in/a.jpg): %+v", c.Enqueued, st)
	}
	waitStorage(t, h, "docs", 30*time.Second, "the filtered object delivered", consumerDone("filtered", 1))
	if evs := readEvents(t, logF); len(evs) != 1 || evs[0].Obj.Key != "in/a.jpg" {
		t.Fatalf("the filtered trigger's events: %+v", evs)
	}
	if err := os.Remove(filepath.Join(bdir, "in", "a.jpg")); err != nil {
		t.Fatal(err)
	}
	st = waitStorage(t, h, "docs", 30*time.Second, "the deletion delivered to the trigger asking for it", consumerDone("all", 5))
	if c, _ := st.Consumer("filtered", "uploads"); c.Enqueued != 1 {
		t.Fatalf("a trigger on creations alone got a deletion: %+v", c)
	}
	if del := storageEvents(readEvents(t, logA), "in/a.jpg"); len(del) != 2 || del[1].Obj.Event != "deleted" {
		t.Fatalf("the unfiltered trigger's events for in/a.jpg: %+v", del)
	}
}

// TestStorageFailureDropped: an event whose invocation fails is tried
// three times in all, then dropped and counted; the events after it are
// delivered after it, in order; the errors reach Metrics.
func TestStorageFailureDropped(t *testing.T) {
	dir := t.TempDir()
	h := newHost(t, &Options{Dir: dir})
	ctx := context.Background()
	bdir, err := h.BucketDir("inbox")
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "events.log")
	fn, _ := deploy(t, h, "picky", consumerSpec(log, false, trigger.Storage{Key: "uploads", Bucket: "inbox"}))
	writeObject(t, bdir, "fail.txt", "no")
	waitStorage(t, h, "inbox", 30*time.Second, "the failing object enqueued", func(st *StorageStats) bool { return st.Objects == 1 })
	writeObject(t, bdir, "ok.txt", "yes")
	st := waitStorage(t, h, "inbox", 60*time.Second, "both events settled", consumerDone("picky", 2))
	c, _ := st.Consumer("picky", "uploads")
	if c.Dropped != 1 || c.Failed != 3 || c.Delivered != 1 || c.Enqueued != 2 {
		t.Fatalf("counts = %+v, want 1 dropped after 3 failed attempts, 1 delivered", c)
	}
	evs := readEvents(t, log)
	if len(evs) != 4 || len(storageEvents(evs, "fail.txt")) != 3 || evs[3].Obj.Key != "ok.txt" {
		t.Fatalf("events = %+v, want fail.txt three times, then ok.txt", evs)
	}
	m, err := fn.Metrics(ctx, &provider.MetricsQuery{Route: provider.DefaultRoute, Since: time.Now().Add(-time.Minute)})
	if err != nil || m.Invocations != 4 || m.Errors != 3 {
		t.Fatalf("metrics = %+v, %v: want 4 invocations, 3 errors", m, err)
	}
}

// TestStorageWhileNoHost: files created and deleted while no host
// watches the bucket are delivered when a host opens the function.
func TestStorageWhileNoHost(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "events.log")
	h1 := newHost(t, &Options{Dir: dir})
	bdir, err := h1.BucketDir("late")
	if err != nil {
		t.Fatal(err)
	}
	fn1, _ := deploy(t, h1, "later", consumerSpec(log, false,
		trigger.Storage{Key: "uploads", Bucket: "late", Events: []trigger.StorageEvent{trigger.ObjectCreated, trigger.ObjectDeleted}}))
	writeObject(t, bdir, "gone.txt", "soon gone")
	waitStorage(t, h1, "late", 30*time.Second, "the first object delivered", consumerDone("later", 1))
	fn1.Close()
	h1.Close()

	if err := os.Remove(filepath.Join(bdir, "gone.txt")); err != nil {
		t.Fatal(err)
	}
	etag := writeObject(t, bdir, "new.txt", "while away")

	h2 := newHost(t, &Options{Dir: dir})
	fn, err := h2.OpenFunction(context.Background(), "later")
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Close()
	if _, err := fn.Get(context.Background()); err != nil { // opening starts its triggers
		t.Fatal(err)
	}
	waitStorage(t, h2, "late", 30*time.Second, "the changes made while no host ran delivered", consumerDone("later", 3))
	evs := readEvents(t, log)
	if g := storageEvents(evs, "gone.txt"); len(g) != 2 || g[1].Obj.Event != "deleted" {
		t.Fatalf("gone.txt events: %+v", g)
	}
	if n := storageEvents(evs, "new.txt"); len(n) != 1 || n[0].Obj.ETag != etag || n[0].Obj.Event != "created" {
		t.Fatalf("new.txt events: %+v", n)
	}
}

// TestStorageTwoHosts: two hosts with the function open on one state
// directory enqueue and deliver each change once; when one closes, the
// other takes over.
func TestStorageTwoHosts(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "events.log")
	h1 := newHost(t, &Options{Dir: dir})
	h2 := newHost(t, &Options{Dir: dir})
	bdir, err := h1.BucketDir("shared")
	if err != nil {
		t.Fatal(err)
	}
	fn1, _ := deploy(t, h1, "both", consumerSpec(log, false, trigger.Storage{Key: "uploads", Bucket: "shared"}))
	fn2, err := h2.OpenFunction(context.Background(), "both")
	if err != nil {
		t.Fatal(err)
	}
	defer fn2.Close()
	if _, err := fn2.Get(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		writeObject(t, bdir, fmt.Sprintf("f%d.txt", i), fmt.Sprint(i))
	}
	waitStorage(t, h2, "shared", 30*time.Second, "three objects delivered", consumerDone("both", 3))
	fn1.Close()
	h1.Close()
	for i := 3; i < 5; i++ {
		writeObject(t, bdir, fmt.Sprintf("f%d.txt", i), fmt.Sprint(i))
	}
	st := waitStorage(t, h2, "shared", 30*time.Second, "two more delivered by the remaining host", consumerDone("both", 5))
	if c, _ := st.Consumer("both", "uploads"); c.Enqueued != 5 || c.Delivered != 5 {
		t.Fatalf("counts = %+v, want 5 enqueued and delivered", c)
	}
	evs := readEvents(t, log)
	for i := range 5 {
		if n := len(storageEvents(evs, fmt.Sprintf("f%d.txt", i))); n != 1 {
			t.Errorf("f%d.txt delivered %d times, want once", i, n)
		}
	}
}

func TestBucketName(t *testing.T) {
	for in, want := range map[string]string{"arn:aws:s3:::photos": "photos", "gs://photos": "photos", "photos": "photos", "gs://my.bucket/": "my.bucket"} {
		if got := BucketName(in); got != want {
			t.Errorf("BucketName(%q) = %q, want %q", in, got, want)
		}
	}
	h := newHost(t, &Options{Dir: t.TempDir()})
	for _, bad := range []string{"ab", "Photos", "a..b", "-ab", strings.Repeat("a", 64), "a_b"} {
		if _, err := h.BucketDir(bad); provider.Code(err) != provider.InvalidArgument {
			t.Errorf("BucketDir(%q): err = %v, want InvalidArgument", bad, err)
		}
	}
	other := t.TempDir()
	h2 := newHost(t, &Options{Dir: t.TempDir(), Buckets: map[string]string{"mine": other}})
	if d, err := h2.BucketDir("mine"); err != nil || d != other {
		t.Fatalf("BucketDir(mine) = %s, %v, want %s", d, err, other)
	}
}

func TestS3Key(t *testing.T) {
	for in, want := range map[string]string{"a/b c.txt": "a/b+c.txt", "x=y": "x%3Dy", "plain": "plain"} {
		if got := s3Key(in); got != want {
			t.Errorf("s3Key(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStorageRenames: a file renamed in the bucket is deleted under its
// old key and created under the new one; files and directories moved in
// are created, moved out deleted, renamed both; a removed bucket
// directory deletes its objects and comes back empty.
func TestStorageRenames(t *testing.T) {
	dir := t.TempDir()
	h := newHost(t, &Options{Dir: dir})
	bdir, err := h.BucketDir("moves")
	if err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(dir, "outside")
	if err := os.MkdirAll(filepath.Join(outside, "incoming"), 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "events.log")
	deploy(t, h, "mover", consumerSpec(log, false, trigger.Storage{Key: "uploads", Bucket: "moves",
		Events: []trigger.StorageEvent{trigger.ObjectCreated, trigger.ObjectDeleted}}))
	writeObject(t, bdir, "a.txt", "a")
	writeObject(t, bdir, "sub/x.txt", "x")
	writeObject(t, bdir, "sub/deeper/y.txt", "y")
	waitStorage(t, h, "moves", 30*time.Second, "three objects delivered", consumerDone("mover", 3))

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Rename(filepath.Join(bdir, "a.txt"), filepath.Join(bdir, "b.txt")))
	writeObject(t, outside, "in.txt", "in")
	writeObject(t, outside, "incoming/z.txt", "z")
	must(os.Rename(filepath.Join(outside, "in.txt"), filepath.Join(bdir, "in.txt")))
	must(os.Rename(filepath.Join(outside, "incoming"), filepath.Join(bdir, "incoming")))
	must(os.Rename(filepath.Join(bdir, "sub"), filepath.Join(outside, "sub")))
	// a.txt deleted, b.txt, in.txt and incoming/z.txt created, sub/x.txt
	// and sub/deeper/y.txt deleted.
	st := waitStorage(t, h, "moves", 30*time.Second, "the moves delivered", consumerDone("mover", 9))
	want := map[string][]string{"a.txt": {"created", "deleted"}, "b.txt": {"created"}, "in.txt": {"created"},
		"incoming/z.txt": {"created"}, "sub/x.txt": {"created", "deleted"}, "sub/deeper/y.txt": {"created", "deleted"}}
	evs := readEvents(t, log)
	for key, kinds := range want {
		got := storageEvents(evs, key)
		var gk []string
		for _, e := range got {
			gk = append(gk, string(e.Obj.Event))
		}
		if fmt.Sprint(gk) != fmt.Sprint(kinds) {
			t.Errorf("%s: events %v, want %v", key, gk, kinds)
		}
	}
	if st.Objects != 3 {
		t.Fatalf("index holds %d objects, want 3 (b.txt, in.txt, incoming/z.txt)", st.Objects)
	}

	must(os.Rename(filepath.Join(bdir, "incoming"), filepath.Join(bdir, "arrived")))
	waitStorage(t, h, "moves", 30*time.Second, "the renamed directory's object moved", consumerDone("mover", 11))
	evs = readEvents(t, log)
	if z := storageEvents(evs, "incoming/z.txt"); len(z) != 2 || z[1].Obj.Event != "deleted" {
		t.Fatalf("incoming/z.txt after its directory's rename: %+v", z)
	}
	if z := storageEvents(evs, "arrived/z.txt"); len(z) != 1 || z[0].Obj.Event != "created" {
		t.Fatalf("arrived/z.txt after its directory's rename: %+v", z)
	}

	must(os.RemoveAll(bdir))
	waitStorage(t, h, "moves", 30*time.Second, "the removed directory's objects deleted", func(st *StorageStats) bool {
		return st.Objects == 0 && consumerDone("mover", 14)(st)
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if fi, err := os.Stat(bdir); err == nil && fi.IsDir() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the bucket directory was not recreated")
		}
		time.Sleep(20 * time.Millisecond)
	}
	writeObject(t, bdir, "again.txt", "again")
	waitStorage(t, h, "moves", 30*time.Second, "an object in the recreated directory delivered", consumerDone("mover", 15))
}

// TestStorageEventShapes: the events decode as the clouds' SDKs read them.
func TestStorageEventShapes(t *testing.T) {
	ev := &objEvent{Seq: 7, ID: "id-1", Event: trigger.ObjectCreated, Key: "a b/c.jpg",
		Obj:  objEntry{Size: 4, MTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano(), ETag: "3858f62230ac3c915f300c664312c63f", Gen: 42, CRC32C: "AAAAAA=="},
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	var s3 events.S3Event
	if err := json.Unmarshal(s3Event("photos", "uploads", ev), &s3); err != nil || len(s3.Records) != 1 {
		t.Fatalf("S3 event: %v, %+v", err, s3)
	}
	r := s3.Records[0]
	if r.EventVersion != "2.1" || r.EventSource != "aws:s3" || r.EventName != "ObjectCreated:Put" || r.S3.SchemaVersion != "1.0" ||
		r.S3.ConfigurationID != "uploads" || r.S3.Bucket.Name != "photos" || r.S3.Bucket.Arn != "arn:aws:s3:::photos" ||
		r.S3.Object.Key != "a+b/c.jpg" || r.S3.Object.URLDecodedKey != "a b/c.jpg" || r.S3.Object.Size != 4 ||
		r.S3.Object.ETag != ev.Obj.ETag || r.S3.Object.Sequencer != "0000000000000007" || !r.EventTime.Equal(ev.Time) {
		t.Fatalf("S3 record = %+v", r)
	}
	ev.Event = trigger.ObjectDeleted
	s3 = events.S3Event{}
	json.Unmarshal(s3Event("photos", "uploads", ev), &s3)
	if r := s3.Records[0]; r.EventName != "ObjectRemoved:Delete" || r.S3.Object.ETag != "" || r.S3.Object.Size != 0 {
		t.Fatalf("S3 deletion record = %+v", r)
	}

	ev.Event = trigger.ObjectCreated
	he := gcsEvent("photos", "uploads", ev)
	req, _ := http.NewRequest(http.MethodPost, "http://x/", bytes.NewReader(he.body))
	req.Header = he.header
	ce, err := binding.ToEvent(context.Background(), cehttp.NewMessageFromHttpRequest(req))
	if err != nil {
		t.Fatal(err)
	}
	if ce.Type() != "google.cloud.storage.object.v1.finalized" || ce.Source() != "//storage.googleapis.com/projects/_/buckets/photos" ||
		ce.Subject() != "objects/a b/c.jpg" || ce.ID() != "id-1" || ce.Extensions()["updraftkey"] != "uploads" {
		t.Fatalf("CloudEvent = %s", ce)
	}
	var o map[string]string
	if err := json.Unmarshal(ce.Data(), &o); err != nil {
		t.Fatal(err)
	}
	if o["bucket"] != "photos" || o["name"] != "a b/c.jpg" || o["size"] != "4" || o["etag"] != ev.Obj.ETag ||
		o["contentType"] != "image/jpeg" || o["generation"] != "42" || o["md5Hash"] != "OFj2IjCsPJFfMAxmQxLGPw==" ||
		o["updated"] != "2026-01-02T03:04:05Z" || o["timeCreated"] != o["updated"] {
		t.Fatalf("object data = %v", o)
	}
}

// TestStorageSurvivesHostKill: a host killed (SIGKILL) while it delivers
// a bucket's events loses none and enqueues none twice: a new host
// delivers the rest, the one in flight again (at least once).
func TestStorageSurvivesHostKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a host process")
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "events.log")
	h := newHost(t, &Options{Dir: dir}) // for BucketDir and StorageStats; it does not open the function
	bdir, err := h.BucketDir("kept")
	if err != nil {
		t.Fatal(err)
	}
	cmd := startConsumerHost(t, dir, "keeper", trigger.Storage{Key: "uploads", Bucket: "kept"})
	const n = 200
	for i := range n {
		writeObject(t, bdir, fmt.Sprintf("k%03d.txt", i), fmt.Sprint(i))
	}
	waitEvents(t, log, 30*time.Second, "the helper host delivered a few", func(evs []eventLine) bool { return len(evs) >= 3 })
	killConsumerHost(t, cmd)
	before := len(readEvents(t, log))

	fn, err := h.OpenFunction(context.Background(), "keeper")
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Close()
	if _, err := fn.Get(context.Background()); err != nil { // opening starts its triggers
		t.Fatal(err)
	}
	st := waitStorage(t, h, "kept", 60*time.Second, "every event delivered after the restart", consumerDone("keeper", n))
	if before >= n {
		t.Fatalf("the killed host had delivered all %d events: kill it earlier to test anything", before)
	}
	c, _ := st.Consumer("keeper", "uploads")
	evs := readEvents(t, log)
	if c.Enqueued != n || st.Objects != n {
		seen := map[string][]string{}
		for _, e := range evs {
			seen[e.Obj.Key] = append(seen[e.Obj.Key], fmt.Sprintf("%d bytes etag %s", e.Obj.Size, e.Obj.ETag))
		}
		for k, v := range seen {
			if len(v) > 1 {
				t.Logf("%s delivered %d times: %v", k, len(v), v)
			}
		}
		t.Fatalf("counts = %+v, %d objects: want each of the %d changes enqueued once", c, st.Objects, n)
	}
	for i := range n {
		if len(storageEvents(evs, fmt.Sprintf("k%03d.txt", i))) == 0 {
			t.Errorf("k%03d.txt never delivered", i)
		}
	}
	t.Logf("%d deliveries before the kill, %d in all for %d objects (at least once)", before, len(evs), n)
}

// TestStorageExistingDirectory: a directory that existed before updraft
// used it as a bucket (here one Options.Buckets names) is indexed as it
// is, without events, as S3 does not notify for objects older than the
// notification; what changes after is delivered.
func TestStorageExistingDirectory(t *testing.T) {
	dir, legacy := t.TempDir(), t.TempDir()
	writeObject(t, legacy, "old.txt", "old")
	writeObject(t, legacy, "sub/older.txt", "older")
	h := newHost(t, &Options{Dir: dir, Buckets: map[string]string{"legacy": legacy}})
	log := filepath.Join(dir, "events.log")
	deploy(t, h, "newer", consumerSpec(log, false, trigger.Storage{Key: "uploads", Bucket: "gs://legacy"}))
	waitStorage(t, h, "legacy", 30*time.Second, "the existing files indexed", func(st *StorageStats) bool { return st.Objects == 2 })
	writeObject(t, legacy, "new.txt", "new")
	st := waitStorage(t, h, "legacy", 30*time.Second, "the new file delivered", consumerDone("newer", 1))
	if c, _ := st.Consumer("newer", "uploads"); c.Enqueued != 1 || st.Objects != 3 || st.Dir != legacy {
		t.Fatalf("stats = %+v: want the new file's event alone, 3 objects in %s", st, legacy)
	}
	if evs := readEvents(t, log); len(evs) != 1 || evs[0].Obj.Key != "new.txt" {
		t.Fatalf("events = %+v, want new.txt's alone", evs)
	}
}
