package localprovider

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/trigger"
)

// A consumer host is the host process the host-kill tests start and
// kill: this test binary run again with LOCALPROVIDER_CONSUMER_HOST set
// (dispatched from init, before TestMain builds anything), applying the
// event consumer (testdata/events) with one trigger and delivering until
// it dies. Its consumer logs to DIR/events.log.
func init() {
	if cfg := os.Getenv("LOCALPROVIDER_CONSUMER_HOST"); cfg != "" {
		runConsumerHost(cfg)
		os.Exit(0)
	}
}

type consumerHostConfig struct {
	Dir, Function, EventsDir string
	Kind                     trigger.Kind
	Trigger                  json.RawMessage
}

// startConsumerHost starts a consumer host on dir, deploying function fn
// with trigger tr; it is killed at the end of the test at the latest.
func startConsumerHost(t *testing.T, dir, fn string, tr trigger.Trigger) *exec.Cmd {
	t.Helper()
	raw, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(consumerHostConfig{Dir: dir, Function: fn, EventsDir: evDir, Kind: tr.Kind(), Trigger: raw})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LOCALPROVIDER_CONSUMER_HOST="+string(cfg))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// killConsumerHost kills it with SIGKILL: no Close, no cleanup.
func killConsumerHost(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
}

func runConsumerHost(raw string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "consumer host:", err)
		os.Exit(1)
	}
	var c consumerHostConfig
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		fail(err)
	}
	ts, err := decodeTriggers([]storedTrigger{{Kind: c.Kind, Spec: c.Trigger}})
	if err != nil {
		fail(err)
	}
	evDir = c.EventsDir
	h, err := NewHost(context.Background(), &Options{Dir: c.Dir})
	if err != nil {
		fail(err)
	}
	fn, err := h.OpenFunction(context.Background(), c.Function)
	if err != nil {
		fail(err)
	}
	for _, t := range ts {
		spec := consumerSpec(filepath.Join(c.Dir, "events.log"), false, t)
		if _, err := fn.Apply(context.Background(), spec, &provider.ApplyOptions{Publish: true}); err != nil {
			fail(err)
		}
	}
	select {}
}
