package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The end-to-end test runs the built binary as a CI job would, on a
// three-function spec file against local://, checking exit codes, the
// JSON outputs, and that no secret value is printed.

// binary builds the updraft command once per test run.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary and runs real functions; not in -short")
	}
	bin := filepath.Join(t.TempDir(), "updraft")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type cli struct {
	t    *testing.T
	bin  string
	dir  string
	env  []string
	logs bytes.Buffer // every output, to search for secrets
}

func (c *cli) run(extraEnv []string, args ...string) (int, string, string) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Dir = c.dir
	cmd.Env = append(append(os.Environ(), c.env...), extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("%v: %v", args, err)
	}
	c.logs.WriteString(stdout.String() + stderr.String())
	return code, stdout.String(), stderr.String()
}

// want runs the command and checks its exit code.
func (c *cli) want(code int, extraEnv []string, args ...string) (string, string) {
	c.t.Helper()
	got, stdout, stderr := c.run(extraEnv, args...)
	if got != code {
		c.t.Fatalf("updraft %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, code, stdout, stderr)
	}
	return stdout, stderr
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, s)
	}
	return v
}

const e2eSpec = `version: 1
functions:
  api:
    code: {go: @FN@}
    runtime: go
    memory: 128
    timeout: 10s
    env: {GREETING: hello, MODE: "${env:FN_MODE:-v1}"}
    secrets: {DB_PASSWORD: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf"}
    triggers:
      - {kind: http, key: web, auth: none}
    targets:
      - url: local://api?dir=@STATE@
  worker:
    code: {go: @FN@}
    runtime: go
    env: {GREETING: work, MODE: "${env:FN_MODE:-v1}"}
    targets:
      - url: local://worker?dir=@STATE@
  cron:
    code: {go: @FN@}
    runtime: go
    env: {GREETING: tick, MODE: v1}
    triggers:
      - {kind: schedule, key: nightly, cron: "0 3 * * *"}
    targets:
      - url: local://cron?dir=@STATE@
rollout:
  strategy: canary
  steps: [50, 100]
  lockstep: function
  gates:
    - invoke: {payload: "{}"}
`

func TestEndToEndLocal(t *testing.T) {
	bin := binary(t)
	work := t.TempDir()
	state := filepath.Join(work, "state")
	fn, err := filepath.Abs("testdata/e2efn")
	if err != nil {
		t.Fatal(err)
	}
	c := &cli{t: t, bin: bin, dir: work, env: []string{"CI=true", "XDG_STATE_HOME=" + filepath.Join(work, "xdg"), "FN_MODE="}}

	// init writes a starter that validates and plans on local:// at once.
	c.want(exitOK, nil, "init", "starter")
	c.want(exitOK, nil, "--spec", "starter/updraft.yaml", "validate")
	c.want(exitChanges, nil, "--spec", "starter/updraft.yaml", "plan")

	spec := strings.NewReplacer("@FN@", fn, "@STATE@", state).Replace(e2eSpec)
	if err := os.WriteFile(filepath.Join(work, "updraft.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := c.want(exitOK, nil, "validate", "--output", "json")
	if v := decode(t, out); v["valid"] != true || len(v["targets"].([]any)) != 3 {
		t.Fatalf("validate: %s", out)
	}

	// plan: exit 2 with changes, saved for a later job.
	out, _ = c.want(exitChanges, nil, "plan", "--output", "json", "--out", "plan.json")
	if v := decode(t, out); v["hasChanges"] != true || len(v["functions"].([]any)) != 3 {
		t.Fatalf("plan: %s", out)
	}
	// deploy from the saved plan, then nothing is left to change.
	c.want(exitOK, nil, "deploy", "--plan", "plan.json")
	c.want(exitOK, nil, "plan")
	// The saved plan is stale now: it is refused.
	_, stderr := c.want(exitError, nil, "deploy", "--plan", "plan.json")
	if !strings.Contains(stderr, "stale") {
		t.Fatalf("stale plan: %s", stderr)
	}

	// A rollout of a broken candidate fails its gate, is rolled back, and
	// says so in a GitHub Actions annotation.
	gh := []string{"FN_MODE=fail", "GITHUB_ACTIONS=true"}
	out, stderr = c.want(exitError, gh, "rollout", "--function", "api", "--output", "json")
	if !strings.Contains(stderr, "::error") || !strings.Contains(out, `"rolled-back"`) {
		t.Fatalf("failed rollout: stdout %s\nstderr %s", out, stderr)
	}
	st, _ := c.want(exitOK, nil, "status", "--function", "api", "--output", "json")
	if !strings.Contains(st, `"stable": "1"`) || strings.Contains(st, `"candidate"`) {
		t.Fatalf("after the failed rollout the route must be back on revision 1: %s", st)
	}

	// A good candidate rolls out.
	out, stderr = c.want(exitOK, []string{"FN_MODE=v2", "GITHUB_ACTIONS=true"}, "rollout", "--function", "api", "--output", "json")
	if !strings.Contains(out, `"succeeded"`) || !strings.Contains(stderr, "::notice") {
		t.Fatalf("good rollout: %s\n%s", out, stderr)
	}
	out, _ = c.want(exitOK, []string{"FN_MODE=v2"}, "invoke", "--function", "api", "--output", "json")
	if !strings.Contains(out, `\"mode\":\"v2\"`) {
		t.Fatalf("invoke after the rollout: %s", out)
	}
	out, _ = c.want(exitOK, nil, "status", "--output", "json")
	if v := decode(t, out); len(v["targets"].([]any)) != 3 {
		t.Fatalf("status: %s", out)
	}
	c.want(exitOK, nil, "logs", "--function", "api")

	// rollback, then destroy (which needs --yes without a terminal).
	out, _ = c.want(exitOK, []string{"FN_MODE=v2"}, "rollback", "--function", "api", "--output", "json")
	if !strings.Contains(out, `"to"`) {
		t.Fatalf("rollback: %s", out)
	}
	c.want(exitUsage, nil, "destroy")
	c.want(exitOK, []string{"FN_MODE=v2"}, "destroy", "--yes")
	out, _ = c.want(exitOK, nil, "status", "--output", "json")
	if strings.Contains(out, `"exists": true`) {
		t.Fatalf("after destroy: %s", out)
	}

	// A spec file with a secret value is refused without echoing it.
	bad := strings.Replace(spec, "GREETING: hello,", "GREETING: hello, API_TOKEN: tok_ABCDEFGHIJKLMNOPQRSTUVWX,", 1)
	os.WriteFile(filepath.Join(work, "bad.yaml"), []byte(bad), 0o644)
	_, stderr = c.want(exitError, nil, "--spec", "bad.yaml", "validate")
	if !strings.Contains(stderr, "bad.yaml:8:") {
		t.Fatalf("no file:line:column: %s", stderr)
	}
	if strings.Contains(c.logs.String(), "tok_ABCDEFGHIJKLMNOPQRSTUVWX") {
		t.Fatal("a secret value was printed")
	}
}
