package service

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/memprovider"
)

// cloudOpen opens mem:// targets on c, a cloud of the test's own, so that
// tests (and -count) do not share functions.
func cloudOpen(c *memprovider.Cloud) func(ctx context.Context, target string) (*provider.Function, error) {
	return func(ctx context.Context, target string) (*provider.Function, error) {
		u, err := url.Parse(target)
		if err != nil {
			return nil, err
		}
		return c.OpenFunction(ctx, u.Host)
	}
}

func sessionOf(t *testing.T, c *memprovider.Cloud, src string) (*Service, *Session) {
	t.Helper()
	svc, err := Parse("updraft.yaml", mustAbs(t, "."), []byte(src), &LoadOptions{LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	ss, err := svc.Open(t.Context(), &OpenOptions{Open: cloudOpen(c)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	return svc, ss
}

// TestSavedPlan: a plan saved as JSON applies in another session when
// nothing changed, and is refused, applying nothing, when a target
// changed in between.
func TestSavedPlan(t *testing.T) {
	cloud := memprovider.NewCloud(nil)
	ctx := t.Context()
	src := `version: 1
functions:
  a:
    code: {dir: testdata/site}
    runtime: nodejs22
    env: {V: "1"}
    targets: [{url: "mem://saved-a"}, {url: "mem://saved-b"}]
`
	_, ss := sessionOf(t, cloud, src)
	p, err := ss.Plan(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	saved, err := ReadPlan(data)
	if err != nil {
		t.Fatal(err)
	}
	// Another job: a new session on the same file applies the saved plan.
	_, ss2 := sessionOf(t, cloud, src)
	res, err := ss2.ApplySaved(ctx, saved, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Result.Targets) != 2 || !res[0].Result.Targets[0].Created {
		t.Fatalf("applied %+v", res[0].Result)
	}
	// The same saved plan again is stale: the targets exist now.
	_, err = ss2.ApplySaved(ctx, saved, nil, nil)
	if provider.Code(err) != provider.FailedPrecondition {
		t.Fatalf("stale plan: %v", err)
	}
	// A plan of a changed file is refused by its digest.
	_, ss3 := sessionOf(t, cloud, src+"    labels: {x: y}\n")
	if _, err := ss3.ApplySaved(ctx, saved, nil, nil); provider.Code(err) != provider.FailedPrecondition {
		t.Fatalf("plan of another file: %v", err)
	}
	if _, err := ReadPlan([]byte(`{"version": 99}`)); provider.Code(err) != provider.InvalidArgument {
		t.Fatalf("future plan version: %v", err)
	}
}

// TestSelection: --function and --target select; unknown names are errors.
func TestSelection(t *testing.T) {
	cloud := memprovider.NewCloud(nil)
	svc, _ := sessionOf(t, cloud, `version: 1
functions:
  a:
    code: {dir: testdata/site}
    runtime: nodejs22
    targets: [{url: "mem://sel-a1"}, {url: "mem://sel-a2"}]
  b:
    code: {dir: testdata/site}
    runtime: nodejs22
    targets: [{url: "mem://sel-b"}]
`)
	ss, err := svc.Open(t.Context(), &OpenOptions{Functions: []string{"a"}, Targets: []string{"mem://sel-a2"}, Open: cloudOpen(cloud)})
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	fns := ss.Functions()
	if len(fns) != 1 || len(fns["a"]) != 1 || fns["a"][0].Target() != "mem://sel-a2" {
		t.Fatalf("selected %v", fns)
	}
	for _, o := range []*OpenOptions{{Functions: []string{"nope"}}, {Targets: []string{"mem://nope"}}} {
		o.Open = cloudOpen(cloud)
		if _, err := svc.Open(t.Context(), o); provider.Code(err) != provider.InvalidArgument {
			t.Fatalf("selection %+v: %v", o, err)
		}
	}
}

// TestRolloutPerFunction: with lockstep "function" every function rolls
// out; a failure in one does not stop the other, and is reported.
func TestRolloutPerFunction(t *testing.T) {
	cloud := memprovider.NewCloud(nil)
	ctx := t.Context()
	_, ss := sessionOf(t, cloud, `version: 1
functions:
  a:
    code: {dir: testdata/site}
    runtime: nodejs22
    targets: [{url: "mem://ro-a"}]
  b:
    code: {dir: testdata/site}
    runtime: nodejs22
    targets: [{url: "mem://ro-b"}]
`)
	if _, err := ss.Rollout(ctx, "function", &deploy.RolloutOptions{Strategy: deploy.AllAtOnce()}); err != nil {
		t.Fatal(err)
	}
	fail := deploy.Gate{Name: "no-b", Check: func(ctx context.Context, in *deploy.GateInput) error {
		if in.Target == "mem://ro-b" {
			return errBroken
		}
		return nil
	}}
	_, ss2 := sessionOf(t, cloud, `version: 1
functions:
  a:
    code: {dir: testdata/site}
    runtime: nodejs22
    env: {V: "2"}
    targets: [{url: "mem://ro-a"}]
  b:
    code: {dir: testdata/site}
    runtime: nodejs22
    env: {V: "2"}
    targets: [{url: "mem://ro-b"}]
`)
	res, err := ss2.Rollout(ctx, "function", &deploy.RolloutOptions{Strategy: deploy.BlueGreen(), Gates: []deploy.Gate{fail}})
	if err == nil {
		t.Fatal("a failed gate on b must fail the rollout")
	}
	outcomes := map[string]deploy.Outcome{}
	for _, f := range res {
		outcomes[f.Function] = f.Result.Outcome
	}
	if outcomes["a"] != deploy.OutcomeSucceeded || outcomes["b"] != deploy.OutcomeRolledBack {
		t.Fatalf("outcomes %v", outcomes)
	}
}

var errBroken = provider.Errorf(provider.FailedPrecondition, "", "gate", "broken")

// TestRolloutLockstepAll: with lockstep "all", a gate failing on one
// function's target rolls back every function, including those whose own
// gates passed; with every gate passing, all are promoted together.
func TestRolloutLockstepAll(t *testing.T) {
	cloud := memprovider.NewCloud(nil)
	ctx := t.Context()
	spec := func(v string) string {
		return `version: 1
functions:
  a:
    code: {dir: testdata/site}
    runtime: nodejs22
    env: {V: "` + v + `"}
    targets: [{url: "mem://ls-a1"}, {url: "mem://ls-a2"}]
  b:
    code: {dir: testdata/site}
    runtime: nodejs22
    env: {V: "` + v + `"}
    targets: [{url: "mem://ls-b"}]
  c:
    code: {dir: testdata/site}
    runtime: nodejs22
    env: {V: "` + v + `"}
    targets: [{url: "mem://ls-c", override: {memory: 512}}]
`
	}
	_, ss := sessionOf(t, cloud, spec("1"))
	if _, err := ss.Rollout(ctx, "all", &deploy.RolloutOptions{Strategy: deploy.AllAtOnce()}); err != nil {
		t.Fatal(err)
	}
	// b fails at the second canary step; a and c pass every gate of theirs.
	failB := deploy.Gate{Name: "b-at-50", Check: func(ctx context.Context, in *deploy.GateInput) error {
		if in.Target == "mem://ls-b" && in.Percent == 50 {
			return errBroken
		}
		return nil
	}}
	_, ss2 := sessionOf(t, cloud, spec("2"))
	res, err := ss2.Rollout(ctx, "all", &deploy.RolloutOptions{Strategy: deploy.Canary(10, 50, 100), Gates: []deploy.Gate{failB}})
	if err == nil {
		t.Fatal("a failed gate on b must fail the lockstep rollout")
	}
	for _, f := range res {
		if f.Result == nil || f.Result.Outcome != deploy.OutcomeRolledBack {
			t.Fatalf("function %s: %+v, want rolled back", f.Function, f.Result)
		}
		for _, tr := range f.Result.Targets {
			if tr.Percent != 0 {
				t.Fatalf("%s ends at %d%%", tr.Target, tr.Percent)
			}
		}
	}
	st, _ := ss2.Status(ctx)
	for _, ts := range st {
		if r := ts.Routes[0]; r.Stable != "1" || r.Candidate != "" {
			t.Fatalf("%s: route %+v, want revision 1 alone", ts.Target, r)
		}
	}
	// All gates pass: every function is promoted.
	_, ss3 := sessionOf(t, cloud, spec("3"))
	res, err = ss3.Rollout(ctx, "all", &deploy.RolloutOptions{Strategy: deploy.Canary(10, 50, 100)})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res {
		if f.Result.Outcome != deploy.OutcomeSucceeded {
			t.Fatalf("function %s: %s", f.Function, f.Result.Outcome)
		}
	}
}
