package service

import (
	"testing"

	"github.com/updraft-dev/updraft/trigger"
)

// TestStreamRetries: maxRetries absent is nil (the cloud's default),
// maxRetries: 0 is new(0) (no retry), and bisectOnError reaches the
// portable trigger.
func TestStreamRetries(t *testing.T) {
	src := `version: 1
functions:
  a:
    code: {dir: .}
    runtime: nodejs22
    triggers:
      - {kind: stream, key: unset, source: "arn:aws:kinesis:us-east-1:123456789012:stream/a"}
      - {kind: stream, key: none, source: "arn:aws:kinesis:us-east-1:123456789012:stream/b", maxRetries: 0}
      - {kind: stream, key: some, source: "arn:aws:kinesis:us-east-1:123456789012:stream/c", maxRetries: 3, bisectOnError: true}
    targets: [{url: 'mem://a'}]
`
	svc, err := Parse("x.yaml", t.TempDir(), []byte(src), &LoadOptions{LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]trigger.Stream{}
	for _, tr := range svc.Functions[0].Spec.Triggers {
		got[tr.TriggerKey()] = tr.(trigger.Stream)
	}
	if u := got["unset"]; u.MaxRetries != nil || u.BisectOnError {
		t.Errorf("unset: %+v, want MaxRetries nil", u)
	}
	if n := got["none"]; n.MaxRetries == nil || *n.MaxRetries != 0 {
		t.Errorf("maxRetries: 0 gave %v, want new(0)", n.MaxRetries)
	}
	if s := got["some"]; s.MaxRetries == nil || *s.MaxRetries != 3 || !s.BisectOnError {
		t.Errorf("some: %+v", s)
	}
}
