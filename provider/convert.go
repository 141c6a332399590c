package provider

import (
	"maps"
	"slices"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider/driver"
)

// Desired returns the configuration a function whose live configuration
// is live has once s is applied on a target with caps: s with the target's
// defaults filled in, and the live values of what s does not manage. b is
// the code built for that target (nil when s.Code is not managed). Plans
// compare it with live to find changes.
func Desired(live Config, s *Spec, b *bundle.Bundle, caps Capabilities) Config {
	ds := toDriverSpec(s, caps)
	ds.Bundle = b
	return configFromDriver(driver.Desired(configToDriver(live), ds))
}

// DriverCapabilities returns the driver's copy of c. It is intended for
// adapters whose exported Capabilities function returns the portable
// type, as their driver's Capabilities method must return the driver's.
func DriverCapabilities(c Capabilities) driver.Capabilities {
	return driver.Capabilities{
		Provider: c.Provider, Memory: driver.Range(c.Memory), MemoryValues: slices.Clone(c.MemoryValues),
		DefaultMemoryMB: c.DefaultMemoryMB, DefaultTimeout: c.DefaultTimeout,
		MaxTimeout: c.MaxTimeout, MaxEventTimeout: c.MaxEventTimeout,
		Runtimes: slices.Clone(c.Runtimes), Architectures: slices.Clone(c.Architectures), Triggers: slices.Clone(c.Triggers),
		MaxEventTriggers: c.MaxEventTriggers,
		WeightedTraffic:  c.WeightedTraffic, Provisioned: c.Provisioned, MaxConcurrency: c.MaxConcurrency,
		MaxProvisioned: c.MaxProvisioned, Secrets: c.Secrets, MaxEnvBytes: c.MaxEnvBytes,
		Env: driver.EnvRules{NamePattern: c.Env.NamePattern, NameRule: c.Env.NameRule,
			ReservedNames: slices.Clone(c.Env.ReservedNames), ReservedPrefixes: slices.Clone(c.Env.ReservedPrefixes),
			ForbiddenValueBytes: c.Env.ForbiddenValueBytes},
		CodeForm: c.CodeForm, CodeLimits: c.CodeLimits,
	}
}

func capabilitiesFromDriver(c driver.Capabilities) Capabilities {
	return Capabilities{
		Provider: c.Provider, Memory: Range(c.Memory), MemoryValues: slices.Clone(c.MemoryValues),
		DefaultMemoryMB: c.DefaultMemoryMB, DefaultTimeout: c.DefaultTimeout,
		MaxTimeout: c.MaxTimeout, MaxEventTimeout: c.MaxEventTimeout,
		Runtimes: slices.Clone(c.Runtimes), Architectures: slices.Clone(c.Architectures), Triggers: slices.Clone(c.Triggers),
		MaxEventTriggers: c.MaxEventTriggers,
		WeightedTraffic:  c.WeightedTraffic, Provisioned: c.Provisioned, MaxConcurrency: c.MaxConcurrency,
		MaxProvisioned: c.MaxProvisioned, Secrets: c.Secrets, MaxEnvBytes: c.MaxEnvBytes,
		Env: EnvRules{NamePattern: c.Env.NamePattern, NameRule: c.Env.NameRule,
			ReservedNames: slices.Clone(c.Env.ReservedNames), ReservedPrefixes: slices.Clone(c.Env.ReservedPrefixes),
			ForbiddenValueBytes: c.Env.ForbiddenValueBytes},
		CodeForm: c.CodeForm, CodeLimits: c.CodeLimits,
	}
}

func applyOptionsToDriver(o *ApplyOptions) *driver.ApplyOptions {
	return &driver.ApplyOptions{Publish: o.Publish, IfMatch: o.IfMatch, IfNotExist: o.IfNotExist, BeforeApply: o.BeforeApply}
}

func applyResultFromDriver(r *driver.ApplyResult) *ApplyResult {
	return &ApplyResult{Revision: revisionFromDriver(r.Revision), Created: r.Created, Changed: r.Changed,
		Published: r.Published, UploadedBytes: r.UploadedBytes}
}

