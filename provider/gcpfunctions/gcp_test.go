package gcpfunctions

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/functions/apiv2/functionspb"
	"cloud.google.com/go/run/apiv2/runpb"
	"cloud.google.com/go/scheduler/apiv1/schedulerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/internal/cloudfake/gcpfake"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/trigger"
)

func apply(t *testing.T, fn *provider.Function, s *provider.Spec) *provider.ApplyResult {
	t.Helper()
	res, err := fn.Apply(t.Context(), s, &provider.ApplyOptions{Publish: true})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return res
}

func route(t *testing.T, fn *provider.Function) *provider.Route {
	t.Helper()
	st, err := fn.Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r := st.Routes[provider.DefaultRoute]
	if r == nil {
		t.Fatalf("no route in %+v", st.Routes)
	}
	return r
}

func svcName(name string) string { return strings.Replace(name, "/functions/", "/services/", 1) }

// countCalls tallies the fake's recorded calls.
func countCalls(calls []string) map[string]int {
	m := map[string]int{}
	for _, c := range calls {
		m[c]++
	}
	return m
}

// TestMaskTrap shows the proto3 trap on the fake itself, then that the
// adapter's updates keep pinned traffic where it is.
func TestMaskTrap(t *testing.T) {
	fg := newFakeGCP(t, nil)
	ctx := t.Context()
	fn := fg.open(t, testFunction, nil)
	r1 := apply(t, fn, testSpec()).Revision.ID // created and pinned to r1

	// By hand: a code-only mask loses all_traffic_on_latest_revision=false
	// (the live value, true while the latest revision serves 100%, stays),
	// so the new revision takes all traffic although traffic was pinned.
	live, err := fg.fc.GetFunction(ctx, &functionspb.GetFunctionRequest{Name: testFunction})
	if err != nil {
		t.Fatal(err)
	}
	if !live.ServiceConfig.AllTrafficOnLatestRevision {
		t.Fatal("GetFunction should report all_traffic_on_latest_revision while r1 serves 100%")
	}
	update := func(paths ...string) string {
		t.Helper()
		cur, err := fg.fc.GetFunction(ctx, &functionspb.GetFunctionRequest{Name: testFunction})
		if err != nil {
			t.Fatal(err)
		}
		cur.ServiceConfig.AllTrafficOnLatestRevision = false
		cur.ServiceConfig.EnvironmentVariables["X"] = fmt.Sprint(time.Now().UnixNano())
		op, err := fg.fc.UpdateFunction(ctx, &functionspb.UpdateFunctionRequest{Function: cur, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
		if err != nil {
			t.Fatal(err)
		}
		// Poll by hand: op.Wait's backoff starts at a second.
		for !op.Done() {
			time.Sleep(time.Millisecond)
			if _, err := op.Poll(ctx); err != nil {
				t.Fatal(err)
			}
		}
		out, err := op.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return out.ServiceConfig.Revision
	}
	r2 := update("service_config.environment_variables")
	if got := route(t, fn).Traffic; got.Stable != r2 {
		t.Fatalf("mask without all_traffic_on_latest_revision: traffic %+v, want the trap (all on %s)", got, r2)
	}
	// Pin again and name the field: the false now takes effect.
	if err := fn.SetTraffic(ctx, "", provider.Traffic{Stable: r1}, nil); err != nil {
		t.Fatal(err)
	}
	r3 := update("service_config.environment_variables", "service_config.all_traffic_on_latest_revision")
	if got := route(t, fn).Traffic; got.Stable != r1 || r3 == r1 {
		t.Fatalf("mask naming the field: traffic %+v, want it to stay on %s", got, r1)
	}

	// Through the adapter: code and configuration changes publish new
	// revisions and never move the route.
	s := testSpec()
	s.Code = bundle.Files(map[string][]byte{"go.mod": []byte("module example.com/fn\n"), "fn.go": []byte("package fn // v2\n")})
	s.Env = map[string]string{}
	res := apply(t, fn, s)
	if !res.Published || res.UploadedBytes == 0 {
		t.Fatalf("code change: %+v, want a new revision and an upload", res)
	}
	if got := route(t, fn).Traffic; got.Stable != r1 || got.Candidate != "" {
		t.Fatalf("after a code change traffic is %+v, want it on %s", got, r1)
	}
	// The empty Env (proto3: an empty map is not on the wire) cleared the
	// variables because service_config is in the mask.
	if env := fg.srv.Function(testFunction).ServiceConfig.EnvironmentVariables; env["X"] != "" {
		t.Fatalf("empty Env left %v", env)
	}
}

func TestFailedBuild(t *testing.T) {
	fg := newFakeGCP(t, nil)
	fn := fg.open(t, testFunction, nil)
	s := testSpec()
	r1 := apply(t, fn, s).Revision.ID
	fg.srv.FailNextBuild(testFunction, "go build: undefined: Handler")
	s.Env = map[string]string{"V": "2"}
	_, err := fn.Apply(t.Context(), s, &provider.ApplyOptions{Publish: true})
	var be *BuildError
	if !errors.As(err, &be) {
		t.Fatalf("Apply after a failed build: %v, want a *BuildError", err)
	}
	if be.Message != "go build: undefined: Handler" || !strings.HasPrefix(be.LogURL, "https://console.cloud.google.com/cloud-build/builds;region=us-central1/") {
		t.Fatalf("build error = %+v", be)
	}
	if !strings.Contains(err.Error(), be.LogURL) || strings.Count(err.Error(), "undefined: Handler") != 1 {
		t.Errorf("message should say the build's message once and its log URL: %v", err)
	}
	if provider.Code(err) != provider.InvalidArgument {
		t.Errorf("code %v, want InvalidArgument", provider.Code(err))
	}
	revs, err := fn.Revisions(t.Context())
	if err != nil || len(revs) != 1 || revs[0].ID != r1 {
		t.Fatalf("revisions after a failed build: %v %v, want only %s", revIDs(revs), err, r1)
	}
	if st, _ := fn.Get(t.Context()); st.Config.Env["V"] != "" {
		t.Errorf("failed build changed the live config: %v", st.Config.Env)
	}
}

func revIDs(rs []*provider.Revision) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// TestUnchangedDigestSkipsUpload: an env change redeploys without an
// upload; an identical spec calls nothing that writes.
func TestUnchangedDigestSkipsUpload(t *testing.T) {
	fg := newFakeGCP(t, nil)
	fn := fg.open(t, testFunction, nil)
	s := testSpec()
	first := apply(t, fn, s)
	if first.UploadedBytes == 0 {
		t.Fatal("create uploaded nothing")
	}
	fg.srv.ResetCalls()
	s.Env = map[string]string{"V": "2"}
	res := apply(t, fn, s)
	calls := countCalls(fg.srv.Calls())
	if res.UploadedBytes != 0 || calls["GenerateUploadUrl"] != 0 || calls["PUT upload"] != 0 {
		t.Fatalf("env change with the same code: uploaded %d bytes, calls %v", res.UploadedBytes, calls)
	}
	if !res.Published {
		t.Fatal("env change published no revision")
	}
	fg.srv.ResetCalls()
	res = apply(t, fn, s)
	calls = countCalls(fg.srv.Calls())
	if res.Changed || res.UploadedBytes != 0 || calls["UpdateFunction"]+calls["UpdateService"]+calls["GenerateUploadUrl"] != 0 {
		t.Fatalf("same spec again: %+v, calls %v", res, calls)
	}
}

// TestSecretsNeverRead: secret references go to
// secret_environment_variables; no value is read, and nothing but the
// known control-plane RPCs is called.
func TestSecretsNeverRead(t *testing.T) {
	fg := newFakeGCP(t, nil)
	fn := fg.open(t, testFunction, nil)
	s := testSpec()
	ref := "projects/p/secrets/api-key/versions/3"
	s.Secrets = map[string]string{"API_KEY": ref}
	apply(t, fn, s)
	live := fg.srv.Function(testFunction)
	if _, ok := live.ServiceConfig.EnvironmentVariables["API_KEY"]; ok {
		t.Fatal("the secret became a plain environment variable")
	}
	sv := live.ServiceConfig.SecretEnvironmentVariables
	if len(sv) != 1 || sv[0].Key != "API_KEY" || sv[0].ProjectId != "p" || sv[0].Secret != "api-key" || sv[0].Version != "3" {
		t.Fatalf("secret env = %v", sv)
	}
	for _, c := range fg.srv.Calls() {
		if !slices.Contains([]string{"GetFunction", "GenerateUploadUrl", "PUT upload", "CreateFunction", "GetOperation", "GetService", "UpdateService", "ListJobs"}, c) {
			t.Errorf("unexpected call %s", c)
		}
	}
	st, err := fn.Get(t.Context())
	if err != nil || st.Config.Secrets["API_KEY"] != ref {
		t.Fatalf("secrets read back %v %v", st.Config.Secrets, err)
	}
	s.Secrets = map[string]string{"API_KEY": "hunter2-plain-value"}
	_, err = fn.Apply(t.Context(), s, nil)
	if provider.Code(err) != provider.InvalidArgument || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("a value in place of a reference: %v", err)
	}
	p, err := deploy.Plan(t.Context(), []*provider.Function{fn}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out := p.String(); strings.Contains(out, "hunter2") {
		t.Fatalf("plan shows the value: %s", out)
	}
}

// TestOneEventTrigger: Plan reports a second event trigger before any
// mutation; the driver refuses to turn an HTTP function into an
// event-triggered one in place.
func TestOneEventTrigger(t *testing.T) {
	fg := newFakeGCP(t, nil)
	fn := fg.open(t, testFunction, nil)
	s := testSpec()
	s.Triggers = []trigger.Trigger{
		trigger.Queue{Key: "jobs", Source: "projects/p/topics/jobs"},
		trigger.Storage{Key: "uploads", Bucket: "b"},
	}
	p, err := deploy.Plan(t.Context(), []*provider.Function{fn}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if provider.Code(p.Err()) != provider.InvalidArgument || len(p.Targets[0].Violations) != 1 || !strings.Contains(p.Targets[0].Violations[0].Message, "allows 1 per function") {
		t.Fatalf("plan: err %v, violations %+v", p.Err(), p.Targets[0].Violations)
	}
	for _, c := range fg.srv.Calls() {
		if c != "GetFunction" {
			t.Errorf("plan with a violation called %s", c)
		}
	}
	if _, err := deploy.ApplyPlan(t.Context(), p, nil); provider.Code(err) != provider.InvalidArgument {
		t.Fatalf("ApplyPlan of a plan with violations: %v", err)
	}

	// One event trigger: an event function from the start.
	s.Triggers = []trigger.Trigger{trigger.Queue{Key: "jobs", Source: "projects/p/topics/jobs"}}
	apply(t, fn, s)
	live := fg.srv.Function(testFunction)
	et := live.EventTrigger
	if et == nil || et.EventType != eventPubsub || et.PubsubTopic != "projects/p/topics/jobs" || live.ServiceConfig.EnvironmentVariables[envEventKey] != "jobs" {
		t.Fatalf("event trigger %v, env %v", et, live.ServiceConfig.EnvironmentVariables)
	}
	s.Triggers = []trigger.Trigger{trigger.Queue{Key: "jobs", Source: "projects/p/topics/other"}}
	apply(t, fn, s)
	if got := fg.srv.Function(testFunction).EventTrigger.PubsubTopic; got != "projects/p/topics/other" {
		t.Fatalf("topic after update %s", got)
	}
	st, _ := fn.Get(t.Context())
	if len(st.Triggers) != 1 || st.Triggers[0] != (trigger.Queue{Key: "jobs", Source: "projects/p/topics/other"}) {
		t.Fatalf("triggers read back %v", st.Triggers)
	}
	s.Triggers = []trigger.Trigger{}
	if _, err := fn.Apply(t.Context(), s, nil); provider.Code(err) != provider.FailedPrecondition {
		t.Fatalf("removing the event trigger in place: %v, want FailedPrecondition", err)
	}

	// An HTTP function cannot get one.
	other := fg.open(t, testParent+"/functions/web", nil)
	apply(t, other, testSpec())
	s.Triggers = []trigger.Trigger{trigger.Storage{Key: "uploads", Bucket: "b", Events: []trigger.StorageEvent{trigger.ObjectDeleted}}}
	if _, err := other.Apply(t.Context(), s, nil); provider.Code(err) != provider.FailedPrecondition {
		t.Fatalf("adding an event trigger to an HTTP function: %v, want FailedPrecondition", err)
	}
}

func TestEventTriggerKinds(t *testing.T) {
	fg := newFakeGCP(t, nil)
	for _, tc := range []struct {
		tr   trigger.Trigger
		want string
	}{
		{trigger.Stream{Key: "users", Source: "projects/p/databases/(default)/documents/users/{id}"}, eventFirestore},
		{trigger.Storage{Key: "uploads", Bucket: "b"}, eventFinalized},
	} {
		fn := fg.open(t, testParent+"/functions/"+tc.tr.TriggerKey(), func(o *Options) { o.TriggerRegion = "nam5" })
		s := testSpec()
		s.Triggers = []trigger.Trigger{tc.tr}
		apply(t, fn, s)
		et := fg.srv.Function(testParent + "/functions/" + tc.tr.TriggerKey()).EventTrigger
		if et.EventType != tc.want || et.TriggerRegion != "nam5" || et.RetryPolicy != functionspb.EventTrigger_RETRY_POLICY_RETRY {
			t.Errorf("%s: event trigger %v", tc.tr.TriggerKey(), et)
		}
		st, _ := fn.Get(t.Context())
		if len(st.Triggers) != 1 || fmt.Sprint(st.Triggers[0]) != fmt.Sprint(trigger.Normalize(tc.tr)) {
			t.Errorf("%s: read back %v", tc.tr.TriggerKey(), st.Triggers)
		}
		// A second apply changes nothing.
		if res := apply(t, fn, s); res.Changed {
			t.Errorf("%s: re-apply changed %+v", tc.tr.TriggerKey(), res)
		}
	}
	fn := fg.open(t, testFunction, nil)
	s := testSpec()
	s.Triggers = []trigger.Trigger{trigger.Storage{Key: "u", Bucket: "b", Prefix: "in/"}}
	if _, err := fn.Apply(t.Context(), s, nil); provider.Code(err) != provider.Unimplemented {
		t.Errorf("storage prefix: %v, want Unimplemented", err)
	}
}

func TestSchedules(t *testing.T) {
	fg := newFakeGCP(t, nil)
	fn := fg.open(t, testFunction, nil)
	foreign := &schedulerpb.Job{Name: testParent + "/jobs/someone-elses", Schedule: "0 * * * *",
		Target: &schedulerpb.Job_HttpTarget{HttpTarget: &schedulerpb.HttpTarget{Uri: "https://example.com"}}}
	fg.srv.AddForeignJob(foreign)
	s := testSpec()
	s.Triggers = []trigger.Trigger{trigger.Schedule{Key: "tick", Rate: 5 * time.Minute}}
	apply(t, fn, s)
	jobs := fg.srv.Jobs()
	j := jobs[testParent+"/jobs/updraft_fn_tick"]
	if j == nil || j.Schedule != "*/5 * * * *" || j.GetHttpTarget().GetOidcToken().GetServiceAccountEmail() != schedulerSA ||
		j.GetHttpTarget().Uri != fg.srv.Function(testFunction).Url || j.GetHttpTarget().Headers[triggerHeader] != "tick" {
		t.Fatalf("job = %v", j)
	}
	s.Triggers = []trigger.Trigger{}
	apply(t, fn, s)
	jobs = fg.srv.Jobs()
	if _, ok := jobs[testParent+"/jobs/updraft_fn_tick"]; ok || jobs[foreign.Name] == nil {
		t.Fatalf("after clearing: %v", slices.Collect(func(y func(string) bool) {
			for k := range jobs {
				if !y(k) {
					return
				}
			}
		}))
	}
}

func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault gcpfake.Fault
		ok    bool
		code  provider.ErrorCode
	}{
		{"unavailable update", gcpfake.Fault{Method: "UpdateFunction", Code: codes.Unavailable}, true, 0},
		{"queue conflict", gcpfake.Fault{Method: "UpdateFunction", Code: codes.Aborted, Times: 2}, true, 0},
		{"quota", gcpfake.Fault{Method: "GetService", Code: codes.ResourceExhausted}, true, 0},
		{"poll unavailable", gcpfake.Fault{Method: "GetOperation", Code: codes.Unavailable, Times: 2}, true, 0},
		{"latency", gcpfake.Fault{Method: "", Latency: 2 * time.Millisecond, Times: -1}, true, 0},
		{"persistent unavailable", gcpfake.Fault{Method: "UpdateFunction", Code: codes.Unavailable, Times: -1}, false, provider.Internal},
		{"permission", gcpfake.Fault{Method: "UpdateFunction", Code: codes.PermissionDenied}, false, provider.PermissionDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fg := newFakeGCP(t, nil)
			fn := fg.open(t, testFunction, nil)
			s := testSpec()
			apply(t, fn, s)
			fg.srv.Inject(tc.fault)
			s.Env = map[string]string{"V": "2"}
			_, err := fn.Apply(t.Context(), s, &provider.ApplyOptions{Publish: true})
			if tc.ok != (err == nil) || (!tc.ok && provider.Code(err) != tc.code) {
				t.Fatalf("Apply: %v (code %v)", err, provider.Code(err))
			}
			fg.srv.ClearFaults()
			if st, _ := fn.Get(t.Context()); tc.ok && st.Config.Env["V"] != "2" {
				t.Fatalf("env after the fault: %v", st.Config.Env)
			}
		})
	}
	t.Run("failed service operation", func(t *testing.T) {
		fg := newFakeGCP(t, nil)
		fn := fg.open(t, testFunction, nil)
		s := testSpec()
		s.Env = map[string]string{"V": "1"}
		r1 := apply(t, fn, s).Revision.ID
		s.Env = map[string]string{"V": "2"}
		r2 := apply(t, fn, s).Revision.ID
		fg.srv.FailNextOperation("UpdateService", codes.Internal, "the service could not be reconciled")
		err := fn.SetTraffic(t.Context(), "", provider.Traffic{Stable: r1, Candidate: r2, CandidatePercent: 10}, nil)
		if provider.Code(err) != provider.Internal || !strings.Contains(err.Error(), "could not be reconciled") {
			t.Fatalf("SetTraffic with a failed operation: %v", err)
		}
	})
}

