package awslambda

import (
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"strings"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/internal/cloudfake/schedulerfake"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/trigger"
)

func triggerKeys(st *provider.State) []string {
	var out []string
	for _, t := range st.Triggers {
		out = append(out, t.TriggerKey())
	}
	return out
}

func findTrigger(st *provider.State, key string) trigger.Trigger {
	for _, t := range st.Triggers {
		if t.TriggerKey() == key {
			return t
		}
	}
	return nil
}

func TestHTTPTrigger(t *testing.T) {
	fa := newFakeAWS(t, nil)
	fn := fa.open(t, "web", nil)
	s := testSpec()
	s.Triggers = []trigger.Trigger{trigger.HTTP{Key: "web", Auth: trigger.AuthNone, CORSOrigins: []string{"https://example.com"}}}
	mustApply(t, fn, s)
	if !fa.lam.PublicURLInvocable("web", "live") {
		t.Fatalf("public URL lacks a permission: %v", fa.lam.Policy("web", "live"))
	}
	st := mustGet(t, fn)
	h, _ := findTrigger(st, "web").(trigger.HTTP)
	if h.Auth != trigger.AuthNone || !slices.Equal(h.CORSOrigins, []string{"https://example.com"}) || !strings.Contains(st.Endpoint, ".lambda-url.") {
		t.Fatalf("http trigger read back %+v, endpoint %q", h, st.Endpoint)
	}
	// A public URL made before October 2025 lacks the InvokeFunction
	// statement: the next Apply repairs it.
	fa.lam.ResetCalls()
	if _, err := fa.client.RemovePermission(t.Context(), removeInput("web", "live", "updraft-web-invoke")); err != nil {
		t.Fatal(err)
	}
	mustApply(t, fn, s)
	if !fa.lam.PublicURLInvocable("web", "live") {
		t.Fatal("missing InvokeFunction statement not repaired")
	}
	// Switching to IAM auth removes both public statements.
	s.Triggers = []trigger.Trigger{trigger.HTTP{Key: "web"}}
	mustApply(t, fn, s)
	if p := fa.lam.Policy("web", "live"); len(p) != 0 || fa.lam.PublicURLInvocable("web", "live") {
		t.Fatalf("IAM URL keeps public statements %v", p)
	}
	if h := findTrigger(mustGet(t, fn), "web").(trigger.HTTP); h.Auth != trigger.AuthIAM || h.CORSOrigins != nil {
		t.Fatalf("after update %+v", h)
	}
	s.Triggers = []trigger.Trigger{}
	mustApply(t, fn, s)
	if st := mustGet(t, fn); len(st.Triggers) != 0 || st.Endpoint != "" {
		t.Fatalf("after removal %v %q", triggerKeys(st), st.Endpoint)
	}
	if tags := fa.lam.Tags("web"); len(tags) != 1 || tags[kindsTag("live")] != "" {
		t.Fatalf("ownership tag left behind: %v (only the empty kinds index may stay)", tags)
	}
}

func TestEventSourceMappingTriggers(t *testing.T) {
	fa := newFakeAWS(t, nil)
	fn := fa.open(t, "esm", nil)
	s := testSpec()
	queue := "arn:aws:sqs:us-east-1:123456789012:jobs"
	stream := "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"
	table := "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-01-01T00:00:00.000"
	s.Triggers = []trigger.Trigger{
		trigger.Queue{Key: "jobs", Source: queue, BatchSize: 50, MaxBatchingWindow: 2 * time.Second},
		trigger.Stream{Key: "clicks", Source: stream},
		trigger.Stream{Key: "orders", Source: table, StartingPosition: trigger.StartTrimHorizon, BatchSize: 25},
	}
	mustApply(t, fn, s)
	aliasArn := fa.lam.FunctionARN("esm") + ":live"
	// A mapping another tool made on the same alias is left alone.
	foreign := fa.lam.AddForeignEventSourceMapping("arn:aws:sqs:us-east-1:123456789012:legacy", aliasArn)
	got := fa.lam.EventSourceMappings(fa.lam.FunctionARN("esm"))
	if len(got) != 4 {
		t.Fatalf("mappings %v", got)
	}
	for _, m := range got {
		if !strings.Contains(m, aliasArn) {
			t.Errorf("mapping %s does not target the alias", m)
		}
	}
	st := mustGet(t, fn)
	if !slices.Equal(triggerKeys(st), []string{"clicks", "jobs", "orders"}) {
		t.Fatalf("owned triggers %v", triggerKeys(st))
	}
	if q := findTrigger(st, "jobs").(trigger.Queue); q.BatchSize != 50 || q.MaxBatchingWindow != 2*time.Second || q.Source != queue {
		t.Errorf("queue read back %+v", q)
	}
	if o := findTrigger(st, "orders").(trigger.Stream); o.StartingPosition != trigger.StartTrimHorizon || o.BatchSize != 25 {
		t.Errorf("stream read back %+v", o)
	}
	// Update in place (batch size), recreate (starting position), remove.
	s.Triggers = []trigger.Trigger{
		trigger.Queue{Key: "jobs", Source: queue, BatchSize: 10},
		trigger.Stream{Key: "clicks", Source: stream, StartingPosition: trigger.StartTrimHorizon},
	}
	fa.lam.ResetCalls()
	mustApply(t, fn, s)
	calls := fa.lam.Calls()
	if !slices.Contains(calls, "UpdateEventSourceMapping") || !slices.Contains(calls, "CreateEventSourceMapping") || !slices.Contains(calls, "DeleteEventSourceMapping") {
		t.Errorf("calls %v: want an update, a recreate and a delete", calls)
	}
	st = mustGet(t, fn)
	if !slices.Equal(triggerKeys(st), []string{"clicks", "jobs"}) {
		t.Fatalf("after update %v", triggerKeys(st))
	}
	if q := findTrigger(st, "jobs").(trigger.Queue); q.BatchSize != 0 || q.MaxBatchingWindow != 0 {
		t.Errorf("queue after update %+v (batch 10 is SQS's default, read back as 0)", q)
	}
	s.Triggers = []trigger.Trigger{}
	mustApply(t, fn, s)
	left := fa.lam.EventSourceMappings(fa.lam.FunctionARN("esm"))
	if len(left) != 1 || !strings.HasPrefix(left[0], foreign) {
		t.Fatalf("after clearing, mappings %v; want only the foreign one", left)
	}
	// A second mapping for the same source and alias is refused by Lambda.
	s.Triggers = []trigger.Trigger{trigger.Queue{Key: "legacy", Source: "arn:aws:sqs:us-east-1:123456789012:legacy"}}
	if _, err := fn.Apply(t.Context(), s, nil); provider.Code(err) != provider.AlreadyExists {
		t.Fatalf("duplicate mapping: %v", err)
	}
	s.Triggers = []trigger.Trigger{trigger.Queue{Key: "bad", Source: "jobs"}}
	if _, err := fn.Apply(t.Context(), s, nil); provider.Code(err) != provider.InvalidArgument {
		t.Fatalf("queue by name: %v", err)
	}
}

