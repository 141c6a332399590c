package awslambda

import (
	"context"
	"errors"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/internal/cloudfake/awswire"
	"github.com/updraft-dev/updraft/internal/cloudfake/lambdafake"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/trigger"
)

func ptr(n int) *int { return &n }

func mustApply(t *testing.T, fn *provider.Function, s *provider.Spec) *provider.ApplyResult {
	t.Helper()
	res, err := fn.Apply(t.Context(), s, &provider.ApplyOptions{Publish: true})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return res
}

func mustGet(t *testing.T, fn *provider.Function) *provider.State {
	t.Helper()
	st, err := fn.Get(t.Context())
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return st
}

// mutations lists the mutating operations in calls.
func mutations(calls []string) []string {
	var out []string
	for _, c := range calls {
		if !strings.HasPrefix(c, "Get") && !strings.HasPrefix(c, "List") {
			out = append(out, c)
		}
	}
	return out
}

func TestCreateMapsEverySetting(t *testing.T) {
	fa := newFakeAWS(t, nil)
	fn := fa.open(t, "full", nil)
	s := testSpec()
	s.MemoryMB, s.Timeout, s.Architecture = 512, 30*time.Second, "arm64"
	s.Tracing, s.LogFormat = true, "json"
	s.Env = map[string]string{"GREETING": "hi"}
	s.Secrets = map[string]string{"DB_PASSWORD": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"}
	s.Labels = map[string]string{"team": "core"}
	s.Concurrency.Max = ptr(20)
	res := mustApply(t, fn, s)
	if !res.Created || res.Revision == nil || res.Revision.ID != "1" {
		t.Fatalf("create: %+v", res)
	}
	c, _ := fa.lam.Function("full")
	checkLiveFull(t, c, s)
	checkStateFull(t, mustGet(t, fn).Config)
	// Re-reading and re-applying is a no-op.
	fa.lam.ResetCalls()
	again := mustApply(t, fn, s)
	if again.Changed || again.Published || again.UploadedBytes != 0 || len(mutations(fa.lam.Calls())) > 0 {
		t.Errorf("re-apply: %+v, calls %v", again, fa.lam.Calls())
	}
	s.Secrets = map[string]string{"DB_PASSWORD": "hunter2"}
	_, err := fn.Apply(t.Context(), s, nil)
	if provider.Code(err) != provider.InvalidArgument || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("secret value instead of a reference: %v (must be InvalidArgument and must not echo the value)", err)
	}
}

func checkLiveFull(t *testing.T, c lambdafake.Config, s *provider.Spec) {
	t.Helper()
	if c.Runtime != "provided.al2023" || c.Handler != "bootstrap" || c.MemorySize != 512 || c.Timeout != 30 {
		t.Errorf("live runtime, handler, memory or timeout %+v", c)
	}
	if !slices.Equal(c.Architectures, []string{"arm64"}) || c.TracingConfig.Mode != "Active" || c.LoggingConfig.LogFormat != "JSON" || c.Role != testRole {
		t.Errorf("live architecture, tracing, logging or role %+v", c)
	}
	if c.Environment.Variables["DB_PASSWORD"] != s.Secrets["DB_PASSWORD"] || c.Environment.Variables["GREETING"] != "hi" {
		t.Errorf("environment %v: want the secret's ARN, never a value", c.Environment.Variables)
	}
}

func checkStateFull(t *testing.T, cfg provider.Config) {
	t.Helper()
	if cfg.Runtime != "go" || cfg.Entrypoint != "" || cfg.Architecture != "arm64" || !cfg.Tracing || cfg.LogFormat != "json" {
		t.Errorf("state config %+v", cfg)
	}
	if cfg.Env["GREETING"] != "hi" || cfg.Secrets["DB_PASSWORD"] == "" || cfg.Labels["team"] != "core" || cfg.MaxConcurrency == nil || *cfg.MaxConcurrency != 20 {
		t.Errorf("state env, secrets, labels or concurrency %+v", cfg)
	}
}

