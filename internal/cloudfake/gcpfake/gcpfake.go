// Package gcpfake is an in-process Google Cloud control plane for the
// Cloud Functions v2 adapter's tests: gRPC servers for Cloud Functions v2
// (google.cloud.functions.v2.FunctionService), Cloud Run Admin v2
// (Services and Revisions), google.longrunning.Operations, Cloud Scheduler
// v1 and Cloud Monitoring v3 (ListTimeSeries) on one loopback listener,
// reached through the real cloud.google.com/go clients, plus an HTTP
// server that plays the signed upload URL and the functions' run.app URLs.
//
// It models what deployers get wrong:
//   - long-running operations that take Options.OpDelay and are settled
//     lazily (a GetOperation after the delay sees them done, and Settle
//     finishes them at once for tests that must not wait), can fail
//     (FailNextOperation, FailNextBuild with a build log URL in the
//     operation metadata), and block a second mutation of the same
//     function or service with ABORTED while they run;
//   - UpdateFunction field masks with proto3 semantics: a field not named
//     by the mask (nor its parent) keeps its live value, so
//     all_traffic_on_latest_revision=false is lost unless the mask names
//     service_config or the field itself;
//   - a new Cloud Run revision per deploy that changes build or service
//     configuration, with the function's environment, secrets (as
//     references), memory, timeout and scaling in the revision;
//   - Cloud Run traffic as Cloud Run enforces it: percentages sum to 100,
//     named revisions must exist, tags are unique, a revision that has
//     traffic or a tag cannot be deleted, annotations in Google's
//     namespaces are refused, and the etag is a precondition (ABORTED);
//   - the rule that an HTTP function cannot become event-triggered (or
//     back) by an update;
//   - the signed upload URL as an HTTP endpoint that accepts only PUT with
//     Content-Type application/zip and no Authorization header;
//   - faults injected per RPC: any gRPC code (UNAVAILABLE,
//     RESOURCE_EXHAUSTED, ABORTED, …) and latency.
//
// Requests to a function's URL (or a revision tag URL) are routed by the
// service's traffic to Options.Handler and recorded as Cloud Run
// run.googleapis.com/request_count points by revision and response code,
// which ListTimeSeries serves.
package gcpfake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/functions/apiv2/functionspb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"cloud.google.com/go/run/apiv2/runpb"
	"cloud.google.com/go/scheduler/apiv1/schedulerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Options configure a Server. Nil means the defaults.
type Options struct {
	// OpDelay is how long a long-running operation takes before a poll
	// sees it done (default 0: the first poll).
	OpDelay time.Duration
	// ProjectNumber appears in default service accounts (default 123456789).
	ProjectNumber string
	// Handler serves requests to a function's URL; nil answers 200 with
	// the revision name. status 0 means 200.
	Handler func(inv *Invocation) (status int, body []byte)
	// Seed seeds the traffic split; 0 means random.
	Seed uint64
}

// Invocation is one request a function's URL received.
type Invocation struct {
	Service  string // short service name
	Revision string // short revision name
	Tag      string // the tag when called through a tag URL
	Request  *http.Request
	Body     []byte
	Env      map[string]string // the revision's plain environment
}

// Fault makes matching RPCs fail or slow down.
type Fault struct {
	// Method is the RPC name ("UpdateFunction", "GetOperation"); "" matches all.
	Method string
	// After lets that many matching calls pass first.
	After int
	// Times is how many calls it applies to; 0 means 1, negative forever.
	Times int
	// Code is the gRPC code returned; codes.OK only adds Latency.
	Code codes.Code
	// Message defaults to a generic one.
	Message string
	// Latency delays the call (before any error).
	Latency time.Duration
}

type faultState struct {
	Fault
	seen, applied int
}

