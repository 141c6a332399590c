package bundle

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func FuzzCheckEntryName(f *testing.F) {
	for _, s := range []string{"a", "a/b.js", "../x", "a/../../x", "/etc/passwd", `a\..\b`, "C:/x", "a//b", "./a", "a/.", "", "\x00", "ü/ß.txt", "..", "...", "a/..b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if checkEntryName(name) != nil {
			return
		}
		// An accepted name is clean, relative, and extracts inside any root.
		if !filepath.IsLocal(filepath.FromSlash(name)) || !strings.HasPrefix(path.Join("/root", name), "/root/") {
			t.Fatalf("accepted unsafe name %q", name)
		}
		if path.Clean(name) != name || strings.ContainsAny(name, "\\\x00\n") {
			t.Fatalf("accepted unclean name %q", name)
		}
		for el := range strings.SplitSeq(name, "/") {
			if el == ".." || el == "." || el == "" {
				t.Fatalf("accepted name %q with element %q", name, el)
			}
		}
	})
}

func TestCheckEntryName(t *testing.T) {
	for _, ok := range []string{"a", "a/b.js", "node_modules/.bin/tsc", "...", "a/..b", "ü/ß.txt", "a b/c"} {
		if err := checkEntryName(ok); err != nil {
			t.Errorf("checkEntryName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "..", "../x", "a/../../x", "a/..", "/etc/passwd", `a\b`, "C:x", "a//b", "./a", "a/.", "a/", "x\x00", "x\ny", "\xff"} {
		if err := checkEntryName(bad); err == nil {
			t.Errorf("checkEntryName(%q) accepted", bad)
		}
	}
}

// TestIgnoreGitSemantics holds the cases the old matcher got wrong:
// bracket classes, "?", and middle-slash patterns anchored at the root.
func TestIgnoreGitSemantics(t *testing.T) {
	ig := newIgnorer([]byte("*.[pP][eE][mM]\n*.[ch]\nx.?\ndocs/build\n"))
	for _, tc := range []struct {
		path     string
		excluded bool
	}{
		{"server.PEM", true}, {"a/Server.pEm", true}, {"x.c", true}, {"x.h", true}, {"x.cc", false},
		{"x.y", true}, {"x.yz", false}, {"x.", false},
		{"docs/build/f", true}, {"docs/build", true}, {"x/docs/build/f", false}, {"docs/builds/f", false},
	} {
		if ex, _ := ig.matchPath(tc.path); ex != tc.excluded {
			t.Errorf("matchPath(%q) = %v, want %v", tc.path, ex, tc.excluded)
		}
	}
}

func TestIgnoreRules(t *testing.T) {
	ig := newIgnorer([]byte("*.log\r\n!keep.log\n\\!bang\n\\#hash\n/build/\n!.env.example\n# comment\n \n"))
	for _, tc := range []struct {
		path                string
		excluded, byDefault bool
	}{
		{"a.log", true, false},
		{"keep.log", false, false},
		{"!bang", true, false},
		{"#hash", true, false},
		{"build/", true, false},
		{"src/build/", false, false},
		{".env", true, true},
		{"sub/.env.local", true, true},
		{".env.example", false, false},
		{".git/", true, true},
		{"x/.git/", true, true},
		{"x.git/", false, false},
		{"a/b/server.pem", true, true},
		{"index.js", false, false},
		{"credentials", true, true},
		{"my-credentials.txt", false, false},
		// Defaults fold case, match at any depth, and cover more secrets.
		{"Server.PEM", true, true},
		{"keys/ID_RSA", true, true},
		{".ENV", true, true},
		{".Env.Local", true, true},
		{".gnupg/", true, true},
		{"home/.GnuPG/", true, true},
		{"putty.ppk", true, true},
		{".pgpass", true, true},
		{".vault-token", true, true},
		{"prod.tfvars", true, true},
		{"prod.auto.tfvars.json", true, true},
		{"web/.htpasswd", true, true},
		{"sub/.kube/config", true, true},
		{"sub/.docker/config.json", true, true},
		{"x/.config/gcloud/", true, true},
		{"README.md", false, false},
		{"main.tf", false, false},
	} {
		ex, def := ig.match(tc.path)
		if ex != tc.excluded || def != tc.byDefault {
			t.Errorf("match(%q) = %v, %v; want %v, %v", tc.path, ex, def, tc.excluded, tc.byDefault)
		}
	}
}

// FuzzZipEntryName builds from a real zip holding an entry of any name:
// Build either refuses it with an *UnsafeError naming it, or packages it
// under a name that is safe to extract.
func FuzzZipEntryName(f *testing.F) {
	for _, s := range []string{"a.txt", "../evil", "/abs", `..\x`, "a/./b", "d/", "ok/name.js", "x/../y"} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, name string) {
		p := filepath.Join(dir, "f.zip")
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			return
		}
		w.Write([]byte("x"))
		if zw.Close() != nil {
			return
		}
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := Build(context.Background(), Zip(p), &Options{NoCache: true})
		if err != nil {
			var ue *UnsafeError
			if errors.As(err, &ue) && ue.Path != name && ue.Path+"/" != name {
				t.Fatalf("error names %q, entry is %q", ue.Path, name)
			}
			return
		}
		for _, e := range b.Manifest {
			if e.Name != name || checkEntryName(e.Name) != nil || !filepath.IsLocal(filepath.FromSlash(e.Name)) {
				t.Fatalf("entry %q packaged as %q", name, e.Name)
			}
		}
	})
}

