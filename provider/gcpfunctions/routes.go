package gcpfunctions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	functions "cloud.google.com/go/functions/apiv2"
	"cloud.google.com/go/functions/apiv2/functionspb"
	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/idtoken"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/updraft-dev/updraft/provider/driver"
)

const typeRevision = runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION

// Get implements driver.Function: GetFunction, GetService and, with
// schedule triggers enabled, ListJobs.
func (f *function) Get(ctx context.Context) (*driver.State, error) {
	fn, err := do(ctx, f, "GetFunction", func(ctx context.Context) (*functionspb.Function, error) {
		return f.fc.GetFunction(ctx, &functionspb.GetFunctionRequest{Name: f.name})
	})
	if err != nil {
		return nil, err
	}
	st := &driver.State{Name: f.name, Config: f.configOf(fn), ETag: etagOf(fn), Routes: map[string]*driver.Route{}, Endpoint: fn.GetUrl()}
	svc, err := f.getService(ctx)
	switch {
	case isCode(err, codes.NotFound):
		svc = nil
	case err != nil:
		return nil, err
	}
	if r := routeOf(svc); r != nil {
		st.Routes[r.Name] = r
	}
	jobs, err := f.listJobs(ctx)
	if err != nil {
		return nil, err
	}
	st.Triggers = f.triggersOf(fn, svc, jobs)
	return st, nil
}

func (f *function) getService(ctx context.Context) (*runpb.Service, error) {
	return do(ctx, f, "GetService", func(ctx context.Context) (*runpb.Service, error) {
		return f.sc.GetService(ctx, &runpb.GetServiceRequest{Name: f.svcName})
	})
}

// routeOf is the route a service holds, or nil when updraft made none.
func routeOf(svc *runpb.Service) *driver.Route {
	name := svc.GetAnnotations()[annRoute]
	if name == "" {
		return nil
	}
	r := &driver.Route{Name: name, Traffic: trafficOf(svc), ETag: svc.GetEtag(), Marker: decodeMarker(svc.GetAnnotations()[annRollout])}
	verdictsOf(svc, r)
	if n := int(svc.GetScaling().GetMinInstanceCount()); n > 0 {
		p := &driver.Provisioned{Requested: n, Ready: n, Status: "READY"}
		if svc.GetReconciling() {
			p.Ready, p.Status = 0, "IN_PROGRESS"
		}
		if c := svc.GetTerminalCondition(); c.GetState() == runpb.Condition_CONDITION_FAILED {
			p.Ready, p.Status, p.Reason = 0, "FAILED", c.GetMessage()
		}
		r.Provisioned = p
	}
	return r
}

// ListRevisions implements driver.Function: GetFunction (its labels are
// every revision's) and ListRevisions, which Cloud Run returns newest
// first.
func (f *function) ListRevisions(ctx context.Context) ([]*driver.Revision, error) {
	fn, err := do(ctx, f, "GetFunction", func(ctx context.Context) (*functionspb.Function, error) {
		return f.fc.GetFunction(ctx, &functionspb.GetFunctionRequest{Name: f.name})
	})
	if err != nil {
		return nil, err
	}
	var revs []*runpb.Revision
	err = f.retry(ctx, "ListRevisions", true, func(ctx context.Context) error {
		revs = nil
		it := f.rc.ListRevisions(ctx, &runpb.ListRevisionsRequest{Parent: f.svcName, PageSize: 100})
		for {
			r, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return nil
			}
			if err != nil {
				return err
			}
			revs = append(revs, r)
		}
	})
	if isCode(err, codes.NotFound) {
		return nil, nil // the function has no service yet (its first build failed)
	}
	if err != nil {
		return nil, err
	}
	slices.SortFunc(revs, func(a, b *runpb.Revision) int {
		if c := a.GetCreateTime().AsTime().Compare(b.GetCreateTime().AsTime()); c != 0 {
			return c
		}
		return strings.Compare(a.GetName(), b.GetName())
	})
	out := make([]*driver.Revision, len(revs))
	for i, r := range revs {
		out[i] = f.revisionOf(r, fn)
	}
	return out, nil
}