// Server is the fake. It is safe for concurrent use.
type Server struct {
	opts Options
	grpc *grpc.Server
	lis  net.Listener
	http *httptest.Server
	conn *grpc.ClientConn

	mu        sync.Mutex
	rnd       *rand.Rand
	calls     []string
	faults    []*faultState
	funcs     map[string]*function
	services  map[string]*service
	revisions map[string]*runpb.Revision // full name
	ops       map[string]*operation
	opSeq     int
	objects   map[string][]byte // "bucket/object" → zip
	uploads   map[string]bool   // objects with a generated upload URL
	uploadN   int
	jobs      map[string]*schedulerpb.Job
	requests  []request
	failOp    map[string]*opFailure // RPC name → next operation failure
	failBuild map[string]string     // function full name → build failure message
}

type opFailure struct {
	code codes.Code
	msg  string
}

type request struct {
	service, revision string
	code              int
	at                time.Time
}

// operation is a long-running operation that finishes at deadline.
type operation struct {
	name     string
	deadline time.Time
	finish   func() (result proto.Message, err error)
	meta     proto.Message
	proto    *longrunningpb.Operation // set once done
	lock     string                   // the resource it holds busy
}

// New starts the fake on loopback listeners. Close it when done.
func New(opts *Options) (*Server, error) {
	s := &Server{funcs: map[string]*function{}, services: map[string]*service{}, revisions: map[string]*runpb.Revision{},
		ops: map[string]*operation{}, objects: map[string][]byte{}, uploads: map[string]bool{}, jobs: map[string]*schedulerpb.Job{},
		failOp: map[string]*opFailure{}, failBuild: map[string]string{}}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.ProjectNumber == "" {
		s.opts.ProjectNumber = "123456789"
	}
	seed := s.opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s.rnd = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.lis = lis
	s.grpc = grpc.NewServer(grpc.UnaryInterceptor(s.intercept))
	functionspb.RegisterFunctionServiceServer(s.grpc, &functionsServer{s: s})
	runpb.RegisterServicesServer(s.grpc, &servicesServer{s: s})
	runpb.RegisterRevisionsServer(s.grpc, &revisionsServer{s: s})
	longrunningpb.RegisterOperationsServer(s.grpc, &operationsServer{s: s})
	schedulerpb.RegisterCloudSchedulerServer(s.grpc, &schedulerServer{s: s})
	monitoringpb.RegisterMetricServiceServer(s.grpc, &metricServer{s: s})
	go s.grpc.Serve(lis)
	s.http = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		s.Close()
		return nil, err
	}
	s.conn = conn
	return s, nil
}

// Close stops the servers.
func (s *Server) Close() {
	if s.conn != nil {
		s.conn.Close()
	}
	s.grpc.Stop()
	s.http.Close()
}

// Addr is the gRPC listener's address (host:port).
func (s *Server) Addr() string { return s.lis.Addr().String() }

// HTTPURL is the base URL of the upload and function endpoints.
func (s *Server) HTTPURL() string { return s.http.URL }

// ClientOptions connect a cloud.google.com/go client to the fake over
// one shared connection, without credentials.
func (s *Server) ClientOptions() []option.ClientOption {
	return []option.ClientOption{option.WithGRPCConn(s.conn)}
}

// EndpointOptions connect a client to the fake through its own dial to
// Addr (option.WithEndpoint), as a client configured by address would.
func (s *Server) EndpointOptions() []option.ClientOption {
	return []option.ClientOption{option.WithEndpoint(s.Addr()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))}
}

// Inject adds a fault.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultState{Fault: f})
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Calls returns the RPC names served so far, in order (failed ones too),
// and HTTP requests as "PUT upload" and "POST run".
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// ResetCalls forgets the recorded calls.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// FailNextOperation makes the next long-running operation started by
// method ("UpdateFunction", "UpdateService", …) finish with code and msg.
func (s *Server) FailNextOperation(method string, code codes.Code, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failOp[method] = &opFailure{code: code, msg: msg}
}

// FailNextBuild makes the next build of function (full name) fail with
// msg: the operation ends INVALID_ARGUMENT "Build failed: msg", its
// metadata's BUILD stage carries the build log URL, and an update leaves
// the live function and its revisions as they were.
func (s *Server) FailNextBuild(function, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failBuild[function] = msg
}

