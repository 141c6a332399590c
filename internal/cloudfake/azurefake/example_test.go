package azurefake_test

import (
	"context"
	"fmt"

	"github.com/updraft-dev/updraft/internal/cloudfake/azurefake"
)

// A test starts the fake, points the armappservice clients at it with
// NewClientFactory (or ARMClientOptions) and every other Azure client at
// it with HTTPClient, then inspects what landed.
func Example() {
	c := azurefake.New(nil)
	defer c.Close()
	cf, err := c.NewClientFactory()
	if err != nil {
		panic(err)
	}
	_, err = cf.NewWebAppsClient().Get(ctxBackground(), "rg", "missing", nil)
	fmt.Println(err != nil, c.CountCalls("arm", "GET"))
	// Output: true 1
}

func ctxBackground() context.Context { return context.Background() }
