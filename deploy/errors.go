package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/updraft-dev/updraft/provider"
)

// Steps of a target's workflow, as named in TargetError.Step and
// Event.Step names.
const (
	StepRead     = "read"     // read live state and revisions
	StepValidate = "validate" // check the Spec against the target's capabilities
	StepBundle   = "bundle"   // build the code bundle
	StepCheck    = "check"    // check preconditions (a rollout marker) before mutating
	StepApply    = "apply"    // create or update code, configuration, revision, triggers, provisioned concurrency
	StepTraffic  = "traffic"  // move the route's traffic
	StepMarker   = "marker"   // write or clear the rollout marker
	StepGate     = "gate"     // run a gate
	StepRollback = "rollback" // move traffic back to the stable revision
	StepPrune    = "prune"    // delete old revisions
	StepDestroy  = "destroy"  // delete the function
)

// TargetError is one target's failure in a multi-target workflow. It
// names the target and the step, and unwraps to the cause, so
// provider.Code and errors.Is(err, provider.ErrNotFound) see the cause's code.
type TargetError struct {
	// Target is the function's target, such as "mem://hello".
	Target string
	// Step is one of the Step* constants.
	Step string
	// Err is the cause; it carries a provider code (Unknown when the
	// cause has none).
	Err error
}

// Error reports target, step and cause, naming the target once: a cause
// that begins with the same target (as provider errors do) loses that
// prefix.
func (e *TargetError) Error() string {
	msg := fmt.Sprint(e.Err)
	for _, p := range []string{"updraft: " + e.Target + ": ", e.Target + ": "} {
		msg = strings.TrimPrefix(msg, p)
	}
	if strings.HasPrefix(strings.ToLower(msg), e.Step+": ") {
		msg = msg[len(e.Step)+2:]
	}
	return fmt.Sprintf("%s: %s: %s", e.Target, e.Step, msg)
}

// Unwrap returns the cause and, when the cause carries no code,
// provider.ErrUnknown, so that every error deploy returns has a code.
func (e *TargetError) Unwrap() []error {
	if provider.Code(e.Err) != provider.Unknown || errors.Is(e.Err, provider.ErrUnknown) {
		return []error{e.Err}
	}
	return []error{e.Err, provider.ErrUnknown}
}

// targetErr wraps err for target and step, once.
func targetErr(target, step string, err error) error {
	if err == nil {
		return nil
	}
	var te *TargetError
	if errors.As(err, &te) && te.Target == target {
		return err
	}
	return &TargetError{Target: target, Step: step, Err: err}
}

// joinErrors aggregates errs (nil ones skipped) with go-multierror, in order.
func joinErrors(errs ...error) error {
	var me *multierror.Error
	for _, err := range errs {
		if err != nil {
			me = multierror.Append(me, err)
		}
	}
	if me == nil {
		return nil
	}
	me.ErrorFormat = formatErrors
	return me
}

func formatErrors(es []error) string {
	if len(es) == 1 {
		return es[0].Error()
	}
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = "  * " + strings.ReplaceAll(e.Error(), "\n", "\n    ")
	}
	targets := map[string]bool{}
	for _, e := range es {
		var te *TargetError
		var ge *GateError
		switch {
		case errors.As(e, &ge):
			targets[ge.Target] = true
		case errors.As(e, &te):
			targets[te.Target] = true
		}
	}
	head := fmt.Sprintf("%d failures", len(es))
	if len(targets) == len(es) {
		head = fmt.Sprintf("%d targets failed", len(es))
	}
	return fmt.Sprintf("%s:\n%s", head, strings.Join(lines, "\n"))
}

// withHint returns a coded error for target and op whose message ends with
// what to do next.
func withHint(code provider.ErrorCode, target, op, hint, format string, args ...any) error {
	err := provider.Errorf(code, target, op, format, args...)
	var pe *provider.Error
	if errors.As(err, &pe) {
		pe.Hint = hint
	}
	return err
}

// RetryPolicy bounds deploy's re-read loops: a write conditioned on an
// ETag that fails with FailedPrecondition is retried after re-reading,
// when what was re-read shows the change is not another writer's (our
// own earlier write, a status refresh). The zero value means the
// defaults: 4 attempts, backoff 250ms doubling each time.
//
// Transient failures (throttling, timeouts, 5xx) are retried by the
// drivers, inside each call, and not again here: one retry layer. The one
// exception is the automatic rollback of a failed rollout, which retries
// any failure until RolloutOptions.RollbackTimeout ends, because getting
// traffic back to the stable revision matters more than giving up early.
type RetryPolicy struct {
	// Attempts is the total number of tries, including the first; 1 means
	// no retry. 0 means 4.
	Attempts int
	// Backoff is the wait before the second try; it doubles after each
	// further try, up to 32 times Backoff. 0 means 250ms.
	Backoff time.Duration
}

func (p RetryPolicy) norm() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 4
	}
	if p.Backoff <= 0 {
		p.Backoff = 250 * time.Millisecond
	}
	return p
}

// transient reports whether a call that failed with err may succeed if
// tried again unchanged, by its code (never its text). Only the rollback
// loop uses it.
func transient(err error) bool {
	switch provider.Code(err) {
	case provider.ResourceExhausted, provider.Internal, provider.Unknown, provider.DeadlineExceeded:
		return true
	}
	return false
}

// conflict reports a failed precondition: the re-read loops retry it.
func conflict(err error) bool { return provider.Code(err) == provider.FailedPrecondition }

// do runs f until it succeeds, fails with an error retry rejects, ctx is
// done, or the attempts are used up. retry nil means conflict.
func (p RetryPolicy) do(ctx context.Context, retry func(error) bool, f func() error) error {
	p = p.norm()
	if retry == nil {
		retry = conflict
	}
	wait := p.Backoff
	for attempt := 1; ; attempt++ {
		err := f()
		var fe *finalError
		if errors.As(err, &fe) {
			return fe.err
		}
		if err == nil || attempt >= p.Attempts || !retry(err) || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(wait*2, 32*p.Backoff)
	}
}

// finalError stops a retry loop: do returns its cause at once.
type finalError struct{ err error }

func (e *finalError) Error() string { return e.err.Error() }
func (e *finalError) Unwrap() error { return e.err }

// final marks err as not worth retrying.
func final(err error) error {
	if err == nil {
		return nil
	}
	return &finalError{err}
}

// defaultConcurrency bounds how many targets are worked on at once.
const defaultConcurrency = 16

func concurrency(n int) int {
	if n <= 0 {
		return defaultConcurrency
	}
	return n
}

// forEach calls f(i) for i in [0, n) with at most limit calls at once,
// waits for all of them and returns their errors by index. A panic in f
// becomes an Internal error for that index: no goroutine deploy starts can
// crash its caller.
//
// errgroup.Group with SetLimit would bound the goroutines the same way,
// but it keeps only the first error and does not recover; every target's
// own error is what a multi-target workflow reports.
func forEach(n, limit int, f func(i int) error) []error {
	errs := make([]error, n)
	if n == 0 {
		return errs
	}
	limit = min(concurrency(limit), n)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = safely(func() error { return f(i) })
		}()
	}
	wg.Wait()
	return errs
}

// safely calls f, turning a panic into an Internal error.
func safely(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = provider.Errorf(provider.Internal, "deploy", "worker", "panic: %v (a bug: please report it with this message)", v)
		}
	}()
	return f()
}
