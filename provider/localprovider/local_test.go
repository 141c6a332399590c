package localprovider

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/provider/providertest"
	"github.com/updraft-dev/updraft/trigger"
)

// fnDir holds the test function's bootstrap, built once per test binary.
// stateDir is the state directory most tests share, so the bundle is
// unpacked once; each test uses its own function names.
var fnDir, stateDir string

// evDir holds the event consumer's bootstrap (testdata/events).
var evDir string

func TestMain(m *testing.M) {
	if os.Getenv("LOCALPROVIDER_ORPHAN_HELPER") != "" {
		orphanHelper()
		return
	}
	if os.Getenv("LOCALPROVIDER_RECORDS_HELPER") != "" {
		recordsHelper()
		return
	}
	dir, err := os.MkdirTemp("", "localprovider-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fnDir, stateDir = filepath.Join(dir, "fn"), filepath.Join(dir, "state")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(fnDir, "bootstrap"), "./testdata/fn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the test function: %v\n%s", err, out)
		os.Exit(1)
	}
	evDir = filepath.Join(dir, "events")
	cmd = exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(evDir, "bootstrap"), "./testdata/events")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the event test function: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newHost starts a host on a temporary state directory, closed at the
// end of the test.
func newHost(t testing.TB, opts *Options) *Host {
	t.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Dir == "" {
		o.Dir = stateDir
	}
	h, err := NewHost(context.Background(), &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func testSpec(version string) *provider.Spec {
	return &provider.Spec{
		Code:     bundle.Dir(fnDir),
		Runtime:  "go",
		Env:      map[string]string{"VERSION": version},
		Triggers: []trigger.Trigger{trigger.HTTP{Key: "web", Auth: trigger.AuthNone}},
	}
}

func deploy(t testing.TB, h *Host, name string, s *provider.Spec) (*provider.Function, *provider.ApplyResult) {
	t.Helper()
	fn, err := h.OpenFunction(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fn.Close() })
	// Start from scratch: the state directory outlives a test (-count).
	if err := fn.Delete(context.Background()); err != nil && provider.Code(err) != provider.NotFound {
		t.Fatal(err)
	}
	res, err := fn.Apply(context.Background(), s, &provider.ApplyOptions{Publish: true})
	if err != nil {
		t.Fatal(err)
	}
	return fn, res
}

type reply struct {
	code    int
	body    string
	header  http.Header
	Version string `json:"version"`
	PID     int    `json:"pid"`
}

func get(t testing.TB, url string) reply {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{code: resp.StatusCode, body: string(b), header: resp.Header}
	json.Unmarshal(b, &r)
	return r
}

func TestConformance(t *testing.T) {
	providertest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (providertest.Harness, error) {
		return &harness{h: newHost(t, nil), name: fmt.Sprintf("conf%d", harnesses.Add(1))}, nil
	}, []providertest.AsTest{asHost{}})
}

var harnesses atomic.Int64

func BenchmarkConformance(b *testing.B) {
	providertest.RunBenchmarks(b, &harness{h: newHost(b, nil), name: "bench"})
}

type harness struct {
	h    *Host
	name string
}

func (h *harness) MakeDriver(context.Context) (driver.Function, error) { return h.h.OpenDriver(h.name) }
func (h *harness) MakeDriverForNonexistentFunction(context.Context) (driver.Function, error) {
	return h.h.OpenDriver("missing")
}
func (h *harness) Spec(context.Context) (*provider.Spec, error) {
	return &provider.Spec{Code: bundle.Dir(fnDir), Runtime: "go"}, nil
}
func (h *harness) Triggers() []trigger.Trigger {
	return []trigger.Trigger{
		trigger.HTTP{Key: "web", Auth: trigger.AuthNone},
		trigger.Schedule{Key: "hourly", Rate: time.Hour},
		trigger.Queue{Key: "jobs", Source: "arn:aws:sqs:us-east-1:123456789012:conformance", BatchSize: 5, MaxBatchingWindow: time.Second},
		trigger.Schedule{Key: "nightly", Cron: "0 3 * * *"},
	}
}
func (h *harness) Close() { h.h.Close() }

