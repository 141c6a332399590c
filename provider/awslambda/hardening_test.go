package awslambda

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/internal/cloudfake/awswire"
	"github.com/updraft-dev/updraft/internal/cloudfake/lambdafake"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// An Env value that looks like a secret reference stays Env: secrets are
// the names updraft recorded, so Plan converges.
func TestEnvARNStaysEnv(t *testing.T) {
	fa := newFakeAWS(t, nil)
	fn := fa.open(t, "arn-env", nil)
	s := testSpec()
	s.Env = map[string]string{"TOPIC_SECRET": "arn:aws:secretsmanager:us-east-1:123456789012:secret:topic-AbCdEf"}
	s.Secrets = map[string]string{"DB": "arn:aws:ssm:us-east-1:123456789012:parameter/db"}
	mustApply(t, fn, s)
	cfg := mustGet(t, fn).Config
	if cfg.Env["TOPIC_SECRET"] == "" || len(cfg.Secrets) != 1 || cfg.Secrets["DB"] == "" {
		t.Fatalf("read back env %v secrets %v", cfg.Env, cfg.Secrets)
	}
	plan, err := deploy.Plan(t.Context(), []*provider.Function{fn}, s, &deploy.PlanOptions{Bundle: &provider.BundleOptions{NoCache: true}})
	if err != nil || plan.HasChanges() {
		t.Fatalf("plan after apply: %v\n%s", err, plan)
	}
	// Moving a variable from Secrets to Env is a change that is applied.
	s.Env["DB"], s.Secrets = s.Secrets["DB"], map[string]string{}
	mustApply(t, fn, s)
	if cfg := mustGet(t, fn).Config; cfg.Env["DB"] == "" || len(cfg.Secrets) != 0 {
		t.Fatalf("after moving DB to Env: env %v secrets %v", cfg.Env, cfg.Secrets)
	}
}

func TestIfNotExistLosesTheCreateRace(t *testing.T) {
	fa := newFakeAWS(t, nil)
	a, b := fa.open(t, "race", nil), fa.open(t, "race", nil)
	if _, err := a.Apply(t.Context(), testSpec(), &provider.ApplyOptions{Publish: true, IfNotExist: true}); err != nil {
		t.Fatal(err)
	}
	fa.lam.ResetCalls()
	_, err := b.Apply(t.Context(), testSpec(), &provider.ApplyOptions{Publish: true, IfNotExist: true})
	if provider.Code(err) != provider.AlreadyExists {
		t.Fatalf("second create: %v, want AlreadyExists", err)
	}
	if calls := fa.lam.Calls(); len(calls) != 1 || calls[0] != "CreateFunction" {
		t.Fatalf("a create-only Apply reads nothing first: %v", calls)
	}
}

// countingTransport fails every request, counting them.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	c.n.Add(1)
	return nil, errors.New("no network in this test")
}

func TestPreflightBeforeAnyCall(t *testing.T) {
	fa := newFakeAWS(t, nil)
	tr := &countingTransport{}
	creds := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")
	typo := lambda.New(lambda.Options{Region: "eu-wset-1", Credentials: creds, HTTPClient: &http.Client{Transport: tr}})
	fnTypo, err := OpenFunction(t.Context(), typo, "pf", &Options{DefaultRole: testRole})
	if err != nil {
		t.Fatal(err)
	}
	big := testSpec()
	big.Env = map[string]string{"AWS_REGION": "x", "OK": "a\x00b"}
	cases := []struct {
		name string
		fn   *provider.Function
		s    *provider.Spec
		opts *provider.ApplyOptions
		want []string
	}{
		{"unknown region", fnTypo, testSpec(), nil, []string{`region "eu-wset-1"`, "region="}},
		{"reserved and NUL env", fa.open(t, "pf", nil), big, nil, []string{`"AWS_REGION": awslambda sets it itself and reserves it`, `byte '\x00' at offset 1`}},
		{"create without a role", fa.open(t, "pf", func(o *Options) { o.DefaultRole = "" }), testSpec(), &provider.ApplyOptions{IfNotExist: true},
			[]string{"Spec.Identity", "role="}},
		{"code over 50 MB without a bucket", fa.open(t, "pf", func(o *Options) { SetMaxDirectUpload(o, 64); o.CodeBucket = "" }), testSpec(), nil,
			[]string{"code_bucket="}},
	}
	for _, c := range cases {
		fa.lam.ResetCalls()
		_, err := c.fn.Apply(t.Context(), c.s, c.opts)
		if provider.Code(err) != provider.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", c.name, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", c.name, err, w)
			}
		}
		if n := len(fa.lam.Calls()) + int(tr.n.Load()); n != 0 {
			t.Errorf("%s: %d calls before the pre-flight failed", c.name, n)
		}
	}
	// A plain Apply of a missing function without a role stops after the
	// read that found it missing, and checkSpec says the same to a planner.
	noRole := fa.open(t, "pf", func(o *Options) { o.DefaultRole = "" })
	fa.lam.ResetCalls()
	if _, err := noRole.Apply(t.Context(), testSpec(), nil); provider.Code(err) != provider.InvalidArgument || fmt.Sprint(fa.lam.Calls()) != "[GetFunction]" {
		t.Errorf("create without a role: %v after %v", err, fa.lam.Calls())
	}
	d, _ := openDriver(fa.client, "pf", &Options{})
	err = d.checkSpec(&driver.Spec{Runtime: "go", Route: "live"}, true)
	if driver.CodeOf(err) != driver.InvalidArgument || !strings.Contains(err.Error(), "Spec.Code") || !strings.Contains(err.Error(), "role=") {
		t.Errorf("CheckSpec of a create without role or code: %v", err)
	}
}

