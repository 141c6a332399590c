package service

import (
	"fmt"
	"time"
)

// File is the content of a spec file (updraft.yaml or JSON): the functions
// of one service, their targets and the rollout policy. Every field has a
// JSON name; YAML uses the same names.
type File struct {
	// Version is the file format version; 1 is the only one.
	Version int `json:"version" jsonschema:"enum=1"`
	// Functions maps function names to their description. The name is used
	// on the command line (--function) and in plans; the deployed name is in
	// each target URL.
	Functions map[string]*Function `json:"functions" jsonschema:"minProperties=1"`
	// Rollout is the default rollout policy of `updraft rollout`.
	Rollout *Rollout `json:"rollout,omitempty"`
}

// Function describes one function once, for all its targets.
//
// For env, secrets, labels, triggers and concurrency.provisioned, a field
// that is absent is not managed (what is live stays), and an empty value
// ({} or []) clears it.
type Function struct {
	// Code is where the code comes from; paths are relative to the file.
	Code Code `json:"code"`
	// Runtime is a portable runtime id: go, nodejs22, python3.13, java21, …
	Runtime string `json:"runtime" jsonschema:"minLength=1"`
	// Entrypoint is the handler, runtime specific ("" for Go).
	Entrypoint string `json:"entrypoint,omitempty"`
	// MemoryMB is the memory size in MB; 0 or absent is the target's default.
	MemoryMB int `json:"memory,omitempty" jsonschema:"minimum=0"`
	// Timeout bounds one invocation ("10s", "5m"); absent is the target's default.
	Timeout Duration `json:"timeout,omitempty"`
	// Architecture is amd64 or arm64; absent is the target's default.
	Architecture string `json:"architecture,omitempty" jsonschema:"enum=,enum=amd64,enum=arm64"`
	// Concurrency sets provisioned and maximum instances.
	Concurrency *Concurrency `json:"concurrency,omitempty"`
	// Env holds plain environment variables. Values may use ${env:NAME}.
	// Secret values never belong here: use secrets.
	Env map[string]string `json:"env,omitempty"`
	// Secrets maps environment variable names to secret references (a
	// Secrets Manager or SSM ARN, a Secret Manager version, a Key Vault
	// URI), never to values.
	Secrets map[string]string `json:"secrets,omitempty"`
	// Triggers invoke the function, each owned by its key.
	Triggers []Trigger `json:"triggers,omitempty"`
	// Tracing turns on the cloud's distributed tracing.
	Tracing bool `json:"tracing,omitempty"`
	// LogFormat is text or json; absent is the target's default.
	LogFormat string `json:"logFormat,omitempty" jsonschema:"enum=,enum=text,enum=json"`
	// Labels are tags or labels on the function.
	Labels map[string]string `json:"labels,omitempty"`
	// Identity is the role, service account or managed identity.
	Identity string `json:"identity,omitempty"`
	// Route is the route (alias) rollouts shift; absent is "live".
	Route string `json:"route,omitempty"`
	// Targets are where the function is deployed.
	Targets []Target `json:"targets" jsonschema:"minItems=1"`
}

// Code names the function's code: exactly one of its fields is set.
type Code struct {
	// Go is the directory of a Go main package, cross-compiled per target.
	Go string `json:"go,omitempty"`
	// Dir is a directory zipped as it is.
	Dir string `json:"dir,omitempty"`
	// Zip is an existing zip file.
	Zip string `json:"zip,omitempty"`
	// Function is the directory of a Go library package written with
	// package function: each target gets the form it needs (a Lambda
	// bootstrap, a Cloud Functions source zip, an Azure custom handler),
	// with no main of its own.
	Function string `json:"function,omitempty"`
}

// Concurrency bounds instances; absent fields are not managed.
type Concurrency struct {
	// Provisioned instances are kept warm on the route.
	Provisioned *int `json:"provisioned,omitempty" jsonschema:"minimum=0"`
	// Max caps concurrent instances.
	Max *int `json:"max,omitempty" jsonschema:"minimum=1"`
}

// Target is one place the function is deployed, by URL, with optional
// per-target overrides.
type Target struct {
	// URL names the target: local://NAME, awslambda://NAME?region=…, …
	URL string `json:"url" jsonschema:"minLength=3"`
	// Override changes fields of the function for this target: scalars
	// replace, maps are merged key by key, triggers replace.
	Override *Override `json:"override,omitempty"`
}

