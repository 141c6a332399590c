package bundle_test

import (
	"archive/zip"
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
	"syscall"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/bundle"
)

var sample = map[string]string{
	"index.js":                    "exports.handler = async () => ({statusCode: 200});\n",
	"lib/util.js":                 strings.Repeat("function f(a, b) { return a + b; }\n", 200),
	"lib/data.json":               `{"a": 1}`,
	"bin/run*":                    "#!/bin/sh\necho hi\n",
	"node_modules/x/package.json": `{"name": "x"}`,
	"node_modules/x/index.js":     "module.exports = 1;\n",
	"empty.txt":                   "",
	"a-b/c.txt":                   "sorts before a/b",
	"a/b.txt":                     "sorts after a-b",
}

func TestDigestStableAcrossMtimesModesAndCopies(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, sample)
	first := build(t, bundle.Dir(dir), nil)

	// Touch every file with a different, random time.
	rng := rand.New(rand.NewPCG(1, 2))
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		tm := time.Unix(rng.Int64N(2e9), rng.Int64N(1e9))
		if err := os.Chtimes(p, tm, tm); err != nil {
			t.Fatal(err)
		}
		return nil
	})
	// Permission bits other than "executable" do not count.
	if err := os.Chmod(filepath.Join(dir, "lib/util.js"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "bin/run"), 0o700); err != nil {
		t.Fatal(err)
	}
	touched := build(t, bundle.Dir(dir), nil)
	if touched.Digest != first.Digest {
		t.Fatalf("digest changed after touching mtimes: %s then %s", first.Digest, touched.Digest)
	}

	// A copy elsewhere, created in the opposite order, later.
	time.Sleep(10 * time.Millisecond)
	other := filepath.Join(t.TempDir(), "deeper", "copy")
	keys := make([]string, 0, len(sample))
	for k := range sample {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	slices.Reverse(keys)
	for _, k := range keys {
		writeTree(t, other, map[string]string{k: sample[k]})
	}
	copied := build(t, bundle.Dir(other), nil)
	if copied.Digest != first.Digest {
		t.Fatalf("digest differs for a copy: %s vs %s", copied.Digest, first.Digest)
	}

	// The same files in memory give the same bytes too.
	mem := map[string][]byte{}
	for k, v := range sample {
		mem[strings.TrimSuffix(k, "*")] = []byte(v)
	}
	if fb := build(t, bundle.Files(mem), nil); fb.Digest != first.Digest {
		t.Fatalf("Files digest %s, Dir digest %s", fb.Digest, first.Digest)
	}

	// Changing one byte changes the digest.
	writeTree(t, other, map[string]string{"lib/data.json": `{"a": 2}`})
	if changed := build(t, bundle.Dir(other), nil); changed.Digest == first.Digest {
		t.Fatal("digest did not change with the contents")
	}
}

func TestZipIsNormalised(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, sample)
	b := build(t, bundle.Dir(dir), nil)
	files, contents := readZip(t, b)
	var got []string
	for _, f := range files {
		got = append(got, f.Name)
		if strings.HasSuffix(f.Name, "/") {
			t.Errorf("directory entry %s", f.Name)
		}
		if len(f.Extra) != 0 {
			t.Errorf("%s has extra field %x", f.Name, f.Extra)
		}
		if f.ModifiedDate != 0x21 || f.ModifiedTime != 0 {
			t.Errorf("%s has date %#x time %#x, want 1980-01-01 00:00", f.Name, f.ModifiedDate, f.ModifiedTime)
		}
		wantMode := fs.FileMode(0o644)
		if f.Name == "bin/run" {
			wantMode = 0o755
		}
		if f.Mode() != wantMode {
			t.Errorf("%s has mode %v, want %v", f.Name, f.Mode(), wantMode)
		}
		if want := sample[f.Name] + sample[f.Name+"*"]; contents[f.Name] != want {
			t.Errorf("%s: contents %q, want %q", f.Name, contents[f.Name], want)
		}
	}
	for _, e := range b.Manifest {
		sum := sha256.Sum256([]byte(contents[e.Name]))
		if e.SHA256 != hex.EncodeToString(sum[:]) || e.Size != int64(len(contents[e.Name])) {
			t.Errorf("manifest entry %+v does not match the zip's contents", e)
		}
	}
	if !slices.IsSorted(got) {
		t.Errorf("entries not sorted: %v", got)
	}
	if len(got) != len(sample) || b.Files != len(sample) || !slices.Equal(got, names(b)) {
		t.Errorf("entries %v, manifest %v, Files %d; want %d files", got, names(b), b.Files, len(sample))
	}
	var total int64
	for _, v := range sample {
		total += int64(len(v))
	}
	if b.UnzippedSize != total {
		t.Errorf("UnzippedSize %d, want %d", b.UnzippedSize, total)
	}
	if !strings.HasPrefix(b.Digest, "sha256:") || len(b.Digest) != 7+64 {
		t.Errorf("bad digest %q", b.Digest)
	}
}

