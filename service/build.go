package service

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/trigger"
)

// Service is a checked spec file: every function with the Spec of each of
// its targets, ready for Open.
type Service struct {
	// Name is the file name as given; Digest the SHA-256 of its bytes.
	Name, Digest string
	// File is the file as read, variables expanded.
	File *File
	// Functions are sorted by name.
	Functions []*ServiceFunction
}

// ServiceFunction is one function of a Service.
type ServiceFunction struct {
	Name string
	// Spec is the function's Spec before per-target overrides.
	Spec    *provider.Spec
	Targets []*ServiceTarget
}

// ServiceTarget is one target of a function with its effective Spec.
type ServiceTarget struct {
	URL string
	// Spec is the function's Spec with the target's override applied; it
	// is the same pointer as ServiceFunction.Spec when there is none.
	Spec *provider.Spec
}

func build(name, dir string, f *File) (*Service, error) {
	svc := &Service{Name: name, File: f}
	for _, fname := range sortedKeys(f.Functions) {
		ff := f.Functions[fname]
		spec, err := ff.spec(dir)
		if err != nil {
			return nil, &FileError{File: name, Field: "functions." + fname, Msg: err.Error()}
		}
		sf := &ServiceFunction{Name: fname, Spec: spec}
		for _, t := range ff.Targets {
			st := &ServiceTarget{URL: t.URL, Spec: spec}
			if t.Override != nil {
				if st.Spec, err = t.Override.apply(spec); err != nil {
					return nil, &FileError{File: name, Field: "functions." + fname, Msg: err.Error()}
				}
			}
			sf.Targets = append(sf.Targets, st)
		}
		svc.Functions = append(svc.Functions, sf)
	}
	return svc, nil
}

func (fn *Function) spec(dir string) (*provider.Spec, error) {
	s := &provider.Spec{
		Runtime: fn.Runtime, Entrypoint: fn.Entrypoint, MemoryMB: fn.MemoryMB, Timeout: fn.Timeout.Value(),
		Architecture: fn.Architecture, Env: fn.Env, Secrets: fn.Secrets, Tracing: fn.Tracing, LogFormat: fn.LogFormat,
		Labels: fn.Labels, Identity: fn.Identity, Route: fn.Route,
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, filepath.FromSlash(p))
	}
	switch {
	case fn.Code.Go != "":
		s.Code = bundle.GoSource(abs(fn.Code.Go))
	case fn.Code.Dir != "":
		s.Code = bundle.Dir(abs(fn.Code.Dir))
	case fn.Code.Zip != "":
		s.Code = bundle.Zip(abs(fn.Code.Zip))
	case fn.Code.Function != "":
		s.Code = bundle.GoFunction(abs(fn.Code.Function))
	}
	if c := fn.Concurrency; c != nil {
		s.Concurrency = provider.Concurrency{Provisioned: c.Provisioned, Max: c.Max}
	}
	ts, err := toTriggers(fn.Triggers)
	if err != nil {
		return nil, err
	}
	s.Triggers = ts
	return s, nil
}

