// Command thumbs is the function of localprovider's storage example: a
// storage handler on the portable function package, which prints the
// object events it gets.
package main

import (
	"context"
	"fmt"

	"github.com/updraft-dev/updraft/function"
)

func main() {
	function.Storage("uploads", func(ctx context.Context, o function.Object) error {
		fmt.Printf("%s %s/%s: %d bytes, ETag %s\n", o.Event, o.Bucket, o.Key, o.Size, o.ETag)
		return nil
	})
	function.Main()
}
