package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		"+ publish a new revision\n", // a code change lists no revisions (issue 11)
		"~ Env[VERSION]: 1 → 2",
		`gate "invoke" failed at step 1 (10%): rolled back everywhere (code FailedPrecondition)`,
		"=> outcome rolled-back",
		"mem://checkout-ap: route live serves revision 1 (rollout marker: false)",
		"=> outcome succeeded",
		"mem://checkout-eu: route live serves revision 3 (rollout marker: false)",
		"promoted  mem://checkout-us",
		"! the spec is revision 2, which failed a rollout",
		"=> Apply refuses it (code FailedPrecondition)",
		"kept 3: serves route live",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("transcript lacks %q", want)
		}
	}
	if strings.Contains(s, "secretsmanager") {
		t.Errorf("transcript shows a secret reference")
	}
	if t.Failed() || testing.Verbose() {
		t.Log("\n" + s)
	}
}
