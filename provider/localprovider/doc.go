// Package localprovider runs functions on this machine for real: it is
// the local:// provider, updraft's embedded default. It needs no cloud
// account, and it makes the serverless model observable: deploys,
// revisions, weighted routes, cold starts, concurrency, timeouts,
// crashes and billing all happen here, with real processes.
//
// # Model
//
// A Host owns a state directory and an HTTP gateway. Metadata (function
// configuration, revisions, routes with their traffic split, rollout
// markers, provisioned concurrency, triggers) lives in
// DIR/functions/NAME/function.json, written atomically and locked across
// processes, so a second program run sees the first run's deployment. A
// revision's code is its bundle unpacked under DIR/code/DIGEST, shared by
// every function of the directory.
//
// The gateway listens on 127.0.0.1 (never a wider address unless
// Options.Addr asks for one) and serves function NAME's HTTP trigger at
// /NAME/; /NAME:QUALIFIER/ reaches one route or revision directly. Each
// request is routed by the route's weights to a revision, then to an idle
// instance of it or a new one: one request per instance, as on Lambda.
// New instances are started up to the function's maximum concurrency
// (Spec.Concurrency.Max, else Options.MaxConcurrency); beyond it a request
// waits up to Options.QueueTimeout for a free instance and is then
// answered 429. Idle instances are reaped after Options.KeepAlive, except
// the provisioned ones, which are started at deploy (Apply returns when
// they are initialised) and replaced when they die. An invocation that
// runs past the function's timeout is killed with its instance and
// answered 504; an instance that exits mid-request is answered 502, and
// the next request starts a fresh one. Responses carry X-Updraft-Revision,
// and X-Updraft-Init-Duration on cold starts.
//
// # Function protocols
//
// An instance is the revision's entrypoint (Spec.Entrypoint, default
// "bootstrap") started in its code directory. The protocol is detected at
// the first start of each revision:
//
//   - The AWS Lambda Runtime API: every instance gets its own endpoint in
//     AWS_LAMBDA_RUNTIME_API (/2018-06-01/runtime/invocation/next,
//     …/{id}/response, …/{id}/error and /runtime/init/error, with the
//     Lambda-Runtime-Aws-Request-Id, -Deadline-Ms, -Invoked-Function-Arn
//     and -Trace-Id headers), so a bootstrap built with
//     github.com/aws/aws-lambda-go runs unchanged. HTTP trigger requests
//     reach it as function URL events (API Gateway payload format 2.0),
//     and its response is mapped back as a function URL would.
//   - Plain HTTP on $PORT (Cloud Run, functions-framework, Azure custom
//     handler style; FUNCTIONS_CUSTOMHANDLER_PORT is set too): requests
//     are proxied as they are.
//
// Instances get the Lambda and Cloud Run environment variables
// (AWS_LAMBDA_FUNCTION_NAME, …_VERSION, …_MEMORY_SIZE, K_SERVICE,
// K_REVISION, …), PATH, HOME, TMPDIR and LANG, the Spec's Env, and its
// Secrets as their references (never resolved values). As Lambda gives a
// function one vCPU per 1,769 MB of memory, Go functions get GOMAXPROCS in
// that proportion (at least 1); the Spec's Env can override it. Function output
// goes to DIR/functions/NAME/function.log unless Options.FunctionOutput
// says otherwise.
//
// # Memory
//
// Memory is bounded per instance as far as the OS allows, and this is
// what is enforced: on Linux the host samples every instance's resident
// set size (/proc/PID/statm) every 50 ms and kills an instance that is
// over Spec.MemoryMB (the request fails with Runtime.OutOfMemory). A burst
// shorter than the sampling period can go unnoticed. Go functions also get
// GOMEMLIMIT at 90% of the memory size, a soft limit that makes their
// garbage collector keep the heap under it. RLIMIT_AS and RLIMIT_DATA are
// not used: the Go runtime reserves far more address space than it uses,
// so they would kill healthy Go functions. Elsewhere than Linux memory is
// not bounded.
//
// # Processes
//
// Each instance runs in its own process group, killed as a whole. Close,
// or the end of the context given to NewHost, kills every instance and
// waits for them; on Linux instances also get PR_SET_PDEATHSIG, so the
// kernel kills them if the host process dies without closing (a
// Runtime API instance elsewhere exits at its next poll). Processes the
// function starts itself stay in its group and are killed with it.
//
// # Records and billing
//
// Every invocation is recorded (Host.Invocations, Host.Summarize):
// revision, route, status, duration, cold start and init duration, billed
// duration and GB-seconds. Billing follows Lambda's custom runtimes: the
// duration plus, on a cold start, the init duration, rounded up to the
// millisecond, times the memory size in GB. Records feed Metrics, as
// CloudWatch feeds the deploy engine's gates: Invocations (excluding
// throttled requests), Errors (function errors, timeouts, crashes, init
// failures) and Throttles. Records are kept in memory by the host that
// served the invocations.
//
// # Triggers
//
// HTTP triggers are served by the gateway, with their CORS origins
// (preflight requests are answered without invoking the function); the
// authentication mode is not enforced (the gateway is on loopback). Schedule triggers run while
// a host has the function open, invoking the route with the trigger's
// payload or an EventBridge "Scheduled Event". Other trigger kinds are
// Unimplemented.
//
// # URLs
//
// local://NAME opens function NAME in the default state directory
// (DefaultDir: $XDG_STATE_HOME/updraft or ~/.local/state/updraft). Query
// parameters: dir=PATH chooses the state directory, addr=HOST:PORT the
// gateway address. Functions opened through URLs on the same directory
// share one Host, closed when the last of them is closed.
//
//	fn, err := provider.Open(ctx, "local://hello?dir=/tmp/updraft")
//
// # As
//
// Function.As accepts **Host, to reach the gateway URL, the records and
// the summary of a function opened through a URL. ErrorAs converts no
// error type: errors carry their code. BeforeApply's asFunc converts no
// type: there is no native request.
package localprovider
