package awslambda

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// Ownership: updraft recognises the triggers it wrote by key.
//   - HTTP: the function tag updraft-url-ROUTE = KEY marks the route's
//     function URL; its permissions are statements updraft-KEY-url and
//     updraft-KEY-invoke.
//   - Queue and stream: the event source mapping tag updraft-trigger = KEY.
//   - Schedule: the schedule name updraft-KEY-HASH (HASH from the alias ARN).
//   - Storage: the permission statement updraft-KEY-s3 (naming the bucket)
//     and the notification entry id updraft-FUNCTION-ROUTE-KEY.
const esmTag = "updraft-trigger"

func urlTag(route string) string { return tagPrefix + "url-" + route }

// owned is one trigger updraft owns on a route, as read from AWS.
type owned struct {
	key      string
	kind     trigger.Kind
	trigger  trigger.Trigger // nil when only a leftover (a permission) remains
	sig      string          // AWS-side settings, compared with desiredSig
	endpoint string
	esm      *types.EventSourceMappingConfiguration
	schedule string
	bucket   string
}

// statement is the part of a resource-policy statement updraft reads.
type statement struct {
	Sid       string                     `json:"Sid"`
	Condition map[string]json.RawMessage `json:"Condition"`
}

func (s statement) sourceArn() string {
	var m map[string]any
	if json.Unmarshal(s.Condition["ArnLike"], &m) != nil {
		return ""
	}
	v, _ := m["AWS:SourceArn"].(string)
	return v
}

// routeTriggers is what readRoute found on one route.
type routeTriggers struct {
	route, aliasArn, fnArn string
	owned                  map[string]*owned
	policy                 map[string]statement // by Sid
}

func (f *function) readTriggers(ctx context.Context, fnArn string, routes []string, tags map[string]string) ([]*owned, error) {
	var out []*owned
	for _, r := range routes {
		rt, err := f.readRoute(ctx, fnArn, r, tags)
		if err != nil {
			return nil, err
		}
		for _, k := range slices.Sorted(maps.Keys(rt.owned)) {
			if rt.owned[k].trigger != nil {
				out = append(out, rt.owned[k])
			}
		}
	}
	return out, nil
}

func (f *function) readRoute(ctx context.Context, fnArn, route string, tags map[string]string) (*routeTriggers, error) {
	rt := &routeTriggers{route: route, fnArn: fnArn, aliasArn: fnArn + ":" + route, owned: map[string]*owned{}, policy: map[string]statement{}}
	pol, err := do(ctx, f, "GetPolicy", func(ctx context.Context) (*lambda.GetPolicyOutput, error) {
		return f.client.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String(f.name), Qualifier: aws.String(route)})
	})
	switch {
	case apiCode(err) == "ResourceNotFoundException":
	case err != nil:
		return nil, err
	default:
		var doc struct{ Statement []statement }
		if err := json.Unmarshal([]byte(aws.ToString(pol.Policy)), &doc); err != nil {
			return nil, fmt.Errorf("lambda function %s: parsing the resource policy of %s: %w", f.name, route, err)
		}
		for _, st := range doc.Statement {
			rt.policy[st.Sid] = st
		}
	}
	if key, ok := tags[urlTag(route)]; ok {
		if err := f.readURL(ctx, rt, key); err != nil {
			return nil, err
		}
	}
	if err := f.readESMs(ctx, rt); err != nil {
		return nil, err
	}
	if f.opts.SchedulerClient != nil {
		if err := f.readSchedules(ctx, rt); err != nil {
			return nil, err
		}
	}
	if f.opts.S3Client != nil {
		if err := f.readStorage(ctx, rt); err != nil {
			return nil, err
		}
	}
	return rt, nil
}

