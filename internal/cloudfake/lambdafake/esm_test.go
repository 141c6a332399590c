package lambdafake_test

import (
	"context"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TestESMFailureHandling checks the error-handling parameters of event
// source mappings: their defaults per source kind, their ranges, and that
// SQS refuses the stream-only ones.
func TestESMFailureHandling(t *testing.T) {
	ctx := context.Background()
	_, c := setup(t, nil)
	create(t, c, "fn")
	report := []types.FunctionResponseType{types.FunctionResponseTypeReportBatchItemFailures}
	kinesis := "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"
	queue := "arn:aws:sqs:us-east-1:123456789012:jobs"

	// A stream mapping reports Lambda's defaults: retry until the
	// records expire (-1), no bisection, no response types.
	out, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(kinesis), FunctionName: aws.String("fn"),
		StartingPosition: types.EventSourcePositionLatest})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(out.MaximumRetryAttempts) != -1 || out.BisectBatchOnFunctionError == nil || *out.BisectBatchOnFunctionError || len(out.FunctionResponseTypes) != 0 {
		t.Fatalf("stream defaults: retries %v bisect %v types %v", out.MaximumRetryAttempts, out.BisectBatchOnFunctionError, out.FunctionResponseTypes)
	}
	// Update sets all three; Get reads them back.
	if _, err := c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: out.UUID, MaximumRetryAttempts: aws.Int32(3),
		BisectBatchOnFunctionError: aws.Bool(true), FunctionResponseTypes: report}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: out.UUID})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(got.MaximumRetryAttempts) != 3 || !aws.ToBool(got.BisectBatchOnFunctionError) || !slices.Equal(got.FunctionResponseTypes, report) {
		t.Fatalf("after update: retries %v bisect %v types %v", got.MaximumRetryAttempts, got.BisectBatchOnFunctionError, got.FunctionResponseTypes)
	}
	// The model's ranges.
	for _, in := range []*lambda.UpdateEventSourceMappingInput{
		{UUID: out.UUID, MaximumRetryAttempts: aws.Int32(10001)},
		{UUID: out.UUID, MaximumRetryAttempts: aws.Int32(-2)},
		{UUID: out.UUID, FunctionResponseTypes: []types.FunctionResponseType{"ReportEverything"}},
	} {
		if _, err := c.UpdateEventSourceMapping(ctx, in); code(t, err) != "ValidationException" {
			t.Errorf("update %+v: %v, want ValidationException", in, err)
		}
	}
	if got, _ := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: out.UUID}); aws.ToInt32(got.MaximumRetryAttempts) != 3 {
		t.Errorf("a refused update changed the mapping: retries %v", got.MaximumRetryAttempts)
	}

	// SQS takes the response type and refuses the stream-only parameters,
	// on create and on update; its mappings report neither.
	q, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(queue), FunctionName: aws.String("fn"), FunctionResponseTypes: report})
	if err != nil {
		t.Fatal(err)
	}
	if q.MaximumRetryAttempts != nil || q.BisectBatchOnFunctionError != nil || !slices.Equal(q.FunctionResponseTypes, report) {
		t.Fatalf("sqs mapping: retries %v bisect %v types %v", q.MaximumRetryAttempts, q.BisectBatchOnFunctionError, q.FunctionResponseTypes)
	}
	if _, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(queue + "2"), FunctionName: aws.String("fn"),
		MaximumRetryAttempts: aws.Int32(2)}); code(t, err) != "InvalidParameterValueException" {
		t.Errorf("sqs create with MaximumRetryAttempts: %v", err)
	}
	if _, err := c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: q.UUID, BisectBatchOnFunctionError: aws.Bool(false)}); code(t, err) != "InvalidParameterValueException" {
		t.Errorf("sqs update with BisectBatchOnFunctionError: %v", err)
	}
	// An empty list clears the response types.
	if _, err := c.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: q.UUID, FunctionResponseTypes: []types.FunctionResponseType{}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: q.UUID}); len(got.FunctionResponseTypes) != 0 {
		t.Errorf("after clearing, types %v", got.FunctionResponseTypes)
	}
}
