package provider

import (
	"cmp"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// Violation is one problem with a Spec for a target.
type Violation struct {
	// Field names the Spec field ("MemoryMB", "Triggers[web]").
	Field string
	// Code is InvalidArgument for a bad value, Unimplemented for a feature
	// the target does not have.
	Code ErrorCode
	// Message says what is wrong, with the value and what is allowed.
	Message string
}

// String returns the message.
func (v Violation) String() string { return v.Message }

// ValidationError lists every problem found in a Spec at once.
type ValidationError struct {
	Provider   string
	Violations []Violation
}

// Error lists every violation.
func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		msgs[i] = v.Message
	}
	return fmt.Sprintf("spec is not valid for %s: %s", e.Provider, strings.Join(msgs, "; "))
}

// code is InvalidArgument if any violation is, else Unimplemented.
func (e *ValidationError) code() ErrorCode {
	for _, v := range e.Violations {
		if v.Code == InvalidArgument {
			return InvalidArgument
		}
	}
	return Unimplemented
}

var (
	portableEnvNameRE = regexp.MustCompile(`^(?:` + driver.PortableEnvNamePattern + `)$`)
	labelKeyRE        = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	routeRE           = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
)

// Validate checks s against caps and returns a *ValidationError listing
// every violation, or nil. It makes no calls.
func Validate(s *Spec, caps Capabilities) error {
	if s == nil {
		return &ValidationError{Provider: caps.Provider, Violations: []Violation{{Field: "Spec", Code: InvalidArgument, Message: "spec is nil"}}}
	}
	c := &checker{s: s, caps: caps, p: caps.Provider}
	c.code()
	c.memory()
	c.timeout()
	c.concurrency()
	c.env()
	c.metadata()
	c.triggers()
	if len(c.vs) == 0 {
		return nil
	}
	return &ValidationError{Provider: c.p, Violations: c.vs}
}

// checker collects the violations of one Spec, one part at a time.
type checker struct {
	s    *Spec
	caps Capabilities
	p    string // the provider, for messages
	vs   []Violation
}

// bad records a value the target refuses.
func (c *checker) bad(field, format string, args ...any) {
	c.vs = append(c.vs, Violation{Field: field, Code: InvalidArgument, Message: fmt.Sprintf(format, args...)})
}

// missing records a feature the target does not have.
func (c *checker) missing(field, format string, args ...any) {
	c.vs = append(c.vs, Violation{Field: field, Code: Unimplemented, Message: fmt.Sprintf(format, args...)})
}

// code checks the runtime, the entrypoint and the architecture.
func (c *checker) code() {
	s, caps, p := c.s, c.caps, c.p
	if s.Runtime == "" {
		c.bad("Runtime", "runtime is empty: %s accepts %s", p, strings.Join(caps.Runtimes, ", "))
	} else if len(caps.Runtimes) > 0 && !slices.Contains(caps.Runtimes, s.Runtime) {
		c.bad("Runtime", "runtime %q: %s accepts %s", s.Runtime, p, strings.Join(caps.Runtimes, ", "))
	}
	if msg := entrypointProblem(s.Entrypoint); msg != "" {
		c.bad("Entrypoint", "entrypoint %q: %s", s.Entrypoint, msg)
	}
	if s.Architecture != "" && len(caps.Architectures) > 0 && !slices.Contains(caps.Architectures, s.Architecture) {
		c.bad("Architecture", "architecture %q: %s accepts %s", s.Architecture, p, strings.Join(caps.Architectures, ", "))
	}
}

func (c *checker) memory() {
	m, caps := c.s.MemoryMB, c.caps
	switch {
	case m == 0:
	case m < 0:
		c.bad("MemoryMB", "memory %d MB is negative", m)
	case len(caps.MemoryValues) > 0:
		if !slices.Contains(caps.MemoryValues, m) {
			c.bad("MemoryMB", "memory %d MB: %s allows %s MB", m, c.p, joinInts(caps.MemoryValues))
		}
	case caps.Memory.Max > 0:
		r := caps.Memory
		step := max(r.Step, 1)
		if m < r.Min || m > r.Max || (m-r.Min)%step != 0 {
			c.bad("MemoryMB", "memory %d MB: %s allows %d–%d MB in %d MB steps", m, c.p, r.Min, r.Max, step)
		}
	}
}

func (c *checker) timeout() {
	t := c.s.Timeout
	if t == 0 {
		return
	}
	maxT := c.caps.MaxTimeout
	if c.caps.MaxEventTimeout > 0 && hasEventTriggers(c.s.Triggers) {
		maxT = min(maxT, c.caps.MaxEventTimeout)
	}
	switch {
	case t < time.Second || t%time.Second != 0:
		c.bad("Timeout", "timeout %s: use whole seconds, at least 1s", t)
	case maxT > 0 && t > maxT:
		c.bad("Timeout", "timeout %s: %s allows at most %s", t, c.p, maxT)
	}
}

