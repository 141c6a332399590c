package awswire_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/updraft-dev/updraft/internal/cloudfake/awswire"
)

// miniLambda is the smallest fake built on awswire: it serves Lambda's
// GetAccountSettings, recording the call and honouring injected faults.
type miniLambda struct {
	awswire.Recorder
}

func (f *miniLambda) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != "GET" || r.URL.Path != "/2016-08-19/account-settings" {
		awswire.WriteError(w, 404, "UnknownOperationException", "no route for "+r.URL.Path)
		return
	}
	if f.Begin("GetAccountSettings", w, r) {
		return // a fault answered
	}
	awswire.WriteJSON(w, 200, map[string]any{
		"AccountLimit": map[string]any{"ConcurrentExecutions": 1000, "CodeSizeZipped": 52428800},
	})
}

// A fake embeds Recorder, calls Begin first in each operation and answers
// with WriteJSON and WriteError; the real SDK client parses both, and an
// injected fault reaches the caller as the SDK's typed error.
func Example() {
	ctx := context.Background()
	fake := &miniLambda{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	client := lambda.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})

	out, err := client.GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("concurrency:", out.AccountLimit.ConcurrentExecutions)

	// Let one call pass, then fail the next with a 409.
	fake.Inject(awswire.Fault{Op: "GetAccountSettings", After: 1, Status: 409, Type: "ResourceConflictException"})
	_, err = client.GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
	fmt.Println("after 1:", err == nil)
	_, err = client.GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
	var conflict *types.ResourceConflictException
	if errors.As(err, &conflict) {
		fmt.Println("fault:", conflict.ErrorCode(), "-", conflict.ErrorMessage())
	}
	fmt.Println("calls:", fake.Calls())
	// Output:
	// concurrency: 1000
	// after 1: true
	// fault: ResourceConflictException - injected fault: ResourceConflictException
	// calls: [GetAccountSettings GetAccountSettings GetAccountSettings]
}

// WriteError puts the error type in X-Amzn-ErrorType and the message in a
// JSON body, the REST-JSON shape Lambda and Scheduler use.
func ExampleWriteError() {
	rec := httptest.NewRecorder()
	awswire.WriteError(rec, http.StatusTooManyRequests, "TooManyRequestsException", "Rate exceeded")
	fmt.Println(rec.Code, rec.Header().Get("X-Amzn-ErrorType"), rec.Header().Get("Retry-After"))
	fmt.Print(rec.Body.String())
	// Output:
	// 429 TooManyRequestsException 1
	// {"Type":"User","message":"Rate exceeded"}
}
