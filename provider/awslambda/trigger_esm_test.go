package awslambda

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/trigger"
)

// mappings lists the alias's event source mappings through the SDK, by
// source ARN.
func mappings(t *testing.T, fa *fakeAWS, aliasArn string) map[string]types.EventSourceMappingConfiguration {
	t.Helper()
	out, err := fa.client.ListEventSourceMappings(t.Context(), &lambda.ListEventSourceMappingsInput{FunctionName: aws.String(aliasArn)})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]types.EventSourceMappingConfiguration{}
	for _, e := range out.EventSourceMappings {
		m[aws.ToString(e.EventSourceArn)] = e
	}
	return m
}

func planChanges(t *testing.T, fn *provider.Function, s *provider.Spec) []deploy.Change {
	t.Helper()
	plan, err := deploy.Plan(t.Context(), []*provider.Function{fn}, s, &deploy.PlanOptions{Bundle: &provider.BundleOptions{NoCache: true}})
	if err != nil {
		t.Fatal(err)
	}
	return plan.Targets[0].Changes
}

// TestESMFailureHandling checks that every mapping asks for
// ReportBatchItemFailures and that a stream's MaxRetries and
// BisectOnError map to MaximumRetryAttempts and
// BisectBatchOnFunctionError, read back so that Plan sees no change after
// an Apply and a change after an edit, which Apply makes in place.
func TestESMFailureHandling(t *testing.T) {
	fa := newFakeAWS(t, nil)
	fn := fa.open(t, "fh", nil)
	queue := "arn:aws:sqs:us-east-1:123456789012:jobs"
	stream := "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"
	table := "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-01-01T00:00:00.000"
	s := testSpec()
	s.Triggers = []trigger.Trigger{
		trigger.Queue{Key: "jobs", Source: queue},
		trigger.Stream{Key: "clicks", Source: stream, MaxRetries: new(3), BisectOnError: true},
		trigger.Stream{Key: "orders", Source: table},
	}
	if _, err := deploy.Apply(t.Context(), []*provider.Function{fn}, s, &deploy.ApplyOptions{Bundle: &provider.BundleOptions{NoCache: true}}); err != nil {
		t.Fatal(err)
	}
	alias := fa.lam.FunctionARN("fh") + ":live"
	report := []types.FunctionResponseType{types.FunctionResponseTypeReportBatchItemFailures}
	m := mappings(t, fa, alias)
	for _, src := range []string{queue, stream, table} {
		if !slices.Equal(m[src].FunctionResponseTypes, report) {
			t.Errorf("%s: response types %v, want [ReportBatchItemFailures]", src, m[src].FunctionResponseTypes)
		}
	}
	if c := m[stream]; aws.ToInt32(c.MaximumRetryAttempts) != 3 || !aws.ToBool(c.BisectBatchOnFunctionError) {
		t.Errorf("kinesis mapping: retries %v bisect %v, want 3 true", c.MaximumRetryAttempts, c.BisectBatchOnFunctionError)
	}
	if c := m[table]; aws.ToInt32(c.MaximumRetryAttempts) != -1 || aws.ToBool(c.BisectBatchOnFunctionError) {
		t.Errorf("dynamodb mapping: retries %v bisect %v, want -1 (until the records expire) false", c.MaximumRetryAttempts, c.BisectBatchOnFunctionError)
	}
	st := mustGet(t, fn)
	if c := findTrigger(st, "clicks").(trigger.Stream); c.MaxRetries == nil || *c.MaxRetries != 3 || !c.BisectOnError {
		t.Errorf("clicks read back %+v", c)
	}
	if o := findTrigger(st, "orders").(trigger.Stream); o.MaxRetries != nil || o.BisectOnError {
		t.Errorf("orders read back %+v", o)
	}
	if ch := planChanges(t, fn, s); len(ch) != 0 {
		t.Fatalf("plan after apply: %v", ch)
	}

	// No retry, no bisection on clicks; a budget on orders: Plan shows
	// both, Apply updates both mappings in place.
	s.Triggers = []trigger.Trigger{
		trigger.Queue{Key: "jobs", Source: queue},
		trigger.Stream{Key: "clicks", Source: stream, MaxRetries: new(0)},
		trigger.Stream{Key: "orders", Source: table, MaxRetries: new(10000), BisectOnError: true},
	}
	var updated []string
	for _, c := range planChanges(t, fn, s) {
		if c.Kind == deploy.ChangeTriggerUpdate {
			updated = append(updated, c.Field)
		}
	}
	if !slices.Equal(updated, []string{"clicks", "orders"}) {
		t.Fatalf("plan updates %v, want clicks and orders", updated)
	}
	fa.lam.ResetCalls()
	mustApply(t, fn, s)
	calls := fa.lam.Calls()
	if n := countOf(calls, "UpdateEventSourceMapping"); n != 2 || slices.Contains(calls, "CreateEventSourceMapping") || slices.Contains(calls, "DeleteEventSourceMapping") {
		t.Errorf("calls %v: want two UpdateEventSourceMapping and no recreate", calls)
	}
	m = mappings(t, fa, alias)
	if c := m[stream]; aws.ToInt32(c.MaximumRetryAttempts) != 0 || aws.ToBool(c.BisectBatchOnFunctionError) || !slices.Equal(c.FunctionResponseTypes, report) {
		t.Errorf("kinesis after update: retries %v bisect %v types %v", c.MaximumRetryAttempts, c.BisectBatchOnFunctionError, c.FunctionResponseTypes)
	}
	if c := m[table]; aws.ToInt32(c.MaximumRetryAttempts) != 10000 || !aws.ToBool(c.BisectBatchOnFunctionError) {
		t.Errorf("dynamodb after update: retries %v bisect %v", c.MaximumRetryAttempts, c.BisectBatchOnFunctionError)
	}
	if c := findTrigger(mustGet(t, fn), "clicks").(trigger.Stream); c.MaxRetries == nil || *c.MaxRetries != 0 || c.BisectOnError {
		t.Errorf("clicks after update %+v: want MaxRetries 0 (not nil)", c)
	}

	// Back to the defaults: the update says -1 and false.
	s.Triggers = []trigger.Trigger{trigger.Queue{Key: "jobs", Source: queue}, trigger.Stream{Key: "clicks", Source: stream}}
	mustApply(t, fn, s)
	if c := mappings(t, fa, alias)[stream]; aws.ToInt32(c.MaximumRetryAttempts) != -1 || aws.ToBool(c.BisectBatchOnFunctionError) {
		t.Errorf("kinesis back to defaults: retries %v bisect %v", c.MaximumRetryAttempts, c.BisectBatchOnFunctionError)
	}
	fa.lam.ResetCalls()
	mustApply(t, fn, s)
	if calls := mutations(fa.lam.Calls()); len(calls) != 0 {
		t.Errorf("no-change apply made %v", calls)
	}
}