type asHost struct{}

func (asHost) Name() string { return "Function.As(**Host)" }
func (asHost) FunctionCheck(fn *provider.Function) error {
	var h *Host
	if !fn.As(&h) || h == nil {
		return fmt.Errorf("As(**Host) failed")
	}
	return nil
}
func (asHost) ErrorCheck(*provider.Function, error) error { return nil }
func (asHost) BeforeApply(func(any) bool) error           { return nil }

func TestRuntimeAPIFunction(t *testing.T) {
	h := newHost(t, nil)
	fn, res := deploy(t, h, "api", testSpec("1"))
	if res.Revision.ID != "1" {
		t.Fatalf("revision %s", res.Revision.ID)
	}
	r := get(t, h.URL("api")+"hello?x=1")
	if r.code != 200 || r.Version != "1" || r.header.Get("X-Path") != "/hello" || r.header.Get("X-Method") != "GET" {
		t.Fatalf("first request: %d %q %v", r.code, r.body, r.header)
	}
	if r.header.Get("X-Updraft-Init-Duration") == "" || r.header.Get("X-Updraft-Revision") != "1" {
		t.Errorf("first request should be a cold start on revision 1: %v", r.header)
	}
	r2 := get(t, h.URL("api")+"again")
	if r2.code != 200 || r2.header.Get("X-Updraft-Init-Duration") != "" || r2.PID != r.PID {
		t.Errorf("second request should be warm on the same instance: %d %v pid %d vs %d", r2.code, r2.header, r2.PID, r.PID)
	}
	// Direct invoke with a raw payload.
	out, err := fn.Invoke(t.Context(), &provider.InvokeOptions{Payload: []byte(`{}`)})
	if err != nil || out.FunctionError != "" || !strings.Contains(string(out.Payload), `"version":"1"`) {
		t.Fatalf("Invoke: %+v %v", out, err)
	}
	out, err = fn.Invoke(t.Context(), &provider.InvokeOptions{Payload: []byte(`{"fail":"boom"}`)})
	if err != nil || out.FunctionError == "" || !strings.Contains(string(out.Payload), "boom") {
		t.Fatalf("Invoke of a failing request: %+v %v", out, err)
	}
	if r := get(t, h.URL("api")+"?fail=boom"); r.code != 502 || !strings.Contains(r.body, "boom") {
		t.Errorf("function error over HTTP: %d %q", r.code, r.body)
	}
	recs := h.Invocations("api", nil)
	if len(recs) != 5 || !recs[0].ColdStart || recs[1].ColdStart || recs[0].InitDuration <= 0 {
		t.Fatalf("records: %+v", recs)
	}
	for _, rec := range recs {
		if rec.BilledDuration < time.Millisecond || rec.BilledDuration%time.Millisecond != 0 || rec.GBSeconds() <= 0 {
			t.Errorf("billing of %+v", rec)
		}
	}
	m, err := fn.Metrics(t.Context(), &provider.MetricsQuery{Revision: "1"})
	if err != nil || m.Invocations != 5 || m.Errors != 2 {
		t.Errorf("metrics %+v %v", m, err)
	}
	st, err := fn.Get(t.Context())
	if err != nil || st.Endpoint != h.URL("api") {
		t.Errorf("endpoint %q %v", st.Endpoint, err)
	}
}

