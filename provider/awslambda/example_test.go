package awslambda_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/awslambda"
	"github.com/updraft-dev/updraft/trigger"
)

// Opening a URL loads the SDK's default configuration; it makes no call.
func Example_openURL() {
	ctx := context.Background()
	fn, err := provider.Open(ctx, "awslambda://hello?region=eu-west-1")
	if err != nil {
		log.Fatal(err)
	}
	defer fn.Close()
	caps := fn.Capabilities()
	fmt.Println(fn.Target(), caps.Triggers, caps.DefaultTimeout, caps.MaxTimeout)
	// Output: awslambda://hello?region=eu-west-1 [http queue stream schedule storage] 3s 15m0s
}

func ExampleOpenFunction() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("eu-west-1"))
	if err != nil {
		log.Fatal(err)
	}
	fn, err := awslambda.OpenFunction(ctx, lambda.NewFromConfig(cfg), "hello", &awslambda.Options{
		DefaultRole: "arn:aws:iam::123456789012:role/hello-lambda",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer fn.Close()
	res, err := fn.Apply(ctx, &provider.Spec{
		Code:     bundle.GoSource("./functions/hello"),
		Runtime:  "go",
		MemoryMB: 256,
		Timeout:  10 * time.Second,
		Secrets:  map[string]string{"DB_PASSWORD": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf"},
		Triggers: []trigger.Trigger{trigger.HTTP{Key: "web", Auth: trigger.AuthNone}},
	}, &provider.ApplyOptions{Publish: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("live on version", res.Revision.ID)
}

// BeforeApply edits the native request: here it adds a VPC configuration
// that the portable Spec does not model.
func Example_beforeApply() {
	ctx := context.Background()
	fn, err := provider.Open(ctx, "awslambda://hello?region=eu-west-1")
	if err != nil {
		log.Fatal(err)
	}
	defer fn.Close()
	vpc := &types.VpcConfig{SubnetIds: []string{"subnet-0abc"}, SecurityGroupIds: []string{"sg-0abc"}}
	_, err = fn.Apply(ctx, &provider.Spec{Code: bundle.GoSource("./functions/hello"), Runtime: "go"}, &provider.ApplyOptions{
		Publish: true,
		BeforeApply: func(as func(any) bool) error {
			var create *lambda.CreateFunctionInput
			if as(&create) {
				create.VpcConfig = vpc
			}
			var update *lambda.UpdateFunctionConfigurationInput
			if as(&update) {
				update.VpcConfig = vpc
			}
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
}

// As reaches the *lambda.Client; ErrorAs the SDK's typed errors.
func Example_as() {
	ctx := context.Background()
	fn, err := provider.Open(ctx, "awslambda://hello?region=eu-west-1")
	if err != nil {
		log.Fatal(err)
	}
	defer fn.Close()
	var client *lambda.Client
	if fn.As(&client) {
		out, err := client.GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String(fn.Name())})
		if err == nil {
			fmt.Println(aws.ToInt32(out.ReservedConcurrentExecutions))
		}
	}
	_, err = fn.Get(ctx)
	var nf *types.ResourceNotFoundException
	if fn.ErrorAs(err, &nf) {
		fmt.Println("not deployed yet:", nf.ErrorMessage())
	}
}
