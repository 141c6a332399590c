package gcpfake

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/functions/apiv2/functionspb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Runtimes are the runtimes ListRuntimes reports and builds accept, as
// Cloud Functions listed them for 2nd gen (name → stage).
var Runtimes = map[string]functionspb.ListRuntimesResponse_RuntimeStage{
	"go126": functionspb.ListRuntimesResponse_GA, "go125": functionspb.ListRuntimesResponse_GA,
	"go124": functionspb.ListRuntimesResponse_DEPRECATED, "go123": functionspb.ListRuntimesResponse_DEPRECATED,
	"nodejs22": functionspb.ListRuntimesResponse_GA, "nodejs20": functionspb.ListRuntimesResponse_GA,
	"python313": functionspb.ListRuntimesResponse_GA, "python312": functionspb.ListRuntimesResponse_GA,
	"java21": functionspb.ListRuntimesResponse_GA, "go121": functionspb.ListRuntimesResponse_DECOMMISSIONED,
}

type function struct {
	pb     *functionspb.Function
	revSeq int
}

type functionsServer struct {
	functionspb.UnimplementedFunctionServiceServer
	s *Server
}

var (
	parentRE     = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+$`)
	functionIDRE = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
	topicRE      = regexp.MustCompile(`^projects/[^/]+/topics/[A-Za-z][A-Za-z0-9._~%+-]{2,254}$`)
)

func cloneFn(f *functionspb.Function) *functionspb.Function {
	return proto.Clone(f).(*functionspb.Function)
}

func (f *functionsServer) GetFunction(_ context.Context, r *functionspb.GetFunctionRequest) (*functionspb.Function, error) {
	s := f.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	fn, ok := s.funcs[r.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Resource '%s' was not found", r.GetName())
	}
	return s.reported(fn), nil
}

// reported is what GetFunction returns: all_traffic_on_latest_revision
// is true while the latest revision serves 100%.
func (s *Server) reported(fn *function) *functionspb.Function {
	out := cloneFn(fn.pb)
	if out.ServiceConfig != nil {
		out.ServiceConfig.AllTrafficOnLatestRevision = false
		if svc := s.services[out.ServiceConfig.Service]; svc != nil {
			out.ServiceConfig.AllTrafficOnLatestRevision = svc.latestServesAll()
		}
	}
	return out
}

func (f *functionsServer) ListRuntimes(_ context.Context, r *functionspb.ListRuntimesRequest) (*functionspb.ListRuntimesResponse, error) {
	if !parentRE.MatchString(r.GetParent()) {
		return nil, status.Errorf(codes.InvalidArgument, "parent %q: want projects/P/locations/L", r.GetParent())
	}
	out := &functionspb.ListRuntimesResponse{}
	for _, n := range slices.Sorted(mapsKeys(Runtimes)) {
		out.Runtimes = append(out.Runtimes, &functionspb.ListRuntimesResponse_Runtime{Name: n, DisplayName: n, Stage: Runtimes[n],
			Environment: functionspb.Environment_GEN_2})
	}
	return out, nil
}

func (f *functionsServer) GenerateUploadUrl(_ context.Context, r *functionspb.GenerateUploadUrlRequest) (*functionspb.GenerateUploadUrlResponse, error) {
	s := f.s
	if !parentRE.MatchString(r.GetParent()) {
		return nil, status.Errorf(codes.InvalidArgument, "parent %q: want projects/P/locations/L", r.GetParent())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.uploadN++
	loc := lastSegment(r.GetParent())
	bucket := fmt.Sprintf("gcf-v2-uploads-%s-%s", s.opts.ProjectNumber, loc)
	object := fmt.Sprintf("%s.zip", shortHash(r.GetParent(), strconv.Itoa(s.uploadN))[:32])
	s.uploads[bucket+"/"+object] = true
	return &functionspb.GenerateUploadUrlResponse{
		UploadUrl:     fmt.Sprintf("%s/upload/%s/%s?GoogleAccessId=fake&Expires=%d&Signature=fake", s.http.URL, bucket, object, time.Now().Add(time.Hour).Unix()),
		StorageSource: &functionspb.StorageSource{Bucket: bucket, Object: object},
	}, nil
}

func (f *functionsServer) CreateFunction(_ context.Context, r *functionspb.CreateFunctionRequest) (*longrunningpb.Operation, error) {
	s := f.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	if !parentRE.MatchString(r.GetParent()) {
		return nil, status.Errorf(codes.InvalidArgument, "parent %q: want projects/P/locations/L", r.GetParent())
	}
	if !functionIDRE.MatchString(r.GetFunctionId()) {
		return nil, status.Errorf(codes.InvalidArgument, "function id %q: use lower-case letters, digits and hyphens, starting with a letter, at most 63", r.GetFunctionId())
	}
	name := r.GetParent() + "/functions/" + r.GetFunctionId()
	if _, ok := s.funcs[name]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "Function %s already exists", name)
	}
	if r.GetFunction() == nil {
		return nil, status.Error(codes.InvalidArgument, "function is required")
	}
	fn := cloneFn(r.GetFunction())
	clearOutputOnly(fn)
	if fn.ServiceConfig == nil {
		fn.ServiceConfig = &functionspb.ServiceConfig{}
	}
	if err := s.validateFunction(fn); err != nil {
		return nil, err
	}
	now := timestamppb.Now()
	fn.Name, fn.State, fn.Environment, fn.CreateTime, fn.UpdateTime = name, functionspb.Function_DEPLOYING, functionspb.Environment_GEN_2, now, now
	rec := &function{pb: fn}
	s.funcs[name] = rec
	meta := s.opMeta(name, "create")
	return s.startOp("CreateFunction", name, meta, func() (proto.Message, error) {
		if err := s.build(rec, meta); err != nil {
			rec.pb.State = functionspb.Function_FAILED
			rec.pb.StateMessages = []*functionspb.StateMessage{{Severity: functionspb.StateMessage_ERROR, Type: "BuildFailed", Message: err.Error()}}
			return nil, err
		}
		s.deploy(rec, true)
		rec.pb.State = functionspb.Function_ACTIVE
		return s.reported(rec), nil
	})
}

func (s *Server) opMeta(name, verb string) *functionspb.OperationMetadata {
	build := fmt.Sprintf("%s/builds/%s", name[:strings.Index(name, "/functions/")], shortHash(name, strconv.Itoa(s.opSeq+1))[:12])
	return &functionspb.OperationMetadata{CreateTime: timestamppb.Now(), Target: name, Verb: verb, ApiVersion: "v2", BuildName: build,
		Stages: []*functionspb.Stage{
			{Name: functionspb.Stage_BUILD, State: functionspb.Stage_NOT_STARTED},
			{Name: functionspb.Stage_SERVICE, State: functionspb.Stage_NOT_STARTED},
		}}
}

// build runs (or fails) the build stage of a deploy.
func (s *Server) build(fn *function, meta *functionspb.OperationMetadata) error {
	st := meta.Stages[0]
	st.State = functionspb.Stage_COMPLETE
	id := lastSegment(meta.BuildName)
	st.Resource, st.ResourceUri = meta.BuildName, BuildLogURL(fn.pb.Name, id)
	if msg, ok := s.failBuild[fn.pb.Name]; ok {
		delete(s.failBuild, fn.pb.Name)
		st.Message = "Build failed: " + msg
		st.StateMessages = []*functionspb.StateMessage{{Severity: functionspb.StateMessage_ERROR, Type: "BuildFailed", Message: msg}}
		return status.Errorf(codes.InvalidArgument, "Build failed with status: FAILURE and message: %s. For more details see the logs at %s", msg, st.ResourceUri)
	}
	meta.Stages[1].State = functionspb.Stage_COMPLETE
	meta.EndTime = timestamppb.Now()
	fn.pb.BuildConfig.Build = meta.BuildName
	return nil
}

func clearOutputOnly(fn *functionspb.Function) {
	fn.Name, fn.Url, fn.State, fn.StateMessages, fn.UpdateTime, fn.CreateTime = "", "", 0, nil, nil, nil
	if fn.BuildConfig != nil {
		fn.BuildConfig.Build = ""
	}
	if fn.ServiceConfig != nil {
		fn.ServiceConfig.Service, fn.ServiceConfig.Uri, fn.ServiceConfig.Revision = "", "", ""
	}
	if fn.EventTrigger != nil {
		fn.EventTrigger.Trigger, fn.EventTrigger.Service = "", ""
	}
}

// updatable lists the top-level fields an update may name.
var updatable = []string{"description", "build_config", "service_config", "event_trigger", "labels", "kms_key_name"}

func (f *functionsServer) UpdateFunction(_ context.Context, r *functionspb.UpdateFunctionRequest) (*longrunningpb.Operation, error) {
	s := f.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	if r.GetFunction() == nil {
		return nil, status.Error(codes.InvalidArgument, "function is required")
	}
	name := r.GetFunction().GetName()
	cur, ok := s.funcs[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Resource '%s' was not found", name)
	}
	if s.busy(name) {
		return nil, status.Errorf(codes.Aborted, "unable to queue the operation: an operation is already in progress on function %s", name)
	}
	next := s.reported(cur) // unmasked fields keep their live (reported) values
	req := cloneFn(r.GetFunction())
	clearOutputOnly(req)
	paths := r.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		paths = updatable
	}
	for _, p := range paths {
		top := strings.SplitN(p, ".", 2)[0]
		if !slices.Contains(updatable, top) {
			return nil, status.Errorf(codes.InvalidArgument, "invalid update mask path %q", p)
		}
		if err := applyPath(next.ProtoReflect(), req.ProtoReflect(), strings.Split(p, ".")); err != nil {
			return nil, err
		}
	}
	if (cur.pb.EventTrigger == nil) != (next.EventTrigger == nil) {
		return nil, status.Error(codes.InvalidArgument, "changing a function from an HTTP trigger to an event trigger, or back, is not allowed: delete the function and create it again")
	}
	if next.ServiceConfig == nil {
		next.ServiceConfig = &functionspb.ServiceConfig{}
	}
	if err := s.validateFunction(next); err != nil {
		return nil, err
	}
	allTraffic := next.ServiceConfig.AllTrafficOnLatestRevision
	redeploy := !sameDeploy(cur.pb, next)
	cur.pb.State = functionspb.Function_DEPLOYING
	meta := s.opMeta(name, "update")
	return s.startOp("UpdateFunction", name, meta, func() (proto.Message, error) {
		old := cur.pb
		cur.pb = next
		cur.pb.UpdateTime = timestamppb.Now()
		if redeploy {
			if err := s.build(cur, meta); err != nil {
				cur.pb = old
				cur.pb.State = functionspb.Function_ACTIVE
				return nil, err
			}
			s.deploy(cur, allTraffic)
		} else if svc := s.services[cur.pb.ServiceConfig.Service]; svc != nil {
			svc.pb.Labels = serviceLabels(cur.pb)
		}
		cur.pb.State = functionspb.Function_ACTIVE
		return s.reported(cur), nil
	})
}

// sameDeploy reports whether b deploys what a does (so no new revision).
func sameDeploy(a, b *functionspb.Function) bool {
	norm := func(f *functionspb.Function) *functionspb.Function {
		c := cloneFn(f)
		clearOutputOnly(c)
		c.Labels, c.Description, c.Environment = nil, "", 0
		if c.ServiceConfig != nil {
			c.ServiceConfig.AllTrafficOnLatestRevision = false
		}
		return c
	}
	return proto.Equal(norm(a), norm(b))
}

// applyPath copies the field named by path from src to dst, clearing it
// in dst when src does not set it (field-mask semantics).
func applyPath(dst, src protoreflect.Message, path []string) error {
	fd := dst.Descriptor().Fields().ByName(protoreflect.Name(path[0]))
	if fd == nil {
		return status.Errorf(codes.InvalidArgument, "invalid update mask path: no field %q in %s", path[0], dst.Descriptor().FullName())
	}
	if len(path) == 1 {
		if src != nil && src.IsValid() && src.Has(fd) {
			setField(dst, src, fd)
		} else {
			dst.Clear(fd)
		}
		return nil
	}
	if fd.Kind() != protoreflect.MessageKind || fd.IsList() || fd.IsMap() {
		return status.Errorf(codes.InvalidArgument, "invalid update mask path: %s is not a message", fd.Name())
	}
	// When src does not set the parent, Get returns an invalid message
	// and every leaf below it clears.
	var sub protoreflect.Message
	if src != nil && src.IsValid() {
		sub = src.Get(fd).Message()
	}
	return applyPath(dst.Mutable(fd).Message(), sub, path[1:])
}

// setField deep-copies field fd from src to dst.
func setField(dst, src protoreflect.Message, fd protoreflect.FieldDescriptor) {
	dst.Clear(fd)
	v := src.Get(fd)
	copyElem := func(e protoreflect.Value) protoreflect.Value {
		if msg, ok := e.Interface().(protoreflect.Message); ok {
			return protoreflect.ValueOfMessage(proto.Clone(msg.Interface()).ProtoReflect())
		}
		return e
	}
	switch {
	case fd.IsList():
		l := dst.Mutable(fd).List()
		for i := 0; i < v.List().Len(); i++ {
			l.Append(copyElem(v.List().Get(i)))
		}
	case fd.IsMap():
		m := dst.Mutable(fd).Map()
		v.Map().Range(func(k protoreflect.MapKey, e protoreflect.Value) bool {
			m.Set(k, copyElem(e))
			return true
		})
	default:
		dst.Set(fd, copyElem(v))
	}
}

func (s *Server) validateFunction(fn *functionspb.Function) error {
	if err := s.validateBuild(fn.BuildConfig); err != nil {
		return err
	}
	if err := validateService(fn.ServiceConfig, fn.EventTrigger != nil); err != nil {
		return err
	}
	if err := validateEnv(fn.ServiceConfig); err != nil {
		return err
	}
	return validateEventTrigger(fn.EventTrigger)
}

func bad(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func (s *Server) validateBuild(bc *functionspb.BuildConfig) error {
	if bc == nil {
		return bad("build_config is required")
	}
	stage, ok := Runtimes[bc.Runtime]
	if !ok {
		return bad("runtime %q is not supported: call ListRuntimes", bc.Runtime)
	}
	if stage == functionspb.ListRuntimesResponse_DECOMMISSIONED {
		return bad("runtime %q is decommissioned", bc.Runtime)
	}
	ss := bc.GetSource().GetStorageSource()
	if ss == nil {
		return bad("build_config.source.storage_source is required")
	}
	if _, ok := s.objects[ss.Bucket+"/"+ss.Object]; !ok {
		return bad("source object gs://%s/%s does not exist: upload it to the URL GenerateUploadUrl returns", ss.Bucket, ss.Object)
	}
	return nil
}

// validateService checks memory, CPU, concurrency, timeout and scaling.
// It is one flat list of Cloud Run's rules, each a short check, kept in
// one function so that it reads as the rules are documented.
func validateService(sc *functionspb.ServiceConfig, event bool) error {
	mem := 256
	if sc.AvailableMemory != "" {
		m, err := ParseMemory(sc.AvailableMemory)
		if err != nil {
			return bad("available_memory: %v", err)
		}
		mem = m
	}
	if mem < 128 || mem > 32768 {
		return bad("available_memory %s: use 128Mi to 32Gi", sc.AvailableMemory)
	}
	cpu := DefaultCPU(mem)
	if sc.AvailableCpu != "" {
		c, err := strconv.ParseFloat(sc.AvailableCpu, 64)
		if err != nil || c < 0.08 || c > 8 || (c > 1 && c != float64(int(c))) {
			return bad("available_cpu %q: use 0.08 to 1, or a whole number up to 8", sc.AvailableCpu)
		}
		cpu = c
	}
	switch {
	case mem > 512 && cpu < 0.5, mem > 1024 && cpu < 1, mem > 4096 && cpu < 2, mem > 8192 && cpu < 4, mem > 16384 && cpu < 6, mem > 24576 && cpu < 8:
		return bad("available_memory %dMi needs more CPU than %g", mem, cpu)
	case cpu >= 4 && mem < 2048, cpu >= 6 && mem < 4096:
		return bad("available_cpu %g needs more memory than %dMi", cpu, mem)
	case sc.MaxInstanceRequestConcurrency > 1 && cpu < 1:
		return bad("max_instance_request_concurrency %d needs at least 1 CPU (have %g)", sc.MaxInstanceRequestConcurrency, cpu)
	case sc.MaxInstanceRequestConcurrency > 1000:
		return bad("max_instance_request_concurrency %d: at most 1000", sc.MaxInstanceRequestConcurrency)
	case sc.TimeoutSeconds < 0 || sc.TimeoutSeconds > 3600:
		return bad("timeout_seconds %d: use 1 to 3600", sc.TimeoutSeconds)
	case event && sc.TimeoutSeconds > 540:
		return bad("timeout_seconds %d: event-driven functions allow at most 540", sc.TimeoutSeconds)
	case sc.MaxInstanceCount > 0 && sc.MinInstanceCount > sc.MaxInstanceCount:
		return bad("min_instance_count %d is above max_instance_count %d", sc.MinInstanceCount, sc.MaxInstanceCount)
	}
	return nil
}

// validateEnv checks variable names, sizes and secret references.
func validateEnv(sc *functionspb.ServiceConfig) error {
	size := 0
	for k, v := range sc.EnvironmentVariables {
		switch {
		case k == "" || strings.Contains(k, "="):
			return bad("environment variable name %q is not valid", k)
		case strings.HasPrefix(k, "X_GOOGLE_"):
			return bad("environment variable %s: the X_GOOGLE_ prefix is reserved", k)
		case slices.Contains([]string{"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION", "FUNCTION_TARGET", "FUNCTION_SIGNATURE_TYPE"}, k):
			return bad("environment variable %s is reserved", k)
		}
		size += len(k) + len(v)
	}
	if size > 32<<10 {
		return bad("environment variables are %d bytes: at most 32 KiB", size)
	}
	for _, sv := range sc.SecretEnvironmentVariables {
		if sv.Key == "" || sv.ProjectId == "" || sv.Secret == "" {
			return bad("secret_environment_variables: key, project_id and secret are required")
		}
		if _, dup := sc.EnvironmentVariables[sv.Key]; dup {
			return bad("%s is both an environment variable and a secret", sv.Key)
		}
	}
	return nil
}

func validateEventTrigger(et *functionspb.EventTrigger) error {
	if et == nil {
		return nil
	}
	filters := map[string]string{}
	for _, f := range et.EventFilters {
		filters[f.Attribute] = f.Value
	}
	switch {
	case et.EventType == "google.cloud.pubsub.topic.v1.messagePublished":
		if et.PubsubTopic != "" && !topicRE.MatchString(et.PubsubTopic) {
			return bad("pubsub_topic %q: want projects/P/topics/T", et.PubsubTopic)
		}
	case strings.HasPrefix(et.EventType, "google.cloud.storage.object.v1."):
		if filters["bucket"] == "" {
			return bad("missing required attribute \"bucket\" in trigger.event_filters")
		}
	case strings.HasPrefix(et.EventType, "google.cloud.firestore.document.v1."):
		if filters["database"] == "" || filters["document"] == "" {
			return bad("Firestore triggers need the database and document filters")
		}
	default:
		return bad("event type %q is not supported", et.EventType)
	}
	return nil
}

func (f *functionsServer) DeleteFunction(_ context.Context, r *functionspb.DeleteFunctionRequest) (*longrunningpb.Operation, error) {
	s := f.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	name := r.GetName()
	fn, ok := s.funcs[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Resource '%s' was not found", name)
	}
	if s.busy(name) {
		return nil, status.Errorf(codes.Aborted, "unable to queue the operation: an operation is already in progress on function %s", name)
	}
	fn.pb.State = functionspb.Function_DELETING
	return s.startOp("DeleteFunction", name, s.opMeta(name, "delete"), func() (proto.Message, error) {
		delete(s.funcs, name)
		if svc := fn.pb.GetServiceConfig().GetService(); svc != "" {
			delete(s.services, svc)
			for rn := range s.revisions {
				if strings.HasPrefix(rn, svc+"/revisions/") {
					delete(s.revisions, rn)
				}
			}
		}
		return &emptypb.Empty{}, nil
	})
}

// ParseMemory converts a Kubernetes-style quantity ("256Mi", "1Gi",
// "512M", "2G", "131072k") to MiB, rounding up.
func ParseMemory(q string) (int, error) {
	units := []struct {
		suffix string
		bytes  float64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(q, u.suffix); ok {
			v, err := strconv.ParseFloat(n, 64)
			if err != nil || v <= 0 {
				return 0, fmt.Errorf("memory %q is not a quantity such as 256Mi", q)
			}
			mib := v * u.bytes / (1 << 20)
			m := int(mib)
			if float64(m) < mib {
				m++
			}
			return m, nil
		}
	}
	return 0, fmt.Errorf("memory %q: use a unit: k, M, G, Mi or Gi", q)
}

// DefaultCPU is the CPU Cloud Run functions give a memory size (MiB)
// when available_cpu is empty.
func DefaultCPU(mib int) float64 {
	switch {
	case mib <= 128:
		return 0.083
	case mib <= 256:
		return 0.167
	case mib <= 512:
		return 0.333
	case mib <= 1024:
		return 0.583
	case mib <= 2048:
		return 1
	case mib <= 8192:
		return 2
	case mib <= 16384:
		return 4
	}
	return 8
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
