package awslambda

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// Queues and streams: event source mappings (SQS, Kinesis, DynamoDB
// Streams). A read costs ListEventSourceMappings on the alias plus
// ListTags per mapping (the owner tag is only there); a new one
// CreateEventSourceMapping and GetEventSourceMapping polls until it is
// Enabled.
//
// Every mapping asks for FunctionResponseTypes [ReportBatchItemFailures]:
// the portable function package answers a batch with the items that
// failed, and without the response type Lambda ignores that answer and
// deletes (or checkpoints past) the whole batch. A mapping without it
// (made before updraft asked for it) reads back with a different sig, so
// the next reconcile updates it in place.

// reportItemFailures is the response type every mapping asks for.
var reportItemFailures = []types.FunctionResponseType{types.FunctionResponseTypeReportBatchItemFailures}

// esmSettings are the settings of one mapping updraft writes.
type esmSettings struct {
	key, src string
	batch    int
	window   time.Duration
	// start is "" for SQS; the rest apply to streams only.
	start   string
	retries *int
	bisect  bool
}

func (e esmSettings) stream() bool { return e.start != "" }

// sig is how the settings read back, for comparison.
func (e esmSettings) sig() string {
	if !e.stream() {
		return esmSig(e.src, batchOrDefault(e.batch, 10), int32(e.window/time.Second), "", reportItemFailures, nil, nil)
	}
	return esmSig(e.src, batchOrDefault(e.batch, 100), 0, e.start, reportItemFailures, aws.Int32(retryAttempts(e.retries)), aws.Bool(e.bisect))
}

func esmOf(t trigger.Trigger) esmSettings {
	if v, ok := t.(trigger.Queue); ok {
		return esmSettings{key: v.Key, src: v.Source, batch: v.BatchSize, window: v.MaxBatchingWindow}
	}
	v := t.(trigger.Stream)
	return esmSettings{key: v.Key, src: v.Source, batch: v.BatchSize, start: startingPosition(v.StartingPosition), retries: v.MaxRetries, bisect: v.BisectOnError}
}

type esmKind struct{}

func (esmKind) usesPolicy() bool { return false }

func (esmKind) read(ctx context.Context, f *function, rt *routeTriggers) error {
	return f.readESMs(ctx, rt)
}

func (esmKind) sig(f *function, rt *routeTriggers, t trigger.Trigger) (string, error) {
	switch v := t.(type) {
	case trigger.Queue:
		if !strings.HasPrefix(v.Source, "arn:aws") || !strings.Contains(v.Source, ":sqs:") {
			return "", driver.NewError(driver.InvalidArgument, fmt.Sprintf("queue trigger %s: source %q: Lambda takes an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)", v.Key, v.Source))
		}
		return esmOf(v).sig(), nil
	case trigger.Stream:
		if !strings.HasPrefix(v.Source, "arn:aws") || !(strings.Contains(v.Source, ":kinesis:") || strings.Contains(v.Source, ":dynamodb:") && strings.Contains(v.Source, "/stream/")) {
			return "", driver.NewError(driver.InvalidArgument, fmt.Sprintf("stream trigger %s: source %q: Lambda takes a Kinesis stream ARN or a DynamoDB stream ARN (…:table/T/stream/LABEL)", v.Key, v.Source))
		}
		if v.MaxRetries != nil && (*v.MaxRetries < 0 || *v.MaxRetries > 10000) {
			return "", driver.NewError(driver.InvalidArgument, fmt.Sprintf("stream trigger %s: max retries %d: Lambda takes 0 to 10000, or leave it unset to retry until the records expire", v.Key, *v.MaxRetries))
		}
		return esmOf(v).sig(), nil
	}
	return "", driver.NewError(driver.Internal, "awslambda: event source mapping of a "+string(t.Kind())+" trigger")
}

func (esmKind) put(ctx context.Context, f *function, rt *routeTriggers, o *owned, t trigger.Trigger) error {
	return f.putESM(ctx, rt, o, esmOf(t))
}

func (esmKind) del(ctx context.Context, f *function, rt *routeTriggers, o *owned) error {
	return f.deleteESM(ctx, o)
}

func batchOrDefault(n, def int) int32 {
	if n <= 0 {
		return int32(def)
	}
	return int32(n)
}

// retryAttempts is MaximumRetryAttempts for MaxRetries: -1 (retry until
// the records expire) for nil.
func retryAttempts(n *int) int32 {
	if n == nil {
		return -1
	}
	return int32(*n)
}

