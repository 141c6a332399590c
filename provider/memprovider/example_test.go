package memprovider_test

import (
	"context"
	"fmt"
	"log"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/memprovider"
)

// A test can make the cloud fail a chosen step and count what was changed.
func ExampleCloud_InjectFault() {
	ctx := context.Background()
	cloud := memprovider.NewCloud(nil)
	fn, err := cloud.OpenFunction(ctx, "orders")
	if err != nil {
		log.Fatal(err)
	}
	defer fn.Close()
	spec := &provider.Spec{Code: bundle.Files(map[string][]byte{"main.py": []byte("def handler(e, c): return 1\n")}),
		Runtime: "python3.13", Entrypoint: "main.handler"}
	if _, err := fn.Apply(ctx, spec, &provider.ApplyOptions{Publish: true}); err != nil {
		log.Fatal(err)
	}

	cloud.InjectFault(memprovider.Fault{Op: memprovider.OpSetTraffic, Code: provider.ResourceExhausted})
	err = fn.SetTraffic(ctx, "live", provider.Traffic{Stable: "1"}, nil)
	fmt.Println("first SetTraffic:", provider.Code(err))
	err = fn.SetTraffic(ctx, "live", provider.Traffic{Stable: "1"}, nil)
	fmt.Println("second SetTraffic:", provider.Code(err))

	cloud.ResetCounters()
	if _, err := fn.Apply(ctx, spec, &provider.ApplyOptions{Publish: true}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("mutations of a no-op apply:", cloud.Mutations())
	// Output:
	// first SetTraffic: ResourceExhausted
	// second SetTraffic: OK
	// mutations of a no-op apply: 0
}