// BuildLogURL is the log URL FailNextBuild reports for function's build.
func BuildLogURL(function, build string) string {
	p := strings.Split(function, "/")
	if len(p) < 4 {
		return ""
	}
	return fmt.Sprintf("https://console.cloud.google.com/cloud-build/builds;region=%s/%s?project=%s", p[3], build, p[1])
}

func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	method := info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:]
	s.mu.Lock()
	s.calls = append(s.calls, method)
	var latency time.Duration
	var ferr error
	for _, f := range s.faults {
		if f.Method != "" && f.Method != method {
			continue
		}
		f.seen++
		times := f.Times
		if times == 0 {
			times = 1
		}
		if f.seen <= f.After || (times > 0 && f.applied >= times) {
			continue
		}
		f.applied++
		latency += f.Latency
		if f.Code != codes.OK && ferr == nil {
			msg := f.Message
			if msg == "" {
				msg = fmt.Sprintf("injected %s for %s", f.Code, method)
			}
			ferr = status.Error(f.Code, msg)
		}
	}
	s.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-t.C:
		}
	}
	if ferr != nil {
		return nil, ferr
	}
	return handler(ctx, req)
}

// startOp registers an operation that finishes after OpDelay; lock names
// the resource it keeps busy. Callers hold s.mu.
func (s *Server) startOp(method, lock string, meta proto.Message, finish func() (proto.Message, error)) (*longrunningpb.Operation, error) {
	s.opSeq++
	loc := "us-central1"
	if p := strings.Split(lock, "/"); len(p) > 3 {
		loc = p[3]
	}
	op := &operation{name: fmt.Sprintf("projects/p/locations/%s/operations/operation-%d", loc, s.opSeq),
		deadline: time.Now().Add(s.opts.OpDelay), finish: finish, meta: meta, lock: lock}
	if f := s.failOp[method]; f != nil {
		delete(s.failOp, method)
		op.finish = func() (proto.Message, error) { return nil, status.Error(f.code, f.msg) }
	}
	s.ops[op.name] = op
	md, err := anypb.New(meta)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	if s.opts.OpDelay <= 0 {
		s.settleOp(op)
		return op.proto, nil
	}
	return &longrunningpb.Operation{Name: op.name, Metadata: md}, nil
}

// settle finishes every operation whose time has come. Callers hold s.mu.
func (s *Server) settle() {
	now := time.Now()
	for _, op := range s.ops {
		if op.proto == nil && !now.Before(op.deadline) {
			s.settleOp(op)
		}
	}
}

func (s *Server) settleOp(op *operation) {
	res, err := op.finish()
	md, _ := anypb.New(op.meta)
	p := &longrunningpb.Operation{Name: op.name, Done: true, Metadata: md}
	if err != nil {
		st, _ := status.FromError(err)
		p.Result = &longrunningpb.Operation_Error{Error: st.Proto()}
	} else {
		a, aerr := anypb.New(res)
		if aerr != nil {
			st := status.New(codes.Internal, aerr.Error())
			p.Result = &longrunningpb.Operation_Error{Error: st.Proto()}
		} else {
			p.Result = &longrunningpb.Operation_Response{Response: a}
		}
	}
	op.proto = p
}

// Settle finishes every operation still running, as if its time had
// come, so a test need not wait on the clock.
func (s *Server) Settle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range s.ops {
		if op.proto == nil {
			s.settleOp(op)
		}
	}
}

// busy reports an operation in progress on resource. Callers hold s.mu.
func (s *Server) busy(resource string) bool {
	for _, op := range s.ops {
		if op.proto == nil && op.lock == resource {
			return true
		}
	}
	return false
}

type operationsServer struct {
	longrunningpb.UnimplementedOperationsServer
	s *Server
}

func (o *operationsServer) GetOperation(_ context.Context, r *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	s := o.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	op, ok := s.ops[r.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "operation %s not found", r.GetName())
	}
	if op.proto != nil {
		return op.proto, nil
	}
	md, _ := anypb.New(op.meta)
	return &longrunningpb.Operation{Name: op.name, Metadata: md}, nil
}

func shortHash(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:])
}

func lastSegment(name string) string { return name[strings.LastIndex(name, "/")+1:] }
