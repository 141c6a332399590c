// Command fn is the test function of the deploy engine's local:// tests:
// an AWS Lambda handler (github.com/aws/aws-lambda-go) answering HTTP
// requests with the status in $STATUS (default 200) and $VERSION in its
// body, so that a candidate answering 500 differs from a healthy one in
// configuration only.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func handle(ctx context.Context, req events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
	status := 200
	if s, err := strconv.Atoi(os.Getenv("STATUS")); err == nil {
		status = s
	}
	return events.LambdaFunctionURLResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       fmt.Sprintf(`{"version":%q,"path":%q}`, os.Getenv("VERSION"), req.RawPath),
	}, nil
}

func main() { lambda.Start(handle) }
