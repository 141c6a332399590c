package gcpfake

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/functions/apiv2/functionspb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type service struct {
	pb  *runpb.Service
	fn  string // owning function's full name
	gen int
}

const (
	typeLatest   = runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
	typeRevision = runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
)

// latestServesAll reports whether the latest ready revision serves 100%.
func (sv *service) latestServesAll() bool {
	latest := lastSegment(sv.pb.LatestReadyRevision)
	for _, t := range sv.pb.Traffic {
		if t.Percent == 100 {
			return t.Type == typeLatest || t.Revision == latest
		}
	}
	return false
}

func (s *Server) letters(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + s.rnd.IntN(26))
	}
	return string(b)
}

func serviceLabels(fn *functionspb.Function) map[string]string {
	l := maps.Clone(fn.Labels)
	if l == nil {
		l = map[string]string{}
	}
	l["goog-managed-by"] = "cloudfunctions"
	return l
}

// fillDefaults sets what Cloud Functions fills in a service config.
func (s *Server) fillDefaults(sc *functionspb.ServiceConfig) {
	if sc.AvailableMemory == "" {
		sc.AvailableMemory = "256M"
	}
	if sc.AvailableCpu == "" {
		m, _ := ParseMemory(sc.AvailableMemory)
		sc.AvailableCpu = strconv.FormatFloat(DefaultCPU(m), 'f', -1, 64)
	}
	if sc.TimeoutSeconds == 0 {
		sc.TimeoutSeconds = 60
	}
	if sc.MaxInstanceCount == 0 {
		sc.MaxInstanceCount = 100
	}
	if sc.MaxInstanceRequestConcurrency == 0 {
		sc.MaxInstanceRequestConcurrency = 1
	}
	if sc.IngressSettings == functionspb.ServiceConfig_INGRESS_SETTINGS_UNSPECIFIED {
		sc.IngressSettings = functionspb.ServiceConfig_ALLOW_ALL
	}
	if sc.ServiceAccountEmail == "" {
		sc.ServiceAccountEmail = s.opts.ProjectNumber + "-compute@developer.gserviceaccount.com"
	}
}

// deploy makes a new revision of fn's service from its configuration;
// allTraffic routes all traffic to it. Callers hold s.mu.
func (s *Server) deploy(fn *function, allTraffic bool) {
	name := fn.pb.Name
	parent, id := name[:strings.Index(name, "/functions/")], lastSegment(name)
	svcName := parent + "/services/" + id
	sv := s.services[svcName]
	if sv == nil {
		now := timestamppb.Now()
		sv = &service{fn: name, pb: &runpb.Service{Name: svcName, Uid: shortHash(svcName, now.String())[:36], CreateTime: now,
			Uri: s.http.URL + "/run/" + id, Urls: []string{s.http.URL + "/run/" + id}, Annotations: map[string]string{},
			Ingress: runpb.IngressTraffic_INGRESS_TRAFFIC_ALL, Creator: "service-" + s.opts.ProjectNumber + "@gcf-admin-robot.iam.gserviceaccount.com"}}
		s.services[svcName] = sv
		allTraffic = true
	}
	sc := fn.pb.ServiceConfig
	s.fillDefaults(sc)
	fn.revSeq++
	revID := fmt.Sprintf("%s-%05d-%s", id, fn.revSeq, s.letters(3))
	rev := s.revisionOf(fn.pb, svcName, revID)
	s.revisions[rev.Name] = rev
	sv.pb.Template = &runpb.RevisionTemplate{Labels: rev.Labels, Scaling: rev.Scaling, Timeout: rev.Timeout, ServiceAccount: rev.ServiceAccount,
		Containers: rev.Containers, MaxInstanceRequestConcurrency: rev.MaxInstanceRequestConcurrency}
	sv.pb.LatestCreatedRevision, sv.pb.LatestReadyRevision = rev.Name, rev.Name
	if allTraffic {
		sv.pb.Traffic = []*runpb.TrafficTarget{{Type: typeLatest, Percent: 100}}
	}
	sv.pb.Labels = serviceLabels(fn.pb)
	s.touch(sv)
	s.reconciled(sv)
	sc.Service, sc.Uri, sc.Revision = svcName, sv.pb.Uri, revID
	fn.pb.Url = sv.pb.Uri
}

