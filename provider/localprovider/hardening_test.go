package localprovider

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/driver"
)

// waitFor polls cond every few milliseconds until it holds or the
// deadline passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// editMeta rewrites function name's function.json through edit.
func editMeta(t *testing.T, h *Host, name string, edit func(m map[string]any)) {
	t.Helper()
	p := filepath.Join(h.fnDir(name), "function.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, _ = json.Marshal(m)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptMetadata(t *testing.T) {
	dir := t.TempDir()
	h := newHost(t, &Options{Dir: dir})
	deploy(t, h, "healthy", testSpec("1"))
	for name, edit := range map[string]func(m map[string]any){
		"null-route":    func(m map[string]any) { m["routes"].(map[string]any)["live"] = nil },
		"null-revision": func(m map[string]any) { m["revisions"] = []any{nil} },
		"dup-revision":  func(m map[string]any) { m["revisions"] = []any{m["revisions"].([]any)[0], m["revisions"].([]any)[0]} },
		"bad-split": func(m map[string]any) {
			m["routes"].(map[string]any)["live"].(map[string]any)["traffic"].(map[string]any)["CandidatePercent"] = 250
		},
		"escaping-entry": func(m map[string]any) {
			m["revisions"].([]any)[0].(map[string]any)["Config"].(map[string]any)["Entrypoint"] = "../../outside.sh"
		},
	} {
		t.Run(name, func(t *testing.T) {
			fn, _ := deploy(t, h, name, testSpec("1"))
			if r := get(t, h.URL(name)); r.code != 200 {
				t.Fatalf("before: %d %q", r.code, r.body)
			}
			editMeta(t, h, name, edit)
			fr, _ := h.runtime(name)
			fr.refreshFromDisk() // what the housekeeping does every 500 ms
			if _, err := fn.Get(t.Context()); provider.Code(err) != provider.Internal || !strings.Contains(err.Error(), "is corrupt") {
				t.Fatalf("Get on corrupt metadata: %v", err)
			}
			// This host keeps serving what it last read, and the others.
			if r := get(t, h.URL(name)); r.code != 200 {
				t.Errorf("after the change: %d %q", r.code, r.body)
			}
			if r := get(t, h.URL("healthy")); r.code != 200 {
				t.Errorf("another function: %d %q", r.code, r.body)
			}
			// A host that never read it says it is corrupt.
			h2 := newHost(t, &Options{Dir: dir})
			if r := get(t, h2.URL(name)); r.code != 500 || !strings.Contains(r.body, "is corrupt") {
				t.Errorf("fresh host: %d %q", r.code, r.body)
			}
			h2.Close()
		})
	}
	t.Run("truncated", func(t *testing.T) {
		deploy(t, h, "truncated", testSpec("1"))
		p := filepath.Join(h.fnDir("truncated"), "function.json")
		b, _ := os.ReadFile(p)
		os.WriteFile(p, b[:len(b)/2], 0o644)
		h2 := newHost(t, &Options{Dir: dir})
		if r := get(t, h2.URL("truncated")); r.code != 500 || !strings.Contains(r.body, "is corrupt") {
			t.Errorf("fresh host on truncated metadata: %d %q", r.code, r.body)
		}
	})
}

func TestInvalidStatusCode(t *testing.T) {
	h := newHost(t, nil)
	fn, _ := deploy(t, h, "status", testSpec("1"))
	for _, code := range []int{1, 42, 99, 100, 1000, -1} {
		r := get(t, h.URL("status")+"?status="+strconv.Itoa(code))
		if r.code != 502 || !strings.Contains(r.body, "statusCode "+strconv.Itoa(code)) {
			t.Errorf("statusCode %d: %d %q", code, r.code, r.body)
		}
	}
	for _, code := range []int{201, 404, 500, 503} {
		if r := get(t, h.URL("status")+"?status="+strconv.Itoa(code)); r.code != code {
			t.Errorf("statusCode %d answered %d", code, r.code)
		}
	}
	if r := get(t, h.URL("status")+"?fail=boom"); r.code != 502 {
		t.Errorf("function error: %d", r.code)
	}
	recs := h.Invocations("status", nil)
	if len(recs) != 11 {
		t.Fatalf("%d records, want 11", len(recs))
	}
	if recs[0].HTTPStatus != 502 || recs[0].Status != StatusOK {
		t.Errorf("record of an invalid status: %+v", recs[0])
	}
	m, err := fn.Metrics(t.Context(), nil)
	if err != nil || !m.HTTP || m.Invocations != 11 || m.Errors != 1 || m.Status2xx != 1 || m.Status4xx != 1 || m.Status5xx != 9 {
		t.Errorf("metrics %+v %v", m, err)
	}
}

// panicOnce is a ResponseWriter whose first Header call panics.
type panicOnce struct {
	*httptest.ResponseRecorder
	done bool
}

func (p *panicOnce) Header() http.Header {
	if !p.done {
		p.done = true
		panic("injected")
	}
	return p.ResponseRecorder.Header()
}

func TestGatewayPanicIsInternal(t *testing.T) {
	h := newHost(t, nil)
	w := &panicOnce{ResponseRecorder: httptest.NewRecorder()}
	h.safeGateway(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 500 || !strings.Contains(w.Body.String(), "internal error") {
		t.Fatalf("panicking handler: %d %q", w.Code, w.Body.String())
	}
}

// findProcess returns the pid of a process whose command line contains
// tag, or 0.
func findProcess(tag string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if err == nil && strings.Contains(cmd, tag) && !strings.Contains(cmd, "/bin/sh") {
			return pid
		}
	}
	return 0
}

func TestSetsidChildDiesWithInstance(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("lists processes through /proc")
	}
	h, err := NewHost(context.Background(), &Options{Dir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	deploy(t, h, "setsid", testSpec("1"))
	// sleep adds up its arguments: the second makes the command line unique.
	tag := fmt.Sprintf("300 0.%d", time.Now().UnixNano())
	if r := get(t, h.URL("setsid")+"?spawn="+url.QueryEscape(tag)); r.code != 200 {
		t.Fatalf("spawn: %d %q", r.code, r.body)
	}
	var pid int
	waitFor(t, 5*time.Second, "the child to start", func() bool { pid = findProcess(tag); return pid != 0 })
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	h.Close()
	if !processGone(pid, 5*time.Second) {
		t.Fatalf("process %d started with setsid by an instance survived Host.Close (isolation level %d)", pid, h.isolation.Load())
	}
}

// trickle opens a connection that sends a request head announcing a body
// and then one byte of it.
func trickle(t *testing.T, addr, path string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nx", path)
	return c
}

func TestSlowBodyHoldsNoInstance(t *testing.T) {
	h := newHost(t, &Options{QueueTimeout: 200 * time.Millisecond})
	s := testSpec("1")
	two := 2
	s.Concurrency.Max = &two
	deploy(t, h, "trickle", s)
	trickle(t, h.Addr(), "/trickle/")
	trickle(t, h.Addr(), "/trickle/")
	for i := range 5 {
		if r := get(t, h.URL("trickle")); r.code != 200 {
			t.Fatalf("request %d while two clients trickle their bodies: %d %q", i, r.code, r.body)
		}
	}
	// Malformed chunked encoding is a bad request, not a large one.
	c, err := net.Dial("tcp", h.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "POST /trickle/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("malformed chunked body: %v %v", resp, err)
	}
	// A body that does not arrive in time is answered 408.
	h2 := newHost(t, &Options{BodyTimeout: 100 * time.Millisecond})
	tc := trickle(t, h2.Addr(), "/trickle/")
	tc.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err = http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil || resp.StatusCode != 408 {
		t.Fatalf("slow body: %v %v", resp, err)
	}
	if n := len(h.Invocations("trickle", nil)); n != 5 {
		t.Errorf("%d invocations recorded, want 5", n)
	}
}

func TestPanicDoesNotFailTheNextRequest(t *testing.T) {
	h := newHost(t, nil)
	deploy(t, h, "panics", testSpec("1"))
	for round := range 3 {
		if r := get(t, h.URL("panics")+"?panic=boom"); r.code != 502 || !strings.Contains(r.body, "boom") {
			t.Fatalf("panic: %d %q", r.code, r.body)
		}
		for i := range 10 {
			if r := get(t, h.URL("panics")); r.code != 200 {
				t.Fatalf("round %d: request %d after a panic: %d %q", round, i, r.code, r.body)
			}
		}
	}
}

func TestUndeliveredIsRetried(t *testing.T) {
	h := newHost(t, nil)
	s := testSpec("1")
	s.Env["FN_MODE"] = "raw"
	deploy(t, h, "exits", s)
	for i := range 20 {
		if r := get(t, h.URL("exits")+"?exit=1"); r.code != 200 {
			t.Fatalf("exiting request %d: %d %q", i, r.code, r.body)
		}
		// The instance that answered exits before its next poll: this
		// request must not fail on it.
		if r := get(t, h.URL("exits")); r.code != 200 {
			t.Fatalf("request %d after an instance exited: %d %q", i, r.code, r.body)
		}
	}
}

func TestConditionedCreate(t *testing.T) {
	h := newHost(t, nil)
	a, _ := h.OpenFunction(t.Context(), "race")
	b, _ := h.OpenFunction(t.Context(), "race")
	defer a.Close()
	defer b.Close()
	if err := a.Delete(t.Context()); err != nil && provider.Code(err) != provider.NotFound {
		t.Fatal(err)
	}
	if _, err := a.Apply(t.Context(), testSpec("1"), &provider.ApplyOptions{IfMatch: "nope", Publish: true}); provider.Code(err) != provider.FailedPrecondition {
		t.Fatalf("IfMatch on an absent function: %v", err)
	}
	if _, err := a.Apply(t.Context(), testSpec("1"), &provider.ApplyOptions{IfNotExist: true, Publish: true}); err != nil {
		t.Fatal(err)
	}
	_, err := b.Apply(t.Context(), testSpec("2"), &provider.ApplyOptions{IfNotExist: true, Publish: true})
	if provider.Code(err) != provider.AlreadyExists {
		t.Fatalf("second create: %v", err)
	}
	if r := get(t, h.URL("race")); r.Version != "1" {
		t.Errorf("the loser replaced the winner: %q", r.body)
	}
}

func TestEntrypointOutsideTheCode(t *testing.T) {
	h := newHost(t, nil)
	d, err := h.OpenDriver("escape")
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Build(t.Context(), bundle.Files(map[string][]byte{"bootstrap": []byte("#!/bin/sh\n")}), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"../../outside.sh", "/bin/sh", "a/../../x"} {
		s := &driver.Spec{Runtime: "provided", Entrypoint: e, Bundle: b, MemoryMB: 128, Timeout: time.Second, Route: "live"}
		if _, err := d.Apply(t.Context(), s, &driver.ApplyOptions{Publish: true}); driver.CodeOf(err) != driver.InvalidArgument || !strings.Contains(err.Error(), "outside the code") {
			t.Errorf("entrypoint %q: %v", e, err)
		}
	}
}

func TestRecordsBoundedAndReadable(t *testing.T) {
	dir := t.TempDir()
	h := newHost(t, &Options{Dir: dir, RecordMemory: 4 << 10})
	fn, _ := deploy(t, h, "recs", testSpec("1"))
	const n = 100
	for range n {
		if r := get(t, h.URL("recs")); r.code != 200 {
			t.Fatal(r.code)
		}
	}
	if got := len(h.Invocations("recs", nil)); got == 0 || got >= n {
		t.Errorf("%d records in memory with a 4 KiB budget", got)
	}
	// Aggregates stay exact.
	m, err := fn.Metrics(t.Context(), &provider.MetricsQuery{Revision: "1"})
	if err != nil || m.Invocations != n || m.Status2xx != n {
		t.Errorf("metrics %+v %v", m, err)
	}
	// Another process reads the record log.
	var recs []Invocation
	waitFor(t, 5*time.Second, "the record log", func() bool {
		recs, err = ReadInvocations(dir, "recs", nil)
		return err == nil && len(recs) == n
	})
	if r := recs[0]; r.Revision != "1" || r.Route != "live" || r.HTTPStatus != 200 || !r.ColdStart || r.Host == "" || r.BilledDuration == 0 {
		t.Errorf("first record read back %+v", r)
	}
	// A second host counts the first one's invocations in Metrics.
	h2 := newHost(t, &Options{Dir: dir})
	fn2, _ := h2.OpenFunction(t.Context(), "recs")
	defer fn2.Close()
	if m, err := fn2.Metrics(t.Context(), nil); err != nil || m.Invocations != n {
		t.Errorf("second host's metrics %+v %v", m, err)
	}
}

func TestRecordLogRotates(t *testing.T) {
	dir := t.TempDir()
	p := recordLogPath(dir, "rot")
	os.MkdirAll(filepath.Dir(p), 0o755)
	r := &recorder{maxBytes: 1 << 20}
	r.log.path, r.log.host = p, "test"
	inv := Invocation{RequestID: strings.Repeat("r", 36), Start: time.Now(), Revision: "1", Route: "live", Status: StatusOK}
	for range 3 * maxRecordLog / 200 {
		r.add(inv)
		if len(r.log.pending) > 64<<10 {
			r.flush()
		}
	}
	r.closeLog()
	cur, err1 := os.Stat(p)
	old, err2 := os.Stat(rotatedLog(p))
	if err1 != nil || err2 != nil || cur.Size() > maxRecordLog+(64<<10) || old.Size() > maxRecordLog+(64<<10) {
		t.Fatalf("record log sizes: %v %v %v %v", cur, err1, old, err2)
	}
}

func TestFunctionLogRotates(t *testing.T) {
	dir := t.TempDir()
	h := newHost(t, &Options{Dir: dir})
	h.logLimit = 1 << 20
	deploy(t, h, "chatty", testSpec("1"))
	for range 5 {
		if r := get(t, h.URL("chatty")+"?log=700"); r.code != 200 {
			t.Fatal(r.code)
		}
	}
	h.Close()
	p := filepath.Join(h.fnDir("chatty"), "function.log")
	cur, err1 := os.Stat(p)
	old, err2 := os.Stat(p + ".1")
	if err1 != nil || err2 != nil || cur.Size() > h.logLimit || old.Size() > h.logLimit {
		t.Fatalf("function.log %v %v, function.log.1 %v %v, limit %d", cur, err1, old, err2, h.logLimit)
	}
}

func TestRuntimeAPIRejectsAmbiguousFraming(t *testing.T) {
	_, base := fakeInstance(t)
	addr := strings.TrimPrefix(strings.TrimSuffix(base, "/2018-06-01/runtime/"), "http://")
	const post = "POST /2018-06-01/runtime/invocation/x/response HTTP/1.1\r\nHost: x\r\n"
	smuggled := "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"
	for name, req := range map[string]string{
		"gzip, chunked":  post + "Transfer-Encoding: gzip, chunked\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(smuggled), smuggled),
		"two lengths":    post + "Content-Length: 0\r\nContent-Length: 5\r\n\r\nhello",
		"length and TE":  post + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"identity":       post + "Transfer-Encoding: identity\r\n\r\n",
		"two TE":         post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"space in name":  post + "Content-Length : 5\r\n\r\nhello",
		"folded":         post + "X: a\r\n b\r\n\r\n",
		"signed length":  post + "Content-Length: +5\r\n\r\nhello",
		"bad version":    "GET /2018-06-01/runtime/invocation/next HTTP/9.9\r\n\r\n",
		"two hosts":      post + "Host: y\r\nContent-Length: 0\r\n\r\n",
		"header too big": post + "X: " + strings.Repeat("a", 3000) + "\r\n" + strings.Repeat("Y: "+strings.Repeat("b", 3000)+"\r\n", 6) + "\r\n",
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, req)
		all, _ := io.ReadAll(c) // the server closes after its answer
		c.Close()
		if !strings.HasPrefix(string(all), "HTTP/1.1 400 ") && !strings.HasPrefix(string(all), "HTTP/1.1 431 ") {
			t.Errorf("%s: answered %q", name, all)
		}
		if strings.Count(string(all), "HTTP/1.1") != 1 {
			t.Errorf("%s: more than one answer, the body was read as a request: %q", name, all)
		}
	}
}

func TestRuntimeAPIReadDeadline(t *testing.T) {
	in, base := fakeInstance(t)
	in.readTimeout = 100 * time.Millisecond
	addr := strings.TrimPrefix(strings.TrimSuffix(base, "/2018-06-01/runtime/"), "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A request head that never ends is cut at the read timeout.
	io.WriteString(c, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err = c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("partial head: %v, want the server to close", err)
	}
}

// recordsHelper serves seven requests of function "xproc" in its own
// host, closes it and exits.
func recordsHelper() {
	h, err := NewHost(context.Background(), &Options{Dir: os.Getenv("LOCALPROVIDER_RECORDS_HELPER")})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for range 7 {
		resp, err := http.Get(h.URL("xproc"))
		if err != nil || resp.StatusCode != 200 {
			fmt.Println("error", err)
			os.Exit(1)
		}
		resp.Body.Close()
	}
	h.Close()
	fmt.Println("served", h.id)
	os.Exit(0)
}

func TestRecordsReadFromAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	h := newHost(t, &Options{Dir: dir})
	fn, _ := deploy(t, h, "xproc", testSpec("1"))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LOCALPROVIDER_RECORDS_HELPER="+dir)
	out, err := cmd.Output()
	var other string
	if _, serr := fmt.Sscanf(string(out), "served %s", &other); err != nil || serr != nil {
		t.Fatalf("helper: %v %q", err, out)
	}
	recs, err := ReadInvocations(dir, "xproc", nil)
	if err != nil || len(recs) != 7 || recs[0].Host != other || recs[0].HTTPStatus != 200 {
		t.Fatalf("records of the other process: %d %v %+v", len(recs), err, recs)
	}
	if s := SummarizeInvocations("xproc", recs); s.Total.Invocations != 7 || s.Revisions["1"].ColdStarts != 1 {
		t.Errorf("summary of the other process's records: %v", s.Total)
	}
	if m, err := fn.Metrics(t.Context(), &provider.MetricsQuery{Revision: "1"}); err != nil || m.Invocations != 7 || m.Status2xx != 7 {
		t.Errorf("this process's metrics of the other's invocations: %+v %v", m, err)
	}
}
