package function

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTraceParsing(t *testing.T) {
	for _, c := range []struct {
		in   string
		want TraceContext
		ok   bool
	}{
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", TraceContext{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7", Sampled: true}, true},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", TraceContext{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7"}, true},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future", TraceContext{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7", Sampled: true}, true},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", TraceContext{}, false},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", TraceContext{}, false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", TraceContext{}, false},
		{"garbage", TraceContext{}, false},
	} {
		got, ok := ParseTraceparent(c.in)
		if ok != c.ok || got != c.want {
			t.Errorf("ParseTraceparent(%q) = %+v, %v", c.in, got, ok)
		}
		if ok && c.in[:2] == "00" && got.Traceparent() != c.in {
			t.Errorf("round trip %q -> %q", c.in, got.Traceparent())
		}
	}
	x, ok := ParseXRay("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a:1")
	if !ok || x.Traceparent() != "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01" {
		t.Errorf("X-Ray: %+v", x)
	}
	if _, ok := ParseXRay("Parent=53995c3f42cd8ad8"); ok {
		t.Error("X-Ray without a root parsed")
	}
	g, ok := ParseCloudTrace("105445aa7843bc8bf206b12000100000/18446744073709551615;o=1")
	if !ok || g.TraceID != "105445aa7843bc8bf206b12000100000" || g.SpanID != "ffffffffffffffff" || !g.Sampled {
		t.Errorf("X-Cloud-Trace-Context: %+v", g)
	}
}

func TestTransportPropagatesTrace(t *testing.T) {
	got := make(chan http.Header, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Clone() }))
	defer srv.Close()
	c := &http.Client{Transport: &Transport{}}
	in := Info{Trace: TraceContext{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7", Sampled: true, State: "congo=t61rcWkgMzE"}}
	req, _ := http.NewRequestWithContext(NewContext(context.Background(), in), "GET", srv.URL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := <-got
	tp, ok := ParseTraceparent(h.Get("Traceparent"))
	if !ok || tp.TraceID != in.Trace.TraceID || tp.SpanID == in.Trace.SpanID || !tp.Sampled || h.Get("Tracestate") != "congo=t61rcWkgMzE" {
		t.Errorf("outgoing headers %v", h)
	}
	if req.Header.Get("Traceparent") != "" {
		t.Error("the caller's request was modified")
	}
	// Without an invocation nothing is added.
	resp, err = c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if h := <-got; h.Get("Traceparent") != "" {
		t.Errorf("traceparent without a trace: %v", h)
	}
}

func TestDetectMode(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want Mode
	}{
		{map[string]string{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", "PORT": "8080", "FUNCTIONS_CUSTOMHANDLER_PORT": "8080"}, ModeLambda}, // local:// first start
		{map[string]string{"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", "PORT": "8080", "UPDRAFT_RUNTIME": "http"}, ModeHTTP},
		{map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "7071"}, ModeAzure},
		{map[string]string{"PORT": "8080", "K_SERVICE": "fn"}, ModeHTTP},
		{map[string]string{}, ""},
		{map[string]string{"UPDRAFT_RUNTIME": "knative"}, ""},
	} {
		got, err := DetectMode(func(k string) string { return c.env[k] })
		if got != c.want || (c.want == "") != (err != nil) {
			t.Errorf("%v: %q, %v", c.env, got, err)
		}
	}
}

func TestRunServesHTTPUntilCanceled(t *testing.T) {
	var m Mux
	m.HTTP("web", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := mustInfo(r.Context())
		io.WriteString(w, string(in.Platform))
	}))
	env := map[string]string{"PORT": "0", "K_SERVICE": "fn"}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, &RunOptions{Mux: &m, Getenv: func(k string) string { return env[k] }, KeepLogger: true, Listening: func(a net.Addr) { addrc <- a }})
	}()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatal(err)
	}
	port := addr.(*net.TCPAddr).Port
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "gcp" {
		t.Errorf("answered %q", b)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if err := Run(context.Background(), &RunOptions{Mux: &Mux{}, Getenv: func(k string) string { return env[k] }, KeepLogger: true}); err == nil || !strings.Contains(err.Error(), "no handler") {
		t.Errorf("empty mux: %v", err)
	}
}
