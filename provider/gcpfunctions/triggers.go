package gcpfunctions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/functions/apiv2/functionspb"
	"cloud.google.com/go/run/apiv2/runpb"
	"cloud.google.com/go/scheduler/apiv1/schedulerpb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// Ownership: updraft recognises the triggers it wrote by key.
//   - HTTP: the function label updraft-http = KEY (the function's URL is
//     built in; Auth none sets the service's invoker_iam_disabled).
//   - Queue, stream, storage: the function's one EventTrigger, with the
//     label updraft-event = KEY and the environment variable
//     UPDRAFT_EVENT_KEY = KEY (the portable entry dispatches on it).
//   - Schedule: the Cloud Scheduler job updraft_FUNCTION_KEY in the
//     function's location; its description holds the portable trigger.
const (
	eventPubsub    = "google.cloud.pubsub.topic.v1.messagePublished"
	eventFirestore = "google.cloud.firestore.document.v1.written"
	eventFinalized = "google.cloud.storage.object.v1.finalized"
	eventDeleted   = "google.cloud.storage.object.v1.deleted"
	schedulePrefix = "updraft " // starts an owned job's description
	triggerHeader  = "X-Updraft-Trigger"
)

var (
	topicRE    = regexp.MustCompile(`^projects/[^/]+/topics/[A-Za-z][A-Za-z0-9._~%+-]{2,254}$`)
	documentRE = regexp.MustCompile(`^projects/([^/]+)/databases/([^/]+)/documents/(.+)$`)
)

// triggerPlan is a Spec's triggers in Cloud Functions' terms.
type triggerPlan struct {
	managed   bool // the Spec manages triggers (non-nil)
	http      *trigger.HTTP
	event     *functionspb.EventTrigger
	eventKey  string
	schedules []trigger.Schedule
}