// reconcileTriggers makes the triggers updraft owns on route match want.
func (f *function) reconcileTriggers(ctx context.Context, fnArn, route string, want []trigger.Trigger, tags map[string]string) (bool, error) {
	rt, err := f.readRoute(ctx, fnArn, route, tags)
	if err != nil {
		return false, err
	}
	desired := map[string]trigger.Trigger{}
	for _, t := range want {
		t = trigger.Normalize(t)
		desired[t.TriggerKey()] = t
	}
	changed := false
	for _, k := range slices.Sorted(maps.Keys(rt.owned)) {
		o := rt.owned[k]
		if t, ok := desired[k]; ok && t.Kind() == o.kind {
			continue
		}
		if err := f.deleteTrigger(ctx, rt, o); err != nil {
			return changed, err
		}
		delete(rt.owned, k)
		changed = true
	}
	for _, k := range slices.Sorted(maps.Keys(desired)) {
		t := desired[k]
		sig, err := f.desiredSig(rt, t)
		if err != nil {
			return changed, err
		}
		o := rt.owned[k]
		if o != nil && o.sig == sig {
			continue
		}
		f.log.Debug("reconciling trigger", "route", route, "trigger", trigger.Describe(t))
		if err := f.putTrigger(ctx, rt, o, t); err != nil {
			return changed, err
		}
		changed = true
	}
	return changed, nil
}

func (f *function) desiredSig(rt *routeTriggers, t trigger.Trigger) (string, error) {
	switch v := t.(type) {
	case trigger.HTTP:
		return httpSig(authType(v.Auth), v.CORSOrigins, true), nil
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
	case trigger.Schedule:
		if f.opts.SchedulerClient == nil || f.opts.SchedulerRoleArn == "" {
			return "", driver.NewError(driver.Unimplemented, fmt.Sprintf("schedule trigger %s: set Options.SchedulerClient and SchedulerRoleArn (URL: scheduler_role)", v.Key))
		}
		expr, err := scheduleExpression(v)
		if err != nil {
			return "", err
		}
		return scheduleSig(expr, v.TimeZone, string(v.Payload), rt.aliasArn, f.opts.SchedulerRoleArn), nil
	case trigger.Storage:
		if f.opts.S3Client == nil {
			return "", driver.NewError(driver.Unimplemented, fmt.Sprintf("storage trigger %s: set Options.S3Client", v.Key))
		}
		return storageSig(v.Bucket, s3Events(v.Events), v.Prefix, v.Suffix, true), nil
	}
	return "", driver.NewError(driver.Unimplemented, fmt.Sprintf("trigger %s: kind %s is not supported by awslambda", t.TriggerKey(), t.Kind()))
}

func (f *function) putTrigger(ctx context.Context, rt *routeTriggers, o *owned, t trigger.Trigger) error {
	switch v := t.(type) {
	case trigger.HTTP:
		return f.putURL(ctx, rt, o, v)
	case trigger.Queue:
		return f.putESM(ctx, rt, o, v.Key, v.Source, v.BatchSize, v.MaxBatchingWindow, "")
	case trigger.Stream:
		return f.putESM(ctx, rt, o, v.Key, v.Source, v.BatchSize, 0, startingPosition(v.StartingPosition))
	case trigger.Schedule:
		return f.putSchedule(ctx, rt, o, v)
	case trigger.Storage:
		return f.putStorage(ctx, rt, o, v)
	}
	return nil
}

func (f *function) deleteTrigger(ctx context.Context, rt *routeTriggers, o *owned) error {
	f.log.Debug("deleting trigger", "route", rt.route, "key", o.key, "kind", o.kind)
	switch o.kind {
	case trigger.KindHTTP:
		return f.deleteURL(ctx, rt, o.key)
	case trigger.KindQueue, trigger.KindStream:
		return f.deleteESM(ctx, o)
	case trigger.KindSchedule:
		return f.deleteSchedule(ctx, o.schedule)
	case trigger.KindStorage:
		return f.deleteStorage(ctx, rt, o)
	}
	return nil
}

// addPermission adds a statement to the route's policy unless present.
func (f *function) addPermission(ctx context.Context, rt *routeTriggers, in *lambda.AddPermissionInput) error {
	sid := aws.ToString(in.StatementId)
	if _, ok := rt.policy[sid]; ok {
		return nil
	}
	in.FunctionName, in.Qualifier = aws.String(f.name), aws.String(rt.route)
	err := f.retry(ctx, "AddPermission", nil, func(ctx context.Context) error {
		_, err := f.client.AddPermission(ctx, in)
		return err
	})
	if err != nil && errorCode(err) != driver.AlreadyExists {
		return err
	}
	rt.policy[sid] = statement{Sid: sid}
	return nil
}

