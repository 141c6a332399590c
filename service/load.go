package service

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
)

// LoadOptions configure Load and Parse. Nil means the defaults.
type LoadOptions struct {
	// LookupEnv resolves ${env:NAME}; nil means os.LookupEnv.
	LookupEnv func(name string) (string, bool)
}

// FileError is one problem in a spec file, at a position when it is known.
type FileError struct {
	// File is the file name as given to Load or Parse.
	File string
	// Line and Column are 1-based; 0 when the position is unknown.
	Line, Column int
	// Field is the dotted path of the field ("functions.hello.memory"), when known.
	Field string
	// Msg says what is wrong and what to write instead.
	Msg string
}

// Error renders the problem as file:line:column: field: message.
func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// FileErrors are all the problems found in a spec file, in file order.
type FileErrors []*FileError

// Error lists the problems, one a line.
func (es FileErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, for errors.As, and
// provider.ErrInvalidArgument, so provider.Code reports InvalidArgument.
func (es FileErrors) Unwrap() []error {
	out := make([]error, 0, len(es)+1)
	for _, e := range es {
		out = append(out, e)
	}
	return append(out, provider.ErrInvalidArgument)
}

// Unwrap returns provider.ErrInvalidArgument: a problem in the file is
// the caller's input.
func (e *FileError) Unwrap() error { return provider.ErrInvalidArgument }

// Load reads and checks the spec file at path. Relative code paths are
// taken from the file's directory. Every problem is reported at once, as
// FileErrors with file:line:column.
func Load(path string, opts *LoadOptions) (*Service, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the spec file: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	return parse(path, filepath.Dir(abs), data, opts)
}

// Parse checks a spec file's content; name is used in messages and dir
// resolves relative code paths.
func Parse(name, dir string, data []byte, opts *LoadOptions) (*Service, error) {
	return parse(name, dir, data, opts)
}

func parse(name, dir string, data []byte, opts *LoadOptions) (*Service, error) {
	if opts == nil {
		opts = &LoadOptions{}
	}
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	astFile, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, FileErrors{yamlError(name, err, nil)}
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data), yaml.DisallowUnknownField())
	if err := dec.Decode(&f); err != nil {
		return nil, FileErrors{yamlError(name, err, astFile)}
	}
	c := &checker{name: name, ast: astFile}
	expandAll(c, reflect.ValueOf(&f).Elem(), "", lookup)
	checkDurations(c, reflect.ValueOf(&f).Elem(), "")
	c.file(&f)
	if len(c.errs) > 0 {
		c.sort()
		return nil, c.errs
	}
	sum := sha256.Sum256(data)
	svc, err := build(name, dir, &f)
	if err != nil {
		return nil, err
	}
	svc.Digest = "sha256:" + hex.EncodeToString(sum[:])
	return svc, nil
}

// yamlError converts a decoding error to a FileError with its position
// and, when the file parsed, the path of the field at that position.
func yamlError(name string, err error, f *ast.File) *FileError {
	fe := &FileError{File: name, Msg: err.Error()}
	var ye yaml.Error
	if errors.As(err, &ye) {
		fe.Msg = ye.GetMessage()
		var te *yaml.TypeError
		if errors.As(err, &te) {
			fe.Msg = fmt.Sprintf("want %s here, not %s", typeName(te.DstType), typeName(te.SrcType))
		}
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			fe.Line, fe.Column = tk.Position.Line, tk.Position.Column
			fe.Field = fieldAt(f, fe.Line, fe.Column)
		}
	}
	fe.Msg = strings.TrimSpace(fe.Msg)
	return fe
}

// fieldAt returns the dotted path of the node at line:col in f, or "".
func fieldAt(f *ast.File, line, col int) string {
	if f == nil {
		return ""
	}
	v := &posFinder{line: line, col: col}
	for _, doc := range f.Docs {
		ast.Walk(v, doc)
	}
	return strings.TrimPrefix(strings.TrimPrefix(v.path, "$"), ".")
}

type posFinder struct {
	line, col int
	path      string
}

// Visit implements ast.Visitor: it keeps the path of the node whose
// token starts at the position.
func (v *posFinder) Visit(n ast.Node) ast.Visitor {
	if tk := n.GetToken(); tk != nil && tk.Position != nil && tk.Position.Line == v.line && tk.Position.Column == v.col {
		if p := n.GetPath(); p != "" {
			v.path = p
		}
	}
	return v
}

