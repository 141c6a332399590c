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
// # Errors
//
// Every error is a *Error carrying an ErrorCode. Use Code(err) or
// errors.Is(err, ErrNotFound); errors.As still reaches the cloud SDK's
// error underneath. Secret values never appear in errors.
//
// # Writing an adapter
//
// Adapters implement provider/driver.Function, construct the portable type
// with NewFunction, register a URL scheme on DefaultURLMux in init, and
// pass the conformance suite in provider/providertest.
package provider
