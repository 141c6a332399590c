// Command queue runs an HTTP function that enqueues jobs and a queue
// consumer that does them, both on local://, with no cloud account: the
// api function sends each POST /jobs body to the "jobs" queue with the
// AWS SDK's SQS client, and the worker function's queue trigger receives
// them in batches. A job that always fails is delivered again, alone,
// and then moved to the dead-letter queue.
//
// From a clone of the repository:
//
//	go run ./examples/queue
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/localprovider"
	"github.com/updraft-dev/updraft/trigger"
)

func main() {
	if err := run(context.Background(), os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "queue:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer, args []string) error {
	fs := flag.NewFlagSet("queue", flag.ContinueOnError)
	fs.SetOutput(w)
	dir := fs.String("dir", "", "state directory (default: a temporary directory, removed at the end)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	src, err := functionDir()
	if err != nil {
		return err
	}
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "updraft-queue-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}
	h, err := localprovider.NewHost(ctx, &localprovider.Options{Dir: *dir})
	if err != nil {
		return err
	}
	defer h.Close()

	// The queue is infrastructure, made before the functions as it would
	// be on AWS: a failed job is retried after 2 s, and moved to
	// jobs-dlq after its third receive.
	if err := h.CreateQueue(ctx, "jobs", &localprovider.QueueOptions{VisibilityTimeout: 2 * time.Second, MaxReceiveCount: 3}); err != nil {
		return err
	}
	code := bundle.GoFunction(src)
	deployments := []struct {
		name string
		t    trigger.Trigger
	}{
		{"worker", trigger.Queue{Key: "jobs", Source: "arn:aws:sqs:us-east-1:000000000000:jobs", BatchSize: 5, MaxBatchingWindow: 200 * time.Millisecond}},
		{"api", trigger.HTTP{Key: "web", Auth: trigger.AuthNone}},
	}
	for _, d := range deployments {
		fn, err := h.OpenFunction(ctx, d.name)
		if err != nil {
			return err
		}
		defer fn.Close()
		spec := &provider.Spec{Code: code, Runtime: "go", MemoryMB: 128, Timeout: 2 * time.Second, Triggers: []trigger.Trigger{d.t}}
		if _, err := deploy.Rollout(ctx, []*provider.Function{fn}, spec, nil); err != nil {
			return fmt.Errorf("deploying %s: %w", d.name, err)
		}
		fmt.Fprintf(w, "deployed %-6s (%s)\n", d.name, trigger.Describe(d.t))
	}

	jobs := []string{"resize photo 1", "resize photo 2", "send welcome mail", "poison: corrupt upload", "index document", "bill customer"}
	for _, j := range jobs {
		resp, err := http.Post(h.URL("api")+"jobs", "text/plain", strings.NewReader(j))
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("POST /jobs %q answered %d: %s", j, resp.StatusCode, body)
		}
		var out struct{ MessageID string }
		json.Unmarshal(body, &out)
		fmt.Fprintf(w, "POST /jobs %-24q -> 202, message %s\n", j, out.MessageID)
	}

	start := time.Now()
	st, err := waitFor(ctx, h, func(st *localprovider.QueueStats) bool {
		return st.Deleted == int64(len(jobs)-1) && st.DeadLettered == 1
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nafter %s the worker had done %d jobs; 1 was dead-lettered after %d receives\n",
		time.Since(start).Round(100*time.Millisecond), st.Deleted, st.MaxReceiveCount)
	fmt.Fprintf(w, "queue jobs: sent %d, received %d (%d redeliveries), deleted %d, dead-lettered %d, left %d\n",
		st.Sent, st.Received, st.Redelivered, st.Deleted, st.DeadLettered, st.Visible+st.InFlight)
	dead, err := h.PeekMessages(ctx, st.DeadLetterQueue, 10)
	if err != nil {
		return err
	}
	for _, m := range dead {
		fmt.Fprintf(w, "queue %s: %q (from %s)\n", st.DeadLetterQueue, m.Body, m.From)
	}
	sum := h.Summarize("worker", nil)
	fmt.Fprintf(w, "worker: %d invocations, %d cold starts, %d errors\n", sum.Total.Invocations, sum.Total.ColdStarts, sum.Total.Errors)
	return nil
}

// waitFor polls the jobs queue's counts until done holds (a minute at most).
func waitFor(ctx context.Context, h *localprovider.Host, done func(*localprovider.QueueStats) bool) (*localprovider.QueueStats, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := h.QueueStats(ctx, "jobs")
		if err != nil {
			return nil, err
		}
		if done(st) {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("the jobs were not all done within a minute: %+v (see %s)", *st, filepath.Join(h.Dir(), "functions", "worker", "function.log"))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// functionDir finds ./fn from the repository root or from this directory.
func functionDir() (string, error) {
	for _, c := range []string{filepath.Join("examples", "queue", "fn"), "fn"} {
		if fi, err := os.Stat(filepath.Join(c, "fn.go")); err == nil && !fi.IsDir() {
			return c, nil
		}
	}
	return "", errors.New("cannot find the function package: run from the repository root or from examples/queue")
}
