package deploy

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/updraft-dev/updraft/provider"
)

// Strategy says how traffic moves to the candidate: Steps are the
// candidate's share of traffic, in percent, at each step, ending at 100.
// Build one with AllAtOnce, BlueGreen, Canary or Linear.
type Strategy struct {
	// Name is for messages ("canary").
	Name string `json:"name"`
	// Steps are increasing percentages from 0 to 100; the last is 100. A
	// step of 0 deploys the candidate with no traffic, for gates that
	// invoke it directly (blue/green).
	Steps []int `json:"steps"`
	// Interval, when non-zero, is the bake time after each shift and
	// overrides RolloutOptions.Interval.
	Interval time.Duration `json:"interval,omitempty"`
}

// AllAtOnce moves all traffic to the candidate in one step, then runs the
// gates; a failure moves it back.
func AllAtOnce() Strategy { return Strategy{Name: "all-at-once", Steps: []int{100}} }

// BlueGreen deploys the candidate at 0%, runs the gates on it (InvokeGate
// invokes it directly), then swaps all traffic to it and runs the gates
// again.
func BlueGreen() Strategy { return Strategy{Name: "blue-green", Steps: []int{0, 100}} }

// Canary moves traffic through the given percentages, such as
// Canary(10, 50, 100); 100 is added if missing. With no arguments it is
// Canary(10, 50, 100). On a target without weighted traffic, every step
// below 100 runs at 0% (blue/green).
func Canary(percents ...int) Strategy {
	if len(percents) == 0 {
		percents = []int{10, 50, 100}
	}
	steps := slices.Clone(percents)
	if steps[len(steps)-1] != 100 {
		steps = append(steps, 100)
	}
	return Strategy{Name: "canary", Steps: steps}
}

// Linear moves step percent more traffic to the candidate every interval:
// Linear(25, time.Minute) is 25, 50, 75, 100 with a minute between.
func Linear(step int, interval time.Duration) Strategy {
	s := Strategy{Name: "linear", Interval: interval}
	if step <= 0 || step > 100 {
		s.Steps = []int{step} // rejected by validate
		return s
	}
	for p := step; p < 100; p += step {
		s.Steps = append(s.Steps, p)
	}
	s.Steps = append(s.Steps, 100)
	return s
}

func (s Strategy) validate() error {
	if len(s.Steps) == 0 {
		return errors.New("strategy has no steps")
	}
	prev := -1
	for _, p := range s.Steps {
		if p < 0 || p > 100 || p <= prev {
			return fmt.Errorf("strategy %s steps %v: use increasing percentages from 0 to 100", s.Name, s.Steps)
		}
		prev = p
	}
	if prev != 100 {
		return fmt.Errorf("strategy %s steps %v: the last step must be 100", s.Name, s.Steps)
	}
	return nil
}

