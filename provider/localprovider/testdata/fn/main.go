// Command fn is the test function of localprovider's tests and
// benchmarks. It speaks the AWS Lambda Runtime API through
// github.com/aws/aws-lambda-go, or plain HTTP on $PORT when FN_MODE=http.
//
// Behaviour is chosen per request, by query parameters on HTTP requests or
// by fields of a JSON payload on direct invokes:
//
//	crash=1    exit with status 3 mid-request
//	alloc=MB   allocate and touch MB of memory
//	sleep=MS   sleep before answering
//	fail=MSG   return a function error
//	panic=MSG  panic in the handler (aws-lambda-go reports it, then exits)
//	status=N   answer with statusCode N
//	spawn=ARGS start "sleep ARGS" in a session of its own (setsid)
//	log=KB     write KB kilobytes to stderr
//	wait=PATH  wait until the file PATH exists (at most 30 s): a gate tests open
//
// Answers carry the process id as the host sees it (through /proc/self,
// as the instance may be the init process of a PID namespace).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

type command struct {
	Sleep  int    `json:"sleep"`
	Crash  bool   `json:"crash"`
	Alloc  int    `json:"alloc"`
	Fail   string `json:"fail"`
	Panic  string `json:"panic"`
	Spawn  string `json:"spawn"`
	LogKB  int    `json:"log"`
	Status int    `json:"status"`
	Wait   string `json:"wait"`
}

var sink [][]byte

func (c command) run() error {
	if c.Crash {
		os.Exit(3)
	}
	for i := 0; i < c.Alloc; i++ {
		b := make([]byte, 1<<20)
		for j := range b {
			b[j] = byte(j)
		}
		sink = append(sink, b)
	}
	if c.Spawn != "" {
		cmd := exec.Command("/bin/sh", "-c", "exec sleep "+c.Spawn)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			return err
		}
	}
	if c.LogKB > 0 {
		line := strings.Repeat("x", 1023) + "\n"
		for range c.LogKB {
			os.Stderr.WriteString(line)
		}
	}
	if c.Sleep > 0 {
		time.Sleep(time.Duration(c.Sleep) * time.Millisecond)
	}
	for deadline := time.Now().Add(30 * time.Second); c.Wait != "" && time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if _, err := os.Stat(c.Wait); err == nil {
			break
		}
	}
	if c.Panic != "" {
		panic(c.Panic)
	}
	if c.Fail != "" {
		return errors.New(c.Fail)
	}
	return nil
}

var pid = hostPID()

func hostPID() int {
	if s, err := os.Readlink("/proc/self"); err == nil {
		if n, err := strconv.Atoi(s); err == nil {
			return n
		}
	}
	return os.Getpid()
}

func answer() string {
	return fmt.Sprintf(`{"version":%q,"pid":%d}`, os.Getenv("VERSION"), pid)
}

func fromQuery(q map[string]string) command {
	sleep, _ := strconv.Atoi(q["sleep"])
	alloc, _ := strconv.Atoi(q["alloc"])
	logKB, _ := strconv.Atoi(q["log"])
	status, _ := strconv.Atoi(q["status"])
	return command{Sleep: sleep, Crash: q["crash"] == "1", Alloc: alloc, Fail: q["fail"], Panic: q["panic"], Spawn: q["spawn"], LogKB: logKB, Status: status, Wait: q["wait"]}
}

// request is either a function URL event (rawPath set) or a command.
type request struct {
	events.APIGatewayV2HTTPRequest
	command
}

func handle(ctx context.Context, req request) (any, error) {
	if req.RawPath != "" {
		c := fromQuery(req.QueryStringParameters)
		if err := c.run(); err != nil {
			return nil, err
		}
		if c.Status != 0 {
			return events.APIGatewayV2HTTPResponse{StatusCode: c.Status, Body: answer()}, nil
		}
		return events.APIGatewayV2HTTPResponse{StatusCode: 200,
			Headers: map[string]string{"Content-Type": "application/json", "X-Path": req.RawPath, "X-Method": req.RequestContext.HTTP.Method},
			Body:    answer()}, nil
	}
	if err := req.command.run(); err != nil {
		return nil, err
	}
	return json.RawMessage(answer()), nil
}

// rawRuntime speaks the Runtime API by hand, to do what aws-lambda-go
// never does: with exit=1 in the query it exits right after posting its
// response, before it asks for the next invocation.
func rawRuntime() {
	base := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/invocation/"
	for {
		resp, err := http.Get(base + "next")
		if err != nil {
			os.Exit(1)
		}
		var ev events.APIGatewayV2HTTPRequest
		json.NewDecoder(resp.Body).Decode(&ev)
		resp.Body.Close()
		id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
		out, _ := json.Marshal(events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: answer()})
		r, err := http.Post(base+id+"/response", "application/json", strings.NewReader(string(out)))
		if err != nil {
			os.Exit(1)
		}
		r.Body.Close()
		if ev.QueryStringParameters["exit"] == "1" {
			os.Exit(0)
		}
	}
}

func main() {
	if os.Getenv("FN_MODE") == "raw" {
		rawRuntime()
		return
	}
	if os.Getenv("FN_MODE") == "http" {
		q := func(r *http.Request) map[string]string {
			m := map[string]string{}
			for k, v := range r.URL.Query() {
				m[k] = v[0]
			}
			return m
		}
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			c := fromQuery(q(r))
			if err := c.run(); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Path", r.URL.Path)
			if c.Status != 0 {
				w.WriteHeader(c.Status)
			}
			fmt.Fprint(w, answer())
		})
		if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	lambda.Start(handle)
}
