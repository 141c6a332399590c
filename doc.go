// Package updraft deploys serverless functions through one
// provider-neutral Go API, and runs the same functions on this machine.
// The providers are mem:// (in memory, for tests), local:// (this
// machine), awslambda:// (AWS Lambda), gcpfunctions:// (Google Cloud
// Functions 2nd gen) and azurefunctions:// (Azure Functions).
// docs/design.md in the repository describes the architecture.
//
// This root package holds only documentation; the work is done by:
//
//   - provider: the portable API. A *provider.Function is a handle to one
//     function on one target. It validates a Spec against the target's
//     Capabilities before any call, builds the code bundle the target
//     needs, wraps every error with a code, and calls a driver.
//   - provider/driver: the interface adapters implement. Users never
//     import it.
//   - provider/memprovider (mem://), provider/localprovider (local://) and
//     the cloud adapters (awslambda://, …): one package per target, each
//     registering its URL scheme on import.
//   - bundle: reproducible zip artifacts and Go cross-compilation.
//   - trigger: portable trigger values (HTTP, queue, stream, schedule,
//     storage), each owned by a stable key.
//   - deploy: plans, applies and progressive rollouts across targets.
//
// # Portable type and driver
//
// Following database/sql and the Go Cloud Development Kit, the type users
// hold is a concrete struct (provider.Function) over a small driver
// interface. Shared behaviour — validation, defaults, bundling, error
// codes, closing — lives once in the portable type, so adapters only talk
// to their cloud.
//
// # URLs
//
// provider.Open opens a function by URL: the scheme picks the adapter and
// the rest names the function, for example "mem://hello",
// "local://hello?dir=/tmp/state" or "awslambda://hello?region=eu-west-1".
// Credentials never go in a URL: cloud adapters use their SDK's default
// credential chain, and every error shows a URL through
// provider.RedactURL. Function.Target is everything that selects a
// function, so the same name in two regions is two targets. Importing an adapter registers its scheme; the URL
// registry is the only package-level state. provider.OpenAll opens many
// targets and reports every URL that failed.
//
// # Errors
//
// Every error a Function returns is a *provider.Error with a code named
// after gRPC's (NotFound, InvalidArgument, FailedPrecondition,
// ResourceExhausted, Unimplemented, …). Branch on provider.Code(err) or
// errors.Is(err, provider.ErrNotFound), never on message text. The error
// still unwraps to the cloud SDK's own error, so errors.As reaches it.
//
// # As
//
// Function.As and Function.ErrorAs reach an adapter's native client and
// error types, and ApplyOptions.BeforeApply lets a caller edit the native
// request just before it is sent. Each adapter's package doc lists the
// types it exposes. Code that uses them is no longer portable.
//
// # Managed and unmanaged settings
//
// In a Spec, a nil map, slice or pointer (Env, Secrets, Labels, Triggers,
// Concurrency.Provisioned) means "not managed": updraft leaves what is
// live alone, so it can share a function with other tools. An empty value
// means "clear".
package updraft