// RolloutOptions configure Rollout. Nil means the defaults.
type RolloutOptions struct {
	// Strategy defaults to BlueGreen.
	Strategy Strategy
	// Interval is the bake time after each shift that gives the candidate
	// traffic, before the gates run. 0 means no wait.
	Interval time.Duration
	// Gates run on every target after each step; any failure rolls all
	// targets back.
	Gates []Gate
	// GateTimeout bounds one run of one gate; 0 means 5 minutes.
	GateTimeout time.Duration

	// ID names this rollout in the marker; "" means a generated id.
	ID string
	// Holder says who runs the rollout ("ci@runner-7"); "" means
	// $USER@hostname. It is shown to whoever finds the route held.
	Holder string
	// Lease is how long the marker holds the route after each renewal:
	// a running rollout renews it every Lease/3 (between steps, while
	// publishing, baking and gating). While it is live every other
	// Rollout, Apply and Rollback of the route fails with
	// FailedPrecondition, whoever runs it; once it has expired the holder
	// is taken for dead and the next Rollout of the same spec resumes the
	// rollout (or, with Revert, reverts it). 0 means 1 minute. Keep it well
	// above the clock skew between the machines that deploy.
	Lease time.Duration
	// TakeOver resumes (or, with Revert, reverts) a rollout whose lease is
	// still live. Use it only when its holder is known to be gone: a
	// holder still running stops at its next write, without touching
	// traffic.
	TakeOver bool
	// Revert reverts the interrupted rollout recorded on the targets
	// (traffic back to its stable revision, marker cleared, the candidate
	// recorded as failed) instead of rolling out the Spec. Nothing is
	// applied.
	Revert bool
	// AllowFailedRevision lets the rollout move traffic to a revision
	// recorded as failed (see TargetPlan.FailedRevision); without it such
	// a rollout is refused with FailedPrecondition before any change.
	AllowFailedRevision bool
	// RollbackTimeout bounds the automatic rollback, which runs even after
	// ctx is cancelled and retries failures until it expires; 0 means 5
	// minutes.
	RollbackTimeout time.Duration

	// Concurrency bounds how many targets are worked on at once; 0 means 16.
	Concurrency int
	// Bundle configures the code build.
	Bundle *provider.BundleOptions
	// Retry bounds the re-reads after a conditioned route write found
	// the route changed. Transient failures are retried by the drivers.
	Retry RetryPolicy
	// Logger receives progress records; nil means none.
	Logger *slog.Logger
	// OnEvent, when set, receives progress events, one call at a time.
	OnEvent func(Event)
}

// Outcome is how a rollout ended, overall or on one target.
type Outcome string

// The outcomes.
const (
	OutcomeSucceeded  Outcome = "succeeded"   // the candidate serves all traffic
	OutcomeCreated    Outcome = "created"     // the function was new: its first revision serves all traffic
	OutcomeUnchanged  Outcome = "unchanged"   // the candidate already served all traffic
	OutcomeRolledBack Outcome = "rolled-back" // a failure moved traffic back to the stable revision
	OutcomeReverted   Outcome = "reverted"    // Revert moved traffic back to the stable revision
	OutcomeFailed     Outcome = "failed"      // stopped by an error; see the error for traffic
)

// RolloutResult reports a rollout.
type RolloutResult struct {
	ID       string        `json:"id"`
	Holder   string        `json:"holder"`
	Strategy Strategy      `json:"strategy"`
	Outcome  Outcome       `json:"outcome"`
	Elapsed  time.Duration `json:"elapsed"`
	// Targets are in the order given.
	Targets []*TargetRollout `json:"targets"`
}

// TargetRollout reports a rollout on one target.
type TargetRollout struct {
	Target    string  `json:"target"`
	Route     string  `json:"route"`
	Outcome   Outcome `json:"outcome"`
	Stable    string  `json:"stable,omitempty"`
	Candidate string  `json:"candidate,omitempty"`
	// Percent is the candidate's share of traffic at the end.
	Percent int `json:"percent"`
	// Steps are the percentages this target went through; they differ from
	// the strategy's when Degraded.
	Steps []int `json:"steps,omitempty"`
	// Degraded is true when the target cannot split traffic by percent and
	// the canary ran as blue/green (0% then 100%).
	Degraded bool `json:"degraded,omitempty"`
	// ResumedAt is the step an interrupted rollout was resumed at (0: not resumed).
	ResumedAt int `json:"resumedAt,omitempty"`
	// Gates lists every gate run, in order.
	Gates []GateOutcome `json:"gates,omitempty"`
	// FailedGate names the gate that failed here, if one did.
	FailedGate string `json:"failedGate,omitempty"`
	// Failure says what failed on this target, if anything did.
	Failure string `json:"failure,omitempty"`
}

// GateOutcome is one run of one gate.
type GateOutcome struct {
	Gate    string        `json:"gate"`
	Step    int           `json:"step"`
	Percent int           `json:"percent"`
	Result  string        `json:"result"`
	Message string        `json:"message,omitempty"`
	Elapsed time.Duration `json:"elapsed"`
}

