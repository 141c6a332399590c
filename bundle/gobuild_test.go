package bundle_test

import (
	"bytes"
	"debug/elf"
	"os/exec"
	"slices"
	"testing"

	"github.com/updraft-dev/updraft/bundle"
)

const helloMain = `package main

import "fmt"

func main() { fmt.Println("hello from updraft") }
`

func goPackage(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"go.mod":         "module example.com/hello\n\ngo 1.22\n",
		"main.go":        helloMain,
		"main_test.go":   "package main\n",
		".env":           "SECRET=1",
		"README.md":      "hello",
		"internal/x.txt": "data",
	})
	return dir
}

func TestGoBuildCrossCompiles(t *testing.T) {
	dir := goPackage(t)
	for _, tc := range []struct {
		arch    string
		machine elf.Machine
	}{{"arm64", elf.EM_AARCH64}, {"amd64", elf.EM_X86_64}} {
		t.Run(tc.arch, func(t *testing.T) {
			opts := &bundle.Options{NoCache: true, Form: bundle.Form{GoBuild: true, GOARCH: tc.arch,
				Extra: map[string][]byte{"host.json": []byte("{}")}}}
			b := build(t, bundle.GoSource(dir), opts)
			if got := names(b); !slices.Equal(got, []string{"bootstrap", "host.json"}) {
				t.Fatalf("files %v, want bootstrap and host.json", got)
			}
			if b.Manifest[0].Mode != 0o755 {
				t.Fatalf("bootstrap mode %v", b.Manifest[0].Mode)
			}
			files, contents := readZip(t, b)
			if files[0].Mode() != 0o755 {
				t.Fatalf("bootstrap zip mode %v", files[0].Mode())
			}
			f, err := elf.NewFile(bytes.NewReader([]byte(contents["bootstrap"])))
			if err != nil {
				t.Fatalf("bootstrap is not ELF: %v", err)
			}
			if f.Machine != tc.machine || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
				t.Fatalf("bootstrap is %v/%v, want %v", f.Machine, f.OSABI, tc.machine)
			}
			if f.Section(".symtab") != nil {
				t.Error("bootstrap is not stripped")
			}
			if _, err := f.DynamicSymbols(); err == nil {
				t.Error("bootstrap is dynamically linked")
			}
			// Building again gives the same bytes.
			if again := build(t, bundle.GoSource(dir), opts); again.Digest != b.Digest {
				t.Fatalf("Go build not reproducible: %s then %s", b.Digest, again.Digest)
			}
		})
	}

	// Another name for the binary.
	b := build(t, bundle.GoSource(dir), &bundle.Options{NoCache: true, Form: bundle.Form{GoBuild: true, Binary: "handler"}})
	if got := names(b); !slices.Equal(got, []string{"handler"}) {
		t.Fatalf("files %v, want handler", got)
	}
}

func TestGoBuildFailureSaysWhy(t *testing.T) {
	dir := goPackage(t)
	writeTree(t, dir, map[string]string{"main.go": "package main\n\nfunc main() { undefinedThing() }\n"})
	_, err := bundle.Build(t.Context(), bundle.GoSource(dir), &bundle.Options{NoCache: true, Form: bundle.Form{GoBuild: true}})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("undefinedThing")) {
		t.Fatalf("error %v does not carry the compiler's message", err)
	}
}

func TestGoSourceZippedAsSource(t *testing.T) {
	dir := goPackage(t)
	b := build(t, bundle.GoSource(dir), nil)
	if got, want := names(b), []string{"README.md", "go.mod", "internal/x.txt", "main.go", "main_test.go"}; !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	if !slices.Equal(b.DefaultExcluded, []string{".env"}) {
		t.Fatalf("DefaultExcluded %v", b.DefaultExcluded)
	}
	_, contents := readZip(t, b)
	if contents["main.go"] != helloMain {
		t.Fatal("main.go differs")
	}
}
