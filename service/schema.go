package service

import (
	_ "embed"
	"encoding/json"
	"slices"

	"github.com/invopop/jsonschema"
)

//go:embed updraft.schema.json
var schemaJSON []byte

// SchemaID is the $id of the spec file's JSON Schema.
const SchemaID = "https://updraft.dev/schema/updraft.schema.json"

// Schema returns the JSON Schema (draft 2020-12) of the spec file, as
// shipped in this package's updraft.schema.json: editors use it to
// validate and complete updraft.yaml. It is generated from File and its
// field types (with their doc comments), and a test keeps the file in step
// with them. Load checks more than a schema can say (secret values,
// variables, trigger rules, durations).
func Schema() []byte { return slices.Clone(schemaJSON) }

// generateSchema builds the schema from the types; dir is this package's
// source directory, whose comments become descriptions.
func generateSchema(dir string) ([]byte, error) {
	r := &jsonschema.Reflector{ExpandedStruct: true, FieldNameTag: "json"}
	if err := r.AddGoComments("github.com/updraft-dev/updraft/service", dir); err != nil {
		return nil, err
	}
	s := r.Reflect(&File{})
	s.ID = SchemaID
	s.Title = "updraft spec file"
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// JSONSchema implements jsonschema's customisation hook: a duration is a
// Go duration string.
func (Duration) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "string", Pattern: `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`,
		Description: "a duration such as 10s, 5m or 1h30m", Examples: []any{"10s", "5m"}}
}

// JSONSchemaExtend limits a code source to one of its fields.
func (Code) JSONSchemaExtend(s *jsonschema.Schema) {
	one := uint64(1)
	s.MinProperties, s.MaxProperties = &one, &one
}

// JSONSchemaExtend limits a gate to one of its fields.
func (Gate) JSONSchemaExtend(s *jsonschema.Schema) {
	one := uint64(1)
	s.MinProperties, s.MaxProperties = &one, &one
}

// JSONSchemaExtend makes each trigger kind take only its own fields.
func (Trigger) JSONSchemaExtend(s *jsonschema.Schema) {
	s.Required = []string{"kind", "key"}
	for _, kind := range slices.Sorted(func(yield func(string) bool) {
		for k := range triggerFields {
			if !yield(k) {
				return
			}
		}
	}) {
		names := append([]any{"kind", "key"}, toAny(triggerFields[kind])...)
		s.AllOf = append(s.AllOf, &jsonschema.Schema{
			If:   kindIs(kind),
			Then: &jsonschema.Schema{PropertyNames: &jsonschema.Schema{Enum: names}},
		})
	}
}

// kindIs is the schema of a trigger whose kind is kind.
func kindIs(kind string) *jsonschema.Schema {
	p := jsonschema.NewProperties()
	p.Set("kind", &jsonschema.Schema{Const: kind})
	return &jsonschema.Schema{Properties: p, Required: []string{"kind"}}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
