package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBundleJSON(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"index.js": "x", "lib/a.js": "aaaa", ".env": "S=1"})
	out := filepath.Join(t.TempDir(), "out.zip")
	cache := t.TempDir()
	// Flags may follow the path.
	code, stdout, stderr := runCLI(t, "bundle", "--cache-dir", cache, dir, "-o", out, "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res bundleResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("output %q: %v", stdout, err)
	}
	if res.Files != 2 || res.UnzippedSize != 5 || res.Cached || res.Path != out || len(res.DefaultExcluded) != 1 || res.DefaultExcluded[0] != ".env" {
		t.Fatalf("result %+v", res)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if res.Digest != "sha256:"+hex.EncodeToString(sum[:]) || res.Size != int64(len(data)) {
		t.Fatalf("digest %s size %d do not match the written zip (%d bytes)", res.Digest, res.Size, len(data))
	}

	// Second run: from the cache, same digest.
	code, stdout, _ = runCLI(t, "bundle", "--output=json", "--cache-dir", cache, dir)
	var again bundleResult
	if code != 0 || json.Unmarshal([]byte(stdout), &again) != nil || !again.Cached || again.Digest != res.Digest {
		t.Fatalf("second run: exit %d %s", code, stdout)
	}
}

func TestBundleText(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"index.js": "x", ".git/HEAD": "ref"})
	code, stdout, stderr := runCLI(t, "bundle", "--no-cache", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"digest    sha256:", "files     1", "excluded  .git/"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output %q lacks %q", stdout, want)
		}
	}
}

func TestBundleGo(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"go.mod": "module example.com/h\n\ngo 1.22\n", "main.go": "package main\n\nfunc main() {}\n"})
	code, stdout, stderr := runCLI(t, "bundle", "--go", "--arch", "arm64", "--no-cache", "--output", "json", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res bundleResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || res.Files != 1 {
		t.Fatalf("result %s (%v)", stdout, err)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, exitUsage, "Usage:"},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"bundle"}, exitUsage, "exactly one PATH"},
		{[]string{"bundle", dir, dir}, exitUsage, "exactly one PATH"},
		{[]string{"bundle", "--arch", "mips", dir}, exitUsage, "--arch"},
		{[]string{"bundle", "--output", "yaml", dir}, exitUsage, "--output"},
		{[]string{"bundle", "--nope", dir}, exitUsage, "not defined"},
		{[]string{"bundle", "--no-cache", filepath.Join(dir, "missing")}, exitError, "missing"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr, tc.code, tc.msg)
		}
	}
	if code, stdout, _ := runCLI(t, "help"); code != 0 || !strings.Contains(stdout, "bundle") {
		t.Errorf("help: exit %d, %q", code, stdout)
	}
}
