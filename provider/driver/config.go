package driver

import (
	"maps"
	"reflect"
)

// Clone returns a deep copy of c.
func (c Config) Clone() Config {
	c.Env, c.Secrets, c.Labels = maps.Clone(c.Env), maps.Clone(c.Secrets), maps.Clone(c.Labels)
	if c.MaxConcurrency != nil {
		v := *c.MaxConcurrency
		c.MaxConcurrency = &v
	}
	return c
}

// Desired returns the configuration a function whose live configuration is
// live has once s is applied: what s manages replaces the live value, what
// it does not manage (nil maps, a nil Max, an empty Identity, a nil Bundle)
// keeps it. Empty maps come out nil, so SameConfig and reflect.DeepEqual
// agree. s has defaults filled in, as the portable type passes it.
func Desired(live Config, s *Spec) Config {
	c := live.Clone()
	c.Runtime, c.Entrypoint, c.MemoryMB, c.Timeout = s.Runtime, s.Entrypoint, s.MemoryMB, s.Timeout
	c.Architecture, c.Tracing, c.LogFormat = s.Architecture, s.Tracing, s.LogFormat
	if s.Identity != "" {
		c.Identity = s.Identity
	}
	if s.Bundle != nil {
		c.CodeDigest, c.CodeSize = s.Bundle.Digest, s.Bundle.Size
	}
	if s.Env != nil {
		c.Env = emptyToNil(s.Env)
	}
	if s.Secrets != nil {
		c.Secrets = emptyToNil(s.Secrets)
	}
	if s.Labels != nil {
		c.Labels = emptyToNil(s.Labels)
	}
	if s.Concurrency.Max != nil {
		v := *s.Concurrency.Max
		c.MaxConcurrency = &v
	}
	return c
}

// SameConfig reports whether a and b are equal, a nil map and an empty one
// alike.
func SameConfig(a, b Config) bool {
	a.Env, b.Env = emptyToNil(a.Env), emptyToNil(b.Env)
	a.Secrets, b.Secrets = emptyToNil(a.Secrets), emptyToNil(b.Secrets)
	a.Labels, b.Labels = emptyToNil(a.Labels), emptyToNil(b.Labels)
	return reflect.DeepEqual(a, b)
}

func emptyToNil(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}
