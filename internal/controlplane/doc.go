// Package controlplane is the in-process control plane shared by the
// drivers whose backend is their own code: memprovider (which is this
// plane over a map, with fault injection) and localprovider (which uses it
// beside its state directory and its process runtime).
//
// It holds one function's model — configuration, revisions, routes with
// traffic, markers, verdicts and provisioned concurrency, the triggers
// updraft owns, ETags — and runs the driver contract's state machine over
// it: Apply creates or updates, publishes a revision when the
// configuration changed, creates the route on first publish, reconciles
// triggers and provisioned concurrency; UpdateRoute and DeleteRevision
// check their preconditions with the helpers of provider/driver.
//
// Where the state lives and what happens around each step is the
// adapter's, through Backend: memprovider injects faults, latency and
// readiness in Step and keeps the state in memory; localprovider changes
// its decoded metadata in Step and saves it once Apply has finished.
package controlplane
