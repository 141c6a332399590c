package awslambda

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/internal/cloudfake/lambdafake"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/trigger"
)

// trafficGate sends n invocations through the route, as production
// traffic would, so the metrics gate after it has data to judge.
func trafficGate(n int) deploy.Gate {
	return deploy.Gate{Name: "traffic", Check: func(ctx context.Context, in *deploy.GateInput) error {
		for range n {
			if _, err := in.Function.Invoke(ctx, &provider.InvokeOptions{Route: in.Route, Payload: []byte(`{}`)}); err != nil {
				return err
			}
		}
		return nil
	}}
}

func versionSpec(v string) *provider.Spec {
	s := testSpec()
	s.Env = map[string]string{"VERSION": v}
	return s
}

func TestCanaryRolloutWithDeployEngine(t *testing.T) {
	opts := defaultFakeOptions()
	opts.Seed = 42
	opts.Handler = func(ctx context.Context, inv *lambdafake.Invocation) ([]byte, error) {
		if inv.Env["VERSION"] == "bad" || inv.Env["VERSION"] == "flaky" && string(inv.Payload) != `{"smoke":true}` {
			return nil, errors.New("nil pointer dereference")
		}
		return []byte(`"ok ` + inv.Env["VERSION"] + `"`), nil
	}
	fa := newFakeAWS(t, opts)
	fn := fa.open(t, "canary", nil)
	fns := []*provider.Function{fn}
	mustApply(t, fn, versionSpec("1"))

	t.Run("promotion", func(t *testing.T) { canaryPromotion(t, fa, fns) })
	t.Run("rollback", func(t *testing.T) { canaryRollback(t, fa, fns) })
	t.Run("rollback on error rate", func(t *testing.T) { canaryErrorRate(t, fa, fns) })
}

func rolloutOpts() *deploy.RolloutOptions {
	return &deploy.RolloutOptions{Strategy: deploy.Canary(10, 50), Holder: "tester@ci",
		Gates:  []deploy.Gate{deploy.InvokeGate([]byte(`{"smoke":true}`)), trafficGate(200), deploy.ErrorRateGate(0.05, 5)},
		Bundle: &provider.BundleOptions{NoCache: true}, Retry: deploy.RetryPolicy{Attempts: 3, Backoff: time.Millisecond}}
}

func canaryPromotion(t *testing.T, fa *fakeAWS, fns []*provider.Function) {
	fn := fns[0]
	var percents []int
	o := rolloutOpts()
	o.OnEvent = func(e deploy.Event) {
		if e.Kind == deploy.EventShifted {
			percents = append(percents, e.Percent)
		}
	}
	res, err := deploy.Rollout(t.Context(), fns, versionSpec("2"), o)
	if err != nil {
		t.Fatalf("rollout: %v", err)
	}
	if res.Outcome != deploy.OutcomeSucceeded || res.Targets[0].Stable != "1" || res.Targets[0].Candidate != "2" {
		t.Fatalf("result %+v %+v", res, res.Targets[0])
	}
	v, w, desc, _ := fa.lam.Alias("canary", "live")
	if v != "2" || len(w) != 0 || decodeRecord(desc).marker != nil {
		t.Fatalf("alias after promotion: version %s weights %v description %q", v, w, desc)
	}
	if fmt.Sprint(percents) != "[10 50 100]" {
		t.Errorf("shifts %v", percents)
	}
	m, err := fn.Metrics(t.Context(), &provider.MetricsQuery{Route: "live", Revision: "2"})
	if err != nil || m.Invocations == 0 || m.Errors != 0 {
		t.Errorf("candidate metrics %+v, %v", m, err)
	}
}

func canaryRollback(t *testing.T, fa *fakeAWS, fns []*provider.Function) {
	res, err := deploy.Rollout(t.Context(), fns, versionSpec("bad"), rolloutOpts())
	if err == nil {
		t.Fatal("a candidate failing every invocation was promoted")
	}
	var ge *deploy.GateError
	if !errors.As(err, &ge) || provider.Code(err) != provider.FailedPrecondition {
		t.Fatalf("error %v: want a GateError", err)
	}
	if res.Outcome != deploy.OutcomeRolledBack || res.Targets[0].Stable != "2" || res.Targets[0].Candidate != "3" {
		t.Fatalf("result %s %+v", res.Outcome, res.Targets[0])
	}
	v, w, desc, _ := fa.lam.Alias("canary", "live")
	if v != "2" || len(w) != 0 || decodeRecord(desc).marker != nil {
		t.Fatalf("alias after rollback: version %s weights %v description %q", v, w, desc)
	}
	t.Logf("rolled back: %v (gate %s)", ge, res.Targets[0].FailedGate)
}

