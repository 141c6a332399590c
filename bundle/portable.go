package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// GoFunction is the directory of a Go library package (not package main)
// that registers its handlers with github.com/updraft-dev/updraft/function
// in init. The bundler writes the program around it, so the same package
// deploys to every target:
//
//   - Form.GoBuild true (Lambda, Azure, local): a generated main that
//     imports the package and calls function.Main, compiled like a
//     GoSource into Form.Binary — "bootstrap" for Lambda and local://,
//     "handler" for an Azure custom handler, whose host.json and
//     function.json files come in Form.Extra.
//   - Form.GoBuild false (Cloud Functions): a source zip for Cloud Build
//     whose root is a generated package updraftfn registering the entry
//     point Updraft (GCFEntryPoint) with functions-framework-go, with a
//     go.mod (module updraft.local/updraftfn) that replaces the user's
//     module with its copy under _user/ and updraft with its copy of
//     package function under _updraft/ (or with _user/ when the user's
//     module is updraft), so it builds with only public modules to fetch.
//
// The generated main is compiled inside the user's module through
// go build -overlay, so the module's own go.mod, go.sum and replace
// directives apply and nothing is written into the source tree.
func GoFunction(pkgDir string) Source { return Source{kind: KindGoFunction, path: pkgDir} }

// GCFEntryPoint is the Cloud Functions entry point of a GoFunction's
// source zip (BuildConfig.EntryPoint).
const GCFEntryPoint = "Updraft"

// GCFModule is the module path of the generated root of a GoFunction's
// source zip. Cloud Build's Go buildpack needs a dot in its first element.
const GCFModule = "updraft.local/updraftfn"

const (
	updraftModule   = "github.com/updraft-dev/updraft"
	functionPackage = updraftModule + "/function"
	// frameworkModule and frameworkVersion are what the generated root
	// requires; the version is the one updraft's own go.mod requires
	// (a test keeps them equal), Cloud Build's default too.
	frameworkModule  = "github.com/GoogleCloudPlatform/functions-framework-go"
	frameworkVersion = "v1.9.2"
	// mainDir is the (virtual) directory of the generated main, inside the
	// user's module root.
	mainDir = "_updraft_main"
)

// goPackage is what `go list -json` says about the user's package.
type goPackage struct {
	Dir        string
	ImportPath string
	Name       string
	Deps       []string
	Module     *struct {
		Path      string
		Dir       string
		GoVersion string
	}
	Error      *struct{ Err string }
	DepsErrors []struct{ Err string }
}

