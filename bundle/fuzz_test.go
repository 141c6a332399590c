package bundle

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
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
