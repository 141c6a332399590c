package deploy

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
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

	red *redactor // the rollout's known secret values
}

// Gate is a check between rollout steps. Check returns nil to pass, an
// error to fail (which rolls every target back and records the candidate
// as failed), an error made by Stop to fail without a verdict on the
// candidate, or an error made by Skip to say it could not judge (which
// passes). Check gets a context
// bounded by RolloutOptions.GateTimeout; it must be safe to call
// concurrently for different targets. A Check that panics fails the gate
// with an Internal error.
type Gate struct {
	// Name identifies the gate in results, events and errors.
	Name string
	// Check judges the candidate.
	Check func(ctx context.Context, in *GateInput) error

	// invalid is set by a constructor given bad arguments; Rollout
	// refuses the gate before any mutation.
	invalid error
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

// StopError is returned by a gate that stops the rollout for a reason
// other than the candidate, such as a lockstep barrier failing because
// another function failed, or an operator's abort. Every target is rolled
// back as for any gate failure, but the candidate is not recorded as
// failed.
type StopError struct {
	Err error
}

// Error reports the reason.
func (e *StopError) Error() string { return fmt.Sprint(e.Err) }

// Unwrap returns the reason.
func (e *StopError) Unwrap() error { return e.Err }

// Stop returns a *StopError with a formatted reason (%w wraps).
func Stop(format string, args ...any) error {
	return &StopError{Err: fmt.Errorf(format, args...)}
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

// judged reports whether the gate judged the candidate bad, so that it is
// recorded as failed: the gate's own verdict (an error that is not a
// provider call's failure) or a timeout (the candidate was too slow to
// answer). A failed provider call (throttled, internal, not ready,
// permission denied, …) means the gate could not judge, and a *StopError
// stopped the rollout for another reason: then the rollout is rolled
// back, but the candidate is not recorded as failed.
func (e *GateError) judged() bool {
	var pe *provider.Error
	var stop *StopError
	if errors.As(e.Err, &stop) {
		return false
	}
	return !errors.As(e.Err, &pe) || pe.Code == provider.DeadlineExceeded
}

// maxShown is how many bytes of a function's error or response body a
// gate shows, after redaction.
const maxShown = 300

// InvokeGate invokes the candidate revision directly (not through the
// route) with payload and fails if the function returns an error, or if
// its response is HTTP-shaped (a JSON object with a numeric statusCode,
// as API Gateway and function URL responses are) with a 5xx status. It
// works at 0%, so it is the smoke test of a blue/green rollout; on a
// target that cannot invoke a revision before it serves (Unimplemented at
// 0%, as on Azure Flex Consumption) it skips at 0% and checks the
// candidate at the next step. Build an HTTP request payload with HTTPEvent.
//
// Messages show at most the first 300 bytes of the function's error or
// response body, with the Spec's secret values redacted before the cut,
// so no part of a secret is shown.
func InvokeGate(payload []byte) Gate {
	return Gate{Name: "invoke", Check: func(ctx context.Context, in *GateInput) error {
		r, err := in.Function.Invoke(ctx, &provider.InvokeOptions{Revision: in.Candidate, Payload: payload})
		if provider.Code(err) == provider.Unimplemented && in.Percent == 0 {
			// A target that can run only what serves traffic (Azure Flex
			// Consumption) is checked once the candidate serves.
			return Skip("%s cannot invoke revision %s before it serves traffic; it is invoked at the next step", in.Target, in.Candidate)
		}
		if err != nil {
			return err
		}
		if r.FunctionError != "" {
			return fmt.Errorf("smoke invoke of revision %s returned a function error: %s", in.Candidate, in.shown(r.FunctionError))
		}
		if status, body, ok := httpResponse(r.Payload); ok && status >= 500 {
			return fmt.Errorf("smoke invoke of revision %s answered HTTP %d: %s", in.Candidate, status, in.shown(body))
		}
		return nil
	}}
}

// HTTPEvent returns the payload of an HTTP request as API Gateway (HTTP
// API, payload format 2.0) and Lambda function URLs deliver it, for
// InvokeGate: method ("GET"), target (path and optional query,
// "/health?deep=1") and body. Functions written for those triggers (and
// local:// functions speaking the Runtime API) answer it as they would a
// real request.
func HTTPEvent(method, target string, body []byte) []byte {
	path, query, _ := strings.Cut(target, "?")
	if path == "" {
		path = "/"
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: path, RawQueryString: query,
		Headers: map[string]string{"user-agent": "updraft-gate", "host": "updraft.invalid"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: "$default", Stage: "$default", DomainName: "updraft.invalid", RequestID: "updraft-gate",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: strings.ToUpper(cmp.Or(method, "GET")),
				Path: path, Protocol: "HTTP/1.1", SourceIP: "127.0.0.1", UserAgent: "updraft-gate"},
			TimeEpoch: time.Now().UnixMilli(),
		},
	}
	if q, err := url.ParseQuery(query); err == nil && len(q) > 0 {
		ev.QueryStringParameters = map[string]string{}
		for k, v := range q {
			ev.QueryStringParameters[k] = strings.Join(v, ",")
		}
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	b, _ := json.Marshal(ev) // a struct of strings and maps: cannot fail
	return b
}

// httpResponse reads an HTTP-shaped function response: its status and
// body (decoded when base64).
func httpResponse(payload []byte) (int, string, bool) {
	var r struct {
		StatusCode      *int   `json:"statusCode"`
		Body            string `json:"body"`
		IsBase64Encoded bool   `json:"isBase64Encoded"`
	}
	if json.Unmarshal(payload, &r) != nil || r.StatusCode == nil {
		return 0, "", false
	}
	body := r.Body
	if r.IsBase64Encoded {
		if b, err := base64.StdEncoding.DecodeString(body); err == nil {
			body = string(b)
		}
	}
	return *r.StatusCode, body, true
}

// shown redacts s with the rollout's known secret values and then cuts
// it to maxShown bytes (on a character boundary).
func (in *GateInput) shown(s string) string {
	s = in.red.scrub(s)
	if len(s) <= maxShown {
		return s
	}
	cut := maxShown
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// ErrorRateGate reads the candidate's invocation metrics since its step
// began and fails when the share of failed requests is above maxRate
// (0.01 = 1%). Failed requests are the function errors plus, where the
// provider reports HTTP response classes (Metrics.HTTP), the responses
// with a 5xx status: an HTTP function that answers 500 has not failed as
// a function, but its callers see an error. A function error answered as
// a 5xx may be counted twice, which only makes the gate stricter; the
// count never exceeds the invocations. With fewer than minInvocations it
// cannot judge and skips, so a candidate with no traffic (0%) passes it;
// pair it with InvokeGate. A target without metrics fails it
// (Unimplemented). maxRate must be in [0, 1]: Rollout refuses the gate
// otherwise (InvalidArgument).
func ErrorRateGate(maxRate float64, minInvocations int64) Gate {
	return metricsGate("error-rate", "error", maxRate, minInvocations, failedRequests)
}

// failedRequests counts function errors plus 5xx responses.
func failedRequests(m *provider.Metrics) int64 {
	n := m.Errors
	if m.HTTP {
		n += m.Status5xx
	}
	return min(n, m.Invocations)
}

// ThrottleGate is ErrorRateGate for throttled invocations: it fails when
// the candidate's throttle rate is above maxRate.
func ThrottleGate(maxRate float64, minInvocations int64) Gate {
	return metricsGate("throttle-rate", "throttle", maxRate, minInvocations, func(m *provider.Metrics) int64 { return m.Throttles })
}

func metricsGate(name, what string, maxRate float64, minInvocations int64, count func(*provider.Metrics) int64) Gate {
	var invalid error
	if math.IsNaN(maxRate) || maxRate < 0 || maxRate > 1 {
		invalid = fmt.Errorf("gate %s: maximum rate %v is not a fraction: use a number from 0 to 1 (0.01 = 1%%)", name, maxRate)
	}
	return Gate{Name: name, invalid: invalid, Check: func(ctx context.Context, in *GateInput) error {
		if invalid != nil {
			return provider.Errorf(provider.InvalidArgument, in.Target, "gate", "%w", invalid)
		}
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
			detail := ""
			if what == "error" && m.HTTP {
				detail = fmt.Sprintf("; %d function errors, %d HTTP 5xx", m.Errors, m.Status5xx)
			}
			return fmt.Errorf("%s rate %.2f%% (%d of %d invocations%s) of revision %s is above %.2f%%",
				what, 100*rate, n, m.Invocations, detail, in.Candidate, 100*maxRate)
		}
		return nil
	}}
}

// runGate runs g with a timeout and classifies the outcome. A panic in
// the gate's Check fails it with an Internal error.
func runGate(ctx context.Context, g Gate, in *GateInput, timeout time.Duration) (result string, err error) {
	gctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if g.Check == nil {
		return GateFailed, fmt.Errorf("gate %q has no Check function", g.Name)
	}
	err = safely(func() error { return g.Check(gctx, in) })
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
