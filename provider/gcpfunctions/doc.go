// Package gcpfunctions is the updraft provider for Google Cloud Functions
// (2nd gen, now "Cloud Run functions"), built on cloud.google.com/go:
// functions/apiv2 for the function, run/apiv2 for its Cloud Run service's
// traffic and revisions, scheduler/apiv1 for schedules and
// monitoring/apiv3 for gate metrics. Import it for its side effect to
// open gcpfunctions:// URLs with provider.Open, or call OpenFunction with
// the clients.
//
// # Mapping
//
// A function is a Cloud Functions v2 function; every deploy that changes
// build or service configuration makes a Cloud Run revision, and a
// revision is what updraft calls a revision (its short name,
// hello-00002-xyz). The function has one route, the traffic of its Cloud
// Run service, named by the service annotation updraft.dev/route
// (DefaultRoute unless the Spec says otherwise); a second route name is
// InvalidArgument. The route's ETag is the service etag, sent with every
// service write as its precondition (a stale one is FailedPrecondition).
// The rollout marker (with its lease: heartbeat and duration) and the
// verdicts (last good revision, the newest MaxFailedVerdicts failed ones)
// are the JSON annotations updraft.dev/rollout and updraft.dev/verdicts on
// the same service: metadata, so writing them makes no revision. Cloud
// Functions has no etag of its own: the function's ETag is its update
// time, compared just before an update (not by the server).
//
// Deploys follow the traffic procedure Cloud Functions needs: the
// service's traffic is pinned to a named revision (never LATEST; Apply
// pins it when it creates the function and before every update), and
// every UpdateFunction sends all_traffic_on_latest_revision=false with
// "service_config" in its update mask. The mask matters: proto3 does not
// send false or 0, and a field outside the mask keeps its live value, so
// without it the new revision becomes LATEST and takes all traffic (the
// Terraform provider had this bug). Updates always send the whole
// ServiceConfig (so an empty Env clears the variables); build_config,
// labels and event_trigger go in the mask only when they change, so an
// environment change does not rebuild. Traffic splits are Cloud Run
// traffic targets: the stable revision, and the candidate tagged
// "candidate"; Invoke of a revision reaches it through its tag URL,
// adding a 0% "smoke" tag when it has none (SetTraffic drops it again).
//
// Code is a source zip (bundle.Form{}): GenerateUploadUrl, a PUT of the
// zip with Content-Type application/zip and no Authorization header
// (a signed URL; Options.HTTPClient must add no credentials), then its
// StorageSource in the BuildConfig. The bundle digest is kept in the
// function label updraft-digest (base32 of the SHA-256), so an unchanged
// bundle is never uploaded, and in each revision's environment
// (UPDRAFT_META, with the portable runtime, entry point, tracing and log
// format), so every revision reports its own. A failed Cloud Build
// surfaces as a *BuildError with the build's message and log URL.
//
// Cloud Build compiles the source itself, so a Go function is either a
// bundle.GoFunction package written once for every cloud (the bundler
// builds its Cloud Functions form: a generated root package registering
// the entry point Updraft, bundle.GCFEntryPoint), or a directory holding
// its go.mod and one non-main package at the root (bundle.Dir;
// bundle.GoSource zips the whole module of the package).
//
// Runtimes map portable ids through Options.Runtimes (DefaultRuntimes,
// or RuntimesFromList over ListRuntimes): "go" is go126, with the entry
// point "Updraft" of the portable Go form unless Spec.Entrypoint says
// otherwise. Memory is available_memory in Mi, with the CPU Cloud Run
// couples to it (and at least one vCPU when Options.RequestConcurrency
// is above 1). Timeouts go up to 3600 s, 540 s with an event trigger.
// Max concurrency is max_instance_count; provisioned concurrency is the
// service-level minimum instances of the Cloud Run service, which Cloud
// Run divides among the revisions by their traffic and which needs no new
// revision. Secrets are secret_environment_variables built from Secret
// Manager version names (projects/P/secrets/S/versions/N); updraft never
// reads a value. Labels are function labels (updraft-* and goog-* ones
// are bookkeeping, not Labels). The variables UPDRAFT_FUNCTION and
// UPDRAFT_EVENT_KEY are set for the portable function package; Env names
// starting with UPDRAFT_ are refused.
//
// # Triggers
//
// HTTP is built in: the trigger is the label updraft-http = KEY, and Auth
// none sets the service's invoker_iam_disabled (Auth iam needs callers
// with roles/run.invoker). Queue (Pub/Sub topic projects/P/topics/T),
// stream (Firestore documents,
// projects/P/databases/D/documents/PATTERN) and storage (a bucket's
// finalized or deleted objects) triggers are the function's EventTrigger
// with retries on (RETRY_POLICY_RETRY): Cloud Functions allows one, so
// Capabilities sets MaxEventTriggers to 1 and Plan reports a second one
// as a violation before any call. A stream's MaxRetries is the retry
// policy: nil keeps RETRY_POLICY_RETRY (Cloud Functions retries a failed
// event with backoff for up to 7 days), 0 is RETRY_POLICY_DO_NOT_RETRY,
// and a count is refused with InvalidArgument by Validate (so Plan
// reports it, and Apply makes no call), as is BisectOnError (one document change per event, no batch to split);
// an event trigger read back without RETRY_POLICY_RETRY is MaxRetries 0. Cloud Functions cannot turn an HTTP function into an
// event-triggered one, or back, in place: Apply refuses with
// FailedPrecondition (delete the function, or use another). Schedules are
// Cloud Scheduler jobs named updraft_FUNCTION_KEY (so owned by key) that
// POST the payload to the function's URL (through the route's traffic)
// with an OIDC token of Options.SchedulerServiceAccount and the header
// X-Updraft-Trigger: KEY.
//
// # Calls per step
//
// Counted through the deploy engine against the fake (TestCallCounts),
// not counting GetOperation polls: every long-running operation (create,
// update, service write, deletion) adds one per poll, at least one on a
// real cloud.
//
//	create (deploy.Apply)       7: plan GetFunction; GetFunction, GenerateUploadUrl, PUT, CreateFunction,
//	                               GetService, UpdateService (route, pin)
//	code change (deploy.Apply) 12: plan GetFunction, GetService; GetFunction (x2), GetService (pin check,
//	                               then the route: x4), GenerateUploadUrl, PUT, UpdateFunction, UpdateService
//	no-op (deploy.Apply)        4 reads, 0 bytes: GetFunction, GetService, GetFunction, ListRevisions
//	rollback (deploy.Rollback)  6: GetFunction, GetService, GetFunction, ListRevisions, GetService, UpdateService
//
// With schedule triggers enabled every Get adds one ListJobs.
//
// # Retries
//
// The driver retries UNAVAILABLE and RESOURCE_EXHAUSTED, and ABORTED (an
// operation in progress, a concurrent service update) where it holds no
// caller's etag, with bounded exponential backoff (Options.MaxRetries),
// matching gRPC codes, never message text. Operations are polled every
// Options.PollInterval, growing to MaxPollInterval, for at most
// OperationTimeout.
//
// # URLs
//
// gcpfunctions://projects/PROJECT/locations/REGION/functions/NAME opens
// function NAME with Application Default Credentials. Query parameters:
// service_account, build_service_account, worker_pool,
// docker_repository, build_env (K=V,K2=V2), ingress (all, internal,
// internal-and-gclb), concurrency (requests per instance),
// scheduler_service_account (enables schedule triggers),
// trigger_service_account and trigger_region. Credentials never go in the
// URL.
//
// # As
//
// Function.As converts to **functions.FunctionClient,
// **run.ServicesClient and **run.RevisionsClient, and to
// **scheduler.CloudSchedulerClient and **monitoring.MetricClient when
// configured. Function.ErrorAs reaches *apierror.APIError (and
// status.FromError works on the errors), and *BuildError. ApplyOptions'
// BeforeApply asFunc converts to **functionspb.CreateFunctionRequest when
// Apply creates the function and to **functionspb.UpdateFunctionRequest
// when it updates one; an edit there is sent (its field added to the
// update mask) even when the spec alone would change nothing.
//
// # Unverified
//
// Checked against the client sources, not a live project: that Cloud
// Functions leaves the service annotations, service-level scaling and
// invoker_iam_disabled alone on deploys; which code Cloud Run gives a
// stale etag (the driver treats ABORTED and FAILED_PRECONDITION alike);
// and that Cloud Run's traffic split applies to event deliveries. The
// opt-in integration test (UPDRAFT_IT_GCP=1) runs the conformance suite
// against a real project.
package gcpfunctions
