// Command updraft plans, deploys and rolls out the serverless functions a
// spec file describes, from CI pipelines and terminals. It is a thin layer
// over the library (package service, then deploy and provider): everything
// it does, a Go program can do the same way.
//
// # Commands
//
//	updraft init [DIR]      write a starter updraft.yaml and function (local://)
//	updraft validate        check the file and every target's limits; no cloud call
//	updraft plan [--out F]  show the changes; exit 0 none, 2 changes, 1 error
//	updraft deploy [--plan F]  apply (from a saved plan: refused when stale)
//	updraft rollout         new revision, traffic in steps, gates, automatic rollback
//	updraft rollback        back to the last known good revision (or --revision)
//	updraft status          revisions, traffic, rollout and lease, verdicts, provisioned
//	updraft invoke          run the function once per selected target
//	updraft logs            a local:// function's log
//	updraft prune           delete old revisions, never one in use or last known good
//	updraft destroy --yes   delete the functions
//	updraft dev             serve the local:// targets on a stable address until Ctrl-C
//	updraft queue send|stats|peek     a local:// queue: send messages, count, look inside
//	updraft stream append|stats       a local:// change stream: append changes, positions
//	updraft bucket dir|stats          a local:// bucket: its directory, its events
//	updraft bundle PATH     build a reproducible zip
//	updraft schema          the spec file's JSON Schema
//	updraft version
//
// Every command takes --spec FILE (default updraft.yaml, else
// updraft.json), --function NAME and --target URL to select (repeatable),
// and --output text|json.
//
// # Exit codes
//
// 0 success; 1 failure; 2 (plan only) there are changes, as terraform plan
// -detailed-exitcode; 64 a bad command line (never 2, so that a typo is not
// taken for changes).
//
// # JSON output
//
// With --output json each command writes one JSON object on stdout (logs:
// one object a line). A failure that has no result of its own writes
// {"error": {"code", "message"}} there instead, with code one of
// provider's error codes ("InvalidArgument", "FailedPrecondition", …); a
// result that records a failure (a rolled-back rollout) is written as the
// result, with a non-zero exit. `updraft schema --of COMMAND` prints the
// JSON Schema of each shape (generated from the types; the end-to-end
// tests check every output against it). The shapes are the library's
// result types, whose JSON field names are stable:
//
//	validate  {"valid", "targets": [service.TargetCheck]}
//	plan      service.Plan: {"version": 1, "hasChanges", "spec", "specDigest",
//	          "functions": [{"function", "targets": [deploy.TargetPlan]}]}
//	          (--out writes the same object: deploy --plan reads it)
//	deploy    {"functions": [{"function", "result": deploy.ApplyResult}]}
//	rollout   {"functions": [{"function", "result": deploy.RolloutResult}]}
//	rollback  {"functions": [{"function", "result": deploy.RollbackResult}]}
//	prune     {"functions": [{"function", "result": deploy.PruneResult}]}
//	destroy   {"functions": [{"function", "result": deploy.DestroyResult}]}
//	status    {"targets": [service.TargetStatus]}
//	invoke    [{"function", "target", "revision", "payload", "functionError", "durationMs", "error"}]
//	logs      {"function", "target", "line"}, one compact object a line (JSON Lines)
//	version   {"version", "go", "platform"}
//	queue send     {"queue", "messageIds"}
//	queue stats    localprovider.QueueStats; queue peek: [{"id", "body", "attributes", "group", "sent", "receives", "from"}]
//	stream append  {"stream", "sequenceNumbers"}; stream stats: localprovider.StreamStats
//	bucket dir     {"bucket", "dir"}; bucket stats: localprovider.StorageStats
//
// The event commands open the state directory (--dir, else the spec
// file's local:// targets', else local://'s default) themselves: no
// gateway needs to run, and a host serving it (updraft dev) delivers what
// they send within its poll. `updraft schema --of "queue stats"` names a
// two-word command in quotes.
//
// # Progress
//
// Progress goes to stderr. In a terminal it is a live view, one line per
// target with its step, traffic and gate results; in CI (CI set, or stderr
// not a terminal) one plain line per event, and under GitHub Actions
// (GITHUB_ACTIONS=true) also ::error:: annotations for failed steps and
// gates, ::warning:: for rollbacks and ::notice:: for promotions. Ctrl-C
// during a rollout rolls every target back and says so.
//
// # Credentials
//
// Each cloud's SDK default chain (environment, profile, workload identity,
// OIDC federation in CI); never in the spec file or a URL.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