// Override is the part of a Function a target may change.
type Override struct {
	MemoryMB     int               `json:"memory,omitempty" jsonschema:"minimum=0"`
	Timeout      Duration          `json:"timeout,omitempty"`
	Architecture string            `json:"architecture,omitempty" jsonschema:"enum=,enum=amd64,enum=arm64"`
	Concurrency  *Concurrency      `json:"concurrency,omitempty"`
	Env          map[string]string `json:"env,omitempty"`
	Secrets      map[string]string `json:"secrets,omitempty"`
	Triggers     []Trigger         `json:"triggers,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	Identity     string            `json:"identity,omitempty"`
}

// Trigger is one trigger; Kind says which fields apply:
//
//	http:     key, auth (iam|none), corsOrigins
//	queue:    key, source, batchSize, maxBatchingWindow
//	stream:   key, source, startingPosition (latest|trim_horizon), batchSize,
//	          maxRetries, bisectOnError
//	schedule: key, cron or rate, timeZone, payload
//	storage:  key, bucket, events (created|deleted), prefix, suffix
type Trigger struct {
	Kind              string   `json:"kind" jsonschema:"enum=http,enum=queue,enum=stream,enum=schedule,enum=storage"`
	Key               string   `json:"key" jsonschema:"pattern=^[a-z0-9]([a-z0-9-]*[a-z0-9])?$,maxLength=40"`
	Auth              string   `json:"auth,omitempty" jsonschema:"enum=iam,enum=none"`
	CORSOrigins       []string `json:"corsOrigins,omitempty"`
	Source            string   `json:"source,omitempty"`
	BatchSize         int      `json:"batchSize,omitempty" jsonschema:"minimum=0"`
	MaxBatchingWindow Duration `json:"maxBatchingWindow,omitempty"`
	StartingPosition  string   `json:"startingPosition,omitempty" jsonschema:"enum=latest,enum=trim_horizon"`
	Cron              string   `json:"cron,omitempty"`
	Rate              Duration `json:"rate,omitempty"`
	TimeZone          string   `json:"timeZone,omitempty"`
	Payload           string   `json:"payload,omitempty"`
	Bucket            string   `json:"bucket,omitempty"`
	Events            []string `json:"events,omitempty"`
	Prefix            string   `json:"prefix,omitempty"`
	Suffix            string   `json:"suffix,omitempty"`

	// MaxRetries is how often a stream batch that failed is retried
	// before its records are skipped: absent means the cloud's default
	// (on Lambda, until the records expire), 0 means no retry.
	MaxRetries *int `json:"maxRetries,omitempty" jsonschema:"minimum=0,maximum=10000"`
	// BisectOnError splits a failed stream batch in two and retries each
	// half apart (Lambda and local://; Cloud Functions and Azure refuse it).
	BisectOnError bool `json:"bisectOnError,omitempty"`
}

// triggerFields lists, per kind, the fields besides kind and key that
// apply; the others must be absent.
var triggerFields = map[string][]string{
	"http":     {"auth", "corsOrigins"},
	"queue":    {"source", "batchSize", "maxBatchingWindow"},
	"stream":   {"source", "startingPosition", "batchSize", "maxRetries", "bisectOnError"},
	"schedule": {"cron", "rate", "timeZone", "payload"},
	"storage":  {"bucket", "events", "prefix", "suffix"},
}

// Rollout is a rollout policy.
type Rollout struct {
	// Strategy is all-at-once, blue-green (the default), canary or linear.
	Strategy string `json:"strategy,omitempty" jsonschema:"enum=all-at-once,enum=blue-green,enum=canary,enum=linear"`
	// Steps are the canary percentages, ending at 100 ([10, 50, 100]).
	Steps []int `json:"steps,omitempty"`
	// Step is the linear strategy's percentage per interval.
	Step int `json:"step,omitempty" jsonschema:"minimum=0,maximum=100"`
	// Interval is the bake time after each shift ("5m").
	Interval Duration `json:"interval,omitempty"`
	// Gates run after each step; any failure rolls everything back.
	Gates []Gate `json:"gates,omitempty"`
	// Lockstep is "all" (every function and target move together, and a
	// failure anywhere rolls back all; the default) or "function" (each
	// function rolls out on its own, its targets in lockstep).
	Lockstep string `json:"lockstep,omitempty" jsonschema:"enum=all,enum=function"`
}

// Gate is one health gate: exactly one field is set.
type Gate struct {
	// Invoke calls the candidate once and fails on a function error.
	Invoke *InvokeGate `json:"invoke,omitempty"`
	// ErrorRate fails when the candidate's error rate passes Max.
	ErrorRate *RateGate `json:"errorRate,omitempty"`
	// Throttle fails when the candidate's throttle rate passes Max.
	Throttle *RateGate `json:"throttle,omitempty"`
}

// InvokeGate is a smoke invocation of the candidate.
type InvokeGate struct {
	// Payload is the event sent (JSON); absent sends {}.
	Payload string `json:"payload,omitempty"`
}

// RateGate bounds a rate of the candidate's invocations.
type RateGate struct {
	// Max is the highest allowed rate, from 0 to 1.
	Max float64 `json:"max" jsonschema:"minimum=0,maximum=1"`
	// MinInvocations is how many invocations the rate needs before it counts.
	MinInvocations int64 `json:"minInvocations,omitempty" jsonschema:"minimum=0"`
}

// Duration is a duration written as a Go duration string: "10s",
// "1m30s", "2h". Load checks it, with its position.
type Duration string

// Value returns the duration; 0 for "" (and for a malformed string, which
// Load has refused).
func (d Duration) Value() time.Duration {
	v, _ := time.ParseDuration(string(d))
	return v
}

// check reports whether d is empty or a valid, non-negative duration.
func (d Duration) check() error {
	if d == "" {
		return nil
	}
	v, err := time.ParseDuration(string(d))
	if err != nil {
		return fmt.Errorf("duration %q: write a number with a unit, such as 10s, 5m or 1h30m", string(d))
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", string(d))
	}
	return nil
}