// checkRoute makes sure route is the service's route, creating it (the
// annotation) when the service has none.
func (f *function) checkRoute(svc *runpb.Service, route string, create bool) error {
	cur := svc.GetAnnotations()[annRoute]
	switch {
	case cur == route:
		return nil
	case cur == "" && create:
		if svc.Annotations == nil {
			svc.Annotations = map[string]string{}
		}
		svc.Annotations[annRoute] = route
		return nil
	case cur == "":
		return driver.RouteNotFound(f.name, route)
	case create:
		return driver.NewError(driver.InvalidArgument, fmt.Sprintf("%s has route %s (its Cloud Run service traffic) and Cloud Functions has one route per function: use %s", f.name, cur, cur))
	}
	return driver.RouteNotFound(f.name, route)
}

// UpdateRoute implements driver.Function with one read-modify-write of
// the Cloud Run service (conditioned on its etag: IfMatch, or the etag
// just read): traffic names the stable revision and the candidate,
// tagged "candidate" (other entries, such as a smoke tag, are dropped);
// the marker and verdicts are the service's updraft.dev/rollout and
// updraft.dev/verdicts annotations, a metadata change that makes no
// revision. The route is the updraft.dev/route annotation, created by an
// update with traffic.
func (f *function) UpdateRoute(ctx context.Context, route string, u *driver.RouteUpdate, opts *driver.ConditionOptions) (*driver.Route, error) {
	svc, err := f.updateService(ctx, opts.IfMatch, func(svc *runpb.Service) (bool, error) {
		if opts.IfMatch != "" && svc.GetAnnotations()[annRoute] != route {
			return false, driver.NewError(driver.FailedPrecondition, fmt.Sprintf("route %s of %s does not exist, so etag %s cannot match", route, f.name, opts.IfMatch))
		}
		if err := f.checkRoute(svc, route, u.Traffic != nil); err != nil {
			return false, err
		}
		if t := u.Traffic; t != nil {
			ts := []*runpb.TrafficTarget{{Type: typeRevision, Revision: t.Stable, Percent: int32(100 - t.CandidatePercent)}}
			if t.Candidate != "" && t.CandidatePercent > 0 {
				ts = append(ts, &runpb.TrafficTarget{Type: typeRevision, Revision: t.Candidate, Percent: int32(t.CandidatePercent), Tag: candidateTag})
			}
			svc.Traffic = ts
		}
		switch {
		case u.Marker != nil:
			svc.Annotations[annRollout] = encodeMarker(u.Marker)
		case u.ClearMarker:
			delete(svc.Annotations, annRollout)
		}
		if u.Verdicts != nil {
			svc.Annotations[annVerdicts] = encodeVerdicts(u.Verdicts)
		}
		return true, nil
	}, true)
	if isCode(err, codes.NotFound) && u.Traffic != nil {
		var de *driver.Error
		if !errors.As(err, &de) {
			// The service was read before the write failed: what is
			// missing is a revision.
			if _, gerr := f.getService(ctx); gerr == nil {
				return nil, driver.NewError(driver.NotFound, fmt.Sprintf("revision %s of %s does not exist: %v", revisionsOf(u.Traffic), f.name, err))
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return routeOf(svc), nil
}

func revisionsOf(t *driver.Traffic) string {
	if t.Candidate == "" {
		return t.Stable
	}
	return t.Stable + " or " + t.Candidate
}

// DeleteRevision implements driver.Function. A revision with traffic is
// refused here (FailedPrecondition); one that only holds the smoke tag
// loses the tag first, since Cloud Run refuses to delete a tagged one.
func (f *function) DeleteRevision(ctx context.Context, id string) error {
	_, err := f.updateService(ctx, "", func(svc *runpb.Service) (bool, error) {
		var keep []*runpb.TrafficTarget
		for _, t := range svc.Traffic {
			ref := t.Revision
			if t.Type == runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST {
				ref = lastSegment(svc.LatestReadyRevision)
			}
			switch {
			case ref != id:
				keep = append(keep, t)
			case t.Percent > 0 || (t.Tag != smokeTag && t.Tag != candidateTag):
				route := cmpOr(svc.Annotations[annRoute], "traffic")
				return false, driver.NewError(driver.FailedPrecondition, fmt.Sprintf("revision %s of %s serves route %s (%d%%): shift its traffic away first", id, f.name, route, t.Percent))
			}
		}
		if len(keep) == len(svc.Traffic) {
			return false, nil
		}
		svc.Traffic = keep
		return true, nil
	}, true)
	if err != nil {
		return err
	}
	var op *run.DeleteRevisionOperation
	err = f.retry(ctx, "DeleteRevision", true, func(ctx context.Context) error {
		var err error
		op, err = f.rc.DeleteRevision(ctx, &runpb.DeleteRevisionRequest{Name: f.svcName + "/revisions/" + id})
		return err
	})
	if err != nil {
		return err
	}
	_, err = wait(ctx, f, "deletion of revision "+id, op)
	return err
}

// Delete implements driver.Function: the owned schedule jobs, then the
// function (which deletes its service, revisions and event trigger).
func (f *function) Delete(ctx context.Context) error {
	if _, err := do(ctx, f, "GetFunction", func(ctx context.Context) (*functionspb.Function, error) {
		return f.fc.GetFunction(ctx, &functionspb.GetFunctionRequest{Name: f.name})
	}); err != nil {
		return err
	}
	if _, err := f.reconcileSchedules(ctx, "", nil); err != nil {
		return err
	}
	var op *functions.DeleteFunctionOperation
	err := f.retry(ctx, "DeleteFunction", true, func(ctx context.Context) error {
		var err error
		op, err = f.fc.DeleteFunction(ctx, &functionspb.DeleteFunctionRequest{Name: f.name})
		return err
	})
	if err != nil {
		return err
	}
	_, err = wait(ctx, f, "deletion", deleteOp{op})
	return err
}

// deleteOp adapts DeleteFunctionOperation, whose Poll returns no value.
type deleteOp struct {
	op *functions.DeleteFunctionOperation
}

func (d deleteOp) Poll(ctx context.Context, opts ...gax.CallOption) (struct{}, error) {
	return struct{}{}, d.op.Poll(ctx, opts...)
}
func (d deleteOp) Done() bool   { return d.op.Done() }
func (d deleteOp) Name() string { return d.op.Name() }

// Invoke implements driver.Function over HTTPS: a revision through a tag
// URL (the candidate's, or a "smoke" tag added at 0%), a route through
// the function's URL. A 5xx status is a function error; 401 and 403 are
// PermissionDenied; 429 is ResourceExhausted.
func (f *function) Invoke(ctx context.Context, req *driver.InvokeRequest) (*driver.InvokeResult, error) {
	svc, err := f.getService(ctx)
	if err != nil {
		return nil, err
	}
	url, rev := svc.GetUri(), ""
	if req.Revision != "" {
		rev = req.Revision
		url = tagURL(svc, rev)
		if url == "" {
			res, err := f.updateService(ctx, "", func(s *runpb.Service) (bool, error) {
				var ts []*runpb.TrafficTarget
				for _, t := range s.Traffic {
					if t.Tag != smokeTag || t.Percent > 0 {
						ts = append(ts, t)
					}
				}
				s.Traffic = append(ts, &runpb.TrafficTarget{Type: typeRevision, Revision: rev, Percent: 0, Tag: smokeTag})
				return true, nil
			}, true)
			if isCode(err, codes.NotFound) {
				return nil, driver.RevisionNotFound(f.name, rev)
			}
			if err != nil {
				return nil, err
			}
			if url = tagURL(res, rev); url == "" {
				return nil, driver.NewError(driver.Internal, fmt.Sprintf("%s: Cloud Run reported no URL for the smoke tag of revision %s", f.name, rev))
			}
		}
	} else {
		if err := f.checkRoute(svc, req.Route, false); err != nil {
			return nil, err
		}
		if t := trafficOf(svc); t.Candidate == "" {
			rev = t.Stable
		}
	}
	client, err := f.invokeClient(ctx, svc.GetUri())
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(req.Payload))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	start := time.Now()
	// No retry: an invocation is not idempotent.
	resp, err := client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("invoking %s: %w", f.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the response of %s: %w", f.name, err)
	}
	res := &driver.InvokeResult{Revision: rev, Payload: body, Duration: time.Since(start)}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, driver.NewError(driver.PermissionDenied, fmt.Sprintf("invoking %s: %s: the caller needs roles/run.invoker (or an HTTP trigger with Auth none)", f.name, resp.Status))
	case resp.StatusCode == http.StatusTooManyRequests:
		return nil, driver.NewError(driver.ResourceExhausted, fmt.Sprintf("invoking %s: %s: no instance was available", f.name, resp.Status))
	case resp.StatusCode >= 500:
		res.FunctionError = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body[:min(len(body), 300)])))
	}
	return res, nil
}