func goList(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", append([]string{"list"}, args...)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, exec.ErrNotFound) {
			return nil, errors.New("bundle: the go command is not installed")
		}
		return nil, fmt.Errorf("bundle: go list %s in %s failed: %v\n%s", strings.Join(args, " "), dir, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// loadFunctionPackage checks that pkgDir is a library package importing
// package function, inside a module.
func loadFunctionPackage(ctx context.Context, pkgDir string) (*goPackage, error) {
	fi, err := os.Stat(pkgDir)
	if err != nil {
		return nil, fmt.Errorf("bundle: Go function: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("bundle: Go function %s is not a directory", pkgDir)
	}
	out, err := goList(ctx, pkgDir, "-e", "-json", ".")
	if err != nil {
		return nil, err
	}
	var p goPackage
	if err := json.Unmarshal(out, &p); err != nil {
		return nil, fmt.Errorf("bundle: reading go list output for %s: %w", pkgDir, err)
	}
	switch {
	case p.Error != nil:
		return nil, fmt.Errorf("bundle: Go function %s: %s", pkgDir, p.Error.Err)
	case len(p.DepsErrors) > 0:
		return nil, fmt.Errorf("bundle: Go function %s: %s", pkgDir, p.DepsErrors[0].Err)
	case p.Name == "main":
		return nil, fmt.Errorf("bundle: Go function %s is package main: GoFunction takes a library package that registers handlers with %s (use GoSource for a main package)", pkgDir, functionPackage)
	case p.Module == nil || p.Module.Dir == "":
		return nil, fmt.Errorf("bundle: Go function %s is not in a module: add a go.mod", pkgDir)
	case !slices.Contains(p.Deps, functionPackage):
		return nil, fmt.Errorf("bundle: Go function %s does not import %s, so it registers no handler", p.ImportPath, functionPackage)
	}
	return &p, nil
}

// portableTree is the tree of a GoFunction source for the form, and the
// key of its stat record ("" when it has none).
func portableTree(ctx context.Context, pkgDir string, form Form, tmp *tempDir) (*tree, string, error) {
	p, err := loadFunctionPackage(ctx, pkgDir)
	if err != nil {
		return nil, "", err
	}
	if form.GoBuild {
		dir, err := tmp.get()
		if err != nil {
			return nil, "", err
		}
		bin, err := portableBuild(ctx, p, form, dir)
		if err != nil {
			return nil, "", err
		}
		fi, err := os.Stat(bin)
		if err != nil {
			return nil, "", fmt.Errorf("bundle: %w", err)
		}
		return &tree{items: []item{{name: form.Binary, mode: 0o755, size: fi.Size(), path: bin, st: statOf(fi)}}}, "", nil
	}
	t, err := gcfTree(ctx, p)
	if err != nil {
		return nil, "", err
	}
	return t, statRecordKey(p.Module.Dir+"\x00gcf", form), nil
}

// mainSource is the generated main of the binary forms.
func mainSource(importPath string) []byte {
	return fmt.Appendf(nil, `// Code generated by updraft's bundler. DO NOT EDIT.

// Command %s runs the function package %s on the
// runtime its environment names (the Lambda Runtime API, $PORT, the Azure
// custom-handler port).
package main

import (
	"%s"

	_ %q
)

func main() { function.Main() }
`, mainDir, importPath, functionPackage, importPath)
}

// portableBuild compiles the generated main for p into dir, inside the
// user's module (go build -overlay), as goBuild compiles a GoSource.
func portableBuild(ctx context.Context, p *goPackage, f Form, dir string) (string, error) {
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, mainSource(p.ImportPath), 0o644); err != nil {
		return "", fmt.Errorf("bundle: %w", err)
	}
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {filepath.Join(p.Module.Dir, mainDir, "main.go"): src}})
	if err != nil {
		return "", fmt.Errorf("bundle: %w", err)
	}
	ov := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ov, overlay, 0o644); err != nil {
		return "", fmt.Errorf("bundle: %w", err)
	}
	out := filepath.Join(dir, f.Binary)
	cmd := exec.CommandContext(ctx, "go", "build", "-overlay", ov, "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w -buildid=", "-o", out, "./"+mainDir)
	cmd.Dir = p.Module.Dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+f.GOOS, "GOARCH="+f.GOARCH)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("bundle: go build of Go function %s for %s/%s failed: %v\n%s", p.ImportPath, f.GOOS, f.GOARCH, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// gcfRootSource is the generated root package of the Cloud Functions
// source zip.
func gcfRootSource(importPath string) []byte {
	return fmt.Appendf(nil, `// Code generated by updraft's bundler. DO NOT EDIT.

// Package updraftfn is the Cloud Functions entry of the function package
// %s: it registers the entry point %s with
// functions-framework-go, serving HTTP requests and CloudEvents with the
// handlers that package registers, and logs through slog in Cloud
// Logging's structured format.
package updraftfn

import (
	"log/slog"
	"os"

	"%s/functions"

	"%s"

	_ %q
)

func init() {
	slog.SetDefault(slog.New(function.NewLogHandler(os.Stdout, &function.LogOptions{Platform: function.GCP})))
	functions.HTTP(%q, function.Handler().ServeHTTP)
}
`, importPath, GCFEntryPoint, frameworkModule, functionPackage, importPath, GCFEntryPoint)
}

// gcfTree is the Cloud Functions source tree of p: the generated root
// package and module files, the user's module under _user/, and
// updraft's package function under _updraft/ when the user's module is
// not updraft itself.
func gcfTree(ctx context.Context, p *goPackage) (*tree, error) {
	user, err := walkDir(ctx, p.Module.Dir)
	if err != nil {
		return nil, err
	}
	t := &tree{}
	sums := map[string]bool{}
	addSums := func(items []item, name string) error {
		for i := range items {
			if items[i].name != name {
				continue
			}
			data, err := os.ReadFile(items[i].path)
			if err != nil {
				return fmt.Errorf("bundle: %w", err)
			}
			for l := range strings.SplitSeq(string(data), "\n") {
				if l = strings.TrimSpace(l); l != "" {
					sums[l] = true
				}
			}
		}
		return nil
	}
	prefix := func(items []item, p string) {
		for _, it := range items {
			it.name = p + it.name
			t.items = append(t.items, it)
		}
	}
	if err := addSums(user.items, "go.sum"); err != nil {
		return nil, err
	}
	prefix(user.items, "_user/")
	for _, ex := range user.excluded {
		t.excluded = append(t.excluded, "_user/"+ex)
	}
	updraftDir := "./_user"
	requires := []string{frameworkModule + " " + frameworkVersion, p.Module.Path + " v0.0.0-00010101000000-000000000000"}
	replaces := []string{p.Module.Path + " => ./_user"}
	if p.Module.Path != updraftModule {
		out, err := goList(ctx, p.Dir, "-m", "-f", "{{.Dir}}", updraftModule)
		if err != nil {
			return nil, err
		}
		dir := strings.TrimSpace(string(out))
		if dir == "" {
			return nil, fmt.Errorf("bundle: module %s is not downloaded: run go mod download in %s", updraftModule, p.Module.Dir)
		}
		up, err := updraftTree(ctx, dir)
		if err != nil {
			return nil, err
		}
		if err := addSums(up, "go.sum"); err != nil {
			return nil, err
		}
		prefix(up, "_updraft/")
		updraftDir = "./_updraft"
		requires = append(requires, updraftModule+" v0.0.0-00010101000000-000000000000")
		replaces = append(replaces, updraftModule+" => "+updraftDir)
	}
	slices.Sort(requires)
	var mod bytes.Buffer
	fmt.Fprintf(&mod, "// Generated by updraft's bundler for %s.\nmodule %s\n\n", p.ImportPath, GCFModule)
	if p.Module.GoVersion != "" {
		fmt.Fprintf(&mod, "go %s\n\n", p.Module.GoVersion)
	}
	fmt.Fprintf(&mod, "require (\n\t%s\n)\n\n", strings.Join(requires, "\n\t"))
	for _, r := range replaces {
		fmt.Fprintf(&mod, "replace %s\n", r)
	}
	lines := make([]string, 0, len(sums))
	for l := range sums {
		lines = append(lines, l)
	}
	slices.Sort(lines)
	sum := []byte(strings.Join(lines, "\n"))
	if len(sum) > 0 {
		sum = append(sum, '\n')
	}
	t.items = append(t.items, memItem("go.mod", mod.Bytes()), memItem("go.sum", sum), memItem("updraftfn.go", gcfRootSource(p.ImportPath)))
	return t, nil
}

// updraftTree is the part of the updraft module a Cloud Functions build
// needs: its module files and package function (without tests).
func updraftTree(ctx context.Context, dir string) ([]item, error) {
	fn, err := walkDir(ctx, filepath.Join(dir, "function"))
	if err != nil {
		return nil, err
	}
	var items []item
	for _, it := range fn.items {
		if strings.HasSuffix(it.name, "_test.go") || strings.HasPrefix(it.name, "testdata/") || strings.Contains(it.name, "/testdata/") {
			continue
		}
		it.name = "function/" + it.name
		items = append(items, it)
	}
	for _, name := range []string{"go.mod", "go.sum", "LICENSE"} {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && name != "go.mod" {
				continue
			}
			return nil, fmt.Errorf("bundle: %w", err)
		}
		items = append(items, item{name: name, mode: 0o644, size: fi.Size(), path: p, st: statOf(fi)})
	}
	return items, nil
}