func TestIgnoreDefaultsAndOverride(t *testing.T) {
	tree := map[string]string{
		"index.js":              "ok",
		".git/config":           "[core]",
		".git/objects/ab/cdef":  "blob",
		".env":                  "SECRET=1",
		".env.production":       "API=https://example",
		"certs/server.pem":      "-----BEGIN",
		"certs/server.key":      "-----BEGIN",
		"home/.aws/credentials": "[default]",
		"deploy/id_rsa":         "key",
		"debug.log":             "log",
		"src/app.js":            "ok",
	}
	dir := t.TempDir()
	writeTree(t, dir, tree)
	b := build(t, bundle.Dir(dir), nil)
	if got, want := names(b), []string{"debug.log", "index.js", "src/app.js"}; !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	wantEx := []string{".env", ".env.production", ".git/", "certs/server.key", "certs/server.pem", "deploy/id_rsa", "home/.aws/"}
	if !slices.Equal(b.DefaultExcluded, wantEx) {
		t.Fatalf("DefaultExcluded %v, want %v", b.DefaultExcluded, wantEx)
	}

	// The user's rules: exclude logs, re-include one default-excluded file.
	writeTree(t, dir, map[string]string{".updraftignore": "# comment\n*.log\n!.env.production\n!certs/server.pem\n"})
	b = build(t, bundle.Dir(dir), nil)
	if got, want := names(b), []string{".env.production", ".updraftignore", "certs/server.pem", "index.js", "src/app.js"}; !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	wantEx = []string{".env", ".git/", "certs/server.key", "deploy/id_rsa", "home/.aws/"}
	if !slices.Equal(b.DefaultExcluded, wantEx) { // debug.log was the user's rule: not reported
		t.Fatalf("DefaultExcluded %v, want %v", b.DefaultExcluded, wantEx)
	}

	// Files sources follow the same rules.
	fb := build(t, bundle.Files(map[string][]byte{"a.js": nil, ".env": []byte("X=1"), "x/.git/HEAD": nil}), nil)
	if got := names(fb); !slices.Equal(got, []string{"a.js"}) || !slices.Equal(fb.DefaultExcluded, []string{".env", "x/.git/HEAD"}) {
		t.Fatalf("Files: files %v excluded %v", got, fb.DefaultExcluded)
	}
}

