// Command azure deploys a Go function to Azure Functions with updraft and
// rolls a new version out, gated by a smoke invoke and an Azure Monitor
// error-rate gate, rolling back automatically if a gate fails.
//
// It needs a credential that azidentity.NewDefaultAzureCredential finds
// (az login is enough), a resource group and a storage account for the
// app's host storage and deployment container (the caller needs Storage
// Blob Data Contributor on it, to keep revisions):
//
//	go run ./examples/azure -subscription SUB -group rg-hello -app updraft-hello \
//	    -location westeurope -storage sthello -greeting Hello
//
// Run it again with another -greeting to roll out a new revision. On
// Flex Consumption (the default, -plan flex) there are no slots: the
// candidate is deployed, gated live, and kept, or the previous package is
// redeployed from the revision container. With -plan premium the
// candidate is deployed to the staging slot, gated on the slot's host,
// then swapped in (rollback swaps back). -dry-run only prints the plan.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/azurefunctions"
	"github.com/updraft-dev/updraft/trigger"
)

type config struct {
	subscription, group, app, location, storage, plan, greeting string
	dryRun                                                      bool
	// open, when set, replaces provider.Open (the test uses a fake).
	open func(ctx context.Context, url string) (*provider.Function, error)
	log  *slog.Logger
}

func main() {
	var c config
	flag.StringVar(&c.subscription, "subscription", os.Getenv("AZURE_SUBSCRIPTION_ID"), "Azure subscription id")
	flag.StringVar(&c.group, "group", "", "resource group (must exist)")
	flag.StringVar(&c.app, "app", "updraft-hello", "function app name")
	flag.StringVar(&c.location, "location", "westeurope", "region, to create the app")
	flag.StringVar(&c.storage, "storage", "", "storage account, to create the app")
	flag.StringVar(&c.plan, "plan", "flex", "hosting plan: flex or premium")
	flag.StringVar(&c.greeting, "greeting", "Hello", "GREETING app setting: change it to roll out a new revision")
	flag.BoolVar(&c.dryRun, "dry-run", false, "print the plan and stop")
	flag.Parse()
	c.open = provider.Open
	c.log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(context.Background(), &c); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, c *config) error {
	url := fmt.Sprintf("azurefunctions://subscriptions/%s/resourceGroups/%s/sites/%s?plan=%s&location=%s&storage=%s",
		c.subscription, c.group, c.app, c.plan, c.location, c.storage)
	fn, err := c.open(ctx, url)
	if err != nil {
		return err
	}
	defer fn.Close()
	fns := []*provider.Function{fn}
	spec := &provider.Spec{
		Code:     bundle.GoFunction("./examples/azure/function"),
		Runtime:  "go",
		Timeout:  30 * time.Second,
		Env:      map[string]string{"GREETING": c.greeting},
		Labels:   map[string]string{"app": "updraft-example"},
		Triggers: []trigger.Trigger{trigger.HTTP{Key: "web", Auth: trigger.AuthNone}},
	}
	plan, err := deploy.Plan(ctx, fns, spec, nil)
	if err != nil {
		return err
	}
	fmt.Println(plan)
	if c.dryRun || !plan.HasChanges() {
		return nil
	}
	// Flex runs only the live revision, so the candidate is gated once it
	// is live; Premium gates it in the staging slot first.
	strategy := deploy.AllAtOnce()
	if azurefunctions.Plan(c.plan) == azurefunctions.Premium {
		strategy = deploy.BlueGreen()
	}
	res, err := deploy.Rollout(ctx, fns, spec, &deploy.RolloutOptions{
		Strategy: strategy,
		Gates:    []deploy.Gate{deploy.InvokeGate(nil), deploy.ErrorRateGate(0.01, 20)},
		Logger:   c.log,
	})
	if res != nil {
		fmt.Printf("rollout %s: %s\n", res.ID, res.Outcome)
	}
	if err != nil {
		return err
	}
	st, err := fn.Get(ctx)
	if err != nil {
		return err
	}
	fmt.Println("endpoint:", st.Endpoint)
	return nil
}
