package deploy

import (
	"errors"
	"math"
	"net/url"
	"sort"
	"strings"

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

// scrubbedError is err with sensitive values removed from its message. It
// unwraps to err, so codes and errors.As still work.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrubErr returns err, or a wrapper with a scrubbed message when its
// message holds a sensitive value.
func (r *redactor) scrubErr(err error) error {
	if err == nil || r == nil {
		return err
	}
	msg := err.Error()
	if clean := r.scrub(msg); clean != msg {
		var se *scrubbedError
		if errors.As(err, &se) && se.msg == msg {
			return err
		}
		return &scrubbedError{msg: clean, err: err}
	}
	return err
}
