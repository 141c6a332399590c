package awslambda

import (
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/updraft-dev/updraft/provider/driver"
)

// OpenDriver returns the driver behind OpenFunction, for the conformance
// harness and the tests that count calls per driver operation.
func OpenDriver(client *lambda.Client, name string, opts *Options) (driver.Function, error) {
	return openDriver(client, name, opts)
}

// SetMaxDirectUpload lowers the inline upload limit of o.
func SetMaxDirectUpload(o *Options, n int64) { o.maxDirectUpload = n }
