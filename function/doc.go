// Package function is what a user's Go function imports to run unchanged
// on AWS Lambda, Google Cloud Functions (2nd gen), Azure Functions and
// updraft's local:// provider.
//
// A function is an ordinary Go library package (not package main) that
// registers its handlers in init, one per trigger key, using the keys of
// the Spec's triggers (package trigger):
//
//	func init() {
//		function.HTTP("web", mux)              // any http.Handler
//		function.Queue("jobs", handleJobs)     // batches, per-message failure
//		function.Stream("orders", handleOrder) // database changes
//		function.Storage("uploads", handleObj) // object created / deleted
//		function.Schedule("tick", handleTick)  // timer ticks
//	}
//
// The bundler (bundle.GoFunction) generates the program around that
// package for each target: a main calling Main for Lambda, Azure and
// local://, and a root package registering Handler with
// functions-framework-go for Cloud Functions. Nobody writes a main per
// cloud.
//
// # Where it runs
//
// Main looks at the environment. UPDRAFT_RUNTIME (lambda, http or azure)
// forces a mode; otherwise AWS_LAMBDA_RUNTIME_API selects the Lambda
// Runtime API (through github.com/aws/aws-lambda-go), then
// FUNCTIONS_CUSTOMHANDLER_PORT the Azure custom handler, then PORT plain
// HTTP (Cloud Run and the functions-framework contract). local:// offers
// both the Runtime API and $PORT to a new function: Main picks the Runtime
// API there, and UPDRAFT_RUNTIME=http in the Spec's Env picks HTTP.
//
// # Events
//
// Each cloud's native events are decoded with maintained types and mapped
// to the portable ones:
//
//   - Lambda: github.com/aws/aws-lambda-go/events — function URL and API
//     Gateway v2 HTTP requests, SQS, DynamoDB Streams, Kinesis, S3 and
//     EventBridge (Scheduler) events. A queue or stream batch answers with
//     ReportBatchItemFailures ({"batchItemFailures":[{"itemIdentifier":…}]})
//     naming the messages the handler reported failed; an error fails the
//     whole batch.
//   - Cloud Functions: CloudEvents in binary or structured mode, decoded
//     with github.com/cloudevents/sdk-go/v2 — Pub/Sub messagePublished,
//     Cloud Storage object events, Firestore document events (protobuf,
//     Firestore's default, or JSON) — and Cloud Scheduler HTTP calls
//     (X-CloudScheduler headers). A failed message answers 500, which Pub/Sub and Eventarc
//     treat as a nack and redeliver.
//   - Azure: the custom-handler invocation envelope {"Data":…,"Metadata":…}
//     POSTed at /KEY for queue and Service Bus (binding msg), Cosmos DB
//     (documents), timer (timer) and blob (blob) triggers; the answer is
//     {"Outputs":{},"Logs":[…],"ReturnValue":null}, with status 500 on
//     failure so that the host retries; Logs holds the messages the
//     handler logged through slog, which the host records with the
//     invocation. HTTP triggers are forwarded as the
//     original request (enableForwardingHttpRequest).
//
// The cloud does not always say which trigger an event came from (Lambda
// receives every event source on one function, Cloud Functions has one
// event trigger per function). An event goes to the handler of its kind
// its CloudEvent's updraftkey extension names (local:// sets it), else to
// the one registered under $UPDRAFT_EVENT_KEY, else to the only handler of its
// kind, else to the handler whose key ends the source's name (a schedule
// named "…-tick", a notification configuration "…-uploads").
//
// # Logs and traces
//
// Every handler's context carries an Info (FromContext): the platform, the
// trigger key, the request id (Lambda request id, Cloud Functions
// execution id or CloudEvent id, Azure invocation id) and the W3C trace
// context, taken from traceparent, X-Cloud-Trace-Context or the X-Ray
// header (Lambda-Runtime-Trace-Id / _X_AMZN_TRACE_ID) as each cloud sends
// it. NewLogHandler is a log/slog JSON handler that writes those in each
// cloud's correlation fields: requestId and xray_trace_id on Lambda (as its
// JSON log format does), severity, logging.googleapis.com/trace
// (projects/P/traces/T, with P from GOOGLE_CLOUD_PROJECT) and
// logging.googleapis.com/spanId on Cloud Functions, invocationId and
// operation_Id on Azure. Main installs it as the default slog logger.
// Transport is an http.RoundTripper that sends the trace context on
// outgoing calls.
//
// # Global state
//
// The package-level registration functions use DefaultMux, as net/http's
// do; it is the one piece of package state, and it exists because the
// user's package registers in init. Tests build their own Mux.
package function
