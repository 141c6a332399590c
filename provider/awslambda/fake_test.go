package awslambda

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/internal/cloudfake/cloudwatchfake"
	"github.com/updraft-dev/updraft/internal/cloudfake/lambdafake"
	"github.com/updraft-dev/updraft/internal/cloudfake/s3fake"
	"github.com/updraft-dev/updraft/internal/cloudfake/schedulerfake"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/provider/providertest"
	"github.com/updraft-dev/updraft/trigger"
)

const (
	testRole      = "arn:aws:iam::123456789012:role/updraft-test"
	schedulerRole = "arn:aws:iam::123456789012:role/updraft-scheduler"
	codeBucket    = "updraft-code"
)

// fakeAWS is a Lambda, S3, Scheduler and CloudWatch fake reached through
// the real SDK clients.
type fakeAWS struct {
	lam *lambdafake.Server
	s3  *s3fake.Server
	sch *schedulerfake.Server
	cw  *cloudwatchfake.Server

	client *lambda.Client
	s3c    *s3.Client
	schc   *scheduler.Client
	cwc    *cloudwatch.Client
}

// fastRetryer keeps the SDK's standard retry policy (3 attempts, retrying
// 429 and 5xx) with millisecond backoff and no retry quota.
func fastRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 3
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
		o.RateLimiter = ratelimit.None
	})
}

func defaultFakeOptions() *lambdafake.Options {
	return &lambdafake.Options{CreateDelay: 6 * time.Millisecond, UpdateDelay: 6 * time.Millisecond, PublishDelay: 3 * time.Millisecond,
		ProvisionDelay: 8 * time.Millisecond, ESMDelay: 3 * time.Millisecond}
}

func newFakeAWS(t testing.TB, lopts *lambdafake.Options) *fakeAWS {
	t.Helper()
	if lopts == nil {
		lopts = defaultFakeOptions()
	}
	fa := &fakeAWS{}
	fa.s3 = s3fake.New(&s3fake.Options{CanInvoke: func(fnArn, bucketArn string) bool {
		return fa.lam.HasPermission(fnArn, "s3.amazonaws.com", bucketArn)
	}})
	lopts.Objects = fa.s3
	fa.lam = lambdafake.New(lopts)
	fa.sch = schedulerfake.New()
	fa.cw = cloudwatchfake.New(fa.lam)
	t.Cleanup(func() { fa.lam.Close(); fa.s3.Close(); fa.sch.Close(); fa.cw.Close() })
	fa.s3.CreateBucket(codeBucket)
	creds := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")
	fa.client = lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(fa.lam.URL()), Credentials: creds, Retryer: fastRetryer()})
	fa.s3c = s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(fa.s3.URL()), Credentials: creds, Retryer: fastRetryer(), UsePathStyle: true})
	fa.schc = scheduler.New(scheduler.Options{Region: "us-east-1", BaseEndpoint: aws.String(fa.sch.URL()), Credentials: creds, Retryer: fastRetryer()})
	fa.cwc = cloudwatch.New(cloudwatch.Options{Region: "us-east-1", BaseEndpoint: aws.String(fa.cw.URL()), Credentials: creds, Retryer: fastRetryer()})
	return fa
}

func (fa *fakeAWS) options() *Options {
	return &Options{DefaultRole: testRole, S3Client: fa.s3c, CodeBucket: codeBucket, SchedulerClient: fa.schc, SchedulerRoleArn: schedulerRole,
		CloudWatchClient: fa.cwc, PollInterval: time.Millisecond, MaxPollInterval: 5 * time.Millisecond,
		RetryBackoff: time.Millisecond, MaxRetryBackoff: 5 * time.Millisecond, UpdateTimeout: 5 * time.Second, ProvisionedTimeout: 5 * time.Second}
}

func (fa *fakeAWS) open(t testing.TB, name string, mod func(*Options)) *provider.Function {
	t.Helper()
	o := fa.options()
	if mod != nil {
		mod(o)
	}
	fn, err := OpenFunction(context.Background(), fa.client, name, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fn.Close() })
	return fn
}

func testSpec() *provider.Spec {
	return &provider.Spec{
		Code:    bundle.Files(map[string][]byte{"bootstrap": []byte("#!/bin/sh\necho hello\n")}),
		Runtime: "go",
	}
}

func testTriggers() []trigger.Trigger {
	return []trigger.Trigger{
		trigger.HTTP{Key: "web", Auth: trigger.AuthNone},
		trigger.Queue{Key: "jobs", Source: "arn:aws:sqs:us-east-1:123456789012:jobs", BatchSize: 5},
		trigger.Schedule{Key: "tick", Cron: "*/5 * * * *"},
	}
}

type harness struct{ fa *fakeAWS }

func newHarness(ctx context.Context, t *testing.T) (providertest.Harness, error) {
	return &harness{fa: newFakeAWS(t, nil)}, nil
}

func (h *harness) MakeDriver(context.Context) (driver.Function, error) {
	return OpenDriver(h.fa.client, "fn", h.fa.options())
}
func (h *harness) MakeDriverForNonexistentFunction(context.Context) (driver.Function, error) {
	return OpenDriver(h.fa.client, "missing", h.fa.options())
}
func (h *harness) Spec(context.Context) (*provider.Spec, error) { return testSpec(), nil }
func (h *harness) Triggers() []trigger.Trigger                  { return testTriggers() }
func (h *harness) Close()                                       {}

func TestConformance(t *testing.T) {
	providertest.RunConformanceTests(t, newHarness, []providertest.AsTest{asTest{}})
}

// lambdafakeZeroDelay settles every state change before the next read.
var lambdafakeZeroDelay = lambdafake.Options{}

type lambdaClient = lambda.Client

func removeInput(fn, qualifier, sid string) *lambda.RemovePermissionInput {
	return &lambda.RemovePermissionInput{FunctionName: aws.String(fn), Qualifier: aws.String(qualifier), StatementId: aws.String(sid)}
}
