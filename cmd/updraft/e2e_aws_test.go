package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/internal/cloudfake/cloudwatchfake"
	"github.com/updraft-dev/updraft/internal/cloudfake/lambdafake"
)

// TestEndToEndAWSFake runs the built binary against the in-repo Lambda and
// CloudWatch fakes, reached by the SDK's own endpoint settings
// (AWS_ENDPOINT_URL_<SERVICE>), as a CI job would reach AWS: plan, deploy,
// a rollout whose candidate fails its smoke invoke (rolled back), a good
// rollout, status, rollback and destroy.
func TestEndToEndAWSFake(t *testing.T) {
	bin := binary(t)
	lam := lambdafake.New(&lambdafake.Options{CreateDelay: 5 * time.Millisecond, UpdateDelay: 5 * time.Millisecond,
		PublishDelay: 2 * time.Millisecond, Handler: func(ctx context.Context, inv *lambdafake.Invocation) ([]byte, error) {
			if inv.Env["MODE"] == "fail" {
				return nil, errors.New("candidate is broken")
			}
			return []byte(`{"mode":"` + inv.Env["MODE"] + `"}`), nil
		}})
	defer lam.Close()
	cw := cloudwatchfake.New(lam)
	defer cw.Close()

	work := t.TempDir()
	fn, _ := filepath.Abs("testdata/e2efn")
	spec := strings.ReplaceAll(`version: 1
functions:
  orders:
    code: {go: @FN@}
    runtime: go
    architecture: arm64
    memory: 256
    timeout: 10s
    env: {MODE: "${env:FN_MODE:-v1}"}
    secrets: {DB_PASSWORD: "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"}
    targets:
      - url: awslambda://orders?region=us-east-1&role=arn:aws:iam::123456789012:role/orders
rollout:
  strategy: canary
  steps: [10, 100]
  gates:
    - invoke: {payload: "{}"}
`, "@FN@", fn)
	if err := os.WriteFile(filepath.Join(work, "updraft.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	c := &cli{t: t, bin: bin, dir: work, env: []string{"CI=true", "FN_MODE=",
		"HOME=" + home, "AWS_CONFIG_FILE=" + filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"),
		"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=example", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL_LAMBDA=" + lam.URL(), "AWS_ENDPOINT_URL_CLOUDWATCH=" + cw.URL()}}

	c.want(exitOK, nil, "validate")
	c.want(exitChanges, nil, "plan")
	c.want(exitOK, nil, "deploy")
	c.want(exitOK, nil, "plan")
	if v, _, _, ok := lam.Alias("orders", "live"); !ok || v != "1" {
		t.Fatalf("after deploy the alias serves %q (%v)", v, ok)
	}
	cfg, _ := lam.Function("orders")
	if cfg.Environment == nil || cfg.Environment.Variables["DB_PASSWORD"] != "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf" {
		t.Fatalf("the secret reference is not in the function's env: %+v", cfg.Environment)
	}

	out, stderr := c.want(exitError, []string{"FN_MODE=fail", "GITHUB_ACTIONS=true"}, "rollout", "--output", "json")
	if !strings.Contains(out, `"rolled-back"`) || !strings.Contains(stderr, "::error") {
		t.Fatalf("failed rollout: %s\n%s", out, stderr)
	}
	if v, w, _, _ := lam.Alias("orders", "live"); v != "1" || len(w) != 0 {
		t.Fatalf("after the failed rollout the alias serves %s %v", v, w)
	}
	out, _ = c.want(exitOK, []string{"FN_MODE=v2"}, "rollout", "--output", "json")
	if !strings.Contains(out, `"succeeded"`) {
		t.Fatalf("good rollout: %s", out)
	}
	st, _ := c.want(exitOK, []string{"FN_MODE=v2"}, "status", "--output", "json")
	if !strings.Contains(st, `"lastGood"`) || !strings.Contains(st, `"failed"`) {
		t.Fatalf("status must show the verdicts: %s", st)
	}
	out, _ = c.want(exitOK, []string{"FN_MODE=v2"}, "invoke", "--output", "json")
	if !strings.Contains(out, `\"mode\":\"v2\"`) {
		t.Fatalf("invoke: %s", out)
	}
	// Rollback goes to the last known good before v2: revision 1, never the
	// failed candidate.
	out, _ = c.want(exitOK, []string{"FN_MODE=v2"}, "rollback", "--output", "json")
	if v, _, _, _ := lam.Alias("orders", "live"); v != "1" {
		t.Fatalf("rollback: alias on %s: %s", v, out)
	}
	c.want(exitOK, nil, "destroy", "--yes", "--output", "json")
	if _, ok := lam.Function("orders"); ok {
		t.Fatal("destroy left the function")
	}
	c.checkJSON()
}