func TestScheduleTrigger(t *testing.T) {
	fa := newFakeAWS(t, nil)
	fn := fa.open(t, "cron", nil)
	aliasArn := fa.lam.FunctionARN("cron") + ":live"
	fa.sch.Put(schedulerfake.Schedule{Name: "updraft-legacy-00000000", ScheduleExpression: "rate(1 hour)", Target: schedulerfake.Target{Arn: aliasArn, RoleArn: schedulerRole}})
	s := testSpec()
	s.Triggers = []trigger.Trigger{trigger.Schedule{Key: "tick", Cron: "0 9 * * 1-5", TimeZone: "Europe/Paris", Payload: []byte(`{"job":"report"}`)}}
	mustApply(t, fn, s)
	var ours *schedulerfake.Schedule
	for _, sc := range fa.sch.Schedules() {
		if strings.HasPrefix(sc.Name, "updraft-tick-") {
			ours = &sc
		}
	}
	if ours == nil || ours.ScheduleExpression != "cron(0 9 ? * 2-6 *)" || ours.ScheduleExpressionTimezone != "Europe/Paris" ||
		ours.Target.Arn != aliasArn || ours.Target.RoleArn != schedulerRole || ours.Target.Input != `{"job":"report"}` {
		t.Fatalf("schedule %+v", ours)
	}
	st := mustGet(t, fn)
	if sc, _ := findTrigger(st, "tick").(trigger.Schedule); sc.Cron != "0 9 * * 1-5" || sc.TimeZone != "Europe/Paris" || string(sc.Payload) != `{"job":"report"}` {
		t.Fatalf("schedule read back %+v (triggers %v)", sc, triggerKeys(st))
	}
	s.Triggers = []trigger.Trigger{trigger.Schedule{Key: "tick", Rate: 15 * time.Minute}}
	mustApply(t, fn, s)
	if sc := findTrigger(mustGet(t, fn), "tick").(trigger.Schedule); sc.Rate != 15*time.Minute {
		t.Fatalf("after update %+v", sc)
	}
	s.Triggers = []trigger.Trigger{}
	mustApply(t, fn, s)
	left := fa.sch.Schedules()
	if len(left) != 1 || left[0].Name != "updraft-legacy-00000000" {
		t.Fatalf("schedules left %v; want only the foreign one", left)
	}
}

