package deploy

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/memprovider"
)

var (
	fastRetry = RetryPolicy{Attempts: 3, Backoff: time.Millisecond}
	noCache   = &provider.BundleOptions{NoCache: true}
)

// testSpec is a spec whose code and env depend on version.
func testSpec(version string) *provider.Spec {
	return &provider.Spec{
		Code:       bundle.Files(map[string][]byte{"index.js": []byte("exports.handler = async () => 'v" + version + "'\n")}),
		Runtime:    "nodejs22",
		Entrypoint: "index.handler",
		Env:        map[string]string{"VERSION": version},
	}
}

func newCloud(t testing.TB, opts *memprovider.Options) *memprovider.Cloud {
	t.Helper()
	return memprovider.NewCloud(opts)
}

func openFns(t testing.TB, c *memprovider.Cloud, names ...string) []*provider.Function {
	t.Helper()
	fns := make([]*provider.Function, len(names))
	for i, n := range names {
		fn, err := c.OpenFunction(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fn.Close() })
		fns[i] = fn
	}
	return fns
}

func applyOpts() *ApplyOptions {
	return &ApplyOptions{Bundle: noCache, Retry: fastRetry}
}

// deployed applies spec versions in order, so the function has one
// revision per version and the last serves the route.
func deployed(t testing.TB, fns []*provider.Function, versions ...string) {
	t.Helper()
	for _, v := range versions {
		if _, err := Apply(context.Background(), fns, testSpec(v), applyOpts()); err != nil {
			t.Fatalf("deploying v%s: %v", v, err)
		}
	}
}

func route(t testing.TB, fn *provider.Function) *provider.Route {
	t.Helper()
	st, err := fn.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r := st.Routes[provider.DefaultRoute]
	if r == nil {
		t.Fatalf("%s has no route", fn.Target())
	}
	return r
}

// wantStable fails unless the route serves rev alone with no marker.
func wantStable(t testing.TB, fn *provider.Function, rev string) {
	t.Helper()
	r := route(t, fn)
	if r.Traffic != (provider.Traffic{Stable: rev}) {
		t.Errorf("%s traffic = %+v, want all on revision %s", fn.Target(), r.Traffic, rev)
	}
	if r.Marker != nil {
		t.Errorf("%s still has marker %+v", fn.Target(), *r.Marker)
	}
}

// recorder collects events.
type recorder struct {
	mu     sync.Mutex
	events []Event
	hook   func(Event)
}

func (r *recorder) on(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	hook := r.hook
	r.mu.Unlock()
	if hook != nil {
		hook(e)
	}
}

func (r *recorder) kinds(target string, k EventKind) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.events {
		if e.Kind == k && (target == "" || e.Target == target) {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := ""
	for _, e := range r.events {
		s += fmt.Sprintln(e)
	}
	return s
}

func rolloutOpts(s Strategy, gates ...Gate) *RolloutOptions {
	return &RolloutOptions{Strategy: s, Gates: gates, Bundle: noCache, Retry: fastRetry, Holder: "tester@host"}
}

// shortLease is the lease of rollouts that a test kills, so that the
// next run finds it expired soon.
const shortLease = 50 * time.Millisecond

// waitLeases waits until no route of fns holds a marker with a live
// lease, polling with a deadline.
func waitLeases(t testing.TB, fns ...*provider.Function) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, fn := range fns {
		for {
			st, err := fn.Get(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			live := false
			for _, r := range st.Routes {
				live = live || leaseLive(r.Marker, time.Now())
			}
			if !live {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: lease still live after 30s", fn.Target())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// failAt is a gate that fails at step.
func failAt(step int) Gate {
	return Gate{Name: fmt.Sprintf("fail-at-%d", step), Check: func(ctx context.Context, in *GateInput) error {
		if in.Step == step {
			return fmt.Errorf("synthetic check failed at %d%%", in.Percent)
		}
		return nil
	}}
}
