package awslambda

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/provider/providertest"
	"github.com/updraft-dev/updraft/trigger"
)

// TestIntegrationAWS runs the conformance suite against a real account.
// It runs only with UPDRAFT_IT_AWS=1 and credentials in the SDK's default
// chain, and needs:
//
//	UPDRAFT_IT_AWS_ROLE            execution role ARN for the test functions
//	AWS_REGION                     (or a profile's region)
//
// and optionally, to run the trigger test:
//
//	UPDRAFT_IT_AWS_QUEUE_ARN       an SQS queue the role may read
//	UPDRAFT_IT_AWS_SCHEDULER_ROLE  a role Scheduler may assume to invoke functions
//
// Each test creates functions named updraft-it-<random>-… and deletes them.
func TestIntegrationAWS(t *testing.T) {
	if os.Getenv("UPDRAFT_IT_AWS") != "1" {
		t.Skip("set UPDRAFT_IT_AWS=1 (and UPDRAFT_IT_AWS_ROLE) to run against a real AWS account")
	}
	role := os.Getenv("UPDRAFT_IT_AWS_ROLE")
	if role == "" {
		t.Fatal("UPDRAFT_IT_AWS_ROLE must name an execution role ARN")
	}
	cfg, err := config.LoadDefaultConfig(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("updraft-it-%d", time.Now().UnixNano()%1e9)
	opts := &Options{DefaultRole: role, S3Client: s3.NewFromConfig(cfg), CloudWatchClient: cloudwatch.NewFromConfig(cfg),
		SchedulerRoleArn: os.Getenv("UPDRAFT_IT_AWS_SCHEDULER_ROLE"), PollInterval: time.Second, MaxPollInterval: 5 * time.Second,
		ProvisionedTimeout: 20 * time.Minute}
	if opts.SchedulerRoleArn != "" {
		opts.SchedulerClient = scheduler.NewFromConfig(cfg)
	}
	client := lambda.NewFromConfig(cfg)
	n := 0
	providertest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (providertest.Harness, error) {
		n++
		h := &itHarness{client: client, opts: opts, name: fmt.Sprintf("%s-%d", prefix, n), queue: os.Getenv("UPDRAFT_IT_AWS_QUEUE_ARN")}
		t.Cleanup(h.cleanup)
		return h, nil
	}, []providertest.AsTest{asTest{}})
}

type itHarness struct {
	client      *lambda.Client
	opts        *Options
	name, queue string
}

func (h *itHarness) MakeDriver(context.Context) (driver.Function, error) {
	return OpenDriver(h.client, h.name, h.opts)
}

func (h *itHarness) MakeDriverForNonexistentFunction(context.Context) (driver.Function, error) {
	return OpenDriver(h.client, h.name+"-missing", h.opts)
}

// Spec deploys examples/aws/function, a real Go handler, so Invoke works.
func (h *itHarness) Spec(context.Context) (*provider.Spec, error) {
	return &provider.Spec{Code: bundle.GoSource("../../examples/aws/function"), Runtime: "go", Architecture: "arm64"}, nil
}

func (h *itHarness) Triggers() []trigger.Trigger {
	if h.queue == "" || h.opts.SchedulerClient == nil {
		return nil
	}
	return []trigger.Trigger{trigger.HTTP{Key: "web", Auth: trigger.AuthNone}, trigger.Queue{Key: "jobs", Source: h.queue},
		trigger.Schedule{Key: "tick", Rate: time.Hour}}
}

func (h *itHarness) Close() {}

// cleanup deletes the test's function and what it owns, ignoring NotFound.
func (h *itHarness) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d, err := OpenDriver(h.client, h.name, h.opts)
	if err != nil {
		return
	}
	d.Delete(ctx)
}
