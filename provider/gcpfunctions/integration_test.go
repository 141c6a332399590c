package gcpfunctions

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	functions "cloud.google.com/go/functions/apiv2"
	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	run "cloud.google.com/go/run/apiv2"
	scheduler "cloud.google.com/go/scheduler/apiv1"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/provider/providertest"
	"github.com/updraft-dev/updraft/trigger"
)

// TestIntegrationGCP runs the conformance suite against a real project.
// It runs only with UPDRAFT_IT_GCP=1 and Application Default Credentials
// of a service account (Invoke needs an ID token), and needs:
//
//	UPDRAFT_IT_GCP_PROJECT          the project (Cloud Functions, Cloud Build, Cloud Run,
//	                                Cloud Monitoring APIs enabled)
//	UPDRAFT_IT_GCP_REGION           default us-central1
//
// and optionally, to run the trigger test:
//
//	UPDRAFT_IT_GCP_SCHEDULER_SA     a service account Cloud Scheduler may use for OIDC tokens
//
// Each test creates a function named updraft-it-<random>-N from
// examples/gcp/function and deletes it. A deploy takes minutes.
func TestIntegrationGCP(t *testing.T) {
	if os.Getenv("UPDRAFT_IT_GCP") != "1" {
		t.Skip("set UPDRAFT_IT_GCP=1 and UPDRAFT_IT_GCP_PROJECT (with Application Default Credentials) to run against a real Google Cloud project")
	}
	project := os.Getenv("UPDRAFT_IT_GCP_PROJECT")
	if project == "" {
		t.Fatal("UPDRAFT_IT_GCP_PROJECT must name the project")
	}
	region := cmpOr(os.Getenv("UPDRAFT_IT_GCP_REGION"), "us-central1")
	ctx := t.Context()
	fc, err := functions.NewFunctionClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	sc, err := run.NewServicesClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	rc, err := run.NewRevisionsClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	mc, err := monitoring.NewMetricClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	opts := &Options{RevisionsClient: rc, MetricClient: mc, SchedulerServiceAccount: os.Getenv("UPDRAFT_IT_GCP_SCHEDULER_SA"),
		PollInterval: 2 * time.Second, MaxPollInterval: 10 * time.Second, OperationTimeout: 30 * time.Minute}
	if opts.SchedulerServiceAccount != "" {
		sch, err := scheduler.NewCloudSchedulerClient(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer sch.Close()
		opts.SchedulerClient = sch
	}
	prefix := fmt.Sprintf("projects/%s/locations/%s/functions/updraft-it-%d", project, region, time.Now().UnixNano()%1e9)
	n := 0
	providertest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (providertest.Harness, error) {
		n++
		h := &itHarness{fc: fc, sc: sc, opts: opts, name: fmt.Sprintf("%s-%d", prefix, n)}
		t.Cleanup(h.cleanup)
		return h, nil
	}, []providertest.AsTest{asTest{}})
}

type itHarness struct {
	fc   *functions.FunctionClient
	sc   *run.ServicesClient
	opts *Options
	name string
}

func (h *itHarness) MakeDriver(ctx context.Context) (driver.Function, error) {
	return OpenDriver(ctx, h.fc, h.sc, h.name, h.opts)
}

func (h *itHarness) MakeDriverForNonexistentFunction(ctx context.Context) (driver.Function, error) {
	return OpenDriver(ctx, h.fc, h.sc, h.name+"-missing", h.opts)
}

// Spec deploys examples/gcp/function, a real Go function.
func (h *itHarness) Spec(context.Context) (*provider.Spec, error) {
	return &provider.Spec{Code: bundle.Dir("../../examples/gcp/function"), Runtime: "go"}, nil
}

func (h *itHarness) Triggers() []trigger.Trigger {
	if h.opts.SchedulerClient == nil {
		return nil
	}
	return testTriggers()
}

func (h *itHarness) Close() {}

// cleanup deletes the test's function and its jobs, ignoring NotFound.
func (h *itHarness) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	d, err := OpenDriver(ctx, h.fc, h.sc, h.name, h.opts)
	if err != nil {
		return
	}
	d.Delete(ctx)
}
