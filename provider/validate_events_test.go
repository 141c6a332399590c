package provider_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/memprovider"
	"github.com/updraft-dev/updraft/trigger"
)

func TestValidateMaxEventTriggers(t *testing.T) {
	caps := memprovider.Capabilities()
	caps.MaxEventTriggers = 1
	s := &provider.Spec{Runtime: caps.Runtimes[0], Triggers: []trigger.Trigger{
		trigger.HTTP{Key: "web"},
		trigger.Schedule{Key: "tick", Cron: "* * * * *"},
		trigger.Queue{Key: "jobs", Source: "q"},
	}}
	if err := provider.Validate(s, caps); err != nil {
		t.Fatalf("one event trigger beside HTTP and a schedule: %v", err)
	}
	s.Triggers = append(s.Triggers, trigger.Storage{Key: "files", Bucket: "b"})
	err := provider.Validate(s, caps)
	var ve *provider.ValidationError
	if !errors.As(err, &ve) || len(ve.Violations) != 1 || ve.Violations[0].Code != provider.InvalidArgument ||
		!strings.Contains(ve.Violations[0].Message, "allows 1 per function") {
		t.Fatalf("two event triggers: %v", err)
	}
	caps.MaxEventTriggers = 0
	if err := provider.Validate(s, caps); err != nil {
		t.Fatalf("no limit: %v", err)
	}
}
