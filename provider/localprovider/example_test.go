package localprovider_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/localprovider"
	"github.com/updraft-dev/updraft/trigger"
)

// Example deploys an aws-lambda-go function on this machine and calls it
// through the gateway, as its function URL.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "updraft-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	h, err := localprovider.NewHost(ctx, &localprovider.Options{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close() // kills the function's instances
	fn, err := h.OpenFunction(ctx, "hello")
	if err != nil {
		log.Fatal(err)
	}
	defer fn.Close()

	spec := &provider.Spec{
		Code:     bundle.GoSource("testdata/hello"), // built for this machine
		Runtime:  "go",
		Triggers: []trigger.Trigger{trigger.HTTP{Key: "web", Auth: trigger.AuthNone}},
	}
	res, err := fn.Apply(ctx, spec, &provider.ApplyOptions{Publish: true})
	if err != nil {
		log.Fatal(err)
	}
	resp, err := http.Get(h.URL("hello") + "?name=gopher")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Printf("revision %s: %d %s\n", res.Revision.ID, resp.StatusCode, body)

	s := h.Summarize("hello", nil).Total
	fmt.Printf("%d invocation, %d cold start, %d errors\n", s.Invocations, s.ColdStarts, s.Errors)
	// Output:
	// revision 1: 200 hello, gopher
	// 1 invocation, 1 cold start, 0 errors
}

// Example_url opens a local function by URL, with its state in a given
// directory.
func Example_url() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "updraft-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	fn, err := provider.Open(ctx, "local://hello?dir="+dir)
	if err != nil {
		log.Fatal(err)
	}
	defer fn.Close() // the last function open on dir stops its host
	_, err = fn.Get(ctx)
	fmt.Println(fn.Target(), provider.Code(err))
	// Output:
	// local://hello NotFound
}
