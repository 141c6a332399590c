package bundle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// goBuild compiles the Go main package in pkgDir for the form into dir and
// returns the binary's path. The build is static (CGO_ENABLED=0), has no
// file system paths (-trimpath), no symbols, and no build or VCS ids, so the
// same source and toolchain give the same bytes.
func goBuild(ctx context.Context, pkgDir string, f Form, dir string) (string, error) {
	// The binary's name in the zip is Form.Binary; on disk it has a fixed
	// name inside dir, whatever Form.Binary says.
	out := filepath.Join(dir, "go-binary")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w -buildid=", "-o", out, ".")
	cmd.Dir = pkgDir
	// Later entries win; flags on the command line win over GOFLAGS.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+f.GOOS, "GOARCH="+f.GOARCH)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		msg := strings.TrimSpace(stderr.String())
		if errors.Is(err, exec.ErrNotFound) {
			msg = "the go command is not installed"
		}
		return "", fmt.Errorf("bundle: go build %s for %s/%s failed: %v\n%s", pkgDir, f.GOOS, f.GOARCH, err, msg)
	}
	return out, nil
}

// goModuleRoot is the directory holding the go.mod of the module that
// contains pkgDir, or pkgDir itself when there is none.
func goModuleRoot(pkgDir string) (string, error) {
	abs, err := filepath.Abs(pkgDir)
	if err != nil {
		return "", err
	}
	for d := abs; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(d)
		if parent == d {
			return abs, nil
		}
		d = parent
	}
}

// sourceDir returns the absolute path of a Dir or GoSource directory,
// checking that it is one. A relative path that is not there says where
// it was looked for: relative paths are resolved against the working
// directory of the process, which is not always the one the caller has
// in mind.
func sourceDir(what, p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("bundle: %s %q: %w", what, p, err)
	}
	where := ""
	if !filepath.IsAbs(p) {
		where = fmt.Sprintf(" (%q is relative to the working directory)", p)
		if wd, err := os.Getwd(); err == nil {
			where = fmt.Sprintf(" (%q resolved against the working directory %s)", p, wd)
		}
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("bundle: %s %s does not exist%s: %w", what, abs, where, fs.ErrNotExist)
	case err != nil:
		return "", fmt.Errorf("bundle: %s%s: %w", what, where, err)
	case !fi.IsDir():
		return "", fmt.Errorf("bundle: %s %s is not a directory%s", what, abs, where)
	}
	return abs, nil
}
