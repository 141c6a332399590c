// Package awslambda is the updraft provider for AWS Lambda, built on
// aws-sdk-go-v2. Import it for its side effect to open awslambda:// URLs
// with provider.Open, or call OpenFunction with a *lambda.Client.
//
// # Mapping
//
// A revision is a published version (PublishVersion with CodeSha256 and
// RevisionId preconditions); a route is an alias; traffic is the alias's
// RoutingConfig (one extra version, weight 0–1); a route's ETag is the
// alias RevisionId and its rollout marker lives in the alias description.
// The function's ETag is $LATEST's RevisionId. Runtime "go" deploys a
// linux "bootstrap" binary on provided.al2023; architectures amd64 and
// arm64 map to x86_64 and arm64. Code up to 50 MB is sent inline, larger
// code through S3 (Options.CodeBucket). Labels are function tags (tags
// starting with "updraft-" are updraft's bookkeeping and not Labels).
// Secrets are environment variables whose value is a Secrets Manager or
// SSM parameter ARN; updraft never resolves them. Max concurrency is
// reserved concurrency; provisioned concurrency is set on the route and
// waited for until READY, failing with Lambda's reason on FAILED.
//
// Every mutation of the function is preceded and followed by a wait on
// LastUpdateStatus (never on State == Active, which an idle function
// leaves); "update in progress" conflicts (409), throttling (429) and
// server errors are retried with bounded backoff after the SDK's own
// retries, and a failed update reports LastUpdateStatusReason.
//
// Triggers all target the route (alias): HTTP is a function URL (for
// public URLs both the lambda:InvokeFunctionUrl and the
// lambda:InvokeFunction statements Lambda requires); queue and stream are
// SQS, Kinesis and DynamoDB Streams event source mappings (sources are
// ARNs); schedule is an EventBridge Scheduler schedule (needs
// Options.SchedulerClient and SchedulerRoleArn); storage is an entry in
// the S3 bucket's notification configuration, merged with the entries
// other tools wrote, plus the s3.amazonaws.com permission. updraft only
// touches triggers it created, recognised by key (see the ownership notes
// in triggers.go). Metrics come from CloudWatch GetMetricData on the
// AWS/Lambda namespace.
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
// Function.As converts to **lambda.Client, and to **s3.Client,
// **scheduler.Client and **cloudwatch.Client when configured.
// Function.ErrorAs uses errors.As on the SDK's errors, such as
// **types.ResourceNotFoundException or *smithy.APIError. ApplyOptions'
// BeforeApply asFunc converts to **lambda.CreateFunctionInput when Apply
// creates the function and to **lambda.UpdateFunctionConfigurationInput
// when it updates one; an edit made there (a VpcConfig, say) is sent even
// when the spec alone would change nothing.
package awslambda
