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
// Queue, stream and storage triggers are delivered from local queues,
// change streams and buckets (below), also while a host has the function
// open; what is sent, appended or written meanwhile waits for it.
//
// Event deliveries go through the trigger route's weights, as HTTP
// requests do, and are recorded as invocations with the trigger's key
// (Invocation.Trigger), so Metrics, and the canary gates reading it,
// count a consumer's errors. A Runtime API function gets the event
// Lambda sends (an SQS or DynamoDB Streams batch per invocation, an S3
// notification); a $PORT function gets the CloudEvent Cloud Run gets
// through Eventarc, one per request (Pub/Sub messagePublished, Firestore
// document.v1.written, Cloud Storage object finalized or deleted),
// answering 2xx for success, with a Ce-Updraftkey extension naming the
// trigger. Deleting a function forgets its stream positions and its
// pending storage events, as deleting a Lambda function deletes its
// event source mappings.
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
// # Streams
//
// A stream trigger's Source names a local change stream, the model of a
// DynamoDB stream (StreamName): the table of a DynamoDB table or stream
// ARN ("arn:aws:dynamodb:us-east-1:1:table/orders/stream/…" is
// "orders"), the collection of a Firestore document path
// ("projects/p/databases/(default)/documents/orders/{id}" is "orders"),
// else the source's last element. A stream is a bbolt database,
// DIR/streams/NAME.db, opened for each transaction like a queue. Changes
// (insert, modify or remove, with the item's key and its old and new
// images) are appended with Host.AppendChanges, by a POST to the
// gateway's /.updraft/streams/NAME (one JSON change {"op","key","old","new"}
// or an array; the answer lists their sequence numbers), or by `updraft
// stream append`, and kept 24 hours, as DynamoDB Streams keeps them. GET
// on the same path answers StreamStats: the records kept, and each
// consumer's checkpoint, lag and delivered, retried, discarded and
// expired counts.
//
// Each stream trigger is a consumer with a durable checkpoint, created at
// its first run at the trigger's starting position (latest: after the
// newest record; trim_horizon: the oldest kept), and delivered by one
// host at a time (a lock file per consumer). A stream has one shard:
// records come in the order appended, so in order per key, in batches of
// up to BatchSize (100). A Runtime API function gets a DynamoDB Streams
// event (NEW_AND_OLD_IMAGES, images as attribute values); a $PORT
// function gets one Firestore document.v1.written CloudEvent per change.
// A batch that succeeds moves the checkpoint past it; a batch response
// naming failed records (ReportBatchItemFailures) moves it to just
// before the lowest of them and retries from there; a batch whose
// invocation fails is retried after a backoff (100 ms doubling to 5 s),
// split in halves first with BisectOnError (the first half first, down
// to single records; splitting is not a retry), and after MaxRetries
// retries its records are skipped, counted discarded and logged (local://
// has no on-failure destination); with MaxRetries nil it is retried until
// its records expire. A batch that reached no function is offered again,
// uncounted. A host that restarts, or one killed, resumes from the
// checkpoint: delivery is at least once.
//
// # Storage
//
// A storage trigger's bucket is a directory: Options.Buckets[NAME], else
// DIR/buckets/NAME, where NAME is the last element of Storage.Bucket
// ("arn:aws:s3:::photos", "gs://photos" and "photos" all name photos;
// BucketName), 3 to 63 lower-case letters, digits, '-' and '.'.
// Host.BucketDir (and `updraft bucket dir`) returns it, creating it if it
// is missing. While a host has the function open, a file created or
// overwritten there is a created event and a file deleted a deleted one
// (a rename is both; a file or directory moved in is created, moved out
// deleted), with the key (the slash-separated path under the directory),
// the size and the ETag (the hex MD5 of the content, S3's ETag of a
// single-part upload), filtered by the trigger's Events (created by
// default), Prefix and Suffix. Hidden names (a leading '.' in any element
// of the path) and editors' temporary files (ending in '~', ".swp" or
// ".tmp") are no objects; symbolic links are not followed. A file becomes
// an object once its size and modification time have not changed for
// 100 ms after its last change, so a file written in several chunks is
// one event; a file written slowly is best written under a hidden name
// and renamed into place. A changed size or modification time is a new
// version even when the content is the same.
//
// One process at a time watches a bucket (github.com/fsnotify/fsnotify,
// a watch per directory), the holder of DIR/buckets/.NAME.watch.lock, so
// hosts sharing a state directory turn each change into one event. A
// bucket's state is DIR/buckets/.NAME.db (bbolt, opened per transaction
// as a queue's is): the index of its objects, and for each consumer (a
// function's storage trigger) a durable queue of its events, written in
// the transaction that changes the index. A watcher that starts compares
// the directory with the index, so changes made while no host watched
// are delivered then. A directory that existed before updraft used it
// (one Options.Buckets names, say) is indexed as it is, without events,
// as S3 does not notify for objects older than the notification; in a
// directory updraft created every file is new. A trigger gets the events
// of changes made after its function first ran it; the queues of deleted
// functions and removed triggers are dropped. A bucket directory removed
// while watched deletes its objects and comes back empty.
//
// A consumer gets its events one per invocation, in order, through the
// trigger route's weights, from one process at a time (the holder of
// DIR/buckets/.NAME.deliver.FUNCTION.KEY.lock). A Runtime API function
// gets an S3 event notification (eventVersion 2.1, ObjectCreated:Put or
// ObjectRemoved:Delete, region local, configurationId the trigger key,
// bucket arn:aws:s3:::NAME, the key URL-encoded as S3 encodes it, size,
// eTag and sequencer); a $PORT function gets a binary-mode Cloud Storage
// CloudEvent (google.cloud.storage.object.v1.finalized or .deleted,
// source //storage.googleapis.com/projects/_/buckets/NAME, subject
// objects/KEY) whose data is the object's StorageObjectData (size as a
// string, etag the MD5, md5Hash, crc32c, contentType from the extension,
// timeCreated, updated, generation). An invocation that fails is retried
// as Lambda retries asynchronous invocations, three attempts in all, here
// 1 s and then 2 s apart (Lambda waits about one and two minutes); after
// the last the event is dropped, counted and logged with its key. An
// event that reached no function (throttled, no route, the host closing)
// is offered again, uncounted. An event leaves its queue only once its
// fate is known: delivery is at least once, across host deaths.
// Host.StorageStats (and `updraft bucket stats`) counts a bucket's
// objects and, per consumer, the events pending, enqueued, delivered,
// dropped, and the failed attempts.
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
