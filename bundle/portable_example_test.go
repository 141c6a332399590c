package bundle_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/updraft-dev/updraft/bundle"
)

// One Go function package, built as the Cloud Functions source zip: the
// generated root package and module files at the top, the user's module
// under _user/.
func ExampleGoFunction() {
	b, err := bundle.Build(context.Background(), bundle.GoFunction("../examples/portable/fn"), &bundle.Options{NoCache: true})
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range b.Manifest {
		if !strings.HasPrefix(e.Name, "_user/") {
			fmt.Println(e.Name)
		}
	}
	// Output:
	// go.mod
	// go.sum
	// updraftfn.go
}
