package bundle_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/bundle"
)

func TestCache(t *testing.T) {
	dir, cacheDir := t.TempDir(), t.TempDir()
	writeTree(t, dir, sample)
	opts := &bundle.Options{CacheDir: cacheDir}
	want := build(t, bundle.Dir(dir), &bundle.Options{NoCache: true})

	first := build(t, bundle.Dir(dir), opts)
	if first.Cached || first.Digest != want.Digest {
		t.Fatalf("first build: cached %v digest %s, want fresh %s", first.Cached, first.Digest, want.Digest)
	}
	if filepath.Dir(filepath.Dir(first.Path)) != cacheDir {
		t.Fatalf("Path %s is not in the cache dir %s", first.Path, cacheDir)
	}
	wantBytes, _ := want.Bytes()
	check := func(what string, b *bundle.Bundle, cached bool) {
		t.Helper()
		if b.Cached != cached || b.Digest != want.Digest {
			t.Fatalf("%s: cached %v digest %s; want cached %v digest %s", what, b.Cached, b.Digest, cached, want.Digest)
		}
		got, err := b.Bytes()
		if err != nil || !bytes.Equal(got, wantBytes) {
			t.Fatalf("%s: bytes differ (%v)", what, err)
		}
		rc, err := b.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, _ = io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, wantBytes) {
			t.Fatalf("%s: Open() bytes differ", what)
		}
		if b.Files != want.Files || b.Size != want.Size || b.UnzippedSize != want.UnzippedSize || len(b.Manifest) != len(want.Manifest) {
			t.Fatalf("%s: %+v, want %+v", what, b, want)
		}
		for i := range b.Manifest {
			if b.Manifest[i] != want.Manifest[i] {
				t.Fatalf("%s: manifest[%d] = %+v, want %+v", what, i, b.Manifest[i], want.Manifest[i])
			}
		}
	}
	check("first", first, false)
	check("unchanged", build(t, bundle.Dir(dir), opts), true)

	// Touched files: stat differs, contents do not.
	later := time.Now().Add(time.Hour)
	for name := range sample {
		p := filepath.Join(dir, filepath.FromSlash(name[:len(name)-len(filepathStar(name))]))
		if err := os.Chtimes(p, later, later); err != nil {
			t.Fatal(err)
		}
	}
	check("touched", build(t, bundle.Dir(dir), opts), true)
	check("touched, unchanged", build(t, bundle.Dir(dir), opts), true)

	// A copy of the tree: new stat record, same contents.
	other := t.TempDir()
	writeTree(t, other, sample)
	b := build(t, bundle.Dir(other), opts)
	if b.Digest != want.Digest {
		t.Fatalf("copy digest %s, want %s", b.Digest, want.Digest)
	}

	// A changed file is noticed, even with the same size and mtime.
	p := filepath.Join(dir, "lib", "data.json")
	fi, _ := os.Stat(p)
	if err := os.WriteFile(p, []byte(`{"a": 9}`), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	changed := build(t, bundle.Dir(dir), opts)
	if changed.Cached || changed.Digest == want.Digest {
		t.Fatalf("changed file: cached %v digest %s", changed.Cached, changed.Digest)
	}
	// A deleted cached zip is rebuilt, not trusted.
	if err := os.Remove(changed.Path); err != nil {
		t.Fatal(err)
	}
	again := build(t, bundle.Dir(dir), opts)
	if again.Cached || again.Digest != changed.Digest {
		t.Fatalf("after removing the zip: cached %v digest %s", again.Cached, again.Digest)
	}
	if _, err := os.Stat(again.Path); err != nil {
		t.Fatal(err)
	}

	// Another form (extra files) is another bundle.
	withExtra := build(t, bundle.Dir(dir), &bundle.Options{CacheDir: cacheDir, Form: bundle.Form{Extra: map[string][]byte{"host.json": []byte("{}")}}})
	if withExtra.Cached || withExtra.Digest == changed.Digest {
		t.Fatalf("extra files ignored by the cache: %+v", withExtra)
	}

	// In-memory sources are cached by content.
	files := map[string][]byte{"a.js": []byte("a"), "b.js": []byte("b")}
	if b := build(t, bundle.Files(files), opts); b.Cached {
		t.Fatal("first Files build cached")
	}
	if b := build(t, bundle.Files(files), opts); !b.Cached {
		t.Fatal("second Files build not cached")
	}
}

func filepathStar(name string) string {
	if len(name) > 0 && name[len(name)-1] == '*' {
		return "*"
	}
	return ""
}

func TestExtraWinsOverSource(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"host.json": "old", "index.js": "x", ".env": "S=1"})
	b := build(t, bundle.Dir(dir), &bundle.Options{NoCache: true, Form: bundle.Form{Extra: map[string][]byte{
		"host.json": []byte("new"), "fn/function.json": []byte("{}"), ".env": []byte("GENERATED=1"),
	}}})
	_, contents := readZip(t, b)
	if contents["host.json"] != "new" || contents["fn/function.json"] != "{}" || contents[".env"] != "GENERATED=1" || len(contents) != 4 {
		t.Fatalf("contents %v", contents)
	}
}

func TestLargeAndIncompressibleFiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	noise := make([]byte, 5<<20)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog\n"), 150000) // ~6.6 MB
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"big.txt":    string(text),
		"noise.bin":  string(noise),
		"photo.png":  string(noise[:4<<20+1]),
		"small.bin":  string(noise[:5000]),
		"small.txt":  strings.Repeat("hello ", 50),
		"lib/a.js":   string(text[:100000]),
		"lib/b.woff": string(text[:1000]),
	})
	for _, noCache := range []bool{true, false} {
		b := build(t, bundle.Dir(dir), &bundle.Options{NoCache: noCache, CacheDir: t.TempDir()})
		files, contents := readZip(t, b)
		methods := map[string]uint16{}
		for _, f := range files {
			methods[f.Name] = f.Method
			if int64(f.CompressedSize64) > int64(f.UncompressedSize64) {
				t.Errorf("%s grew: %d > %d", f.Name, f.CompressedSize64, f.UncompressedSize64)
			}
		}
		if contents["big.txt"] != string(text) || contents["noise.bin"] != string(noise) || contents["photo.png"] != string(noise[:4<<20+1]) {
			t.Fatal("large file contents differ")
		}
		want := map[string]uint16{"big.txt": 8, "noise.bin": 0, "photo.png": 0, "small.bin": 0, "small.txt": 8, "lib/a.js": 8, "lib/b.woff": 0}
		for n, m := range want {
			if methods[n] != m {
				t.Errorf("%s stored with method %d, want %d", n, methods[n], m)
			}
		}
		if b.Size > int64(len(noise))+4<<20+1+200000 {
			t.Errorf("zip too large: %d", b.Size)
		}
	}
}

func TestCanceled(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, sample)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := bundle.Build(ctx, bundle.Dir(dir), &bundle.Options{NoCache: true})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

func TestConcurrentBuildsShareTheCache(t *testing.T) {
	dir, cacheDir := t.TempDir(), t.TempDir()
	tree := map[string]string{}
	for i := range 300 {
		tree[filepath.ToSlash(filepath.Join("d", string(rune('a'+i%26)), "f"+string(rune('a'+i/26))+".js"))] = string(bytes.Repeat([]byte{byte(i)}, i*37))
	}
	writeTree(t, dir, tree)
	want := build(t, bundle.Dir(dir), &bundle.Options{NoCache: true})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			b, err := bundle.Build(context.Background(), bundle.Dir(dir), &bundle.Options{CacheDir: cacheDir})
			if err == nil && b.Digest != want.Digest {
				err = errors.New("digest " + b.Digest + " != " + want.Digest)
			}
			if err == nil {
				var data []byte
				if data, err = b.Bytes(); err == nil && !bytes.Equal(data, mustBytes(t, want)) {
					err = errors.New("bytes differ")
				}
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func mustBytes(t *testing.T, b *bundle.Bundle) []byte {
	data, err := b.Bytes()
	if err != nil {
		t.Error(err)
	}
	return data
}

func TestEmptySource(t *testing.T) {
	if _, err := bundle.Build(context.Background(), bundle.Source{}, nil); err == nil {
		t.Fatal("zero Source built")
	}
	if _, err := bundle.Build(context.Background(), bundle.Dir(filepath.Join(t.TempDir(), "missing")), &bundle.Options{NoCache: true}); err == nil {
		t.Fatal("missing directory built")
	}
	b := build(t, bundle.Files(nil), nil)
	if b.Files != 0 || b.Size == 0 {
		t.Fatalf("empty Files: %+v", b)
	}
}

func TestSameBytesWhateverTheWorkers(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, sample)
	writeTree(t, dir, map[string]string{"big/text.txt": strings.Repeat("lorem ipsum dolor sit amet\n", 200000)}) // > 4 MB: spilled
	want := build(t, bundle.Dir(dir), nil)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, n := range []int{1, 3, 8} {
		runtime.GOMAXPROCS(n)
		if got := build(t, bundle.Dir(dir), &bundle.Options{CacheDir: t.TempDir()}); got.Digest != want.Digest {
			t.Fatalf("GOMAXPROCS=%d: digest %s, want %s", n, got.Digest, want.Digest)
		}
	}
}

func TestCacheDirFromEnvironment(t *testing.T) {
	dir, cacheDir := t.TempDir(), t.TempDir()
	writeTree(t, dir, sample)
	t.Setenv("UPDRAFT_CACHE_DIR", cacheDir)
	b := build(t, bundle.Dir(dir), &bundle.Options{}) // default cache location
	if filepath.Dir(filepath.Dir(b.Path)) != cacheDir {
		t.Fatalf("Path %s is not under $UPDRAFT_CACHE_DIR %s", b.Path, cacheDir)
	}
}
