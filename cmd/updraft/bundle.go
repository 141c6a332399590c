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

// bundleFlags are the flags of updraft bundle.
type bundleFlags struct {
	goBuild, noCache          bool
	arch, binary, out, output string
	cacheDir                  string
}

func runBundle(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl, path, form, code := parseBundleArgs(args, stderr)
	if code >= 0 {
		return code
	}
	src := bundle.Dir(path)
	if fl.goBuild {
		src = bundle.GoSource(path)
	}
	opts := &bundle.Options{
		Form:     form,
		CacheDir: fl.cacheDir,
	}
	if fl.noCache {
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
	zipPath := b.Path
	if fl.noCache {
		zipPath = "" // removed on return
	}
	if fl.out != "" {
		if err := writeZip(b, fl.out); err != nil {
			fmt.Fprintf(stderr, "updraft bundle: %v\n", err)
			return exitError
		}
		zipPath = fl.out
	}
	res := bundleResult{Digest: b.Digest, Size: b.Size, UnzippedSize: b.UnzippedSize, Files: b.Files,
		Cached: b.Cached, Path: zipPath, DefaultExcluded: b.DefaultExcluded}
	if res.DefaultExcluded == nil {
		res.DefaultExcluded = []string{}
	}
	return printBundle(stdout, &res, fl.output)
}

// parseBundleArgs parses updraft bundle's arguments into its flags, the
// PATH and the code form. code is the exit code to return at once (a
// usage error, or help), -1 to go on.
func parseBundleArgs(args []string, stderr io.Writer) (fl bundleFlags, path string, form bundle.Form, code int) {
	fs := flag.NewFlagSet("updraft bundle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&fl.goBuild, "go", false, "PATH is a Go main package: cross-compile it into a static binary")
	fs.StringVar(&fl.arch, "arch", "amd64", "target architecture for --go: amd64 or arm64")
	fs.StringVar(&fl.binary, "binary", "bootstrap", "name of the binary in the zip, with --go")
	fs.StringVar(&fl.out, "o", "", "write the zip to this file")
	fs.StringVar(&fl.output, "output", "text", "output format: text or json")
	fs.BoolVar(&fl.noCache, "no-cache", false, "neither use nor fill the bundle cache")
	fs.StringVar(&fl.cacheDir, "cache-dir", "", "bundle cache directory (default: $UPDRAFT_CACHE_DIR, else the user cache directory)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: updraft bundle [--go] [--arch arm64|amd64] [-o out.zip] [--output json] PATH")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return fl, "", form, exitOK
	case err != nil:
		return fl, "", form, exitUsage
	case len(pos) != 1:
		fmt.Fprintln(stderr, "updraft bundle: want exactly one PATH")
		fs.Usage()
		return fl, "", form, exitUsage
	case fl.arch != "amd64" && fl.arch != "arm64":
		fmt.Fprintf(stderr, "updraft bundle: --arch %q: want amd64 or arm64\n", fl.arch)
		return fl, "", form, exitUsage
	case fl.output != "text" && fl.output != "json":
		fmt.Fprintf(stderr, "updraft bundle: --output %q: want text or json\n", fl.output)
		return fl, "", form, exitUsage
	}
	form = bundle.Form{GoBuild: fl.goBuild, GOOS: "linux", GOARCH: fl.arch, Binary: fl.binary}
	if err := form.Validate(); err != nil {
		var fe *bundle.FormError
		if errors.As(err, &fe) && fe.Field == "Binary" {
			fmt.Fprintf(stderr, "updraft bundle: --binary %q: %s\n", fe.Value, fe.Reason)
		} else {
			fmt.Fprintf(stderr, "updraft bundle: %v\n", err)
		}
		return fl, "", form, exitUsage
	}
	return fl, pos[0], form, -1
}

// printBundle writes res as text or JSON and returns the exit code.
func printBundle(stdout io.Writer, res *bundleResult, output string) int {
	if output == "json" {
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
