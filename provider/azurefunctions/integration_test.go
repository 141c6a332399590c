package azurefunctions_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/azurefunctions"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/provider/providertest"
	"github.com/updraft-dev/updraft/trigger"
)

// TestIntegrationAzure runs the conformance suite against a real
// subscription. It runs only with UPDRAFT_IT_AZURE=1 and a credential that
// azidentity.NewDefaultAzureCredential finds (az login, environment, or
// workload identity), and needs:
//
//	AZURE_SUBSCRIPTION_ID        the subscription
//	UPDRAFT_IT_AZURE_RG          an existing resource group
//	UPDRAFT_IT_AZURE_LOCATION    a region with Flex Consumption (e.g. westeurope)
//	UPDRAFT_IT_AZURE_STORAGE     a storage account in that group; the caller
//	                             needs Storage Blob Data Contributor on it
//	UPDRAFT_IT_AZURE_PLAN        flex (default) or premium
//
// Each test creates an app named updraft-it-<random>-N (with its plan) and
// deletes it.
func TestIntegrationAzure(t *testing.T) {
	if os.Getenv("UPDRAFT_IT_AZURE") != "1" {
		t.Skip("set UPDRAFT_IT_AZURE=1 (and AZURE_SUBSCRIPTION_ID, UPDRAFT_IT_AZURE_RG, _LOCATION, _STORAGE) to run against Azure")
	}
	sub, rg, loc, st := os.Getenv("AZURE_SUBSCRIPTION_ID"), os.Getenv("UPDRAFT_IT_AZURE_RG"), os.Getenv("UPDRAFT_IT_AZURE_LOCATION"), os.Getenv("UPDRAFT_IT_AZURE_STORAGE")
	if sub == "" || rg == "" || loc == "" || st == "" {
		t.Fatal("AZURE_SUBSCRIPTION_ID, UPDRAFT_IT_AZURE_RG, UPDRAFT_IT_AZURE_LOCATION and UPDRAFT_IT_AZURE_STORAGE must be set")
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := armmonitor.NewMetricsClient(sub, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	plan := azurefunctions.Plan(os.Getenv("UPDRAFT_IT_AZURE_PLAN"))
	prefix := fmt.Sprintf("updraft-it-%d", time.Now().UnixNano()%1e8)
	n := 0
	providertest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (providertest.Harness, error) {
		n++
		name := fmt.Sprintf("%s-%d", prefix, n)
		h := &itHarness{cred: cred, sub: sub, rg: rg, name: name, opts: &azurefunctions.Options{
			Plan: plan, Location: loc, StorageAccount: st, PlanName: name + "-plan", MetricsClient: mc,
			PollInterval: 5 * time.Second, DeployTimeout: 20 * time.Minute}}
		t.Cleanup(h.cleanup)
		return h, nil
	}, nil)
}

type itHarness struct {
	cred    azcore.TokenCredential
	sub, rg string
	name    string
	opts    *azurefunctions.Options
}

func (h *itHarness) MakeDriver(ctx context.Context) (driver.Function, error) {
	return azurefunctions.OpenDriver(h.cred, h.sub, h.rg, h.name, h.opts)
}

func (h *itHarness) MakeDriverForNonexistentFunction(ctx context.Context) (driver.Function, error) {
	return azurefunctions.OpenDriver(h.cred, h.sub, h.rg, h.name+"-none", h.opts)
}

func (h *itHarness) Spec(ctx context.Context) (*provider.Spec, error) {
	return &provider.Spec{Code: bundle.GoSource("./testdata/ithandler"), Runtime: "go", MemoryMB: 512,
		Triggers: []trigger.Trigger{trigger.HTTP{Key: "web", Auth: trigger.AuthNone}}}, nil
}

func (h *itHarness) Triggers() []trigger.Trigger {
	return []trigger.Trigger{
		trigger.Queue{Key: "jobs", Source: "updraft-it-jobs"},
		trigger.Schedule{Key: "tick", Cron: "0 3 * * *"},
		trigger.Queue{Key: "more", Source: "updraft-it-more"},
	}
}

func (h *itHarness) Close() {}

func (h *itHarness) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	d, err := h.MakeDriver(ctx)
	if err == nil {
		_ = d.Delete(ctx)
	}
}
