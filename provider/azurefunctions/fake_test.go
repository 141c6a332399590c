package azurefunctions_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appservice/armappservice/v6"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/internal/cloudfake/azurefake"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/azurefunctions"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/provider/providertest"
	"github.com/updraft-dev/updraft/trigger"
)

const rg = "rg"

// env is a fake cloud and the options that reach it.
type env struct {
	cloud *azurefake.Cloud
	plan  azurefunctions.Plan
}

func newEnv(t testing.TB, plan azurefunctions.Plan) *env {
	c := azurefake.New(nil)
	t.Cleanup(c.Close)
	return &env{cloud: c, plan: plan}
}

func (e *env) options() *azurefunctions.Options {
	mc, err := armmonitor.NewMetricsClient(azurefake.Subscription, &azfake.TokenCredential{}, e.cloud.MonitorClientOptions())
	if err != nil {
		panic(err)
	}
	arm := e.cloud.ARMClientOptions()
	arm.Retry = policy.RetryOptions{RetryDelay: time.Millisecond}
	return &azurefunctions.Options{
		Plan: e.plan, Location: "westeurope", StorageAccount: "stacct",
		ARMOptions: arm, Transport: e.cloud.HTTPClient(), MetricsClient: mc,
		PollInterval: time.Millisecond, RetryDelay: time.Millisecond,
	}
}

func (e *env) driver(t testing.TB, app string) driver.Function {
	d, err := azurefunctions.OpenDriver(&azfake.TokenCredential{}, azurefake.Subscription, rg, app, e.options())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (e *env) open(t testing.TB, app string) *provider.Function {
	f := provider.NewFunction(e.driver(t, app))
	t.Cleanup(func() { f.Close() })
	return f
}

func handlerCode(version string) bundle.Source {
	return bundle.Files(map[string][]byte{"handler": []byte("#!/bin/sh\n# " + version + "\nexec true\n")})
}

func baseSpec() *provider.Spec {
	return &provider.Spec{Code: handlerCode("v1"), Runtime: "go", Triggers: []trigger.Trigger{trigger.HTTP{Key: "web"}}}
}

type harness struct{ e *env }

func (h *harness) MakeDriver(ctx context.Context) (driver.Function, error) {
	return azurefunctions.OpenDriver(&azfake.TokenCredential{}, azurefake.Subscription, rg, "fn", h.e.options())
}

func (h *harness) MakeDriverForNonexistentFunction(ctx context.Context) (driver.Function, error) {
	return azurefunctions.OpenDriver(&azfake.TokenCredential{}, azurefake.Subscription, rg, "missing", h.e.options())
}

func (h *harness) Spec(ctx context.Context) (*provider.Spec, error) { return baseSpec(), nil }

func (h *harness) Triggers() []trigger.Trigger {
	return []trigger.Trigger{
		trigger.Queue{Key: "jobs", Source: "jobs"},
		trigger.Schedule{Key: "tick", Cron: "*/5 * * * *"},
		trigger.Storage{Key: "uploads", Bucket: "uploads"},
	}
}

func (h *harness) Close() {}

func TestConformanceFlex(t *testing.T) {
	providertest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (providertest.Harness, error) {
		return &harness{e: newEnv(t, azurefunctions.Flex)}, nil
	}, []providertest.AsTest{asTest{}})
}

func TestConformancePremium(t *testing.T) {
	providertest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (providertest.Harness, error) {
		return &harness{e: newEnv(t, azurefunctions.Premium)}, nil
	}, nil)
}

// asTest checks the native types: the clients, the SDK's ResponseError,
// and the Site a BeforeApply hook edits.
type asTest struct{}

func (asTest) Name() string { return "azure native types" }

func (asTest) FunctionCheck(fn *provider.Function) error {
	var web *armappservice.WebAppsClient
	var mc *armmonitor.MetricsClient
	if !fn.As(&web) || web == nil || !fn.As(&mc) || mc == nil {
		return errors.New("As did not give the WebAppsClient and MetricsClient")
	}
	return nil
}

func (asTest) ErrorCheck(fn *provider.Function, err error) error {
	var re *azcore.ResponseError
	if !fn.ErrorAs(err, &re) || re.StatusCode != http.StatusNotFound {
		return fmt.Errorf("ErrorAs(*azcore.ResponseError) failed for %v", err)
	}
	return nil
}

func (asTest) BeforeApply(as func(any) bool) error {
	var site *armappservice.Site
	if !as(&site) {
		return errors.New("BeforeApply did not offer the *armappservice.Site")
	}
	site.Properties.ClientAffinityEnabled = to.Ptr(false)
	return nil
}
