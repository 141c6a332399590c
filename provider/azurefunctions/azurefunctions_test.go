package azurefunctions_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/internal/cloudfake/azurefake"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/azurefunctions"
	"github.com/updraft-dev/updraft/trigger"
)

func mustApply(t *testing.T, fn *provider.Function, s *provider.Spec) *provider.ApplyResult {
	t.Helper()
	res, err := fn.Apply(t.Context(), s, &provider.ApplyOptions{Publish: true})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return res
}

func liveStable(t *testing.T, fn *provider.Function) string {
	t.Helper()
	st, err := fn.Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return st.Routes["live"].Traffic.Stable
}

func TestFailedDeploymentSurfacesLog(t *testing.T) {
	e := newEnv(t, azurefunctions.Flex)
	fn := e.open(t, "fn")
	e.cloud.Inject(azurefake.Fault{FailDeployment: []string{"Error: the package has no handler executable"}})
	_, err := fn.Apply(t.Context(), baseSpec(), &provider.ApplyOptions{Publish: true})
	if provider.Code(err) != provider.Internal {
		t.Fatalf("Apply with a failing deployment: got %v, want Internal", err)
	}
	var de *azurefunctions.DeploymentError
	if !errors.As(err, &de) || len(de.Log) != 1 || de.Log[0] != "Error: the package has no handler executable" || de.Status != 3 {
		t.Fatalf("want a DeploymentError with the log's error line, got %#v", de)
	}
	if !strings.Contains(err.Error(), "the package has no handler executable") {
		t.Errorf("the error does not say the log's reason: %v", err)
	}
	// The next Apply deploys again and succeeds.
	if _, err := fn.Apply(t.Context(), baseSpec(), &provider.ApplyOptions{Publish: true}); err != nil {
		t.Fatalf("Apply after the failed deployment: %v", err)
	}
	if si, _ := e.cloud.Site(rg, "fn", ""); si.PackageDigest == "" || si.Files["host.json"] == nil {
		t.Fatalf("no package live after the retry: %+v", si)
	}
}

func TestSecretsAreKeyVaultReferences(t *testing.T) {
	e := newEnv(t, azurefunctions.Flex)
	fn := e.open(t, "fn")
	s := baseSpec()
	s.Env = map[string]string{"MODE": "prod"}
	s.Secrets = map[string]string{"API_KEY": "https://kv-orders.vault.azure.net/secrets/api-key"}
	mustApply(t, fn, s)
	si, _ := e.cloud.Site(rg, "fn", "")
	if got := si.Settings["API_KEY"]; got != "@Microsoft.KeyVault(SecretUri=https://kv-orders.vault.azure.net/secrets/api-key)" {
		t.Fatalf("API_KEY app setting = %q, want a Key Vault reference", got)
	}
	if si.Settings["MODE"] != "prod" || si.Settings["UPDRAFT_FUNCTION"] != "fn" || si.Settings["AzureWebJobsStorage__accountName"] != "stacct" {
		t.Errorf("settings = %v", si.Settings)
	}
	st, _ := fn.Get(t.Context())
	if st.Config.Secrets["API_KEY"] != s.Secrets["API_KEY"] {
		t.Errorf("state secrets = %v, want the reference back", st.Config.Secrets)
	}
	// A value that is not a reference is refused without being echoed.
	s.Secrets = map[string]string{"API_KEY": "hunter2-plain-value"}
	_, err := fn.Apply(t.Context(), s, nil)
	if provider.Code(err) != provider.InvalidArgument || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("plain secret value: got %v, want InvalidArgument that does not echo it", err)
	}
	for _, u := range e.cloud.Blobs() {
		b, _ := e.cloud.Blob(u)
		if strings.Contains(string(b), "hunter2") {
			t.Fatalf("blob %s holds the refused value", u)
		}
	}
	if si, _ := e.cloud.Site(rg, "fn", ""); strings.Contains(si.Settings["API_KEY"], "hunter2") {
		t.Fatal("the refused value reached the app settings")
	}
}

