package awslambda

import (
	"context"
	"fmt"
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
		return esmSig(v.Source, batchOrDefault(v.BatchSize, 10), int32(v.MaxBatchingWindow/time.Second), ""), nil
	case trigger.Stream:
		if !strings.HasPrefix(v.Source, "arn:aws") || !(strings.Contains(v.Source, ":kinesis:") || strings.Contains(v.Source, ":dynamodb:") && strings.Contains(v.Source, "/stream/")) {
			return "", driver.NewError(driver.InvalidArgument, fmt.Sprintf("stream trigger %s: source %q: Lambda takes a Kinesis stream ARN or a DynamoDB stream ARN (…:table/T/stream/LABEL)", v.Key, v.Source))
		}
		return esmSig(v.Source, batchOrDefault(v.BatchSize, 100), 0, startingPosition(v.StartingPosition)), nil
	}
	return "", driver.NewError(driver.Internal, "awslambda: event source mapping of a "+string(t.Kind())+" trigger")
}

func (esmKind) put(ctx context.Context, f *function, rt *routeTriggers, o *owned, t trigger.Trigger) error {
	if v, ok := t.(trigger.Queue); ok {
		return f.putESM(ctx, rt, o, v.Key, v.Source, v.BatchSize, v.MaxBatchingWindow, "")
	}
	v := t.(trigger.Stream)
	return f.putESM(ctx, rt, o, v.Key, v.Source, v.BatchSize, 0, startingPosition(v.StartingPosition))
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

func startingPosition(p trigger.StartingPosition) string {
	if p == trigger.StartTrimHorizon {
		return string(types.EventSourcePositionTrimHorizon)
	}
	return string(types.EventSourcePositionLatest)
}

func esmSig(src string, batch, window int32, start string) string {
	return fmt.Sprintf("esm src=%s batch=%d window=%d start=%s", src, batch, window, start)
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
				o.kind, o.trigger, o.sig = trigger.KindQueue, q, esmSig(src, batch, window, "")
			} else {
				s := trigger.Stream{Key: key, Source: src, StartingPosition: trigger.StartLatest}
				if m.StartingPosition == types.EventSourcePositionTrimHorizon {
					s.StartingPosition = trigger.StartTrimHorizon
				}
				if batch != 100 {
					s.BatchSize = int(batch)
				}
				o.kind, o.trigger, o.sig = trigger.KindStream, s, esmSig(src, batch, 0, string(m.StartingPosition))
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

func (f *function) putESM(ctx context.Context, rt *routeTriggers, o *owned, key, src string, batch int, window time.Duration, start string) error {
	if o != nil && (aws.ToString(o.esm.EventSourceArn) != src || string(o.esm.StartingPosition) != start) {
		// Neither the source nor the starting position can be updated.
		if err := f.deleteESM(ctx, o); err != nil {
			return err
		}
		o = nil
	}
	var b, w *int32
	if batch > 0 {
		b = aws.Int32(int32(batch))
	}
	if window > 0 || o != nil {
		w = aws.Int32(int32(window / time.Second))
	}
	if o != nil {
		if b == nil {
			b = aws.Int32(batchOrDefault(0, map[bool]int{true: 10, false: 100}[start == ""]))
		}
		uuid := aws.ToString(o.esm.UUID)
		err := f.retry(ctx, "UpdateEventSourceMapping", func(ctx context.Context) error { return f.waitESM(ctx, uuid) }, func(ctx context.Context) error {
			_, err := f.client.UpdateEventSourceMapping(ctx, &lambda.UpdateEventSourceMappingInput{UUID: aws.String(uuid), BatchSize: b, MaximumBatchingWindowInSeconds: w})
			return err
		})
		if err != nil {
			return err
		}
		return f.waitESM(ctx, uuid)
	}
	in := &lambda.CreateEventSourceMappingInput{EventSourceArn: aws.String(src), FunctionName: aws.String(rt.aliasArn), BatchSize: b,
		MaximumBatchingWindowInSeconds: w, Tags: map[string]string{esmTag: key}}
	if start != "" {
		in.StartingPosition = types.EventSourcePosition(start)
	}
	var out *lambda.CreateEventSourceMappingOutput
	err := f.retry(ctx, "CreateEventSourceMapping", nil, func(ctx context.Context) error {
		var err error
		out, err = f.client.CreateEventSourceMapping(ctx, in)
		return err
	})
	if errorCode(err) == driver.AlreadyExists {
		return driver.NewError(driver.AlreadyExists, fmt.Sprintf("trigger %s: %s already feeds route %s of %s through a mapping updraft did not create: delete it or leave Triggers nil (%v)", key, src, rt.route, f.name, err))
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
