package awslambda

import (
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/updraft-dev/updraft/provider"
)

type asTest struct{}

func (asTest) Name() string { return "lambda client, SDK errors and CreateFunctionInput" }

func (asTest) FunctionCheck(fn *provider.Function) error {
	var c *lambda.Client
	if !fn.As(&c) || c == nil {
		return errors.New("As(**lambda.Client) failed")
	}
	var wrong *int
	if fn.As(&wrong) {
		return errors.New("As(**int) succeeded")
	}
	return nil
}

func (asTest) ErrorCheck(fn *provider.Function, err error) error {
	var nf *types.ResourceNotFoundException
	if !fn.ErrorAs(err, &nf) {
		return fmt.Errorf("ErrorAs(*types.ResourceNotFoundException) failed for %v", err)
	}
	var ae smithy.APIError
	if !fn.ErrorAs(err, &ae) || ae.ErrorCode() != "ResourceNotFoundException" {
		return fmt.Errorf("ErrorAs(smithy.APIError) failed for %v", err)
	}
	if !errors.As(err, &nf) {
		return errors.New("errors.As does not reach the SDK error")
	}
	if fn.ErrorAs(err, 42) {
		return errors.New("ErrorAs with a non-pointer succeeded")
	}
	return nil
}

func (asTest) BeforeApply(as func(any) bool) error {
	var in *lambda.CreateFunctionInput
	if !as(&in) {
		return errors.New("asFunc(**lambda.CreateFunctionInput) failed on create")
	}
	in.Description = aws.String("edited by BeforeApply")
	var up *lambda.UpdateFunctionConfigurationInput
	if as(&up) {
		return errors.New("asFunc(**lambda.UpdateFunctionConfigurationInput) succeeded on create")
	}
	return nil
}
