package azurefunctions_test

import (
	"context"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"

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
	return &azurefunctions.Options{
		Plan: e.plan, Location: "westeurope", StorageAccount: "stacct",
		ARMOptions: e.cloud.ARMClientOptions(), Transport: e.cloud.HTTPClient(),
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
	}, nil)
}

func TestConformancePremium(t *testing.T) {
	providertest.RunConformanceTests(t, func(ctx context.Context, t *testing.T) (providertest.Harness, error) {
		return &harness{e: newEnv(t, azurefunctions.Premium)}, nil
	}, nil)
}
