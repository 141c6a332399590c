package bundle_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/bundle"
)

// benchTree writes a node_modules-like tree: n files of source-like text
// (compressing about 4:1) of skewed sizes, and returns its total size.
func benchTree(b *testing.B, dir string, n int) int64 {
	b.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	words := strings.Fields("function return const let var if else for while module exports require this new class extends " +
		"async await import from default null undefined true false typeof instanceof value key index length push map filter")
	var total int64
	for i := range n {
		size := 200 + int(rng.ExpFloat64()*8000)
		var sb strings.Builder
		for sb.Len() < size {
			sb.WriteString(words[rng.IntN(len(words))])
			if rng.IntN(8) == 0 {
				fmt.Fprintf(&sb, "_%d;\n", rng.IntN(1000))
			} else {
				sb.WriteByte(' ')
			}
		}
		p := filepath.Join(dir, fmt.Sprintf("pkg%03d", i%97), fmt.Sprintf("lib%d", i%7), fmt.Sprintf("file%05d.js", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(sb.Len())
	}
	return total
}

func BenchmarkBuildDir(b *testing.B) {
	dir := b.TempDir()
	total := benchTree(b, dir, 2000)
	ctx := context.Background()

	b.Run("fresh", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			if _, err := bundle.Build(ctx, bundle.Dir(dir), &bundle.Options{NoCache: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		opts := &bundle.Options{CacheDir: b.TempDir()}
		if _, err := bundle.Build(ctx, bundle.Dir(dir), opts); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(total)
		for b.Loop() {
			bb, err := bundle.Build(ctx, bundle.Dir(dir), opts)
			if err != nil || !bb.Cached {
				b.Fatal("not cached", err)
			}
		}
	})
	b.Run("touched", func(b *testing.B) { // stat changed, contents not: re-hash, no compression
		opts := &bundle.Options{CacheDir: b.TempDir()}
		if _, err := bundle.Build(ctx, bundle.Dir(dir), opts); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(total)
		tm := time.Now()
		for b.Loop() {
			b.StopTimer()
			tm = tm.Add(time.Second)
			filepath.WalkDir(dir, func(p string, _ os.DirEntry, _ error) error { return os.Chtimes(p, tm, tm) })
			b.StartTimer()
			bb, err := bundle.Build(ctx, bundle.Dir(dir), opts)
			if err != nil || !bb.Cached {
				b.Fatal("not cached", err)
			}
		}
	})
}

// BenchmarkBuildFiles is the small in-memory case other packages' tests use.
func BenchmarkBuildFiles(b *testing.B) {
	files := map[string][]byte{}
	for i := range 10 {
		files[fmt.Sprintf("lib/f%d.js", i)] = []byte(strings.Repeat("module.exports = 1;\n", 50))
	}
	src := bundle.Files(files)
	for b.Loop() {
		if _, err := bundle.Build(context.Background(), src, &bundle.Options{NoCache: true}); err != nil {
			b.Fatal(err)
		}
	}
}
