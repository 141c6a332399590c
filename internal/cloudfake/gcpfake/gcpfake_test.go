package gcpfake_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	functions "cloud.google.com/go/functions/apiv2"
	"cloud.google.com/go/functions/apiv2/functionspb"
	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/updraft-dev/updraft/internal/cloudfake/gcpfake"
)

const parent = "projects/p/locations/us-central1"

type env struct {
	srv *gcpfake.Server
	fc  *functions.FunctionClient
	sc  *run.ServicesClient
	rc  *run.RevisionsClient
}

func newEnv(t *testing.T, opts *gcpfake.Options) *env {
	t.Helper()
	srv, err := gcpfake.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e := &env{srv: srv}
	// One client over the shared connection, one dialling the address.
	if e.fc, err = functions.NewFunctionClient(ctx, srv.EndpointOptions()...); err != nil {
		t.Fatal(err)
	}
	if e.sc, err = run.NewServicesClient(ctx, srv.ClientOptions()...); err != nil {
		t.Fatal(err)
	}
	if e.rc, err = run.NewRevisionsClient(ctx, srv.ClientOptions()...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.fc.Close(); e.sc.Close(); e.rc.Close(); srv.Close() })
	return e
}

func (e *env) upload(t *testing.T) *functionspb.StorageSource {
	t.Helper()
	up, err := e.fc.GenerateUploadUrl(t.Context(), &functionspb.GenerateUploadUrlRequest{Parent: parent})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, up.UploadUrl, strings.NewReader("PK\x03\x04"))
	req.Header.Set("Content-Type", "application/zip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("upload: %v %v", err, resp)
	}
	resp.Body.Close()
	return up.StorageSource
}

