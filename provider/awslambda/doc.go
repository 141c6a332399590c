// Package awslambda is the updraft provider for AWS Lambda, built on
// aws-sdk-go-v2. Import it for its side effect to open awslambda:// URLs
// with provider.Open, or call OpenFunction with a *lambda.Client.
//
// # Mapping
//
// A revision is a published version (PublishVersion with CodeSha256 and
// RevisionId preconditions); a route is an alias; traffic is the alias's
// RoutingConfig (one extra version, weight 0–1); a route's ETag is the
// alias RevisionId. The alias description holds updraft's route record:
// the rollout marker (with its lease), the verdicts (last good, failed
// revisions; the oldest failed ones are dropped, keeping at least
// driver.MinFailedVerdicts, when the 256-character description is full)
// and a key "VERSION:HASH" saying which configuration the version the
// alias points at snapshots. The function's ETag is $LATEST's RevisionId.
// Runtime "go" deploys a linux "bootstrap" binary on provided.al2023;
// architectures amd64 and arm64 map to x86_64 and arm64. Code up to 50 MB
// is sent inline, larger code through S3 (the URL's code_bucket). Labels
// are function tags; tags starting with "updraft-" are updraft's
// bookkeeping and not Labels: updraft-secrets names the environment
// variables that are Secrets (so an Env value that happens to be an ARN
// stays Env), updraft-kinds-ROUTE lists the trigger kinds updraft owns on
// ROUTE and updraft-url-ROUTE the key of its function URL. Secrets are
// environment variables holding a Secrets Manager or SSM parameter ARN;
// updraft never resolves them. Max concurrency is reserved concurrency;
// provisioned concurrency is set on the route and waited for until READY,
// failing with Lambda's reason on FAILED.
//
// # Calls
//
// Each call is a round trip to a rate-limited API, so the adapter reads
// only what a deploy needs and reuses what it read:
//
//   - Get has no Spec context (a status read) and reads everything:
//     GetFunction (configuration, code digest, tags and reserved
//     concurrency in one call), ListAliases,
//     ListProvisionedConcurrencyConfigs, and per route the APIs of the
//     trigger kinds its updraft-kinds tag lists (none for a function
//     without triggers; every kind once for a function deployed before
//     the tag existed).
//   - GetScoped(ctx, *ReadScope) reads what a Spec manages: GetFunction
//     and GetAlias of the Spec's route, provisioned concurrency only when
//     Concurrency.Provisioned is non-nil, triggers only when Triggers is
//     non-nil. It implements driver.ScopedGetter, which
//     provider.Function.Read and the deploy engine use.
//   - Apply with IfMatch equal to the ETag of this handle's last Get works
//     from that reading and reads nothing; its mutations carry the same
//     RevisionId, so a reading that went stale fails with
//     FailedPrecondition (412) instead of being acted on — the signal to
//     read again. Otherwise Apply reads GetFunction and GetAlias itself,
//     and with IfNotExist it creates without reading (Lambda's
//     ResourceConflictException is then AlreadyExists). Readings of tags
//     and triggers are as old as that Get: a change another tool makes to
//     them in between is not seen until the next read, and an Apply that
//     finds nothing to write makes no call (there is nothing it could
//     overwrite). Any Apply through the handle forgets the reading.
//   - A create publishes with CreateFunction (Publish) and waits once; a
//     change publishes at once (no version listing); an unchanged
//     function whose route record shows $LATEST already published costs
//     no call at all (otherwise one ListVersionsByFunction). Every
//     mutation's response is used when Lambda already reports it done,
//     else one GetFunction per poll.
//   - UpdateRoute is one UpdateAlias; it reads the alias first only to
//     keep half of the record it does not replace, and not when IfMatch
//     equals the alias as this handle last read or wrote it.
//
// Measured against the in-repo fake (2.4 MB zip, no triggers; each wait
// one poll): create + route 4 calls, code change + publish + route moved
// 6, the same with a 10% canary step then 100% 7, no change 2 reads and
// 0 bytes, rollback 3 (TestCallCounts prints the table). Each trigger
// kind the Spec manages adds the reads of its own API to each read of
// the route — HTTP: GetPolicy and GetFunctionUrlConfig (2); queue and
// stream: ListEventSourceMappings and ListTags per mapping (2 for one);
// schedule: ListSchedules and GetSchedule per schedule (2); storage:
// GetPolicy and GetBucketNotificationConfiguration per bucket (2);
// provisioned concurrency: GetProvisionedConcurrencyConfig (1) — and
// the calls that create it: HTTP CreateFunctionUrlConfig and two
// AddPermission for a public URL (3); a mapping CreateEventSourceMapping
// and one poll (2); a schedule CreateSchedule (1); storage AddPermission
// and a read-modify-write of the bucket's notification configuration
// (3); provisioned concurrency the request and one poll (2). A new
// kind's bookkeeping tag goes with CreateFunction on a new function,
// else costs one TagResource. A function this Apply created is known to
// have no triggers, so nothing is read for them.
//
// # Retries and waits
//
// One layer retries transient errors: the SDK's retryer, which classifies
// throttling, server errors and broken connections by type, set to
// Options.MaxRetries+1 attempts (default 6) on the driver's own copies of
// the clients; a persistent throttle costs at most that many calls of an
// operation. The adapter itself only waits out Lambda's 409 "update in
// progress" (up to MaxRetries times, waiting for LastUpdateStatus) and an
// IAM role not yet assumable right after its creation. Every mutation of
// the function is followed by a wait on LastUpdateStatus when Lambda
// reports it in progress (never a wait on State == Active, which an idle
// function leaves), and a failed update reports LastUpdateStatusReason.
// A readiness poll that still fails after the SDK's attempts is tried
// once more before the wait gives up, so a persistent throttle costs a
// wait at most 2×(MaxRetries+1) calls.
//
// # Pre-flight
//
// Apply checks the Spec against Lambda's rules and the handle's settings
// before its first call and returns InvalidArgument listing every
// problem: a region Lambda does not run in (with the SDK's own endpoint;
// a client with a BaseEndpoint may use any name), environment names that
// are not [a-zA-Z][a-zA-Z0-9_]* or are reserved by the runtime (AWS_REGION,
// AWS_LAMBDA_*, _HANDLER, …), values with NUL, secrets that are not ARNs,
// a schedule trigger without scheduler_role, a storage trigger without an
// S3 client, code over 50 MB without code_bucket, and for a create (known
// before any call with IfNotExist, else after the GetFunction that found
// the function missing) no code or no role (Spec.Identity or the URL's
// role=), and queue and stream sources that are not SQS, Kinesis or
// DynamoDB stream ARNs. The driver implements driver.SpecChecker with the
// same checks but the create ones (which need the read that finds the
// function missing), so the portable Validate and deploy.Plan report
// them as a violation; the kinds that need a setting are listed in
// Capabilities so that Validate lets CheckSpec name the setting.
//
// # Triggers
//
// Triggers all target the route (alias): HTTP is a function URL (for
// public URLs both the lambda:InvokeFunctionUrl and the
// lambda:InvokeFunction statements Lambda requires); queue and stream are
// SQS, Kinesis and DynamoDB Streams event source mappings (sources are
// ARNs). Every mapping is created and updated with FunctionResponseTypes
// [ReportBatchItemFailures], so the batch-item failures the portable
// function package answers are honoured (without it Lambda drops the
// whole batch on a partial failure); a mapping found without it is
// updated in place by the next Apply that reconciles triggers (deploy.Plan
// does not list that repair: the portable trigger has no field for it). A
// stream's MaxRetries is MaximumRetryAttempts (nil is -1, retry until the
// records expire; 0 to 10000 as given) and BisectOnError is
// BisectBatchOnFunctionError; both are read back, and a change is an
// UpdateEventSourceMapping, while a change of source or starting position
// recreates the mapping. Schedule is an EventBridge Scheduler schedule (needs the URL's
// scheduler_role, or Options.SchedulerClient and SchedulerRoleArn);
// storage is an entry in the S3 bucket's notification configuration,
// merged with the entries other tools wrote, plus the s3.amazonaws.com
// permission. updraft only touches triggers it created, recognised by key
// (see the ownership notes in triggers.go); each kind is one file behind
// the kindHandler interface.
//
// # Metrics
//
// Metrics come from one CloudWatch GetMetricData on the AWS/Lambda
// namespace: Invocations, Errors and Throttles by ExecutedVersion on the
// route. When the route has a function URL (one GetFunctionUrlConfig
// says), HTTP is true and the status classes come from UrlRequestCount,
// Url4xxCount and Url5xxCount. CloudWatch publishes those with the
// dimensions FunctionName and Resource only, not ExecutedVersion: they
// count every response of the route's URL, whichever version served it,
// so during a canary they mix the candidate's responses with the stable
// version's (a 5xx rate gate sees the candidate's errors diluted by its
// traffic share).
//
// # URLs
//
// awslambda://NAME?region=REGION opens function NAME with the SDK's
// default configuration and credential chain. Other parameters: role (the
// execution role for functions created without Spec.Identity),
// code_bucket (S3 bucket for code above 50 MB) and scheduler_role (the
// role EventBridge Scheduler assumes, enabling schedule triggers).
// Credentials never go in the URL.
//
// # As
//
// Function.As converts to **lambda.Client (the client given to
// OpenFunction), and to **s3.Client, **scheduler.Client and
// **cloudwatch.Client when configured. Function.ErrorAs uses errors.As on
// the SDK's errors, such as **types.ResourceNotFoundException or
// *smithy.APIError. ApplyOptions' BeforeApply asFunc converts to
// **lambda.CreateFunctionInput when Apply creates the function and to
// **lambda.UpdateFunctionConfigurationInput when it updates one; an edit
// made there (a VpcConfig, say) is sent even when the spec alone would
// change nothing.
package awslambda