func TestUnchangedDigestSkipsDeploy(t *testing.T) {
	e := newEnv(t, azurefunctions.Flex)
	fn := e.open(t, "fn")
	s := baseSpec()
	s.Env = map[string]string{"V": "1"}
	r1 := mustApply(t, fn, s).Revision.ID
	s.Env = map[string]string{"V": "2"}
	e.cloud.ResetCalls()
	res := mustApply(t, fn, s)
	r2 := res.Revision.ID
	if res.UploadedBytes != 0 || e.cloud.CountCalls("scm", "POST") != 0 {
		t.Fatalf("publishing an env change sent %d bytes and %d deployments; the package did not change", res.UploadedBytes, e.cloud.CountCalls("scm", "POST"))
	}
	e.cloud.ResetCalls()
	if err := fn.SetTraffic(t.Context(), "", provider.Traffic{Stable: r2}, nil); err != nil {
		t.Fatal(err)
	}
	if n := e.cloud.CountCalls("scm", "POST"); n != 0 {
		t.Fatalf("moving to a revision with the live package deployed %d times", n)
	}
	si, _ := e.cloud.Site(rg, "fn", "")
	if si.Settings["V"] != "2" {
		t.Fatalf("settings after SetTraffic = %v, want V=2", si.Settings)
	}
	if err := fn.SetTraffic(t.Context(), "", provider.Traffic{Stable: r1}, nil); err != nil {
		t.Fatal(err)
	}
	if si, _ := e.cloud.Site(rg, "fn", ""); si.Settings["V"] != "1" || liveStable(t, fn) != r1 {
		t.Fatalf("after moving back: settings %v, live %s", si.Settings, liveStable(t, fn))
	}
	// Re-applying what is there sends nothing.
	e.cloud.ResetCalls()
	s.Env = map[string]string{"V": "2"}
	if res := mustApply(t, fn, s); res.Changed || res.UploadedBytes != 0 {
		t.Fatalf("idempotent apply: %+v", res)
	}
	if n := e.cloud.CountCalls("", http.MethodPut) + e.cloud.CountCalls("", http.MethodPost); n != 0 {
		t.Errorf("idempotent apply made %d writes: %v", n, e.cloud.Calls())
	}
}

// failAt is a gate that fails at the given step.
func failAt(step int) deploy.Gate {
	return deploy.Gate{Name: "fail-at", Check: func(ctx context.Context, in *deploy.GateInput) error {
		if in.Step == step {
			return errors.New("candidate misbehaves")
		}
		return nil
	}}
}

func TestFlexRolloutRedeploysKeptPackageOnFailure(t *testing.T) {
	e := newEnv(t, azurefunctions.Flex)
	fn := e.open(t, "fn")
	s := baseSpec()
	r1 := mustApply(t, fn, s).Revision.ID
	v1, _ := e.cloud.Site(rg, "fn", "")

	s.Code = handlerCode("v2")
	e.cloud.ResetCalls()
	res, err := deploy.Rollout(t.Context(), []*provider.Function{fn}, s, &deploy.RolloutOptions{
		Strategy: deploy.AllAtOnce(), Gates: []deploy.Gate{deploy.InvokeGate([]byte(`{}`)), failAt(1)}})
	if err == nil || res.Outcome != deploy.OutcomeRolledBack {
		t.Fatalf("rollout with a failing gate: outcome %s, err %v", res.Outcome, err)
	}
	// Two deployments: the candidate, then the kept package of r1 (read
	// back from the revision container, not rebuilt).
	if n := e.cloud.CountCalls("scm", http.MethodPost); n != 2 {
		t.Fatalf("deployments = %d, want 2 (candidate, then rollback)", n)
	}
	after, _ := e.cloud.Site(rg, "fn", "")
	if after.PackageDigest != v1.PackageDigest || liveStable(t, fn) != r1 {
		t.Fatalf("after rollback the app runs %s (route %s), want r1's %s", after.PackageDigest, liveStable(t, fn), v1.PackageDigest)
	}
	st, err := fn.Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if v := st.Routes["live"].Verdicts; v == nil || !slices.Contains(v.Failed, res.Targets[0].Candidate) {
		t.Fatalf("verdicts after the failed rollout: %+v, want candidate %s failed (kept in the site tags)", v, res.Targets[0].Candidate)
	}
	// A good rollout keeps the candidate.
	res, err = deploy.Rollout(t.Context(), []*provider.Function{fn}, s, &deploy.RolloutOptions{AllowFailedRevision: true,
		Strategy: deploy.AllAtOnce(), Gates: []deploy.Gate{deploy.InvokeGate([]byte(`{}`))}})
	if err != nil || res.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("good rollout: %s, %v", res.Outcome, err)
	}
	if liveStable(t, fn) == r1 {
		t.Fatal("good rollout left r1 live")
	}
}