func TestStorageTriggerMergesNotifications(t *testing.T) {
	fa := newFakeAWS(t, nil)
	fn := fa.open(t, "thumbs", nil)
	fa.s3.CreateBucket("photos")
	fa.s3.CreateBucket("archive")
	// Other integrations are already configured on the bucket: a queue and
	// another function (which S3 validates again on every PUT, so it must
	// still allow S3 to invoke it).
	other := fa.open(t, "other", nil)
	mustApply(t, other, testSpec())
	if _, err := fa.client.AddPermission(t.Context(), &lambda.AddPermissionInput{FunctionName: aws.String("other"), StatementId: aws.String("s3"),
		Action: aws.String("lambda:InvokeFunction"), Principal: aws.String("s3.amazonaws.com"), SourceArn: aws.String("arn:aws:s3:::photos")}); err != nil {
		t.Fatal(err)
	}
	fa.s3.SetNotificationXML("photos", `<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`+
		`<QueueConfiguration><Id>audit</Id><Queue>arn:aws:sqs:us-east-1:123456789012:audit</Queue><Event>s3:ObjectCreated:*</Event></QueueConfiguration>`+
		`<CloudFunctionConfiguration><Id>other-fn</Id><CloudFunction>arn:aws:lambda:us-east-1:123456789012:function:other</CloudFunction><Event>s3:ObjectRemoved:*</Event></CloudFunctionConfiguration>`+
		`</NotificationConfiguration>`)
	s := testSpec()
	s.Triggers = []trigger.Trigger{trigger.Storage{Key: "uploads", Bucket: "photos", Prefix: "in/", Suffix: ".jpg"}}
	mustApply(t, fn, s)
	n := fa.s3.Notifications("photos")
	if len(n.Queue) != 1 || len(n.Lambda) != 2 {
		t.Fatalf("notification configuration %+v: want the audit queue, the other function and ours", n)
	}
	aliasArn := fa.lam.FunctionARN("thumbs") + ":live"
	if n.Lambda[1].Arn != aliasArn || !slices.Equal(n.Lambda[1].Events, []string{"s3:ObjectCreated:*"}) {
		t.Fatalf("our entry %+v", n.Lambda[1])
	}
	if !fa.lam.HasPermission(aliasArn, "s3.amazonaws.com", "arn:aws:s3:::photos") {
		t.Fatal("no s3.amazonaws.com permission on the alias")
	}
	st := mustGet(t, fn)
	if sg := findTrigger(st, "uploads").(trigger.Storage); sg.Bucket != "photos" || sg.Prefix != "in/" || sg.Suffix != ".jpg" ||
		!slices.Equal(sg.Events, []trigger.StorageEvent{trigger.ObjectCreated}) {
		t.Fatalf("storage read back %+v", sg)
	}
	storageMoves(t, fa, fn, s, aliasArn)
}

// storageMoves updates the events, moves to another bucket, then removes.
func storageMoves(t *testing.T, fa *fakeAWS, fn *provider.Function, s *provider.Spec, aliasArn string) {
	// Update events, then move to another bucket, then remove.
	s.Triggers = []trigger.Trigger{trigger.Storage{Key: "uploads", Bucket: "photos", Events: []trigger.StorageEvent{trigger.ObjectCreated, trigger.ObjectDeleted}}}
	mustApply(t, fn, s)
	if n := fa.s3.Notifications("photos"); len(n.Lambda) != 2 || len(n.Lambda[1].Events) != 2 || len(n.Queue) != 1 {
		t.Fatalf("after update %+v", n)
	}
	s.Triggers = []trigger.Trigger{trigger.Storage{Key: "uploads", Bucket: "archive"}}
	mustApply(t, fn, s)
	if n := fa.s3.Notifications("photos"); len(n.Lambda) != 1 || n.Lambda[0].ID != "other-fn" || len(n.Queue) != 1 {
		t.Fatalf("photos after moving away %+v", n)
	}
	if n := fa.s3.Notifications("archive"); len(n.Lambda) != 1 || n.Lambda[0].Arn != aliasArn {
		t.Fatalf("archive %+v", n)
	}
	if fa.lam.HasPermission(aliasArn, "s3.amazonaws.com", "arn:aws:s3:::photos") {
		t.Error("permission for the old bucket left behind")
	}
	s.Triggers = []trigger.Trigger{}
	mustApply(t, fn, s)
	if n := fa.s3.Notifications("archive"); len(n.Lambda) != 0 {
		t.Fatalf("archive after removal %+v", n)
	}
	if p := fa.lam.Policy("thumbs", "live"); len(p) != 0 {
		t.Fatalf("policy after removal %v", p)
	}
}

func TestDeleteRemovesOwnedTriggers(t *testing.T) {
	fa := newFakeAWS(t, nil)
	fn := fa.open(t, "gone", nil)
	fa.s3.CreateBucket("b")
	s := testSpec()
	s.Triggers = append(testTriggers(), trigger.Storage{Key: "files", Bucket: "b"})
	mustApply(t, fn, s)
	if err := fn.Delete(t.Context()); err != nil {
		t.Fatal(err)
	}
	if m := fa.lam.EventSourceMappings(fa.lam.FunctionARN("gone")); len(m) != 0 {
		t.Errorf("mappings left %v", m)
	}
	if sc := fa.sch.Schedules(); len(sc) != 0 {
		t.Errorf("schedules left %v", sc)
	}
	if n := fa.s3.Notifications("b"); len(n.Lambda) != 0 {
		t.Errorf("notifications left %+v", n)
	}
	if _, err := fn.Get(t.Context()); provider.Code(err) != provider.NotFound {
		t.Errorf("Get after Delete: %v", err)
	}
}