func tagURL(svc *runpb.Service, rev string) string {
	for _, t := range svc.GetTrafficStatuses() {
		if t.GetRevision() == rev && t.GetTag() != "" && t.GetUri() != "" {
			return t.GetUri()
		}
	}
	return ""
}

func (f *function) invokeClient(ctx context.Context, audience string) (*http.Client, error) {
	if f.opts.InvokeClient != nil {
		return f.opts.InvokeClient, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.invokes[audience]; c != nil {
		return c, nil
	}
	c, err := idtoken.NewClient(ctx, audience)
	if err != nil {
		return nil, driver.NewError(driver.PermissionDenied, fmt.Sprintf("invoking %s needs an ID token, which Application Default Credentials could not give (%v): use a service account or set Options.InvokeClient", f.name, err))
	}
	if f.invokes == nil {
		f.invokes = map[string]*http.Client{}
	}
	f.invokes[audience] = c
	return c, nil
}

// Metrics implements driver.Function with one Cloud Monitoring
// ListTimeSeries of run.googleapis.com/request_count for the service (and
// revision), summed by response code: Invocations all requests, Errors
// the 5xx, Throttles the 429. Zero times mean the last three hours.
// Cloud Monitoring shows requests a few minutes late.
func (f *function) Metrics(ctx context.Context, q *driver.MetricsQuery) (*driver.Metrics, error) {
	mc := f.opts.MetricClient
	if mc == nil {
		return nil, driver.NewError(driver.Unimplemented, "gcpfunctions: metrics need Options.MetricClient")
	}
	until := q.Until
	if until.IsZero() {
		until = time.Now().Add(time.Minute)
	}
	since := q.Since
	if since.IsZero() {
		since = until.Add(-3 * time.Hour)
	}
	filter := fmt.Sprintf(`metric.type = "run.googleapis.com/request_count" AND resource.type = "cloud_run_revision" AND resource.labels.service_name = "%s"`, f.id)
	if q.Revision != "" {
		filter += fmt.Sprintf(` AND resource.labels.revision_name = "%s"`, q.Revision)
	}
	period := max(until.Sub(since).Truncate(time.Minute), time.Minute)
	req := &monitoringpb.ListTimeSeriesRequest{Name: "projects/" + f.project, Filter: filter,
		Interval: &monitoringpb.TimeInterval{StartTime: timestamppb.New(since), EndTime: timestamppb.New(until)},
		Aggregation: &monitoringpb.Aggregation{AlignmentPeriod: durationpb.New(period), PerSeriesAligner: monitoringpb.Aggregation_ALIGN_SUM,
			CrossSeriesReducer: monitoringpb.Aggregation_REDUCE_SUM, GroupByFields: []string{"metric.labels.response_code"}},
		View: monitoringpb.ListTimeSeriesRequest_FULL}
	m := &driver.Metrics{}
	err := f.retry(ctx, "ListTimeSeries", true, func(ctx context.Context) error {
		*m = driver.Metrics{}
		it := mc.ListTimeSeries(ctx, req)
		for {
			ts, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return nil
			}
			if err != nil {
				return err
			}
			code := ts.GetMetric().GetLabels()["response_code"]
			var n int64
			for _, p := range ts.GetPoints() {
				n += p.GetValue().GetInt64Value()
			}
			addStatus(m, code, n)
		}
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}