func TestPremiumSlotSwapRolloutAndRollback(t *testing.T) {
	e := newEnv(t, azurefunctions.Premium)
	fn := e.open(t, "fn")
	s := baseSpec()
	r1 := mustApply(t, fn, s).Revision.ID
	prod1, _ := e.cloud.Site(rg, "fn", "")
	if prod1.Settings["FUNCTIONS_WORKER_RUNTIME"] != "custom" || prod1.Settings["WEBSITE_RUN_FROM_PACKAGE"] != "1" {
		t.Fatalf("premium settings: %v", prod1.Settings)
	}

	s.Code = handlerCode("v2")
	var gated []string
	record := deploy.Gate{Name: "record", Check: func(ctx context.Context, in *deploy.GateInput) error {
		r, err := in.Function.Invoke(ctx, &provider.InvokeOptions{Revision: in.Candidate, Payload: []byte(`{"ping":1}`)})
		if err != nil {
			return err
		}
		gated = append(gated, r.Revision)
		return nil
	}}
	res, err := deploy.Rollout(t.Context(), []*provider.Function{fn}, s, &deploy.RolloutOptions{
		Strategy: deploy.BlueGreen(), Gates: []deploy.Gate{record, failAt(2)}})
	if err == nil || res.Outcome != deploy.OutcomeRolledBack {
		t.Fatalf("rollout with a gate failing after the swap: %s, %v", res.Outcome, err)
	}
	prod, _ := e.cloud.Site(rg, "fn", "")
	slot, _ := e.cloud.Site(rg, "fn", "staging")
	if prod.PackageDigest != prod1.PackageDigest || liveStable(t, fn) != r1 {
		t.Fatalf("after rollback production runs %s (route %s), want r1's %s", prod.PackageDigest, liveStable(t, fn), prod1.PackageDigest)
	}
	if slot.PackageDigest == prod1.PackageDigest || slot.PackageDigest == "" {
		t.Fatalf("the candidate should be back in the staging slot: %s", slot.PackageDigest)
	}
	// The candidate was gated at 0% on the staging slot's host (Invoke of
	// the candidate worked before the swap).
	if len(gated) != 2 || gated[0] != res.Targets[0].Candidate {
		t.Fatalf("gated revisions %v, want the candidate twice", gated)
	}
	var stagingHits int
	for _, c := range e.cloud.Calls() {
		if c.Service == "app" && c.Host == "fn-staging.azurewebsites.net" {
			stagingHits++
		}
	}
	if stagingHits == 0 {
		t.Fatal("no gate request reached the staging slot's host")
	}

	// Again without the failing gate: swap and keep.
	res, err = deploy.Rollout(t.Context(), []*provider.Function{fn}, s, &deploy.RolloutOptions{AllowFailedRevision: true,
		Strategy: deploy.BlueGreen(), Gates: []deploy.Gate{record}})
	if err != nil || res.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("good rollout: %s, %v", res.Outcome, err)
	}
	prod, _ = e.cloud.Site(rg, "fn", "")
	slot, _ = e.cloud.Site(rg, "fn", "staging")
	if prod.PackageDigest == prod1.PackageDigest || slot.PackageDigest != prod1.PackageDigest {
		t.Fatalf("after the swap production should run the candidate and staging r1: %s / %s", prod.PackageDigest, slot.PackageDigest)
	}
	// Rollback is a swap back: no deployment.
	e.cloud.ResetCalls()
	if _, err := deploy.Rollback(t.Context(), []*provider.Function{fn}, &deploy.RollbackOptions{Revision: r1}); err != nil {
		t.Fatal(err)
	}
	if n := e.cloud.CountCalls("scm", http.MethodPost); n != 0 || liveStable(t, fn) != r1 {
		t.Fatalf("rollback made %d deployments, route on %s", n, liveStable(t, fn))
	}
	if prod, _ := e.cloud.Site(rg, "fn", ""); prod.PackageDigest != prod1.PackageDigest {
		t.Fatal("rollback did not swap r1 back into production")
	}
}

