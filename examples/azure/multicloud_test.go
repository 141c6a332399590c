package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/internal/cloudfake/azurefake"
	"github.com/updraft-dev/updraft/internal/cloudfake/lambdafake"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/awslambda"
	"github.com/updraft-dev/updraft/provider/azurefunctions"
	"github.com/updraft-dev/updraft/trigger"
)

// One Spec rolls out to AWS Lambda and Azure Functions (fakes) in
// lockstep; a gate that fails on Azure rolls both back. (GCP joins when
// its adapter lands.)
func TestMultiCloudLockstepRollback(t *testing.T) {
	ctx := t.Context()
	lam := lambdafake.New(&lambdafake.Options{})
	defer lam.Close()
	client := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(lam.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")})
	awsFn, err := awslambda.OpenFunction(ctx, client, "hello", &awslambda.Options{DefaultRole: "arn:aws:iam::123456789012:role/hello",
		PollInterval: time.Millisecond, MaxPollInterval: 5 * time.Millisecond, RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer awsFn.Close()
	az := azurefake.New(nil)
	defer az.Close()
	azFn, err := azurefunctions.OpenFunction(ctx, &azfake.TokenCredential{}, azurefake.Subscription, "rg", "hello", &azurefunctions.Options{
		Location: "westeurope", StorageAccount: "st", ARMOptions: az.ARMClientOptions(), Transport: az.HTTPClient(),
		PollInterval: time.Millisecond, RetryDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer azFn.Close()
	fns := []*provider.Function{awsFn, azFn}

	code := func(v string) bundle.Source {
		return bundle.Files(map[string][]byte{"bootstrap": []byte("#!/bin/sh\n# " + v + "\n"), "handler": []byte("#!/bin/sh\n# " + v + "\n")})
	}
	spec := &provider.Spec{Code: code("v1"), Runtime: "go", MemoryMB: 512, Timeout: 30 * time.Second,
		Triggers: []trigger.Trigger{trigger.HTTP{Key: "web", Auth: trigger.AuthNone}}}
	if res, err := deploy.Rollout(ctx, fns, spec, nil); err != nil || res.Targets[0].Outcome != deploy.OutcomeCreated || res.Targets[1].Outcome != deploy.OutcomeCreated {
		t.Fatalf("first rollout: %v %v", res, err)
	}
	stable := map[string]string{}
	for _, fn := range fns {
		st, err := fn.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stable[fn.Target()] = st.Routes["live"].Traffic.Stable
	}
	before, _ := az.Site("rg", "hello", "")

	spec.Code = code("v2")
	azureFails := deploy.Gate{Name: "azure-smoke", Check: func(ctx context.Context, in *deploy.GateInput) error {
		if strings.HasPrefix(in.Target, "azurefunctions://") && in.Percent == 100 {
			return errors.New("Azure candidate answers 500")
		}
		return nil
	}}
	res, err := deploy.Rollout(ctx, fns, spec, &deploy.RolloutOptions{Strategy: deploy.Canary(10, 50), Gates: []deploy.Gate{azureFails}})
	if err == nil || res.Outcome != deploy.OutcomeRolledBack {
		t.Fatalf("rollout with a failing Azure gate: outcome %s, err %v", res.Outcome, err)
	}
	for _, tr := range res.Targets {
		if tr.Outcome != deploy.OutcomeRolledBack {
			t.Errorf("%s: outcome %s, want rolled back", tr.Target, tr.Outcome)
		}
	}
	if !res.Targets[1].Degraded || res.Targets[0].Degraded {
		t.Errorf("only Azure should run the canary as blue/green: %+v %+v", res.Targets[0], res.Targets[1])
	}
	for _, fn := range fns {
		st, err := fn.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r := st.Routes["live"]
		if r.Traffic.Stable != stable[fn.Target()] || r.Traffic.Candidate != "" || r.Marker != nil {
			t.Errorf("%s after rollback: %+v marker %+v, want all on %s", fn.Target(), r.Traffic, r.Marker, stable[fn.Target()])
		}
	}
	if after, _ := az.Site("rg", "hello", ""); after.PackageDigest != before.PackageDigest {
		t.Errorf("Azure runs %s after the rollback, want the first package %s", after.PackageDigest, before.PackageDigest)
	}
}
