package gcpfunctions

import (
	"strings"
	"testing"

	"cloud.google.com/go/functions/apiv2/functionspb"

	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/trigger"
)

func triggerUpdates(t *testing.T, fn *provider.Function, s *provider.Spec) (updates []string, all []deploy.Change) {
	t.Helper()
	p, err := deploy.Plan(t.Context(), []*provider.Function{fn}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Targets[0].Changes {
		if c.Kind == deploy.ChangeTriggerUpdate {
			updates = append(updates, c.Field)
		}
	}
	return updates, p.Targets[0].Changes
}

// TestStreamRetryPolicy: a stream's MaxRetries is the event trigger's
// retry policy (nil retries, 0 does not), read back so that Plan sees no
// change after an Apply and a change after an edit; a retry count and
// bisection, which Cloud Functions has not, are refused before any call.
func TestStreamRetryPolicy(t *testing.T) {
	fg := newFakeGCP(t, nil)
	name := testParent + "/functions/changes"
	fn := fg.open(t, name, nil)
	src := "projects/p/databases/(default)/documents/users/{id}"
	s := testSpec()
	s.Triggers = []trigger.Trigger{trigger.Stream{Key: "users", Source: src, MaxRetries: new(0)}}
	apply(t, fn, s)
	if rp := fg.srv.Function(name).EventTrigger.RetryPolicy; rp != functionspb.EventTrigger_RETRY_POLICY_DO_NOT_RETRY {
		t.Fatalf("MaxRetries 0: retry policy %v", rp)
	}
	st, err := fn.Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if u := st.Triggers[0].(trigger.Stream); u.MaxRetries == nil || *u.MaxRetries != 0 {
		t.Fatalf("read back %+v, want MaxRetries 0", u)
	}
	if _, all := triggerUpdates(t, fn, s); len(all) != 0 {
		t.Fatalf("plan after apply: %v", all)
	}

	// Unset: Cloud Functions' retry (up to 7 days), an in-place update.
	s.Triggers = []trigger.Trigger{trigger.Stream{Key: "users", Source: src}}
	if up, _ := triggerUpdates(t, fn, s); len(up) != 1 || up[0] != "users" {
		t.Fatalf("plan of MaxRetries 0 → nil updates %v", up)
	}
	apply(t, fn, s)
	if rp := fg.srv.Function(name).EventTrigger.RetryPolicy; rp != functionspb.EventTrigger_RETRY_POLICY_RETRY {
		t.Fatalf("MaxRetries nil: retry policy %v", rp)
	}
	st, _ = fn.Get(t.Context())
	if u := st.Triggers[0].(trigger.Stream); u.MaxRetries != nil || u.BisectOnError {
		t.Fatalf("read back %+v, want MaxRetries nil", u)
	}
	if res := apply(t, fn, s); res.Changed {
		t.Errorf("re-apply changed %+v", res)
	}

	for _, tc := range []struct {
		tr   trigger.Stream
		want string
	}{
		{trigger.Stream{Key: "users", Source: src, MaxRetries: new(3)}, "set MaxRetries to nil or 0"},
		{trigger.Stream{Key: "users", Source: src, BisectOnError: true}, "no batch to bisect"},
	} {
		s.Triggers = []trigger.Trigger{tc.tr}
		fg.srv.ResetCalls()
		_, err := fn.Apply(t.Context(), s, nil)
		if provider.Code(err) != provider.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want InvalidArgument saying %q", tc.tr, err, tc.want)
		}
		if c := fg.srv.Calls(); len(c) != 0 {
			t.Errorf("%+v: refused spec made calls %v", tc.tr, c)
		}
		// Plan reports it too, as a violation (its reads of the live
		// state still run, as for any violation).
		p, err := deploy.Plan(t.Context(), []*provider.Function{fn}, s, nil)
		if err != nil {
			t.Fatal(err)
		}
		if perr := p.Err(); perr == nil || !strings.Contains(perr.Error(), tc.want) || len(p.Targets[0].Violations) != 1 {
			t.Errorf("%+v: Plan err %v, violations %+v; want the refusal as a violation", tc.tr, perr, p.Targets[0].Violations)
		}
	}
}