func TestHTTPFunction(t *testing.T) {
	h := newHost(t, nil)
	s := testSpec("h1")
	s.Env["FN_MODE"] = "http"
	fn, _ := deploy(t, h, "web", s)
	r := get(t, h.URL("web")+"a/b?x=1")
	if r.code != 200 || r.Version != "h1" || r.header.Get("X-Path") != "/a/b" || r.header.Get("X-Updraft-Init-Duration") == "" {
		t.Fatalf("first request: %d %q %v", r.code, r.body, r.header)
	}
	r2 := get(t, h.URL("web"))
	if r2.code != 200 || r2.PID != r.PID || r2.header.Get("X-Updraft-Init-Duration") != "" {
		t.Fatalf("second request should be warm: %d %q %v", r2.code, r2.body, r2.header)
	}
	out, err := fn.Invoke(t.Context(), nil)
	if err != nil || !strings.Contains(string(out.Payload), `"version":"h1"`) {
		t.Fatalf("Invoke: %+v %v", out, err)
	}
	if r := get(t, h.URL("web")+"?fail=no"); r.code != 500 {
		t.Errorf("HTTP 500 from the function: %d", r.code)
	}
	if r := get(t, h.URL("web")+"?crash=1"); r.code != 502 {
		t.Errorf("crash: %d %q", r.code, r.body)
	}
	if r3 := get(t, h.URL("web")); r3.code != 200 || r3.PID == r.PID {
		t.Errorf("after a crash: %d pid %d (crashed %d)", r3.code, r3.PID, r.PID)
	}
}

func TestProvisionedStartWarm(t *testing.T) {
	h := newHost(t, nil)
	s := testSpec("1")
	two := 2
	s.Concurrency.Provisioned = &two
	fn, _ := deploy(t, h, "prov", s)
	st, _ := fn.Get(t.Context())
	if p := st.Routes["live"].Provisioned; p == nil || p.Status != "READY" || p.Ready != 2 {
		t.Fatalf("provisioned %+v", p)
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if r := get(t, h.URL("prov")+"?sleep=100"); r.code != 200 || r.header.Get("X-Updraft-Init-Duration") != "" {
				t.Errorf("request on provisioned instance: %d %v", r.code, r.header)
			}
		})
	}
	wg.Wait()
	for _, rec := range h.Invocations("prov", nil) {
		if rec.ColdStart {
			t.Errorf("cold start on a provisioned function: %+v", rec)
		}
	}
}

// busy reports how many instances of name hold a slot with none idle.
func busy(h *Host, name string) (total, idle int) {
	fr, _ := h.runtime(name)
	fr.mu.Lock()
	defer fr.mu.Unlock()
	for _, rp := range fr.pools {
		idle += len(rp.idle)
	}
	return fr.total, idle
}

func waiters(h *Host, name string) int {
	fr, _ := h.runtime(name)
	fr.mu.Lock()
	defer fr.mu.Unlock()
	return len(fr.waiters)
}

func TestScaleOutAndThrottle(t *testing.T) {
	h := newHost(t, &Options{QueueTimeout: 2 * time.Second})
	s := testSpec("1")
	three := 3
	s.Concurrency.Max = &three
	deploy(t, h, "scale", s)
	gate := filepath.Join(t.TempDir(), "open")
	var mu sync.Mutex
	pids := map[int]bool{}
	codes := map[int]int{}
	var wg sync.WaitGroup
	send := func(q string) {
		wg.Go(func() {
			r := get(t, h.URL("scale")+q)
			mu.Lock()
			codes[r.code]++
			if r.code == 200 {
				pids[r.PID] = true
			}
			mu.Unlock()
		})
	}
	// Three requests hold the three instances until the gate opens.
	for range 3 {
		send("?wait=" + gate)
	}
	waitFor(t, 10*time.Second, "three busy instances", func() bool { total, idle := busy(h, "scale"); return total == 3 && idle == 0 })
	if r := get(t, h.URL("scale")); r.code != 429 {
		t.Errorf("a fourth request at max 3: %d %q", r.code, r.body)
	}
	os.WriteFile(gate, nil, 0o644)
	wg.Wait()
	if codes[200] != 3 || len(pids) != 3 {
		t.Fatalf("3 concurrent requests at max 3: codes %v, %d instances", codes, len(pids))
	}
	// A waiting request gets the instance freed within the queue timeout.
	gate2 := gate + "2"
	codes = map[int]int{}
	for range 3 {
		send("?wait=" + gate2)
	}
	waitFor(t, 10*time.Second, "three busy instances", func() bool { total, idle := busy(h, "scale"); return total == 3 && idle == 0 })
	send("")
	waitFor(t, 10*time.Second, "a queued request", func() bool { return waiters(h, "scale") == 1 })
	os.WriteFile(gate2, nil, 0o644)
	wg.Wait()
	if codes[200] != 4 {
		t.Fatalf("queued request: codes %v", codes)
	}
	if s := h.Summarize("scale", nil); s.Total.Throttles != 1 {
		t.Errorf("throttles %d", s.Total.Throttles)
	}
}

