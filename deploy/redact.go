package deploy

import (
	"math"
	"net/url"
	"sort"
	"strings"

	"github.com/hashicorp/go-multierror"
	"github.com/updraft-dev/updraft/provider"
)

// redacted replaces sensitive values wherever deploy prints them.
const redacted = "[redacted]"

// SensitiveEnv reports whether the environment variable name=value looks
// like it holds a secret, by its name (PASSWORD, TOKEN, SECRET, *_KEY, …)
// or its value (a private key, a cloud access key, a credential in a URL, a
// long random-looking string). Plans, events, logs and errors never show
// such values; put secrets in Spec.Secrets as references instead.
func SensitiveEnv(name, value string) bool {
	n := strings.ToUpper(name)
	for _, w := range []string{"PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "APIKEY", "API_KEY",
		"PRIVATE", "CREDENTIAL", "ACCESS_KEY", "AUTH", "SESSION", "SIGNING", "COOKIE", "DSN", "CONNECTION_STRING", "CONN_STR", "SALT"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	if strings.HasSuffix(n, "_KEY") || n == "KEY" || strings.HasSuffix(n, "_PASS") || strings.HasSuffix(n, "_PWD") {
		return true
	}
	return sensitiveValue(value)
}

func sensitiveValue(v string) bool {
	for _, p := range []string{"-----BEGIN", "AKIA", "ASIA", "sk_live_", "sk_test_", "sk-", "ghp_", "gho_", "ghs_", "github_pat_", "xoxb-", "xoxp-", "glpat-", "AIza", "eyJ"} {
		if strings.HasPrefix(v, p) && len(v) >= len(p)+8 {
			return true
		}
	}
	if strings.Contains(v, "://") {
		if u, err := url.Parse(v); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				return true
			}
		}
	}
	return len(v) >= 24 && !strings.ContainsAny(v, " \t\n/") && entropy(v) >= 4.0
}

// entropy is the Shannon entropy of s in bits per byte.
func entropy(s string) float64 {
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / float64(len(s))
			h -= p * math.Log2(p)
		}
	}
	return h
}

// redactor scrubs known sensitive values out of text.
type redactor struct {
	values []string // longest first
}

// newRedactor collects the sensitive values of spec and of live configs:
// every secret reference and every environment value that looks secret.
func newRedactor(spec *provider.Spec, live ...*provider.Config) *redactor {
	r := &redactor{}
	seen := map[string]bool{}
	add := func(v string) {
		v = strings.TrimSpace(v)
		if len(v) >= 4 && !seen[v] {
			seen[v] = true
			r.values = append(r.values, v)
		}
	}
	addEnv := func(env, secrets map[string]string) {
		for _, v := range secrets {
			add(v)
		}
		for k, v := range env {
			if SensitiveEnv(k, v) {
				add(v)
			}
		}
	}
	if spec != nil {
		addEnv(spec.Env, spec.Secrets)
	}
	for _, c := range live {
		if c != nil {
			addEnv(c.Env, c.Secrets)
		}
	}
	sort.Slice(r.values, func(i, j int) bool { return len(r.values[i]) > len(r.values[j]) })
	return r
}

// merge adds o's values to r.
func (r *redactor) merge(o *redactor) {
	if o == nil {
		return
	}
	seen := map[string]bool{}
	for _, v := range r.values {
		seen[v] = true
	}
	for _, v := range o.values {
		if !seen[v] {
			r.values = append(r.values, v)
		}
	}
	sort.Slice(r.values, func(i, j int) bool { return len(r.values[i]) > len(r.values[j]) })
}

func (r *redactor) scrub(s string) string {
	if r == nil {
		return s
	}
	for _, v := range r.values {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, redacted)
		}
	}
	return s
}

// scrubbedError stands for an error whose message held a sensitive
// value: it has the scrubbed message and the original's code, and unwraps
// to the code's sentinel only, so no layer a caller reaches with
// errors.As or errors.Unwrap shows the value. (A native SDK error inside
// such an error is given up: it cannot be shown safely.)
type scrubbedError struct {
	msg  string
	code provider.ErrorCode
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return sentinel(e.code) }

// sentinel returns provider's sentinel error for code; nil for Unknown,
// so that a wrapper such as GateError can still give the error its code.
func sentinel(code provider.ErrorCode) error {
	for _, s := range []error{provider.ErrNotFound, provider.ErrAlreadyExists, provider.ErrInvalidArgument,
		provider.ErrInternal, provider.ErrUnimplemented, provider.ErrFailedPrecondition, provider.ErrPermissionDenied,
		provider.ErrResourceExhausted, provider.ErrCanceled, provider.ErrDeadlineExceeded} {
		if provider.Code(s) == code {
			return s
		}
	}
	return nil
}

// scrubErr returns err with every sensitive value removed from every
// layer a caller can reach: deploy's own error types are copied with
// their causes scrubbed, and any other error whose message holds a value
// is replaced by a *scrubbedError with its code.
func (r *redactor) scrubErr(err error) error {
	if err == nil || r == nil || len(r.values) == 0 {
		return err
	}
	msg := err.Error()
	clean := r.scrub(msg)
	switch e := err.(type) {
	case *scrubbedError:
		if clean == msg {
			return err
		}
		return &scrubbedError{msg: clean, code: e.code}
	case *TargetError:
		cp := *e
		cp.Err = r.scrubErr(e.Err)
		return &cp
	case *GateError:
		cp := *e
		cp.Err = r.scrubErr(e.Err)
		return &cp
	case *multierror.Error:
		cp := &multierror.Error{ErrorFormat: e.ErrorFormat}
		for _, w := range e.Errors {
			cp.Errors = append(cp.Errors, r.scrubErr(w))
		}
		return cp
	case *SkipError:
		return &SkipError{Reason: r.scrub(e.Reason)}
	case *StopError:
		return &StopError{Err: r.scrubErr(e.Err)}
	}
	if clean == msg && !r.leaksBelow(err) {
		return err
	}
	return &scrubbedError{msg: clean, code: provider.Code(err)}
}

// leaksBelow reports whether any error wrapped by err shows a value.
func (r *redactor) leaksBelow(err error) bool {
	var below []error
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		below = []error{u.Unwrap()}
	case interface{ Unwrap() []error }:
		below = u.Unwrap()
	}
	for _, b := range below {
		if b == nil {
			continue
		}
		if m := b.Error(); r.scrub(m) != m || r.leaksBelow(b) {
			return true
		}
	}
	return false
}