func TestTransientFaultsAreRetried(t *testing.T) {
	e := newEnv(t, azurefunctions.Flex)
	fn := e.open(t, "fn")
	e.cloud.Inject(azurefake.Fault{Service: "scm", Method: http.MethodPost, PathContains: "/api/publish", Status: http.StatusTooManyRequests, RetryAfter: time.Second})
	e.cloud.Inject(azurefake.Fault{Service: "scm", Method: http.MethodPost, PathContains: "/api/publish", Status: http.StatusConflict, Count: 2})
	e.cloud.Inject(azurefake.Fault{Service: "arm", Method: http.MethodGet, Status: http.StatusServiceUnavailable})
	e.cloud.Inject(azurefake.Fault{Service: "blob", Method: http.MethodPut, Status: http.StatusInternalServerError})
	e.cloud.Inject(azurefake.Fault{Service: "scm", Method: http.MethodGet, Latency: 20 * time.Millisecond, Count: -1})
	if _, err := fn.Apply(t.Context(), baseSpec(), &provider.ApplyOptions{Publish: true}); err != nil {
		t.Fatalf("Apply through 429, 409, 503, 500 and latency: %v", err)
	}
	var publishes []int
	for _, c := range e.cloud.Calls() {
		if c.Path == "/api/publish" {
			publishes = append(publishes, c.Status)
		}
	}
	if len(publishes) != 4 || publishes[0] != 429 || publishes[1] != 409 || publishes[2] != 409 || publishes[3] != 202 {
		t.Fatalf("publish attempts = %v, want 429, 409, 409, 202", publishes)
	}
}

func TestPersistentFaultsAreBounded(t *testing.T) {
	e := newEnv(t, azurefunctions.Flex)
	fn := e.open(t, "fn")
	e.cloud.Inject(azurefake.Fault{Service: "scm", Method: http.MethodPost, Status: http.StatusConflict, Count: -1})
	_, err := fn.Apply(t.Context(), baseSpec(), &provider.ApplyOptions{Publish: true})
	if provider.Code(err) != provider.FailedPrecondition {
		t.Fatalf("deployment conflict that never clears: got %v, want FailedPrecondition", err)
	}
	var se *azurefunctions.SCMError
	if !errors.As(err, &se) || se.StatusCode != http.StatusConflict {
		t.Fatalf("want an SCMError 409, got %v", err)
	}
	if n := e.cloud.CountCalls("scm", http.MethodPost); n != 7 {
		t.Errorf("publish attempts = %d, want 1 + 6 retries", n)
	}
}

