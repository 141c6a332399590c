package lambdafake_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/updraft-dev/updraft/internal/cloudfake/awswire"
	"github.com/updraft-dev/updraft/internal/cloudfake/lambdafake"
)

func zipOf(t *testing.T, body string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("bootstrap")
	w.Write([]byte(body))
	zw.Close()
	return buf.Bytes()
}

func setup(t *testing.T, opts *lambdafake.Options) (*lambdafake.Server, *lambda.Client) {
	s := lambdafake.New(opts)
	t.Cleanup(s.Close)
	c := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), Retryer: aws.NopRetryer{}})
	return s, c
}

func code(t *testing.T, err error) string {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an API error, got %v", err)
	}
	return ae.ErrorCode()
}

func create(t *testing.T, c *lambda.Client, name string) {
	t.Helper()
	_, err := c.CreateFunction(context.Background(), &lambda.CreateFunctionInput{FunctionName: aws.String(name), Role: aws.String("arn:aws:iam::123456789012:role/r"),
		Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"), Code: &types.FunctionCode{ZipFile: zipOf(t, "v1")}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStateMachineAndConflicts(t *testing.T) {
	ctx := context.Background()
	// Changes stay in progress until Settle, so the test never races the clock.
	s, c := setup(t, &lambdafake.Options{CreateDelay: time.Hour, UpdateDelay: time.Hour})
	create(t, c, "fn")
	out, _ := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")})
	if out.Configuration.State != types.StatePending || out.Configuration.LastUpdateStatus != types.LastUpdateStatusInProgress {
		t.Fatalf("after create %s/%s", out.Configuration.State, out.Configuration.LastUpdateStatus)
	}
	_, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn"), MemorySize: aws.Int32(256)})
	if code(t, err) != "ResourceConflictException" {
		t.Fatalf("update while Pending: %v", err)
	}
	w := lambda.NewFunctionUpdatedV2Waiter(c, func(o *lambda.FunctionUpdatedV2WaiterOptions) {
		o.MinDelay, o.MaxDelay = 5*time.Millisecond, 10*time.Millisecond
	})
	s.Settle("fn")
	got, err := w.WaitForOutput(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")}, time.Second)
	if err != nil || got.Configuration.State != types.StateActive {
		t.Fatalf("waiter: %v %v", err, got)
	}
	rev := aws.ToString(got.Configuration.RevisionId)
	if _, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn"), MemorySize: aws.Int32(256), RevisionId: aws.String("stale")}); code(t, err) != "PreconditionFailedException" {
		t.Fatalf("stale RevisionId: %v", err)
	}
	if _, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn"), MemorySize: aws.Int32(256), RevisionId: aws.String(rev)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("fn")}); code(t, err) != "ResourceConflictException" {
		t.Fatalf("publish while InProgress: %v", err)
	}
	s.Settle("fn")
	if _, err := w.WaitForOutput(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")}, time.Second); err != nil {
		t.Fatal(err)
	}
	v1, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("fn")})
	if err != nil {
		t.Fatal(err)
	}
	v1again, _ := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("fn")})
	if aws.ToString(v1.Version) != "1" || aws.ToString(v1again.Version) != "1" {
		t.Fatalf("unchanged publish returned %s then %s, want 1 twice", aws.ToString(v1.Version), aws.ToString(v1again.Version))
	}
	if _, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("fn"), CodeSha256: aws.String("bogus")}); code(t, err) != "PreconditionFailedException" {
		t.Fatalf("CodeSha256 mismatch: %v", err)
	}
}

func TestAliasRoutingRules(t *testing.T) {
	ctx := context.Background()
	_, c := setup(t, nil)
	create(t, c, "fn")
	for i := range 3 {
		c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn"), MemorySize: aws.Int32(int32(128 + i))})
		c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("fn")})
	}
	a, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("1")})
	if err != nil {
		t.Fatal(err)
	}
	for name, rc := range map[string]map[string]float64{
		"two extra versions": {"2": 0.1, "3": 0.1},
		"weight above 1":     {"2": 1.5},
		"non-numeric key":    {"$LATEST": 0.1},
	} {
		_, err := c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: rc}})
		if code(t, err) != "InvalidParameterValueException" {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("$LATEST"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.1}}}); code(t, err) != "InvalidParameterValueException" {
		t.Errorf("weighted $LATEST: %v", err)
	}
	if _, err := c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("9")}); code(t, err) != "ResourceNotFoundException" {
		t.Errorf("missing version: %v", err)
	}
	up, err := c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), RevisionId: a.RevisionId,
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.1}}})
	if err != nil || up.RoutingConfig.AdditionalVersionWeights["2"] != 0.1 {
		t.Fatalf("weighted update: %v", err)
	}
	if _, err := c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), RevisionId: a.RevisionId}); code(t, err) != "PreconditionFailedException" {
		t.Errorf("stale alias RevisionId: %v", err)
	}
	// Omitted RoutingConfig keeps the weights; an explicit empty map clears them.
	kept, _ := c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), Description: aws.String("x")})
	cleared, _ := c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{}}})
	if kept.RoutingConfig == nil || cleared.RoutingConfig != nil {
		t.Errorf("kept %v cleared %v", kept.RoutingConfig, cleared.RoutingConfig)
	}
	if _, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("fn"), Qualifier: aws.String("1")}); code(t, err) != "ResourceConflictException" {
		t.Errorf("deleting an aliased version: %v", err)
	}
	if _, err := c.PutProvisionedConcurrencyConfig(ctx, &lambda.PutProvisionedConcurrencyConfigInput{FunctionName: aws.String("fn"), Qualifier: aws.String("$LATEST"), ProvisionedConcurrentExecutions: aws.Int32(1)}); code(t, err) != "InvalidParameterValueException" {
		t.Errorf("provisioned concurrency on $LATEST: %v", err)
	}
}

func TestFaultsAndLimits(t *testing.T) {
	ctx := context.Background()
	s, c := setup(t, &lambdafake.Options{MaxRequestBytes: 1 << 20})
	create(t, c, "fn")
	s.Inject(awswire.Fault{Op: "GetFunction", Status: 429, Type: "TooManyRequestsException", Message: "Rate exceeded"})
	_, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")})
	var tmr *types.TooManyRequestsException
	if !errors.As(err, &tmr) {
		t.Fatalf("injected throttle: %v", err)
	}
	s.Inject(awswire.Fault{Op: "GetFunction", Reset: true})
	if _, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")}); err == nil {
		t.Fatal("connection reset: no error")
	}
	if _, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")}); err != nil {
		t.Fatalf("after one-shot faults: %v", err)
	}
	big := make([]byte, 1<<20)
	_, err = c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ZipFile: big})
	if code(t, err) != "RequestTooLargeException" {
		t.Fatalf("oversized inline code: %v", err)
	}
	if _, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String("arn:aws:sqs:us-east-1:123456789012:q"), FunctionName: aws.String("fn"), BatchSize: aws.Int32(100)}); code(t, err) != "InvalidParameterValueException" {
		t.Fatalf("SQS batch over 10 without a window: %v", err)
	}
	if _, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String("arn:aws:sqs:us-east-1:123456789012:q"), FunctionName: aws.String("fn")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String("arn:aws:sqs:us-east-1:123456789012:q"), FunctionName: aws.String("fn")}); code(t, err) != "ResourceConflictException" {
		t.Fatalf("duplicate mapping: %v", err)
	}
}