func TestTimeoutKill(t *testing.T) {
	h := newHost(t, nil)
	s := testSpec("1")
	s.Timeout = time.Second
	deploy(t, h, "slow", s)
	first := get(t, h.URL("slow"))
	start := time.Now()
	r := get(t, h.URL("slow")+"?sleep=5000")
	if el := time.Since(start); r.code != 504 || !strings.Contains(r.body, "timed out after 1.00 seconds") || el > 3*time.Second {
		t.Fatalf("timeout: %d %q after %s", r.code, r.body, el)
	}
	if !processGone(first.PID, time.Second) {
		t.Errorf("timed-out instance %d still running", first.PID)
	}
	r2 := get(t, h.URL("slow"))
	if r2.code != 200 || r2.PID == first.PID {
		t.Errorf("after a timeout: %d pid %d", r2.code, r2.PID)
	}
	if s := h.Summarize("slow", nil); s.Total.Errors != 1 {
		t.Errorf("summary %v", s.Total)
	}
}

func TestCrashRecovery(t *testing.T) {
	h := newHost(t, nil)
	fn, _ := deploy(t, h, "crash", testSpec("1"))
	first := get(t, h.URL("crash"))
	r := get(t, h.URL("crash")+"?crash=1")
	if r.code != 502 || !strings.Contains(r.body, "exit status 3") || !strings.Contains(r.body, "next request starts a fresh instance") {
		t.Fatalf("crash: %d %q", r.code, r.body)
	}
	r2 := get(t, h.URL("crash"))
	if r2.code != 200 || r2.PID == first.PID || r2.header.Get("X-Updraft-Init-Duration") == "" {
		t.Fatalf("after a crash: %d pid %d, %v", r2.code, r2.PID, r2.header)
	}
	out, err := fn.Invoke(t.Context(), &provider.InvokeOptions{Payload: []byte(`{"crash":true}`)})
	if err != nil || out.FunctionError != "Unhandled" || !strings.Contains(string(out.Payload), "Runtime.ExitError") {
		t.Fatalf("Invoke of a crash: %+v %v", out, err)
	}
}

func TestMemoryLimit(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("resident memory is watched on Linux only")
	}
	h := newHost(t, nil)
	s := testSpec("1")
	s.MemoryMB = 128
	deploy(t, h, "mem", s)
	r := get(t, h.URL("mem")+"?alloc=200&sleep=2000")
	if r.code != 502 || !strings.Contains(r.body, "OutOfMemory") {
		t.Fatalf("over memory: %d %q", r.code, r.body)
	}
	if r := get(t, h.URL("mem")+"?alloc=20"); r.code != 200 {
		t.Fatalf("within memory: %d %q", r.code, r.body)
	}
}

func TestWeightedRouting(t *testing.T) {
	h := newHost(t, nil)
	fn, r1 := deploy(t, h, "split", testSpec("1"))
	r2, err := fn.Apply(t.Context(), testSpec("2"), &provider.ApplyOptions{Publish: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := fn.SetTraffic(t.Context(), "", provider.Traffic{Stable: r1.Revision.ID, Candidate: r2.Revision.ID, CandidatePercent: 30}, nil); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	var v2 atomic.Int64
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= n {
				r := get(t, h.URL("split"))
				if r.code != 200 {
					t.Errorf("status %d %q", r.code, r.body)
					return
				}
				if r.Version == "2" {
					v2.Add(1)
				}
			}
		})
	}
	wg.Wait()
	share := float64(v2.Load()) / n * 100
	if share < 25 || share > 35 {
		t.Fatalf("candidate share %.1f%%, want 30%% ± 5", share)
	}
	// Direct revision URLs and route URLs.
	if r := get(t, strings.TrimSuffix(h.URL("split"), "/")+":2/"); r.Version != "2" {
		t.Errorf("revision URL served %q", r.Version)
	}
	m1, _ := fn.Metrics(t.Context(), &provider.MetricsQuery{Revision: "1"})
	m2, _ := fn.Metrics(t.Context(), &provider.MetricsQuery{Revision: "2"})
	if m1.Invocations+m2.Invocations != n+1 {
		t.Errorf("metrics %+v %+v", m1, m2)
	}
}

