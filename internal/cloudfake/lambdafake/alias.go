package lambdafake

import (
	"maps"
	"net/http"
	"regexp"
	"slices"
)

// Aliases: create, read, list, update (with the RoutingConfig rules), delete.

// alias is an AliasConfiguration.
type alias struct {
	AliasArn        string         `json:"AliasArn"`
	Name            string         `json:"Name"`
	FunctionVersion string         `json:"FunctionVersion"`
	Description     string         `json:"Description,omitempty"`
	RoutingConfig   *RoutingConfig `json:"RoutingConfig,omitempty"`
	RevisionId      string         `json:"RevisionId"`
}

// RoutingConfig is an alias's AliasRoutingConfiguration.
type RoutingConfig struct {
	AdditionalVersionWeights map[string]float64 `json:"AdditionalVersionWeights,omitempty"`
}

var aliasNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)

func (s *Server) checkAliasTarget(f *function, primary string, rc *RoutingConfig) *apiError {
	if primary != "$LATEST" && f.version(primary) == nil {
		return notFound("Function not found: %s:%s", f.arn, primary)
	}
	if rc == nil || len(rc.AdditionalVersionWeights) == 0 {
		return nil
	}
	if len(rc.AdditionalVersionWeights) > 1 {
		return invalid("Number of items in AdditionalVersionWeights cannot be greater than 1")
	}
	for k, w := range rc.AdditionalVersionWeights {
		if !isNumeric(k) {
			return invalid("1 validation error detected: Value '%s' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [0-9]+]", k)
		}
		if w < 0 || w > 1 {
			return invalid("1 validation error detected: Value '%v' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must be between 0.0 and 1.0", w)
		}
		if primary == "$LATEST" {
			return invalid("$LATEST is not supported for an alias pointing to more than 1 version")
		}
		if k == primary {
			return invalid("Alias routing config cannot have the same version as the primary version: %s", k)
		}
		if f.version(k) == nil {
			return notFound("Function not found: %s:%s", f.arn, k)
		}
	}
	return nil
}

type aliasInput struct {
	Name            string         `json:"Name"`
	FunctionVersion *string        `json:"FunctionVersion"`
	Description     *string        `json:"Description"`
	RoutingConfig   *RoutingConfig `json:"RoutingConfig"`
	RevisionId      *string        `json:"RevisionId"`
}

func (s *Server) createAlias(r *http.Request, body []byte) (int, any, *apiError) {
	f, _, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	var in aliasInput
	if aerr := decode(body, &in); aerr != nil {
		return 0, nil, aerr
	}
	if !aliasNameRE.MatchString(in.Name) || isNumeric(in.Name) {
		return 0, nil, invalid("1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)", in.Name)
	}
	if in.FunctionVersion == nil {
		return 0, nil, invalid("1 validation error detected: Value null at 'functionVersion' failed to satisfy constraint: Member must not be null")
	}
	if in.Description != nil && len(*in.Description) > 256 {
		return 0, nil, invalid("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 256")
	}
	if f.aliases[in.Name] != nil {
		return 0, nil, conflict("Alias already exists: %s:%s", f.arn, in.Name)
	}
	if aerr := s.checkAliasTarget(f, *in.FunctionVersion, in.RoutingConfig); aerr != nil {
		return 0, nil, aerr
	}
	a := &alias{AliasArn: f.arn + ":" + in.Name, Name: in.Name, FunctionVersion: *in.FunctionVersion, RevisionId: newID()}
	if in.Description != nil {
		a.Description = *in.Description
	}
	if in.RoutingConfig != nil && len(in.RoutingConfig.AdditionalVersionWeights) > 0 {
		a.RoutingConfig = &RoutingConfig{AdditionalVersionWeights: maps.Clone(in.RoutingConfig.AdditionalVersionWeights)}
	}
	f.aliases[in.Name] = a
	return 201, *a, nil
}

func (s *Server) getAlias(r *http.Request, _ []byte) (int, any, *apiError) {
	f, _, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	a := f.aliases[r.PathValue("alias")]
	if a == nil {
		return 0, nil, notFound("Alias not found: %s:%s", f.arn, r.PathValue("alias"))
	}
	return 200, *a, nil
}

func (s *Server) listAliases(r *http.Request, _ []byte) (int, any, *apiError) {
	f, _, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	var all []alias
	for _, name := range slices.Sorted(maps.Keys(f.aliases)) {
		all = append(all, *f.aliases[name])
	}
	items, next := page(all, r)
	return 200, map[string]any{"Aliases": items, "NextMarker": next}, nil
}

func (s *Server) updateAlias(r *http.Request, body []byte) (int, any, *apiError) {
	f, _, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	a := f.aliases[r.PathValue("alias")]
	if a == nil {
		return 0, nil, notFound("Alias not found: %s:%s", f.arn, r.PathValue("alias"))
	}
	var in aliasInput
	if aerr := decode(body, &in); aerr != nil {
		return 0, nil, aerr
	}
	if in.RevisionId != nil && *in.RevisionId != a.RevisionId {
		return 0, nil, badRevision()
	}
	primary := a.FunctionVersion
	if in.FunctionVersion != nil {
		primary = *in.FunctionVersion
	}
	rc := a.RoutingConfig
	if in.RoutingConfig != nil {
		rc = in.RoutingConfig
	}
	if aerr := s.checkAliasTarget(f, primary, rc); aerr != nil {
		return 0, nil, aerr
	}
	if in.Description != nil && len(*in.Description) > 256 {
		return 0, nil, invalid("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 256")
	}
	moved := primary != a.FunctionVersion || !sameRouting(rc, a.RoutingConfig)
	a.FunctionVersion = primary
	if rc != nil && len(rc.AdditionalVersionWeights) > 0 {
		a.RoutingConfig = &RoutingConfig{AdditionalVersionWeights: maps.Clone(rc.AdditionalVersionWeights)}
	} else {
		a.RoutingConfig = nil
	}
	if in.Description != nil {
		a.Description = *in.Description
	}
	a.RevisionId = newID()
	if p := f.provisioned[a.Name]; p != nil && moved {
		// Lambda re-allocates the alias's provisioned concurrency over the new versions.
		s.startProvisioning(f, p)
	}
	return 200, *a, nil
}

func sameRouting(a, b *RoutingConfig) bool {
	var am, bm map[string]float64
	if a != nil {
		am = a.AdditionalVersionWeights
	}
	if b != nil {
		bm = b.AdditionalVersionWeights
	}
	return maps.Equal(am, bm)
}

func (s *Server) deleteAlias(r *http.Request, _ []byte) (int, any, *apiError) {
	f, _, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	if f.aliases[r.PathValue("alias")] == nil {
		return 0, nil, notFound("Alias not found: %s:%s", f.arn, r.PathValue("alias"))
	}
	delete(f.aliases, r.PathValue("alias"))
	delete(f.provisioned, r.PathValue("alias"))
	delete(f.urls, r.PathValue("alias"))
	delete(f.policies, r.PathValue("alias"))
	return 204, nil, nil
}
