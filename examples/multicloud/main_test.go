package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/updraft-dev/updraft/provider"
)

// TestMultiCloud runs the example: one Spec on AWS, GCP and Azure (fakes)
// and local://, v2 promoted everywhere, v3 rolled back everywhere because
// its gate failed on Azure, and every route left serving v2.
func TestMultiCloud(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, "../portable/fn"); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	text := out.String()
	for _, want := range []string{"v2 (canary 10 → 50 → 100): succeeded", "v3 (gate fails on Azure): rolled-back", "gate azure-health failed on azurefunctions://"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	v3 := text[strings.Index(text, "v3 ("):]
	for _, scheme := range []string{"awslambda", "gcpfunctions", "azurefunctions", "local"} {
		if !strings.Contains(v3, "  "+scheme) || strings.Count(v3, "rolled-back") < 5 {
			t.Errorf("v3 must be rolled back on %s:\n%s", scheme, v3)
		}
	}
}

// TestMultiCloudRoutesAfterRollback checks the routes themselves, not the
// printed result.
func TestMultiCloudRoutesAfterRollback(t *testing.T) {
	ctx := context.Background()
	fns, closeAll, err := targets(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	if err := rollouts(ctx, io.Discard, fns, "../portable/fn"); err != nil {
		t.Fatal(err)
	}
	for _, fn := range fns {
		st, err := fn.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r := st.Routes[provider.DefaultRoute]
		if r.Marker != nil || r.Traffic.Candidate != "" || r.Verdicts == nil || r.Verdicts.Good != r.Traffic.Stable || len(r.Verdicts.Failed) != 1 {
			t.Errorf("%s: traffic %+v marker %+v verdicts %+v: want v2 alone, last good, v3 failed", fn.Target(), r.Traffic, r.Marker, r.Verdicts)
		}
	}
}
