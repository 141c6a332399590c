// Package service is updraft's service model: many functions, each with
// its Spec and its targets, described once in a spec file (updraft.yaml,
// or the same in JSON), planned, applied and rolled out together. The
// updraft CLI is a thin layer over it; Go programs can use it the same way.
//
// A spec file:
//
//	version: 1
//	functions:
//	  hello:
//	    code: {go: ./functions/hello}
//	    runtime: go
//	    memory: 256
//	    timeout: 10s
//	    env: {GREETING: hello, STAGE: "${env:STAGE:-dev}"}
//	    secrets: {DB_PASSWORD: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db"}
//	    triggers:
//	      - {kind: http, key: web, auth: none}
//	      - {kind: schedule, key: tick, cron: "*/5 * * * *"}
//	    targets:
//	      - url: local://hello
//	      - url: awslambda://hello?region=eu-west-1
//	        override: {memory: 512}
//	rollout:
//	  strategy: canary
//	  steps: [10, 50, 100]
//	  interval: 1m
//	  gates:
//	    - invoke: {payload: "{}"}
//	    - errorRate: {max: 0.01, minInvocations: 100}
//
// Load checks everything before any target is opened and reports every
// problem at once, each as file:line:column, the field's path and what to
// write instead. Absent env, secrets, labels, triggers and
// concurrency.provisioned are not managed; an empty value clears them.
// String values may use ${env:NAME} (an error when unset) or
// ${env:NAME:-default}; $$ is a literal $. Secret values never belong in
// the file: an env entry whose name or value looks like a secret is
// refused, and secrets takes references only.
//
// The file's JSON Schema, generated from these types, is Schema(); the
// repository ships it as schema/updraft.schema.json for editors.
package service