func (s *Server) revisionOf(fn *functionspb.Function, svcName, id string) *runpb.Revision {
	sc := fn.ServiceConfig
	var env []*runpb.EnvVar
	for _, k := range slices.Sorted(maps.Keys(sc.EnvironmentVariables)) {
		env = append(env, &runpb.EnvVar{Name: k, Values: &runpb.EnvVar_Value{Value: sc.EnvironmentVariables[k]}})
	}
	for _, sv := range sc.SecretEnvironmentVariables {
		v := sv.Version
		if v == "" {
			v = "latest"
		}
		env = append(env, &runpb.EnvVar{Name: sv.Key, Values: &runpb.EnvVar_ValueSource{ValueSource: &runpb.EnvVarSource{
			SecretKeyRef: &runpb.SecretKeySelector{Secret: "projects/" + sv.ProjectId + "/secrets/" + sv.Secret, Version: v}}}})
	}
	now := timestamppb.Now()
	name := svcName + "/revisions/" + id
	return &runpb.Revision{Name: name, Uid: shortHash(name)[:36], Generation: 1, Labels: serviceLabels(fn), CreateTime: now, UpdateTime: now,
		Service: svcName, Scaling: &runpb.RevisionScaling{MinInstanceCount: sc.MinInstanceCount, MaxInstanceCount: sc.MaxInstanceCount},
		MaxInstanceRequestConcurrency: sc.MaxInstanceRequestConcurrency, Timeout: durationpb.New(time.Duration(sc.TimeoutSeconds) * time.Second),
		ServiceAccount: sc.ServiceAccountEmail, Containers: []*runpb.Container{{Name: "worker", Env: env,
			Image:     fmt.Sprintf("%s-docker.pkg.dev/%s/gcf-artifacts/%s:version_%s", strings.Split(svcName, "/")[3], strings.Split(svcName, "/")[1], lastSegment(svcName), id),
			Resources: &runpb.ResourceRequirements{Limits: map[string]string{"memory": sc.AvailableMemory, "cpu": sc.AvailableCpu}}}},
		Conditions: []*runpb.Condition{{Type: "Ready", State: runpb.Condition_CONDITION_SUCCEEDED}}, ObservedGeneration: 1,
		LogUri: "https://console.cloud.google.com/logs/viewer?revision=" + id, Etag: shortHash(name, "1")[:16]}
}

// touch records a change of sv's spec: new generation and etag.
func (s *Server) touch(sv *service) {
	sv.gen++
	sv.pb.Generation = int64(sv.gen)
	sv.pb.UpdateTime = timestamppb.Now()
	sv.pb.Etag = `"` + shortHash(sv.pb.Name, strconv.Itoa(sv.gen), sv.pb.UpdateTime.String())[:20] + `"`
	sv.pb.Reconciling = true
}

// reconciled makes sv's status match its spec.
func (s *Server) reconciled(sv *service) {
	sv.pb.Reconciling = false
	sv.pb.ObservedGeneration = sv.pb.Generation
	sv.pb.TerminalCondition = &runpb.Condition{Type: "Ready", State: runpb.Condition_CONDITION_SUCCEEDED, LastTransitionTime: timestamppb.Now()}
	sv.pb.TrafficStatuses = nil
	id := lastSegment(sv.pb.Name)
	for _, t := range sv.pb.Traffic {
		st := &runpb.TrafficTargetStatus{Type: t.Type, Revision: t.Revision, Percent: t.Percent, Tag: t.Tag}
		if t.Type == typeLatest {
			st.Revision = lastSegment(sv.pb.LatestReadyRevision)
		}
		if t.Tag != "" {
			st.Uri = s.http.URL + "/run/" + t.Tag + "---" + id
		}
		sv.pb.TrafficStatuses = append(sv.pb.TrafficStatuses, st)
	}
}

type servicesServer struct {
	runpb.UnimplementedServicesServer
	s *Server
}

func (r *servicesServer) GetService(_ context.Context, req *runpb.GetServiceRequest) (*runpb.Service, error) {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	sv, ok := s.services[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Resource '%s' was not found", req.GetName())
	}
	return proto.Clone(sv.pb).(*runpb.Service), nil
}

var (
	reservedAnnotation = regexp.MustCompile(`^(run\.googleapis\.com|cloud\.googleapis\.com|serving\.knative\.dev|autoscaling\.knative\.dev)/`)
	tagRE              = regexp.MustCompile(`^[a-z]([a-z0-9-]*[a-z0-9])?$`)
)