func startingPosition(p trigger.StartingPosition) string {
	if p == trigger.StartTrimHorizon {
		return string(types.EventSourcePositionTrimHorizon)
	}
	return string(types.EventSourcePositionLatest)
}

// esmSig renders a mapping's settings; retries and bisect are nil for SQS.
// A stream mapping that reports no MaximumRetryAttempts has Lambda's
// default, -1.
func esmSig(src string, batch, window int32, start string, resp []types.FunctionResponseType, retries *int32, bisect *bool) string {
	rs := make([]string, len(resp))
	for i, r := range resp {
		rs[i] = string(r)
	}
	slices.Sort(rs)
	s := fmt.Sprintf("esm src=%s batch=%d window=%d start=%s resp=%s", src, batch, window, start, strings.Join(rs, ","))
	if start != "" {
		r := int32(-1)
		if retries != nil {
			r = *retries
		}
		s += fmt.Sprintf(" retries=%d bisect=%t", r, aws.ToBool(bisect))
	}
	return s
}

func (f *function) readESMs(ctx context.Context, rt *routeTriggers) error {
	p := lambda.NewListEventSourceMappingsPaginator(f.client, &lambda.ListEventSourceMappingsInput{FunctionName: aws.String(rt.aliasArn)})
	for p.HasMorePages() {
		page, err := do(ctx, f, "NextPage", func(ctx context.Context) (*lambda.ListEventSourceMappingsOutput, error) { return p.NextPage(ctx) })
		if err != nil {
			return err
		}
		for i := range page.EventSourceMappings {
			m := &page.EventSourceMappings[i]
			if m.EventSourceMappingArn == nil {
				continue
			}
			tags, err := do(ctx, f, "ListTags", func(ctx context.Context) (*lambda.ListTagsOutput, error) {
				return f.client.ListTags(ctx, &lambda.ListTagsInput{Resource: m.EventSourceMappingArn})
			})
			if err != nil {
				return err
			}
			key, ok := tags.Tags[esmTag]
			if !ok {
				continue
			}
			src := aws.ToString(m.EventSourceArn)
			batch, window := aws.ToInt32(m.BatchSize), aws.ToInt32(m.MaximumBatchingWindowInSeconds)
			o := &owned{key: key, esm: m}
			if strings.Contains(src, ":sqs:") {
				q := trigger.Queue{Key: key, Source: src, MaxBatchingWindow: time.Duration(window) * time.Second}
				if batch != 10 {
					q.BatchSize = int(batch)
				}
				o.kind, o.trigger, o.sig = trigger.KindQueue, q, esmSig(src, batch, window, "", m.FunctionResponseTypes, nil, nil)
			} else {
				s := trigger.Stream{Key: key, Source: src, StartingPosition: trigger.StartLatest, BisectOnError: aws.ToBool(m.BisectBatchOnFunctionError)}
				if m.StartingPosition == types.EventSourcePositionTrimHorizon {
					s.StartingPosition = trigger.StartTrimHorizon
				}
				if batch != 100 {
					s.BatchSize = int(batch)
				}
				if r := m.MaximumRetryAttempts; r != nil && *r >= 0 {
					s.MaxRetries = new(int(*r))
				}
				o.kind, o.trigger, o.sig = trigger.KindStream, s, esmSig(src, batch, 0, string(m.StartingPosition), m.FunctionResponseTypes, m.MaximumRetryAttempts, m.BisectBatchOnFunctionError)
			}
			rt.owned[key] = o
		}
	}
	return nil
}

// waitESM polls a mapping until it leaves its transitional states.
func (f *function) waitESM(ctx context.Context, uuid string) error {
	return f.poll(ctx, "event source mapping "+uuid, f.opts.UpdateTimeout, func(ctx context.Context) (bool, error) {
		m, err := do(ctx, f, "GetEventSourceMapping", func(ctx context.Context) (*lambda.GetEventSourceMappingOutput, error) {
			return f.client.GetEventSourceMapping(ctx, &lambda.GetEventSourceMappingInput{UUID: aws.String(uuid)})
		})
		if err != nil {
			return false, err
		}
		switch aws.ToString(m.State) {
		case "Enabled", "Disabled":
			return true, nil
		case "Creating", "Enabling", "Disabling", "Updating", "Deleting":
			return false, nil
		}
		return false, &FailedError{Function: f.name, What: "event source mapping " + uuid, Status: aws.ToString(m.State), Reason: aws.ToString(m.StateTransitionReason)}
	})
}

