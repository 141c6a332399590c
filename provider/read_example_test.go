package provider_test

import (
	"context"
	"fmt"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/memprovider"
)

// Read reads what a Spec manages: here the route and nothing about
// triggers or provisioned concurrency, which the Spec leaves unmanaged.
// memprovider cannot read by scope, so it reads everything, as Get.
func ExampleFunction_Read() {
	ctx := context.Background()
	fn, err := memprovider.NewCloud(nil).OpenFunction(ctx, "hello")
	if err != nil {
		panic(err)
	}
	defer fn.Close()
	spec := &provider.Spec{Code: bundle.Files(map[string][]byte{"index.js": []byte("exports.handler = async () => 1\n")}), Runtime: "nodejs22", Entrypoint: "index.handler"}
	if _, err := fn.Apply(ctx, spec, &provider.ApplyOptions{Publish: true}); err != nil {
		panic(err)
	}
	st, err := fn.Read(ctx, provider.ReadOptionsFor(spec))
	if err != nil {
		panic(err)
	}
	fmt.Println(st.Routes[provider.DefaultRoute].Traffic.Stable)
	// Output: 1
}
