package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The end-to-end test runs the built binary as a CI job would, on a
// three-function spec file against local://, checking exit codes, the
// JSON outputs, and that no secret value is printed.

// built is the updraft binary, built once for the tests that need it.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// binary returns the built updraft command.
func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary and runs real functions; not in -short")
	}
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "updraft-e2e-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "updraft")
		if runtime.GOOS == "windows" {
			built.path += ".exe"
		}
		if out, err := exec.Command("go", "build", "-o", built.path, ".").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

type cli struct {
	t    *testing.T
	bin  string
	dir  string
	env  []string
	logs bytes.Buffer // every output, to search for secrets
	json []jsonOutput // every --output json result, checked against its schema
}

type jsonOutput struct {
	command, stdout string
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
	if cmd := commandOf(args); cmd != "" && slices.Contains(args, "json") {
		c.json = append(c.json, jsonOutput{cmd, stdout.String()})
	}
	return code, stdout.String(), stderr.String()
}

// commandOf returns the subcommand in args.
func commandOf(args []string) string {
	for i, a := range args {
		if _, ok := outputs[a]; ok && (i == 0 || !strings.HasPrefix(args[i-1], "--") || args[i-1] == "--yes") {
			return a
		}
	}
	return ""
}

// checkJSON validates every JSON output the test saw against the schema
// `updraft schema --of COMMAND` prints.
func (c *cli) checkJSON() {
	c.t.Helper()
	if len(c.json) == 0 {
		c.t.Fatal("no JSON output was checked")
	}
	for _, o := range c.json {
		command := o.command
		if strings.HasPrefix(strings.TrimSpace(o.stdout), `{"error"`) {
			command = "error" // a failure with no result
		}
		sch := compiledOutputSchema(c.t, command)
		docs := []string{o.stdout}
		if o.command == "logs" {
			docs = strings.Split(strings.TrimSpace(o.stdout), "\n")
		}
		for _, d := range docs {
			v, err := jsonschema.UnmarshalJSON(strings.NewReader(d))
			if err != nil {
				c.t.Errorf("%s: output is not one JSON value: %v\n%s", o.command, err, d)
				continue
			}
			if err := sch.Validate(v); err != nil {
				c.t.Errorf("%s output does not match its schema: %v\n%s", command, err, d)
			}
		}
	}
}

func compiledOutputSchema(t *testing.T, command string) *jsonschema.Schema {
	t.Helper()
	b, err := outputSchema(command)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	comp := jsonschema.NewCompiler()
	url := "https://updraft.dev/schema/output/" + strings.ReplaceAll(command, " ", "-") + ".json"
	if err := comp.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := comp.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return sch
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
    code: {function: @PORTABLE@}
    runtime: go
    env: {MODE: "${env:FN_MODE:-v1}"}
    triggers:
      - {kind: http, key: web, auth: none}
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
	// init --from describes an existing function.
	c.want(exitOK, nil, "init", "--name", "existing", "--from", fn, "adopted")
	c.want(exitOK, nil, "--spec", "adopted/updraft.yaml", "validate")

	portable, err := filepath.Abs("../../examples/portable/fn")
	if err != nil {
		t.Fatal(err)
	}
	spec := strings.NewReplacer("@FN@", fn, "@STATE@", state, "@PORTABLE@", portable).Replace(e2eSpec)
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
	// The portable function (code: {function: …}) answers an HTTP event on
	// local://.
	out, _ = c.want(exitOK, nil, "invoke", "--function", "worker", "--output", "json",
		"--payload", `{"version":"2.0","rawPath":"/hello","rawQueryString":"name=ci","requestContext":{"http":{"method":"GET","path":"/hello"}}}`)
	if !strings.Contains(out, `hello, ci`) || !strings.Contains(out, `statusCode\":200`) {
		t.Fatalf("portable worker: %s", out)
	}
	c.want(exitOK, nil, "logs", "--function", "api")
	c.want(exitOK, nil, "logs", "--function", "api", "--output", "json")

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
	c.want(exitError, nil, "--spec", "bad.yaml", "validate", "--output", "json")
	c.want(exitOK, nil, "version", "--output", "json")
	c.checkJSON()
}