func TestMetricsCountStatusClasses(t *testing.T) {
	e := newEnv(t, azurefunctions.Flex)
	fn := e.open(t, "fn")
	r1 := mustApply(t, fn, baseSpec()).Revision.ID
	since := time.Now().Add(-time.Second)
	e.cloud.Inject(azurefake.Fault{Service: "app", Status: http.StatusInternalServerError, Count: 2})
	for range 5 {
		if _, err := fn.Invoke(t.Context(), &provider.InvokeOptions{Payload: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	m, err := fn.Metrics(t.Context(), &provider.MetricsQuery{Revision: r1, Since: since})
	if err != nil {
		t.Fatal(err)
	}
	if m.Invocations != 5 || m.Errors != 2 || !m.HTTP || m.Status5xx != 2 || m.Status2xx != 3 {
		t.Fatalf("metrics = %+v, want 5 requests, 2 of them 5xx", m)
	}
	g := deploy.ErrorRateGate(0.1, 5)
	err = g.Check(t.Context(), &deploy.GateInput{Function: fn, Route: "live", Candidate: r1, Since: since})
	if err == nil {
		t.Fatal("error-rate gate passed a 40% error rate")
	}
}

func TestPlanMismatchIsRefused(t *testing.T) {
	e := newEnv(t, azurefunctions.Flex)
	mustApply(t, e.open(t, "fn"), baseSpec())
	e.plan = azurefunctions.Premium
	_, err := e.open(t, "fn").Get(t.Context())
	if provider.Code(err) != provider.FailedPrecondition || !strings.Contains(err.Error(), "plan=flex") {
		t.Fatalf("opening a Flex app as Premium: %v", err)
	}
}

func TestIfNotExistLosesTheCreateRace(t *testing.T) {
	e := newEnv(t, azurefunctions.Flex)
	mustApply(t, e.open(t, "fn"), baseSpec())
	_, err := e.open(t, "fn").Apply(t.Context(), baseSpec(), &provider.ApplyOptions{Publish: true, IfNotExist: true})
	if provider.Code(err) != provider.AlreadyExists {
		t.Fatalf("create of an existing app with IfNotExist: %v, want AlreadyExists", err)
	}
}

func TestPremiumSKUFollowsMemory(t *testing.T) {
	e := newEnv(t, azurefunctions.Premium)
	s := baseSpec()
	s.MemoryMB = 7168
	mustApply(t, e.open(t, "fn"), s)
	cf, err := e.cloud.NewClientFactory()
	if err != nil {
		t.Fatal(err)
	}
	p, err := cf.NewPlansClient().Get(t.Context(), rg, "fn-plan", nil)
	if err != nil || *p.SKU.Name != "EP2" || *p.SKU.Tier != "ElasticPremium" || *p.Kind != "elastic" {
		t.Fatalf("plan = %+v, %v; want EP2 elastic", p.SKU, err)
	}
}

// A candidate whose deployment fails while the route moves to it leaves
// the route marked as deploying; the rollout's rollback redeploys the
// stable package and the route ends on the stable revision.
func TestFlexFailedShiftIsRolledBack(t *testing.T) {
	e := newEnv(t, azurefunctions.Flex)
	fn := e.open(t, "fn")
	s := baseSpec()
	r1 := mustApply(t, fn, s).Revision.ID
	v1, _ := e.cloud.Site(rg, "fn", "")
	s.Code = handlerCode("v2")
	// The candidate's deployment fails; the rollback's deployment works.
	e.cloud.Inject(azurefake.Fault{FailDeployment: []string{"Error: host failed to start"}})
	res, err := deploy.Rollout(t.Context(), []*provider.Function{fn}, s, &deploy.RolloutOptions{Strategy: deploy.AllAtOnce(),
		Retry: deploy.RetryPolicy{Backoff: time.Millisecond}})
	if err == nil || res.Outcome != deploy.OutcomeRolledBack || !strings.Contains(err.Error(), "host failed to start") {
		t.Fatalf("rollout whose candidate fails to deploy: %s, %v; %+v", res.Outcome, err, res.Targets[0])
	}
	st, err := fn.Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if r := st.Routes["live"]; r.Traffic.Stable != r1 || r.Marker != nil {
		t.Fatalf("route after rollback: %+v marker %+v", r.Traffic, r.Marker)
	}
	if after, _ := e.cloud.Site(rg, "fn", ""); after.PackageDigest != v1.PackageDigest {
		t.Fatalf("app runs %s, want the stable package %s", after.PackageDigest, v1.PackageDigest)
	}
}

// On Premium the staged candidate's event triggers are disabled in the
// staging slot with sticky settings, so it does not consume production's
// queue, and the swap does not carry the switch into production.
func TestPremiumStagingSlotEventTriggersAreDisabled(t *testing.T) {
	e := newEnv(t, azurefunctions.Premium)
	fn := e.open(t, "fn")
	s := baseSpec()
	s.Triggers = append(s.Triggers, trigger.Queue{Key: "jobs", Source: "jobs"})
	r1 := mustApply(t, fn, s).Revision.ID
	s.Env = map[string]string{"V": "2"}
	r2 := mustApply(t, fn, s).Revision.ID
	slot, _ := e.cloud.Site(rg, "fn", "staging")
	if slot.Settings["AzureWebJobs.jobs.Disabled"] != "true" || slot.Settings["V"] != "2" {
		t.Fatalf("staging settings %v: want the candidate with jobs disabled", slot.Settings)
	}
	for _, r := range []string{r2, r1, r2} {
		if err := fn.SetTraffic(t.Context(), "", provider.Traffic{Stable: r}, nil); err != nil {
			t.Fatal(err)
		}
		prod, _ := e.cloud.Site(rg, "fn", "")
		slot, _ := e.cloud.Site(rg, "fn", "staging")
		if _, ok := prod.Settings["AzureWebJobs.jobs.Disabled"]; ok || slot.Settings["AzureWebJobs.jobs.Disabled"] != "true" {
			t.Fatalf("after moving to %s: production %v, staging %v", r, prod.Settings, slot.Settings)
		}
	}
}