// typeName names a Go type the way a spec file's author thinks of it.
func typeName(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32:
		return "a whole number"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Map, reflect.Struct:
		return "a mapping (key: value)"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Pointer:
		return typeName(t.Elem())
	}
	return t.String()
}

// checkDurations checks every Duration v holds, at its field path.
func checkDurations(c *checker, v reflect.Value, path string) {
	if d, ok := v.Interface().(Duration); ok {
		if err := d.check(); err != nil {
			c.errorf(path, "%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			checkDurations(c, v.Elem(), path)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			checkDurations(c, v.Field(i), join(path, name))
		}
	case reflect.Slice:
		for i := range v.Len() {
			checkDurations(c, v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			checkDurations(c, v.MapIndex(k), join(path, fmt.Sprint(k.Interface())))
		}
	}
}

// checker collects problems with their positions.
type checker struct {
	name string
	ast  *ast.File
	errs FileErrors
}

// errorf records a problem at field (a dotted path, with [i] for list
// items), placed at that field's node in the file when it is there.
func (c *checker) errorf(field, format string, args ...any) {
	fe := &FileError{File: c.name, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n := c.node(field); n != nil {
		if tk := n.GetToken(); tk != nil && tk.Position != nil {
			fe.Line, fe.Column = tk.Position.Line, tk.Position.Column
		}
	}
	c.errs = append(c.errs, fe)
}

// node finds the node of field, or of its nearest parent that exists.
func (c *checker) node(field string) ast.Node {
	for field != "" {
		if p, err := yaml.PathString("$." + quotePath(field)); err == nil {
			if n, err := p.FilterFile(c.ast); err == nil && n != nil {
				return n
			}
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return nil
}

var plainKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// quotePath quotes the path segments a YAML path cannot take bare.
func quotePath(field string) string {
	var out []string
	for seg := range strings.SplitSeq(field, ".") {
		name, idx, _ := strings.Cut(seg, "[")
		if !plainKeyRE.MatchString(name) {
			name = "'" + name + "'"
		}
		if idx != "" {
			name += "[" + idx
		}
		out = append(out, name)
	}
	return strings.Join(out, ".")
}

func (c *checker) sort() {
	slices.SortStableFunc(c.errs, func(a, b *FileError) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
}

var (
	funcNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	envNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func (c *checker) file(f *File) {
	if f.Version != 1 {
		c.errorf("version", "version %d: write version: 1", f.Version)
	}
	if len(f.Functions) == 0 {
		c.errorf("functions", "no functions: describe at least one under functions:")
	}
	for _, name := range sortedKeys(f.Functions) {
		path := "functions." + name
		if !funcNameRE.MatchString(name) || len(name) > 64 {
			c.errorf(path, "function name %q: use 1 to 64 lower-case letters, digits and inner hyphens", name)
		}
		fn := f.Functions[name]
		if fn == nil {
			c.errorf(path, "function %s is empty: give it code, runtime and targets", name)
			continue
		}
		c.function(path, fn)
	}
	if f.Rollout != nil {
		c.rollout("rollout", f.Rollout)
	}
}

func (c *checker) function(path string, fn *Function) {
	n := 0
	for _, p := range []string{fn.Code.Go, fn.Code.Dir, fn.Code.Zip, fn.Code.Function} {
		if p != "" {
			n++
		}
	}
	if n != 1 {
		c.errorf(path+".code", "give exactly one of go, dir, zip or function (found %d)", n)
	}
	if fn.Runtime == "" {
		c.errorf(path+".runtime", "runtime is missing: write a portable id such as go, nodejs22 or python3.13")
	}
	if fn.MemoryMB < 0 {
		c.errorf(path+".memory", "memory %d MB is negative", fn.MemoryMB)
	}

	c.concurrency(path+".concurrency", fn.Concurrency)
	c.env(path, fn.Env, fn.Secrets)
	c.triggers(path+".triggers", fn.Triggers)
	if len(fn.Targets) == 0 {
		c.errorf(path+".targets", "no targets: list at least one, such as - url: local://NAME")
	}
	seen := map[string]bool{}
	for i, t := range fn.Targets {
		tp := fmt.Sprintf("%s.targets[%d]", path, i)
		if !strings.Contains(t.URL, "://") {
			c.errorf(tp+".url", "url %q: write a target URL such as local://NAME or awslambda://NAME?region=REGION", redactURL(t.URL))
		}
		if seen[t.URL] {
			c.errorf(tp+".url", "target %s is listed twice", redactURL(t.URL))
		}
		seen[t.URL] = true
		if o := t.Override; o != nil {
			if o.MemoryMB < 0 {
				c.errorf(tp+".override.memory", "memory %d MB is negative", o.MemoryMB)
			}
			c.concurrency(tp+".override.concurrency", o.Concurrency)
			c.env(tp+".override", o.Env, o.Secrets)
			c.triggers(tp+".override.triggers", o.Triggers)
		}
	}
}

func (c *checker) concurrency(path string, cc *Concurrency) {
	if cc == nil {
		return
	}
	if cc.Provisioned != nil && *cc.Provisioned < 0 {
		c.errorf(path+".provisioned", "provisioned %d is negative", *cc.Provisioned)
	}
	if cc.Max != nil && *cc.Max < 1 {
		c.errorf(path+".max", "max %d: use at least 1, or leave it out", *cc.Max)
	}
}

// secretWords mark an env name whose value is a secret whatever it looks like.
var secretWords = []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "PRIVATE_KEY", "API_KEY", "APIKEY"}

func (c *checker) env(path string, env, secrets map[string]string) {
	for _, k := range sortedKeys(env) {
		p := path + ".env." + k
		if !envNameRE.MatchString(k) {
			c.errorf(p, "environment variable name %q: use letters, digits and '_', not starting with a digit", k)
			continue
		}
		upper := strings.ToUpper(k)
		strong := slices.ContainsFunc(secretWords, func(w string) bool { return strings.Contains(upper, w) })
		if strong || deploy.SensitiveEnv("", env[k]) {
			c.errorf(p, "%s looks like a secret: never put secret values in the spec file; move it to secrets: with a reference (a Secrets Manager ARN, a Secret Manager version, a Key Vault URI)", k)
		}
	}
	for _, k := range sortedKeys(secrets) {
		p := path + ".secrets." + k
		if !envNameRE.MatchString(k) {
			c.errorf(p, "environment variable name %q: use letters, digits and '_', not starting with a digit", k)
		}
		if v := secrets[k]; v == "" || (!strings.Contains(v, ":") && !strings.Contains(v, "/")) {
			c.errorf(p, "secret %s is not a reference: write an ARN, projects/P/secrets/S/versions/V or a Key Vault secret URI, never the value", k)
		}
	}
}

func (c *checker) triggers(path string, ts []Trigger) {
	keys := map[string]bool{}
	for i := range ts {
		t := &ts[i]
		p := fmt.Sprintf("%s[%d]", path, i)
		allowed, ok := triggerFields[t.Kind]
		if !ok {
			c.errorf(p+".kind", "kind %q: use http, queue, stream, schedule or storage", t.Kind)
			continue
		}
		if keys[t.Key] {
			c.errorf(p+".key", "trigger key %q is used twice", t.Key)
		}
		keys[t.Key] = true
		for _, field := range setTriggerFields(t) {
			if !slices.Contains(allowed, field) {
				c.errorf(p+"."+field, "%s does not apply to a %s trigger (it takes %s)", field, t.Kind, strings.Join(allowed, ", "))
			}
		}
		tr, err := t.toTrigger()
		if err != nil {
			c.errorf(p, "%v", err)
			continue
		}
		if err := tr.Validate(); err != nil {
			c.errorf(p, "%v", err)
		}
	}
}

// setTriggerFields lists the JSON names of t's non-zero fields besides
// kind and key.
func setTriggerFields(t *Trigger) []string {
	var out []string
	v := reflect.ValueOf(t).Elem()
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		if name == "kind" || name == "key" || v.Field(i).IsZero() {
			continue
		}
		out = append(out, name)
	}
	return out
}

func (c *checker) rollout(path string, r *Rollout) {
	if _, err := r.strategy(); err != nil {
		c.errorf(path+".strategy", "%v", err)
	}
	switch r.Lockstep {
	case "", "all", "function":
	default:
		c.errorf(path+".lockstep", "lockstep %q: use all or function", r.Lockstep)
	}
	for i, g := range r.Gates {
		p := fmt.Sprintf("%s.gates[%d]", path, i)
		n := 0
		for _, set := range []bool{g.Invoke != nil, g.ErrorRate != nil, g.Throttle != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			c.errorf(p, "give exactly one of invoke, errorRate or throttle")
		}
		for name, rg := range map[string]*RateGate{"errorRate": g.ErrorRate, "throttle": g.Throttle} {
			if rg != nil && (rg.Max < 0 || rg.Max > 1 || rg.Max != rg.Max) {
				c.errorf(p+"."+name+".max", "max %v: use a rate from 0 to 1, such as 0.01", rg.Max)
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
