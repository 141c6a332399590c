package provider

import (
	"fmt"
	"maps"
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
	envNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	labelKeyRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	routeRE    = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
)

// Validate checks s against caps and returns a *ValidationError listing
// every violation, or nil. It makes no calls.
func Validate(s *Spec, caps Capabilities) error {
	if s == nil {
		return &ValidationError{Provider: caps.Provider, Violations: []Violation{{Field: "Spec", Code: InvalidArgument, Message: "spec is nil"}}}
	}
	var vs []Violation
	bad := func(field, format string, args ...any) {
		vs = append(vs, Violation{Field: field, Code: InvalidArgument, Message: fmt.Sprintf(format, args...)})
	}
	missing := func(field, format string, args ...any) {
		vs = append(vs, Violation{Field: field, Code: Unimplemented, Message: fmt.Sprintf(format, args...)})
	}
	p := caps.Provider

	if s.Runtime == "" {
		bad("Runtime", "runtime is empty: %s accepts %s", p, strings.Join(caps.Runtimes, ", "))
	} else if len(caps.Runtimes) > 0 && !slices.Contains(caps.Runtimes, s.Runtime) {
		bad("Runtime", "runtime %q: %s accepts %s", s.Runtime, p, strings.Join(caps.Runtimes, ", "))
	}
	if s.Architecture != "" && len(caps.Architectures) > 0 && !slices.Contains(caps.Architectures, s.Architecture) {
		bad("Architecture", "architecture %q: %s accepts %s", s.Architecture, p, strings.Join(caps.Architectures, ", "))
	}
	if m := s.MemoryMB; m != 0 {
		switch {
		case m < 0:
			bad("MemoryMB", "memory %d MB is negative", m)
		case len(caps.MemoryValues) > 0:
			if !slices.Contains(caps.MemoryValues, m) {
				bad("MemoryMB", "memory %d MB: %s allows %s MB", m, p, joinInts(caps.MemoryValues))
			}
		case caps.Memory.Max > 0:
			r := caps.Memory
			step := max(r.Step, 1)
			if m < r.Min || m > r.Max || (m-r.Min)%step != 0 {
				bad("MemoryMB", "memory %d MB: %s allows %d–%d MB in %d MB steps", m, p, r.Min, r.Max, step)
			}
		}
	}
	if t := s.Timeout; t != 0 {
		maxT := caps.MaxTimeout
		if caps.MaxEventTimeout > 0 && hasEventTriggers(s.Triggers) {
			maxT = min(maxT, caps.MaxEventTimeout)
		}
		switch {
		case t < time.Second || t%time.Second != 0:
			bad("Timeout", "timeout %s: use whole seconds, at least 1s", t)
		case maxT > 0 && t > maxT:
			bad("Timeout", "timeout %s: %s allows at most %s", t, p, maxT)
		}
	}
	if pc := s.Concurrency.Provisioned; pc != nil {
		switch {
		case !caps.Provisioned:
			missing("Concurrency.Provisioned", "provisioned concurrency: %s does not support it", p)
		case *pc < 0:
			bad("Concurrency.Provisioned", "provisioned concurrency %d is negative", *pc)
		case caps.MaxProvisioned > 0 && *pc > caps.MaxProvisioned:
			bad("Concurrency.Provisioned", "provisioned concurrency %d: %s allows at most %d", *pc, p, caps.MaxProvisioned)
		}
	}
	if mc := s.Concurrency.Max; mc != nil {
		switch {
		case !caps.MaxConcurrency:
			missing("Concurrency.Max", "max concurrency: %s does not support it", p)
		case *mc < 1:
			bad("Concurrency.Max", "max concurrency %d: use at least 1 (to stop a function, delete its triggers)", *mc)
		}
		if pc := s.Concurrency.Provisioned; pc != nil && *mc >= 1 && *pc > *mc {
			bad("Concurrency.Provisioned", "provisioned concurrency %d is above max concurrency %d", *pc, *mc)
		}
	}
	envBytes := 0
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		if !envNameRE.MatchString(k) {
			bad("Env", "environment variable name %q: use letters, digits and underscores, not starting with a digit", k)
		}
		if _, dup := s.Secrets[k]; dup {
			bad("Env", "environment variable %q is also a secret: set it in one of Env and Secrets", k)
		}
		if !utf8.ValidString(s.Env[k]) {
			bad("Env", "environment variable %q is not valid UTF-8", k)
		}
		envBytes += len(k) + len(s.Env[k])
	}
	if len(s.Secrets) > 0 && !caps.Secrets {
		missing("Secrets", "secrets: %s does not support secret references", p)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Secrets)) {
		if !envNameRE.MatchString(k) {
			bad("Secrets", "secret variable name %q: use letters, digits and underscores, not starting with a digit", k)
		}
		// Never echo the value: a user may have put a secret value here by mistake.
		if strings.TrimSpace(s.Secrets[k]) == "" {
			bad("Secrets", "secret %q has an empty reference", k)
		}
		envBytes += len(k) + len(s.Secrets[k])
	}
	if caps.MaxEnvBytes > 0 && envBytes > caps.MaxEnvBytes {
		bad("Env", "environment is %d bytes: %s allows %d bytes in all", envBytes, p, caps.MaxEnvBytes)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Labels)) {
		if !labelKeyRE.MatchString(k) {
			bad("Labels", "label key %q: use 1–63 lower-case letters, digits, '_' and '-', starting with a letter", k)
		}
	}
	switch s.LogFormat {
	case "", "text", "json":
	default:
		bad("LogFormat", "log format %q: use \"text\" or \"json\"", s.LogFormat)
	}
	if s.Route != "" && !routeRE.MatchString(s.Route) {
		bad("Route", "route %q: use 1–63 lower-case letters, digits and '-', starting with a letter", s.Route)
	}
	if err := trigger.ValidateAll(s.Triggers); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			bad("Triggers", "%s", line)
		}
	}
	for _, t := range s.Triggers {
		if t != nil && !slices.Contains(caps.Triggers, t.Kind()) {
			missing("Triggers["+t.TriggerKey()+"]", "%s trigger %q: %s does not support %s triggers", t.Kind(), t.TriggerKey(), p, t.Kind())
		}
	}
	if n := countEventTriggers(s.Triggers); caps.MaxEventTriggers > 0 && n > caps.MaxEventTriggers {
		bad("Triggers", "%d queue, stream and storage triggers: %s allows %d per function (deploy the others as separate functions)", n, p, caps.MaxEventTriggers)
	}
	if len(vs) == 0 {
		return nil
	}
	return &ValidationError{Provider: p, Violations: vs}
}

func hasEventTriggers(ts []trigger.Trigger) bool {
	for _, t := range ts {
		if t != nil && t.Kind() != trigger.KindHTTP {
			return true
		}
	}
	return false
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

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

// toDriverSpec fills defaults and copies s into the driver's form.
func toDriverSpec(s *Spec, caps driver.Capabilities) *driver.Spec {
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
