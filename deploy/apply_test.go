package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/memprovider"
	"github.com/updraft-dev/updraft/trigger"
)

func TestPlanCreateThenNoChanges(t *testing.T) {
	ctx := t.Context()
	c := newCloud(t, nil)
	fns := openFns(t, c, "a", "b")
	s := testSpec("1")
	one := 1
	s.Concurrency.Provisioned = &one
	s.Triggers = []trigger.Trigger{trigger.HTTP{Key: "web"}}
	p, err := Plan(ctx, fns, s, &PlanOptions{Bundle: noCache})
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasChanges() || c.Mutations() != 0 {
		t.Fatalf("plan of new functions: changes %v, %d mutations", p.HasChanges(), c.Mutations())
	}
	kinds := func(tp *TargetPlan) []ChangeKind {
		var k []ChangeKind
		for _, ch := range tp.Changes {
			k = append(k, ch.Kind)
		}
		return k
	}
	got := fmt.Sprint(kinds(p.Targets[0]))
	if !strings.HasPrefix(got, "[create code config") || !strings.Contains(got, "revision trigger-add provisioned traffic]") {
		t.Errorf("changes of a new function: %s\n%s", got, p)
	}
	if _, err := ApplyPlan(ctx, p, applyOpts()); err != nil {
		t.Fatal(err)
	}
	p2, err := Plan(ctx, fns, s, &PlanOptions{Bundle: noCache})
	if err != nil {
		t.Fatal(err)
	}
	if p2.HasChanges() {
		t.Fatalf("plan after apply has changes:\n%s", p2)
	}
	if !strings.Contains(p2.String(), "mem://a: no changes (route live on revision 1)") {
		t.Errorf("no-change diff:\n%s", p2)
	}
	if p2.Targets[0].Revision != "1" || p2.Targets[0].NewRevision {
		t.Errorf("revision %q new %v", p2.Targets[0].Revision, p2.Targets[0].NewRevision)
	}
}

func TestPlanDiffAndJSON(t *testing.T) {
	ctx := t.Context()
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	s := testSpec("1")
	s.Triggers = []trigger.Trigger{trigger.HTTP{Key: "web"}, trigger.Schedule{Key: "tick", Cron: "*/5 * * * *"}}
	s.Labels = map[string]string{"team": "core"}
	deployed(t, fns)
	if _, err := Apply(ctx, fns, s, applyOpts()); err != nil {
		t.Fatal(err)
	}
	s2 := testSpec("2")
	s2.MemoryMB = 512
	s2.Triggers = []trigger.Trigger{trigger.HTTP{Key: "web", Auth: trigger.AuthNone}, trigger.Queue{Key: "jobs", Source: "arn:aws:sqs:eu-west-1:1:jobs"}}
	s2.Labels = map[string]string{}
	p, err := Plan(ctx, fns, s2, &PlanOptions{Bundle: noCache})
	if err != nil {
		t.Fatal(err)
	}
	diff := p.String()
	for _, want := range []string{
		"mem://a (route live):",
		"~ code sha256:",
		"~ MemoryMB: 128 → 512",
		"~ Env[VERSION]: 1 → 2",
		"- Labels[team]: core",
		// A code change lists no revisions (see TargetPlan.needRevisions),
		// so the plan does not name the newest one.
		"+ publish a new revision\n",
		"+ trigger queue jobs from arn:aws:sqs:eu-west-1:1:jobs",
		"- trigger schedule tick cron",
		"~ trigger http web (auth iam) → http web (auth none)",
		"~ traffic on route live: 1 → the new revision",
	} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
	j1, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := Plan(ctx, fns, s2, &PlanOptions{Bundle: noCache})
	j2, _ := json.Marshal(p2)
	if !bytes.Equal(j1, j2) {
		t.Errorf("JSON of two identical plans differs:\n%s\n%s", j1, j2)
	}
	var back struct {
		HasChanges bool `json:"hasChanges"`
		Targets    []struct {
			Target  string   `json:"target"`
			Changes []Change `json:"changes"`
		} `json:"targets"`
	}
	if err := json.Unmarshal(j1, &back); err != nil || !back.HasChanges || back.Targets[0].Target != "mem://a" || len(back.Targets[0].Changes) != len(p.Targets[0].Changes) {
		t.Errorf("JSON round trip: %+v, %v\n%s", back, err, j1)
	}
}

