//go:build unix

package bundle

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// scanThen walks dir, lets swap change it, and zips what the walk saw,
// as a Build does when the tree changes between its scan and its reads.
func scanThen(t *testing.T, dir string, swap func()) error {
	t.Helper()
	tr, err := walkDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.finish(nil); err != nil {
		t.Fatal(err)
	}
	swap()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tmp := &tempDir{base: t.TempDir()}
	defer tmp.remove()
	_, err = writeZip(ctx, tr.items, io.Discard, tmp)
	return err
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSwappedForSymlinkIsRefused(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret")
	writeFiles(t, filepath.Dir(outside), map[string]string{"secret": "s3cret-s3cret"})
	for _, size := range []int{len("s3cret-s3cret"), bigFile + 1} {
		dir := t.TempDir()
		body := strings.Repeat("x", size)
		writeFiles(t, dir, map[string]string{"index.js": "x", "data.txt": body})
		if size > bigFile {
			writeFiles(t, filepath.Dir(outside), map[string]string{"secret": strings.Repeat("s", size)})
		}
		err := scanThen(t, dir, func() {
			p := filepath.Join(dir, "data.txt")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, p); err != nil {
				t.Fatal(err)
			}
		})
		var ue *UnsafeError
		if !errors.As(err, &ue) || ue.Path != "data.txt" || !strings.Contains(err.Error(), "symlink") {
			t.Fatalf("size %d: error %v; want an *UnsafeError: data.txt replaced by a symlink", size, err)
		}
	}
}

func TestSwappedForFifoDoesNotBlock(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"index.js": "x", "data.txt": "hello"})
	p := filepath.Join(dir, "data.txt")
	done := make(chan error, 1)
	go func() {
		done <- scanThen(t, dir, func() {
			if err := os.Remove(p); err != nil {
				t.Error(err)
			}
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Error(err)
			}
		})
	}()
	select {
	case err := <-done:
		var ue *UnsafeError
		if !errors.As(err, &ue) || ue.Path != "data.txt" || !strings.Contains(err.Error(), "named pipe") {
			t.Fatalf("error %v; want an *UnsafeError: data.txt replaced by a named pipe", err)
		}
	case <-time.After(30 * time.Second):
		// Unblock the open so the goroutine ends, then fail.
		if f, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
			f.Close()
		}
		t.Fatal("zipping blocked in open on a fifo swapped in after the scan, past its context deadline")
	}
}

func TestSwappedForAnotherFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"index.js": "x", "data.txt": "hello"})
	err := scanThen(t, dir, func() {
		// Same size and contents shape, another inode (an editor's save).
		writeFiles(t, dir, map[string]string{"data.new": "HELLO"})
		if err := os.Rename(filepath.Join(dir, "data.new"), filepath.Join(dir, "data.txt")); err != nil {
			t.Fatal(err)
		}
	})
	if err == nil || !strings.Contains(err.Error(), "data.txt changed while it was being bundled") {
		t.Fatalf("error %v; want data.txt changed", err)
	}
}