// UpdateService applies a service update as Cloud Run does: etag, the
// update mask field by field, then the traffic rules. Its branches are
// those checks in Cloud Run's order, kept in one place so the order shows.
func (r *servicesServer) UpdateService(_ context.Context, req *runpb.UpdateServiceRequest) (*longrunningpb.Operation, error) {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	in := req.GetService()
	if in == nil {
		return nil, status.Error(codes.InvalidArgument, "service is required")
	}
	sv, ok := s.services[in.GetName()]
	if !ok {
		if req.GetAllowMissing() {
			return nil, status.Error(codes.Unimplemented, "the fake does not create services through UpdateService")
		}
		return nil, status.Errorf(codes.NotFound, "Resource '%s' was not found", in.GetName())
	}
	if s.busy(sv.pb.Name) || s.busy(sv.fn) {
		return nil, status.Errorf(codes.Aborted, "Conflict for resource '%s': another operation is in progress", lastSegment(sv.pb.Name))
	}
	if in.Etag != "" && in.Etag != sv.pb.Etag {
		return nil, status.Errorf(codes.Aborted, "Conflict for resource '%s': etag %s does not match the current etag %s", lastSegment(sv.pb.Name), in.Etag, sv.pb.Etag)
	}
	next := proto.Clone(sv.pb).(*runpb.Service)
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		paths = []string{"description", "labels", "annotations", "template", "traffic", "scaling", "invoker_iam_disabled", "ingress", "custom_audiences"}
	}
	for _, p := range paths {
		switch p {
		case "description":
			next.Description = in.Description
		case "labels":
			next.Labels = maps.Clone(in.Labels)
		case "annotations":
			next.Annotations = maps.Clone(in.Annotations)
		case "template":
			next.Template = proto.Clone(in.Template).(*runpb.RevisionTemplate)
		case "traffic":
			next.Traffic = nil
			for _, t := range in.Traffic {
				next.Traffic = append(next.Traffic, proto.Clone(t).(*runpb.TrafficTarget))
			}
		case "scaling":
			next.Scaling = proto.Clone(in.Scaling).(*runpb.ServiceScaling)
		case "invoker_iam_disabled":
			next.InvokerIamDisabled = in.InvokerIamDisabled
		case "ingress":
			next.Ingress = in.Ingress
		case "custom_audiences":
			next.CustomAudiences = slices.Clone(in.CustomAudiences)
		default:
			return nil, status.Errorf(codes.InvalidArgument, "update mask path %q is not supported", p)
		}
	}
	size := 0
	for k, v := range next.Annotations {
		if reservedAnnotation.MatchString(k) {
			return nil, status.Errorf(codes.InvalidArgument, "annotation %q: the %s namespace is reserved", k, k[:strings.Index(k, "/")])
		}
		size += len(k) + len(v)
	}
	if size > 256<<10 {
		return nil, status.Errorf(codes.InvalidArgument, "annotations are %d bytes: at most 256 KiB", size)
	}
	if err := s.checkTraffic(sv, next.Traffic); err != nil {
		return nil, err
	}
	if !proto.Equal(next.Template, sv.pb.Template) {
		return nil, status.Error(codes.FailedPrecondition, "the fake does not deploy revision templates through Cloud Run: deploy the function")
	}
	sv.pb = next
	s.touch(sv)
	meta := proto.Clone(sv.pb).(*runpb.Service)
	return s.startOp("UpdateService", sv.pb.Name, meta, func() (proto.Message, error) {
		s.reconciled(sv)
		return proto.Clone(sv.pb).(*runpb.Service), nil
	})
}

