package bundle_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

func zipDigest(t *testing.T, b *bundle.Bundle) string {
	t.Helper()
	data, err := b.Bytes()
	must(t, err)
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// A cached zip damaged in place (same size) is not returned as Cached:
// it is rebuilt, and the Digest is again that of the bytes.
func TestCorruptCachedZipRebuilt(t *testing.T) {
	dir, cacheDir := t.TempDir(), t.TempDir()
	writeTree(t, dir, sample)
	opts := &bundle.Options{CacheDir: cacheDir}
	first := build(t, bundle.Dir(dir), opts)
	for _, where := range []int64{0, first.Size / 2, first.Size - 1} {
		f, err := os.OpenFile(first.Path, os.O_RDWR, 0)
		must(t, err)
		var b [1]byte
		_, err = f.ReadAt(b[:], where)
		must(t, err)
		b[0] ^= 0x40
		_, err = f.WriteAt(b[:], where)
		must(t, err)
		must(t, f.Close())
		got := build(t, bundle.Dir(dir), opts)
		if got.Cached || got.Digest != first.Digest || zipDigest(t, got) != got.Digest {
			t.Fatalf("byte %d damaged: cached %v, digest %s, bytes %s; want a rebuild of %s", where, got.Cached, got.Digest, zipDigest(t, got), first.Digest)
		}
		if again := build(t, bundle.Dir(dir), opts); !again.Cached || zipDigest(t, again) != first.Digest {
			t.Fatalf("after the rebuild: cached %v", again.Cached)
		}
	}
}

// The cache is bounded: the least recently used zips go first, and
// nothing used in the last hour goes.
func TestCacheIsBounded(t *testing.T) {
	cacheDir := t.TempDir()
	srcs := map[string]bundle.Source{}
	for _, n := range []string{"a", "b", "c", "d"} {
		dir := t.TempDir()
		rng := rand.New(rand.NewPCG(uint64(n[0]), 1))
		noise := make([]byte, 64<<10) // incompressible: each zip is ~64 KB
		for i := range noise {
			noise[i] = byte(rng.Uint32())
		}
		writeTree(t, dir, map[string]string{"index.js": n, "noise.bin": string(noise)})
		srcs[n] = bundle.Dir(dir)
	}
	opts := &bundle.Options{CacheDir: cacheDir, CacheMaxBytes: 140 << 10}
	paths := map[string]string{}
	for _, n := range []string{"a", "b", "c"} {
		paths[n] = build(t, srcs[n], opts).Path
	}
	// All three are over the bound, but were used just now: kept.
	for n, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s evicted within the hour: %v", n, err)
		}
	}
	// Two hours later, a was used again after b and c.
	age := func(rel time.Duration, files ...string) {
		for _, f := range files {
			tm := time.Now().Add(rel)
			must(t, os.Chtimes(f, tm, tm))
		}
	}
	var all []string
	must(t, filepath.WalkDir(cacheDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			all = append(all, p)
		}
		return err
	}))
	age(-3*time.Hour, all...)
	age(-150*time.Minute, paths["c"])
	age(-2*time.Hour, paths["a"])
	d := build(t, srcs["d"], opts)
	for n, want := range map[string]bool{"a": true, "b": false, "c": false} {
		if _, err := os.Stat(paths[n]); (err == nil) != want {
			t.Errorf("zip of %s: present %v, want %v", n, err == nil, want)
		}
	}
	if _, err := os.Stat(d.Path); err != nil {
		t.Fatalf("the new zip was evicted: %v", err)
	}
	// An evicted bundle is rebuilt.
	if b := build(t, srcs["b"], opts); b.Cached || zipDigest(t, b) != b.Digest {
		t.Fatalf("evicted b: cached %v", b.Cached)
	}
	var total int64
	must(t, filepath.WalkDir(cacheDir, func(p string, d fs.DirEntry, err error) error {
		if fi, err := d.Info(); err == nil && !d.IsDir() {
			total += fi.Size()
		}
		return err
	}))
	t.Logf("cache holds %d bytes", total)
}
