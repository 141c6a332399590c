// Package memprovider is an in-memory control plane for updraft: a
// complete provider with revisions, two-way weighted routes, triggers
// owned by key, provisioned concurrency that becomes ready after a delay,
// rollout markers and optimistic concurrency (etags), plus the fault
// injection that tests of deployment logic need: fail the Nth call of an
// operation with a chosen code, add latency, report "not ready" N times,
// fail provisioning, and count calls, mutations and uploaded bytes.
//
// It has Lambda's limits by default (among them Lambda's environment
// rules: names of letters, digits and '_' starting with a letter, and the
// variables Lambda's runtime reserves, such as AWS_REGION and _HANDLER)
// and passes the conformance suite in provider/providertest. Creates are
// conditioned: an Apply with ApplyOptions.IfNotExist on a function that
// exists fails with AlreadyExists and changes nothing, as does a create
// that finds the function made meanwhile. Use it to test code built on
// updraft without a cloud account; use provider/localprovider to actually
// run functions.
//
// The state machine itself (Apply's steps, routes, etags, markers,
// verdicts, owned triggers, DeleteRevision) is the module's internal
// control plane, which localprovider runs too: a Cloud is that plane over
// a map, with faults, latency and readiness around every step, so the
// two in-process targets cannot drift apart.
//
// # URLs
//
// mem://NAME opens the function NAME. The opener registered on
// provider.DefaultURLMux has one Cloud for the whole process, so every
// mem://NAME refers to the same function. For isolated tests make a Cloud
// with NewCloud and call its OpenFunction.
//
// # As
//
// memprovider exposes no native types: As and ErrorAs return false, and
// the asFunc given to ApplyOptions.BeforeApply converts nothing.
//
// # Invocations and metrics
//
// Invoke picks a revision by the route's weights and runs Options.Handler
// (by default it echoes the payload). Metrics counts those invocations and
// any added with RecordInvocations, so error-rate gates can be tested.
package memprovider