// planTriggers maps a Spec's triggers to Cloud Functions' terms. Its
// length is one case per trigger kind, each mapping the kind to the
// function's EventTrigger or to a Cloud Scheduler job.
func (f *function) planTriggers(ts []trigger.Trigger) (*triggerPlan, error) {
	tp := &triggerPlan{managed: ts != nil}
	events := 0
	for _, t := range ts {
		var et *functionspb.EventTrigger
		switch v := trigger.Normalize(t).(type) {
		case trigger.HTTP:
			if tp.http != nil {
				return nil, driver.NewError(driver.InvalidArgument, fmt.Sprintf("http triggers %s and %s: a Cloud Function has one URL, so one HTTP trigger", tp.http.Key, v.Key))
			}
			if len(v.CORSOrigins) > 0 {
				return nil, driver.NewError(driver.Unimplemented, fmt.Sprintf("http trigger %s: Cloud Functions has no CORS setting: answer CORS in the function", v.Key))
			}
			tp.http = &v
		case trigger.Queue:
			if !topicRE.MatchString(v.Source) {
				return nil, driver.NewError(driver.InvalidArgument, fmt.Sprintf("queue trigger %s: source %q: Cloud Functions takes a Pub/Sub topic, projects/PROJECT/topics/TOPIC", v.Key, v.Source))
			}
			if v.BatchSize > 0 || v.MaxBatchingWindow > 0 {
				return nil, driver.NewError(driver.InvalidArgument, fmt.Sprintf("queue trigger %s: Pub/Sub pushes one message per invocation: leave BatchSize and MaxBatchingWindow 0", v.Key))
			}
			et = &functionspb.EventTrigger{EventType: eventPubsub, PubsubTopic: v.Source}
		case trigger.Stream:
			m := documentRE.FindStringSubmatch(v.Source)
			if m == nil {
				return nil, driver.NewError(driver.InvalidArgument, fmt.Sprintf("stream trigger %s: source %q: Cloud Functions takes Firestore documents, projects/PROJECT/databases/(default)/documents/users/{id}", v.Key, v.Source))
			}
			if v.StartingPosition != trigger.StartLatest || v.BatchSize > 0 {
				return nil, driver.NewError(driver.InvalidArgument, fmt.Sprintf("stream trigger %s: Firestore events start now, one document per invocation: leave StartingPosition latest and BatchSize 0", v.Key))
			}
			retry, err := streamRetryPolicy(v)
			if err != nil {
				return nil, err
			}
			doc := &functionspb.EventFilter{Attribute: "document", Value: m[3]}
			if strings.ContainsAny(m[3], "{*") {
				doc.Operator = "match-path-pattern"
			}
			et = &functionspb.EventTrigger{EventType: eventFirestore, EventFilters: []*functionspb.EventFilter{{Attribute: "database", Value: m[2]}, doc}, RetryPolicy: retry}
		case trigger.Storage:
			if v.Prefix != "" || v.Suffix != "" {
				return nil, driver.NewError(driver.Unimplemented, fmt.Sprintf("storage trigger %s: Eventarc filters Cloud Storage events by bucket only: filter object names in the function", v.Key))
			}
			if len(v.Events) != 1 {
				return nil, driver.NewError(driver.InvalidArgument, fmt.Sprintf("storage trigger %s: an event trigger has one event type: use one of created and deleted", v.Key))
			}
			typ := eventFinalized
			if v.Events[0] == trigger.ObjectDeleted {
				typ = eventDeleted
			}
			et = &functionspb.EventTrigger{EventType: typ, EventFilters: []*functionspb.EventFilter{{Attribute: "bucket", Value: v.Bucket}}}
		case trigger.Schedule:
			if f.opts.SchedulerClient == nil || f.opts.SchedulerServiceAccount == "" {
				return nil, driver.NewError(driver.Unimplemented, fmt.Sprintf("schedule trigger %s: set Options.SchedulerClient and SchedulerServiceAccount (URL: scheduler_service_account)", v.Key))
			}
			if _, err := cronOf(v); err != nil {
				return nil, err
			}
			tp.schedules = append(tp.schedules, v)
		default:
			return nil, driver.NewError(driver.Unimplemented, fmt.Sprintf("trigger %s: kind %s is not supported by gcpfunctions", t.TriggerKey(), t.Kind()))
		}
		if et != nil {
			events++
			if events > 1 {
				return nil, driver.NewError(driver.InvalidArgument, fmt.Sprintf("trigger %s: a Cloud Function has one event trigger (%s is the other)", t.TriggerKey(), tp.eventKey))
			}
			if et.RetryPolicy == functionspb.EventTrigger_RETRY_POLICY_UNSPECIFIED {
				et.RetryPolicy = functionspb.EventTrigger_RETRY_POLICY_RETRY
			}
			et.ServiceAccountEmail, et.TriggerRegion = f.opts.TriggerServiceAccount, f.opts.TriggerRegion
			tp.event, tp.eventKey = et, t.TriggerKey()
		}
	}
	return tp, nil
}

// streamRetryPolicy maps a stream's MaxRetries to Eventarc's retry
// policy: nil retries (Cloud Functions retries a failed event with
// backoff for up to 7 days, the closest to "until the records expire"),
// 0 does not retry. There is no retry count, and no batch to bisect.
func streamRetryPolicy(v trigger.Stream) (functionspb.EventTrigger_RetryPolicy, error) {
	if v.BisectOnError {
		return 0, driver.NewError(driver.InvalidArgument, fmt.Sprintf("stream trigger %s: Cloud Functions delivers one document change per event; there is no batch to bisect: leave BisectOnError false", v.Key))
	}
	switch {
	case v.MaxRetries == nil:
		return functionspb.EventTrigger_RETRY_POLICY_RETRY, nil
	case *v.MaxRetries == 0:
		return functionspb.EventTrigger_RETRY_POLICY_DO_NOT_RETRY, nil
	}
	return 0, driver.NewError(driver.InvalidArgument, fmt.Sprintf("stream trigger %s: max retries %d: Cloud Functions retries for up to 7 days or not at all: set MaxRetries to nil or 0", v.Key, *v.MaxRetries))
}

