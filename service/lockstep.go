package service

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/updraft-dev/updraft/deploy"
)

// Lockstep across functions. deploy.Rollout moves the targets of one Spec
// in lockstep; a service rolls several Specs out at once (one per function,
// or per target override). To make all of them one lockstep rollout, each
// engine run gets a last gate, the barrier: at every step a function's
// targets wait there until every other function has reached the same
// point of its own rollout (by the fraction of its steps done, so a
// blue/green target waits for a canary's steps), and the barrier fails
// for everyone as soon as any function fails a gate, a shift or a write.
// Every engine run then rolls its targets back, so a failure anywhere
// rolls back all, and no function promotes its candidate before every
// other one has passed its last step's gates.

// coordinator is the shared state of one lockstep rollout.
type coordinator struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	groups  []*lockGroup
	failed  error // the first failure, for every barrier
}

type lockGroup struct {
	name    string
	started map[string]bool    // targets whose rollout started (marker written)
	reached map[string]float64 // target → fraction of steps whose gates passed
	done    bool               // the engine run returned
}

func newCoordinator(names []string) *coordinator {
	c := &coordinator{changed: make(chan struct{})}
	for _, n := range names {
		c.groups = append(c.groups, &lockGroup{name: n, started: map[string]bool{}, reached: map[string]float64{}})
	}
	return c
}

// update changes the state under the lock and wakes every waiter.
func (c *coordinator) update(f func()) {
	c.mu.Lock()
	f()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// fail records the first failure.
func (c *coordinator) fail(group string, err error) {
	c.update(func() {
		if c.failed == nil {
			c.failed = fmt.Errorf("function %s failed (%v): every function rolls back with it", group, err)
		}
	})
}

// ready reports whether every group other than g has reached frac.
func (c *coordinator) ready(g *lockGroup, frac float64) bool {
	for _, h := range c.groups {
		if h == g || h.done {
			continue
		}
		if len(h.reached) == 0 {
			return false // h has not reached its first barrier yet
		}
		for t := range h.started {
			if h.reached[t] < frac {
				return false
			}
		}
	}
	return true
}

// options returns the engine options for group i: the caller's, with each
// gate reporting its failure at once, the barrier last, and events feeding
// the coordinator.
func (c *coordinator) options(i int, base *deploy.RolloutOptions) *deploy.RolloutOptions {
	g := c.groups[i]
	o := *base
	o.Gates = nil
	for _, gate := range base.Gates {
		check := gate.Check
		o.Gates = append(o.Gates, deploy.Gate{Name: gate.Name, Check: func(ctx context.Context, in *deploy.GateInput) error {
			err := check(ctx, in)
			var skip *deploy.SkipError
			if err != nil && !errors.As(err, &skip) {
				c.fail(g.name, fmt.Errorf("gate %s on %s", gate.Name, in.Target))
			}
			return err
		}})
	}
	o.Gates = append(o.Gates, deploy.Gate{Name: "lockstep", Check: func(ctx context.Context, in *deploy.GateInput) error {
		return c.barrier(ctx, g, in)
	}})
	user := base.OnEvent
	o.OnEvent = func(e deploy.Event) {
		switch e.Kind {
		case deploy.EventStarted, deploy.EventResumed:
			c.update(func() { g.started[e.Target] = true })
		case deploy.EventFailed:
			c.fail(g.name, errors.New(e.Message))
		}
		if user != nil {
			user(e)
		}
	}
	return &o
}

// barrier waits until every other function reached this step's point.
func (c *coordinator) barrier(ctx context.Context, g *lockGroup, in *deploy.GateInput) error {
	frac := 1.0
	if in.Steps > 0 {
		frac = float64(in.Step) / float64(in.Steps)
	}
	c.update(func() {
		g.started[in.Target] = true
		if frac > g.reached[in.Target] {
			g.reached[in.Target] = frac
		}
	})
	for {
		c.mu.Lock()
		failed, ok, changed := c.failed, c.ready(g, frac), c.changed
		c.mu.Unlock()
		switch {
		case failed != nil:
			// Another function failed: roll back without a verdict on
			// this function's candidate.
			return &deploy.StopError{Err: failed}
		case ok:
			return nil
		}
		select {
		case <-ctx.Done():
			return deploy.Stop("waiting for the other functions at step %d/%d: %w", in.Step, in.Steps, ctx.Err())
		case <-changed:
		}
	}
}

// finished marks group i's engine run as returned with err.
func (c *coordinator) finished(i int, err error) {
	g := c.groups[i]
	if err != nil {
		c.fail(g.name, err)
	}
	c.update(func() { g.done = true })
}
