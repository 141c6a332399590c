// Command multicloud rolls one Spec out to AWS Lambda, Google Cloud
// Functions and Azure Functions — each on updraft's in-repo fake of its
// control plane, reached through the cloud's real Go SDK — and to local://
// for real, in lockstep: the code is one portable Go package
// (examples/portable/fn, built in each cloud's form), version 2 is promoted
// everywhere, and version 3, whose gate fails on Azure at its last step,
// is rolled back on all four targets.
//
// From a clone of the repository (no cloud account needed):
//
//	go run ./examples/multicloud
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	functions "cloud.google.com/go/functions/apiv2"
	cloudrun "cloud.google.com/go/run/apiv2"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/internal/cloudfake/azurefake"
	"github.com/updraft-dev/updraft/internal/cloudfake/gcpfake"
	"github.com/updraft-dev/updraft/internal/cloudfake/lambdafake"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/awslambda"
	"github.com/updraft-dev/updraft/provider/azurefunctions"
	"github.com/updraft-dev/updraft/provider/gcpfunctions"
	"github.com/updraft-dev/updraft/provider/localprovider"
	"github.com/updraft-dev/updraft/trigger"
)

func main() {
	if err := run(context.Background(), os.Stdout, "examples/portable/fn"); err != nil {
		fmt.Fprintln(os.Stderr, "multicloud:", err)
		os.Exit(1)
	}
}

// bearer stands in for the ID token a caller attaches to Cloud Run requests.
type bearer struct{}

func (bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer fake-id-token")
	return http.DefaultTransport.RoundTrip(r)
}

