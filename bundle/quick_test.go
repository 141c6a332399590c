package bundle

import (
	"archive/zip"
	"bytes"
	"context"
	"testing"
)

func TestQuickFiles(t *testing.T) {
	b, err := Build(context.Background(), Files(map[string][]byte{"b.txt": []byte("hello"), "a/run": []byte("#!/bin/sh\n")}), &Options{NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := b.Bytes()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != 2 || zr.File[0].Name != "a/run" || zr.File[0].Mode().Perm() != 0o755 {
		t.Fatalf("bad zip: %v", zr.File)
	}
}
