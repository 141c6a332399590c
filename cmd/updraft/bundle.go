package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/updraft-dev/updraft/bundle"
)

// bundleResult is the JSON output of updraft bundle.
type bundleResult struct {
	Digest          string   `json:"digest"`
	Size            int64    `json:"size"`
	UnzippedSize    int64    `json:"unzippedSize"`
	Files           int      `json:"files"`
	Cached          bool     `json:"cached"`
	Path            string   `json:"path,omitempty"`
	DefaultExcluded []string `json:"defaultExcluded"`
}

func runBundle(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("updraft bundle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	goBuild := fs.Bool("go", false, "PATH is a Go main package: cross-compile it into a static binary")
	arch := fs.String("arch", "amd64", "target architecture for --go: amd64 or arm64")
	binary := fs.String("binary", "bootstrap", "name of the binary in the zip, with --go")
	out := fs.String("o", "", "write the zip to this file")
	output := fs.String("output", "text", "output format: text or json")
	noCache := fs.Bool("no-cache", false, "neither use nor fill the bundle cache")
	cacheDir := fs.String("cache-dir", "", "bundle cache directory (default: $UPDRAFT_CACHE_DIR, else the user cache directory)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: updraft bundle [--go] [--arch arm64|amd64] [-o out.zip] [--output json] PATH")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "updraft bundle: want exactly one PATH")
		fs.Usage()
		return exitUsage
	}
	if *arch != "amd64" && *arch != "arm64" {
		fmt.Fprintf(stderr, "updraft bundle: --arch %q: want amd64 or arm64\n", *arch)
		return exitUsage
	}
	if *output != "text" && *output != "json" {
		fmt.Fprintf(stderr, "updraft bundle: --output %q: want text or json\n", *output)
		return exitUsage
	}
	form := bundle.Form{GoBuild: *goBuild, GOOS: "linux", GOARCH: *arch, Binary: *binary}
	if err := form.Validate(); err != nil {
		var fe *bundle.FormError
		if errors.As(err, &fe) && fe.Field == "Binary" {
			fmt.Fprintf(stderr, "updraft bundle: --binary %q: %s\n", fe.Value, fe.Reason)
		} else {
			fmt.Fprintf(stderr, "updraft bundle: %v\n", err)
		}
		return exitUsage
	}
	src := bundle.Dir(pos[0])
	if *goBuild {
		src = bundle.GoSource(pos[0])
	}
	opts := &bundle.Options{
		Form:     form,
		CacheDir: *cacheDir,
	}
	if *noCache {
		// A private cache removed on exit: the zip streams to disk, so
		// memory stays flat however large it is.
		tmp, err := os.MkdirTemp("", "updraft-bundle-")
		if err != nil {
			fmt.Fprintf(stderr, "updraft bundle: %v\n", err)
			return exitError
		}
		defer os.RemoveAll(tmp)
		opts.CacheDir = tmp
	}
	b, err := bundle.Build(ctx, src, opts)
	if err != nil {
		fmt.Fprintf(stderr, "updraft bundle: %v\n", err)
		return exitError
	}
	path := b.Path
	if *noCache {
		path = "" // removed on return
	}
	if *out != "" {
		if err := writeZip(b, *out); err != nil {
			fmt.Fprintf(stderr, "updraft bundle: %v\n", err)
			return exitError
		}
		path = *out
	}
	res := bundleResult{Digest: b.Digest, Size: b.Size, UnzippedSize: b.UnzippedSize, Files: b.Files,
		Cached: b.Cached, Path: path, DefaultExcluded: b.DefaultExcluded}
	if res.DefaultExcluded == nil {
		res.DefaultExcluded = []string{}
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return exitError
		}
		return exitOK
	}
	fmt.Fprintf(stdout, "digest    %s\n", res.Digest)
	fmt.Fprintf(stdout, "size      %s zipped, %s unzipped\n", human(res.Size), human(res.UnzippedSize))
	fmt.Fprintf(stdout, "files     %d\n", res.Files)
	if res.Cached {
		fmt.Fprintln(stdout, "cached    yes")
	}
	if res.Path != "" {
		fmt.Fprintf(stdout, "zip       %s\n", res.Path)
	}
	for _, p := range res.DefaultExcluded {
		fmt.Fprintf(stdout, "excluded  %s (default rule; add !%s to %s to include it)\n", p, p, bundle.IgnoreFile)
	}
	return exitOK
}

// parseInterspersed parses flags that may come before or after the
// positional arguments, which it returns.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// writeZip writes the bundle's zip to path atomically.
func writeZip(b *bundle.Bundle, path string) error {
	r, err := b.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".updraft-zip-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// human formats a byte count.
func human(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB (%d bytes)", float64(n)/(1<<20), n)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB (%d bytes)", float64(n)/(1<<10), n)
	}
	return fmt.Sprintf("%d bytes", n)
}
