// Command function is the quickstart's function: an ordinary AWS Lambda
// handler built with github.com/aws/aws-lambda-go, answering HTTP requests
// from its function URL. The same binary runs on AWS Lambda (provided.al2023)
// and, unchanged, on updraft's local:// provider.
package main

import (
	"context"
	"encoding/json"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

type greeting struct {
	Message  string `json:"message"`
	Version  string `json:"version"`
	Revision string `json:"revision"`
}

func handle(ctx context.Context, req events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
	name := req.QueryStringParameters["name"]
	if name == "" {
		name = "world"
	}
	body, err := json.Marshal(greeting{
		Message:  os.Getenv("GREETING") + ", " + name,
		Version:  os.Getenv("VERSION"),
		Revision: os.Getenv("AWS_LAMBDA_FUNCTION_VERSION"),
	})
	if err != nil {
		return events.LambdaFunctionURLResponse{}, err
	}
	return events.LambdaFunctionURLResponse{
		StatusCode: 200,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(body),
	}, nil
}

func main() { lambda.Start(handle) }