// processGone waits for pid to disappear.
func processGone(pid int, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return syscall.Kill(pid, 0) != nil
}

// children lists the processes whose parent is this one (Linux).
func children(t *testing.T) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	var out []int
	me := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 1 && f[1] == strconv.Itoa(me) {
			out = append(out, pid)
		}
	}
	return out
}

func TestNoLeftoverProcesses(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("lists children through /proc")
	}
	before := children(t)
	h, err := NewHost(context.Background(), &Options{Dir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	fn, err := h.OpenFunction(t.Context(), "leftover")
	if err != nil {
		t.Fatal(err)
	}
	s := testSpec("1")
	two := 2
	s.Concurrency.Provisioned = &two
	if _, err := fn.Apply(t.Context(), s, &provider.ApplyOptions{Publish: true}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if resp, err := http.Get(h.URL("leftover") + "?sleep=200"); err == nil {
				resp.Body.Close()
			}
		})
	}
	var during []int
	waitFor(t, 10*time.Second, "at least 4 instances", func() bool { during = children(t); return len(during) >= len(before)+4 })
	h.Close()
	wg.Wait()
	if after := children(t); len(after) > len(before) {
		t.Fatalf("processes left after Close: %v (before %v)", after, before)
	}
	for _, pid := range during {
		if !slices.Contains(before, pid) && syscall.Kill(pid, 0) == nil {
			t.Errorf("instance %d still exists", pid)
		}
	}

	// The same through a context.
	ctx, cancel := context.WithCancel(context.Background())
	h2, err := NewHost(ctx, &Options{Dir: h.Dir()})
	if err != nil {
		t.Fatal(err)
	}
	fn2, _ := h2.OpenFunction(ctx, "leftover")
	if _, err := fn2.Invoke(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if len(children(t)) <= len(before) {
		t.Fatal("no instance running")
	}
	cancel()
	waitFor(t, 5*time.Second, "no instance left after the context ended", func() bool { return len(children(t)) <= len(before) })
}

// orphanHelper starts an instance and exits without closing the host.
func orphanHelper() {
	h, err := NewHost(context.Background(), &Options{Dir: os.Getenv("LOCALPROVIDER_ORPHAN_HELPER")})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	r, err := http.Get(h.URL("gone") + "?x=1")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	var rep reply
	json.NewDecoder(r.Body).Decode(&rep)
	fmt.Println("pid", rep.PID)
	os.Exit(0)
}

func TestNoOrphanWhenHostProcessExits(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("PR_SET_PDEATHSIG is Linux only")
	}
	h := newHost(t, nil)
	deploy(t, h, "gone", testSpec("1"))
	h.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LOCALPROVIDER_ORPHAN_HELPER="+h.Dir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	cmd.Wait()
	var pid int
	if _, err := fmt.Sscanf(line, "pid %d", &pid); err != nil || pid == 0 {
		t.Fatalf("helper said %q", line)
	}
	if !processGone(pid, 2*time.Second) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("instance %d outlived its host process", pid)
	}
}

