package trigger_test

import (
	"fmt"

	"github.com/updraft-dev/updraft/trigger"
)

func Example() {
	ts := []trigger.Trigger{
		trigger.HTTP{Key: "web", Auth: trigger.AuthNone},
		trigger.Schedule{Key: "tick", Cron: "*/5 * * * *"},
		trigger.Schedule{Key: "bad", Cron: "every 5 minutes"},
	}
	for _, t := range ts {
		if err := t.Validate(); err != nil {
			fmt.Println("invalid:", t.TriggerKey())
			continue
		}
		fmt.Println(trigger.Describe(t))
	}
	// Output:
	// http web (auth none)
	// schedule tick cron "*/5 * * * *" UTC
	// invalid: bad
}