func TestNoOpApplyReadsOnly(t *testing.T) {
	fa := newFakeAWS(t, nil)
	fn := fa.open(t, "noop", nil)
	s := testSpec()
	s.Triggers = append(testTriggers(), trigger.Storage{Key: "uploads", Bucket: "inbox"}, trigger.Stream{Key: "changes", Source: "arn:aws:kinesis:us-east-1:123456789012:stream/s"})
	s.Concurrency.Provisioned = ptr(1)
	s.Concurrency.Max = ptr(10)
	s.Labels = map[string]string{"a": "b"}
	fa.s3.CreateBucket("inbox")
	mustApply(t, fn, s)
	for _, r := range []interface{ ResetCalls() }{fa.lam, fa.s3, fa.sch} {
		r.ResetCalls()
	}
	res := mustApply(t, fn, s)
	all := append(append(fa.lam.Calls(), fa.s3.Calls()...), fa.sch.Calls()...)
	if m := mutations(all); len(m) > 0 || res.Changed || res.UploadedBytes != 0 {
		t.Fatalf("no-op apply made mutations %v (result %+v)", m, res)
	}
	t.Logf("no-op apply with 6 triggers and provisioned concurrency: %d read calls: %v", len(all), all)
}

// TestRoundTrips counts the sequential calls of a code update, publish and
// alias shift (the closing note of the issue reports them).
func TestRoundTrips(t *testing.T) {
	fa := newFakeAWS(t, &lambdafakeZeroDelay)
	fn := fa.open(t, "rt", nil)
	r1 := mustApply(t, fn, testSpec()).Revision.ID
	s := testSpec()
	s.Code = bundle.Files(map[string][]byte{"bootstrap": []byte("#!/bin/sh\necho v2\n")})
	fa.lam.ResetCalls()
	r2 := mustApply(t, fn, s).Revision.ID
	applyCalls := fa.lam.Calls()
	fa.lam.ResetCalls()
	if err := fn.SetTraffic(t.Context(), "", provider.Traffic{Stable: r1, Candidate: r2, CandidatePercent: 100}, nil); err != nil {
		t.Fatal(err)
	}
	shift := fa.lam.Calls()
	t.Logf("code update + publish (Apply): %d calls %v; alias shift (SetTraffic): %d calls %v", len(applyCalls), applyCalls, len(shift), shift)
	// The fake settles at once, so UpdateFunctionCode's response is final
	// and no wait is needed; the change publishes without listing versions.
	want := []string{"GetFunction", "UpdateFunctionCode", "GetAlias", "PublishVersion"}
	if !slices.Equal(applyCalls, want) || !slices.Equal(shift, []string{"UpdateAlias"}) {
		t.Errorf("calls %v + %v, want %v + [UpdateAlias]", applyCalls, shift, want)
	}
}

