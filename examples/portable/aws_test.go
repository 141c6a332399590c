package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/deploy"
	_ "github.com/updraft-dev/updraft/examples/portable/fn" // registers with function.DefaultMux
	"github.com/updraft-dev/updraft/function"
	"github.com/updraft-dev/updraft/internal/cloudfake/lambdafake"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/awslambda"
	"github.com/updraft-dev/updraft/trigger"
)

// TestPortableOnLambdaFake deploys the same package to awslambda:// on the
// Lambda fake (the bootstrap form, uploaded through the real SDK) and
// invokes it; the fake runs invocations through the package's Lambda
// entry in this process, as the Runtime API would deliver them.
func TestPortableOnLambdaFake(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the function")
	}
	ctx := t.Context()
	lam := lambdafake.New(&lambdafake.Options{Handler: func(ctx context.Context, inv *lambdafake.Invocation) ([]byte, error) {
		ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "fake-req"})
		return function.NewLambdaHandler(function.DefaultMux, "").Invoke(ctx, inv.Payload)
	}})
	defer lam.Close()
	client := lambda.New(lambda.Options{Region: "us-east-1", BaseEndpoint: aws.String(lam.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")})
	fn, err := awslambda.OpenFunction(ctx, client, "portable", &awslambda.Options{DefaultRole: "arn:aws:iam::123456789012:role/portable",
		PollInterval: time.Millisecond, MaxPollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Close()
	spec := &provider.Spec{Code: bundle.GoFunction("fn"), Runtime: "go", MemoryMB: 128, Timeout: 10 * time.Second,
		Triggers: []trigger.Trigger{trigger.HTTP{Key: "web", Auth: trigger.AuthNone}}}
	if _, err := deploy.Rollout(ctx, []*provider.Function{fn}, spec, nil); err != nil {
		t.Fatal(err)
	}
	res, err := fn.Invoke(ctx, &provider.InvokeOptions{Payload: sqsBatch("a", "ok", "b", "fail now")})
	if err != nil || string(res.Payload) != `{"batchItemFailures":[{"itemIdentifier":"b"}]}` {
		t.Errorf("SQS batch: %s, %v", res.Payload, err)
	}
	res, err = fn.Invoke(ctx, &provider.InvokeOptions{Payload: []byte(`{"version":"2.0","rawPath":"/hello","rawQueryString":"name=lambda","requestContext":{"http":{"method":"GET","path":"/hello"}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	if err := json.Unmarshal(res.Payload, &resp); err != nil || resp.StatusCode != 200 || !strings.Contains(resp.Body, `"requestId":"fake-req"`) ||
		!strings.Contains(resp.Body, `"platform":"aws-lambda"`) {
		t.Errorf("function URL request: %s, %v", res.Payload, err)
	}
}
