package provider

import (
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
	for name, r := range s.Routes {
		if r == nil {
			continue
		}
		out.Routes[name] = routeFromDriver(r)
	}
	return out
}
