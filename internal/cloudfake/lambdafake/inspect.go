package lambdafake

import (
	"maps"
	"slices"
	"sort"
	"time"
)

// What tests read of the fake's state, and edits as another tool would make them.

// Functions lists the names of the functions, sorted.
func (s *Server) Functions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := slices.Collect(maps.Keys(s.fns))
	sort.Strings(names)
	return names
}

// Function returns $LATEST's configuration of function name.
func (s *Server) Function(name string) (Config, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fns[name]
	if f == nil {
		return Config{}, false
	}
	f.refresh(time.Now())
	return clone(f.cfg), true
}

// Versions lists the published version numbers of function name.
func (s *Server) Versions(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fns[name]
	if f == nil {
		return nil
	}
	var out []string
	for _, v := range f.versions {
		out = append(out, v.cfg.Version)
	}
	return out
}

// Alias returns an alias's version, routing weights and description.
func (s *Server) Alias(fn, name string) (version string, weights map[string]float64, description string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fns[fn]
	if f == nil || f.aliases[name] == nil {
		return "", nil, "", false
	}
	a := f.aliases[name]
	if a.RoutingConfig != nil {
		weights = maps.Clone(a.RoutingConfig.AdditionalVersionWeights)
	}
	return a.FunctionVersion, weights, a.Description, true
}

// RemoveTag deletes tag key of function fn, as another tool would.
func (s *Server) RemoveTag(fn, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.fns[fn]; f != nil {
		delete(f.tags, key)
	}
}

// Tags returns the tags of function name.
func (s *Server) Tags(fn string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.fns[fn]; f != nil {
		return maps.Clone(f.tags)
	}
	return nil
}