// The driver owns transient retries: a persistent throttle costs
// MaxRetries+1 calls of one operation (27 before: 3 SDK attempts inside
// 9 adapter attempts).
func TestRetryBudget(t *testing.T) {
	fa := newFakeAWS(t, nil)
	fn := fa.open(t, "budget", func(o *Options) { o.MaxRetries = 0 })
	fa.lam.Inject(awswire.Fault{Op: "GetFunction", Times: -1, Status: 429, Type: "TooManyRequestsException", Message: "Rate exceeded"})
	_, err := fn.Get(t.Context())
	if provider.Code(err) != provider.ResourceExhausted {
		t.Fatalf("persistent throttle: %v", err)
	}
	if n := len(fa.lam.Calls()); n != 6 {
		t.Fatalf("persistent throttle cost %d calls, want 6 (MaxRetries 5 + 1)", n)
	}
}

func TestFunctionURLMetrics(t *testing.T) {
	opts := defaultFakeOptions()
	opts.Handler = func(ctx context.Context, inv *lambdafake.Invocation) ([]byte, error) {
		if inv.Env["VERSION"] == "bad" {
			return []byte(`{"statusCode":500,"body":"boom"}`), nil
		}
		return []byte(`{"statusCode":200,"body":"ok"}`), nil
	}
	fa := newFakeAWS(t, opts)
	fn := fa.open(t, "web", nil)
	s := versionSpec("bad")
	s.Triggers = []trigger.Trigger{trigger.HTTP{Key: "web", Auth: trigger.AuthNone}}
	mustApply(t, fn, s)
	url := fa.lam.URLEndpoint(mustGet(t, fn).Endpoint)
	for range 4 {
		resp, err := http.Get(url + "hello")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 500 {
			t.Fatalf("URL answered %d", resp.StatusCode)
		}
	}
	m, err := fn.Metrics(t.Context(), &provider.MetricsQuery{Route: "live", Revision: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if !m.HTTP || m.Status5xx != 4 || m.Status2xx != 0 || m.Invocations != 4 || m.Errors != 0 {
		t.Fatalf("metrics %+v: want HTTP with 4 5xx (and no function errors)", m)
	}
	plain := fa.open(t, "plain", nil)
	mustApply(t, plain, testSpec())
	if m, err := plain.Metrics(t.Context(), &provider.MetricsQuery{Route: "live"}); err != nil || m.HTTP {
		t.Fatalf("function without a URL: %+v, %v", m, err)
	}
}

// Every field a Spec manages is applied on the read-less path (Apply
// working from the plan's reading), one change at a time.
func TestManagedFieldsAfterReadlessPath(t *testing.T) {
	c := newCounter(t, "fields")
	s := testSpec()
	s.Labels, s.Env = map[string]string{"team": "a"}, map[string]string{"A": "1"}
	s.Concurrency.Max = ptr(5)
	c.apply(s, &provider.ApplyOptions{Publish: true})
	changes := []struct {
		name  string
		edit  func(*provider.Spec)
		check func(st *provider.State) bool
	}{
		{"MemoryMB", func(s *provider.Spec) { s.MemoryMB = 256 }, func(st *provider.State) bool { return st.Config.MemoryMB == 256 }},
		{"Timeout", func(s *provider.Spec) { s.Timeout = 9 * time.Second }, func(st *provider.State) bool { return st.Config.Timeout == 9*time.Second }},
		{"Env", func(s *provider.Spec) { s.Env = map[string]string{"A": "2"} }, func(st *provider.State) bool { return st.Config.Env["A"] == "2" }},
		{"Secrets", func(s *provider.Spec) {
			s.Secrets = map[string]string{"S": "arn:aws:ssm:us-east-1:123456789012:parameter/s"}
		}, func(st *provider.State) bool { return st.Config.Secrets["S"] != "" }},
		{"Labels", func(s *provider.Spec) { s.Labels = map[string]string{"team": "b"} }, func(st *provider.State) bool { return st.Config.Labels["team"] == "b" }},
		{"Tracing", func(s *provider.Spec) { s.Tracing = true }, func(st *provider.State) bool { return st.Config.Tracing }},
		{"LogFormat", func(s *provider.Spec) { s.LogFormat = "json" }, func(st *provider.State) bool { return st.Config.LogFormat == "json" }},
		{"Architecture", func(s *provider.Spec) { s.Architecture = "arm64" }, func(st *provider.State) bool { return st.Config.Architecture == "arm64" }},
		{"Code", func(s *provider.Spec) { s.Code = bigSpec("other").Code }, func(st *provider.State) bool { return st.Config.CodeSize > 1<<20 }},
		{"Concurrency.Max", func(s *provider.Spec) { s.Concurrency.Max = ptr(7) }, func(st *provider.State) bool {
			return st.Config.MaxConcurrency != nil && *st.Config.MaxConcurrency == 7
		}},
		{"Concurrency.Provisioned", func(s *provider.Spec) { s.Concurrency.Provisioned = ptr(2) }, func(st *provider.State) bool {
			p := st.Routes["live"].Provisioned
			return p != nil && p.Requested == 2
		}},
		{"Triggers", func(s *provider.Spec) {
			s.Triggers = []trigger.Trigger{trigger.Queue{Key: "jobs", Source: "arn:aws:sqs:us-east-1:123456789012:jobs"}}
		}, func(st *provider.State) bool { return len(st.Triggers) == 1 }},
		{"Identity", func(s *provider.Spec) { s.Identity = "arn:aws:iam::123456789012:role/other" }, func(st *provider.State) bool {
			return st.Config.Identity == "arn:aws:iam::123456789012:role/other"
		}},
	}
	for _, ch := range changes {
		// The read-less path first: nothing to do, nothing read by Apply.
		fe, _, _ := c.plan(s)
		calls := c.step(func() error {
			_, err := c.fn.Apply(t.Context(), s, &provider.ApplyOptions{Publish: true, IfMatch: fe})
			return err
		})
		if len(calls) > 1 {
			t.Errorf("%s: the no-change Apply before it made %v", ch.name, calls)
		}
		ch.edit(s)
		fe, _, _ = c.plan(s)
		c.apply(s, &provider.ApplyOptions{Publish: true, IfMatch: fe})
		if st := mustGet(t, c.fn); !ch.check(st) {
			t.Errorf("%s was not applied after the read-less path: %+v", ch.name, st.Config)
		}
	}
}

// The same name in two regions is two targets.
func TestTargetNamesTheRegion(t *testing.T) {
	creds := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")
	var targets []string
	for _, region := range []string{"eu-west-1", "us-east-1"} {
		fn, err := OpenFunction(t.Context(), lambda.New(lambda.Options{Region: region, Credentials: creds}), "same", nil)
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, fn.Target())
	}
	if targets[0] == targets[1] || targets[0] != "awslambda://same?region=eu-west-1" {
		t.Fatalf("targets %v", targets)
	}
}

// TestValidateRunsCheckSpec: what Apply's pre-flight refuses without a
// call, the portable Validate (and so Plan) reports as a violation: a
// queue source that is not an SQS ARN, a schedule without scheduler_role.
func TestValidateRunsCheckSpec(t *testing.T) {
	fa := newFakeAWS(t, nil)
	fn := fa.open(t, "checked", func(o *Options) { o.SchedulerRoleArn = "" })
	s := testSpec()
	s.Triggers = []trigger.Trigger{trigger.Queue{Key: "jobs", Source: "jobs"}, trigger.Schedule{Key: "tick", Rate: time.Hour}}
	err := fn.Validate(s)
	if provider.Code(err) != provider.InvalidArgument || !strings.Contains(err.Error(), "SQS queue ARN") || !strings.Contains(err.Error(), "scheduler_role") {
		t.Fatalf("Validate = %v, want both problems", err)
	}
	var ve *provider.ValidationError
	if !errors.As(err, &ve) || len(ve.Violations) != 1 || ve.Violations[0].Field != "Spec" {
		t.Fatalf("Validate's error %#v is not one violation of the Spec", err)
	}
	fa.lam.ResetCalls()
	if _, err := fn.Apply(t.Context(), s, nil); provider.Code(err) != provider.InvalidArgument || len(fa.lam.Calls()) != 0 {
		t.Fatalf("Apply = %v after calls %v; want the same refusal before any call", err, fa.lam.Calls())
	}
}
