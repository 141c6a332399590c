package gcpfunctions

import (
	"context"
	"fmt"
	"time"

	"github.com/googleapis/gax-go/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/updraft-dev/updraft/provider/driver"
)

// transient reports gRPC codes worth another try: UNAVAILABLE,
// RESOURCE_EXHAUSTED and, when conflicts is set, ABORTED (Cloud Functions
// "unable to queue the operation", Cloud Run's concurrent-update
// conflict). It matches codes, never message text.
func transient(err error, conflicts bool) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.ResourceExhausted:
		return true
	case codes.Aborted:
		return conflicts
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retry runs call until it succeeds, fails with a non-transient error or
// MaxRetries retries are spent, backing off exponentially. ABORTED is
// retried only when conflicts is set (calls without a caller's etag).
func (f *function) retry(ctx context.Context, op string, conflicts bool, call func(context.Context) error) error {
	backoff := f.opts.RetryBackoff
	for attempt := 0; ; attempt++ {
		err := call(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || attempt >= f.opts.MaxRetries || !transient(err, conflicts) {
			return err
		}
		f.log.Debug("transient error, retrying", "op", op, "attempt", attempt+1, "code", status.Code(err).String())
		if err := sleep(ctx, backoff); err != nil {
			return err
		}
		backoff = min(2*backoff, f.opts.MaxRetryBackoff)
	}
}

// do runs one read with retry and returns its result.
func do[T any](ctx context.Context, f *function, op string, call func(context.Context) (T, error)) (T, error) {
	var out T
	err := f.retry(ctx, op, true, func(ctx context.Context) error {
		var err error
		out, err = call(ctx)
		return err
	})
	return out, err
}

// operation is what the generated *XxxOperation types have in common.
type operation[R any] interface {
	Poll(ctx context.Context, opts ...gax.CallOption) (R, error)
	Done() bool
	Name() string
}

// wait polls op (one GetOperation per poll) until it is done, with a
// growing interval, tolerating transient poll errors, for at most
// OperationTimeout. A failed operation returns its error (an
// *apierror.APIError carrying the operation's status).
func wait[R any](ctx context.Context, f *function, what string, op operation[R]) (R, error) {
	var zero R
	deadline := time.Now().Add(f.opts.OperationTimeout)
	interval := f.opts.PollInterval
	first := true
	for {
		if !first || op.Done() {
			r, err := op.Poll(ctx)
			switch {
			case err != nil && op.Done():
				return zero, err
			case err != nil && !transient(err, true):
				return zero, fmt.Errorf("polling operation %s (%s): %w", op.Name(), what, err)
			case err == nil && op.Done():
				return r, nil
			}
		}
		first = false
		if ctx.Err() != nil {
			return zero, fmt.Errorf("waiting for %s of %s: %w", what, f.name, ctx.Err())
		}
		if time.Now().After(deadline) {
			return zero, driver.NewError(driver.DeadlineExceeded, fmt.Sprintf("%s: %s did not finish within %s (operation %s)", f.name, what, f.opts.OperationTimeout, op.Name()))
		}
		if err := sleep(ctx, interval); err != nil {
			return zero, fmt.Errorf("waiting for %s of %s: %w", what, f.name, err)
		}
		interval = min(interval+interval/2, f.opts.MaxPollInterval)
	}
}

func isCode(err error, c codes.Code) bool { return err != nil && status.Code(err) == c }
