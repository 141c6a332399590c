// Command function is the Lambda function examples/aws deploys: a Go
// handler built as a linux "bootstrap" binary for provided.al2023.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

type request struct {
	Name string `json:"name"`
}

type response struct {
	Message string `json:"message"`
	Version string `json:"version"`
}

func handle(ctx context.Context, req request) (response, error) {
	name := req.Name
	if name == "" {
		name = "world"
	}
	return response{Message: os.Getenv("GREETING") + ", " + name, Version: os.Getenv("AWS_LAMBDA_FUNCTION_VERSION")}, nil
}

func main() { lambda.Start(handle) }
