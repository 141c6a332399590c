package localprovider

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeInstance serves a Runtime API with no process behind it.
func fakeInstance(t *testing.T) (*instance, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{rp: &revPool{}, ln: ln, started: time.Now(), work: make(chan *invocation, 1),
		readyc: make(chan struct{}), initErrc: make(chan string, 1), dead: make(chan struct{})}
	done := make(chan struct{})
	go func() { in.serveRuntimeAPI(); close(done) }()
	t.Cleanup(func() { close(in.dead); in.closeRuntimeAPI(); <-done })
	return in, "http://" + ln.Addr().String() + "/2018-06-01/runtime/"
}

func TestRuntimeAPIServer(t *testing.T) {
	in, base := fakeInstance(t)
	c := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 5 * time.Second}}

	// init/error before the first poll is an init failure.
	resp, err := c.Post(base+"init/error", "application/json", strings.NewReader(`{"errorMessage":"no config"}`))
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("init/error: %v %v", resp, err)
	}
	resp.Body.Close()
	if msg := <-in.initErrc; !strings.Contains(msg, "no config") {
		t.Fatalf("init error %q", msg)
	}

	for i, mode := range []string{"length", "chunked", "expect", "error"} {
		inv := &invocation{id: "req-" + mode, payload: []byte(`{"n":` + string(rune('0'+i)) + `}`), deadline: time.Now().Add(time.Second),
			arn: "arn:aws:lambda:local:000000000000:function:f:live", trace: "Root=1-x", done: make(chan invResult, 1)}
		in.work <- inv
		resp, err := c.Get(base + "invocation/next")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := resp.Header
		if string(body) != string(inv.payload) || h.Get("Lambda-Runtime-Aws-Request-Id") != inv.id || h.Get("Lambda-Runtime-Invoked-Function-Arn") != inv.arn ||
			h.Get("Lambda-Runtime-Trace-Id") != inv.trace || h.Get("Lambda-Runtime-Deadline-Ms") != strconv.FormatInt(inv.deadline.UnixMilli(), 10) {
			t.Fatalf("%s: next = %q %v", mode, body, h)
		}
		var r io.Reader = strings.NewReader(`"ok-` + mode + `"`)
		action := "response"
		req, _ := http.NewRequest("POST", base+"invocation/"+inv.id+"/"+action, r)
		switch mode {
		case "chunked":
			req.Body = io.NopCloser(r) // unknown length: chunked
			req.ContentLength = -1
		case "expect":
			req.Header.Set("Expect", "100-continue")
		case "error":
			req, _ = http.NewRequest("POST", base+"invocation/"+inv.id+"/error", strings.NewReader(`{"errorMessage":"bad"}`))
			req.Header.Set("Lambda-Runtime-Function-Error-Type", "Custom.Bad")
		}
		resp, err = c.Do(req)
		if err != nil || resp.StatusCode != 202 {
			t.Fatalf("%s: post %v %v", mode, resp, err)
		}
		resp.Body.Close()
		res := <-inv.done
		if mode == "error" {
			if res.errType != "Custom.Bad" || !strings.Contains(string(res.payload), "bad") {
				t.Fatalf("error result %+v", res)
			}
		} else if string(res.payload) != `"ok-`+mode+`"` || res.errType != "" {
			t.Fatalf("%s: result %q %q", mode, res.payload, res.errType)
		}
	}
	// A response for an unknown request id is refused.
	resp, err = c.Post(base+"invocation/nope/response", "application/json", strings.NewReader(`{}`))
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("unknown id: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = c.Get(base + "../../other")
	if err == nil {
		if resp.StatusCode != 404 {
			t.Errorf("unknown path: %d", resp.StatusCode)
		}
		resp.Body.Close()
	}
}