// TestESMWithoutResponseTypesIsUpdated: a mapping updraft made before it
// asked for ReportBatchItemFailures (so Lambda deleted whole batches on a
// partial failure) is updated in place by the next Apply.
func TestESMWithoutResponseTypesIsUpdated(t *testing.T) {
	fa := newFakeAWS(t, nil)
	fn := fa.open(t, "old", nil)
	queue := "arn:aws:sqs:us-east-1:123456789012:jobs"
	stream := "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"
	s := testSpec()
	s.Triggers = []trigger.Trigger{trigger.Queue{Key: "jobs", Source: queue}, trigger.Stream{Key: "clicks", Source: stream}}
	mustApply(t, fn, s)
	alias := fa.lam.FunctionARN("old") + ":live"
	for _, c := range mappings(t, fa, alias) {
		if _, err := fa.client.UpdateEventSourceMapping(t.Context(), &lambda.UpdateEventSourceMappingInput{UUID: c.UUID, FunctionResponseTypes: []types.FunctionResponseType{}}); err != nil {
			t.Fatal(err)
		}
		waitMappingSettled(t, fa, aws.ToString(c.UUID))
	}
	// Plan sees the drift the portable triggers cannot show, so even a
	// deploy with nothing else to do repairs the mappings.
	planDrift := func() []deploy.Change {
		t.Helper()
		p, err := deploy.Plan(t.Context(), []*provider.Function{fn}, s, nil)
		if err != nil || p.Err() != nil {
			t.Fatal(err, p.Err())
		}
		var out []deploy.Change
		for _, c := range p.Targets[0].Changes {
			if c.Kind == deploy.ChangeTriggerUpdate {
				out = append(out, c)
			}
		}
		return out
	}
	if d := planDrift(); len(d) != 2 || !strings.Contains(d[0].From, "ReportBatchItemFailures") {
		t.Fatalf("plan of mappings without response types: %+v, want two trigger updates saying why", d)
	}
	fa.lam.ResetCalls()
	mustApply(t, fn, s)
	if d := planDrift(); len(d) != 0 {
		t.Errorf("plan after the repair: %+v", d)
	}
	calls := fa.lam.Calls()
	if n := countOf(calls, "UpdateEventSourceMapping"); n != 2 || slices.Contains(calls, "CreateEventSourceMapping") || slices.Contains(calls, "DeleteEventSourceMapping") {
		t.Errorf("calls %v: want two UpdateEventSourceMapping and no recreate", calls)
	}
	for src, c := range mappings(t, fa, alias) {
		if !slices.Equal(c.FunctionResponseTypes, []types.FunctionResponseType{types.FunctionResponseTypeReportBatchItemFailures}) {
			t.Errorf("%s after apply: response types %v", src, c.FunctionResponseTypes)
		}
	}
}

// TestESMRetriesOutOfRange: a MaxRetries Lambda cannot take is refused
// before any write, naming the range.
func TestESMRetriesOutOfRange(t *testing.T) {
	fa := newFakeAWS(t, nil)
	fn := fa.open(t, "range", nil)
	s := testSpec()
	mustApply(t, fn, s)
	s.Triggers = []trigger.Trigger{trigger.Stream{Key: "clicks", Source: "arn:aws:kinesis:us-east-1:123456789012:stream/clicks", MaxRetries: new(10001)}}
	fa.lam.ResetCalls()
	_, err := fn.Apply(t.Context(), s, nil)
	if provider.Code(err) != provider.InvalidArgument || !strings.Contains(err.Error(), "10000") {
		t.Fatalf("MaxRetries 10001: %v", err)
	}
	if m := mutations(fa.lam.Calls()); len(m) != 0 {
		t.Errorf("refused spec made %v", m)
	}
}

// waitMappingSettled polls a mapping until it leaves Updating.
func waitMappingSettled(t *testing.T, fa *fakeAWS, uuid string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := fa.client.GetEventSourceMapping(t.Context(), &lambda.GetEventSourceMappingInput{UUID: aws.String(uuid)})
		if err != nil {
			t.Fatal(err)
		}
		if st := aws.ToString(out.State); st == "Enabled" || st == "Disabled" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("mapping %s still %s", uuid, aws.ToString(out.State))
		}
		time.Sleep(time.Millisecond)
	}
}

func countOf(ss []string, s string) int {
	n := 0
	for _, v := range ss {
		if v == s {
			n++
		}
	}
	return n
}