func TestPlanReportsAllViolationsWithoutMutating(t *testing.T) {
	ctx := t.Context()
	c := newCloud(t, &memprovider.Options{Capabilities: func(c *provider.Capabilities) { c.Secrets = false }})
	fns := openFns(t, c, "a", "b")
	s := testSpec("1")
	s.MemoryMB = 99999
	s.Secrets = map[string]string{"DB": "arn:aws:secretsmanager:eu-west-1:1:secret:db"}
	p, err := Plan(ctx, fns, s, &PlanOptions{Bundle: noCache})
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range p.Targets {
		if len(tp.Violations) != 2 {
			t.Errorf("%s violations: %+v", tp.Target, tp.Violations)
		}
	}
	_, err = ApplyPlan(ctx, p, applyOpts())
	if provider.Code(err) != provider.InvalidArgument || !strings.Contains(err.Error(), "mem://a") || !strings.Contains(err.Error(), "mem://b") {
		t.Fatalf("apply of an invalid plan: %v", err)
	}
	_, err = Rollout(ctx, fns, s, rolloutOpts(Canary()))
	if provider.Code(err) != provider.InvalidArgument {
		t.Fatalf("rollout of an invalid spec: %v", err)
	}
	if c.Mutations() != 0 {
		t.Fatalf("%d mutations for an invalid spec", c.Mutations())
	}
}

func TestNoOpApplyMakesOnlyReads(t *testing.T) {
	ctx := t.Context()
	c := newCloud(t, nil)
	fns := openFns(t, c, "a", "b", "c")
	s := testSpec("1")
	two := 2
	s.Concurrency.Provisioned = &two
	s.Triggers = []trigger.Trigger{trigger.HTTP{Key: "web"}, trigger.Schedule{Key: "tick", Cron: "*/5 * * * *"}}
	if _, err := Apply(ctx, fns, s, applyOpts()); err != nil {
		t.Fatal(err)
	}
	c.ResetCounters()
	res, err := Apply(ctx, fns, s, applyOpts())
	if err != nil {
		t.Fatal(err)
	}
	if c.Mutations() != 0 || c.UploadedBytes() != 0 {
		t.Fatalf("no-op apply: %d mutations, %d bytes uploaded: %v", c.Mutations(), c.UploadedBytes(), c.Calls())
	}
	for _, call := range c.Calls() {
		if call.Op != memprovider.OpGet && call.Op != memprovider.OpListRevisions {
			t.Errorf("no-op apply called %s", call.Op)
		}
	}
	if len(c.Calls()) != 6 {
		t.Errorf("no-op apply of 3 targets made %d calls, want 6 reads", len(c.Calls()))
	}
	for _, tr := range res.Targets {
		if !tr.Unchanged || tr.Revision != "1" {
			t.Errorf("result %+v", tr)
		}
	}
}

func TestApplyUpdatesAndMovesTraffic(t *testing.T) {
	ctx := t.Context()
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	deployed(t, fns, "1")
	res, err := Apply(ctx, fns, testSpec("2"), applyOpts())
	if err != nil {
		t.Fatal(err)
	}
	tr := res.Targets[0]
	if !tr.Published || tr.Revision != "2" || !tr.TrafficMoved || tr.UploadedBytes == 0 {
		t.Fatalf("result %+v", tr)
	}
	wantStable(t, fns[0], "2")
	// Going back to v1's spec publishes a new revision equal to 1 in content.
	res, err = Apply(ctx, fns, testSpec("1"), &ApplyOptions{Bundle: noCache, NoTraffic: true})
	if err != nil || res.Targets[0].Revision != "3" || res.Targets[0].TrafficMoved {
		t.Fatalf("NoTraffic apply: %+v %v", res.Targets[0], err)
	}
	wantStable(t, fns[0], "2")
	// The next plan only moves traffic; applying it publishes nothing.
	p, _ := Plan(ctx, fns, testSpec("1"), &PlanOptions{Bundle: noCache})
	if len(p.Targets[0].Changes) != 1 || p.Targets[0].Changes[0].Kind != ChangeTraffic {
		t.Fatalf("plan after NoTraffic apply:\n%s", p)
	}
	c.ResetCounters()
	if _, err := ApplyPlan(ctx, p, applyOpts()); err != nil {
		t.Fatal(err)
	}
	wantStable(t, fns[0], "3")
	if c.UploadedBytes() != 0 {
		t.Errorf("traffic-only apply uploaded %d bytes", c.UploadedBytes())
	}
}

