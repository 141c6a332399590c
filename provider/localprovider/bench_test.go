package localprovider

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/provider"
)

// The benchmarks measure the numbers of BENCHMARKS.md, with the client,
// the gateway and the function processes on this machine:
//
//	go test -run '^$' -bench . -benchtime 2000x ./provider/localprovider/

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, DisableCompression: true}}
}

func hit(c *http.Client, url string) (int, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func reportLatencies(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	p := func(q int) float64 { return float64(ds[min(len(ds)-1, len(ds)*q/100)].Microseconds()) }
	b.ReportMetric(p(50), "p50-µs")
	b.ReportMetric(p(99), "p99-µs")
	b.ReportMetric(0, "ns/op")
}

// dropInstances kills every instance of name and waits until they are gone.
func dropInstances(h *Host, name string) {
	fr, _ := h.runtime(name)
	fr.stopAll()
	for {
		fr.mu.Lock()
		n := len(fr.insts)
		fr.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// BenchmarkColdStart is request to response when no instance exists: a
// process start, the Go runtime's and aws-lambda-go's init, the first
// Runtime API poll and the invocation.
func BenchmarkColdStart(b *testing.B) {
	h := newHost(b, nil)
	deploy(b, h, "bench-cold", testSpec("1"))
	c, url := benchClient(), h.URL("bench-cold")
	hit(c, url)
	ds := make([]time.Duration, 0, b.N)
	for b.Loop() {
		b.StopTimer()
		dropInstances(h, "bench-cold")
		b.StartTimer()
		start := time.Now()
		code, err := hit(c, url)
		ds = append(ds, time.Since(start))
		if err != nil || code != 200 {
			b.Fatalf("%d %v", code, err)
		}
	}
	reportLatencies(b, ds)
}

// BenchmarkWarm is one request at a time on a warm instance.
func BenchmarkWarm(b *testing.B) {
	h := newHost(b, nil)
	deploy(b, h, "bench-warm", testSpec("1"))
	c, url := benchClient(), h.URL("bench-warm")
	benchWarm(b, c, url)
}

// benchWarm warms url up, then times one request at a time.
func benchWarm(b *testing.B, c *http.Client, url string) {
	for range 200 {
		hit(c, url)
	}
	ds := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		code, err := hit(c, url)
		ds = append(ds, time.Since(start))
		if err != nil || code != 200 {
			b.Fatalf("%d %v", code, err)
		}
	}
	reportLatencies(b, ds)
}

// load sends n requests from conc clients and returns the elapsed time
// and the failed requests.
func load(c *http.Client, url string, conc, n int) (time.Duration, int64) {
	var failed atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if code, err := hit(c, url); err != nil || code != 200 {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), failed.Load()
}

// BenchmarkThroughput is requests per second at a given client concurrency.
func BenchmarkThroughput(b *testing.B) {
	for _, conc := range []int{1, 16, 64} {
		b.Run("c"+itoa(conc), func(b *testing.B) {
			h := newHost(b, nil)
			name := "bench-tput" + itoa(conc)
			deploy(b, h, name, testSpec("1"))
			c, url := benchClient(), h.URL(name)
			load(c, url, conc, 50*conc) // start the instances
			self0, fns0 := cpuTimes(h, name)
			b.ResetTimer()
			el, failed := load(c, url, conc, b.N)
			b.StopTimer()
			self1, fns1 := cpuTimes(h, name)
			b.ReportMetric(float64(b.N)/el.Seconds(), "req/s")
			b.ReportMetric(float64(failed), "failed")
			b.ReportMetric(float64((self1-self0).Microseconds())/float64(b.N), "host-cpu-µs/req")
			b.ReportMetric(float64((fns1-fns0).Microseconds())/float64(b.N), "fn-cpu-µs/req")
		})
	}
}

// BenchmarkTrafficShift shifts traffic 0 → 10 → 50 → 100% and back to a
// second revision every 20 ms while 16 clients send requests, and counts
// the requests that failed.
func BenchmarkTrafficShift(b *testing.B) {
	h := newHost(b, nil)
	fn, r1 := deploy(b, h, "bench-shift", testSpec("1"))
	r2, err := fn.Apply(context.Background(), testSpec("2"), &provider.ApplyOptions{Publish: true})
	if err != nil {
		b.Fatal(err)
	}
	c, url := benchClient(), h.URL("bench-shift")
	load(c, url, 16, 800)
	stop := make(chan struct{})
	var shifts atomic.Int64
	go func() {
		steps := []int{0, 10, 50, 100, 50, 10}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			t := provider.Traffic{Stable: r1.Revision.ID, Candidate: r2.Revision.ID, CandidatePercent: steps[i%len(steps)]}
			if err := fn.SetTraffic(context.Background(), "", t, nil); err != nil {
				b.Error(err)
				return
			}
			shifts.Add(1)
		}
	}()
	b.ResetTimer()
	el, failed := load(c, url, 16, b.N)
	close(stop)
	b.ReportMetric(float64(b.N)/el.Seconds(), "req/s")
	b.ReportMetric(float64(failed), "failed")
	b.ReportMetric(float64(shifts.Load()), "shifts")
}

// cpuTimes returns the CPU time used by this process (client, gateway
// and Runtime API) and by the live instances of function name.
func cpuTimes(h *Host, name string) (self, fns time.Duration) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	fr, _ := h.runtime(name)
	fr.mu.Lock()
	defer fr.mu.Unlock()
	for in := range fr.insts {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(in.pid) + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
		ut, _ := strconv.Atoi(f[11])
		st, _ := strconv.Atoi(f[12])
		fns += time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ = 100
	}
	return self, fns
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// BenchmarkHTTPProtocol is BenchmarkWarm and BenchmarkThroughput/c16 for
// a function serving plain HTTP on $PORT (FN_MODE=http), proxied by the
// gateway.
func BenchmarkHTTPProtocol(b *testing.B) {
	h := newHost(b, nil)
	s := testSpec("1")
	s.Env["FN_MODE"] = "http"
	deploy(b, h, "bench-http", s)
	c, url := benchClient(), h.URL("bench-http")
	b.Run("warm", func(b *testing.B) {
		benchWarm(b, c, url)
	})
	b.Run("c16", func(b *testing.B) {
		load(c, url, 16, 800)
		b.ResetTimer()
		el, failed := load(c, url, 16, b.N)
		b.ReportMetric(float64(b.N)/el.Seconds(), "req/s")
		b.ReportMetric(float64(failed), "failed")
	})
}