func TestPersistsAcrossHosts(t *testing.T) {
	dir := t.TempDir()
	h1 := newHost(t, &Options{Dir: dir})
	_, res := deploy(t, h1, "keep", testSpec("1"))
	h1.Close()
	h2 := newHost(t, &Options{Dir: dir})
	fn, err := h2.OpenFunction(t.Context(), "keep")
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Close()
	st, err := fn.Get(t.Context())
	if err != nil || st.Routes["live"].Traffic.Stable != res.Revision.ID {
		t.Fatalf("second host: %+v %v", st, err)
	}
	if r := get(t, h2.URL("keep")); r.code != 200 || r.Version != "1" {
		t.Fatalf("served by the second host: %d %q", r.code, r.body)
	}
	again, err := fn.Apply(t.Context(), testSpec("1"), &provider.ApplyOptions{Publish: true})
	if err != nil || again.Changed || again.UploadedBytes != 0 || again.Published {
		t.Fatalf("re-apply on a second host: %+v %v", again, err)
	}
}

func TestIdleReaping(t *testing.T) {
	h := newHost(t, &Options{KeepAlive: 100 * time.Millisecond})
	deploy(t, h, "reap", testSpec("1"))
	r := get(t, h.URL("reap"))
	if !processGone(r.PID, 3*time.Second) {
		t.Fatalf("idle instance %d not reaped", r.PID)
	}
	if r2 := get(t, h.URL("reap")); r2.code != 200 || r2.header.Get("X-Updraft-Init-Duration") == "" {
		t.Fatalf("after reaping: %d %v", r2.code, r2.header)
	}
}

func TestURLOpener(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	fn, err := provider.Open(ctx, "local://url-fn?dir="+dir)
	if err != nil {
		t.Fatal(err)
	}
	if fn.Target() != "local://url-fn" {
		t.Errorf("target %q", fn.Target())
	}
	if _, err := fn.Apply(ctx, testSpec("1"), &provider.ApplyOptions{Publish: true}); err != nil {
		t.Fatal(err)
	}
	var h *Host
	if !fn.As(&h) || h.Dir() != dir {
		t.Fatalf("As: %v", h)
	}
	fn2, err := provider.Open(ctx, "local://url-fn?dir="+dir)
	if err != nil {
		t.Fatal(err)
	}
	var h2 *Host
	fn2.As(&h2)
	if h2 != h {
		t.Error("two URLs on one directory should share a host")
	}
	r := get(t, h.URL("url-fn"))
	fn.Close()
	if r2 := get(t, h.URL("url-fn")); r2.code != 200 {
		t.Errorf("host stopped while a function is still open: %d", r2.code)
	}
	fn2.Close()
	if !processGone(r.PID, 2*time.Second) {
		t.Errorf("instance %d survived the last Close", r.PID)
	}
	for _, bad := range []string{"local://x?region=eu", "local://bad name", "local://x/path"} {
		if _, err := provider.Open(ctx, bad); provider.Code(err) != provider.InvalidArgument {
			t.Errorf("Open(%q): %v", bad, err)
		}
	}
}

func TestGatewayErrors(t *testing.T) {
	h := newHost(t, nil)
	s := testSpec("1")
	s.Triggers = nil
	deploy(t, h, "notrigger", s)
	for url, want := range map[string]string{
		h.URL("nosuch"):                   "does not exist",
		h.URL("notrigger"):                "no HTTP trigger",
		"http://" + h.Addr() + "/":        "no function",
		"http://" + h.Addr() + "/x:9/abc": "does not exist",
	} {
		if r := get(t, url); r.code != 404 || !strings.Contains(r.body, want) {
			t.Errorf("%s: %d %q, want 404 with %q", url, r.code, r.body, want)
		}
	}
}