func TestApplyRefusesConcurrentChange(t *testing.T) {
	ctx := t.Context()
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	deployed(t, fns, "1")
	p, err := Plan(ctx, fns, testSpec("2"), &PlanOptions{Bundle: noCache})
	if err != nil {
		t.Fatal(err)
	}
	// Another pipeline deploys in between.
	other := openFns(t, c, "a")
	deployed(t, other, "3")
	_, err = ApplyPlan(ctx, p, applyOpts())
	var te *TargetError
	if provider.Code(err) != provider.FailedPrecondition || !errors.As(err, &te) || te.Step != StepApply || te.Target != "mem://a" {
		t.Fatalf("apply of a stale plan: %v", err)
	}
	wantStable(t, fns[0], "2") // v3 is live as revision 2; the stale plan changed nothing
}

// TestApplyFaults injects each fault at each step of Apply: the result is
// success, or an error with a code naming target and step while the
// route still serves the previous revision; a second Apply then converges.
func TestApplyFaults(t *testing.T) {
	ops := []string{memprovider.OpGet, memprovider.OpListRevisions, memprovider.OpUpdateCode, memprovider.OpUpdateConf,
		memprovider.OpPublish, memprovider.OpTriggers, memprovider.OpProvisioned, memprovider.OpSetTraffic}
	codes := []provider.ErrorCode{provider.ResourceExhausted, provider.Internal, provider.FailedPrecondition}
	for _, op := range ops {
		for _, code := range codes {
			for _, times := range []int{1, -1} {
				t.Run(fmt.Sprintf("%s/%s/times=%d", op, code, times), func(t *testing.T) {
					ctx := t.Context()
					c := newCloud(t, nil)
					fns := openFns(t, c, "a", "b")
					deployed(t, fns, "1")
					s := testSpec("2")
					s.Triggers = []trigger.Trigger{trigger.HTTP{Key: "web"}}
					one := 1
					s.Concurrency.Provisioned = &one
					c.InjectFault(memprovider.Fault{Op: op, Function: "b", Times: times, Code: code})
					res, err := Apply(ctx, fns, s, applyOpts())
					readFault := op == memprovider.OpGet || op == memprovider.OpListRevisions
					if err != nil && readFault {
						// Plan could not read b: nothing is applied anywhere.
						if provider.Code(err) != code || !strings.Contains(err.Error(), "mem://b: read:") {
							t.Fatalf("error %v: want a %s read failure of mem://b", err, code)
						}
						c.ClearFaults()
						wantStable(t, fns[0], "1")
						wantStable(t, fns[1], "1")
					} else if err != nil {
						var te *TargetError
						if !errors.As(err, &te) || te.Target != "mem://b" || provider.Code(err) != code {
							t.Fatalf("error %v: want a %s TargetError for mem://b", err, code)
						}
						if r := route(t, fns[1]); r.Traffic.Stable != "1" {
							t.Errorf("after a failed apply b serves %+v", r.Traffic)
						}
						if res != nil && res.Targets[0] != nil && res.Targets[0].Revision != "2" {
							t.Errorf("a was not applied: %+v", res.Targets[0])
						}
					} else if times < 0 && op != memprovider.OpListRevisions {
						// (A code change lists no revisions: a fault on
						// listing them cannot stop it.)
						t.Fatalf("permanent %s fault on %s: Apply succeeded", code, op)
					}
					c.ClearFaults()
					if !readFault || err == nil {
						wantStable(t, fns[0], "2")
					}
					if _, err := Apply(ctx, fns, s, applyOpts()); err != nil {
						t.Fatalf("apply after the fault cleared: %v", err)
					}
					wantStable(t, fns[1], "2")
				})
			}
		}
	}
}

func TestApplyWaitsForNotReady(t *testing.T) {
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	deployed(t, fns, "1")
	c.NotReady("a", 20)
	if _, err := Apply(t.Context(), fns, testSpec("2"), applyOpts()); err != nil {
		t.Fatal(err)
	}
	wantStable(t, fns[0], "2")
}

