package main

import (
	"encoding/json"
	"reflect"
	"slices"
	"time"

	"github.com/invopop/jsonschema"

	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/localprovider"
	"github.com/updraft-dev/updraft/service"
)

// The JSON outputs of the commands (--output json). Each command writes one
// of these objects on stdout; `updraft schema --of COMMAND` prints its JSON
// Schema, generated from the type, and the end-to-end tests check every
// output they see against it.

type validateOutput struct {
	Valid   bool                   `json:"valid"`
	Targets []*service.TargetCheck `json:"targets"`
}

// planOutput is how service.Plan marshals (see its MarshalJSON).
type planOutput struct {
	Version    int                     `json:"version"`
	HasChanges bool                    `json:"hasChanges"`
	Spec       string                  `json:"spec"`
	SpecDigest string                  `json:"specDigest"`
	Functions  []*service.FunctionPlan `json:"functions"`
}

type deployOutput struct {
	Functions []*service.FunctionApply `json:"functions"`
}

type rolloutOutput struct {
	Functions []*service.FunctionRollout `json:"functions"`
}

type rollbackOutput struct {
	Functions []*service.FunctionRollback `json:"functions"`
}

type pruneOutput struct {
	Functions []*service.FunctionPrune `json:"functions"`
}

type destroyOutput struct {
	Functions []*service.FunctionDestroy `json:"functions"`
}

type statusOutput struct {
	Targets []*service.TargetStatus `json:"targets"`
}

type invokeOutput []invokeResult

type invokeResult struct {
	Function      string `json:"function"`
	Target        string `json:"target"`
	Revision      string `json:"revision,omitempty"`
	Payload       string `json:"payload,omitempty"`
	FunctionError string `json:"functionError,omitempty"`
	DurationMS    int64  `json:"durationMs"`
	Error         string `json:"error,omitempty"`
}

type logLine struct {
	Function string `json:"function"`
	Target   string `json:"target"`
	Line     string `json:"line"`
}

type versionOutput struct {
	Version  string `json:"version"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

type initOutput struct {
	Written []string `json:"written"`
	Runtime string   `json:"runtime,omitempty"`
}

// The local event commands' outputs; their stats are the library's.
type queueSendOutput struct {
	Queue      string   `json:"queue"`
	MessageIDs []string `json:"messageIds"`
}

type peekedMessage struct {
	ID         string            `json:"id"`
	Body       string            `json:"body"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Group      string            `json:"group,omitempty"`
	Sent       time.Time         `json:"sent"`
	Receives   int               `json:"receives"`
	From       string            `json:"from,omitempty"`
}

type streamAppendOutput struct {
	Stream          string   `json:"stream"`
	SequenceNumbers []string `json:"sequenceNumbers"`
}

type bucketDirOutput struct {
	Bucket string `json:"bucket"`
	Dir    string `json:"dir"`
}

// errorOutput is what every command writes on failure.
type errorOutput struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// outputs maps each command to its output type.
var outputs = map[string]any{
	"validate": validateOutput{}, "plan": planOutput{}, "deploy": deployOutput{}, "rollout": rolloutOutput{},
	"rollback": rollbackOutput{}, "prune": pruneOutput{}, "destroy": destroyOutput{}, "status": statusOutput{},
	"invoke": invokeOutput{}, "logs": logLine{}, "version": versionOutput{}, "init": initOutput{}, "error": errorOutput{},
	"queue send": queueSendOutput{}, "queue stats": localprovider.QueueStats{}, "queue peek": []peekedMessage{},
	"stream append": streamAppendOutput{}, "stream stats": localprovider.StreamStats{},
	"bucket dir": bucketDirOutput{}, "bucket stats": localprovider.StorageStats{},
}

// outputSchema returns the JSON Schema of command's JSON output.
func outputSchema(command string) ([]byte, error) {
	v, ok := outputs[command]
	if !ok {
		names := make([]string, 0, len(outputs))
		for k := range outputs {
			names = append(names, k)
		}
		slices.Sort(names)
		return nil, usageErr("no JSON output for %q: use one of %v", command, names)
	}
	r := &jsonschema.Reflector{FieldNameTag: "json", Mapper: schemaMapper}
	s := r.Reflect(v)
	s.Title = "updraft " + command + " --output json"
	return json.MarshalIndent(s, "", "  ")
}

// schemaMapper describes types whose JSON is not their Go shape.
func schemaMapper(t reflect.Type) *jsonschema.Schema {
	switch t {
	case reflect.TypeFor[*deploy.PlanResult](), reflect.TypeFor[deploy.PlanResult]():
		return &jsonschema.Schema{Type: "object"}
	case reflect.TypeFor[provider.ErrorCode]():
		return &jsonschema.Schema{Type: "string"}
	}
	return nil
}