// TestDevAndRollout is the README's command-line quickstart, on its spec
// file (examples/cli/updraft.yaml): updraft dev serves the local://
// target on a stable address, and updraft rollout from another process
// changes what it serves.
func TestDevAndRollout(t *testing.T) {
	bin := binary(t)
	work := t.TempDir()
	spec, err := filepath.Abs("../../examples/cli/updraft.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"CI=true", "XDG_STATE_HOME=" + filepath.Join(work, "state"), "VERSION="}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	dev := exec.Command(bin, "--spec", spec, "dev", "--addr", addr)
	dev.Dir = work
	dev.Env = append(os.Environ(), env...)
	stdout, err := dev.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var devErr bytes.Buffer
	dev.Stderr = &devErr
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Process.Kill(); dev.Wait() })
	lines := bufio.NewScanner(stdout)
	ready := false
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "serving on "+addr) {
			ready = true
			break
		}
	}
	if !ready {
		t.Fatalf("dev did not start: %s", devErr.String())
	}
	go io.Copy(io.Discard, stdout)
	call := func() map[string]string {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/hello/?name=ci")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]string
		body, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		return v
	}
	if v := call(); v["version"] != "v1" || v["message"] != "Hello, ci" {
		t.Fatalf("dev serves %v", v)
	}
	c := &cli{t: t, bin: bin, dir: work, env: env}
	c.want(exitOK, []string{"VERSION=v2"}, "--spec", spec, "rollout")
	// The dev host serves the rolled-out revision: it reads the state
	// directory the rollout wrote.
	deadline := time.Now().Add(10 * time.Second)
	for v := call(); v["version"] != "v2"; v = call() {
		if time.Now().After(deadline) {
			t.Fatalf("dev still serves %v after the rollout", v)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := dev.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := dev.Wait(); err != nil {
		t.Fatalf("dev after Ctrl-C: %v\n%s", err, devErr.String())
	}
}

// TestRolloutInterrupted: Ctrl-C during a rollout rolls every target back
// and says so.
func TestRolloutInterrupted(t *testing.T) {
	bin := binary(t)
	work := t.TempDir()
	fn, _ := filepath.Abs("testdata/e2efn")
	state := filepath.Join(work, "state")
	spec := strings.NewReplacer("@FN@", fn, "@STATE@", state).Replace(`version: 1
functions:
  api:
    code: {go: @FN@}
    runtime: go
    env: {MODE: "${env:FN_MODE:-v1}"}
    targets:
      - url: local://api?dir=@STATE@
rollout:
  strategy: canary
  steps: [10, 100]
  interval: 1m
`)
	os.WriteFile(filepath.Join(work, "updraft.yaml"), []byte(spec), 0o644)
	c := &cli{t: t, bin: bin, dir: work, env: []string{"CI=true"}}
	c.want(exitOK, nil, "deploy")

	ro := exec.Command(bin, "rollout", "--output", "json")
	ro.Dir = work
	ro.Env = append(os.Environ(), "CI=true", "FN_MODE=v2")
	var out bytes.Buffer
	stderr, _ := ro.StderrPipe()
	ro.Stdout = &out
	if err := ro.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the candidate takes its first step's traffic.
	sc := bufio.NewScanner(stderr)
	var seen []string
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if strings.Contains(sc.Text(), "baking") {
			ro.Process.Signal(os.Interrupt)
			break
		}
	}
	rest, _ := io.ReadAll(stderr)
	err := ro.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitError {
		t.Fatalf("interrupted rollout: %v\n%s%s", err, strings.Join(seen, "\n"), rest)
	}
	if !strings.Contains(string(rest), "rolled back") || !strings.Contains(out.String(), `"rolled-back"`) {
		t.Fatalf("interrupted rollout must say it rolled back:\n%s\n%s", rest, out.String())
	}
	st, _ := c.want(exitOK, nil, "status", "--output", "json")
	if !strings.Contains(st, `"stable": "1"`) || strings.Contains(st, `"rollout"`) {
		t.Fatalf("after Ctrl-C the route must be on revision 1 with no marker: %s", st)
	}
}