// TestRollout runs a canary 10 → 50 → 100 through deploy.Rollout, then a
// candidate that fails its smoke invoke and is rolled back.
func TestRollout(t *testing.T) {
	fg := newFakeGCP(t, &gcpfake.Options{OpDelay: 2 * time.Millisecond, Handler: func(inv *gcpfake.Invocation) (int, []byte) {
		if inv.Env["V"] == "bad" {
			return http.StatusInternalServerError, []byte("panic: nil map")
		}
		return http.StatusOK, []byte(`{"ok":true}`)
	}})
	fn := fg.open(t, testFunction, nil)
	ctx := t.Context()
	fns := []*provider.Function{fn}
	s := testSpec()
	s.Env = map[string]string{"V": "1"}
	res, err := deploy.Rollout(ctx, fns, s, nil)
	if err != nil || res.Targets[0].Outcome != deploy.OutcomeCreated {
		t.Fatalf("first rollout: %v %+v", err, res)
	}
	stable := route(t, fn).Traffic.Stable

	var seen []int
	trafficGate := deploy.Gate{Name: "traffic", Check: func(ctx context.Context, in *deploy.GateInput) error {
		st, err := in.Function.Get(ctx)
		if err != nil {
			return err
		}
		tr := st.Routes[in.Route].Traffic
		seen = append(seen, in.Percent)
		want := provider.Traffic{Stable: in.Stable, Candidate: in.Candidate, CandidatePercent: in.Percent}
		if in.Percent == 100 {
			want = provider.Traffic{Stable: in.Candidate}
		}
		if tr != want {
			return fmt.Errorf("traffic %+v at step %d, want %+v", tr, in.Step, want)
		}
		return nil
	}}
	s.Env = map[string]string{"V": "2"}
	res, err = deploy.Rollout(ctx, fns, s, &deploy.RolloutOptions{Strategy: deploy.Canary(10, 50, 100),
		Gates: []deploy.Gate{deploy.InvokeGate([]byte(`{}`)), trafficGate}})
	if err != nil || res.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("canary: %v %+v", err, res)
	}
	if !slices.Equal(seen, []int{10, 50, 100}) {
		t.Fatalf("steps %v", seen)
	}
	r := route(t, fn)
	good := res.Targets[0].Candidate
	if r.Traffic != (provider.Traffic{Stable: good}) || r.Marker != nil || good == stable {
		t.Fatalf("after the canary: %+v", r)
	}

	s.Env = map[string]string{"V": "bad"}
	res, err = deploy.Rollout(ctx, fns, s, &deploy.RolloutOptions{Strategy: deploy.Canary(10, 50, 100),
		Gates: []deploy.Gate{deploy.InvokeGate([]byte(`{}`))}})
	var ge *deploy.GateError
	if !errors.As(err, &ge) || ge.Gate != "invoke" || res.Outcome != deploy.OutcomeRolledBack {
		t.Fatalf("bad candidate: %v %+v", err, res)
	}
	if !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("gate error does not show the status: %v", err)
	}
	if r := route(t, fn); r.Traffic != (provider.Traffic{Stable: good}) || r.Marker != nil {
		t.Fatalf("after the rollback: %+v", r)
	}
	// The rollback removed the candidate's tag, so it can be pruned.
	if err := fn.DeleteRevision(ctx, res.Targets[0].Candidate); err != nil {
		t.Fatalf("deleting the rolled-back candidate: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	fg := newFakeGCP(t, nil)
	fn := fg.open(t, testFunction, nil)
	rev := apply(t, fn, testSpec()).Revision.ID
	now := time.Now()
	fg.srv.RecordRequests("fn", rev, 200, 90, now)
	fg.srv.RecordRequests("fn", rev, 503, 6, now)
	fg.srv.RecordRequests("fn", rev, 429, 3, now)
	fg.srv.RecordRequests("fn", rev, 404, 1, now)
	fg.srv.RecordRequests("fn", "fn-00009-zzz", 500, 50, now)
	m, err := fn.Metrics(t.Context(), &provider.MetricsQuery{Revision: rev, Since: now.Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if m.Invocations != 100 || m.Errors != 6 || m.Throttles != 3 {
		t.Fatalf("metrics %+v", m)
	}
	noMon := fg.open(t, testFunction, func(o *Options) { o.MetricClient = nil })
	if _, err := noMon.Metrics(t.Context(), nil); provider.Code(err) != provider.Unimplemented {
		t.Fatalf("without a metric client: %v", err)
	}
}

func TestRouteAndPreconditions(t *testing.T) {
	fg := newFakeGCP(t, nil)
	fn := fg.open(t, testFunction, nil)
	s := testSpec()
	apply(t, fn, s)
	other := s.Clone()
	other.Route = "prod"
	if _, err := fn.Apply(t.Context(), other, nil); provider.Code(err) != provider.InvalidArgument {
		t.Fatalf("a second route: %v", err)
	}
	svc := fg.srv.Service(svcName(testFunction))
	if svc.Annotations[annRoute] != "live" || svc.Traffic[0].Type != runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION {
		t.Fatalf("service after create: %v %v", svc.Annotations, svc.Traffic)
	}
	// A marker write is a metadata change: no revision, new etag.
	before := route(t, fn)
	if err := fn.SetMarker(t.Context(), "", &provider.Marker{ID: "r-1", Holder: "ci"}, &provider.ConditionOptions{IfMatch: before.ETag}); err != nil {
		t.Fatal(err)
	}
	if err := fn.SetMarker(t.Context(), "", nil, &provider.ConditionOptions{IfMatch: before.ETag}); provider.Code(err) != provider.FailedPrecondition {
		t.Fatalf("stale marker write: %v", err)
	}
	if revs := fg.srv.Revisions(svcName(testFunction)); len(revs) != 1 {
		t.Fatalf("marker writes made revisions: %v", revs)
	}
}

func TestOpenErrors(t *testing.T) {
	fg := newFakeGCP(t, nil)
	for _, name := range []string{"fn", "projects/p/functions/fn", "projects/p/locations/us-central1/functions/Fn", "projects/p/locations/us-central1/functions/fn-"} {
		if _, err := OpenFunction(t.Context(), fg.fc, fg.sc, name, fg.options()); provider.Code(err) != provider.InvalidArgument || strings.Contains(err.Error(), "<nil>") {
			t.Errorf("open %q: %v", name, err)
		}
	}
	if _, err := OpenFunction(t.Context(), nil, fg.sc, testFunction, nil); provider.Code(err) != provider.InvalidArgument {
		t.Errorf("nil client: %v", err)
	}
	for _, u := range []string{"gcpfunctions://fn", "gcpfunctions://projects/p/locations/us-central1/functions/fn?color=red",
		"gcpfunctions://projects/p/locations/us-central1/functions/fn?concurrency=0"} {
		if _, err := provider.Open(t.Context(), u); err == nil {
			t.Errorf("open %s succeeded", u)
		}
	}
}

func TestFailedFirstBuild(t *testing.T) {
	fg := newFakeGCP(t, nil)
	fn := fg.open(t, testFunction, nil)
	fg.srv.FailNextBuild(testFunction, "go: go.mod requires go >= 1.27")
	_, err := fn.Apply(t.Context(), testSpec(), &provider.ApplyOptions{Publish: true})
	var be *BuildError
	if !errors.As(err, &be) {
		t.Fatalf("first Apply: %v, want a *BuildError", err)
	}
	st, err := fn.Get(t.Context())
	if err != nil || len(st.Routes) != 0 {
		t.Fatalf("a function whose first build failed: %+v %v", st, err)
	}
	if revs, err := fn.Revisions(t.Context()); err != nil || len(revs) != 0 {
		t.Fatalf("revisions %v %v", revs, err)
	}
	res := apply(t, fn, testSpec())
	if res.Revision == nil || route(t, fn).Traffic.Stable != res.Revision.ID {
		t.Fatalf("Apply after the failed build: %+v", res)
	}
}

func TestRuntimesFromList(t *testing.T) {
	fg := newFakeGCP(t, nil)
	resp, err := fg.fc.ListRuntimes(t.Context(), &functionspb.ListRuntimesRequest{Parent: testParent})
	if err != nil {
		t.Fatal(err)
	}
	got := RuntimesFromList(resp)
	for id, want := range DefaultRuntimes {
		if got[id] != want {
			t.Errorf("%s: %q from ListRuntimes, %q in DefaultRuntimes", id, got[id], want)
		}
	}
	if _, ok := got["go124"]; ok {
		t.Error("a deprecated runtime is in the table")
	}
	fn := fg.open(t, testFunction, func(o *Options) { o.Runtimes = map[string]string{"go": "go125"} })
	if rts := fn.Capabilities().Runtimes; !slices.Equal(rts, []string{"go"}) {
		t.Fatalf("capabilities runtimes %v", rts)
	}
	s := testSpec()
	s.Runtime = "nodejs22"
	if err := fn.Validate(s); provider.Code(err) != provider.InvalidArgument {
		t.Fatalf("a runtime outside the table: %v", err)
	}
}

func TestParseQuery(t *testing.T) {
	var o Options
	q, _ := url.ParseQuery("service_account=run@p.iam.gserviceaccount.com&build_env=GOFLAGS=-mod=mod,CGO_ENABLED=0&ingress=internal&concurrency=80&scheduler_service_account=s@p.iam.gserviceaccount.com&trigger_region=nam5&worker_pool=projects/p/locations/l/workerPools/w")
	if err := parseQuery("fn", q, &o); err != nil {
		t.Fatal(err)
	}
	if o.ServiceAccount != "run@p.iam.gserviceaccount.com" || o.BuildEnv["GOFLAGS"] != "-mod=mod" || o.BuildEnv["CGO_ENABLED"] != "0" ||
		o.Ingress != "internal" || o.RequestConcurrency != 80 || o.SchedulerServiceAccount == "" || o.TriggerRegion != "nam5" || o.WorkerPool == "" {
		t.Fatalf("options %+v", o)
	}
	for _, bad := range []string{"color=red", "concurrency=0", "build_env=novalue"} {
		q, _ := url.ParseQuery(bad)
		if err := parseQuery("fn", q, &Options{}); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestConcurrencyCPU: more than one request per instance gets a whole
// vCPU, as Cloud Run requires (the fake refuses less).
func TestConcurrencyCPU(t *testing.T) {
	fg := newFakeGCP(t, nil)
	fn := fg.open(t, testFunction, func(o *Options) { o.RequestConcurrency = 80 })
	s := testSpec()
	s.MemoryMB = 512
	apply(t, fn, s)
	sc := fg.srv.Function(testFunction).ServiceConfig
	if sc.AvailableCpu != "1" || sc.MaxInstanceRequestConcurrency != 80 || sc.AvailableMemory != "512Mi" {
		t.Fatalf("service config %v", sc)
	}
}

// TestBlueGreen: at 0% the smoke invoke reaches the candidate through a
// tag the adapter adds; the swap drops it, so the old revision can go.
func TestBlueGreen(t *testing.T) {
	fg := newFakeGCP(t, &gcpfake.Options{OpDelay: time.Millisecond, Handler: func(inv *gcpfake.Invocation) (int, []byte) {
		return http.StatusOK, []byte(inv.Revision + " " + inv.Tag)
	}})
	fn := fg.open(t, testFunction, nil)
	fns := []*provider.Function{fn}
	s := testSpec()
	s.Env = map[string]string{"V": "1"}
	if _, err := deploy.Rollout(t.Context(), fns, s, nil); err != nil {
		t.Fatal(err)
	}
	old := route(t, fn).Traffic.Stable
	var reached string
	smoke := deploy.Gate{Name: "smoke", Check: func(ctx context.Context, in *deploy.GateInput) error {
		r, err := in.Function.Invoke(ctx, &provider.InvokeOptions{Revision: in.Candidate})
		if err != nil {
			return err
		}
		if in.Percent == 0 {
			reached = string(r.Payload)
		}
		return nil
	}}
	s.Env = map[string]string{"V": "2"}
	res, err := deploy.Rollout(t.Context(), fns, s, &deploy.RolloutOptions{Strategy: deploy.BlueGreen(), Gates: []deploy.Gate{smoke}})
	if err != nil || res.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("blue/green: %v %+v", err, res)
	}
	if want := res.Targets[0].Candidate + " " + smokeTag; reached != want {
		t.Fatalf("smoke invoke at 0%% reached %q, want %q", reached, want)
	}
	if err := fn.DeleteRevision(t.Context(), old); err != nil {
		t.Fatalf("deleting the old blue revision: %v", err)
	}
}

// TestPrune: deploy.Prune deletes old Cloud Run revisions and keeps the
// serving one.
func TestPrune(t *testing.T) {
	fg := newFakeGCP(t, nil)
	fn := fg.open(t, testFunction, nil)
	s := testSpec()
	var ids []string
	for i := range 5 {
		s.Env = map[string]string{"V": fmt.Sprint(i)}
		ids = append(ids, apply(t, fn, s).Revision.ID)
	}
	if _, err := deploy.Prune(t.Context(), []*provider.Function{fn}, &deploy.PruneOptions{Keep: 1}); err != nil {
		t.Fatal(err)
	}
	got := fg.srv.Revisions(svcName(testFunction))
	if !slices.Contains(got, ids[0]) || !slices.Contains(got, ids[4]) || len(got) != 2 {
		t.Fatalf("after pruning to 1: %v (serving %s, newest %s)", got, ids[0], ids[4])
	}
}

// TestRouteCreatedOnPublish: a function applied without Publish has no
// route; the first Apply with Publish creates it on the revision it
// publishes.
func TestRouteCreatedOnPublish(t *testing.T) {
	fg := newFakeGCP(t, nil)
	fn := fg.open(t, testFunction, nil)
	s := testSpec()
	if _, err := fn.Apply(t.Context(), s, nil); err != nil {
		t.Fatal(err)
	}
	if st, _ := fn.Get(t.Context()); len(st.Routes) != 0 {
		t.Fatalf("routes without Publish: %v", st.Routes)
	}
	s.Env = map[string]string{"V": "2"}
	res := apply(t, fn, s)
	if r := route(t, fn); r.Traffic != (provider.Traffic{Stable: res.Revision.ID}) {
		t.Fatalf("new route %+v, want it on %s", r.Traffic, res.Revision.ID)
	}
}

// TestPortableGoFunction deploys a bundle.GoFunction package: the source
// zip is the bundler's Cloud Functions form, whose entry point Updraft
// the adapter sets.
func TestPortableGoFunction(t *testing.T) {
	fg := newFakeGCP(t, nil)
	fn := fg.open(t, testFunction, nil)
	s := &provider.Spec{Code: bundle.GoFunction("../../examples/portable/fn"), Runtime: "go",
		Triggers: []trigger.Trigger{trigger.Queue{Key: "jobs", Source: "projects/p/topics/jobs"}}}
	apply(t, fn, s)
	live := fg.srv.Function(testFunction)
	if live.BuildConfig.EntryPoint != bundle.GCFEntryPoint || live.BuildConfig.Runtime != "go126" || live.ServiceConfig.EnvironmentVariables[envEventKey] != "jobs" {
		t.Fatalf("build config %v, env %v", live.BuildConfig, live.ServiceConfig.EnvironmentVariables)
	}
	src := live.BuildConfig.GetSource().GetStorageSource()
	zipb, ok := fg.srv.Object(src.Bucket, src.Object)
	if !ok {
		t.Fatal("no source uploaded")
	}
	zr, err := zip.NewReader(bytes.NewReader(zipb), int64(len(zipb)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	if !slices.Contains(names, "go.mod") || !slices.Contains(names, "updraftfn.go") {
		t.Fatalf("source zip holds %v, want the generated root", names)
	}
}
