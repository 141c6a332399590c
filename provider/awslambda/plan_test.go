package awslambda

import (
	"testing"

	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/trigger"
)

// TestPlanAfterApplyIsEmpty checks that the state the adapter reads back
// normalises like the Spec, so deploy.Plan sees nothing to do (and deploy
// makes read calls only) after an Apply.
func TestPlanAfterApplyIsEmpty(t *testing.T) {
	fa := newFakeAWS(t, nil)
	fn := fa.open(t, "plan", nil)
	fa.s3.CreateBucket("inbox")
	s := testSpec()
	s.MemoryMB, s.Architecture, s.Tracing, s.LogFormat = 256, "arm64", true, "json"
	s.Env = map[string]string{"A": "1"}
	s.Secrets = map[string]string{"TOKEN": "arn:aws:ssm:us-east-1:123456789012:parameter/token"}
	s.Labels = map[string]string{"team": "core"}
	s.Concurrency.Provisioned, s.Concurrency.Max = ptr(1), ptr(5)
	s.Triggers = append(testTriggers(), trigger.Storage{Key: "files", Bucket: "inbox", Prefix: "in/"},
		trigger.Stream{Key: "clicks", Source: "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"},
		trigger.Schedule{Key: "hourly", Rate: 60 * 60e9, TimeZone: "Europe/Paris"})
	fns := []*provider.Function{fn}
	if _, err := deploy.Apply(t.Context(), fns, s, &deploy.ApplyOptions{Bundle: &provider.BundleOptions{NoCache: true}}); err != nil {
		t.Fatal(err)
	}
	plan, err := deploy.Plan(t.Context(), fns, s, &deploy.PlanOptions{Bundle: &provider.BundleOptions{NoCache: true}})
	if err != nil {
		t.Fatal(err)
	}
	if plan.HasChanges() {
		t.Fatalf("plan after apply has changes:\n%s", plan)
	}
}
