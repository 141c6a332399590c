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
// every function of the directory. Metadata also holds the route's
// verdicts (last good revision, failed revisions, all kept). Apply with
// IfNotExist fails with AlreadyExists when the function exists, and with
// IfMatch on an absent function with FailedPrecondition, both under the
// function's lock, so of two plans that both create it only one succeeds.
// The metadata is the model of the module's internal control plane (the
// one memprovider is): Apply runs the plane's steps on it under the lock
// and saves it once, so an Apply that fails or is canceled midway leaves
// the function as it was.
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
// The gateway reads a request's body whole, up to Lambda's 6 MB payload
// limit (413 beyond it) and within Options.BodyTimeout (408), before the
// request takes an instance: a slow client holds no instance. A body that
// is not valid HTTP framing (malformed chunked encoding) is answered 400.
// A function URL response whose statusCode is not 200 to 599 is answered
// 502, as its headers that are not valid HTTP are dropped.
//
// An instance that reported an error (a Runtime API /error post) is not
// given another request until it asks for its next invocation: a runtime
// may exit after an error, as aws-lambda-go does after a panic, and one
// that neither asks nor exits within its timeout is killed. An invocation
// whose instance died before it took it (it never reached the function)
// is offered to another instance, up to three in all.
//
// Metadata is checked after it is read (no null revision or route, no
// duplicate revision, splits within 0 to 100%, entrypoints inside the
// code): anything else is reported as corrupt (Internal), as a truncated
// file is, by Get and by the gateway (500), while a host that had read
// the function before keeps serving what it last read.
//
// # Function protocols
//
// An instance is the revision's entrypoint (Spec.Entrypoint, default
// "bootstrap", a path inside the code: Apply refuses an absolute one or
// one climbing out with "..") started in its code directory. The protocol is detected at
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
// that proportion (at least 1); the Spec's Env can override it.
//
// The Runtime API is served by a small HTTP/1.1 server of this package
// (see BENCHMARKS.md for why): it refuses, with 400 and the end of the
// connection, any request whose framing could be read two ways (several
// Content-Length headers, Content-Length with Transfer-Encoding, a
// transfer coding other than chunked, folded or malformed headers), caps
// a request head at 16 KiB (431) and reading one request at 10 s. A fuzz
// test checks that whatever it accepts net/http reads the same way.
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
// On Linux every instance is the init process of a PID namespace of its
// own: when it exits or is killed, the kernel kills every process it
// started, including those that left its process group with setsid, so
// nothing a function starts outlives its instance or Host.Close. Running
// as root the host asks for the namespace alone (CAP_SYS_ADMIN); as
// another user it asks for a user namespace with it, mapping the host's
// uid and gid to themselves, so the function runs as the same user. Where
// neither is allowed (user namespaces disabled, a container's seccomp
// profile without CAP_SYS_ADMIN) the host logs a warning and falls back to
// a process group per instance, which a child that calls setsid escapes.
// Limits: a function sees itself as process 1 (os.Getpid() returns 1;
// /proc still shows the host's view, so /proc/self names its real id),
// and its orphaned children are not reaped until the instance ends. This
// was chosen over a cgroup (often not writable without a delegated
// hierarchy) and over PR_SET_CHILD_SUBREAPER (a process-wide setting that
// would make the host reap, and race with, its caller's own children).
//
// Every instance also runs in its own process group, killed as a whole,
// and gets PR_SET_PDEATHSIG, so the kernel kills it if the host process
// dies without closing. Close, or the end of the context given to
// NewHost, kills every instance and waits for them. Elsewhere than Linux
// instances get a process group (Unix) or nothing more (Windows), and a
// Runtime API instance exits at its next poll when its host is gone.
//
// # Logs
//
// The functions' stdout and stderr go to DIR/functions/NAME/function.log
// (unless Options.FunctionOutput says otherwise), through one pipe per
// function copied by one goroutine. At 10 MB the file is renamed to
// function.log.1, replacing the previous one, and started afresh: a
// function's output takes at most 20 MB. The host's own records
// (instances started, reaped, killed; goroutines that panicked) go to
// Options.Logger.
//
// # Records and billing
//
// Every invocation is recorded: revision, route, status, the HTTP status
// the gateway answered, duration, cold start and init duration, billed
// duration and GB-seconds. Billing follows Lambda's custom runtimes: the
// duration plus, on a cold start, the init duration, rounded up to the
// millisecond, times the memory size in GB.
//
// Metrics come from per-second aggregates per revision and route (the
// newest 86,400 of them per function, a day of one revision's traffic):
// Invocations (excluding throttled requests), Errors (function errors,
// timeouts, crashes, init failures), Throttles, and the gateway's
// responses by class (Metrics.HTTP is true; Status2xx, Status4xx, Status5xx), as
// CloudWatch feeds the deploy engine's gates. While the raw records reach
// back to the query's Since the counts are exact; further back a query
// counts every second that overlaps its range. A function URL's 5xx is
// not a function error, as on Lambda: gates that care count Status5xx.
//
// The raw records (Host.Invocations, Host.Summarize) are kept within
// Options.RecordMemory per function (4 MiB: between about 11,000 and
// 22,000 records, as the oldest half is dropped at once), the newest
// kept. Every host also appends them to
// DIR/functions/NAME/records.jsonl, one JSON object a line (fields host,
// requestId, start in Unix nanoseconds, revision, route, status, http,
// duration, init and billed in nanoseconds, cold, memoryMB, and trigger
// for event deliveries), written
// every 50 ms with one append per batch, so the lines of several hosts
// never interleave; at 8 MB the file is renamed to records.1.jsonl under
// a lock file. ReadInvocations reads them from any process, and Metrics
// adds the records other hosts on the same directory wrote to this
// host's own counts.
//
// # Triggers
//
// HTTP triggers are served by the gateway, with their CORS origins
// (preflight requests are answered without invoking the function); the
// authentication mode is not enforced (the gateway is on loopback).
// Schedule triggers run while a host has the function open, invoking the
// route with the trigger's payload or an EventBridge "Scheduled Event".
// Queue triggers are delivered from local queues (below), also while a
// host has the function open; what is sent meanwhile waits in the queue.
//
// Event deliveries go through the trigger route's weights, as HTTP
// requests do, and are recorded as invocations with the trigger's key
// (Invocation.Trigger), so Metrics, and the canary gates reading it,
// count a queue consumer's errors. A Runtime API function gets the event
// Lambda sends, a batch per invocation (an SQS event); a $PORT function
// gets the CloudEvent Cloud Run gets through Eventarc, one per request
// (Pub/Sub messagePublished), answering 2xx for success, with a
// Ce-Updraftkey extension naming the trigger.
//
// # Queues
//
// A queue trigger's Source names a local queue by its last element: the
// queue of "arn:aws:sqs:us-east-1:123456789012:orders",
// "projects/p/topics/orders" and "orders" is "orders" (QueueName), so one
// Spec deploys to a cloud and to local:// alike. A queue is a bbolt
// database, DIR/queues/NAME.db, opened for each operation: every
// committed send survives the death of the sender and of the host, and
// processes sharing the directory (hosts, the CLI) take turns. It is
// created by its first use with the defaults, or by Host.CreateQueue
// with QueueOptions: a visibility timeout (30 s), a retention (4 days),
// a max receive count (5) after which a message moves to the dead-letter
// queue (NAME-dlq: local queues have one by default, as Azure Storage
// queues have their poison queue; a queue named *-dlq has none), and
// FIFO delivery, which a name ending in .fifo implies as on SQS.
//
// As Lambda's SQS event source mapping does, up to five batches of a
// trigger are in flight (fewer under a lower maximum concurrency), each
// one receive of up to the trigger's BatchSize (10) messages, gathered
// for up to MaxBatchingWindow, and hidden for the queue's visibility
// timeout or the function's timeout if it is longer. A batch that
// succeeds is deleted. A Runtime API function's answer is read as a
// batch response (batchItemFailures naming message ids, Lambda's
// ReportBatchItemFailures): only the failed messages stay, to be received
// again when their visibility ends; an answer that is not JSON or names
// a message outside the batch fails it whole, as on Lambda. For a $PORT
// function each failed request fails its message. A batch whose
// invocation fails (error, timeout, crash) stays whole. A batch that
// reached no function (throttled, no route yet, the host closing) is made
// visible again and its receive not counted. On a FIFO queue the
// messages of a group come in order and a group with a message in flight
// waits; a send repeating a deduplication id (or, without one, a body)
// within 5 minutes is dropped. Delivery is at least once: a host killed
// mid-batch leaves its messages hidden until their visibility ends, then
// any host delivers them again.
//
// Messages are sent with Host.SendMessages, by a POST of the body to the
// gateway's /.updraft/queues/NAME (query group, dedup and delay;
// X-Updraft-Attr-NAME headers become attributes; GET on the same path
// answers QueueStats, GET …/peek the messages), by `updraft queue send`,
// or by the AWS SDK's SQS client: a POST to / with an X-Amz-Target header
// is the SQS JSON protocol (CreateQueue with VisibilityTimeout,
// MessageRetentionPeriod, RedrivePolicy and FifoQueue; GetQueueUrl;
// SendMessage and SendMessageBatch; other operations are answered
// UnsupportedOperation). Functions get AWS_ENDPOINT_URL_SQS set to the
// gateway, so their SQS clients reach the local queues unchanged (they
// still need a region and any credentials; Spec.Env overrides all of
// it). Host.QueueStats counts visible, in-flight and delayed messages and
// what was sent, received, redelivered, deleted, dead-lettered and
// expired; Host.PeekMessages lists a queue (a dead-letter queue's
// messages say where they came from).
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
