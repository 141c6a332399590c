package main

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	functions "cloud.google.com/go/functions/apiv2"
	cloudrun "cloud.google.com/go/run/apiv2"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/internal/cloudfake/gcpfake"
	"github.com/updraft-dev/updraft/internal/cloudfake/lambdafake"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/awslambda"
	"github.com/updraft-dev/updraft/provider/gcpfunctions"
	"github.com/updraft-dev/updraft/provider/localprovider"
	"github.com/updraft-dev/updraft/trigger"
)

type bearer struct{}

func (bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer fake-id-token")
	return http.DefaultTransport.RoundTrip(r)
}

// TestLockstep rolls one Spec out to AWS Lambda, Cloud Functions (both on
// their fakes, through the real SDKs) and local:// (for real) in
// lockstep: a canary that succeeds everywhere, then one whose candidate
// fails its smoke invoke on Cloud Functions, which rolls all three back.
func TestLockstep(t *testing.T) {
	ctx := t.Context()
	lam := lambdafake.New(nil)
	t.Cleanup(lam.Close)
	lc := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(lam.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")})
	awsFn, err := awslambda.OpenFunction(ctx, lc, "app", &awslambda.Options{DefaultRole: "arn:aws:iam::123456789012:role/app",
		PollInterval: time.Millisecond, MaxPollInterval: 5 * time.Millisecond, RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}

	gcp, err := gcpfake.New(&gcpfake.Options{OpDelay: 2 * time.Millisecond, Handler: func(inv *gcpfake.Invocation) (int, []byte) {
		if inv.Env["V"] == "bad" {
			return http.StatusInternalServerError, []byte("broken build")
		}
		return http.StatusOK, []byte(`{"v":"` + inv.Env["V"] + `"}`)
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gcp.Close)
	fc, _ := functions.NewFunctionClient(ctx, gcp.ClientOptions()...)
	sc, _ := cloudrun.NewServicesClient(ctx, gcp.ClientOptions()...)
	rc, _ := cloudrun.NewRevisionsClient(ctx, gcp.ClientOptions()...)
	t.Cleanup(func() { fc.Close(); sc.Close(); rc.Close() })
	gcpFn, err := gcpfunctions.OpenFunction(ctx, fc, sc, "projects/p/locations/us-central1/functions/app", &gcpfunctions.Options{
		RevisionsClient: rc, InvokeClient: &http.Client{Transport: bearer{}}, PollInterval: time.Millisecond, MaxPollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}

	host, err := localprovider.NewHost(ctx, &localprovider.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	localFn, err := host.OpenFunction(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	fns := []*provider.Function{awsFn, gcpFn, localFn}
	t.Cleanup(func() {
		for _, fn := range fns {
			fn.Close()
		}
	})

	spec := &provider.Spec{Code: bundle.GoSource("testdata/app"), Runtime: "go", MemoryMB: 256, Timeout: 10 * time.Second,
		Env: map[string]string{"V": "1"}, Triggers: []trigger.Trigger{trigger.HTTP{Key: "web"}}}
	opts := &deploy.RolloutOptions{Strategy: deploy.Canary(10, 50, 100), Gates: []deploy.Gate{deploy.InvokeGate([]byte(`{}`))}}
	if _, err := deploy.Rollout(ctx, fns, spec, opts); err != nil {
		t.Fatalf("first rollout: %v", err)
	}
	stable := map[string]string{}
	for _, fn := range fns {
		st, err := fn.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stable[fn.Target()] = st.Routes[provider.DefaultRoute].Traffic.Stable
	}

	spec.Env = map[string]string{"V": "2"}
	res, err := deploy.Rollout(ctx, fns, spec, opts)
	if err != nil || res.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("canary on three targets: %v %+v", err, res)
	}
	for _, tr := range res.Targets {
		if len(tr.Steps) != 3 || tr.Percent != 100 {
			t.Errorf("%s: steps %v, percent %d", tr.Target, tr.Steps, tr.Percent)
		}
		stable[tr.Target] = tr.Candidate
	}

	spec.Env = map[string]string{"V": "bad"}
	res, err = deploy.Rollout(ctx, fns, spec, opts)
	var ge *deploy.GateError
	if !errors.As(err, &ge) || res.Outcome != deploy.OutcomeRolledBack {
		t.Fatalf("bad candidate: %v %+v", err, res)
	}
	for _, fn := range fns {
		st, err := fn.Get(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		r := st.Routes[provider.DefaultRoute]
		if r.Traffic != (provider.Traffic{Stable: stable[fn.Target()]}) || r.Marker != nil {
			t.Errorf("%s after the rollback: %+v marker %+v, want all on %s", fn.Target(), r.Traffic, r.Marker, stable[fn.Target()])
		}
	}
}
