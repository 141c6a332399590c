package azurefunctions_test

import (
	"testing"

	"github.com/updraft-dev/updraft/provider"
)

func TestOpenURL(t *testing.T) {
	for _, bad := range []string{
		"azurefunctions://app",
		"azurefunctions://subscriptions/s/resourceGroups/rg/functions/app",
		"azurefunctions://subscriptions/s/resourceGroups/rg/sites/app?colour=blue",
		"azurefunctions://subscriptions/s/resourceGroups/rg/sites/-bad-",
		"azurefunctions://subscriptions/s/resourceGroups/rg/sites/app?plan=consumption",
	} {
		if _, err := provider.Open(t.Context(), bad); provider.Code(err) != provider.InvalidArgument {
			t.Errorf("Open(%q): got %v, want InvalidArgument", bad, err)
		}
	}
	fn, err := provider.Open(t.Context(), "azurefunctions://subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/sites/orders?plan=premium&location=westeurope&storage=st")
	if err != nil {
		t.Skipf("no default Azure credential on this machine: %v", err)
	}
	defer fn.Close()
	if fn.Name() != "orders" || fn.Target() != "azurefunctions://orders" || fn.Capabilities().MaxProvisioned != 20 {
		t.Errorf("opened %s (%s), caps %+v", fn.Name(), fn.Target(), fn.Capabilities())
	}
}