// eventSig is what updraft manages of an EventTrigger, for comparison
// (Cloud Functions fills the service account and region it leaves empty).
func (f *function) eventSigOf(et *functionspb.EventTrigger) string {
	if et == nil {
		return ""
	}
	var fs []string
	for _, x := range et.GetEventFilters() {
		fs = append(fs, x.GetAttribute()+"="+x.GetValue()+"/"+x.GetOperator())
	}
	slices.Sort(fs)
	sig := fmt.Sprint(et.GetEventType(), fs, et.GetPubsubTopic(), et.GetRetryPolicy())
	if f.opts.TriggerServiceAccount != "" {
		sig += " sa=" + et.GetServiceAccountEmail()
	}
	if f.opts.TriggerRegion != "" {
		sig += " region=" + et.GetTriggerRegion()
	}
	return sig
}

// triggersOf reads back the triggers updraft owns.
func (f *function) triggersOf(fn *functionspb.Function, svc *runpb.Service, jobs []*schedulerpb.Job) []trigger.Trigger {
	var out []trigger.Trigger
	if key := fn.GetLabels()[labelHTTP]; key != "" {
		auth := trigger.AuthIAM
		if svc.GetInvokerIamDisabled() {
			auth = trigger.AuthNone
		}
		out = append(out, trigger.HTTP{Key: key, Auth: auth})
	}
	if key, et := fn.GetLabels()[labelEvent], fn.GetEventTrigger(); key != "" && et != nil {
		filters := map[string]string{}
		for _, x := range et.GetEventFilters() {
			filters[x.GetAttribute()] = x.GetValue()
		}
		switch et.GetEventType() {
		case eventPubsub:
			out = append(out, trigger.Queue{Key: key, Source: et.GetPubsubTopic()})
		case eventFirestore:
			st := trigger.Stream{Key: key, Source: "projects/" + f.project + "/databases/" + filters["database"] + "/documents/" + filters["document"], StartingPosition: trigger.StartLatest}
			if et.GetRetryPolicy() != functionspb.EventTrigger_RETRY_POLICY_RETRY {
				// Unspecified is Cloud Functions' default: no retry.
				st.MaxRetries = new(0)
			}
			out = append(out, st)
		case eventFinalized, eventDeleted:
			ev := trigger.ObjectCreated
			if et.GetEventType() == eventDeleted {
				ev = trigger.ObjectDeleted
			}
			out = append(out, trigger.Storage{Key: key, Bucket: filters["bucket"], Events: []trigger.StorageEvent{ev}})
		}
	}
	for _, j := range jobs {
		if t, ok := scheduleOf(j); ok {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b trigger.Trigger) int { return strings.Compare(a.TriggerKey(), b.TriggerKey()) })
	return out
}

// cronOf is the unix-cron form of a schedule.
func cronOf(t trigger.Schedule) (string, error) {
	if t.Cron != "" {
		return t.Cron, nil
	}
	m := int(t.Rate / time.Minute)
	switch {
	case m < 60 && 60%m == 0:
		return fmt.Sprintf("*/%d * * * *", m), nil
	case m == 60:
		return "0 * * * *", nil
	case m%60 == 0 && m < 1440 && 1440%m == 0:
		return fmt.Sprintf("0 */%d * * *", m/60), nil
	case m == 1440:
		return "0 0 * * *", nil
	}
	return "", driver.NewError(driver.InvalidArgument, fmt.Sprintf("schedule trigger %s: rate %s has no cron form (Cloud Scheduler takes unix-cron): use Cron", t.Key, t.Rate))
}

func (f *function) jobPrefix() string { return f.parent + "/jobs/updraft_" + f.id + "_" }