func toTriggers(ts []Trigger) ([]trigger.Trigger, error) {
	if ts == nil {
		return nil, nil
	}
	out := make([]trigger.Trigger, 0, len(ts))
	for i := range ts {
		t, err := ts[i].toTrigger()
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// apply returns a copy of s with the override's fields set.
func (o *Override) apply(s *provider.Spec) (*provider.Spec, error) {
	c := s.Clone()
	if o.MemoryMB != 0 {
		c.MemoryMB = o.MemoryMB
	}
	if o.Timeout != "" {
		c.Timeout = o.Timeout.Value()
	}
	if o.Architecture != "" {
		c.Architecture = o.Architecture
	}
	if o.Identity != "" {
		c.Identity = o.Identity
	}
	if cc := o.Concurrency; cc != nil {
		if cc.Provisioned != nil {
			c.Concurrency.Provisioned = cc.Provisioned
		}
		if cc.Max != nil {
			c.Concurrency.Max = cc.Max
		}
	}
	c.Env = merge(c.Env, o.Env)
	c.Secrets = merge(c.Secrets, o.Secrets)
	c.Labels = merge(c.Labels, o.Labels)
	if o.Triggers != nil {
		ts, err := toTriggers(o.Triggers)
		if err != nil {
			return nil, err
		}
		c.Triggers = ts
	}
	return c, nil
}

func merge(base, over map[string]string) map[string]string {
	if over == nil {
		return base
	}
	out := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// toTrigger converts t to its portable value.
func (t *Trigger) toTrigger() (trigger.Trigger, error) {
	switch t.Kind {
	case "http":
		return trigger.HTTP{Key: t.Key, Auth: trigger.AuthMode(t.Auth), CORSOrigins: t.CORSOrigins}, nil
	case "queue":
		return trigger.Queue{Key: t.Key, Source: t.Source, BatchSize: t.BatchSize, MaxBatchingWindow: t.MaxBatchingWindow.Value()}, nil
	case "stream":
		st := trigger.Stream{Key: t.Key, Source: t.Source, StartingPosition: trigger.StartingPosition(t.StartingPosition), BatchSize: t.BatchSize, BisectOnError: t.BisectOnError}
		if t.MaxRetries != nil {
			st.MaxRetries = new(*t.MaxRetries)
		}
		return st, nil
	case "schedule":
		var payload []byte
		if t.Payload != "" {
			payload = []byte(t.Payload)
		}
		return trigger.Schedule{Key: t.Key, Cron: t.Cron, Rate: t.Rate.Value(), TimeZone: t.TimeZone, Payload: payload}, nil
	case "storage":
		var evs []trigger.StorageEvent
		for _, e := range t.Events {
			evs = append(evs, trigger.StorageEvent(e))
		}
		return trigger.Storage{Key: t.Key, Bucket: t.Bucket, Events: evs, Prefix: t.Prefix, Suffix: t.Suffix}, nil
	}
	return nil, fmt.Errorf("trigger kind %q: use http, queue, stream, schedule or storage", t.Kind)
}

// strategy returns the deploy strategy the policy names.
func (r *Rollout) strategy() (deploy.Strategy, error) {
	var s deploy.Strategy
	switch r.Strategy {
	case "", "blue-green":
		s = deploy.BlueGreen()
	case "all-at-once":
		s = deploy.AllAtOnce()
	case "canary":
		if len(r.Steps) == 0 {
			return s, fmt.Errorf("canary needs steps, such as steps: [10, 50, 100]")
		}
		s = deploy.Canary(r.Steps...)
	case "linear":
		if r.Step <= 0 || r.Interval.Value() <= 0 {
			return s, fmt.Errorf("linear needs step (a percentage) and interval, such as step: 10 and interval: 5m")
		}
		s = deploy.Linear(r.Step, r.Interval.Value())
	default:
		return s, fmt.Errorf("strategy %q: use all-at-once, blue-green, canary or linear", r.Strategy)
	}
	prev := -1
	for _, p := range s.Steps {
		if p < 0 || p > 100 || p <= prev {
			return s, fmt.Errorf("steps %v: use increasing percentages from 0 to 100", s.Steps)
		}
		prev = p
	}
	return s, nil
}

// Gates returns the policy's gates.
func (r *Rollout) gates() []deploy.Gate {
	var out []deploy.Gate
	for _, g := range r.Gates {
		switch {
		case g.Invoke != nil:
			p := g.Invoke.Payload
			if p == "" {
				p = "{}"
			}
			out = append(out, deploy.InvokeGate([]byte(p)))
		case g.ErrorRate != nil:
			out = append(out, deploy.ErrorRateGate(g.ErrorRate.Max, g.ErrorRate.MinInvocations))
		case g.Throttle != nil:
			out = append(out, deploy.ThrottleGate(g.Throttle.Max, g.Throttle.MinInvocations))
		}
	}
	return out
}

// redactURL hides credentials a URL might carry, for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if i := strings.Index(s, "://"); i >= 0 {
			return s[:i+3] + "…"
		}
		return "[unparsable URL]"
	}
	q := u.Query()
	for k := range q {
		q.Set(k, "…")
	}
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
