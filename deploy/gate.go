package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/updraft-dev/updraft/provider"
)

// GateInput is what a gate checks: one target's candidate at one step.
type GateInput struct {
	// Function is the target's handle.
	Function *provider.Function
	// Target names it, such as "mem://hello"; Route is the route shifted.
	Target, Route string
	// Stable and Candidate are the revisions being rolled from and to.
	Stable, Candidate string
	// Step and Steps count the rollout's steps from 1; Percent is the
	// candidate's share of traffic at Step (0 before a blue/green swap).
	Step, Steps, Percent int
	// Since is when the candidate got this step's traffic, for metrics queries.
	Since time.Time
}

// Gate is a check between rollout steps. Check returns nil to pass, an
// error to fail (which rolls every target back), or an error made by
// Skip to say it could not judge (which passes). Check gets a context
// bounded by RolloutOptions.GateTimeout; it must be safe to call
// concurrently for different targets.
type Gate struct {
	// Name identifies the gate in results, events and errors.
	Name string
	// Check judges the candidate.
	Check func(ctx context.Context, in *GateInput) error
}

// SkipError is returned by a gate that could not judge, such as a metrics
// gate below its minimum number of invocations. It counts as a pass.
type SkipError struct {
	Reason string
}

// Error reports the reason.
func (e *SkipError) Error() string { return "skipped: " + e.Reason }

// Skip returns a *SkipError with a formatted reason.
func Skip(format string, args ...any) error {
	return &SkipError{Reason: fmt.Sprintf(format, args...)}
}

// GateError is a gate's failure on one target at one step.
type GateError struct {
	Target, Gate string
	Step, Steps  int
	Percent      int
	// Candidate is the revision that failed; Stable the one traffic goes back to.
	Candidate, Stable string
	// Err is what the gate returned.
	Err error
}

// Error names the target, gate, step and candidate.
func (e *GateError) Error() string {
	return fmt.Sprintf("%s: gate %s failed for candidate revision %s at step %d/%d (%d%%): %v",
		e.Target, e.Gate, e.Candidate, e.Step, e.Steps, e.Percent, e.Err)
}

// Unwrap returns the gate's error and, when it carries no code of its
// own, provider.ErrFailedPrecondition, so provider.Code reports
// FailedPrecondition for a candidate that failed its checks.
func (e *GateError) Unwrap() []error {
	if provider.Code(e.Err) != provider.Unknown {
		return []error{e.Err}
	}
	return []error{e.Err, provider.ErrFailedPrecondition}
}

// InvokeGate invokes the candidate revision directly (not through the
// route) with payload and fails if the function returns an error. It works
// at 0%, so it is the smoke test of a blue/green rollout.
func InvokeGate(payload []byte) Gate {
	return Gate{Name: "invoke", Check: func(ctx context.Context, in *GateInput) error {
		r, err := in.Function.Invoke(ctx, &provider.InvokeOptions{Revision: in.Candidate, Payload: payload})
		if err != nil {
			return err
		}
		if r.FunctionError != "" {
			return fmt.Errorf("smoke invoke of revision %s returned a function error: %s", in.Candidate, truncate(r.FunctionError, 300))
		}
		return nil
	}}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ErrorRateGate reads the candidate's invocation metrics since its step
// began and fails when the share of invocations that errored is above
// maxRate (0.01 = 1%). With fewer than minInvocations it cannot judge and
// skips, so a candidate with no traffic (0%) passes it; pair it with
// InvokeGate. A target without metrics fails it (Unimplemented).
func ErrorRateGate(maxRate float64, minInvocations int64) Gate {
	return metricsGate("error-rate", "error", maxRate, minInvocations, func(m *provider.Metrics) int64 { return m.Errors })
}

// ThrottleGate is ErrorRateGate for throttled invocations: it fails when
// the candidate's throttle rate is above maxRate.
func ThrottleGate(maxRate float64, minInvocations int64) Gate {
	return metricsGate("throttle-rate", "throttle", maxRate, minInvocations, func(m *provider.Metrics) int64 { return m.Throttles })
}

func metricsGate(name, what string, maxRate float64, minInvocations int64, count func(*provider.Metrics) int64) Gate {
	return Gate{Name: name, Check: func(ctx context.Context, in *GateInput) error {
		m, err := in.Function.Metrics(ctx, &provider.MetricsQuery{Route: in.Route, Revision: in.Candidate, Since: in.Since})
		if err != nil {
			return fmt.Errorf("reading metrics of revision %s: %w", in.Candidate, err)
		}
		if m.Invocations < max(minInvocations, 1) {
			return Skip("%d invocations of revision %s since step %d began, fewer than the %d needed to judge", m.Invocations, in.Candidate, in.Step, minInvocations)
		}
		n := count(m)
		rate := float64(n) / float64(m.Invocations)
		if rate > maxRate {
			return fmt.Errorf("%s rate %.2f%% (%d of %d invocations) of revision %s is above %.2f%%",
				what, 100*rate, n, m.Invocations, in.Candidate, 100*maxRate)
		}
		return nil
	}}
}

// runGate runs g with a timeout and classifies the outcome.
func runGate(ctx context.Context, g Gate, in *GateInput, timeout time.Duration) (result string, err error) {
	gctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if g.Check == nil {
		return GateFailed, fmt.Errorf("gate %q has no Check function", g.Name)
	}
	err = g.Check(gctx, in)
	var skip *SkipError
	switch {
	case err == nil:
		return GatePassed, nil
	case errors.As(err, &skip):
		return GateSkipped, err
	case gctx.Err() == context.DeadlineExceeded && ctx.Err() == nil:
		return GateFailed, fmt.Errorf("gate timed out after %s: %w", timeout, err)
	}
	return GateFailed, err
}
