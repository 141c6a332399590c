// Package deploy runs workflows over one or many *provider.Function
// targets: Plan what would change, Apply it, Rollout a new revision
// progressively with gates and automatic rollback, Rollback, Prune old
// revisions and Destroy.
//
// # Plan and Apply
//
// Plan reads every target concurrently, builds the code bundle once per
// distinct target form, normalises the Spec and the live state with the
// target's defaults, and reports per target what Apply would do: create
// the function, update code or configuration, publish a revision, add,
// update or remove triggers (by key), change provisioned concurrency and
// move the route's traffic. It also reports every validation violation,
// all before any mutation. A Plan prints as a readable diff (String) and
// marshals to stable JSON. Secret references and environment values that
// look like secrets are never shown: the diff says only that they changed.
//
// Apply (or ApplyPlan for a Plan already made) runs the targets in
// parallel with a bound, each in a fixed order of steps (check, apply,
// traffic), conditioning the update on the ETag read by Plan so that two
// pipelines cannot silently overwrite each other. Failures are aggregated
// with go-multierror; each names its target and step and carries a
// provider code (provider.Code). A target whose plan has no changes is not
// touched at all, so a no-op Apply makes read calls only.
//
// # Rollout
//
// Rollout applies the Spec without moving traffic (publishing a candidate
// revision on each target) and then shifts the route's traffic from the
// live (stable) revision to the candidate by a Strategy: AllAtOnce,
// BlueGreen, Canary or Linear. After each shift it waits the bake
// interval and runs the Gates (InvokeGate, ErrorRateGate, ThrottleGate or
// your own). Targets move in lockstep: if any target fails a shift or a
// gate, or the context is cancelled, every target is rolled back to its
// recorded stable revision and the error says which target failed which
// gate. A target that cannot split traffic by percent
// (Capabilities.WeightedTraffic false) does the canary steps at 0% and
// swaps at 100% (blue/green); the result and events say so.
//
// A rollout records its progress in a marker stored on the route in the
// cloud itself (provider.Marker). The marker is written before anything is
// published, conditioned on the route's ETag read by Plan, so it is also
// the lock that makes a concurrent rollout of the same function fail with
// FailedPrecondition naming the holder; it is rewritten (step, percent)
// before each shift and cleared at the end. There
// is no local state: running the same Rollout again after the process was
// killed resumes it from the recorded step, and RolloutOptions.Revert
// reverts it instead. The marker is owned by its Holder (by default the
// user and host running updraft): a rollout by another holder fails with
// FailedPrecondition naming it, unless RolloutOptions.TakeOver is set to
// take over a rollout whose holder is known to be gone. A running rollout
// that finds its marker taken over stops at its next step without
// touching traffic.
//
// # Progress and errors
//
// Every workflow reports progress as log/slog records on the Logger of its
// options and as Events to its OnEvent callback. Every error carries a
// provider code: provider.Code(err) works on all of them, and errors.As
// reaches *TargetError (which target, which step) and *GateError.
package deploy
