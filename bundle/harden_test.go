package bundle_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// Form.Binary is a name inside the zip: one that would climb out of the
// scratch directory (and put a "../" entry in the zip) is refused before
// anything is built; a relative path inside the zip is fine.
func TestFormBinaryValidated(t *testing.T) {
	dir := goPackage(t)
	scratch := t.TempDir()
	cacheDir := filepath.Join(scratch, "cache")
	for _, bad := range []string{"../escaped-bin", "../../escaped-bin", "/tmp/escaped-bin", "a/../../b", `..\\b`, "bin/", "./bootstrap", "a\x00b"} {
		_, err := bundle.Build(context.Background(), bundle.GoSource(dir),
			&bundle.Options{CacheDir: cacheDir, Form: bundle.Form{GoBuild: true, Binary: bad}})
		var fe *bundle.FormError
		if !errors.As(err, &fe) || fe.Field != "Binary" || fe.Value != bad {
			t.Fatalf("Binary %q: error %v, want a *FormError for Binary", bad, err)
		}
		var ue *bundle.UnsafeError
		if !errors.As(err, &ue) {
			t.Fatalf("Binary %q: error %v does not wrap an *UnsafeError", bad, err)
		}
	}
	for _, p := range []string{filepath.Join(cacheDir, "escaped-bin"), filepath.Join(scratch, "escaped-bin")} {
		if _, err := os.Stat(p); err == nil {
			t.Fatalf("the binary was written outside the scratch directory: %s", p)
		}
	}
	b := build(t, bundle.GoSource(dir), &bundle.Options{NoCache: true, Form: bundle.Form{GoBuild: true, Binary: "bin/handler"}})
	if got := names(b); !slices.Equal(got, []string{"bin/handler"}) {
		t.Fatalf("bundled %q, want [bin/handler]", got)
	}
	// The name does not change the binary.
	def := build(t, bundle.GoSource(dir), &bundle.Options{NoCache: true, Form: bundle.Form{GoBuild: true}})
	if def.Manifest[0].Name != "bootstrap" || def.Manifest[0].SHA256 != b.Manifest[0].SHA256 {
		t.Fatalf("bootstrap %+v and bin/handler %+v differ", def.Manifest[0], b.Manifest[0])
	}
	_, err := bundle.Build(context.Background(), bundle.Files(map[string][]byte{"a": nil}),
		&bundle.Options{NoCache: true, Form: bundle.Form{GOARCH: "amd64 GOFLAGS=-x"}})
	var fe *bundle.FormError
	if !errors.As(err, &fe) || fe.Field != "GOARCH" {
		t.Fatalf("bad GOARCH: error %v, want a *FormError", err)
	}
}

// A relative source that is not there says which directory it was
// resolved against, and a Go source that is not there is not silently
// replaced by the module above the working directory.
func TestMissingRelativeSourceSaysWhere(t *testing.T) {
	wd, err := os.Getwd()
	must(t, err)
	for _, src := range []bundle.Source{bundle.GoSource("./no-such-fn"), bundle.Dir("no-such-dir")} {
		for _, goBuild := range []bool{false, true} {
			_, err := bundle.Build(context.Background(), src, &bundle.Options{NoCache: true, Form: bundle.Form{GoBuild: goBuild}})
			if err == nil || !strings.Contains(err.Error(), "resolved against the working directory "+wd) ||
				!strings.Contains(err.Error(), filepath.Join(wd, filepath.Base(src.Path()))) || !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s (GoBuild %v): error %v; want it to name %s and not exist", src.Path(), goBuild, err, wd)
			}
		}
	}
}
