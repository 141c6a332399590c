package bundle_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/updraft-dev/updraft/bundle"
)

// A link to a file or directory the rules exclude is excluded with it,
// whatever the link's own name: the rules apply to the target's path too.
func TestSymlinkToExcludedTargetIsExcluded(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		".env":           "SECRET=1",
		"id_rsa":         "PRIVATE KEY",
		".git/config":    "[core]",
		"keys/Prod.PEM":  "PRIVATE KEY",
		"build/out.js":   "generated",
		"index.js":       "x",
		".updraftignore": "build/\n",
	})
	must(t, os.Symlink(".env", filepath.Join(dir, "config.txt")))
	must(t, os.Symlink("id_rsa", filepath.Join(dir, "deploy-key")))
	must(t, os.Symlink(".git", filepath.Join(dir, "gitmeta")))
	must(t, os.Symlink(".git/config", filepath.Join(dir, "gitconfig")))
	must(t, os.Symlink("keys", filepath.Join(dir, "certs")))
	must(t, os.Symlink("build/out.js", filepath.Join(dir, "out.js")))
	must(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	must(t, os.Symlink("../.env", filepath.Join(dir, "sub", "settings")))

	b := build(t, bundle.Dir(dir), nil)
	if got := names(b); !slices.Equal(got, []string{".updraftignore", "index.js"}) {
		t.Fatalf("bundled %q; want only .updraftignore and index.js", got)
	}
	want := []string{".env", ".git/", "certs/Prod.PEM", "config.txt", "deploy-key", "gitconfig", "gitmeta/", "id_rsa", "keys/Prod.PEM", "sub/settings"}
	if !slices.Equal(b.DefaultExcluded, want) {
		t.Fatalf("DefaultExcluded = %q, want %q", b.DefaultExcluded, want)
	}

	// Re-including the target re-includes the link.
	writeTree(t, dir, map[string]string{".updraftignore": "build/\n!.env\n"})
	b = build(t, bundle.Dir(dir), nil)
	if got := names(b); !slices.Contains(got, "config.txt") || !slices.Contains(got, "sub/settings") {
		t.Fatalf("bundled %q; want the links to the re-included .env", got)
	}
}

var _ = context.Background
