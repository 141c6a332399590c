package service

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

var update = flag.Bool("update", false, "rewrite the golden files and the shipped schema")

// noEnv resolves no variable, so tests do not depend on the environment.
func noEnv(string) (string, bool) { return "", false }

// TestFileErrorsGolden checks every problem of each broken file, with its
// file:line:column, against testdata/errors/*.golden.
func TestFileErrorsGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/errors/*.*")
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".golden") {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := Load(f, &LoadOptions{LookupEnv: noEnv})
			if err == nil {
				t.Fatal("Load accepted a broken file")
			}
			var fe FileErrors
			if !asFileErrors(err, &fe) {
				t.Fatalf("error is %T, want FileErrors: %v", err, err)
			}
			for _, e := range fe {
				if e.Line == 0 {
					t.Errorf("no position for %q", e)
				}
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, filepath.Ext(f)) + ".golden"
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, _ := os.ReadFile(golden)
			if got != string(want) {
				t.Errorf("errors differ from %s (go test ./service -update rewrites it):\ngot:\n%swant:\n%s", golden, got, want)
			}
		})
	}
	if n < 5 {
		t.Fatalf("only %d broken files", n)
	}
}

func asFileErrors(err error, fe *FileErrors) bool {
	switch e := err.(type) {
	case FileErrors:
		*fe = e
		return true
	case *FileError:
		*fe = FileErrors{e}
		return true
	}
	return false
}

func TestLoadGood(t *testing.T) {
	env := func(n string) (string, bool) {
		if n == "STAGE" {
			return "prod", true
		}
		return "", false
	}
	svc, err := Load("testdata/good.yaml", &LoadOptions{LookupEnv: env})
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Functions) != 1 || len(svc.Functions[0].Targets) != 2 || !strings.HasPrefix(svc.Digest, "sha256:") {
		t.Fatalf("service %+v", svc)
	}
	f := svc.Functions[0]
	base, over := f.Targets[0].Spec, f.Targets[1].Spec
	if base != f.Spec || over == f.Spec {
		t.Fatal("a target without override must share the function's Spec; one with an override must not")
	}
	if base.Env["STAGE"] != "prod" || base.MemoryMB != 256 || base.Timeout.String() != "10s" || len(base.Triggers) != 2 {
		t.Fatalf("base spec %+v", base)
	}
	if over.MemoryMB != 512 || over.Env["EXTRA"] != "1" || over.Env["GREETING"] != "hello" || base.Env["EXTRA"] != "" {
		t.Fatalf("override: memory %d env %v (base env %v)", over.MemoryMB, over.Env, base.Env)
	}
	if !filepath.IsAbs(base.Code.Path()) || filepath.Base(base.Code.Path()) != "fn" {
		t.Fatalf("code path %q", base.Code.Path())
	}
	opts, err := svc.Policy()
	if err != nil || opts.Strategy.Name != "canary" || len(opts.Gates) != 2 || opts.Interval.String() != "1m0s" {
		t.Fatalf("policy %+v, %v", opts, err)
	}
}

// TestNilVersusEmpty: an absent map or list is not managed (nil), an
// empty one clears (non-nil, empty).
func TestNilVersusEmpty(t *testing.T) {
	src := "version: 1\nfunctions:\n  a:\n    code: {dir: .}\n    runtime: nodejs22\n    env: {}\n    triggers: []\n    targets: [{url: 'mem://a'}]\n"
	svc, err := Parse("x.yaml", t.TempDir(), []byte(src), &LoadOptions{LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	s := svc.Functions[0].Spec
	if s.Env == nil || len(s.Env) != 0 || s.Triggers == nil || len(s.Triggers) != 0 || s.Labels != nil || s.Secrets != nil {
		t.Fatalf("env %#v triggers %#v labels %#v secrets %#v", s.Env, s.Triggers, s.Labels, s.Secrets)
	}
}

func TestVariables(t *testing.T) {
	env := map[string]string{"A": "x", "EMPTY": ""}
	look := func(n string) (string, bool) { v, ok := env[n]; return v, ok }
	for in, want := range map[string]string{
		"plain": "plain", "${env:A}": "x", "a-${env:A}-b": "a-x-b", "$${env:A}": "${env:A}",
		"${env:B:-dflt}": "dflt", "${env:EMPTY:-d}": "d", "${env:EMPTY}": "", "cost $$5": "cost $5",
	} {
		got, err := expand(in, look)
		if err != nil || got != want {
			t.Errorf("expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"${env:B}", "${A}", "${env:1X}", "${env:A"} {
		if _, err := expand(in, look); err == nil {
			t.Errorf("expand(%q) succeeded", in)
		}
	}
}

// TestFileJSONRoundTrip: a file marshalled to JSON loads back to the same
// service, so specs survive JSON.
func TestFileJSONRoundTrip(t *testing.T) {
	svc, err := Load("testdata/good.yaml", &LoadOptions{LookupEnv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(svc.File)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("good.json", filepath.Join(mustAbs(t, "testdata")), b, &LoadOptions{LookupEnv: noEnv})
	if err != nil {
		t.Fatalf("JSON form does not load: %v\n%s", err, b)
	}
	b2, _ := json.Marshal(again.File)
	if !bytes.Equal(b, b2) {
		t.Fatalf("round trip differs:\n%s\n%s", b, b2)
	}
	if again.Functions[0].Targets[1].Spec.MemoryMB != 512 || again.Functions[0].Spec.Triggers[1].Kind() != "schedule" {
		t.Fatal("round trip lost fields")
	}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestSchemaInStep: the shipped schema is what the types generate.
func TestSchemaInStep(t *testing.T) {
	got, err := generateSchema("./")
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		os.WriteFile("updraft.schema.json", got, 0o644)
	}
	if !bytes.Equal(got, Schema()) {
		t.Fatal("updraft.schema.json is not what the types generate: run go test ./service -update")
	}
}

// TestSchemaValidatesExamples: every spec file in the repository passes
// the schema, and broken shapes fail it.
func TestSchemaValidatesExamples(t *testing.T) {
	sch := compileSchema(t)
	examples, _ := filepath.Glob("../examples/*/updraft.yaml")
	examples = append(examples, "testdata/good.yaml")
	for _, f := range examples {
		if err := sch.Validate(yamlValue(t, f)); err != nil {
			t.Errorf("%s fails the schema: %v", f, err)
		}
	}
	for _, f := range []string{"testdata/errors/unknown-field.yaml", "testdata/errors/wrong-type.json", "testdata/errors/durations.yaml"} {
		if err := sch.Validate(yamlValue(t, f)); err == nil {
			t.Errorf("%s passes the schema", f)
		}
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(SchemaID)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// yamlValue reads a YAML or JSON file as the JSON value a schema checks.
func yamlValue(t *testing.T, path string) any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}
