// Command events is the event consumer of localprovider's trigger
// tests, built on the portable function package: it speaks the Runtime
// API, or HTTP on $PORT with UPDRAFT_RUNTIME=http. Every event it
// handles is appended as a JSON line to $EVENTS_LOG.
//
// Queue messages: a body starting with "fail" is reported failed, "error"
// (or any body, with FAIL_QUEUE set) fails the whole batch, "sleep:MS"
// sleeps first. Stream changes: a new
// image with "fail": true fails the batch. Storage: a key containing
// "fail" fails.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/updraft-dev/updraft/function"
)

type line struct {
	Kind  string           `json:"kind"`
	Key   string           `json:"key,omitempty"`
	ID    string           `json:"id"`
	Body  string           `json:"body,omitempty"`
	Count int              `json:"count,omitempty"`
	Batch int              `json:"batch"`
	Op    string           `json:"op,omitempty"`
	Item  map[string]any   `json:"item,omitempty"`
	New   map[string]any   `json:"new,omitempty"`
	Old   map[string]any   `json:"old,omitempty"`
	Obj   *function.Object `json:"obj,omitempty"`
	PID   int              `json:"pid"`
}

func logLine(l line) {
	l.PID = os.Getpid()
	b, _ := json.Marshal(l)
	f, err := os.OpenFile(os.Getenv("EVENTS_LOG"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		panic(err)
	}
	f.Write(append(b, '\n'))
	f.Close()
}

func main() {
	function.Queue("jobs", func(ctx context.Context, batch []function.Message) ([]string, error) {
		var failed []string
		for _, m := range batch {
			body := string(m.Body)
			if rest, ok := strings.CutPrefix(body, "sleep:"); ok {
				ms, _, _ := strings.Cut(rest, "-") // "sleep:100-07": 100 ms
				n, _ := strconv.Atoi(ms)
				time.Sleep(time.Duration(n) * time.Millisecond)
			}
			logLine(line{Kind: "queue", ID: m.ID, Body: body, Count: m.DeliveryCount, Batch: len(batch)})
			if body == "error" || os.Getenv("FAIL_QUEUE") != "" {
				return nil, errors.New("the batch failed")
			}
			if strings.HasPrefix(body, "fail") {
				failed = append(failed, m.ID)
			}
		}
		return failed, nil
	})
	function.Stream("changes", func(ctx context.Context, batch []function.Change) ([]string, error) {
		for _, c := range batch {
			logLine(line{Kind: "stream", ID: c.ID, Op: string(c.Op), Item: c.Key, New: c.New, Old: c.Old, Batch: len(batch)})
		}
		for _, c := range batch {
			if f, _ := c.New["fail"].(bool); f {
				return nil, errors.New("a change failed")
			}
		}
		return nil, nil
	})
	function.Storage("uploads", func(ctx context.Context, o function.Object) error {
		logLine(line{Kind: "storage", ID: o.Key, Obj: &o, Batch: 1})
		if strings.Contains(o.Key, "fail") {
			return errors.New("the object failed")
		}
		return nil
	})
	function.Main()
}
