package gcpfunctions_test

import (
	"context"
	"fmt"
	"log"

	functions "cloud.google.com/go/functions/apiv2"
	run "cloud.google.com/go/run/apiv2"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/internal/cloudfake/gcpfake"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/gcpfunctions"
)

// Example deploys a Go function to the in-process fake, through the real
// clients, then publishes a second revision without moving traffic.
func Example() {
	ctx := context.Background()
	srv, err := gcpfake.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	fc, _ := functions.NewFunctionClient(ctx, srv.ClientOptions()...)
	defer fc.Close()
	sc, _ := run.NewServicesClient(ctx, srv.ClientOptions()...)
	defer sc.Close()
	rc, _ := run.NewRevisionsClient(ctx, srv.ClientOptions()...)
	defer rc.Close()

	fn, err := gcpfunctions.OpenFunction(ctx, fc, sc, "projects/demo/locations/europe-west1/functions/hello",
		&gcpfunctions.Options{RevisionsClient: rc})
	if err != nil {
		log.Fatal(err)
	}
	defer fn.Close()
	spec := &provider.Spec{Runtime: "go", MemoryMB: 512, Env: map[string]string{"GREETING": "hello"},
		Code: bundle.Files(map[string][]byte{"go.mod": []byte("module example.com/hello\n"), "hello.go": []byte("package hello\n")})}
	res, err := fn.Apply(ctx, spec, &provider.ApplyOptions{Publish: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created:", res.Created, "uploaded:", res.UploadedBytes > 0)

	spec.Env["GREETING"] = "bonjour"
	res, err = fn.Apply(ctx, spec, &provider.ApplyOptions{Publish: true})
	if err != nil {
		log.Fatal(err)
	}
	st, _ := fn.Get(ctx)
	fmt.Println("published:", res.Published, "uploaded:", res.UploadedBytes > 0)
	fmt.Println("route still on the first revision:", st.Routes["live"].Traffic.Stable != res.Revision.ID)
	// Output:
	// created: true uploaded: true
	// published: true uploaded: false
	// route still on the first revision: true
}
