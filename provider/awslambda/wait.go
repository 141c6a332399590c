package awslambda

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/updraft-dev/updraft/provider/driver"
)

// Retries. There is one layer for transient errors: the SDK's retryer,
// which classifies throttling, 5xx and broken connections by type and
// which the driver configures for MaxRetries+1 attempts on its own copy of
// each client (see openDriver). The loop in conflictRetry is for Lambda's
// 409 "update in progress", which is not transient in the SDK's sense
// (it ends when the function is idle, so the loop waits for that).

// apiCode returns the AWS error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// isInProgress reports a 409 because an update is in progress (not the
// 409s that mean "already exists" or "still referenced"). Lambda uses one
// exception type, ResourceConflictException, for all three, so its
// message tells them apart.
func isInProgress(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "ResourceConflictException":
		m := ae.ErrorMessage()
		return strings.Contains(m, "in progress") || strings.Contains(m, "following state: Pending")
	case "ResourceInUseException":
		return true
	}
	return false
}

// isTransient reports errors the SDK's retryer classifies as retryable
// (by type: throttling and server error codes, 5xx, connection errors);
// it is what the readiness polls tolerate between checks.
func isTransient(err error) bool {
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
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

// retry runs call until it succeeds, fails with an error that is not an
// update-in-progress conflict, or MaxRetries conflicts have been waited
// out. A conflict waits for the function to be idle (onConflict) before
// the next try. Transient errors were already retried inside call by the
// SDK and are returned as they are.
func (f *function) retry(ctx context.Context, op string, onConflict func(context.Context) error, call func(context.Context) error) error {
	backoff := f.opts.RetryBackoff
	for attempt := 0; ; attempt++ {
		err := call(ctx)
		if err == nil || !isInProgress(err) || ctx.Err() != nil || attempt >= f.opts.MaxRetries {
			return err
		}
		f.log.Debug("conflict, waiting", "op", op, "attempt", attempt+1)
		if onConflict != nil {
			if werr := onConflict(ctx); werr != nil {
				return werr
			}
		}
		if err := sleep(ctx, min(backoff, f.opts.MaxPollInterval)); err != nil {
			return err
		}
		backoff = min(2*backoff, f.opts.MaxRetryBackoff)
	}
}

// maxTransientPolls is how many polls in a row may fail transiently
// (after the SDK's own retries) and be tried again before a wait gives up.
const maxTransientPolls = 1

// poll calls check until it reports done, with a growing interval, for at
// most limit. A transient error (after the SDK's retries) is tolerated
// maxTransientPolls times in a row.
func (f *function) poll(ctx context.Context, what string, limit time.Duration, check func(context.Context) (bool, error)) error {
	deadline := time.Now().Add(limit)
	interval := f.opts.PollInterval
	transient := 0
	for {
		done, err := check(ctx)
		switch {
		case err != nil && (!isTransient(err) || transient >= maxTransientPolls):
			return err
		case err != nil:
			transient++
		case done:
			return nil
		default:
			transient = 0
		}
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for %s of %s: %w", what, f.name, ctx.Err())
		}
		if time.Now().After(deadline) {
			return driver.NewError(driver.DeadlineExceeded, fmt.Sprintf("lambda function %s: %s did not finish within %s", f.name, what, limit))
		}
		if err := sleep(ctx, interval); err != nil {
			return fmt.Errorf("waiting for %s of %s: %w", what, f.name, err)
		}
		interval = min(interval+interval/2, f.opts.MaxPollInterval)
	}
}

// idle reports whether $LATEST accepts the next mutation.
func idle(c *types.FunctionConfiguration) bool {
	return c.State != types.StatePending && c.LastUpdateStatus != types.LastUpdateStatusInProgress
}

// waitIdle polls GetFunction until $LATEST is neither Pending nor
// InProgress and returns that reading. It never gates on State ==
// Active: an idle function may be Inactive and still accepts updates.
func (f *function) waitIdle(ctx context.Context) (*lambda.GetFunctionOutput, error) {
	var out *lambda.GetFunctionOutput
	err := f.poll(ctx, "LastUpdateStatus", f.opts.UpdateTimeout, func(ctx context.Context) (bool, error) {
		o, err := f.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(f.name)})
		if err != nil {
			return false, err
		}
		out = o
		return idle(o.Configuration), nil
	})
	return out, err
}

// waitUpdated waits for the mutation what to finish and fails with its
// reason when Lambda reports it Failed.
func (f *function) waitUpdated(ctx context.Context, what string) (*lambda.GetFunctionOutput, error) {
	out, err := f.waitIdle(ctx)
	if err != nil {
		return nil, err
	}
	if err := f.failure(out.Configuration, what); err != nil {
		return nil, err
	}
	return out, nil
}

// failure returns the FailedError of a settled configuration, or nil.
func (f *function) failure(c *types.FunctionConfiguration, what string) error {
	if c.State == types.StateFailed {
		return &FailedError{Function: f.name, What: what, Status: "Failed", ReasonCode: string(c.StateReasonCode), Reason: aws.ToString(c.StateReason)}
	}
	if c.LastUpdateStatus == types.LastUpdateStatusFailed {
		return &FailedError{Function: f.name, What: what, Status: "Failed", ReasonCode: string(c.LastUpdateStatusReasonCode), Reason: aws.ToString(c.LastUpdateStatusReason)}
	}
	return nil
}

// waitVersion waits for a published version to leave Pending.
func (f *function) waitVersion(ctx context.Context, v string) error {
	return f.poll(ctx, "version "+v, f.opts.UpdateTimeout, func(ctx context.Context) (bool, error) {
		c, err := f.client.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(f.name), Qualifier: aws.String(v)})
		if err != nil {
			return false, err
		}
		switch c.State {
		case types.StatePending:
			return false, nil
		case types.StateFailed:
			return false, &FailedError{Function: f.name, What: "version " + v, Status: "Failed", ReasonCode: string(c.StateReasonCode), Reason: aws.ToString(c.StateReason)}
		}
		return true, nil
	})
}

// do runs one call with retry (see function.retry) and returns its output.
func do[T any](ctx context.Context, f *function, op string, call func(context.Context) (T, error)) (T, error) {
	var out T
	err := f.retry(ctx, op, nil, func(ctx context.Context) error {
		var err error
		out, err = call(ctx)
		return err
	})
	return out, err
}