func (f *function) removePermission(ctx context.Context, rt *routeTriggers, sid string) error {
	if _, ok := rt.policy[sid]; !ok {
		return nil
	}
	err := f.retry(ctx, "RemovePermission", nil, func(ctx context.Context) error {
		_, err := f.client.RemovePermission(ctx, &lambda.RemovePermissionInput{FunctionName: aws.String(f.name), Qualifier: aws.String(rt.route), StatementId: aws.String(sid)})
		return err
	})
	if err != nil && apiCode(err) != "ResourceNotFoundException" {
		return err
	}
	delete(rt.policy, sid)
	return nil
}

// HTTP: function URLs.

func authType(a trigger.AuthMode) types.FunctionUrlAuthType {
	if a == trigger.AuthNone {
		return types.FunctionUrlAuthTypeNone
	}
	return types.FunctionUrlAuthTypeAwsIam
}

func httpSig(auth types.FunctionUrlAuthType, origins []string, permsOK bool) string {
	o := slices.Clone(origins)
	slices.Sort(o)
	return fmt.Sprintf("http auth=%s cors=%s perms=%v", auth, strings.Join(o, ","), permsOK)
}

func urlSids(key string) (urlSid, invokeSid string) {
	return tagPrefix + key + "-url", tagPrefix + key + "-invoke"
}

func (f *function) readURL(ctx context.Context, rt *routeTriggers, key string) error {
	u, err := do(ctx, f, "GetFunctionUrlConfig", func(ctx context.Context) (*lambda.GetFunctionUrlConfigOutput, error) {
		return f.client.GetFunctionUrlConfig(ctx, &lambda.GetFunctionUrlConfigInput{FunctionName: aws.String(f.name), Qualifier: aws.String(rt.route)})
	})
	if apiCode(err) == "ResourceNotFoundException" {
		return nil
	}
	if err != nil {
		return err
	}
	t := trigger.HTTP{Key: key, Auth: trigger.AuthIAM}
	if u.AuthType == types.FunctionUrlAuthTypeNone {
		t.Auth = trigger.AuthNone
	}
	if u.Cors != nil && len(u.Cors.AllowOrigins) > 0 {
		t.CORSOrigins = slices.Clone(u.Cors.AllowOrigins)
	}
	us, is := urlSids(key)
	_, hasURL := rt.policy[us]
	_, hasInvoke := rt.policy[is]
	permsOK := hasURL && hasInvoke
	if u.AuthType != types.FunctionUrlAuthTypeNone {
		permsOK = !hasURL && !hasInvoke
	}
	rt.owned[key] = &owned{key: key, kind: trigger.KindHTTP, trigger: trigger.Normalize(t), endpoint: aws.ToString(u.FunctionUrl),
		sig: httpSig(u.AuthType, t.CORSOrigins, permsOK)}
	return nil
}

func cors(origins []string) *types.Cors {
	if len(origins) == 0 {
		return &types.Cors{}
	}
	return &types.Cors{AllowOrigins: origins, AllowMethods: []string{"*"}, AllowHeaders: []string{"*"}}
}

func (f *function) putURL(ctx context.Context, rt *routeTriggers, o *owned, t trigger.HTTP) error {
	auth := authType(t.Auth)
	if o == nil {
		// Record ownership first, so a failure below leaves something the
		// next Apply recognises and finishes.
		err := f.retry(ctx, "TagResource", nil, func(ctx context.Context) error {
			_, err := f.client.TagResource(ctx, &lambda.TagResourceInput{Resource: aws.String(rt.fnArn), Tags: map[string]string{urlTag(rt.route): t.Key}})
			return err
		})
		if err != nil {
			return err
		}
		err = f.retry(ctx, "CreateFunctionUrlConfig", nil, func(ctx context.Context) error {
			_, err := f.client.CreateFunctionUrlConfig(ctx, &lambda.CreateFunctionUrlConfigInput{FunctionName: aws.String(f.name),
				Qualifier: aws.String(rt.route), AuthType: auth, Cors: cors(t.CORSOrigins)})
			return err
		})
		if errorCode(err) == driver.AlreadyExists {
			return driver.NewError(driver.AlreadyExists, fmt.Sprintf("http trigger %s: route %s of %s already has a function URL that updraft did not create: delete it or leave Triggers nil", t.Key, rt.route, f.name))
		}
		if err != nil {
			return err
		}
	} else {
		err := f.retry(ctx, "UpdateFunctionUrlConfig", nil, func(ctx context.Context) error {
			_, err := f.client.UpdateFunctionUrlConfig(ctx, &lambda.UpdateFunctionUrlConfigInput{FunctionName: aws.String(f.name),
				Qualifier: aws.String(rt.route), AuthType: auth, Cors: cors(t.CORSOrigins)})
			return err
		})
		if err != nil {
			return err
		}
	}
	us, is := urlSids(t.Key)
	if auth == types.FunctionUrlAuthTypeNone {
		// A public URL needs both statements: InvokeFunctionUrl, and (for
		// URLs created since October 2025) InvokeFunction via the URL.
		if err := f.addPermission(ctx, rt, &lambda.AddPermissionInput{StatementId: aws.String(us), Action: aws.String("lambda:InvokeFunctionUrl"),
			Principal: aws.String("*"), FunctionUrlAuthType: types.FunctionUrlAuthTypeNone}); err != nil {
			return err
		}
		return f.addPermission(ctx, rt, &lambda.AddPermissionInput{StatementId: aws.String(is), Action: aws.String("lambda:InvokeFunction"),
			Principal: aws.String("*"), InvokedViaFunctionUrl: aws.Bool(true)})
	}
	if err := f.removePermission(ctx, rt, us); err != nil {
		return err
	}
	return f.removePermission(ctx, rt, is)
}

func (f *function) deleteURL(ctx context.Context, rt *routeTriggers, key string) error {
	us, is := urlSids(key)
	if err := f.removePermission(ctx, rt, us); err != nil {
		return err
	}
	if err := f.removePermission(ctx, rt, is); err != nil {
		return err
	}
	err := f.retry(ctx, "DeleteFunctionUrlConfig", nil, func(ctx context.Context) error {
		_, err := f.client.DeleteFunctionUrlConfig(ctx, &lambda.DeleteFunctionUrlConfigInput{FunctionName: aws.String(f.name), Qualifier: aws.String(rt.route)})
		return err
	})
	if err != nil && apiCode(err) != "ResourceNotFoundException" {
		return err
	}
	return f.retry(ctx, "UntagResource", nil, func(ctx context.Context) error {
		_, err := f.client.UntagResource(ctx, &lambda.UntagResourceInput{Resource: aws.String(rt.fnArn), TagKeys: []string{urlTag(rt.route)}})
		return err
	})
}

// Queues and streams: event source mappings.

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

// Schedules: EventBridge Scheduler.

func scheduleName(key, aliasArn string) string {
	h := sha256.Sum256([]byte(aliasArn))
	return tagPrefix + key + "-" + hex.EncodeToString(h[:4])
}

func scheduleSig(expr, tz, input, target, role string) string {
	if tz == "UTC" || tz == "Etc/UTC" {
		tz = ""
	}
	return fmt.Sprintf("schedule expr=%s tz=%s target=%s role=%s input=%q", expr, tz, target, role, input)
}

// scheduleExpression converts a portable schedule to Scheduler's syntax:
// a rate in minutes, or a six-field cron with '?' in one of the day
// fields and 1–7 (Sunday = 1) day-of-week numbers.
func scheduleExpression(s trigger.Schedule) (string, error) {
	if s.Rate != 0 {
		m := int(s.Rate / time.Minute)
		if m == 1 {
			return "rate(1 minute)", nil
		}
		return fmt.Sprintf("rate(%d minutes)", m), nil
	}
	fs := strings.Fields(s.Cron)
	if len(fs) != 5 {
		return "", driver.NewError(driver.InvalidArgument, fmt.Sprintf("schedule trigger %s: cron %q: use five fields", s.Key, s.Cron))
	}
	dom, dow := fs[2], mapDow(fs[4], func(n int) int { return n%7 + 1 })
	switch {
	case dom == "*" && dow == "*":
		dow = "?"
	case dom == "*":
		dom = "?"
	case dow == "*":
		dow = "?"
	default:
		return "", driver.NewError(driver.InvalidArgument, fmt.Sprintf("schedule trigger %s: cron %q restricts both day of month and day of week, which EventBridge Scheduler cannot express: set one of them to *", s.Key, s.Cron))
	}
	return fmt.Sprintf("cron(%s %s %s %s %s *)", fs[0], fs[1], dom, fs[3], dow), nil
}

// mapDow renumbers the numeric days in a day-of-week field.
func mapDow(field string, conv func(int) int) string {
	if field == "*" || field == "?" {
		return field
	}
	items := strings.Split(field, ",")
	for i, it := range items {
		base, step, hasStep := strings.Cut(it, "/")
		parts := strings.Split(base, "-")
		for j, p := range parts {
			if n, err := strconv.Atoi(p); err == nil {
				parts[j] = strconv.Itoa(conv(n))
			}
		}
		items[i] = strings.Join(parts, "-")
		if hasStep {
			items[i] += "/" + step
		}
	}
	return strings.Join(items, ",")
}

// portableSchedule converts Scheduler's expression back (best effort).
func portableSchedule(key, expr, tz, input string) trigger.Schedule {
	s := trigger.Schedule{Key: key, TimeZone: tz}
	if tz == "UTC" || tz == "Etc/UTC" {
		s.TimeZone = ""
	}
	if input != "" {
		s.Payload = []byte(input)
	}
	if inner, ok := strings.CutPrefix(expr, "rate("); ok {
		var n int
		var unit string
		fmt.Sscanf(strings.TrimSuffix(inner, ")"), "%d %s", &n, &unit)
		d := time.Minute
		switch strings.TrimSuffix(unit, "s") {
		case "hour":
			d = time.Hour
		case "day":
			d = 24 * time.Hour
		}
		s.Rate = time.Duration(n) * d
		return s
	}
	fs := strings.Fields(strings.TrimSuffix(strings.TrimPrefix(expr, "cron("), ")"))
	if len(fs) >= 5 {
		for i := range fs {
			if fs[i] == "?" {
				fs[i] = "*"
			}
		}
		fs[4] = mapDow(fs[4], func(n int) int { return (n + 6) % 7 })
		s.Cron = strings.Join(fs[:5], " ")
	}
	return s
}

func (f *function) readSchedules(ctx context.Context, rt *routeTriggers) error {
	sc := f.opts.SchedulerClient
	p := scheduler.NewListSchedulesPaginator(sc, &scheduler.ListSchedulesInput{NamePrefix: aws.String(tagPrefix), GroupName: aws.String(f.opts.ScheduleGroup)})
	for p.HasMorePages() {
		page, err := do(ctx, f, "NextPage", func(ctx context.Context) (*scheduler.ListSchedulesOutput, error) { return p.NextPage(ctx) })
		if err != nil {
			return err
		}
		for _, sum := range page.Schedules {
			if sum.Target == nil || aws.ToString(sum.Target.Arn) != rt.aliasArn {
				continue
			}
			name := aws.ToString(sum.Name)
			key := strings.TrimPrefix(name, tagPrefix)
			i := strings.LastIndex(key, "-")
			if i < 0 || scheduleName(key[:i], rt.aliasArn) != name {
				continue
			}
			key = key[:i]
			got, err := do(ctx, f, "GetSchedule", func(ctx context.Context) (*scheduler.GetScheduleOutput, error) {
				return sc.GetSchedule(ctx, &scheduler.GetScheduleInput{Name: aws.String(name), GroupName: aws.String(f.opts.ScheduleGroup)})
			})
			if err != nil {
				return err
			}
			expr, tz := aws.ToString(got.ScheduleExpression), aws.ToString(got.ScheduleExpressionTimezone)
			var input, role string
			if got.Target != nil {
				input, role = aws.ToString(got.Target.Input), aws.ToString(got.Target.RoleArn)
			}
			rt.owned[key] = &owned{key: key, kind: trigger.KindSchedule, schedule: name, trigger: portableSchedule(key, expr, tz, input),
				sig: scheduleSig(expr, tz, input, rt.aliasArn, role)}
		}
	}
	return nil
}

func (f *function) putSchedule(ctx context.Context, rt *routeTriggers, o *owned, t trigger.Schedule) error {
	expr, err := scheduleExpression(t)
	if err != nil {
		return err
	}
	name := scheduleName(t.Key, rt.aliasArn)
	target := &schtypes.Target{Arn: aws.String(rt.aliasArn), RoleArn: aws.String(f.opts.SchedulerRoleArn)}
	if len(t.Payload) > 0 {
		target.Input = aws.String(string(t.Payload))
	}
	desc := fmt.Sprintf("updraft trigger %s of %s", t.Key, rt.aliasArn)
	if len(desc) > 512 {
		desc = desc[:512]
	}
	sc := f.opts.SchedulerClient
	return f.retry(ctx, "PutSchedule", nil, func(ctx context.Context) error {
		var err error
		if o == nil {
			_, err = sc.CreateSchedule(ctx, &scheduler.CreateScheduleInput{Name: aws.String(name), GroupName: aws.String(f.opts.ScheduleGroup),
				ScheduleExpression: aws.String(expr), ScheduleExpressionTimezone: str(t.TimeZone), Description: aws.String(desc),
				FlexibleTimeWindow: &schtypes.FlexibleTimeWindow{Mode: schtypes.FlexibleTimeWindowModeOff}, Target: target})
		} else {
			_, err = sc.UpdateSchedule(ctx, &scheduler.UpdateScheduleInput{Name: aws.String(name), GroupName: aws.String(f.opts.ScheduleGroup),
				ScheduleExpression: aws.String(expr), ScheduleExpressionTimezone: str(t.TimeZone), Description: aws.String(desc),
				FlexibleTimeWindow: &schtypes.FlexibleTimeWindow{Mode: schtypes.FlexibleTimeWindowModeOff}, Target: target})
		}
		return err
	})
}

func (f *function) deleteSchedule(ctx context.Context, name string) error {
	err := f.retry(ctx, "DeleteSchedule", nil, func(ctx context.Context) error {
		_, err := f.opts.SchedulerClient.DeleteSchedule(ctx, &scheduler.DeleteScheduleInput{Name: aws.String(name), GroupName: aws.String(f.opts.ScheduleGroup)})
		return err
	})
	if apiCode(err) == "ResourceNotFoundException" {
		return nil
	}
	return err
}

// Storage: S3 bucket notifications.

func s3Sid(key string) string { return tagPrefix + key + "-s3" }

func (f *function) storageID(route, key string) string {
	return tagPrefix + f.name + "-" + route + "-" + key
}

func s3Events(evs []trigger.StorageEvent) []string {
	var out []string
	for _, e := range evs {
		switch e {
		case trigger.ObjectCreated:
			out = append(out, "s3:ObjectCreated:*")
		case trigger.ObjectDeleted:
			out = append(out, "s3:ObjectRemoved:*")
		}
	}
	slices.Sort(out)
	return out
}

func storageSig(bucket string, events []string, prefix, suffix string, permOK bool) string {
	return fmt.Sprintf("s3 bucket=%s events=%s prefix=%q suffix=%q perm=%v", bucket, strings.Join(events, ","), prefix, suffix, permOK)
}

func (f *function) readStorage(ctx context.Context, rt *routeTriggers) error {
	configs := map[string]*s3.GetBucketNotificationConfigurationOutput{}
	for _, sid := range slices.Sorted(maps.Keys(rt.policy)) {
		key, ok := strings.CutSuffix(strings.TrimPrefix(sid, tagPrefix), "-s3")
		if !ok || !strings.HasPrefix(sid, tagPrefix) {
			continue
		}
		bucket := strings.TrimPrefix(rt.policy[sid].sourceArn(), "arn:aws:s3:::")
		o := &owned{key: key, kind: trigger.KindStorage, bucket: bucket}
		rt.owned[key] = o
		if bucket == "" {
			continue
		}
		cfg := configs[bucket]
		if cfg == nil {
			var err error
			cfg, err = do(ctx, f, "GetBucketNotificationConfiguration", func(ctx context.Context) (*s3.GetBucketNotificationConfigurationOutput, error) {
				return f.opts.S3Client.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(bucket)})
			})
			if apiCode(err) == "NoSuchBucket" {
				continue
			}
			if err != nil {
				return err
			}
			configs[bucket] = cfg
		}
		for _, lc := range cfg.LambdaFunctionConfigurations {
			if aws.ToString(lc.Id) != f.storageID(rt.route, key) || aws.ToString(lc.LambdaFunctionArn) != rt.aliasArn {
				continue
			}
			t := trigger.Storage{Key: key, Bucket: bucket}
			var events []string
			for _, e := range lc.Events {
				events = append(events, string(e))
				switch e {
				case "s3:ObjectCreated:*":
					t.Events = append(t.Events, trigger.ObjectCreated)
				case "s3:ObjectRemoved:*":
					t.Events = append(t.Events, trigger.ObjectDeleted)
				}
			}
			slices.Sort(events)
			if lc.Filter != nil && lc.Filter.Key != nil {
				for _, r := range lc.Filter.Key.FilterRules {
					switch strings.ToLower(string(r.Name)) {
					case "prefix":
						t.Prefix = aws.ToString(r.Value)
					case "suffix":
						t.Suffix = aws.ToString(r.Value)
					}
				}
			}
			o.trigger = trigger.Normalize(t)
			o.sig = storageSig(bucket, events, t.Prefix, t.Suffix, true)
		}
	}
	return nil
}