// targets opens the function on the three fakes and on local://; closing
// stops everything.
func targets(ctx context.Context, stateDir string) (fns []*provider.Function, closeAll func(), err error) {
	var closers []func()
	closeAll = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	add := func(fn *provider.Function) {
		fns = append(fns, fn)
		closers = append(closers, func() { fn.Close() })
	}

	lam := lambdafake.New(&lambdafake.Options{CreateDelay: time.Millisecond, UpdateDelay: time.Millisecond})
	closers = append(closers, lam.Close)
	lc := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(lam.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")})
	awsFn, err := awslambda.OpenFunction(ctx, lc, "orders", &awslambda.Options{DefaultRole: "arn:aws:iam::123456789012:role/orders",
		PollInterval: time.Millisecond, MaxPollInterval: 5 * time.Millisecond, RetryBackoff: time.Millisecond})
	if err != nil {
		return nil, nil, err
	}
	add(awsFn)

	gcp, err := gcpfake.New(&gcpfake.Options{OpDelay: time.Millisecond})
	if err != nil {
		return nil, nil, err
	}
	closers = append(closers, gcp.Close)
	fc, err := functions.NewFunctionClient(ctx, gcp.ClientOptions()...)
	if err != nil {
		return nil, nil, err
	}
	sc, err := cloudrun.NewServicesClient(ctx, gcp.ClientOptions()...)
	if err != nil {
		return nil, nil, err
	}
	rc, err := cloudrun.NewRevisionsClient(ctx, gcp.ClientOptions()...)
	if err != nil {
		return nil, nil, err
	}
	closers = append(closers, func() { fc.Close(); sc.Close(); rc.Close() })
	gcpFn, err := gcpfunctions.OpenFunction(ctx, fc, sc, "projects/demo/locations/europe-west1/functions/orders", &gcpfunctions.Options{
		RevisionsClient: rc, InvokeClient: &http.Client{Transport: bearer{}}, PollInterval: time.Millisecond, MaxPollInterval: 5 * time.Millisecond})
	if err != nil {
		return nil, nil, err
	}
	add(gcpFn)

	az := azurefake.New(nil)
	closers = append(closers, az.Close)
	azFn, err := azurefunctions.OpenFunction(ctx, &azfake.TokenCredential{}, azurefake.Subscription, "rg", "orders", &azurefunctions.Options{
		Location: "westeurope", StorageAccount: "st", ARMOptions: az.ARMClientOptions(), Transport: az.HTTPClient(),
		PollInterval: time.Millisecond, RetryDelay: time.Millisecond})
	if err != nil {
		return nil, nil, err
	}
	add(azFn)

	host, err := localprovider.NewHost(ctx, &localprovider.Options{Dir: stateDir})
	if err != nil {
		return nil, nil, err
	}
	closers = append(closers, func() { host.Close() })
	localFn, err := host.OpenFunction(ctx, "orders")
	if err != nil {
		return nil, nil, err
	}
	add(localFn)
	return fns, closeAll, nil
}

func run(ctx context.Context, out io.Writer, fnDir string) error {
	dir, err := os.MkdirTemp("", "updraft-multicloud-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fns, closeAll, err := targets(ctx, dir)
	if err != nil {
		return err
	}
	defer closeAll()
	return rollouts(ctx, out, fns, fnDir)
}

// rollouts creates v1 on fns, promotes v2 and has v3 rolled back.
func rollouts(ctx context.Context, out io.Writer, fns []*provider.Function, fnDir string) error {
	spec := &provider.Spec{Code: bundle.GoFunction(fnDir), Runtime: "go", MemoryMB: 512, Timeout: 30 * time.Second,
		Env:      map[string]string{"VERSION": "v1"},
		Triggers: []trigger.Trigger{trigger.HTTP{Key: "web", Auth: trigger.AuthNone}}}
	show := func(what string, res *deploy.RolloutResult, err error) {
		fmt.Fprintf(out, "%s: %s\n", what, res.Outcome)
		for _, t := range res.Targets {
			scheme, _, _ := strings.Cut(t.Target, "://")
			line := fmt.Sprintf("  %-15s %-11s revision %s → %s at %d%%", scheme, t.Outcome, orDash(t.Stable), orDash(t.Candidate), t.Percent)
			if t.Degraded {
				line += " (no weighted traffic: blue/green)"
			}
			fmt.Fprintln(out, line)
		}
		var ge *deploy.GateError
		if errors.As(err, &ge) {
			fmt.Fprintf(out, "  gate %s failed on %s: every target rolled back\n", ge.Gate, strings.SplitN(ge.Target, "?", 2)[0])
		}
	}
	res, err := deploy.Rollout(ctx, fns, spec, &deploy.RolloutOptions{Strategy: deploy.AllAtOnce(), Holder: "multicloud"})
	if err != nil {
		return fmt.Errorf("creating v1 on every target: %w", err)
	}
	show("v1 (create)", res, nil)

	canary := deploy.Canary(10, 50, 100)
	spec.Env = map[string]string{"VERSION": "v2"}
	res, err = deploy.Rollout(ctx, fns, spec, &deploy.RolloutOptions{Strategy: canary, Holder: "multicloud"})
	if err != nil {
		return fmt.Errorf("rolling out v2: %w", err)
	}
	show("v2 (canary 10 → 50 → 100)", res, nil)

	// v3's health check fails on Azure at the last step: every cloud rolls
	// back to v2 together.
	spec.Env = map[string]string{"VERSION": "v3"}
	azureCheck := deploy.Gate{Name: "azure-health", Check: func(ctx context.Context, in *deploy.GateInput) error {
		if strings.HasPrefix(in.Target, "azurefunctions://") && in.Percent == 100 {
			return errors.New("v3 answers 500 on Azure")
		}
		return nil
	}}
	res, err = deploy.Rollout(ctx, fns, spec, &deploy.RolloutOptions{Strategy: canary, Holder: "multicloud", Gates: []deploy.Gate{azureCheck}})
	if err == nil {
		return errors.New("v3 was promoted although its Azure gate failed")
	}
	show("v3 (gate fails on Azure)", res, err)
	if res.Outcome != deploy.OutcomeRolledBack {
		return fmt.Errorf("v3: outcome %s, want rolled back: %w", res.Outcome, err)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
