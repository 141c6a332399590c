package gcpfake

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"cloud.google.com/go/scheduler/apiv1/schedulerpb"
	"github.com/robfig/cron/v3"
	"google.golang.org/genproto/googleapis/api/metric"
	"google.golang.org/genproto/googleapis/api/monitoredres"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type schedulerServer struct {
	schedulerpb.UnimplementedCloudSchedulerServer
	s *Server
}

var (
	jobNameRE  = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/jobs/[A-Za-z0-9_-]{1,500}$`)
	cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)
)

func checkJob(j *schedulerpb.Job) error {
	bad := func(format string, args ...any) error { return status.Errorf(codes.InvalidArgument, format, args...) }
	if !jobNameRE.MatchString(j.Name) {
		return bad("job name %q: want projects/P/locations/L/jobs/ID (letters, digits, '-', '_')", j.Name)
	}
	if _, err := cronParser.Parse(j.Schedule); err != nil {
		return bad("schedule %q is not a unix-cron expression: %v", j.Schedule, err)
	}
	if j.TimeZone != "" {
		if _, err := time.LoadLocation(j.TimeZone); err != nil {
			return bad("time zone %q is not a tz database name", j.TimeZone)
		}
	}
	ht := j.GetHttpTarget()
	if ht == nil || !strings.HasPrefix(ht.Uri, "http") {
		return bad("http_target.uri is required")
	}
	if o := ht.GetOidcToken(); o != nil && o.ServiceAccountEmail == "" {
		return bad("oidc_token.service_account_email is required")
	}
	return nil
}

func (sc *schedulerServer) CreateJob(_ context.Context, r *schedulerpb.CreateJobRequest) (*schedulerpb.Job, error) {
	s := sc.s
	j := proto.Clone(r.GetJob()).(*schedulerpb.Job)
	if !strings.HasPrefix(j.GetName(), r.GetParent()+"/jobs/") {
		return nil, status.Errorf(codes.InvalidArgument, "job name %q is not under %s", j.GetName(), r.GetParent())
	}
	if err := checkJob(j); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.jobs[j.Name]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "Job %s already exists", j.Name)
	}
	j.State, j.UserUpdateTime = schedulerpb.Job_ENABLED, timestamppb.Now()
	s.jobs[j.Name] = j
	return proto.Clone(j).(*schedulerpb.Job), nil
}

func (sc *schedulerServer) GetJob(_ context.Context, r *schedulerpb.GetJobRequest) (*schedulerpb.Job, error) {
	s := sc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[r.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Job not found: %s", r.GetName())
	}
	return proto.Clone(j).(*schedulerpb.Job), nil
}

func (sc *schedulerServer) UpdateJob(_ context.Context, r *schedulerpb.UpdateJobRequest) (*schedulerpb.Job, error) {
	s := sc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.jobs[r.GetJob().GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Job not found: %s", r.GetJob().GetName())
	}
	next := proto.Clone(cur).(*schedulerpb.Job)
	paths := r.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		paths = []string{"description", "schedule", "time_zone", "http_target", "retry_config", "attempt_deadline"}
	}
	in := r.GetJob()
	for _, p := range paths {
		switch p {
		case "description":
			next.Description = in.Description
		case "schedule":
			next.Schedule = in.Schedule
		case "time_zone":
			next.TimeZone = in.TimeZone
		case "http_target":
			next.Target = proto.Clone(in).(*schedulerpb.Job).Target
		case "retry_config":
			next.RetryConfig = in.RetryConfig
		case "attempt_deadline":
			next.AttemptDeadline = in.AttemptDeadline
		default:
			return nil, status.Errorf(codes.InvalidArgument, "update mask path %q is not supported", p)
		}
	}
	if err := checkJob(next); err != nil {
		return nil, err
	}
	next.UserUpdateTime = timestamppb.Now()
	s.jobs[next.Name] = next
	return proto.Clone(next).(*schedulerpb.Job), nil
}

func (sc *schedulerServer) DeleteJob(_ context.Context, r *schedulerpb.DeleteJobRequest) (*emptypb.Empty, error) {
	s := sc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.jobs[r.GetName()]; !ok {
		return nil, status.Errorf(codes.NotFound, "Job not found: %s", r.GetName())
	}
	delete(s.jobs, r.GetName())
	return &emptypb.Empty{}, nil
}

func (sc *schedulerServer) ListJobs(_ context.Context, r *schedulerpb.ListJobsRequest) (*schedulerpb.ListJobsResponse, error) {
	s := sc.s
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.jobs {
		if strings.HasPrefix(n, r.GetParent()+"/jobs/") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	start, _ := strconv.Atoi(r.GetPageToken())
	size := int(r.GetPageSize())
	if size <= 0 || size > 500 {
		size = 100
	}
	out := &schedulerpb.ListJobsResponse{}
	for i := start; i < len(names) && i < start+size; i++ {
		out.Jobs = append(out.Jobs, proto.Clone(s.jobs[names[i]]).(*schedulerpb.Job))
	}
	if start+size < len(names) {
		out.NextPageToken = strconv.Itoa(start + size)
	}
	return out, nil
}

// Jobs returns copies of the scheduler jobs, by name.
func (s *Server) Jobs() map[string]*schedulerpb.Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]*schedulerpb.Job, len(s.jobs))
	for k, v := range maps.All(s.jobs) {
		out[k] = proto.Clone(v).(*schedulerpb.Job)
	}
	return out
}

// AddForeignJob adds a job another tool created, which an adapter must
// leave alone.
func (s *Server) AddForeignJob(j *schedulerpb.Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs[j.Name] = proto.Clone(j).(*schedulerpb.Job)
}

// RecordRequests records n requests to revision of service (short
// names) answered with code at time at, as if its URL had served them.
func (s *Server) RecordRequests(service, revision string, code, n int, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.requests = append(s.requests, request{service: service, revision: revision, code: code, at: at})
	}
}

type metricServer struct {
	monitoringpb.UnimplementedMetricServiceServer
	s *Server
}

var filterTermRE = regexp.MustCompile(`([a-z_.]+)\s*=\s*"([^"]*)"`)

