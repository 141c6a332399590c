// Command e2efn is the function the CLI's end-to-end test deploys: an AWS
// Lambda handler that fails when MODE is "fail", so a rollout's gate can
// catch a bad candidate.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

func handle(ctx context.Context, in json.RawMessage) (map[string]string, error) {
	if os.Getenv("MODE") == "fail" {
		return nil, errors.New("candidate is broken (MODE=fail)")
	}
	return map[string]string{"greeting": os.Getenv("GREETING"), "mode": os.Getenv("MODE"),
		"revision": os.Getenv("AWS_LAMBDA_FUNCTION_VERSION")}, nil
}

func main() {
	lambda.Start(handle)
}
