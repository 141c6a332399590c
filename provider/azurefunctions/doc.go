// Package azurefunctions deploys functions to Azure Functions, on the Flex
// Consumption plan (the default) or on Elastic Premium, through the Azure
// SDK for Go (armappservice/v6 for ARM, azblob for the revision container,
// armmonitor for metrics) and the app's SCM (Kudu) host for code.
//
// # Opening
//
//	fn, err := provider.Open(ctx, "azurefunctions://subscriptions/SUB/resourceGroups/RG/sites/APP?location=westeurope&storage=stacct")
//
// uses azidentity.NewDefaultAzureCredential. OpenFunction takes any
// azcore.TokenCredential and *Options. Query parameters: plan (flex or
// premium), location and storage (needed only to create the app),
// plan_name, sku (EP1, EP2, EP3) and revisions (a blob container URL).
// The URL names the app; one app is one updraft function.
//
// # The package: a custom handler
//
// The code form is a custom handler: a linux/amd64 executable named
// "handler" at the zip root, plus files the adapter generates from the
// Spec and compiles into the package (bundle Form.Extra): host.json (with
// customHandler, enableForwardingHttpRequest, an empty HTTP route prefix,
// the extension bundle and functionTimeout from Spec.Timeout) and one
// KEY/function.json per trigger key. The package is reproducible: the same
// code and triggers give the same digest. The function package of this
// module serves that contract.
//
// Flex Consumption lists no "custom" language in its documentation, and
// Microsoft's native Go worker (an "app" binary with code-first
// registration, runtime "go") is documented as preview or newly generally
// available. The SDK's RuntimeName enumeration, which only Flex's
// functionAppConfig uses, has a "custom" value, so the adapter sets
// functionAppConfig.runtime to custom 1.0 and ships a custom handler on
// both plans. This has not been checked against a live Flex stacks API
// from this repository; Options.FlexRuntime and FlexRuntimeVersion change
// it (Microsoft's own samples also run custom handlers on Flex under the
// python runtime). Capabilities reports Runtimes ["go"], architecture
// amd64 and CodeForm{Binary: "handler"}.
//
// # Triggers
//
// Each trigger key becomes a function (a folder) with one binding. Apply
// compiles the Spec's triggers first, so one Azure cannot express is
// refused before any call:
//
//   - trigger.HTTP: httpTrigger on route {*path}, forwarded to the
//     handler at its own path. AuthNone is authLevel anonymous; AuthIAM
//     is authLevel function: callers need a function key, which Invoke
//     reads through ARM (ListHostKeys), so ARM RBAC governs access.
//     One HTTP trigger per app; CORS origins are Unimplemented.
//   - trigger.Queue: queueTrigger for "QUEUE" (host storage) or
//     "ACCOUNT/QUEUE"; serviceBusTrigger for "servicebus:NAMESPACE/QUEUE"
//     or "servicebus:NAMESPACE/TOPIC/SUBSCRIPTION".
//   - trigger.Stream: cosmosDBTrigger for "cosmos:ACCOUNT/DATABASE/CONTAINER"
//     (lease container "leases", prefixed with the key). MaxRetries N > 0
//     is a function-level retry policy in function.json (strategy
//     fixedDelay, maxRetryCount N, delayInterval 00:00:10; the lease is
//     not checkpointed while a batch is retried, so the partition waits).
//     nil and 0 write no retry policy: Azure's default, under which a
//     batch whose execution fails is not retried (the checkpoint moves
//     on and the batch is lost), so nil does not mean "retry until the
//     records expire" here. BisectOnError is refused (InvalidArgument):
//     the trigger cannot split a batch.
//   - trigger.Schedule: timerTrigger with a six-field NCRONTAB (UTC only).
//   - trigger.Storage: blobTrigger with source EventGrid (what Flex needs)
//     for "CONTAINER" or "ACCOUNT/CONTAINER", created events only. The
//     Event Grid subscription that feeds it is not created by updraft.
//
// Connections are identity-based: app settings such as
// UPDRAFT_ORDERS_SB__fullyQualifiedNamespace name the resource, never a
// key or connection string. The app's managed identity needs the data
// roles on each resource.
//
// # Settings and secrets
//
// Env becomes app settings. Each secret is a Key Vault reference,
// @Microsoft.KeyVault(SecretUri=https://VAULT.vault.azure.net/secrets/NAME),
// that Azure resolves at run time with the app's identity; a value that is
// not a Key Vault secret URI or reference is refused without being echoed.
// The app settings updraft wrote last are replaced on each change; others
// are kept. UPDRAFT_FUNCTION is the app name.
//
// # Scale
//
// Flex: MemoryMB is functionAppConfig instanceMemoryMB (512, 2048 or
// 4096), Concurrency.Max is maximumInstanceCount, Concurrency.Provisioned
// is always-ready instances of the http group, and
// Options.PerInstanceConcurrency the HTTP per-instance concurrency.
// Premium: memory is the plan SKU (EP1 3.5 GB, EP2 7 GB, EP3 14 GB),
// Concurrency.Max is functionAppScaleLimit, Provisioned is
// minimumElasticInstanceCount (at most 20) and Options.PreWarmedInstances
// the pre-warmed buffer. Provisioned concurrency belongs to the route, so
// it changes on the production app at once; it is reported READY once ARM
// has accepted it, as Azure exposes no readiness of always-ready
// instances.
//
// # Revisions, packages and the route
//
// Azure has no immutable function versions, so the adapter keeps them: a
// revision is a record (configuration, triggers, managed app settings,
// package digest) plus its package, kept in a blob container, by default
// the Flex deployment container (Options.RevisionContainer otherwise,
// required on Premium), under updraft/APP/. The records live in one blob
// (revisions.json) written with If-Match on its ETag. The last applied
// configuration is the draft, which Get reports as Config, like Lambda's
// $LATEST.
//
// The one route, "live", is the production host. Its record lives in site
// tags (values over 256 characters are split across NAME, NAME.1, …):
// updraft-live (the serving revision), updraft-marker (the rollout marker
// with its heartbeat and lease), updraft-verdicts ("GOOD;FAILED,…",
// keeping the newest 32 failed revisions), updraft-provisioned, and the
// digests of the packages on each slot. Route writes are one PUT of the
// site conditioned with If-Match on the site's ARM ETag; Route.ETag is a
// hash of those tags, so Apply and other tools' tag edits do not make a
// route ETag stale. Other site tags are the Spec's Labels.
//
// Until the route exists, Apply deploys straight to the production app.
// Afterwards Apply changes nothing that serves traffic:
//
//   - Flex has no slots and no traffic split. Apply keeps the draft (and,
//     with Publish, a new revision) in the revision container. Moving the
//     route to a revision (UpdateRoute with Traffic) writes the tags first
//     (with a deploying flag), applies the revision's scale settings and
//     app settings, deploys its kept package by OneDeploy unless that
//     digest is already live, then clears the flag. Rollback is the same
//     move back: the previous package is redeployed from the container,
//     with no rebuild. A revision cannot be invoked before it is live, so
//     on Flex roll out all at once and gate on the live revision
//     (deploy, gate, keep or redeploy the previous package); Invoke of a
//     revision that is not live is Unimplemented.
//   - Premium deploys the draft to the staging slot (zip deploy on the
//     slot's SCM host), where it can be invoked and gated on its own host
//     name at 0%. Moving the route to the staged revision swaps the slot
//     with production; moving back swaps again (rollback = swap back, no
//     deployment). A revision in neither slot is deployed to staging
//     first. Percent routing (RampUpRules) is not used: it is reported to
//     be unreliable for function apps and covers HTTP only, so
//     Capabilities.WeightedTraffic is false on both plans and the engine
//     degrades canaries to blue/green. Azure runs the triggers of every
//     slot, so the adapter disables the staged revision's non-HTTP
//     functions in the staging slot (AzureWebJobs.KEY.Disabled=true, made
//     a sticky slot setting so a swap leaves it with the slot).
//
// A Delete removes the app (and its slots) and the kept revisions.
//
// # Deployments
//
// Code goes to the SCM host with an Entra ID bearer token (scope
// Options.SCMScope, default https://management.azure.com/.default):
// POST /api/publish?RemoteBuild=false on Flex (OneDeploy; zip deploy is
// not supported there), POST /api/zipdeploy?isAsync=true on Premium (with
// WEBSITE_RUN_FROM_PACKAGE=1). The status is polled until Kudu reports it
// complete; the body decides, not the HTTP status. A failed deployment is
// a *DeploymentError (code Internal) carrying the deployment log's error
// lines. A 409 (another deployment in progress) is retried with backoff
// by the driver; throttling (429, honouring Retry-After) and 5xx answers
// are retried by the SDK pipelines the driver configures, at most
// Options.MaxRetries times. Retries match status codes, never messages.
//
// # Metrics
//
// Metrics reads Azure Monitor's App Service metrics of the host serving
// the revision (Requests, Http2xx, Http4xx, Http5xx; Errors are the 5xx
// responses): production for the live revision, the staging slot for the
// staged one on Premium. Without Options.MetricsClient it is
// Unimplemented.
//
// # Cost
//
// Against the fake (go test -bench . in this package): an unchanged Apply
// reads the site and the revision index (1 ARM and 1 blob request) and
// sends nothing; creating an app takes 11 ARM requests (LRO polls
// included), 4 blob and 4 SCM requests; a Flex redeploy of a kept
// package 11 ARM, 3 blob and 4 SCM; a Premium swap 9 ARM and 1 blob.
//
// # Preconditions
//
// State.ETag hashes the draft, so Apply with IfMatch fails with
// FailedPrecondition after another deployer applied; the index write and
// every site PUT are conditioned on the ETags they were read with. Apply
// with IfNotExist creates with If-None-Match: * and fails with
// AlreadyExists when it lost the race.
//
// # Escape hatches
//
// Function.As accepts **armappservice.WebAppsClient,
// **armappservice.PlansClient, **armmonitor.MetricsClient,
// **container.Client (the revision container, when known) and
// *azcore.TokenCredential. ErrorAs reaches *azcore.ResponseError (ARM and
// blob errors), *SCMError and *DeploymentError. BeforeApply's asFunc
// accepts **armappservice.Site (the site about to be PUT) and
// **armappservice.StringDictionary (the app settings about to be written).
//
// # Not done
//
// The plan's content share settings on Premium
// (WEBSITE_CONTENTAZUREFILECONNECTIONSTRING, WEBSITE_CONTENTSHARE) are
// not written, as they take a connection string: set them on the app or
// through BeforeApply. Application Insights is connected only when
// Options.ApplicationInsightsConnectionString is set. Event Grid
// subscriptions for blob triggers are left to the caller.
package azurefunctions