func (c *checker) concurrency() {
	caps, p := c.caps, c.p
	pc, mc := c.s.Concurrency.Provisioned, c.s.Concurrency.Max
	if pc != nil {
		switch {
		case !caps.Provisioned:
			c.missing("Concurrency.Provisioned", "provisioned concurrency: %s does not support it", p)
		case *pc < 0:
			c.bad("Concurrency.Provisioned", "provisioned concurrency %d is negative", *pc)
		case caps.MaxProvisioned > 0 && *pc > caps.MaxProvisioned:
			c.bad("Concurrency.Provisioned", "provisioned concurrency %d: %s allows at most %d", *pc, p, caps.MaxProvisioned)
		}
	}
	if mc != nil {
		switch {
		case !caps.MaxConcurrency:
			c.missing("Concurrency.Max", "max concurrency: %s does not support it", p)
		case *mc < 1:
			c.bad("Concurrency.Max", "max concurrency %d: use at least 1 (to stop a function, delete its triggers)", *mc)
		}
		if pc != nil && *mc >= 1 && *pc > *mc {
			c.bad("Concurrency.Provisioned", "provisioned concurrency %d is above max concurrency %d", *pc, *mc)
		}
	}
}

// env checks variable names against the target's rules, values, secret
// references and the total size. No message shows a value or a
// reference: either may be a secret.
func (c *checker) env() {
	s, caps, p := c.s, c.caps, c.p
	envBytes := 0
	names := newEnvNameCheck(caps)
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		if msg := names.problem(k); msg != "" {
			c.bad("Env", "environment variable name %q: %s", k, msg)
		}
		if _, dup := s.Secrets[k]; dup {
			c.bad("Env", "environment variable %q is also a secret: set it in one of Env and Secrets", k)
		}
		v := s.Env[k]
		if !utf8.ValidString(v) {
			c.bad("Env", "environment variable %q is not valid UTF-8", k)
		}
		if i := strings.IndexAny(v, "\x00"+caps.Env.ForbiddenValueBytes); i >= 0 {
			c.bad("Env", "environment variable %q holds byte %q at offset %d, which %s does not allow in a value", k, v[i], i, p)
		}
		envBytes += len(k) + len(v)
	}
	if len(s.Secrets) > 0 && !caps.Secrets {
		c.missing("Secrets", "secrets: %s does not support secret references", p)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Secrets)) {
		if msg := names.problem(k); msg != "" {
			c.bad("Secrets", "secret variable name %q: %s", k, msg)
		}
		if strings.TrimSpace(s.Secrets[k]) == "" {
			c.bad("Secrets", "secret %q has an empty reference", k)
		} else if strings.ContainsRune(s.Secrets[k], 0) {
			c.bad("Secrets", "secret %q has a NUL byte in its reference", k)
		}
		envBytes += len(k) + len(s.Secrets[k])
	}
	if caps.MaxEnvBytes > 0 && envBytes > caps.MaxEnvBytes {
		c.bad("Env", "environment is %d bytes: %s allows %d bytes in all", envBytes, p, caps.MaxEnvBytes)
	}
}

// metadata checks labels, the log format and the route name.
func (c *checker) metadata() {
	s := c.s
	for _, k := range slices.Sorted(maps.Keys(s.Labels)) {
		if !labelKeyRE.MatchString(k) {
			c.bad("Labels", "label key %q: use 1–63 lower-case letters, digits, '_' and '-', starting with a letter", k)
		}
	}
	switch s.LogFormat {
	case "", "text", "json":
	default:
		c.bad("LogFormat", "log format %q: use \"text\" or \"json\"", s.LogFormat)
	}
	if s.Route != "" && !routeRE.MatchString(s.Route) {
		c.bad("Route", "route %q: use 1–63 lower-case letters, digits and '-', starting with a letter", s.Route)
	}
}

func (c *checker) triggers() {
	if err := trigger.ValidateAll(c.s.Triggers); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			c.bad("Triggers", "%s", line)
		}
	}
	for _, t := range c.s.Triggers {
		if t != nil && !slices.Contains(c.caps.Triggers, t.Kind()) {
			c.missing("Triggers["+t.TriggerKey()+"]", "%s trigger %q: %s does not support %s triggers", t.Kind(), t.TriggerKey(), c.p, t.Kind())
		}
	}
	if n := countEventTriggers(c.s.Triggers); c.caps.MaxEventTriggers > 0 && n > c.caps.MaxEventTriggers {
		c.bad("Triggers", "%d queue, stream and storage triggers: %s allows %d per function (deploy the others as separate functions)", n, c.p, c.caps.MaxEventTriggers)
	}
}

