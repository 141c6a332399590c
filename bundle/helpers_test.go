package bundle_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/updraft-dev/updraft/bundle"
)

// writeTree writes files (slash names) under dir; a name ending in "*"
// (the star is dropped) is made executable.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, "*") {
			name, mode = strings.TrimSuffix(name, "*"), 0o755
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
}

func build(t testing.TB, src bundle.Source, opts *bundle.Options) *bundle.Bundle {
	t.Helper()
	if opts == nil {
		opts = &bundle.Options{NoCache: true}
	}
	b, err := bundle.Build(context.Background(), src, opts)
	if err != nil {
		t.Fatalf("Build(%v): %v", src.Path(), err)
	}
	return b
}

// readZip returns the entries of b's zip, their contents read (so CRCs
// and sizes are checked).
func readZip(t testing.TB, b *bundle.Bundle) ([]*zip.File, map[string]string) {
	t.Helper()
	data, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) != b.Size {
		t.Fatalf("Bytes() has %d bytes, Size says %d", len(data), b.Size)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	contents := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		contents[f.Name] = string(body)
	}
	return zr.File, contents
}

func names(b *bundle.Bundle) []string {
	var n []string
	for _, e := range b.Manifest {
		n = append(n, e.Name)
	}
	return n
}

// wantUnsafe checks err is an *UnsafeError naming path.
func wantUnsafe(t *testing.T, err error, path string) {
	t.Helper()
	var ue *bundle.UnsafeError
	if !errors.As(err, &ue) {
		t.Fatalf("error %v is not an *UnsafeError", err)
	}
	if ue.Path != path || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q names %q, want %q", err, ue.Path, path)
	}
}