func TestSymlinks(t *testing.T) {
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"secret.txt": "s3cret"})
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"real/file.js": "inside", "index.js": "x"})
	must(t, os.Symlink("real/file.js", filepath.Join(dir, "alias.js")))
	must(t, os.Symlink("real", filepath.Join(dir, "linkdir")))

	// Links inside the root are followed: their targets are stored.
	b := build(t, bundle.Dir(dir), nil)
	_, contents := readZip(t, b)
	if contents["alias.js"] != "inside" || contents["linkdir/file.js"] != "inside" {
		t.Fatalf("symlinks inside the root not followed: %v", contents)
	}

	// A link leaving the root is refused, naming the link.
	must(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	must(t, os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(dir, "sub", "leak.txt")))
	_, err := bundle.Build(context.Background(), bundle.Dir(dir), &bundle.Options{NoCache: true})
	wantUnsafe(t, err, "sub/leak.txt")
	if !strings.Contains(err.Error(), "leaves the source root") {
		t.Fatalf("error %q does not say why", err)
	}
	// ... unless it is ignored.
	writeTree(t, dir, map[string]string{".updraftignore": "sub/\n"})
	build(t, bundle.Dir(dir), nil)
	must(t, os.Remove(filepath.Join(dir, ".updraftignore")))

	// A relative link climbing out is refused as well.
	must(t, os.Remove(filepath.Join(dir, "sub", "leak.txt")))
	must(t, os.Symlink("../../"+filepath.Base(outside), filepath.Join(dir, "sub", "up")))
	_, err = bundle.Build(context.Background(), bundle.Dir(dir), &bundle.Options{NoCache: true})
	wantUnsafe(t, err, "sub/up")

	// A cycle is refused, and so is a dangling link.
	must(t, os.Remove(filepath.Join(dir, "sub", "up")))
	must(t, os.Symlink("..", filepath.Join(dir, "sub", "loop")))
	_, err = bundle.Build(context.Background(), bundle.Dir(dir), &bundle.Options{NoCache: true})
	wantUnsafe(t, err, "sub/loop")
	must(t, os.Remove(filepath.Join(dir, "sub", "loop")))
	must(t, os.Symlink("nowhere", filepath.Join(dir, "sub", "dangling")))
	_, err = bundle.Build(context.Background(), bundle.Dir(dir), &bundle.Options{NoCache: true})
	wantUnsafe(t, err, "sub/dangling")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSpecialFileRefused(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"index.js": "x"})
	must(t, os.MkdirAll(filepath.Join(dir, "run"), 0o755))
	if err := syscall.Mkfifo(filepath.Join(dir, "run", "pipe"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	_, err := bundle.Build(context.Background(), bundle.Dir(dir), &bundle.Options{NoCache: true})
	wantUnsafe(t, err, "run/pipe")
	if !strings.Contains(err.Error(), "named pipe") {
		t.Fatalf("error %q does not say what the file is", err)
	}
}

// makeZip writes a zip with the given entry names and bodies, as a
// careless or malicious tool would.
func makeZip(t *testing.T, entries [][2]string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.zip")
	f, err := os.Create(p)
	must(t, err)
	zw := zip.NewWriter(f)
	for _, e := range entries {
		fh := &zip.FileHeader{Name: e[0], Method: zip.Deflate, Modified: time.Now()}
		fh.SetMode(0o600)
		w, err := zw.CreateHeader(fh)
		must(t, err)
		_, err = w.Write([]byte(e[1]))
		must(t, err)
	}
	must(t, zw.Close())
	must(t, f.Close())
	return p
}

func TestZipSlipRefused(t *testing.T) {
	for _, bad := range []string{"../evil.sh", "a/../../evil.sh", "/etc/passwd", `..\evil.exe`, "C:/evil", "a//b", "./a"} {
		p := makeZip(t, [][2]string{{"ok.txt", "fine"}, {bad, "pwned"}})
		_, err := bundle.Build(context.Background(), bundle.Zip(p), &bundle.Options{NoCache: true})
		wantUnsafe(t, err, bad)
	}
	// Names from a Files source and Form.Extra are checked the same way.
	_, err := bundle.Build(context.Background(), bundle.Files(map[string][]byte{"../x": nil}), &bundle.Options{NoCache: true})
	wantUnsafe(t, err, "../x")
	_, err = bundle.Build(context.Background(), bundle.Files(map[string][]byte{"a": nil}),
		&bundle.Options{NoCache: true, Form: bundle.Form{Extra: map[string][]byte{"/host.json": nil}}})
	wantUnsafe(t, err, "/host.json")
	// A name that is both a file and a directory.
	_, err = bundle.Build(context.Background(), bundle.Files(map[string][]byte{"a": nil, "a/b": nil}), &bundle.Options{NoCache: true})
	wantUnsafe(t, err, "a")
}

func TestZipSourceIsRedigested(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, sample)
	want := build(t, bundle.Dir(dir), nil)

	// The same files zipped by another tool, in another order, with
	// timestamps, permissions and directory entries.
	var entries [][2]string
	for k, v := range sample {
		entries = append(entries, [2]string{strings.TrimSuffix(k, "*"), v})
	}
	slices.SortFunc(entries, func(a, b [2]string) int { return strings.Compare(b[0], a[0]) })
	entries = append(entries, [2]string{"lib/", ""})
	p := makeZip(t, entries)
	// makeZip stores 0600; mark bin/run executable by rewriting it.
	p = rewriteMode(t, p, "bin/run", 0o755)
	got := build(t, bundle.Zip(p), nil)
	if got.Digest != want.Digest {
		t.Fatalf("zip source digest %s, want %s (manifest %v)", got.Digest, want.Digest, got.Manifest)
	}
}