func TestEventMapping(t *testing.T) {
	req, _ := http.NewRequest("POST", "http://127.0.0.1:1/f/p?a=1&a=2&b=%22", strings.NewReader(`{"k":"v"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cookie", "c1=x; c2=y")
	req.Header.Set("X-Weird", "tab\there \"quoted\" \x01")
	ev := appendEvent(nil, req, "/p", []byte(`{"k":"v"}`), "id-1", "f", time.Unix(1700000000, 0))
	var got struct {
		Version         string            `json:"version"`
		RawPath         string            `json:"rawPath"`
		RawQueryString  string            `json:"rawQueryString"`
		Cookies         []string          `json:"cookies"`
		Headers         map[string]string `json:"headers"`
		Query           map[string]string `json:"queryStringParameters"`
		Body            string            `json:"body"`
		IsBase64Encoded bool              `json:"isBase64Encoded"`
		RequestContext  struct {
			RequestID string `json:"requestId"`
			TimeEpoch int64  `json:"timeEpoch"`
			HTTP      struct {
				Method string `json:"method"`
			} `json:"http"`
		} `json:"requestContext"`
	}
	if err := json.Unmarshal(ev, &got); err != nil {
		t.Fatalf("event is not JSON: %v\n%s", err, ev)
	}
	if got.Version != "2.0" || got.RawPath != "/p" || got.RawQueryString != "a=1&a=2&b=%22" || got.Query["a"] != "1,2" || got.Query["b"] != `"` ||
		!slices.Equal(got.Cookies, []string{"c1=x", "c2=y"}) || got.Headers["x-weird"] != "tab\there \"quoted\" \x01" ||
		got.Body != `{"k":"v"}` || got.IsBase64Encoded || got.RequestContext.HTTP.Method != "POST" || got.RequestContext.RequestID != "id-1" {
		t.Fatalf("event %+v\n%s", got, ev)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	ev = appendEvent(nil, req, "/p", []byte{0, 1, 2}, "id-2", "f", time.Now())
	if err := json.Unmarshal(ev, &got); err != nil || !got.IsBase64Encoded || got.Body != "AAEC" {
		t.Fatalf("binary body: %v %+v", err, got)
	}
}

func TestRequestIDs(t *testing.T) {
	var g idGen
	g.init()
	a, b := g.next(), g.next()
	if len(a) != 36 || a == b || a[8] != '-' || a[13] != '-' || a[18] != '-' || a[23] != '-' {
		t.Fatalf("ids %q %q", a, b)
	}
}

func TestTrafficShiftUnderLoad(t *testing.T) {
	h := newHost(t, nil)
	fn, r1 := deploy(t, h, "shift", testSpec("1"))
	r2, err := fn.Apply(t.Context(), testSpec("2"), &provider.ApplyOptions{Publish: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	stop := make(chan struct{})
	shifted := make(chan int)
	go func() {
		n := 0
		defer func() { shifted <- n }()
		for _, pct := range []int{10, 50, 100, 0, 30, 100, 10} {
			select {
			case <-stop:
				return
			case <-time.After(30 * time.Millisecond):
			}
			if err := fn.SetTraffic(context.Background(), "", provider.Traffic{Stable: r1.Revision.ID, Candidate: r2.Revision.ID, CandidatePercent: pct}, nil); err != nil {
				t.Error(err)
				return
			}
			n++
		}
	}()
	var failed, served [3]atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := 0; i < 100; i++ {
				resp, err := c.Get(h.URL("shift"))
				if err != nil {
					failed[0].Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed[0].Add(1)
					continue
				}
				rev, _ := strconv.Atoi(resp.Header.Get("X-Updraft-Revision"))
				served[rev%3].Add(1)
			}
		})
	}
	wg.Wait()
	close(stop)
	n := <-shifted
	if failed[0].Load() != 0 || served[1].Load() == 0 || served[2].Load() == 0 {
		t.Fatalf("%d requests failed while traffic shifted %d times; served %d by 1, %d by 2", failed[0].Load(), n, served[1].Load(), served[2].Load())
	}
}

func TestScheduleFires(t *testing.T) {
	h := newHost(t, nil)
	s := testSpec("1")
	s.Triggers = append(s.Triggers, trigger.Schedule{Key: "tick", Rate: time.Minute})
	deploy(t, h, "sched", s)
	fr, _ := h.runtime("sched")
	fr.sched.mu.Lock()
	running := fr.sched.c != nil && len(fr.sched.ts) == 1
	fr.sched.mu.Unlock()
	if !running {
		t.Fatal("schedule not running")
	}
	fr.sched.fire(trigger.Schedule{Key: "tick"}, "live")
	recs := h.Invocations("sched", nil)
	if len(recs) != 1 || recs[0].Route != "live" || recs[0].Status != StatusOK {
		t.Fatalf("records %+v", recs)
	}
}

func TestSlotGoesToAnotherRevisionAtMax(t *testing.T) {
	h := newHost(t, &Options{QueueTimeout: 200 * time.Millisecond})
	s := testSpec("1")
	one := 1
	s.Concurrency.Max = &one
	fn, _ := deploy(t, h, "onemax", s)
	s2 := testSpec("2")
	s2.Concurrency.Max = &one
	if _, err := fn.Apply(t.Context(), s2, &provider.ApplyOptions{Publish: true}); err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(h.URL("onemax"), "/")
	a := get(t, base+":1/")
	b := get(t, base+":2/")
	if a.code != 200 || b.code != 200 || a.Version != "1" || b.Version != "2" {
		t.Fatalf("revision 1 then 2 at max 1: %d %q, %d %q", a.code, a.body, b.code, b.body)
	}
	if !processGone(a.PID, time.Second) {
		t.Errorf("idle instance of revision 1 was not evicted")
	}
	// Provisioned concurrency follows the split.
	two := 2
	s2.Concurrency.Max = &two
	s2.Concurrency.Provisioned = &two
	if _, err := fn.Apply(t.Context(), s2, &provider.ApplyOptions{Publish: true}); err != nil {
		t.Fatal(err)
	}
	if err := fn.SetTraffic(t.Context(), "", provider.Traffic{Stable: "2", Candidate: "3", CandidatePercent: 50}, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, _ := fn.Get(t.Context())
		if p := st.Routes["live"].Provisioned; p != nil && p.Status == "READY" && p.Ready == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("provisioned after a 50%% split: %+v", st.Routes["live"].Provisioned)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestInitFailures(t *testing.T) {
	h := newHost(t, &Options{InitTimeout: 300 * time.Millisecond})
	for name, script := range map[string]string{
		"init-exit":  "#!/bin/sh\necho broken config >&2\nexit 1\n",
		"init-stuck": "#!/bin/sh\nexec sleep 30\n",
	} {
		s := &provider.Spec{Code: bundle.Files(map[string][]byte{"bootstrap": []byte(script)}), Runtime: "provided",
			Triggers: []trigger.Trigger{trigger.HTTP{Key: "web", Auth: trigger.AuthNone}}}
		fn, _ := deploy(t, h, name, s)
		r := get(t, h.URL(name))
		want := map[string]string{"init-exit": "exited during init (exit status 1)", "init-stuck": "did not poll the Runtime API"}[name]
		if r.code != 502 || !strings.Contains(r.body, want) {
			t.Errorf("%s: %d %q, want 502 with %q", name, r.code, r.body, want)
		}
		_, err := fn.Invoke(t.Context(), nil)
		if provider.Code(err) != provider.Internal {
			t.Errorf("%s: Invoke: %v, want Internal", name, err)
		}
		if m, _ := fn.Metrics(t.Context(), nil); m.Errors != 2 {
			t.Errorf("%s: metrics %+v", name, m)
		}
	}
}

func TestCORS(t *testing.T) {
	h := newHost(t, nil)
	s := testSpec("1")
	s.Triggers = []trigger.Trigger{trigger.HTTP{Key: "web", Auth: trigger.AuthNone, CORSOrigins: []string{"https://app.example"}}}
	deploy(t, h, "cors", s)
	req, _ := http.NewRequest("OPTIONS", h.URL("cors"), nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	req, _ = http.NewRequest("GET", h.URL("cors"), nil)
	req.Header.Set("Origin", "https://other.example")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other origin: %d %v", resp.StatusCode, resp.Header)
	}
	if len(h.Invocations("cors", nil)) != 1 {
		t.Errorf("the preflight invoked the function")
	}
}
