package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --binary names the binary inside the zip: a name that would climb out
// of the build directory is a usage error, and nothing is written.
func TestBundleBinaryChecked(t *testing.T) {
	dir := t.TempDir()
	cacheDir := filepath.Join(t.TempDir(), "cache")
	writeFiles(t, dir, map[string]string{"go.mod": "module example.com/h\n\ngo 1.22\n", "main.go": "package main\n\nfunc main() {}\n"})
	for _, bad := range []string{"../escaped-bin", "/tmp/escaped-bin", "a/../../b", "bin/"} {
		code, _, stderr := runCLI(t, "bundle", "--go", "--cache-dir", cacheDir, "--binary", bad, dir)
		if code != exitUsage || !strings.Contains(stderr, "--binary") || !strings.Contains(stderr, "want a file name") {
			t.Errorf("--binary %q: exit %d, stderr %q; want a usage error naming --binary", bad, code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cacheDir), "escaped-bin")); err == nil {
		t.Fatal("a binary was written outside the cache directory")
	}
	if _, err := os.Stat(cacheDir); err == nil {
		t.Fatal("a refused --binary still touched the cache")
	}
}
