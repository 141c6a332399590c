package azurefunctions_test

import (
	"context"
	"fmt"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/internal/cloudfake/azurefake"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/azurefunctions"
	"github.com/updraft-dev/updraft/trigger"
)

// Deploy a function to a Flex Consumption app. Against Azure, pass a real
// credential (azidentity.NewDefaultAzureCredential) and leave out the
// fake's ARMOptions and Transport; or use provider.Open with an
// azurefunctions:// URL.
func ExampleOpenFunction() {
	ctx := context.Background()
	cloud := azurefake.New(nil) // an in-process Azure, for this example
	defer cloud.Close()

	fn, err := azurefunctions.OpenFunction(ctx, &azfake.TokenCredential{}, azurefake.Subscription, "rg", "orders", &azurefunctions.Options{
		Location: "westeurope", StorageAccount: "storders",
		ARMOptions: cloud.ARMClientOptions(), Transport: cloud.HTTPClient(), PollInterval: time.Millisecond,
	})
	if err != nil {
		panic(err)
	}
	defer fn.Close()
	spec := &provider.Spec{
		Code:     bundle.Files(map[string][]byte{"handler": []byte("#!/bin/sh\nexec true\n")}),
		Runtime:  "go",
		MemoryMB: 512,
		Secrets:  map[string]string{"API_KEY": "https://kv-orders.vault.azure.net/secrets/api-key"},
		Triggers: []trigger.Trigger{trigger.HTTP{Key: "web"}, trigger.Queue{Key: "jobs", Source: "servicebus:sb-orders/jobs"}},
	}
	res, err := fn.Apply(ctx, spec, &provider.ApplyOptions{Publish: true})
	if err != nil {
		panic(err)
	}
	site, _ := cloud.Site("rg", "orders", "")
	fmt.Println("created:", res.Created, "revision:", res.Revision.ID)
	fmt.Println("API_KEY =", site.Settings["API_KEY"])
	fmt.Println("has jobs/function.json:", site.Files["jobs/function.json"] != nil)
	fmt.Println("weighted traffic:", fn.Capabilities().WeightedTraffic)
	// Output:
	// created: true revision: 1
	// API_KEY = @Microsoft.KeyVault(SecretUri=https://kv-orders.vault.azure.net/secrets/api-key)
	// has jobs/function.json: true
	// weighted traffic: false
}