func invokeResultFromDriver(r *driver.InvokeResult) *InvokeResult {
	return &InvokeResult{Revision: r.Revision, Payload: r.Payload, FunctionError: r.FunctionError, Duration: r.Duration}
}

func metricsQueryToDriver(q *MetricsQuery) *driver.MetricsQuery {
	return &driver.MetricsQuery{Route: q.Route, Revision: q.Revision, Since: q.Since, Until: q.Until}
}

func configToDriver(c Config) driver.Config {
	return driver.Config{
		Runtime: c.Runtime, Entrypoint: c.Entrypoint, CodeDigest: c.CodeDigest, CodeSize: c.CodeSize,
		MemoryMB: c.MemoryMB, Timeout: c.Timeout, Architecture: c.Architecture,
		MaxConcurrency: cloneInt(c.MaxConcurrency), Env: cloneMap(c.Env), Secrets: cloneMap(c.Secrets),
		Tracing: c.Tracing, LogFormat: c.LogFormat, Labels: cloneMap(c.Labels), Identity: c.Identity,
	}
}

func configFromDriver(c driver.Config) Config {
	return Config{
		Runtime: c.Runtime, Entrypoint: c.Entrypoint, CodeDigest: c.CodeDigest, CodeSize: c.CodeSize,
		MemoryMB: c.MemoryMB, Timeout: c.Timeout, Architecture: c.Architecture,
		MaxConcurrency: cloneInt(c.MaxConcurrency), Env: cloneMap(c.Env), Secrets: cloneMap(c.Secrets),
		Tracing: c.Tracing, LogFormat: c.LogFormat, Labels: cloneMap(c.Labels), Identity: c.Identity,
	}
}

func revisionFromDriver(r *driver.Revision) *Revision {
	if r == nil {
		return nil
	}
	return &Revision{ID: r.ID, CodeDigest: r.CodeDigest, Created: r.Created, Config: configFromDriver(r.Config)}
}

func markerFromDriver(m *driver.Marker) *Marker {
	if m == nil {
		return nil
	}
	return &Marker{ID: m.ID, Holder: m.Holder, Stable: m.Stable, Candidate: m.Candidate, Step: m.Step, Percent: m.Percent,
		Started: m.Started, Heartbeat: m.Heartbeat, Lease: m.Lease}
}

func markerToDriver(m *Marker) *driver.Marker {
	if m == nil {
		return nil
	}
	return &driver.Marker{ID: m.ID, Holder: m.Holder, Stable: m.Stable, Candidate: m.Candidate, Step: m.Step, Percent: m.Percent,
		Started: m.Started, Heartbeat: m.Heartbeat, Lease: m.Lease}
}

func verdictsFromDriver(v *driver.Verdicts) *Verdicts {
	if v == nil {
		return nil
	}
	return &Verdicts{Good: v.Good, Failed: slices.Clone(v.Failed)}
}

func verdictsToDriver(v *Verdicts) *driver.Verdicts {
	if v == nil {
		return nil
	}
	return &driver.Verdicts{Good: v.Good, Failed: slices.Clone(v.Failed)}
}

func routeFromDriver(r *driver.Route) *Route {
	rt := &Route{Name: r.Name, Traffic: Traffic(r.Traffic), ETag: r.ETag, Marker: markerFromDriver(r.Marker),
		Verdicts: verdictsFromDriver(r.Verdicts)}
	if r.Provisioned != nil {
		p := Provisioned(*r.Provisioned)
		rt.Provisioned = &p
	}
	return rt
}

func stateFromDriver(s *driver.State) *State {
	out := &State{Name: s.Name, Config: configFromDriver(s.Config), ETag: s.ETag, Endpoint: s.Endpoint,
		Routes: make(map[string]*Route, len(s.Routes))}
	if s.Triggers != nil {
		out.Triggers = append(out.Triggers, s.Triggers...)
	}
	out.TriggerDrift = maps.Clone(s.TriggerDrift)
	for name, r := range s.Routes {
		if r == nil {
			continue
		}
		out.Routes[name] = routeFromDriver(r)
	}
	return out
}
