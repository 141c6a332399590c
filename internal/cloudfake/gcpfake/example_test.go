package gcpfake_test

import (
	"context"
	"fmt"
	"log"

	functions "cloud.google.com/go/functions/apiv2"
	"cloud.google.com/go/functions/apiv2/functionspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/updraft-dev/updraft/internal/cloudfake/gcpfake"
)

// Example points the real Cloud Functions client at the fake and injects
// a fault.
func Example() {
	ctx := context.Background()
	srv, err := gcpfake.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	fc, err := functions.NewFunctionClient(ctx, srv.ClientOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer fc.Close()

	rts, _ := fc.ListRuntimes(ctx, &functionspb.ListRuntimesRequest{Parent: "projects/p/locations/us-central1"})
	fmt.Println("runtimes:", len(rts.Runtimes) > 0)

	srv.Inject(gcpfake.Fault{Method: "GetFunction", Code: codes.Unavailable})
	_, err = fc.GetFunction(ctx, &functionspb.GetFunctionRequest{Name: "projects/p/locations/us-central1/functions/f"})
	fmt.Println(status.Code(err))
	_, err = fc.GetFunction(ctx, &functionspb.GetFunctionRequest{Name: "projects/p/locations/us-central1/functions/f"})
	fmt.Println(status.Code(err))
	fmt.Println(srv.Calls())
	// Output:
	// runtimes: true
	// Unavailable
	// NotFound
	// [ListRuntimes GetFunction GetFunction]
}
