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
// pipelines cannot silently overwrite each other; a function Plan found
// absent is created with IfNotExist, so a NotFound read that was not true
// (or a concurrent create) fails with AlreadyExists instead of being taken
// for a new function. A read that fails for any other reason fails the
// plan of its target. Failures are aggregated with go-multierror; each
// names its target and step once and carries a provider code
// (provider.Code). A target whose plan has no changes is not touched at
// all, so a no-op Apply makes read calls only.
//
// # Reads and calls
//
// Each workflow reads each thing once. Plan reads with
// provider.Function.Read scoped to what the Spec manages (its route, and
// triggers and provisioned concurrency only when the Spec manages them),
// and Apply, Rollout and Rollback work from that read: every write is
// conditioned on the ETag it returned, and the ETag each write returns
// conditions the next. A failed precondition is the signal to read again
// (and to check the route afresh), never a reason to read first. Plan
// lists revisions only when they can change the outcome: when the route
// records failed revisions or a rollout marker, or when the Spec changes
// nothing in the live code and configuration and the target cannot tell
// without a call which revision holds it (provider.Function.LiveRevision).
// A Spec that changes them is applied and published whatever revisions
// exist, so such a plan does not name the newest one. Rollback reads the
// route only and lists revisions only when the route does not name where
// to go. On AWS Lambda this makes a create 4 calls, a code change with
// the route moved 6, a no-change deploy 2 reads (see the awslambda
// package's call counts).
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
// gate. A target whose function (or route) the rollout creates is in the
// lockstep too: it is gated with the others, and a rollback deletes the
// function it created. A target that cannot split traffic by percent
// (Capabilities.WeightedTraffic false) does the canary steps at 0% and
// swaps at 100% (blue/green); the result and events say so.
//
// # Gates and HTTP
//
// InvokeGate invokes the candidate directly; with a payload made by
// HTTPEvent (an API Gateway v2 / function URL event) it also fails on a
// 5xx response, showing the status and the start of the body. What a
// gate shows of a function's output is redacted first and cut after, so
// no part of a secret value is shown. ErrorRateGate counts function errors
// plus, where the provider reports HTTP response classes
// (provider.Metrics.HTTP), the 5xx responses: an HTTP function answering
// 500 is not a function error on Lambda, but it is an error to its
// callers. Thresholds outside [0, 1] (or NaN) are refused before any
// change. A gate that panics fails with an Internal error for its target.
//
// # Markers and leases
//
// A rollout records its progress in a marker stored on the route in the
// cloud itself (provider.Marker). The marker is written before anything is
// published, conditioned on the route's ETag read by Plan, so it is also
// the lock. It carries a lease (RolloutOptions.Lease, 1 minute by
// default) that the rollout renews once a third of it has passed since the
// last marker write, between steps and while publishing, baking and
// gating (each step's write carries a fresh heartbeat, so a quick rollout
// makes no renewal). Every later write of the route — each step's traffic
// and marker together, the renewals, the rollback — is one UpdateRoute
// conditioned on the ETag the previous write returned, so a rollout that
// lost its lock fails at its next write instead of landing it, and stops
// without touching traffic.
//
// A solo rollout — one target moves, no gates, no bake interval — has
// nothing to hold the route for between its writes, so it writes no marker
// before publishing: its first route write (the first step's traffic with
// the marker), conditioned on the ETag Plan read, is the lock, and fails
// naming whoever claimed or moved the route since. Its last step moves the
// traffic, records the candidate as the last known good and clears the
// marker in one write; an all-at-once solo rollout is that one write, and
// one that creates the function writes nothing (Apply created the route
// on the candidate with the function; no verdict is recorded for a first
// revision, since no earlier one exists to go back to). A concurrent rollout of the same
// function then fails at its conditioned Apply or first route write rather
// than at a marker, so it may have published a revision that serves no
// traffic.
//
// While a lease is live, every other Rollout, Apply and Rollback of the
// route fails with FailedPrecondition naming the holder, the rollout id
// and when the lease expires — whoever runs it, the same holder included.
// A lease is judged at the time Plan read it, and a lease renewed since
// is never taken as expired. An expired lease means the holder died: the
// next Rollout of the same spec resumes it from the recorded step (with
// RolloutOptions.Revert, reverts it), with no TakeOver. TakeOver forces a
// live lease, for a holder known to be gone before its lease ran out. A
// marker written without a lease never expires by itself. Leases compare
// the writer's clock with the reader's: keep the lease well above the
// clock skew between the machines that deploy.
//
// # Verdicts
//
// What rollouts learn about revisions is stored on the route beside the
// marker (provider.Verdicts), not locally. A rollout whose gate judges the
// candidate bad records it as failed on every target, in the same write
// that moves traffic back; Revert does too. A gate that could not judge (a
// provider call failed: throttled, not ready), a gate that stops the
// rollout for another reason (an error made by Stop, as a lockstep
// barrier across functions returns) and a cancelled rollout roll back
// without a verdict. A rollout that completes records its revision
// as the route's last known good. Plan reports a Spec that is a failed
// revision (TargetPlan.FailedRevision: the same code digest and
// configuration) and, as a warning only, one whose code is that of a
// failed revision with a different configuration (TargetPlan.FailedCode),
// since a configuration change is a usual fix.
//
// # Each path, with a failed revision and a live lease
//
//   - Apply: refuses (FailedPrecondition, before any change to the target)
//     to move traffic to a failed revision unless
//     ApplyOptions.AllowFailedRevision; NoTraffic publishes without the
//     check. Refuses any route with a marker: a live lease names holder,
//     rollout and expiry; an expired one says how to resume or revert it.
//   - Rollout: refuses a Spec that is a failed revision unless
//     RolloutOptions.AllowFailedRevision; a live lease is refused unless
//     TakeOver; an expired one is resumed (same spec) or refused (another
//     spec: Revert it first).
//   - Rollback: with no Revision, goes to the stable revision of an
//     interrupted rollout, else to the last known good, else to the newest
//     earlier revision not recorded as failed; a named Revision is served
//     as named, failed or not. A live lease is refused unless
//     RollbackOptions.TakeOver; an expired one is cleared. It writes
//     traffic and clears the marker in one conditioned write, and records
//     no verdict.
//   - Prune: deletes failed revisions first, never the last known good of
//     any route nor a revision a route or marker references, and reports
//     why it kept each revision (TargetPrune.Reasons). A live lease does not
//     stop it: the revisions its marker names are kept.
//   - Revert (Rollout with Revert): moves the route back to the marker's
//     stable revision, records the marker's candidate as failed and clears
//     the marker, in one write; a live lease is refused unless TakeOver.
//   - Destroy: a failed revision does not matter (the function goes); any
//     marker, live or not, is refused unless DestroyOptions.Force.
//
// # Retries
//
// Drivers retry transient failures inside each call; deploy keeps only its
// re-read loops (RetryPolicy): a write conditioned on an ETag that fails
// with FailedPrecondition is retried after a fresh read shows the route
// still holds this rollout's marker (the change was its own write whose
// answer was lost, or a refresh). The one exception is the automatic
// rollback, which retries transient failures until RollbackTimeout.
//
// # Progress and errors
//
// Every workflow reports progress as log/slog records on the Logger of its
// options and as Events to its OnEvent callback. Every error carries a
// provider code: provider.Code(err) works on all of them, and errors.As
// reaches *TargetError (which target, which step) and *GateError. No layer
// a caller can reach shows a secret value of the Spec or of the live
// configuration: an error whose message held one is replaced by one with
// the scrubbed message and the same code. No goroutine deploy starts can
// crash its caller: a panic in a plan worker, a target's workflow or a
// gate is an Internal error for that target.
package deploy