func rewriteMode(t *testing.T, p, name string, mode fs.FileMode) string {
	t.Helper()
	zr, err := zip.OpenReader(p)
	must(t, err)
	defer zr.Close()
	out := filepath.Join(t.TempDir(), "out.zip")
	f, err := os.Create(out)
	must(t, err)
	zw := zip.NewWriter(f)
	for _, zf := range zr.File {
		fh := zf.FileHeader
		if fh.Name == name {
			fh.SetMode(mode)
		}
		r, err := zf.OpenRaw()
		must(t, err)
		w, err := zw.CreateRaw(&fh)
		must(t, err)
		buf := make([]byte, zf.CompressedSize64)
		_, err = r.Read(buf)
		if err != nil && len(buf) > 0 {
			t.Fatal(err)
		}
		_, err = w.Write(buf)
		must(t, err)
	}
	must(t, zw.Close())
	must(t, f.Close())
	return out
}

func TestLimits(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	noise := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	files := map[string][]byte{
		"vendor/big.bin":   noise(3 << 20),
		"assets/mid.bin":   noise(1 << 20),
		"index.js":         []byte("x"),
		"lib/zeros.txt":    make([]byte, 2<<20),
		"lib/small.bin":    noise(1000),
		"lib/smaller.bin":  noise(100),
		"lib/smallest.bin": noise(10),
	}
	b, err := bundle.Build(context.Background(), bundle.Files(files),
		&bundle.Options{NoCache: true, Limits: bundle.Limits{Target: "awslambda", MaxZipBytes: 2 << 20, MaxUnzippedBytes: 250 << 20}})
	var le *bundle.LimitError
	if !errors.As(err, &le) {
		t.Fatalf("error %v is not a *LimitError", err)
	}
	if b == nil || b.Size != le.Actual {
		t.Fatalf("want the bundle with the error; got %v", b)
	}
	if le.Limit != bundle.LimitZip || le.Max != 2<<20 || le.Actual <= 4<<20 {
		t.Fatalf("LimitError %+v", le)
	}
	if len(le.Largest) != 5 || le.Largest[0].Name != "vendor/big.bin" || le.Largest[1].Name != "lib/zeros.txt" || le.Largest[2].Name != "assets/mid.bin" {
		t.Fatalf("Largest %v", le.Largest)
	}
	msg := err.Error()
	for _, want := range []string{"compressed", "awslambda allows 2 MB for direct upload", "over by 2", "largest files: vendor/big.bin (3 MB), lib/zeros.txt (2 MB), assets/mid.bin (1 MB)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}

	// The unzipped limit: zeros compress well but count in full.
	_, err = bundle.Build(context.Background(), bundle.Files(map[string][]byte{"z": make([]byte, 3<<20), "y": []byte("y")}),
		&bundle.Options{NoCache: true, Limits: bundle.Limits{Target: "gcpfunctions", MaxZipBytes: 1 << 20, MaxUnzippedBytes: 2 << 20}})
	if !errors.As(err, &le) || le.Limit != bundle.LimitUnzipped || le.Actual != 3<<20+1 || le.Largest[0].Name != "z" {
		t.Fatalf("unzipped: err %v (%+v)", err, le)
	}
	if want := "bundle is 3 MB unzipped: gcpfunctions allows 2 MB unzipped (over by 1 MB); largest files: z (3 MB), y (1 byte)"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q, want it to contain %q", err, want)
	}

	// Within limits: no error.
	build(t, bundle.Files(map[string][]byte{"a": []byte("a")}), &bundle.Options{NoCache: true, Limits: bundle.Limits{MaxZipBytes: 1 << 20, MaxUnzippedBytes: 1 << 20}})
}
