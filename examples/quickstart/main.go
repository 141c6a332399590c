// Command quickstart deploys a Go function to local:// (this machine, no
// cloud account), calls it over HTTP with a cold and a warm start, rolls a
// second version out as a canary (10% then 100%) behind a smoke gate and an
// error-rate gate, and prints which version served the traffic at each
// step and what it would have cost.
//
// From a clone of the repository:
//
//	go run ./examples/quickstart
//
// Flags: -dir keeps the state in a directory of your choice (a second run
// then finds the first run's deployment and rolls out from it); -function
// points at another aws-lambda-go main package.
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
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/localprovider"
	"github.com/updraft-dev/updraft/trigger"
)

func main() {
	ctx := context.Background()
	if err := run(ctx, os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run is the whole quickstart, writing its report to w.
func run(ctx context.Context, w io.Writer, args []string) error {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(w)
	dir := fs.String("dir", "", "state directory (default: a new temporary directory, removed at the end)")
	fnDir := fs.String("function", "", "the function's Go main package (default: examples/quickstart/function)")
	samples := fs.Int("requests", 200, "requests sent at each rollout step")
	if err := fs.Parse(args); err != nil {
		return err
	}
	src, err := functionDir(*fnDir)
	if err != nil {
		return err
	}
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "updraft-quickstart-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}

	fmt.Fprintf(w, "updraft quickstart: a Go function on local://, called cold and warm, then rolled out as a canary\n")
	fmt.Fprintf(w, "state directory: %s\n\n", *dir)

	// The URL names the function and where its state lives. Closing the
	// function stops its instances.
	fn, err := provider.Open(ctx, "local://quickstart?dir="+*dir)
	if err != nil {
		return err
	}
	defer fn.Close()
	var host *localprovider.Host
	if !fn.As(&host) {
		return errors.New("local:// function does not expose its host")
	}
	fns := []*provider.Function{fn}

	spec := &provider.Spec{
		Code:     bundle.GoSource(src), // compiled for this machine by the bundler
		Runtime:  "go",
		MemoryMB: 128,
		Timeout:  5 * time.Second,
		Env:      map[string]string{"GREETING": "hello", "VERSION": "v1"},
		Triggers: []trigger.Trigger{trigger.HTTP{Key: "web", Auth: trigger.AuthNone}},
	}

	// A state directory kept from an earlier run (-dir) still holds that
	// run's deployment: the metadata persists, the instances do not.
	if st, err := fn.Get(ctx); err == nil {
		if r := st.Routes[provider.DefaultRoute]; r != nil {
			fmt.Fprintf(w, "found the deployment of an earlier run: revision %s serves the %s route\n", r.Traffic.Stable, r.Name)
		}
	} else if provider.Code(err) != provider.NotFound {
		return err
	}

	// 1. Deploy v1. On a new function a rollout simply creates it.
	start := time.Now()
	res, err := deploy.Rollout(ctx, fns, spec, nil)
	if err != nil {
		return fmt.Errorf("deploying v1: %w", err)
	}
	tr := res.Targets[0]
	stable := tr.Candidate
	if tr.Outcome == deploy.OutcomeUnchanged {
		stable = tr.Stable
	}
	fmt.Fprintf(w, "deployed v1: %s, revision %s serves 100%% (built, unpacked and ready in %s)\n", tr.Outcome, stable, since(start))
	url := host.URL(fn.Name())
	fmt.Fprintf(w, "endpoint: %s\n\n", url)

	// 2. A cold call starts an instance; the next one reuses it.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	for _, kind := range []string{"cold", "warm"} {
		c, err := call(client, url+"?name=gopher")
		if err != nil {
			return err
		}
		extra := ""
		if c.init != "" {
			extra = ", of which instance start " + c.init
		} else if kind == "cold" {
			extra = " (an instance was still warm from an earlier run)"
		}
		fmt.Fprintf(w, "%s call: %d %s in %s%s\n", kind, c.status, c.body, c.elapsed.Round(10*time.Microsecond), extra)
	}

	// 3. Roll out v2 as a canary: 10% of the traffic, then 100%, with gates
	// after each step. A failing gate would roll back to v1.
	v2 := spec.Clone()
	v2.Env["VERSION"] = "v2"
	v2.Env["GREETING"] = "hi"
	fmt.Fprintf(w, "\nrolling out v2: canary 10%% -> 100%%, gates: smoke invoke, %d requests, error rate <= 1%%\n", *samples)
	sample := deploy.Gate{Name: "traffic", Check: func(ctx context.Context, in *deploy.GateInput) error {
		shares, failed, err := sampleTraffic(ctx, client, url, *samples)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  step %d/%d, candidate at %3d%%: %s", in.Step, in.Steps, in.Percent, shares)
		if failed > 0 {
			fmt.Fprintf(w, ", %d failed", failed)
		}
		fmt.Fprintln(w)
		return nil
	}}
	start = time.Now()
	res, err = deploy.Rollout(ctx, fns, v2, &deploy.RolloutOptions{
		Strategy: deploy.Canary(10, 100),
		Gates: []deploy.Gate{
			// A smoke request shaped as a function URL event: a function
			// error or a 5xx answer fails it.
			deploy.InvokeGate(deploy.HTTPEvent("GET", "/?name=smoke-test", nil)),
			sample,
			deploy.ErrorRateGate(0.01, 10),
		},
		OnEvent: func(e deploy.Event) {
			if e.Kind == deploy.EventGate && e.Gate != "traffic" {
				fmt.Fprintf(w, "  step %d/%d: gate %s %s\n", e.Step, e.Steps, e.Gate, e.GateResult)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("rolling out v2: %w", err)
	}
	tr = res.Targets[0]
	fmt.Fprintf(w, "rollout %s in %s: revision %s serves %d%%\n\n", tr.Outcome, since(start), tr.Candidate, tr.Percent)

	// 4. What it would have cost: Lambda bills the duration (plus init on
	// custom runtimes) rounded up to the millisecond, times memory in GB.
	sum := host.Summarize(fn.Name(), nil)
	fmt.Fprintf(w, "billing (as Lambda bills, 128 MB):\n")
	for _, id := range sum.RevisionIDs() {
		s := sum.Revisions[id]
		fmt.Fprintf(w, "  revision %s: %4d invocations, %d cold starts, %d errors, duration p50 %s, billed %s = %.6f GB-s\n",
			id, s.Invocations, s.ColdStarts, s.Errors, s.DurationP50.Round(time.Microsecond), s.BilledDuration, s.GBSeconds)
	}
	fmt.Fprintf(w, "  total:      %4d invocations, billed %s = %.6f GB-s\n", sum.Total.Invocations, sum.Total.BilledDuration, sum.Total.GBSeconds)
	return nil
}

// functionDir finds the function's source: the flag, or the quickstart's
// own function from the repository root or from this directory.
func functionDir(flagValue string) (string, error) {
	cands := []string{flagValue}
	if flagValue == "" {
		cands = []string{filepath.Join("examples", "quickstart", "function"), "function"}
	}
	for _, c := range cands {
		if fi, err := os.Stat(filepath.Join(c, "main.go")); err == nil && !fi.IsDir() {
			return c, nil
		}
	}
	return "", fmt.Errorf("cannot find the function's source (%s): run from the repository root or pass -function DIR", strings.Join(cands, " or "))
}

type callResult struct {
	status  int
	body    string
	init    string
	rev     string
	elapsed time.Duration
}

func call(c *http.Client, url string) (callResult, error) {
	start := time.Now()
	resp, err := c.Get(url)
	if err != nil {
		return callResult{}, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	r := callResult{status: resp.StatusCode, body: strings.TrimSpace(string(b)), elapsed: time.Since(start),
		init: resp.Header.Get("X-Updraft-Init-Duration"), rev: resp.Header.Get("X-Updraft-Revision")}
	if err != nil {
		return r, err
	}
	if d, err := time.ParseDuration(r.init); err == nil {
		r.init = d.Round(10 * time.Microsecond).String()
	}
	return r, nil
}

// sampleTraffic sends n requests through the gateway, 8 at a time, and
// describes the share each version served.
func sampleTraffic(ctx context.Context, c *http.Client, url string, n int) (string, int, error) {
	var mu sync.Mutex
	byVersion := map[string]int{}
	failed := 0
	var wg sync.WaitGroup
	next := make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)
	for range 8 {
		wg.Go(func() {
			for range next {
				if ctx.Err() != nil {
					return
				}
				r, err := call(c, url)
				var g struct{ Version, Revision string }
				if err == nil && r.status == 200 && json.Unmarshal([]byte(r.body), &g) == nil {
					mu.Lock()
					byVersion[g.Version+" (revision "+g.Revision+")"]++
					mu.Unlock()
					continue
				}
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return "", failed, err
	}
	keys := make([]string, 0, len(byVersion))
	for k := range byVersion {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %5.1f%%", k, float64(byVersion[k])*100/float64(n))
	}
	return strings.Join(parts, ", "), failed, nil
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }
