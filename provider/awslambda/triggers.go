package awslambda

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

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
//
// The function tag updraft-kinds-ROUTE lists the kinds updraft owns on
// ROUTE (space-separated), so a read asks only the APIs of those kinds.
// A function without it (deployed before the tag existed) is read with
// every API once; the next reconcile writes it.
const esmTag = "updraft-trigger"

func urlTag(route string) string   { return tagPrefix + "url-" + route }
func kindsTag(route string) string { return tagPrefix + "kinds-" + route }

// kindHandler is what one trigger kind needs; each lives in its own file.
type kindHandler interface {
	// read adds the triggers of its kinds updraft owns on rt to rt.owned.
	read(ctx context.Context, f *function, rt *routeTriggers) error
	// sig validates t and returns how it reads back, for comparison.
	sig(f *function, rt *routeTriggers, t trigger.Trigger) (string, error)
	// put creates (o nil) or updates a trigger.
	put(ctx context.Context, f *function, rt *routeTriggers, o *owned, t trigger.Trigger) error
	// del deletes an owned trigger.
	del(ctx context.Context, f *function, rt *routeTriggers, o *owned) error
	// usesPolicy reports whether read needs the route's resource policy.
	usesPolicy() bool
}

var handlers = map[trigger.Kind]kindHandler{
	trigger.KindHTTP:     urlKind{},
	trigger.KindQueue:    esmKind{},
	trigger.KindStream:   esmKind{},
	trigger.KindSchedule: scheduleKind{},
	trigger.KindStorage:  storageKind{},
}

// owned is one trigger updraft owns on a route, as read from AWS.
type owned struct {
	key      string
	kind     trigger.Kind
	trigger  trigger.Trigger // nil when only a leftover (a permission) remains
	sig      string          // AWS-side settings, compared with the desired sig
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
	// tags are the function's tags (shared with the caller's reading and
	// updated when a trigger writes one).
	tags map[string]string
}

// indexedKinds returns the kinds the route's index tag lists, and false
// when there is no index tag.
func indexedKinds(tags map[string]string, route string) ([]trigger.Kind, bool) {
	v, ok := tags[kindsTag(route)]
	if !ok {
		return nil, false
	}
	var out []trigger.Kind
	for _, k := range strings.Fields(v) {
		out = append(out, trigger.Kind(k))
	}
	return out, true
}

func kindsValue(kinds []trigger.Kind) string {
	var ss []string
	for _, k := range kinds {
		ss = append(ss, string(k))
	}
	slices.Sort(ss)
	return strings.Join(slices.Compact(ss), " ")
}

// readKinds is what a read of route asks: the indexed kinds, or every
// kind this handle can read when the route has no index.
func (f *function) readKinds(tags map[string]string, route string) []trigger.Kind {
	if ks, ok := indexedKinds(tags, route); ok {
		return ks
	}
	ks := []trigger.Kind{trigger.KindHTTP, trigger.KindQueue}
	if f.sched != nil {
		ks = append(ks, trigger.KindSchedule)
	}
	if f.s3 != nil {
		ks = append(ks, trigger.KindStorage)
	}
	return ks
}

// list returns the owned triggers that are whole, by key.
func (rt *routeTriggers) list() []*owned {
	var out []*owned
	for _, k := range slices.Sorted(maps.Keys(rt.owned)) {
		if rt.owned[k].trigger != nil {
			out = append(out, rt.owned[k])
		}
	}
	return out
}

// readRoute reads the owned triggers of the kinds readKinds names.
func (f *function) readRoute(ctx context.Context, fnArn, route string, tags map[string]string) (*routeTriggers, error) {
	rt := &routeTriggers{route: route, fnArn: fnArn, aliasArn: fnArn + ":" + route, owned: map[string]*owned{}, policy: map[string]statement{}, tags: tags}
	var hs []kindHandler
	for _, k := range f.readKinds(tags, route) {
		if h := handlers[k]; h != nil && !slices.Contains(hs, h) {
			hs = append(hs, h)
		}
	}
	if slices.ContainsFunc(hs, kindHandler.usesPolicy) {
		if err := f.readPolicy(ctx, rt); err != nil {
			return nil, err
		}
	}
	for _, h := range hs {
		if err := h.read(ctx, f, rt); err != nil {
			return nil, err
		}
	}
	return rt, nil
}

func (f *function) readPolicy(ctx context.Context, rt *routeTriggers) error {
	pol, err := do(ctx, f, "GetPolicy", func(ctx context.Context) (*lambda.GetPolicyOutput, error) {
		return f.client.GetPolicy(ctx, &lambda.GetPolicyInput{FunctionName: aws.String(f.name), Qualifier: aws.String(rt.route)})
	})
	switch {
	case apiCode(err) == "ResourceNotFoundException":
		return nil
	case err != nil:
		return err
	}
	var doc struct{ Statement []statement }
	if err := json.Unmarshal([]byte(aws.ToString(pol.Policy)), &doc); err != nil {
		return fmt.Errorf("lambda function %s: parsing the resource policy of %s: %w", f.name, rt.route, err)
	}
	for _, st := range doc.Statement {
		rt.policy[st.Sid] = st
	}
	return nil
}

// reconcileTriggers makes the triggers updraft owns on route match want.
// rt is a reading of the route's triggers to reuse (nil reads it).
func (f *function) reconcileTriggers(ctx context.Context, fnArn, route string, want []trigger.Trigger, tags map[string]string, rt *routeTriggers) (bool, error) {
	if rt == nil {
		var err error
		if rt, err = f.readRoute(ctx, fnArn, route, tags); err != nil {
			return false, err
		}
	}
	desired := map[string]trigger.Trigger{}
	var final []trigger.Kind
	for _, t := range want {
		t = trigger.Normalize(t)
		desired[t.TriggerKey()] = t
		final = append(final, t.Kind())
	}
	sigs := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(desired)) {
		if handlers[desired[k].Kind()] == nil {
			return false, driver.NewError(driver.Unimplemented, fmt.Sprintf("trigger %s: kind %s is not supported by awslambda", k, desired[k].Kind()))
		}
		sig, err := handlers[desired[k].Kind()].sig(f, rt, desired[k])
		if err != nil {
			return false, err
		}
		sigs[k] = sig
	}
	// Record the kinds (and a new URL's key) before creating anything, so
	// a failure below leaves state the next read finds.
	var live []trigger.Kind
	for _, o := range rt.owned {
		live = append(live, o.kind)
	}
	extra := map[string]string{}
	if t, ok := httpOf(want); ok && !slices.Contains(live, trigger.KindHTTP) {
		extra[urlTag(route)] = t.Key
	}
	changed, err := f.writeIndex(ctx, rt, append(live, final...), extra)
	if err != nil {
		return false, err
	}
	for _, k := range slices.Sorted(maps.Keys(rt.owned)) {
		o := rt.owned[k]
		if t, ok := desired[k]; ok && t.Kind() == o.kind {
			continue
		}
		f.log.Debug("deleting trigger", "route", route, "key", o.key, "kind", o.kind)
		if err := handlers[o.kind].del(ctx, f, rt, o); err != nil {
			return true, err
		}
		delete(rt.owned, k)
		changed = true
	}
	for _, k := range slices.Sorted(maps.Keys(desired)) {
		t, o := desired[k], rt.owned[k]
		if o != nil && o.sig == sigs[k] {
			continue
		}
		f.log.Debug("reconciling trigger", "route", route, "trigger", trigger.Describe(t))
		if err := handlers[t.Kind()].put(ctx, f, rt, o, t); err != nil {
			return true, err
		}
		rt.owned[k] = &owned{key: k, kind: t.Kind(), trigger: t, sig: sigs[k]}
		changed = true
	}
	wrote, err := f.writeIndex(ctx, rt, final, nil)
	return changed || wrote, err
}

func httpOf(ts []trigger.Trigger) (trigger.HTTP, bool) {
	for _, t := range ts {
		if h, ok := t.(trigger.HTTP); ok {
			return h, true
		}
	}
	return trigger.HTTP{}, false
}

// writeIndex sets the route's kinds tag to kinds (and the extra tags) in
// one TagResource when it differs.
func (f *function) writeIndex(ctx context.Context, rt *routeTriggers, kinds []trigger.Kind, extra map[string]string) (bool, error) {
	want := map[string]string{}
	if v := kindsValue(kinds); rt.tags[kindsTag(rt.route)] != v || !hasKey(rt.tags, kindsTag(rt.route)) {
		want[kindsTag(rt.route)] = v
	}
	for k, v := range extra {
		if rt.tags[k] != v {
			want[k] = v
		}
	}
	if len(want) == 0 {
		return false, nil
	}
	return true, f.tagFunction(ctx, rt, want)
}

// tagFunction adds tags to the function and to rt's copy of its tags.
func (f *function) tagFunction(ctx context.Context, rt *routeTriggers, tags map[string]string) error {
	err := f.retry(ctx, "TagResource", nil, func(ctx context.Context) error {
		_, err := f.client.TagResource(ctx, &lambda.TagResourceInput{Resource: aws.String(rt.fnArn), Tags: tags})
		return err
	})
	if err == nil {
		maps.Copy(rt.tags, tags)
	}
	return err
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
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