func (f *function) putESM(ctx context.Context, rt *routeTriggers, o *owned, e esmSettings) error {
	if o != nil && (aws.ToString(o.esm.EventSourceArn) != e.src || string(o.esm.StartingPosition) != e.start) {
		// Neither the source nor the starting position can be updated.
		if err := f.deleteESM(ctx, o); err != nil {
			return err
		}
		o = nil
	}
	var b, w *int32
	if e.batch > 0 {
		b = aws.Int32(int32(e.batch))
	}
	if e.window > 0 || o != nil {
		w = aws.Int32(int32(e.window / time.Second))
	}
	// Stream mappings always carry their retry budget and bisect flag (an
	// update back to the defaults must say so); SQS refuses both.
	var retries *int32
	var bisect *bool
	if e.stream() {
		retries, bisect = aws.Int32(retryAttempts(e.retries)), aws.Bool(e.bisect)
	}
	if o != nil {
		if b == nil {
			b = aws.Int32(batchOrDefault(0, map[bool]int{true: 100, false: 10}[e.stream()]))
		}
		uuid := aws.ToString(o.esm.UUID)
		in := &lambda.UpdateEventSourceMappingInput{UUID: aws.String(uuid), BatchSize: b, MaximumBatchingWindowInSeconds: w,
			FunctionResponseTypes: reportItemFailures, MaximumRetryAttempts: retries, BisectBatchOnFunctionError: bisect}
		err := f.retry(ctx, "UpdateEventSourceMapping", func(ctx context.Context) error { return f.waitESM(ctx, uuid) }, func(ctx context.Context) error {
			_, err := f.client.UpdateEventSourceMapping(ctx, in)
			return err
		})
		if err != nil {
			return err
		}
		return f.waitESM(ctx, uuid)
	}
	in := &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(e.src), FunctionName: aws.String(rt.aliasArn), BatchSize: b,
		MaximumBatchingWindowInSeconds: w, FunctionResponseTypes: reportItemFailures, MaximumRetryAttempts: retries,
		BisectBatchOnFunctionError: bisect, Tags: map[string]string{esmTag: e.key}}
	if e.stream() {
		in.StartingPosition = types.EventSourcePosition(e.start)
	}
	var out *lambda.CreateEventSourceMappingOutput
	err := f.retry(ctx, "CreateEventSourceMapping", nil, func(ctx context.Context) error {
		var err error
		out, err = f.client.CreateEventSourceMapping(ctx, in)
		return err
	})
	if errorCode(err) == driver.AlreadyExists {
		return driver.NewError(driver.AlreadyExists, fmt.Sprintf("trigger %s: %s already feeds route %s of %s through a mapping updraft did not create: delete it or leave Triggers nil (%v)", e.key, e.src, rt.route, f.name, err))
	}
	if err != nil {
		return err
	}
	return f.waitESM(ctx, aws.ToString(out.UUID))
}

func (f *function) deleteESM(ctx context.Context, o *owned) error {
	uuid := aws.ToString(o.esm.UUID)
	err := f.retry(ctx, "DeleteEventSourceMapping", func(ctx context.Context) error { return f.waitESM(ctx, uuid) }, func(ctx context.Context) error {
		_, err := f.client.DeleteEventSourceMapping(ctx, &lambda.DeleteEventSourceMappingInput{UUID: aws.String(uuid)})
		return err
	})
	if apiCode(err) == "ResourceNotFoundException" {
		return nil
	}
	return err
}

// esmDrift says how a mapping updraft owns differs from the one it
// writes for the same trigger, where the portable trigger cannot show it:
// one an older updraft created without ReportBatchItemFailures, which
// would delete the messages a batch response names as failed. "" when it
// does not, or o is no mapping.
func (f *function) esmDrift(rt *routeTriggers, o *owned) string {
	if o.esm == nil || o.trigger == nil || (o.kind != trigger.KindQueue && o.kind != trigger.KindStream) {
		return ""
	}
	want, err := (esmKind{}).sig(f, rt, o.trigger)
	if err != nil || want == o.sig {
		return ""
	}
	if !slices.Contains(o.esm.FunctionResponseTypes, types.FunctionResponseTypeReportBatchItemFailures) {
		return "the mapping does not ask for ReportBatchItemFailures: Lambda would delete the messages a batch response names as failed"
	}
	return "the mapping's settings differ from those updraft writes"
}