func TestApplyThreeTargetsOneFails(t *testing.T) {
	ctx := t.Context()
	c := newCloud(t, nil)
	fns := openFns(t, c, "a", "b", "c")
	deployed(t, fns, "1")
	c.InjectFault(memprovider.Fault{Op: memprovider.OpPublish, Function: "b", Times: -1, Code: provider.PermissionDenied})
	c.InjectFault(memprovider.Fault{Op: memprovider.OpGet, Function: "c", Times: -1, Code: provider.Internal})
	_, err := Apply(ctx, fns, testSpec("2"), applyOpts())
	var me *multierror.Error
	if !errors.As(err, &me) || len(me.Errors) != 1 {
		t.Fatalf("plan failure of c: %v", err)
	}
	if !strings.Contains(err.Error(), "mem://c: read:") {
		t.Errorf("error does not name c's step: %v", err)
	}
	c.ClearFaults()
	c.InjectFault(memprovider.Fault{Op: memprovider.OpPublish, Function: "b", Times: -1, Code: provider.PermissionDenied})
	c.InjectFault(memprovider.Fault{Op: memprovider.OpUpdateCode, Function: "c", Times: -1, Code: provider.ResourceExhausted})
	res, err := Apply(ctx, fns, testSpec("2"), applyOpts())
	if !errors.As(err, &me) || len(me.Errors) != 2 {
		t.Fatalf("want two failures, got %v", err)
	}
	for _, want := range []string{"mem://b: apply:", "PermissionDenied", "mem://c: apply:", "ResourceExhausted"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if res.Targets[0].Revision != "2" {
		t.Errorf("a: %+v", res.Targets[0])
	}
	wantStable(t, fns[0], "2")
	wantStable(t, fns[1], "1")
	wantStable(t, fns[2], "1")
}

func TestApplyRefusesRouteHeldByRollout(t *testing.T) {
	ctx := t.Context()
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	deployed(t, fns, "1", "2")
	m := &provider.Marker{ID: "r-1", Holder: "alice@ci", Stable: "1", Candidate: "2", Step: 1, Percent: 10}
	if err := fns[0].SetMarker(ctx, "", m, nil); err != nil {
		t.Fatal(err)
	}
	c.ResetCounters()
	_, err := Apply(ctx, fns, testSpec("3"), applyOpts())
	if provider.Code(err) != provider.FailedPrecondition || !strings.Contains(err.Error(), "alice@ci") {
		t.Fatalf("apply over a rollout: %v", err)
	}
	if c.Mutations() != 0 {
		t.Errorf("%d mutations", c.Mutations())
	}
}

func TestSecretsNeverShown(t *testing.T) {
	ctx := t.Context()
	secretRef := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf"
	token := "tok-9f8e7d6c5b4a3f2e1d0c"
	stripe := "sk_live_51HxYzAbCdEfGhIjKlMn"
	dsn := "postgres://app:hunter2hunter2@db.internal:5432/app"
	c := newCloud(t, &memprovider.Options{Handler: func(ctx context.Context, inv *memprovider.Invocation) ([]byte, error) {
		return nil, fmt.Errorf("cannot connect with %s", inv.Env["DATABASE_URL"])
	}})
	fns := openFns(t, c, "a")
	deployed(t, fns, "1")
	s := testSpec("2")
	s.Secrets = map[string]string{"DB_PASSWORD": secretRef}
	s.Env["API_TOKEN"] = token
	s.Env["PAYMENTS"] = stripe
	s.Env["DATABASE_URL"] = dsn
	var logs bytes.Buffer
	rec := &recorder{}
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := Plan(ctx, fns, s, &PlanOptions{Bundle: noCache, Logger: logger, OnEvent: rec.on})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(p)
	out := p.String() + string(js)
	if !strings.Contains(p.String(), "+ Secrets[DB_PASSWORD]: [redacted]") || !strings.Contains(p.String(), "+ Env[API_TOKEN]: [redacted]") {
		t.Errorf("diff does not show the secret changes as redacted:\n%s", p)
	}
	// A fault whose message carries a value, and a function error that echoes one.
	c.InjectFault(memprovider.Fault{Op: memprovider.OpSetMarker, Code: provider.Internal, Times: 1, Message: "bad request: token " + token})
	ro := rolloutOpts(Canary(50), InvokeGate([]byte("{}")))
	ro.Logger, ro.OnEvent = logger, rec.on
	res, err := Rollout(ctx, fns, s, ro)
	if err == nil {
		t.Fatal("rollout with a failing smoke test succeeded")
	}
	rj, _ := json.Marshal(res)
	out += err.Error() + string(rj) + logs.String() + rec.String()
	for _, e := range rec.events {
		if e.Err != nil {
			out += e.Err.Error()
		}
	}
	s3 := testSpec("3")
	s3.Env["API_TOKEN"] = "tok-another-0123456789abcdef"
	p3, err := Plan(ctx, fns, s3, &PlanOptions{Bundle: noCache})
	if err != nil {
		t.Fatal(err)
	}
	out += p3.String()
	for _, secret := range []string{secretRef, token, stripe, "hunter2hunter2", "tok-another-0123456789abcdef"} {
		if strings.Contains(out, secret) {
			t.Errorf("output shows secret %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "[redacted]") {
		t.Errorf("nothing was redacted:\n%s", out)
	}
}

func TestSensitiveEnv(t *testing.T) {
	for _, tc := range []struct {
		k, v string
		want bool
	}{
		{"VERSION", "1.2.3", false},
		{"LOG_LEVEL", "debug", false},
		{"REGION", "eu-west-1", false},
		{"DB_PASSWORD", "x", true},
		{"GITHUB_TOKEN", "x", true},
		{"SIGNING_KEY", "x", true},
		{"HOMEPAGE", "https://example.com/a/b", false},
		{"UPSTREAM", "https://user:pw@example.com", true},
		{"X", "AKIAIOSFODNN7EXAMPLE", true},
		{"X", "Zx8vQ2mN4pL7rT1wY6uB3kJ9", true},
		{"X", "aaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	} {
		if got := SensitiveEnv(tc.k, tc.v); got != tc.want {
			t.Errorf("SensitiveEnv(%q, %q) = %v", tc.k, tc.v, got)
		}
	}
}

func TestPruneKeepsEverythingInUse(t *testing.T) {
	ctx := t.Context()
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	deployed(t, fns, "1", "2", "3", "4", "5", "6", "7")
	fn := fns[0]
	// Route live: 5 with 3 as a weighted candidate; a second route on 2;
	// a marker naming 1 and 3.
	if err := fn.SetTraffic(ctx, "live", provider.Traffic{Stable: "5", Candidate: "3", CandidatePercent: 10}, nil); err != nil {
		t.Fatal(err)
	}
	if err := fn.SetTraffic(ctx, "beta", provider.Traffic{Stable: "2"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := fn.SetMarker(ctx, "live", &provider.Marker{ID: "r", Holder: "h", Stable: "1", Candidate: "3", Step: 1, Percent: 10}, nil); err != nil {
		t.Fatal(err)
	}
	dry, err := Prune(ctx, fns, &PruneOptions{Keep: 1, DryRun: true})
	if err != nil || fmt.Sprint(dry.Targets[0].Deleted) != "[4 6]" {
		t.Fatalf("dry run: %+v %v", dry.Targets[0], err)
	}
	revs, _ := fn.Revisions(ctx)
	if len(revs) != 7 {
		t.Fatalf("dry run deleted revisions")
	}
	res, err := Prune(ctx, fns, &PruneOptions{Keep: 1, Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	tp := res.Targets[0]
	if fmt.Sprint(tp.Deleted) != "[4 6]" || fmt.Sprint(tp.Kept) != "[1 2 3 5 7]" || fmt.Sprint(tp.InUse) != "[1 2 3 5]" {
		t.Fatalf("prune: %+v", tp)
	}
	revs, _ = fn.Revisions(ctx)
	if len(revs) != 5 {
		t.Fatalf("%d revisions left", len(revs))
	}
	// A revision that the cloud refuses to delete (in use by a race) is kept.
	c.InjectFault(memprovider.Fault{Op: memprovider.OpDeleteRevision, Code: provider.FailedPrecondition, Times: -1})
	if err := fn.SetMarker(ctx, "live", nil, nil); err != nil {
		t.Fatal(err)
	}
	res, err = Prune(ctx, fns, &PruneOptions{Keep: 1, Retry: fastRetry})
	if err != nil || len(res.Targets[0].Deleted) != 0 || fmt.Sprint(res.Targets[0].InUse) != "[1 2 3 5]" {
		t.Fatalf("prune with refusals: %+v %v", res.Targets[0], err)
	}
}

func TestRollbackAndDestroy(t *testing.T) {
	ctx := t.Context()
	c := newCloud(t, nil)
	fns := openFns(t, c, "a", "b")
	deployed(t, fns, "1", "2", "3")
	res, err := Rollback(ctx, fns, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Targets[0].From != "3" || res.Targets[0].To != "2" {
		t.Errorf("rollback: %+v", res.Targets[0])
	}
	wantStable(t, fns[1], "2")
	if _, err := Rollback(ctx, fns, &RollbackOptions{Revision: "3"}); err != nil {
		t.Fatal(err)
	}
	wantStable(t, fns[0], "3")
	if _, err := Rollback(ctx, fns, &RollbackOptions{Revision: "9"}); provider.Code(err) != provider.NotFound {
		t.Errorf("rollback to a missing revision: %v", err)
	}
	// With a rollout in progress, the recorded stable is the target.
	if err := fns[0].SetTraffic(ctx, "", provider.Traffic{Stable: "1", Candidate: "3", CandidatePercent: 50}, nil); err != nil {
		t.Fatal(err)
	}
	// bob's rollout is live: Rollback refuses it unless TakeOver.
	live := &provider.Marker{ID: "r-x", Holder: "bob@ci", Stable: "1", Candidate: "3", Step: 2, Percent: 50, Heartbeat: time.Now(), Lease: time.Hour}
	if err := fns[0].SetMarker(ctx, "", live, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Rollback(ctx, fns[:1], nil); provider.Code(err) != provider.FailedPrecondition || !strings.Contains(err.Error(), "r-x by bob@ci") {
		t.Fatalf("rollback of a live rollout: %v", err)
	}
	// Its lease expired (the holder died): Rollback goes ahead.
	dead := *live
	dead.Heartbeat = time.Now().Add(-2 * time.Hour)
	if err := fns[0].SetMarker(ctx, "", &dead, nil); err != nil {
		t.Fatal(err)
	}
	res, err = Rollback(ctx, fns[:1], nil)
	if err != nil || res.Targets[0].To != "1" || res.Targets[0].ClearedMarker != "r-x" {
		t.Fatalf("rollback during a rollout: %+v %v", res.Targets[0], err)
	}
	wantStable(t, fns[0], "1")

	if err := fns[1].SetMarker(ctx, "", &provider.Marker{ID: "r-y", Holder: "bob@ci", Stable: "2", Candidate: "3"}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = Destroy(ctx, fns, nil)
	if provider.Code(err) != provider.FailedPrecondition || !strings.Contains(err.Error(), "bob@ci") {
		t.Fatalf("destroy during a rollout: %v", err)
	}
	dr, err := Destroy(ctx, fns, &DestroyOptions{Force: true})
	if err != nil || !dr.Targets[0].Deleted || !dr.Targets[1].Deleted {
		t.Fatalf("destroy: %+v %+v %v", dr.Targets[0], dr.Targets[1], err)
	}
	dr, err = Destroy(ctx, fns, nil)
	if err != nil || dr.Targets[0].Deleted {
		t.Fatalf("destroy of absent functions: %+v %v", dr, err)
	}
}

// An empty Identity keeps the live one (a role set by another tool or the
// adapter's default), so a plan with no Identity shows no change.
func TestEmptyIdentityKeepsLive(t *testing.T) {
	c := newCloud(t, nil)
	fns := openFns(t, c, "fn")
	s := testSpec("1")
	s.Identity = "arn:aws:iam::123456789012:role/app"
	if _, err := Apply(t.Context(), fns, s, applyOpts()); err != nil {
		t.Fatal(err)
	}
	s.Identity = ""
	p, err := Plan(t.Context(), fns, s, &PlanOptions{Bundle: noCache})
	if err != nil {
		t.Fatal(err)
	}
	if p.HasChanges() {
		t.Fatalf("empty Identity planned a change:\n%s", p)
	}
	c.ResetCounters()
	if _, err := Apply(t.Context(), fns, s, applyOpts()); err != nil {
		t.Fatal(err)
	}
	if n := c.Mutations(); n != 0 {
		t.Fatalf("empty Identity made %d mutations: %v", n, c.Calls())
	}
}