// listJobs lists the schedule jobs updraft owns for this function.
func (f *function) listJobs(ctx context.Context) ([]*schedulerpb.Job, error) {
	if f.opts.SchedulerClient == nil {
		return nil, nil
	}
	var out []*schedulerpb.Job
	err := f.retry(ctx, "ListJobs", true, func(ctx context.Context) error {
		out = nil
		it := f.opts.SchedulerClient.ListJobs(ctx, &schedulerpb.ListJobsRequest{Parent: f.parent, PageSize: 500})
		for {
			j, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return nil
			}
			if err != nil {
				return err
			}
			if strings.HasPrefix(j.GetName(), f.jobPrefix()) {
				out = append(out, j)
			}
		}
	})
	return out, err
}

func scheduleOf(j *schedulerpb.Job) (trigger.Schedule, bool) {
	d, ok := strings.CutPrefix(j.GetDescription(), schedulePrefix)
	if !ok {
		return trigger.Schedule{}, false
	}
	var t trigger.Schedule
	if json.Unmarshal([]byte(d), &t) != nil || t.Key == "" {
		return trigger.Schedule{}, false
	}
	return trigger.Normalize(t).(trigger.Schedule), true
}

func (f *function) desiredJob(url string, t trigger.Schedule) *schedulerpb.Job {
	expr, _ := cronOf(t)
	desc, _ := json.Marshal(t)
	tz := t.TimeZone
	if tz == "" {
		tz = "Etc/UTC"
	}
	return &schedulerpb.Job{Name: f.jobPrefix() + t.Key, Description: schedulePrefix + string(desc), Schedule: expr, TimeZone: tz,
		Target: &schedulerpb.Job_HttpTarget{HttpTarget: &schedulerpb.HttpTarget{Uri: url, HttpMethod: schedulerpb.HttpMethod_POST, Body: t.Payload,
			Headers: map[string]string{triggerHeader: t.Key, "Content-Type": "application/json"},
			AuthorizationHeader: &schedulerpb.HttpTarget_OidcToken{OidcToken: &schedulerpb.OidcToken{
				ServiceAccountEmail: f.opts.SchedulerServiceAccount, Audience: url}}}}}
}

func jobSig(j *schedulerpb.Job) string {
	ht := j.GetHttpTarget()
	return fmt.Sprint(j.GetDescription(), "|", j.GetSchedule(), "|", j.GetTimeZone(), "|", ht.GetUri(), "|", string(ht.GetBody()), "|",
		ht.GetHeaders()[triggerHeader], "|", ht.GetOidcToken().GetServiceAccountEmail(), "|", ht.GetOidcToken().GetAudience())
}

// reconcileSchedules makes the owned jobs match want.
func (f *function) reconcileSchedules(ctx context.Context, url string, want []trigger.Schedule) (bool, error) {
	live, err := f.listJobs(ctx)
	if err != nil {
		return false, err
	}
	byName := map[string]*schedulerpb.Job{}
	for _, j := range live {
		byName[j.GetName()] = j
	}
	sch := f.opts.SchedulerClient
	changed := false
	keep := map[string]bool{}
	for _, t := range want {
		j := f.desiredJob(url, t)
		keep[j.Name] = true
		cur := byName[j.Name]
		switch {
		case cur == nil:
			err = f.retry(ctx, "CreateJob", true, func(ctx context.Context) error {
				_, err := sch.CreateJob(ctx, &schedulerpb.CreateJobRequest{Parent: f.parent, Job: j})
				return err
			})
		case jobSig(cur) != jobSig(j):
			err = f.retry(ctx, "UpdateJob", true, func(ctx context.Context) error {
				_, err := sch.UpdateJob(ctx, &schedulerpb.UpdateJobRequest{Job: j,
					UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description", "schedule", "time_zone", "http_target"}}})
				return err
			})
		default:
			continue
		}
		if err != nil {
			return changed, err
		}
		changed = true
	}
	for _, j := range live {
		if keep[j.GetName()] {
			continue
		}
		err := f.retry(ctx, "DeleteJob", true, func(ctx context.Context) error {
			return sch.DeleteJob(ctx, &schedulerpb.DeleteJobRequest{Name: j.GetName()})
		})
		if err != nil && !isCode(err, codes.NotFound) {
			return changed, err
		}
		changed = true
	}
	return changed, nil
}
