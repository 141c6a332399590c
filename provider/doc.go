// Package provider is updraft's portable API: a *Function is a handle to
// one function on one target (AWS Lambda, Cloud Functions, Azure
// Functions, this machine, or memory), the same for every target.
//
// Open a function by URL — the scheme picks the adapter, which registers
// itself when imported — or with an adapter's OpenFunction:
//
//	import _ "github.com/updraft-dev/updraft/provider/awslambda"
//	fn, err := provider.Open(ctx, "awslambda://hello?region=eu-west-1")
//
// Describe the function with a Spec and Apply it. Function validates the
// Spec against the target's Capabilities before any call and reports every
// problem at once (see Validate and ValidationError), builds the code in
// the form the target deploys (see Bundle), and waits until the target
// says the change is ready. Applying the same Spec twice changes nothing
// and uploads nothing.
//
// # Model
//
//   - A Revision is an immutable published version of code and
//     configuration (a Lambda version, a Cloud Run revision, an Azure slot
//     deployment). ApplyOptions.Publish makes one when something changed.
//   - A Route is a named pointer to revisions (a Lambda alias, Cloud Run
//     traffic, an Azure slot) with a two-way Traffic split: Stable and
//     Candidate, with CandidatePercent of requests on the candidate.
//     Triggers and provisioned concurrency attach to the route, so moving
//     traffic moves every entry point. A target without weighted traffic
//     (Capabilities.WeightedTraffic false) can only swap.
//   - A Marker on a route records a rollout in progress in the cloud
//     itself; package deploy uses it to resume or revert a crashed rollout.
//   - Each route and the function carry an ETag; passing it back in
//     ConditionOptions.IfMatch or ApplyOptions.IfMatch makes the change
//     fail with FailedPrecondition if someone else changed it meanwhile.
//
// # Nil versus empty
//
// For Spec.Env, Secrets, Labels, Triggers and Concurrency.Provisioned,
// nil means "not managed": what is live stays. An empty value means
// "clear". Triggers are owned by key: updraft changes only the triggers
// whose key it wrote.
//
// # Targets
//
// Function.Target names a function and identifies it: the provider, the
// name, and whatever else selects the function there (a region, an
// account or profile, an endpoint), such as
// "awslambda://hello?region=eu-west-1". The same name in two regions is
// two targets. Compare Targets to know whether two handles address one
// function; package deploy does, to refuse a target given twice.
//
// # Errors
//
// Every error is a *Error carrying an ErrorCode. Use Code(err) or
// errors.Is(err, ErrNotFound); errors.As still reaches the cloud SDK's
// error underneath. An error says each thing once,
// "updraft: TARGET: OP: CAUSE (CODE): HINT"; Error.Message is the part
// after the operation, for callers that print the target themselves.
// Secret values never appear in errors, and neither do credentials in a
// URL: every error about a URL shows it through RedactURL.
//
// # Environment variables
//
// Capabilities.Env holds a target's rules for variable names (a pattern,
// reserved names and prefixes) and the bytes no value may hold, NUL
// always among them; Validate applies them to Spec.Env and the names of
// Spec.Secrets, so a name the cloud would refuse fails before any call.
//
// # Types and the driver
//
// The types here and their copies in provider/driver are separate types
// with the same fields, converted by hand, not aliases. An alias could
// only point from provider to driver (provider imports driver, never the
// reverse), and go doc shows an alias without its fields, so users, who
// have no reason to import driver, would have to read the read model
// (State, Route, Config) and Capabilities in a package meant for adapter
// authors. Kept apart, each side documents a field for its own reader:
// what a user sets here, what a driver must honour there. The cost of two
// copies, a field added on one side and forgotten on the other or by a
// conversion, is paid by tests: one compares the field sets of every
// pair by reflection, another fills every field with a distinct value
// and checks that each conversion carries it across.
//
// # Writing an adapter
//
// Adapters implement provider/driver.Function (and driver.Targeter when
// more than the name selects a function), construct the portable type
// with NewFunction, register a URL scheme on DefaultURLMux in init, and
// pass the conformance suite in provider/providertest. docs/design.md in
// the repository walks through adding one.
package provider