// Rollout applies spec to every target without moving traffic, then moves
// each route's traffic from its stable revision to the new candidate by
// opts.Strategy, in lockstep across targets, with a bake interval and the
// gates after each step. See the package documentation for markers,
// resume, revert and takeover.
//
// On a failed shift or gate, or when ctx is cancelled, every target is
// rolled back to its stable revision (even after cancellation, within
// RollbackTimeout) and Rollout returns the result with the error: a
// go-multierror of *TargetError and *GateError naming which target failed
// where, plus any rollback failure. If a rollback itself fails, its marker
// stays on the route, so the next Rollout resumes or reverts it once its
// lease has expired.
func Rollout(ctx context.Context, fns []*provider.Function, spec *provider.Spec, opts *RolloutOptions) (*RolloutResult, error) {
	o, err := rolloutDefaults(opts)
	if err != nil {
		return nil, err
	}
	if err := checkTargets(fns, spec, "Rollout"); err != nil {
		return nil, err
	}
	p, err := Plan(ctx, fns, spec, &PlanOptions{Concurrency: o.Concurrency, Bundle: o.Bundle, Logger: o.Logger, OnEvent: o.OnEvent})
	if err != nil {
		return nil, err
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	r := &roller{opts: o, plan: p, em: newEmitter(o.Logger, o.OnEvent, p.red)}
	r.em.rollout = o.ID
	r.res = &RolloutResult{ID: o.ID, Holder: o.Holder, Strategy: o.Strategy, Targets: make([]*TargetRollout, len(p.Targets))}
	for i, tp := range p.Targets {
		r.res.Targets[i] = &TargetRollout{Target: tp.Target, Route: tp.Route}
	}
	err = r.run(ctx)
	r.res.Elapsed = time.Since(r.em.start)
	return r.res, p.red.scrubErr(err)
}

// rolloutDefaults checks opts and fills in the defaults.
func rolloutDefaults(opts *RolloutOptions) (*RolloutOptions, error) {
	o := RolloutOptions{}
	if opts != nil {
		o = *opts
	}
	if len(o.Strategy.Steps) == 0 && o.Strategy.Name == "" {
		o.Strategy = BlueGreen()
	}
	if err := o.Strategy.validate(); err != nil {
		return nil, provider.Errorf(provider.InvalidArgument, "deploy", "Rollout", "%w", err)
	}
	for i, g := range o.Gates {
		if g.Name == "" || g.Check == nil {
			return nil, provider.Errorf(provider.InvalidArgument, "deploy", "Rollout", "gate %d needs a Name and a Check function", i)
		}
		if g.invalid != nil {
			return nil, provider.Errorf(provider.InvalidArgument, "deploy", "Rollout", "%w", g.invalid)
		}
	}
	o.GateTimeout = cmp.Or(max(o.GateTimeout, 0), 5*time.Minute)
	o.RollbackTimeout = cmp.Or(max(o.RollbackTimeout, 0), 5*time.Minute)
	o.Lease = cmp.Or(max(o.Lease, 0), time.Minute)
	if o.Strategy.Interval > 0 {
		o.Interval = o.Strategy.Interval
	}
	o.ID = cmp.Or(o.ID, newRolloutID())
	o.Holder = cmp.Or(o.Holder, defaultHolder())
	if strings.ContainsAny(o.ID+o.Holder, "\r\n") {
		return nil, provider.Errorf(provider.InvalidArgument, "deploy", "Rollout", "rollout ID and Holder must be one line each")
	}
	return &o, nil
}

func newRolloutID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "r-" + time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

func defaultHolder() string {
	user := os.Getenv("USER")
	if user == "" {
		user = os.Getenv("USERNAME")
	}
	if user == "" {
		user = "updraft"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return user + "@" + host
}