// checkTraffic enforces Cloud Run's traffic rules.
func (s *Server) checkTraffic(sv *service, ts []*runpb.TrafficTarget) error {
	sum := int32(0)
	tags := map[string]bool{}
	id := lastSegment(sv.pb.Name)
	for _, t := range ts {
		switch {
		case t.Type == typeLatest && t.Revision != "":
			return status.Errorf(codes.InvalidArgument, "traffic target of type LATEST names revision %q", t.Revision)
		case t.Type == typeRevision || (t.Type == 0 && t.Revision != ""):
			if _, ok := s.revisions[sv.pb.Name+"/revisions/"+t.Revision]; !ok {
				return status.Errorf(codes.NotFound, "Revision named '%s' with traffic percent %d is not found", t.Revision, t.Percent)
			}
		case t.Type == 0:
			return status.Error(codes.InvalidArgument, "traffic target needs a type or a revision")
		}
		if t.Percent < 0 || t.Percent > 100 {
			return status.Errorf(codes.InvalidArgument, "traffic percent %d: use 0 to 100", t.Percent)
		}
		sum += t.Percent
		if t.Tag != "" {
			if !tagRE.MatchString(t.Tag) || len(t.Tag)+3+len(id) > 63 {
				return status.Errorf(codes.InvalidArgument, "tag %q: use lower-case letters, digits and '-', and keep tag---%s within 63 characters", t.Tag, id)
			}
			if tags[t.Tag] {
				return status.Errorf(codes.InvalidArgument, "tag %q is used twice", t.Tag)
			}
			tags[t.Tag] = true
		}
	}
	if sum != 100 {
		return status.Errorf(codes.InvalidArgument, "traffic percents sum to %d, not 100", sum)
	}
	return nil
}

type revisionsServer struct {
	runpb.UnimplementedRevisionsServer
	s *Server
}

func (r *revisionsServer) GetRevision(_ context.Context, req *runpb.GetRevisionRequest) (*runpb.Revision, error) {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	rev, ok := s.revisions[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Resource '%s' was not found", req.GetName())
	}
	return proto.Clone(rev).(*runpb.Revision), nil
}

func (r *revisionsServer) ListRevisions(_ context.Context, req *runpb.ListRevisionsRequest) (*runpb.ListRevisionsResponse, error) {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	if _, ok := s.services[req.GetParent()]; !ok {
		return nil, status.Errorf(codes.NotFound, "Resource '%s' was not found", req.GetParent())
	}
	var all []*runpb.Revision
	for name, rev := range s.revisions {
		if strings.HasPrefix(name, req.GetParent()+"/revisions/") {
			all = append(all, rev)
		}
	}
	// Cloud Run lists newest first.
	slices.SortFunc(all, func(a, b *runpb.Revision) int {
		if c := b.CreateTime.AsTime().Compare(a.CreateTime.AsTime()); c != 0 {
			return c
		}
		return strings.Compare(b.Name, a.Name)
	})
	start, _ := strconv.Atoi(req.GetPageToken())
	size := int(req.GetPageSize())
	if size <= 0 || size > 100 {
		size = 20
	}
	out := &runpb.ListRevisionsResponse{}
	for i := start; i < len(all) && i < start+size; i++ {
		out.Revisions = append(out.Revisions, proto.Clone(all[i]).(*runpb.Revision))
	}
	if start+size < len(all) {
		out.NextPageToken = strconv.Itoa(start + size)
	}
	return out, nil
}

func (r *revisionsServer) DeleteRevision(_ context.Context, req *runpb.DeleteRevisionRequest) (*longrunningpb.Operation, error) {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	rev, ok := s.revisions[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Resource '%s' was not found", req.GetName())
	}
	if req.GetEtag() != "" && req.GetEtag() != rev.Etag {
		return nil, status.Errorf(codes.Aborted, "etag %s does not match revision %s", req.GetEtag(), lastSegment(rev.Name))
	}
	id := lastSegment(rev.Name)
	if sv := s.services[rev.Service]; sv != nil {
		for _, t := range sv.pb.Traffic {
			ref := t.Revision
			if t.Type == typeLatest {
				ref = lastSegment(sv.pb.LatestReadyRevision)
			}
			if ref == id {
				return nil, status.Errorf(codes.FailedPrecondition, "Revision %s is referenced by the traffic of service %s (percent %d, tag %q): it cannot be deleted", id, lastSegment(sv.pb.Name), t.Percent, t.Tag)
			}
		}
	}
	meta := proto.Clone(rev).(*runpb.Revision)
	return s.startOp("DeleteRevision", rev.Name, meta, func() (proto.Message, error) {
		delete(s.revisions, rev.Name)
		return meta, nil
	})
}

