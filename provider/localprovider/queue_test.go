package localprovider

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	updeploy "github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/trigger"
)

// eventLine is a line the event consumer (testdata/events) writes.
type eventLine struct {
	Kind  string         `json:"kind"`
	ID    string         `json:"id"`
	Body  string         `json:"body"`
	Count int            `json:"count"`
	Batch int            `json:"batch"`
	Op    string         `json:"op"`
	Item  map[string]any `json:"item"`
	New   map[string]any `json:"new"`
	Old   map[string]any `json:"old"`
	Obj   *struct {
		Bucket, Key string
		Size        int64
		Event       string
		ETag        string
	} `json:"obj"`
	PID int `json:"pid"`
}

func readEvents(t testing.TB, path string) []eventLine {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []eventLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l eventLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("event log line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

// waitEvents polls the event log until cond holds, or fails after d.
func waitEvents(t testing.TB, path string, d time.Duration, what string, cond func([]eventLine) bool) []eventLine {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		evs := readEvents(t, path)
		if cond(evs) {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %s: the consumer logged %d events: %+v", d, what, len(evs), evs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// consumerSpec is the event consumer with the given triggers; http
// makes it serve $PORT (CloudEvents) instead of the Runtime API.
func consumerSpec(log string, http bool, ts ...trigger.Trigger) *provider.Spec {
	env := map[string]string{"EVENTS_LOG": log}
	if http {
		env["UPDRAFT_RUNTIME"] = "http"
	}
	// A short timeout: a failed message is hidden for the longer of the
	// queue's visibility timeout and the function's timeout.
	return &provider.Spec{Code: bundle.Dir(evDir), Runtime: "go", Env: env, Triggers: ts, Timeout: time.Second}
}

func countBy(evs []eventLine, body string) int {
	n := 0
	for _, e := range evs {
		if e.Body == body {
			n++
		}
	}
	return n
}

// TestQueuePartialFailureAndDeadLetter: a batch with one failing message
// deletes the others, redelivers only the failing one, and moves it to
// the dead-letter queue after the queue's max receive count; on both
// function protocols.
func TestQueuePartialFailureAndDeadLetter(t *testing.T) {
	for _, mode := range []string{"runtime-api", "http"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			h := newHost(t, &Options{Dir: dir})
			ctx := context.Background()
			q := "orders-" + strings.ReplaceAll(mode, "-", "")
			if err := h.CreateQueue(ctx, q, &QueueOptions{VisibilityTimeout: 300 * time.Millisecond, MaxReceiveCount: 3}); err != nil {
				t.Fatal(err)
			}
			var msgs []QueueMessage
			for _, b := range []string{"a", "b", "fail-c", "d", "e"} {
				msgs = append(msgs, QueueMessage{Body: []byte(b)})
			}
			ids, err := h.SendMessages(ctx, q, msgs...)
			if err != nil || len(ids) != 5 {
				t.Fatalf("SendMessages = %v, %v", ids, err)
			}
			log := filepath.Join(dir, "events.log")
			deploy(t, h, "consumer", consumerSpec(log, mode == "http",
				trigger.Queue{Key: "jobs", Source: "arn:aws:sqs:us-east-1:123456789012:" + q, BatchSize: 10}))
			var st *QueueStats
			deadline := time.Now().Add(30 * time.Second)
			for {
				st, err = h.QueueStats(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if st.DeadLettered == 1 || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			evs := readEvents(t, log)
			if st.DeadLettered != 1 || st.Visible+st.InFlight != 0 || st.Deleted != 4 {
				t.Fatalf("stats = %+v; events %+v", st, evs)
			}
			for _, b := range []string{"a", "b", "d", "e"} {
				if n := countBy(evs, b); n != 1 {
					t.Errorf("message %q delivered %d times, want once", b, n)
				}
			}
			var fails []eventLine
			for _, e := range evs {
				if e.Body == "fail-c" {
					fails = append(fails, e)
				}
			}
			if len(fails) != 3 {
				t.Fatalf("the failing message was delivered %d times, want 3 (the max receive count): %+v", len(fails), evs)
			}
			for i, e := range fails {
				if e.Count != i+1 {
					t.Errorf("delivery %d of the failing message says receive count %d", i+1, e.Count)
				}
				if i > 0 && e.Batch != 1 {
					t.Errorf("redelivery %d came in a batch of %d: only the failed message is redelivered", i, e.Batch)
				}
			}
			dlq, err := h.PeekMessages(ctx, q+"-dlq", 10)
			if err != nil || len(dlq) != 1 || string(dlq[0].Body) != "fail-c" || dlq[0].From != q || dlq[0].ID != ids[2] {
				t.Fatalf("dead-letter queue = %+v, %v", dlq, err)
			}
			invs := h.Invocations("consumer", nil)
			for _, inv := range invs {
				if inv.Trigger != "jobs" {
					t.Errorf("invocation %+v not recorded as the queue trigger's", inv)
				}
			}
		})
	}
}

// TestQueueBatchError: a batch whose invocation fails is redelivered
// whole, and the errors reach Metrics, as canary gates read them.
func TestQueueBatchError(t *testing.T) {
	dir := t.TempDir()
	h := newHost(t, &Options{Dir: dir})
	ctx := context.Background()
	if err := h.CreateQueue(ctx, "errs", &QueueOptions{VisibilityTimeout: 200 * time.Millisecond, MaxReceiveCount: 2}); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "events.log")
	if _, err := h.SendMessages(ctx, "errs", QueueMessage{Body: []byte("ok-1")}, QueueMessage{Body: []byte("error")}); err != nil {
		t.Fatal(err)
	}
	fn, _ := deploy(t, h, "errs", consumerSpec(log, false, trigger.Queue{Key: "jobs", Source: "errs"}))
	waitEvents(t, log, 30*time.Second, "both messages delivered twice", func(evs []eventLine) bool {
		return countBy(evs, "error") == 2
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := h.QueueStats(ctx, "errs")
		if err != nil {
			t.Fatal(err)
		}
		if st.DeadLettered == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats = %+v: both messages of the failing batch should be dead-lettered", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	m, err := fn.Metrics(ctx, &provider.MetricsQuery{Route: provider.DefaultRoute, Since: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if m.Invocations < 2 || m.Errors < 2 {
		t.Fatalf("metrics = %+v: queue-consumer errors must reach Metrics", m)
	}
}

// TestQueueFIFO: messages of a group are delivered in order, one batch
// of a group at a time, and a duplicate send is dropped.
func TestQueueFIFO(t *testing.T) {
	dir := t.TempDir()
	h := newHost(t, &Options{Dir: dir})
	ctx := context.Background()
	var msgs []QueueMessage
	for i := range 12 {
		g := []string{"g1", "g2"}[i%2]
		msgs = append(msgs, QueueMessage{Body: fmt.Appendf(nil, "sleep:5-%s-%02d", g, i), GroupID: g})
	}
	if _, err := h.SendMessages(ctx, "seq.fifo", msgs...); err != nil {
		t.Fatal(err)
	}
	ids, err := h.SendMessages(ctx, "seq.fifo", msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.SendMessages(ctx, "seq.fifo", QueueMessage{Body: []byte("x")}); provider.Code(err) != provider.InvalidArgument {
		t.Fatalf("a FIFO message without a group: err = %v, want InvalidArgument", err)
	}
	log := filepath.Join(dir, "events.log")
	deploy(t, h, "fifo", consumerSpec(log, false, trigger.Queue{Key: "jobs", Source: "seq.fifo", BatchSize: 2}))
	evs := waitEvents(t, log, 30*time.Second, "12 messages delivered", func(evs []eventLine) bool { return len(evs) >= 12 })
	if len(evs) != 12 {
		t.Fatalf("%d deliveries, want 12 (the duplicate %s dropped): %+v", len(evs), ids[0], evs)
	}
	for _, g := range []string{"g1", "g2"} {
		var got []string
		for _, e := range evs {
			if strings.Contains(e.Body, g) {
				got = append(got, e.Body)
			}
		}
		if !slices.IsSorted(got) {
			t.Errorf("group %s delivered out of order: %v", g, got)
		}
	}
}

// TestQueueSurvivesHostKill: a host killed (SIGKILL) while it delivers
// loses no message: a new host delivers what the dead one had taken once
// its visibility timeout ends.
func TestQueueSurvivesHostKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a host process")
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "events.log")
	ctx := context.Background()
	{
		h := newHost(t, &Options{Dir: dir})
		if err := h.CreateQueue(ctx, "work", &QueueOptions{VisibilityTimeout: time.Second}); err != nil {
			t.Fatal(err)
		}
		var msgs []QueueMessage
		for i := range 20 {
			msgs = append(msgs, QueueMessage{Body: fmt.Appendf(nil, "sleep:100-%02d", i)})
		}
		if _, err := h.SendMessages(ctx, "work", msgs...); err != nil {
			t.Fatal(err)
		}
		h.Close()
	}
	cmd := startConsumerHost(t, dir, "worker", trigger.Queue{Key: "jobs", Source: "work", BatchSize: 2})
	waitEvents(t, log, 30*time.Second, "the helper host delivered a few", func(evs []eventLine) bool { return len(evs) >= 3 })
	killConsumerHost(t, cmd)
	before := len(readEvents(t, log))

	h := newHost(t, &Options{Dir: dir})
	fn, err := h.OpenFunction(ctx, "worker")
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Close()
	if _, err := fn.Get(ctx); err != nil { // opening starts its pollers
		t.Fatal(err)
	}
	evs := waitEvents(t, log, 60*time.Second, "every message delivered after the restart", func(evs []eventLine) bool {
		seen := map[string]bool{}
		for _, e := range evs {
			seen[e.Body] = true
		}
		return len(seen) == 20
	})
	if before >= 20 {
		t.Fatalf("the killed host had delivered all %d messages: kill it earlier to test anything", before)
	}
	st, err := h.QueueStats(ctx, "work")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for st.Visible+st.InFlight > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		st, _ = h.QueueStats(ctx, "work")
	}
	if st.Visible+st.InFlight != 0 || st.Deleted < 20 {
		t.Fatalf("after the restart: %+v", st)
	}
	t.Logf("%d deliveries before the kill, %d in all for 20 messages (at least once)", before, len(evs))
}

// TestQueueGatewayEndpoints: messages sent with an HTTP POST to the
// gateway reach the queue; stats and peek read it.
func TestQueueGatewayEndpoints(t *testing.T) {
	h := newHost(t, &Options{Dir: t.TempDir()})
	base := "http://" + h.Addr() + "/.updraft/queues/"
	post := func(url, body string, hdr map[string]string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := post(base+"inbox", "hello", map[string]string{"X-Updraft-Attr-Origin": "test"})
	if code != 200 || !strings.Contains(body, `"messageId"`) {
		t.Fatalf("POST = %d %s", code, body)
	}
	if code, body := post(base+"inbox.fifo", "x", nil); code != 400 || !strings.Contains(body, "group") {
		t.Fatalf("FIFO send without a group: %d %s, want 400 naming the group id", code, body)
	}
	if code, _ := post(base+"inbox.fifo?group=g&dedup=1", "x", nil); code != 200 {
		t.Fatalf("FIFO send with a group: %d", code)
	}
	if code, body := post(base+"bad%20name", "x", nil); code != 400 {
		t.Fatalf("bad queue name: %d %s", code, body)
	}
	resp, err := http.Get(base + "inbox")
	if err != nil {
		t.Fatal(err)
	}
	var st QueueStats
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.Visible != 1 || st.Sent != 1 || st.DeadLetterQueue != "inbox-dlq" || st.MaxReceiveCount != 5 {
		t.Fatalf("stats = %+v", st)
	}
	resp, err = http.Get(base + "inbox/peek")
	if err != nil {
		t.Fatal(err)
	}
	var peek []PeekedMessage
	json.NewDecoder(resp.Body).Decode(&peek)
	resp.Body.Close()
	if len(peek) != 1 || string(peek[0].Body) != "hello" || peek[0].Attributes["Origin"] != "test" {
		t.Fatalf("peek = %+v", peek)
	}
	if resp, err := http.Get("http://" + h.Addr() + "/.updraft/nothing"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("unknown control path: %v %v", resp, err)
	}
}

// TestAWSEnviron: instances get a region and the host's AWS identity, or
// placeholder credentials when the host has none.
func TestAWSEnviron(t *testing.T) {
	env := func(kv ...string) func(string) (string, bool) {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	none := awsEnviron(env("HOME", t.TempDir()))
	if !slices.Equal(none, []string{"AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1", "AWS_ACCESS_KEY_ID=updraft-local", "AWS_SECRET_ACCESS_KEY=updraft-local"}) {
		t.Errorf("no identity: %v", none)
	}
	mine := awsEnviron(env("AWS_DEFAULT_REGION", "eu-west-1", "AWS_PROFILE", "dev"))
	if !slices.Equal(mine, []string{"AWS_REGION=eu-west-1", "AWS_DEFAULT_REGION=eu-west-1", "AWS_PROFILE=dev"}) {
		t.Errorf("a profile: %v", mine)
	}
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".aws"), 0o755)
	os.WriteFile(filepath.Join(home, ".aws", "credentials"), []byte("[default]\n"), 0o600)
	if got := awsEnviron(env("HOME", home, "AWS_REGION", "ap-south-1")); !slices.Equal(got, []string{"AWS_REGION=ap-south-1", "AWS_DEFAULT_REGION=ap-south-1"}) {
		t.Errorf("~/.aws/credentials: %v", got)
	}
}

// TestQueueCanaryRollsBack: a canary whose queue consumer fails is seen
// by the error-rate gate, through Metrics, and rolled back; the messages
// it failed are delivered again to the stable revision.
func TestQueueCanaryRollsBack(t *testing.T) {
	dir := t.TempDir()
	h := newHost(t, &Options{Dir: dir})
	ctx := context.Background()
	if err := h.CreateQueue(ctx, "canary", &QueueOptions{VisibilityTimeout: 300 * time.Millisecond, MaxReceiveCount: 100}); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "events.log")
	spec := consumerSpec(log, false, trigger.Queue{Key: "jobs", Source: "canary", BatchSize: 1})
	fn, _ := deploy(t, h, "canary", spec)
	stop := make(chan struct{})
	sent := make(chan int, 1)
	go func() {
		n := 0
		defer func() { sent <- n }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if _, err := h.SendMessages(ctx, "canary", QueueMessage{Body: fmt.Appendf(nil, "m-%04d", n)}); err == nil {
				n++
			}
		}
	}()
	bad := spec.Clone()
	bad.Env["FAIL_QUEUE"] = "1"
	res, err := updeploy.Rollout(ctx, []*provider.Function{fn}, bad, &updeploy.RolloutOptions{
		Strategy: updeploy.Canary(50), Interval: 2 * time.Second, Gates: []updeploy.Gate{updeploy.ErrorRateGate(0.1, 5)}})
	close(stop)
	n := <-sent
	if res == nil || res.Outcome != updeploy.OutcomeRolledBack {
		t.Fatalf("rollout of a failing consumer: %+v, %v; want rolled back by the error-rate gate", res, err)
	}
	// Every message is done by the stable revision in the end.
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := h.QueueStats(ctx, "canary")
		if err != nil {
			t.Fatal(err)
		}
		if st.Deleted == int64(n) && st.Visible+st.InFlight == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the rollback: %+v, %d sent", st, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConcurrentSends: concurrent senders share commits and every send
// is kept, each id once.
func TestConcurrentSends(t *testing.T) {
	h := newHost(t, &Options{Dir: t.TempDir()})
	ctx := context.Background()
	const senders, each = 8, 50
	ids := make(chan string, senders*each)
	errs := make(chan error, senders)
	for range senders {
		go func() {
			for i := range each {
				got, err := h.SendMessages(ctx, "many", QueueMessage{Body: fmt.Appendf(nil, "m%d", i)})
				if err != nil {
					errs <- err
					return
				}
				ids <- got[0]
			}
			errs <- nil
		}()
	}
	for range senders {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("id %s given twice", id)
		}
		seen[id] = true
	}
	st, err := h.QueueStats(ctx, "many")
	if err != nil || st.Sent != senders*each || st.Visible != senders*each || len(seen) != senders*each {
		t.Fatalf("stats = %+v, %v; %d ids", st, err, len(seen))
	}
}