func TestBackToBackUpdateRace(t *testing.T) {
	fa := newFakeAWS(t, nil)
	fn := fa.open(t, "race", nil)
	mustApply(t, fn, testSpec())
	// Another tool has just started an update: Apply must wait for it
	// rather than fail with ResourceConflictException.
	if err := fa.lam.StartForeignUpdate("race", 40*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	s := testSpec()
	s.MemoryMB = 256
	s.Code = bundle.Files(map[string][]byte{"bootstrap": []byte("#!/bin/sh\necho v2\n")})
	res := mustApply(t, fn, s)
	if !res.Published || res.Revision.Config.MemoryMB != 256 {
		t.Fatalf("apply after a foreign update: %+v", res)
	}
	// An update slipping in between our wait and our call (409) is
	// retried after waiting, not surfaced.
	fa.lam.Inject(awswire.Fault{Op: "UpdateFunctionConfiguration", Times: 2, Status: 409, Type: "ResourceConflictException",
		Message: "The operation cannot be performed at this time. An update is in progress for resource: arn:aws:lambda:us-east-1:123456789012:function:race"})
	fa.lam.Inject(awswire.Fault{Op: "PublishVersion", Status: 409, Type: "ResourceConflictException",
		Message: "The operation cannot be performed at this time. An update is in progress for resource: arn:aws:lambda:us-east-1:123456789012:function:race"})
	s.MemoryMB = 384
	if res := mustApply(t, fn, s); res.Revision.Config.MemoryMB != 384 {
		t.Fatalf("after injected conflicts: %+v", res.Revision.Config)
	}
	// Three updates back to back, none waiting on the caller's side.
	for _, m := range []int{512, 640, 768} {
		s.MemoryMB = m
		if _, err := fn.Apply(t.Context(), s, nil); err != nil {
			t.Fatalf("back-to-back update to %d MB: %v", m, err)
		}
	}
	if c, _ := fa.lam.Function("race"); c.MemorySize != 768 || c.LastUpdateStatus != "Successful" {
		t.Fatalf("final %d MB %s", c.MemorySize, c.LastUpdateStatus)
	}
	// A 409 that is not "in progress" is not retried.
	fa.lam.Inject(awswire.Fault{Op: "UpdateFunctionConfiguration", Times: -1, Status: 409, Type: "ResourceConflictException", Message: "something else"})
	s.MemoryMB = 1024
	if _, err := fn.Apply(t.Context(), s, nil); provider.Code(err) != provider.FailedPrecondition {
		t.Fatalf("other conflict: %v", err)
	}
}

func TestFailedUpdateReason(t *testing.T) {
	fa := newFakeAWS(t, nil)
	fn := fa.open(t, "failing", nil)
	mustApply(t, fn, testSpec())
	fa.lam.FailNextUpdate("failing", "EniLimitExceeded", "Lambda was not able to create an ENI in the VPC of the Lambda function because the limit for Network Interfaces has been reached.")
	s := testSpec()
	s.MemoryMB = 1024
	_, err := fn.Apply(t.Context(), s, &provider.ApplyOptions{Publish: true})
	var fe *FailedError
	if provider.Code(err) != provider.Internal || !errors.As(err, &fe) || fe.ReasonCode != "EniLimitExceeded" || !strings.Contains(err.Error(), "limit for Network Interfaces") {
		t.Fatalf("failed update: %v", err)
	}
	if c, _ := fa.lam.Function("failing"); c.MemorySize != 128 || c.LastUpdateStatus != "Failed" {
		t.Fatalf("after a failed update the previous configuration stays live: %d MB, %s", c.MemorySize, c.LastUpdateStatus)
	}
	if vs := fa.lam.Versions("failing"); len(vs) != 1 {
		t.Fatalf("a failed update published %v", vs)
	}
	// The next apply goes through (LastUpdateStatus Failed is not "busy").
	if res := mustApply(t, fn, s); res.Revision.Config.MemoryMB != 1024 {
		t.Fatalf("retry after failure: %+v", res.Revision)
	}
	// Creation failing reports the state reason.
	fa.lam.FailNextCreate("broken", "InvalidZipFileException", "Could not unzip uploaded file.")
	_, err = fa.open(t, "broken", nil).Apply(t.Context(), testSpec(), nil)
	if !errors.As(err, &fe) || fe.ReasonCode != "InvalidZipFileException" {
		t.Fatalf("failed create: %v", err)
	}
}

func TestThrottlingStorm(t *testing.T) {
	fa := newFakeAWS(t, nil)
	fn := fa.open(t, "storm", nil)
	// Every operation is throttled 3 times in a row (the SDK's default 3
	// attempts would give up), with 500s and connection resets mixed in:
	// the driver's retryer (MaxRetries+1 = 6 attempts) absorbs it.
	for _, op := range []string{"GetFunction", "CreateFunction", "ListVersionsByFunction", "PublishVersion", "GetAlias", "CreateAlias",
		"UpdateFunctionConfiguration", "UpdateAlias", "GetPolicy", "ListEventSourceMappings", "CreateEventSourceMapping", "PutProvisionedConcurrencyConfig",
		"GetProvisionedConcurrencyConfig"} {
		fa.lam.Inject(awswire.Fault{Op: op, Times: 3, Status: 429, Type: "TooManyRequestsException", Message: "Rate exceeded"})
		fa.lam.Inject(awswire.Fault{Op: op, Times: 1, Status: 500, Type: "ServiceException", Message: "internal"})
		fa.lam.Inject(awswire.Fault{Op: op, Times: 1, Reset: true})
	}
	s := testSpec()
	s.Triggers = []trigger.Trigger{trigger.Queue{Key: "jobs", Source: "arn:aws:sqs:us-east-1:123456789012:jobs"}}
	s.Concurrency.Provisioned = ptr(2)
	mustApply(t, fn, s)
	s.MemoryMB = 256
	mustApply(t, fn, s)
	if err := fn.SetTraffic(t.Context(), "", provider.Traffic{Stable: "2"}, nil); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range fa.lam.Calls() {
		if c == "GetFunction" {
			n++
		}
	}
	t.Logf("%d calls, %d GetFunction", len(fa.lam.Calls()), n)
	// A storm that never ends surfaces as ResourceExhausted, boundedly.
	fa.lam.Inject(awswire.Fault{Op: "GetFunction", Times: -1, Status: 429, Type: "TooManyRequestsException", Message: "Rate exceeded"})
	start := time.Now()
	_, err := fn.Get(t.Context())
	if provider.Code(err) != provider.ResourceExhausted {
		t.Fatalf("endless throttling: %v", err)
	}
	var tmr *types.TooManyRequestsException
	if !fn.ErrorAs(err, &tmr) {
		t.Errorf("ErrorAs TooManyRequestsException failed: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %s", d)
	}
}

func TestLatency(t *testing.T) {
	fa := newFakeAWS(t, nil)
	fn := fa.open(t, "slow", nil)
	fa.lam.SetLatency(2 * time.Millisecond)
	mustApply(t, fn, testSpec())
	fa.lam.SetLatency(time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := fn.Get(ctx); provider.Code(err) != provider.DeadlineExceeded {
		t.Fatalf("Get under an hour of latency with a 20ms deadline: %v", err)
	}
}

func TestProvisionedReadyAndFailed(t *testing.T) {
	opts := defaultFakeOptions()
	opts.ProvisionDelay = 30 * time.Millisecond
	fa := newFakeAWS(t, opts)
	fn := fa.open(t, "pc", nil)
	s := testSpec()
	s.Concurrency.Provisioned = ptr(3)
	mustApply(t, fn, s)
	p := mustGet(t, fn).Routes["live"].Provisioned
	if p == nil || p.Status != "READY" || p.Requested != 3 || p.Ready != 3 {
		t.Fatalf("after Apply provisioned = %+v, want READY 3", p)
	}
	fa.lam.FailProvisioning("pc", "FUNCTION_ERROR_INIT_FAILURE")
	s.Concurrency.Provisioned = ptr(5)
	_, err := fn.Apply(t.Context(), s, &provider.ApplyOptions{Publish: true})
	var fe *FailedError
	if provider.Code(err) != provider.Internal || !errors.As(err, &fe) || fe.Reason != "FUNCTION_ERROR_INIT_FAILURE" {
		t.Fatalf("provisioning failure: %v", err)
	}
	if p := mustGet(t, fn).Routes["live"].Provisioned; p.Status != "FAILED" || p.Reason != "FUNCTION_ERROR_INIT_FAILURE" {
		t.Fatalf("state after failure %+v", p)
	}
	// Applying again re-requests it.
	mustApply(t, fn, s)
	if p := mustGet(t, fn).Routes["live"].Provisioned; p.Status != "READY" || p.Requested != 5 {
		t.Fatalf("after retry %+v", p)
	}
}

func TestLargeCodeThroughS3(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 51 MB bundle")
	}
	fa := newFakeAWS(t, nil)
	fn := fa.open(t, "big", nil)
	// Incompressible but the same every run, so the bundle cache keeps one copy.
	big := make([]byte, 51<<20)
	mrand.NewChaCha8([32]byte{'u', 'p', 'd', 'r', 'a', 'f', 't'}).Read(big)
	s := testSpec()
	s.Code = bundle.Files(map[string][]byte{"bootstrap": []byte("#!/bin/sh\n"), "assets.zip": big})
	res := mustApply(t, fn, s)
	if res.UploadedBytes <= 50<<20 {
		t.Fatalf("uploaded %d bytes", res.UploadedBytes)
	}
	calls := fa.s3.Calls()
	if !slices.Contains(calls, "PutObject") {
		t.Fatalf("S3 calls %v: want a PutObject", calls)
	}
	c, _ := fa.lam.Function("big")
	if c.CodeSize != res.UploadedBytes || digestOf(c.CodeSha256) != res.Revision.CodeDigest {
		t.Fatalf("live code %d bytes %s, uploaded %d %s", c.CodeSize, c.CodeSha256, res.UploadedBytes, res.Revision.CodeDigest)
	}
	// Without a code bucket the same bundle is refused before any call.
	fn2 := fa.open(t, "big2", func(o *Options) { o.CodeBucket = "" })
	if _, err := fn2.Apply(t.Context(), s, nil); provider.Code(err) != provider.InvalidArgument {
		t.Fatalf("no code bucket: %v", err)
	}
}

func TestInlineLimitOverride(t *testing.T) {
	fa := newFakeAWS(t, nil)
	fn := fa.open(t, "small", func(o *Options) { SetMaxDirectUpload(o, 64) })
	res := mustApply(t, fn, testSpec())
	if !slices.Contains(fa.s3.Calls(), "PutObject") || res.UploadedBytes == 0 {
		t.Fatalf("code over the (lowered) inline limit did not go through S3: %v", fa.s3.Calls())
	}
}

func TestMarkerAndPreconditions(t *testing.T) {
	fa := newFakeAWS(t, nil)
	fn := fa.open(t, "mk", nil)
	mustApply(t, fn, testSpec())
	s := testSpec()
	s.Env = map[string]string{"V": "2"}
	mustApply(t, fn, s)
	if err := fn.SetTraffic(t.Context(), "", provider.Traffic{Stable: "1", Candidate: "2", CandidatePercent: 25}, nil); err != nil {
		t.Fatal(err)
	}
	started := time.UnixMilli(time.Now().UnixMilli())
	m := &provider.Marker{ID: "ro-7", Holder: "ci@runner", Stable: "1", Candidate: "2", Step: 1, Percent: 25, Started: started}
	if err := fn.SetMarker(t.Context(), "", m, nil); err != nil {
		t.Fatal(err)
	}
	v, w, desc, _ := fa.lam.Alias("mk", "live")
	if v != "1" || w["2"] != 0.25 || !strings.HasPrefix(desc, recordPrefix) {
		t.Fatalf("SetMarker changed traffic or did not write the description: %s %v %q", v, w, desc)
	}
	r := mustGet(t, fn).Routes["live"]
	if *r.Marker != *m || r.Traffic.CandidatePercent != 25 {
		t.Fatalf("marker %+v traffic %+v", r.Marker, r.Traffic)
	}
	// The routing rules are Lambda's: a weighted alias on $LATEST or with a
	// non-numeric version is refused by the service (InvalidArgument).
	err := fn.SetTraffic(t.Context(), "", provider.Traffic{Stable: "$LATEST", Candidate: "2", CandidatePercent: 10}, nil)
	if provider.Code(err) != provider.InvalidArgument {
		t.Fatalf("weighted $LATEST: %v", err)
	}
	if err := fn.SetMarker(t.Context(), "", &provider.Marker{ID: strings.Repeat("x", 300)}, nil); provider.Code(err) != provider.InvalidArgument {
		t.Fatalf("oversized marker: %v", err)
	}
	if err := fn.SetMarker(t.Context(), "", m, &provider.ConditionOptions{IfMatch: "stale"}); provider.Code(err) != provider.FailedPrecondition {
		t.Fatalf("stale marker etag: %v", err)
	}
	// Verdicts share the description with the marker: writing one keeps
	// the other, and clearing the marker keeps the verdicts.
	if err := fn.SetVerdicts(t.Context(), "", provider.Verdicts{Good: "1", Failed: []string{"2"}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := fn.SetMarker(t.Context(), "", nil, nil); err != nil {
		t.Fatal(err)
	}
	r = mustGet(t, fn).Routes["live"]
	if r.Marker != nil || r.Verdicts == nil || r.Verdicts.Good != "1" || !r.Verdicts.IsFailed("2") || r.Traffic.CandidatePercent != 25 {
		t.Fatalf("after verdicts and marker clear: marker %+v verdicts %+v traffic %+v", r.Marker, r.Verdicts, r.Traffic)
	}
	updateRouteChain(t, fn, m, r.ETag)
}

// updateRouteChain: one UpdateRoute moves traffic and writes marker and
// verdicts together, conditioned on the etag the previous write returned.
func updateRouteChain(t *testing.T, fn *provider.Function, m *provider.Marker, etag string) {
	rt, err := fn.UpdateRoute(t.Context(), "", &provider.RouteUpdate{Traffic: &provider.Traffic{Stable: "1"}, ClearMarker: true,
		Verdicts: &provider.Verdicts{Good: "1", Failed: []string{"2"}}}, &provider.ConditionOptions{IfMatch: etag})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fn.UpdateRoute(t.Context(), "", &provider.RouteUpdate{Marker: m, Verdicts: rt.Verdicts}, &provider.ConditionOptions{IfMatch: etag}); provider.Code(err) != provider.FailedPrecondition {
		t.Fatalf("write on the etag before the last write: %v", err)
	}
	if _, err := fn.UpdateRoute(t.Context(), "", &provider.RouteUpdate{Marker: m, Verdicts: rt.Verdicts}, &provider.ConditionOptions{IfMatch: rt.ETag}); err != nil {
		t.Fatalf("write on the returned etag: %v", err)
	}
}

func TestScheduleExpressions(t *testing.T) {
	for _, tc := range []struct {
		s    trigger.Schedule
		want string
	}{
		{trigger.Schedule{Cron: "*/5 * * * *"}, "cron(*/5 * * * ? *)"},
		{trigger.Schedule{Cron: "0 9 * * 1-5"}, "cron(0 9 ? * 2-6 *)"},
		{trigger.Schedule{Cron: "0 0 * * 0,6"}, "cron(0 0 ? * 1,7 *)"},
		{trigger.Schedule{Cron: "0 0 * * 7"}, "cron(0 0 ? * 1 *)"},
		{trigger.Schedule{Cron: "30 2 1 * *"}, "cron(30 2 1 * ? *)"},
		{trigger.Schedule{Cron: "0 8 * * MON"}, "cron(0 8 ? * MON *)"},
		{trigger.Schedule{Rate: time.Minute}, "rate(1 minute)"},
		{trigger.Schedule{Rate: 90 * time.Minute}, "rate(90 minutes)"},
	} {
		got, err := scheduleExpression(tc.s)
		if err != nil || got != tc.want {
			t.Errorf("%+v: got %q, %v; want %q", tc.s, got, err, tc.want)
			continue
		}
		back := portableSchedule("k", got, "", "")
		again, _ := scheduleExpression(back)
		if again != got {
			t.Errorf("%q does not round-trip: %+v gives %q", got, back, again)
		}
	}
	if _, err := scheduleExpression(trigger.Schedule{Cron: "0 0 1 * 1"}); err == nil {
		t.Error("day of month and day of week both restricted: want an error")
	}
}

func TestURLOpener(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	ctx := t.Context()
	fn, err := provider.Open(ctx, "awslambda://hello?region=eu-west-1&role=arn:aws:iam::123456789012:role/r&code_bucket=b&scheduler_role=arn:aws:iam::123456789012:role/s")
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Close()
	if fn.Target() != "awslambda://hello?region=eu-west-1" {
		t.Errorf("target %q", fn.Target())
	}
	caps := fn.Capabilities()
	if !slices.Contains(caps.Triggers, trigger.KindSchedule) || !slices.Contains(caps.Triggers, trigger.KindStorage) || caps.CodeLimits.MaxZipBytes != 250<<20 {
		t.Errorf("capabilities %+v", caps)
	}
	var c *lambdaClient
	if !fn.As(&c) || c.Options().Region != "eu-west-1" {
		t.Errorf("As(**lambda.Client) region")
	}
	for _, bad := range []string{"awslambda://hello?zone=x", "awslambda://bad name", "awslambda://x/y", "awslambda://k:s@x"} {
		if _, err := provider.Open(ctx, bad); provider.Code(err) != provider.InvalidArgument {
			t.Errorf("Open(%q): %v, want InvalidArgument", bad, err)
		}
	}
	fa := newFakeAWS(t, nil)
	// Without scheduler and S3 clients the kinds stay listed (Validate
	// passes) and the pre-flight names the missing setting.
	plain := fa.open(t, "plain", func(o *Options) { o.SchedulerClient, o.S3Client, o.CodeBucket = nil, nil, "" })
	s := testSpec()
	s.Triggers = []trigger.Trigger{trigger.Schedule{Key: "tick", Rate: time.Hour}, trigger.Storage{Key: "in", Bucket: "b"}}
	fa.lam.ResetCalls()
	_, err = plain.Apply(ctx, s, nil)
	if provider.Code(err) != provider.InvalidArgument || !strings.Contains(err.Error(), "scheduler_role") || !strings.Contains(err.Error(), "S3Client") {
		t.Errorf("schedule and storage triggers without the settings: %v", err)
	}
	if calls := fa.lam.Calls(); len(calls) != 0 {
		t.Errorf("pre-flight failure made calls %v", calls)
	}
}