// Revisions lists the short names of service's revisions, oldest first.
func (s *Server) Revisions(service string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*runpb.Revision
	for name, rev := range s.revisions {
		if strings.HasPrefix(name, service+"/revisions/") {
			out = append(out, rev)
		}
	}
	slices.SortFunc(out, func(a, b *runpb.Revision) int { return a.CreateTime.AsTime().Compare(b.CreateTime.AsTime()) })
	ids := make([]string, len(out))
	for i, r := range out {
		ids[i] = lastSegment(r.Name)
	}
	return ids
}

// Service returns a copy of the Cloud Run service name, or nil.
func (s *Server) Service(name string) *runpb.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	if sv := s.services[name]; sv != nil {
		return proto.Clone(sv.pb).(*runpb.Service)
	}
	return nil
}

// Function returns a copy of function name as GetFunction reports it, or nil.
func (s *Server) Function(name string) *functionspb.Function {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	if fn := s.funcs[name]; fn != nil {
		return s.reported(fn)
	}
	return nil
}

// Object returns an uploaded source zip.
func (s *Server) Object(bucket, object string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[bucket+"/"+object]
	return b, ok
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/upload/"):
		s.serveUpload(w, r)
	case strings.HasPrefix(r.URL.Path, "/run/"):
		s.serveRun(w, r)
	default:
		http.NotFound(w, r)
	}
}

// serveUpload plays the signed URL: PUT, application/zip, no credentials.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/upload/")
	s.mu.Lock()
	s.calls = append(s.calls, r.Method+" upload")
	known := s.uploads[key]
	s.mu.Unlock()
	switch {
	case !known || r.URL.Query().Get("Signature") == "":
		http.Error(w, "SignatureDoesNotMatch: the request signature does not match", http.StatusForbidden)
	case r.Method != http.MethodPut:
		http.Error(w, "the signed URL is for PUT", http.StatusMethodNotAllowed)
	case r.Header.Get("Authorization") != "":
		http.Error(w, "a signed URL request must not carry an Authorization header", http.StatusBadRequest)
	case r.Header.Get("Content-Type") != "application/zip":
		http.Error(w, "the signed URL was issued for Content-Type application/zip", http.StatusForbidden)
	default:
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.objects[key] = body
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}
}

// serveRun routes a request to a revision by the service's traffic (or
// its tag) and records it for Cloud Monitoring.
func (s *Server) serveRun(w http.ResponseWriter, r *http.Request) {
	host, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/run/"), "/")
	tag, id, tagged := strings.Cut(host, "---")
	if !tagged {
		id, tag = host, ""
	}
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.calls = append(s.calls, r.Method+" run")
	s.settle()
	var sv *service
	for _, x := range s.services {
		if lastSegment(x.pb.Name) == id {
			sv = x
		}
	}
	if sv == nil {
		s.mu.Unlock()
		http.Error(w, "Service not found", http.StatusNotFound)
		return
	}
	rev := ""
	if tagged {
		for _, t := range sv.pb.TrafficStatuses {
			if t.Tag == tag {
				rev = t.Revision
			}
		}
	} else {
		n := int32(s.rnd.IntN(100))
		for _, t := range sv.pb.TrafficStatuses {
			if n < t.Percent {
				rev = t.Revision
				break
			}
			n -= t.Percent
		}
	}
	if rev == "" {
		s.mu.Unlock()
		http.Error(w, "no revision serves this URL", http.StatusNotFound)
		return
	}
	if !sv.pb.InvokerIamDisabled && !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		s.requests = append(s.requests, request{service: id, revision: rev, code: http.StatusForbidden, at: time.Now()})
		s.mu.Unlock()
		http.Error(w, "Your client does not have permission to get URL: an identity token is required", http.StatusForbidden)
		return
	}
	env := map[string]string{}
	if rv := s.revisions[sv.pb.Name+"/revisions/"+rev]; rv != nil {
		for _, e := range rv.Containers[0].Env {
			if v, ok := e.Values.(*runpb.EnvVar_Value); ok {
				env[e.Name] = v.Value
			}
		}
	}
	handler := s.opts.Handler
	s.mu.Unlock()
	code, out := http.StatusOK, []byte(`{"revision":"`+rev+`"}`)
	if handler != nil {
		code, out = handler(&Invocation{Service: id, Revision: rev, Tag: tag, Request: r, Body: body, Env: env})
		if code == 0 {
			code = http.StatusOK
		}
	}
	s.mu.Lock()
	s.requests = append(s.requests, request{service: id, revision: rev, code: code, at: time.Now()})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(out)
}