func (e *env) create(t *testing.T, id string) *functionspb.Function {
	t.Helper()
	op, err := e.fc.CreateFunction(t.Context(), &functionspb.CreateFunctionRequest{Parent: parent, FunctionId: id, Function: &functionspb.Function{
		BuildConfig: &functionspb.BuildConfig{Runtime: "go126", EntryPoint: "F",
			Source: &functionspb.Source{Source: &functionspb.Source_StorageSource{StorageSource: e.upload(t)}}},
		ServiceConfig: &functionspb.ServiceConfig{EnvironmentVariables: map[string]string{"V": "1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	for !op.Done() {
		time.Sleep(time.Millisecond)
		if _, err := op.Poll(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	fn, err := op.Poll(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return fn
}

func TestUploadChecksHeaders(t *testing.T) {
	e := newEnv(t, nil)
	up, err := e.fc.GenerateUploadUrl(t.Context(), &functionspb.GenerateUploadUrlRequest{Parent: parent})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, ctype, auth string
		want                int
	}{
		{http.MethodPost, "application/zip", "", http.StatusMethodNotAllowed},
		{http.MethodPut, "application/octet-stream", "", http.StatusForbidden},
		{http.MethodPut, "application/zip", "Bearer ya29.token", http.StatusBadRequest},
		{http.MethodPut, "application/zip", "", http.StatusOK},
	} {
		req, _ := http.NewRequest(tc.method, up.UploadUrl, strings.NewReader("zip"))
		req.Header.Set("Content-Type", tc.ctype)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s auth=%q: %d, want %d", tc.method, tc.ctype, tc.auth, resp.StatusCode, tc.want)
		}
	}
	if b, ok := e.srv.Object(up.StorageSource.Bucket, up.StorageSource.Object); !ok || string(b) != "zip" {
		t.Fatalf("object %q %v", b, ok)
	}
}

func TestOperationsTakeTime(t *testing.T) {
	e := newEnv(t, &gcpfake.Options{OpDelay: time.Hour})
	op, err := e.fc.CreateFunction(t.Context(), &functionspb.CreateFunctionRequest{Parent: parent, FunctionId: "slow", Function: &functionspb.Function{
		BuildConfig: &functionspb.BuildConfig{Runtime: "go126", Source: &functionspb.Source{Source: &functionspb.Source_StorageSource{StorageSource: e.upload(t)}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Poll(t.Context()); err != nil || op.Done() {
		t.Fatalf("the operation is done before its time: %v", err)
	}
	if fn := e.srv.Function(parent + "/functions/slow"); fn.State != functionspb.Function_DEPLOYING {
		t.Fatalf("state during the operation %v", fn.State)
	}
	// A second mutation while the first runs is refused.
	_, err = e.fc.UpdateFunction(t.Context(), &functionspb.UpdateFunctionRequest{Function: &functionspb.Function{Name: parent + "/functions/slow"}})
	if status.Code(err) != codes.Aborted {
		t.Fatalf("update during the operation: %v", err)
	}
	e.srv.Settle()
	fn, err := op.Poll(t.Context())
	if err != nil || !op.Done() || fn.State != functionspb.Function_ACTIVE {
		t.Fatalf("after settling: %v %v done %v", fn, err, op.Done())
	}
	if md, err := op.Metadata(); err != nil || md.Verb != "create" {
		t.Fatalf("metadata %v %v", md, err)
	}
}

func TestTrafficRules(t *testing.T) {
	e := newEnv(t, nil)
	fn := e.create(t, "hello")
	ctx := t.Context()
	svc, err := e.sc.GetService(ctx, &runpb.GetServiceRequest{Name: fn.ServiceConfig.Service})
	if err != nil {
		t.Fatal(err)
	}
	rev := fn.ServiceConfig.Revision
	update := func(mod func(*runpb.Service)) error {
		s := proto.Clone(svc).(*runpb.Service)
		mod(s)
		op, err := e.sc.UpdateService(ctx, &runpb.UpdateServiceRequest{Service: s})
		if err != nil {
			return err
		}
		out, err := op.Poll(ctx)
		if err == nil && out != nil {
			svc = out
		}
		return err
	}
	target := func(rev string, pct int32, tag string) *runpb.TrafficTarget {
		return &runpb.TrafficTarget{Type: runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION, Revision: rev, Percent: pct, Tag: tag}
	}
	for _, tc := range []struct {
		name string
		mod  func(*runpb.Service)
		want codes.Code
	}{
		{"sum", func(s *runpb.Service) { s.Traffic = []*runpb.TrafficTarget{target(rev, 90, "")} }, codes.InvalidArgument},
		{"missing revision", func(s *runpb.Service) { s.Traffic = []*runpb.TrafficTarget{target("hello-00009-zzz", 100, "")} }, codes.NotFound},
		{"duplicate tag", func(s *runpb.Service) {
			s.Traffic = []*runpb.TrafficTarget{target(rev, 100, "a"), target(rev, 0, "a")}
		}, codes.InvalidArgument},
		{"reserved annotation", func(s *runpb.Service) { s.Annotations = map[string]string{"run.googleapis.com/ingress": "all"} }, codes.InvalidArgument},
		{"stale etag", func(s *runpb.Service) { s.Etag = `"stale"` }, codes.Aborted},
		{"pin with a tag", func(s *runpb.Service) { s.Traffic = []*runpb.TrafficTarget{target(rev, 100, "green")} }, codes.OK},
	} {
		if err := update(tc.mod); status.Code(err) != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if len(svc.TrafficStatuses) != 1 || !strings.Contains(svc.TrafficStatuses[0].Uri, "/run/green---hello") {
		t.Fatalf("statuses %v", svc.TrafficStatuses)
	}
	op, err := e.rc.DeleteRevision(ctx, &runpb.DeleteRevisionRequest{Name: fn.ServiceConfig.Service + "/revisions/" + rev})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("deleting the serving revision: %v %v", op, err)
	}
}

func TestFaults(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.Inject(gcpfake.Fault{Method: "GetFunction", Code: codes.Unavailable, Times: 2})
	for i, want := range []codes.Code{codes.Unavailable, codes.Unavailable, codes.NotFound} {
		_, err := e.fc.GetFunction(t.Context(), &functionspb.GetFunctionRequest{Name: parent + "/functions/x"})
		if status.Code(err) != want {
			t.Errorf("call %d: %v, want %v", i, err, want)
		}
	}
	e.srv.FailNextOperation("CreateFunction", codes.ResourceExhausted, "quota exceeded for builds")
	op, err := e.fc.CreateFunction(t.Context(), &functionspb.CreateFunctionRequest{Parent: parent, FunctionId: "q", Function: &functionspb.Function{
		BuildConfig: &functionspb.BuildConfig{Runtime: "go126", Source: &functionspb.Source{Source: &functionspb.Source_StorageSource{StorageSource: e.upload(t)}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Poll(t.Context()); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("failed operation: %v", err)
	}
}