func canaryErrorRate(t *testing.T, fa *fakeAWS, fns []*provider.Function) {
	// The smoke invoke passes; real traffic at 10% fails, which the
	// CloudWatch error-rate gate sees.
	res, err := deploy.Rollout(t.Context(), fns, versionSpec("flaky"), rolloutOpts())
	var ge *deploy.GateError
	if !errors.As(err, &ge) || ge.Gate != "error-rate" || ge.Percent != 10 {
		t.Fatalf("error %v: want the error-rate gate to fail at 10%%", err)
	}
	if res.Outcome != deploy.OutcomeRolledBack {
		t.Fatalf("outcome %s", res.Outcome)
	}
	if v, w, _, _ := fa.lam.Alias("canary", "live"); v != "2" || len(w) != 0 {
		t.Fatalf("alias after rollback: version %s weights %v", v, w)
	}
	t.Logf("rolled back: %v", ge)
}

func TestMetricsFromCloudWatch(t *testing.T) {
	fa := newFakeAWS(t, nil)
	fa.cw.PageSize = 2 // exercise NextToken paging
	fn := fa.open(t, "m", nil)
	mustApply(t, fn, testSpec())
	now := time.Now()
	for i := range 5 {
		at := now.Add(-time.Duration(i) * time.Minute)
		fa.lam.RecordInvocations("m", "m:live", "3", at, 10, 2, 1)
		fa.lam.RecordInvocations("m", "m:live", "2", at, 100, 0, 0)
	}
	fa.lam.RecordInvocations("m", "m:3", "3", now, 7, 7, 0)
	m, err := fn.Metrics(t.Context(), &provider.MetricsQuery{Route: "live", Revision: "3", Since: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if m.Invocations != 50 || m.Errors != 10 || m.Throttles != 5 {
		t.Fatalf("route+revision metrics %+v, want 50/10/5", m)
	}
	if m, _ := fn.Metrics(t.Context(), &provider.MetricsQuery{Revision: "3"}); m.Invocations != 7 || m.Errors != 7 {
		t.Fatalf("direct revision metrics %+v", m)
	}
	if m, _ := fn.Metrics(t.Context(), nil); m.Invocations != 557 {
		t.Fatalf("function metrics %+v", m)
	}
	if m, _ := fn.Metrics(t.Context(), &provider.MetricsQuery{Route: "live", Revision: "3", Since: now.Add(-90 * time.Second)}); m.Invocations != 20 {
		t.Fatalf("windowed metrics %+v, want the last two minutes (20)", m)
	}
	noCW := fa.open(t, "m", func(o *Options) { o.CloudWatchClient = nil })
	if _, err := noCW.Metrics(t.Context(), nil); provider.Code(err) != provider.Unimplemented {
		t.Fatalf("without CloudWatch: %v", err)
	}
}

// urlTrafficGate sends n requests through the route's function URL.
func urlTrafficGate(fa *fakeAWS, n int) deploy.Gate {
	return deploy.Gate{Name: "url-traffic", Check: func(ctx context.Context, in *deploy.GateInput) error {
		st, err := in.Function.Get(ctx)
		if err != nil {
			return err
		}
		for range n {
			req, _ := http.NewRequestWithContext(ctx, "GET", fa.lam.URLEndpoint(st.Endpoint)+"orders", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return nil
	}}
}

// A candidate whose HTTP handler answers 500 (not a function error) is
// caught at the first canary step by the default ErrorRateGate, which
// counts the function URL's 5xx responses, and rolled back.
func TestHTTP5xxCandidateRolledBack(t *testing.T) {
	opts := defaultFakeOptions()
	opts.Seed = 7
	opts.Handler = func(ctx context.Context, inv *lambdafake.Invocation) ([]byte, error) {
		if inv.Env["VERSION"] == "bad" {
			return []byte(`{"statusCode":500,"body":"internal error"}`), nil
		}
		return []byte(`{"statusCode":200,"body":"ok"}`), nil
	}
	fa := newFakeAWS(t, opts)
	fn := fa.open(t, "web5xx", nil)
	spec := func(v string) *provider.Spec {
		s := versionSpec(v)
		s.Triggers = []trigger.Trigger{trigger.HTTP{Key: "web", Auth: trigger.AuthNone}}
		return s
	}
	mustApply(t, fn, spec("1"))
	ro := &deploy.RolloutOptions{Strategy: deploy.Canary(30), Holder: "ci", Bundle: &provider.BundleOptions{NoCache: true},
		Gates: []deploy.Gate{urlTrafficGate(fa, 60), deploy.ErrorRateGate(0.05, 5)}}
	res, err := deploy.Rollout(t.Context(), []*provider.Function{fn}, spec("bad"), ro)
	var ge *deploy.GateError
	if !errors.As(err, &ge) || ge.Gate != "error-rate" || ge.Percent != 30 {
		t.Fatalf("rollout of a 500-answering candidate: %v", err)
	}
	if res.Outcome != deploy.OutcomeRolledBack {
		t.Fatalf("outcome %s", res.Outcome)
	}
	if v, w, _, _ := fa.lam.Alias("web5xx", "live"); v != "1" || len(w) != 0 {
		t.Fatalf("after rollback the route serves %s %v", v, w)
	}
	t.Logf("caught: %v", ge)
}