// editNotifications reads a bucket's notification configuration, removes
// the entry id, adds add (when non-nil) and writes it back whole, keeping
// every other entry (S3 replaces the configuration on each PUT).
func (f *function) editNotifications(ctx context.Context, bucket, id string, add *s3types.LambdaFunctionConfiguration) error {
	return f.retry(ctx, "PutBucketNotificationConfiguration", nil, func(ctx context.Context) error {
		cur, err := do(ctx, f, "GetBucketNotificationConfiguration", func(ctx context.Context) (*s3.GetBucketNotificationConfigurationOutput, error) {
			return f.opts.S3Client.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(bucket)})
		})
		if err != nil {
			return err
		}
		lcs := slices.DeleteFunc(slices.Clone(cur.LambdaFunctionConfigurations), func(c s3types.LambdaFunctionConfiguration) bool { return aws.ToString(c.Id) == id })
		if add != nil {
			lcs = append(lcs, *add)
		}
		_, err = f.opts.S3Client.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String(bucket),
			NotificationConfiguration: &s3types.NotificationConfiguration{LambdaFunctionConfigurations: lcs, QueueConfigurations: cur.QueueConfigurations,
				TopicConfigurations: cur.TopicConfigurations, EventBridgeConfiguration: cur.EventBridgeConfiguration}})
		return err
	})
}

func (f *function) putStorage(ctx context.Context, rt *routeTriggers, o *owned, t trigger.Storage) error {
	if o != nil && o.bucket != t.Bucket {
		if err := f.deleteStorage(ctx, rt, o); err != nil {
			return err
		}
	}
	account := ""
	if parts := strings.Split(rt.fnArn, ":"); len(parts) > 4 {
		account = parts[4]
	}
	// S3 validates the destination when the configuration is written, so
	// the permission comes first.
	if err := f.addPermission(ctx, rt, &lambda.AddPermissionInput{StatementId: aws.String(s3Sid(t.Key)), Action: aws.String("lambda:InvokeFunction"),
		Principal: aws.String("s3.amazonaws.com"), SourceArn: aws.String("arn:aws:s3:::" + t.Bucket), SourceAccount: str(account)}); err != nil {
		return err
	}
	lc := &s3types.LambdaFunctionConfiguration{Id: aws.String(f.storageID(rt.route, t.Key)), LambdaFunctionArn: aws.String(rt.aliasArn)}
	for _, e := range s3Events(t.Events) {
		lc.Events = append(lc.Events, s3types.Event(e))
	}
	var rules []s3types.FilterRule
	if t.Prefix != "" {
		rules = append(rules, s3types.FilterRule{Name: s3types.FilterRuleNamePrefix, Value: aws.String(t.Prefix)})
	}
	if t.Suffix != "" {
		rules = append(rules, s3types.FilterRule{Name: s3types.FilterRuleNameSuffix, Value: aws.String(t.Suffix)})
	}
	if len(rules) > 0 {
		lc.Filter = &s3types.NotificationConfigurationFilter{Key: &s3types.S3KeyFilter{FilterRules: rules}}
	}
	return f.editNotifications(ctx, t.Bucket, aws.ToString(lc.Id), lc)
}

func (f *function) deleteStorage(ctx context.Context, rt *routeTriggers, o *owned) error {
	if o.bucket != "" {
		err := f.editNotifications(ctx, o.bucket, f.storageID(rt.route, o.key), nil)
		if err != nil && apiCode(err) != "NoSuchBucket" {
			return err
		}
	}
	return f.removePermission(ctx, rt, s3Sid(o.key))
}
