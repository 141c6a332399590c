package main

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor"

	"github.com/updraft-dev/updraft/internal/cloudfake/azurefake"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/azurefunctions"
)

// The example runs end to end against the in-process Azure fake: first
// run creates the app, the second rolls out a new greeting.
func TestExampleAgainstFake(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the function")
	}
	if err := os.Chdir("../.."); err != nil { // the example's paths are relative to the module root
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chdir("examples/azure") })
	cloud := azurefake.New(nil)
	defer cloud.Close()
	for _, plan := range []string{"flex", "premium"} {
		for _, greeting := range []string{"Hello", "Bonjour"} {
			c := &config{subscription: azurefake.Subscription, group: "rg", app: "hello-" + plan, location: "westeurope", storage: "st",
				plan: plan, greeting: greeting, log: slog.New(slog.DiscardHandler),
				open: func(ctx context.Context, _ string) (*provider.Function, error) {
					mc, err := armmonitor.NewMetricsClient(azurefake.Subscription, &azfake.TokenCredential{}, cloud.MonitorClientOptions())
					if err != nil {
						return nil, err
					}
					return azurefunctions.OpenFunction(ctx, &azfake.TokenCredential{}, azurefake.Subscription, "rg", "hello-"+plan, &azurefunctions.Options{
						Plan: azurefunctions.Plan(plan), Location: "westeurope", StorageAccount: "st",
						ARMOptions: cloud.ARMClientOptions(), Transport: cloud.HTTPClient(), PollInterval: time.Millisecond, RetryDelay: time.Millisecond, MetricsClient: mc,
					})
				}}
			if err := run(t.Context(), c); err != nil {
				t.Fatalf("%s, greeting %s: %v", plan, greeting, err)
			}
			site, _ := cloud.Site("rg", "hello-"+plan, "")
			if site.Files["handler"] == nil || site.Files["host.json"] == nil || site.Files["web/function.json"] == nil {
				t.Fatalf("%s: the deployed package lacks handler, host.json or web/function.json", plan)
			}
			if site.Settings["GREETING"] != greeting {
				t.Fatalf("%s: production GREETING = %q after rolling out %q", plan, site.Settings["GREETING"], greeting)
			}
		}
	}
}
