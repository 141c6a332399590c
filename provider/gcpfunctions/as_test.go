package gcpfunctions

import (
	"errors"
	"fmt"

	functions "cloud.google.com/go/functions/apiv2"
	"cloud.google.com/go/functions/apiv2/functionspb"
	run "cloud.google.com/go/run/apiv2"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/updraft-dev/updraft/provider"
)

type asTest struct{}

func (asTest) Name() string { return "Google clients, API errors and CreateFunctionRequest" }

func (asTest) FunctionCheck(fn *provider.Function) error {
	var fc *functions.FunctionClient
	if !fn.As(&fc) || fc == nil {
		return errors.New("As(**functions.FunctionClient) failed")
	}
	var sc *run.ServicesClient
	if !fn.As(&sc) || sc == nil {
		return errors.New("As(**run.ServicesClient) failed")
	}
	var wrong *int
	if fn.As(&wrong) {
		return errors.New("As(**int) succeeded")
	}
	return nil
}

func (asTest) ErrorCheck(fn *provider.Function, err error) error {
	var ae *apierror.APIError
	if !fn.ErrorAs(err, &ae) || ae.GRPCStatus().Code() != codes.NotFound {
		return fmt.Errorf("ErrorAs(*apierror.APIError) failed for %v", err)
	}
	if st, ok := status.FromError(err); !ok || st.Code() != codes.NotFound {
		return fmt.Errorf("status.FromError does not reach the gRPC status of %v", err)
	}
	if fn.ErrorAs(err, 42) {
		return errors.New("ErrorAs with a non-pointer succeeded")
	}
	return nil
}

func (asTest) BeforeApply(as func(any) bool) error {
	var req *functionspb.CreateFunctionRequest
	if !as(&req) {
		return errors.New("asFunc(**functionspb.CreateFunctionRequest) failed on create")
	}
	req.Function.Description = "edited by BeforeApply"
	var up *functionspb.UpdateFunctionRequest
	if as(&up) {
		return errors.New("asFunc(**functionspb.UpdateFunctionRequest) succeeded on create")
	}
	return nil
}
