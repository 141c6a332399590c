package lambdafake_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/updraft-dev/updraft/internal/cloudfake/awswire"
	"github.com/updraft-dev/updraft/internal/cloudfake/lambdafake"
)

// A test points the real Lambda client at the fake, creates a function,
// waits for it to leave Pending as it would against AWS, and then sees an
// injected throttle as the typed SDK error.
func Example() {
	ctx := context.Background()
	fake := lambdafake.New(&lambdafake.Options{CreateDelay: 20 * time.Millisecond})
	defer fake.Close()

	client := lambda.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(fake.URL()),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		// No retries, so that an injected fault reaches the caller.
		Retryer: func() aws.Retryer { return aws.NopRetryer{} },
	})

	var code bytes.Buffer
	zw := zip.NewWriter(&code)
	w, _ := zw.Create("bootstrap")
	w.Write([]byte("#!/bin/sh\necho hello\n"))
	zw.Close()

	created, err := client.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("hello"),
		Role:         aws.String("arn:aws:iam::123456789012:role/hello"),
		Runtime:      types.RuntimeProvidedal2023,
		Handler:      aws.String("bootstrap"),
		Code:         &types.FunctionCode{ZipFile: code.Bytes()},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created:", created.State, created.LastUpdateStatus)

	waiter := lambda.NewFunctionActiveV2Waiter(client, func(o *lambda.FunctionActiveV2WaiterOptions) {
		o.MinDelay, o.MaxDelay = 5*time.Millisecond, 10*time.Millisecond
	})
	got, err := waiter.WaitForOutput(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("hello")}, time.Second)
	if err != nil {
		log.Fatal(err)
	}
	cfg := got.Configuration
	fmt.Println("active: ", cfg.State, cfg.LastUpdateStatus)
	fmt.Println(aws.ToString(cfg.FunctionArn), aws.ToInt32(cfg.MemorySize), aws.ToInt32(cfg.Timeout))

	fake.Inject(awswire.Fault{Op: "GetFunction", Status: 429, Type: "TooManyRequestsException", Message: "Rate exceeded"})
	_, err = client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("hello")})
	var ae smithy.APIError
	if errors.As(err, &ae) {
		fmt.Println("fault:  ", ae.ErrorCode(), ae.ErrorMessage())
	}
	// Output:
	// created: Pending InProgress
	// active:  Active Successful
	// arn:aws:lambda:us-east-1:123456789012:function:hello 128 3
	// fault:   TooManyRequestsException Rate exceeded
}

// FailNextUpdate makes the next update end as a failed deployment does in
// Lambda: LastUpdateStatus Failed with a reason, the old configuration
// still live.
func ExampleServer_FailNextUpdate() {
	ctx := context.Background()
	fake := lambdafake.New(nil) // zero delays: the next read sees the final state
	defer fake.Close()
	client := lambda.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(fake.URL()),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})

	var code bytes.Buffer
	zw := zip.NewWriter(&code)
	zw.Create("bootstrap")
	zw.Close()
	if _, err := client.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("hello"),
		Role:         aws.String("arn:aws:iam::123456789012:role/hello"),
		Runtime:      types.RuntimeProvidedal2023,
		Handler:      aws.String("bootstrap"),
		Code:         &types.FunctionCode{ZipFile: code.Bytes()},
	}); err != nil {
		log.Fatal(err)
	}

	fake.FailNextUpdate("hello", "InvalidSubnet", "Subnet subnet-1 does not exist")
	if _, err := client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("hello"),
		MemorySize:   aws.Int32(512),
	}); err != nil {
		log.Fatal(err)
	}
	got, err := client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("hello")})
	if err != nil {
		log.Fatal(err)
	}
	cfg := got.Configuration
	fmt.Println(cfg.State, cfg.LastUpdateStatus, cfg.LastUpdateStatusReasonCode)
	fmt.Println(aws.ToString(cfg.LastUpdateStatusReason))
	fmt.Println("memory still", aws.ToInt32(cfg.MemorySize))
	// Output:
	// Active Failed InvalidSubnet
	// Subnet subnet-1 does not exist
	// memory still 128
}
