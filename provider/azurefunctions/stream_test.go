package azurefunctions_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/azurefunctions"
	"github.com/updraft-dev/updraft/trigger"
)

// TestCosmosRetryRoundTrip: a Cosmos DB trigger's MaxRetries reaches the
// deployed function.json as a retry policy and reads back as given, so
// Plan sees no change after an Apply and a change after an edit;
// BisectOnError is refused before any call.
func TestCosmosRetryRoundTrip(t *testing.T) {
	e := newEnv(t, azurefunctions.Flex)
	fn := e.open(t, "fn")
	src := "cosmos:db-acct/shop/items"
	s := baseSpec()
	s.Triggers = []trigger.Trigger{trigger.Stream{Key: "changes", Source: src, MaxRetries: new(3)}}
	mustApply(t, fn, s)
	si, _ := e.cloud.Site(rg, "fn", "")
	var fj struct {
		Retry struct {
			Strategy      string `json:"strategy"`
			MaxRetryCount int    `json:"maxRetryCount"`
		} `json:"retry"`
	}
	if err := json.Unmarshal(si.Files["changes/function.json"], &fj); err != nil || fj.Retry.Strategy != "fixedDelay" || fj.Retry.MaxRetryCount != 3 {
		t.Fatalf("deployed function.json %s (%v): want a fixedDelay retry policy of 3", si.Files["changes/function.json"], err)
	}
	st, err := fn.Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if c := st.Triggers[0].(trigger.Stream); c.MaxRetries == nil || *c.MaxRetries != 3 {
		t.Fatalf("read back %+v", c)
	}
	fns := []*provider.Function{fn}
	p, err := deploy.Plan(t.Context(), fns, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.HasChanges() {
		t.Fatalf("plan after apply:\n%s", p)
	}
	s.Triggers = []trigger.Trigger{trigger.Stream{Key: "changes", Source: src, MaxRetries: new(0)}}
	if p, err = deploy.Plan(t.Context(), fns, s, nil); err != nil {
		t.Fatal(err)
	}
	if ch := p.Targets[0].Changes; !p.HasChanges() || !strings.Contains(p.String(), "changes") {
		t.Fatalf("plan of MaxRetries 3 → 0: %v", ch)
	}
	if _, err := deploy.ApplyPlan(t.Context(), p, nil); err != nil {
		t.Fatal(err)
	}
	if si, _ := e.cloud.Site(rg, "fn", ""); strings.Contains(string(si.Files["changes/function.json"]), "retry") {
		t.Errorf("MaxRetries 0 kept a retry policy: %s", si.Files["changes/function.json"])
	}

	s.Triggers = []trigger.Trigger{trigger.Stream{Key: "changes", Source: src, BisectOnError: true}}
	e.cloud.ResetCalls()
	if _, err := fn.Apply(t.Context(), s, nil); provider.Code(err) != provider.InvalidArgument || !strings.Contains(err.Error(), "BisectOnError") {
		t.Fatalf("BisectOnError: %v, want InvalidArgument naming the field", err)
	}
	if c := e.cloud.Calls(); len(c) != 0 {
		t.Errorf("a refused spec made calls %v", c)
	}
}