// ListTimeSeries serves run.googleapis.com/request_count for the
// cloud_run_revision resource: one DELTA INT64 series per revision and
// response code, each with one point summing the interval. The filter
// may constrain metric.type, resource.type, resource.labels.service_name,
// resource.labels.revision_name and metric.labels.response_code_class.
func (m *metricServer) ListTimeSeries(_ context.Context, r *monitoringpb.ListTimeSeriesRequest) (*monitoringpb.ListTimeSeriesResponse, error) {
	s := m.s
	if !strings.HasPrefix(r.GetName(), "projects/") {
		return nil, status.Errorf(codes.InvalidArgument, "name %q: want projects/P", r.GetName())
	}
	if r.GetInterval().GetEndTime() == nil {
		return nil, status.Error(codes.InvalidArgument, "interval.end_time is required")
	}
	want := map[string]string{}
	for _, t := range filterTermRE.FindAllStringSubmatch(r.GetFilter(), -1) {
		want[t[1]] = t[2]
	}
	if want["metric.type"] != "run.googleapis.com/request_count" {
		return nil, status.Errorf(codes.InvalidArgument, "the fake serves metric.type = \"run.googleapis.com/request_count\" only (filter %q)", r.GetFilter())
	}
	start, end := r.GetInterval().GetStartTime().AsTime(), r.GetInterval().GetEndTime().AsTime()
	if r.GetInterval().GetStartTime() == nil {
		start = end
	}
	type key struct {
		svc, rev string
		code     int
	}
	sums := map[key]int64{}
	s.mu.Lock()
	for _, q := range s.requests {
		class := fmt.Sprintf("%dxx", q.code/100)
		switch {
		case q.at.Before(start) || q.at.After(end):
			continue
		case want["resource.labels.service_name"] != "" && want["resource.labels.service_name"] != q.service,
			want["resource.labels.revision_name"] != "" && want["resource.labels.revision_name"] != q.revision,
			want["metric.labels.response_code_class"] != "" && want["metric.labels.response_code_class"] != class:
			continue
		}
		sums[key{q.service, q.revision, q.code}]++
	}
	s.mu.Unlock()
	out := &monitoringpb.ListTimeSeriesResponse{}
	keys := slices.Collect(maps.Keys(sums))
	slices.SortFunc(keys, func(a, b key) int {
		return strings.Compare(fmt.Sprint(a.svc, a.rev, a.code), fmt.Sprint(b.svc, b.rev, b.code))
	})
	for _, k := range keys {
		out.TimeSeries = append(out.TimeSeries, &monitoringpb.TimeSeries{
			Metric: &metric.Metric{Type: "run.googleapis.com/request_count", Labels: map[string]string{
				"response_code": strconv.Itoa(k.code), "response_code_class": fmt.Sprintf("%dxx", k.code/100), "route": "default"}},
			Resource: &monitoredres.MonitoredResource{Type: "cloud_run_revision", Labels: map[string]string{
				"service_name": k.svc, "revision_name": k.rev, "location": "us-central1", "configuration_name": k.svc}},
			MetricKind: metric.MetricDescriptor_DELTA, ValueType: metric.MetricDescriptor_INT64,
			Points: []*monitoringpb.Point{{Interval: &monitoringpb.TimeInterval{StartTime: timestamppb.New(start), EndTime: timestamppb.New(end)},
				Value: &monitoringpb.TypedValue{Value: &monitoringpb.TypedValue_Int64Value{Int64Value: sums[k]}}}},
		})
	}
	return out, nil
}