// countEventTriggers counts the queue, stream and storage triggers.
func countEventTriggers(ts []trigger.Trigger) int {
	n := 0
	for _, t := range ts {
		if t == nil {
			continue
		}
		switch t.Kind() {
		case trigger.KindQueue, trigger.KindStream, trigger.KindStorage:
			n++
		}
	}
	return n
}

// entrypointProblem says what is wrong with an entrypoint, or "". An
// entrypoint names something inside the code (a handler such as
// "index.handler", a file such as "bin/run.sh"), so it is a clean
// relative path: not absolute, no "..", no backslash, no control byte.
// Adapters may then join it to the code's directory without escaping it.
func entrypointProblem(e string) string {
	switch {
	case e == "":
		return ""
	case strings.ContainsFunc(e, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "it has a control character in it"
	case strings.Contains(e, `\`):
		return "use '/' between path elements, not '\\'"
	case strings.HasPrefix(e, "/") || (len(e) >= 2 && e[1] == ':' && (e[0]|0x20) >= 'a' && (e[0]|0x20) <= 'z'):
		return "it is an absolute path: name it relative to the root of the code"
	}
	c := path.Clean(e)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "it points outside the code: name a file inside the code's root"
	}
	if c != e {
		return fmt.Sprintf("write it as the clean path %q", c)
	}
	return ""
}

// envNameCheck applies a target's EnvRules to variable names.
type envNameCheck struct {
	re   *regexp.Regexp
	rule string
	caps Capabilities
	err  error
}

func newEnvNameCheck(caps Capabilities) *envNameCheck {
	c := &envNameCheck{re: portableEnvNameRE, rule: driver.PortableEnvNameRule, caps: caps}
	if pat := caps.Env.NamePattern; pat != "" {
		c.re, c.err = regexp.Compile(`^(?:` + pat + `)$`)
		c.rule = cmp.Or(caps.Env.NameRule, "match "+pat)
	}
	return c
}

// problem says what is wrong with name, or "".
func (c *envNameCheck) problem(name string) string {
	p := c.caps.Provider
	switch {
	case c.err != nil:
		return fmt.Sprintf("%s's name pattern does not compile (%v): the adapter is at fault, report it", p, c.err)
	case !c.re.MatchString(name):
		return fmt.Sprintf("%s (%s)", c.rule, p)
	case slices.Contains(c.caps.Env.ReservedNames, name):
		return fmt.Sprintf("%s sets it itself and reserves it: pick another name", p)
	}
	for _, pre := range c.caps.Env.ReservedPrefixes {
		if strings.HasPrefix(name, pre) {
			return fmt.Sprintf("%s reserves names starting with %s: pick another name", p, pre)
		}
	}
	return ""
}

func hasEventTriggers(ts []trigger.Trigger) bool {
	for _, t := range ts {
		if t != nil && t.Kind() != trigger.KindHTTP {
			return true
		}
	}
	return false
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

// toDriverSpec fills defaults and copies s into the driver's form.
func toDriverSpec(s *Spec, caps Capabilities) *driver.Spec {
	d := &driver.Spec{
		Runtime: s.Runtime, Entrypoint: s.Entrypoint, MemoryMB: s.MemoryMB, Timeout: s.Timeout,
		Architecture: s.Architecture, Env: cloneMap(s.Env), Secrets: cloneMap(s.Secrets),
		Tracing: s.Tracing, LogFormat: s.LogFormat, Labels: cloneMap(s.Labels), Identity: s.Identity, Route: s.Route,
		Concurrency: driver.Concurrency{Provisioned: cloneInt(s.Concurrency.Provisioned), Max: cloneInt(s.Concurrency.Max)},
	}
	if d.MemoryMB == 0 {
		d.MemoryMB = caps.DefaultMemoryMB
	}
	if d.Timeout == 0 {
		d.Timeout = caps.DefaultTimeout
	}
	if d.Architecture == "" && len(caps.Architectures) > 0 {
		d.Architecture = caps.Architectures[0]
	}
	if d.LogFormat == "" {
		d.LogFormat = "text"
	}
	if d.Route == "" {
		d.Route = DefaultRoute
	}
	if s.Triggers != nil {
		d.Triggers = make([]trigger.Trigger, 0, len(s.Triggers))
		for _, t := range s.Triggers {
			d.Triggers = append(d.Triggers, trigger.Normalize(t))
		}
		slices.SortFunc(d.Triggers, func(a, b trigger.Trigger) int { return strings.Compare(a.TriggerKey(), b.TriggerKey()) })
	}
	return d
}