// FuzzZipSource builds from arbitrary bytes as an existing zip. Build must
// not panic or hang; when it succeeds, its zip is well formed (names safe
// to extract, every entry reading back with its CRC-32), each entry is an
// entry of the input with the same contents, and a zip kept as it is
// (Digest of the input's bytes) is byte for byte the input.
func FuzzZipSource(f *testing.F) {
	seed := func(entries []rawEntry, mutate func([]byte) []byte) {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for i := range entries {
			w, err := zw.CreateRaw(&entries[i].fh)
			if err != nil {
				f.Fatal(err)
			}
			w.Write(entries[i].data)
		}
		zw.Close()
		data := buf.Bytes()
		if mutate != nil {
			data = mutate(bytes.Clone(data))
		}
		f.Add(data)
	}
	body := []byte(strings.Repeat("hello zip ", 30))
	canonical := []rawEntry{entry(f, "a.txt", body, zip.Deflate), entry(f, "b/c.js", []byte("x"), zip.Store)}
	seed(canonical, nil)
	seed(canonical, func(b []byte) []byte { b[len(b)/3] ^= 0xff; return b })
	seed(canonical, func(b []byte) []byte { return b[:len(b)-10] })
	badCRC := slices.Clone(canonical)
	badCRC[0].fh.CRC32 ^= 1
	seed(badCRC, nil)
	liar := slices.Clone(canonical)
	liar[1].fh.UncompressedSize64 = 1 << 30
	seed(liar, nil)
	dirs := []rawEntry{entry(f, "d/", nil, zip.Store), entry(f, "d/e", body, zip.Store), entry(f, ".env", []byte("S=1"), zip.Store)}
	seed(dirs, nil)
	seed([]rawEntry{entry(f, "../evil", body, zip.Store)}, nil)
	var other bytes.Buffer
	zw := zip.NewWriter(&other)
	w, _ := zw.Create("z/other.txt")
	w.Write(body)
	zw.Close()
	f.Add(other.Bytes())
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))

	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		tmp, err := os.CreateTemp(dir, "in-*.zip")
		if err != nil {
			t.Fatal(err)
		}
		defer os.Remove(tmp.Name())
		tmp.Write(data)
		tmp.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		b, err := Build(ctx, Zip(tmp.Name()), &Options{NoCache: true, Limits: Limits{MaxUnzippedBytes: 4 << 20}})
		if ctx.Err() != nil {
			t.Fatalf("Build ran past its deadline: %v", err)
		}
		if err != nil {
			return
		}
		in, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("Build accepted what archive/zip refuses: %v", err)
		}
		inputs := map[string]*zip.File{}
		for _, zf := range in.File {
			inputs[zf.Name] = zf
		}
		out, err := zip.NewReader(bytes.NewReader(b.data), int64(len(b.data)))
		if err != nil {
			t.Fatalf("Build's zip does not open: %v", err)
		}
		if len(out.File) != len(b.Manifest) {
			t.Fatalf("%d entries, manifest of %d", len(out.File), len(b.Manifest))
		}
		for i, zf := range out.File {
			if checkEntryName(zf.Name) != nil || zf.Name != b.Manifest[i].Name {
				t.Fatalf("entry %q (manifest %q)", zf.Name, b.Manifest[i].Name)
			}
			got := readAll(t, zf)
			src := inputs[zf.Name]
			if src == nil {
				t.Fatalf("entry %q is not in the input", zf.Name)
			}
			if want := readAll(t, src); !bytes.Equal(got, want) {
				t.Fatalf("entry %q: contents differ from the input's", zf.Name)
			}
			if sum := sha256.Sum256(got); hex.EncodeToString(sum[:]) != b.Manifest[i].SHA256 {
				t.Fatalf("entry %q: manifest digest is wrong", zf.Name)
			}
		}
		if sum := sha256.Sum256(data); b.Digest == "sha256:"+hex.EncodeToString(sum[:]) && !bytes.Equal(b.data, data) {
			t.Fatal("kept zip differs from the input")
		}
	})
}

func readAll(t *testing.T, zf *zip.File) []byte {
	t.Helper()
	rc, err := zf.Open()
	if err != nil {
		t.Fatalf("%s: %v", zf.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("%s: %v", zf.Name, err)
	}
	return b
}

// FuzzIgnoreRule compiles any line as a rule and matches any path: no
// panic, and the literal pre-test never changes an answer (for UTF-8
// text: doublestar reads both as runes).
func FuzzIgnoreRule(f *testing.F) {
	for _, s := range gitCorpusRules {
		f.Add(s, "a/b/x.c")
	}
	f.Add("[[:punct:]x", "a")
	f.Add("[]", "]")
	f.Add("\\", "\\")
	f.Fuzz(func(t *testing.T, line, p string) {
		ig := &ignorer{}
		ig.add(line, true)
		ig.matchPath(p)
		ig.match(p + "/")
		if !utf8.ValidString(p) || !utf8.ValidString(line) {
			return // Build refuses such names before matching them
		}
		for _, r := range ig.rules {
			if r.globMatch(p) && !strings.Contains(p, r.literal) {
				t.Fatalf("rule %q (glob %q) matches %q, which lacks its literal %q", line, r.glob, p, r.literal)
			}
		}
	})
}
