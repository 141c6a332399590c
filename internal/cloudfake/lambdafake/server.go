// Package lambdafake is an in-process AWS Lambda control plane that speaks
// Lambda's REST-JSON wire protocol, for tests that drive the real
// aws-sdk-go-v2 Lambda client against it (BaseEndpoint = Server.URL).
//
// It models what deployers get wrong: the function state machine
// (Pending→Active on create, LastUpdateStatus InProgress→Successful or
// Failed with a reason on every update, with configurable delays), 409
// ResourceConflictException for mutations while an update is in progress,
// RevisionId preconditions (412), PublishVersion returning the existing
// version when nothing changed, alias RoutingConfig rules (one extra
// numeric version, weight 0–1, no $LATEST when weighted), provisioned
// concurrency IN_PROGRESS→READY or FAILED, function URLs and resource
// policies, event source mappings with their asynchronous states,
// duplicate checks and error handling (FunctionResponseTypes,
// MaximumRetryAttempts -1 to 10000 and BisectBatchOnFunctionError, the
// last two for stream sources only, refused on SQS), tags, and Invoke through weighted aliases. Faults
// (429, 5xx, 409, connection resets, latency) are injected per operation.
//
// Function URLs answer HTTP requests (Server.URLEndpoint maps the URL
// Lambda reports to this server) with the auth rules Lambda applies.
// Invocations, through Invoke and through function URLs, are recorded and
// served as CloudWatch AWS/Lambda metrics (including UrlRequestCount,
// Url4xxCount and Url5xxCount) through Server.Datapoints, which
// cloudwatchfake reads. Options.SettleOnRead makes every wait cost
// exactly one poll, for tests that count calls; Settle finishes changes
// on demand, for tests that must not race the clock.
//
// Requests are routed with net/http ServeMux patterns, one per operation
// (server.go); each resource's operations are in their own file.
package lambdafake

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/updraft-dev/updraft/internal/cloudfake/awswire"
)

// Options configure a Server. Nil means the defaults.
type Options struct {
	// Region and Account appear in ARNs; defaults us-east-1 and 123456789012.
	Region, Account string
	// CreateDelay is how long a new function stays Pending; UpdateDelay how
	// long LastUpdateStatus stays InProgress; PublishDelay how long a new
	// version stays Pending; ProvisionDelay how long provisioned concurrency
	// stays IN_PROGRESS; ESMDelay how long an event source mapping stays in
	// Creating/Updating. Defaults 0 (the next read sees the final state).
	CreateDelay, UpdateDelay, PublishDelay, ProvisionDelay, ESMDelay time.Duration
	// Handler runs invocations; nil echoes the payload.
	Handler func(ctx context.Context, inv *Invocation) ([]byte, error)
	// Objects resolves S3Bucket/S3Key code locations; nil rejects them.
	Objects ObjectStore
	// Seed seeds weighted alias routing; 0 means random.
	Seed uint64
	// MaxRequestBytes overrides MaxRequestBytes (for tests).
	MaxRequestBytes int
	// SettleOnRead makes every state change (create, update, provisioned
	// concurrency, event source mapping) finish at the first read of it
	// after the change (GetFunction, GetFunctionConfiguration,
	// GetProvisionedConcurrencyConfig, GetEventSourceMapping), whatever the
	// delays: the mutation answers InProgress and exactly one poll sees
	// the end, as with a real but quick Lambda. Tests that count calls use it.
	SettleOnRead bool
}

// farFuture is when a SettleOnRead change would settle unread.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// until is when a change started now with delay d settles.
func (s *Server) until(d time.Duration) time.Time {
	if s.opts.SettleOnRead {
		return farFuture
	}
	return time.Now().Add(d)
}

// settleOnRead finishes f's pending changes when SettleOnRead is set.
func (s *Server) settleOnRead(f *function) {
	if !s.opts.SettleOnRead {
		return
	}
	f.busyUntil = time.Time{}
	for _, v := range f.versions {
		v.readyAt = time.Time{}
	}
	for _, p := range f.provisioned {
		p.readyAt = time.Time{}
	}
	f.refresh(time.Now())
}

// ObjectStore reads S3 objects for code uploaded through S3.
type ObjectStore interface {
	Object(bucket, key string) ([]byte, bool)
}

// Invocation is what a Handler receives.
type Invocation struct {
	Function string
	Version  string
	Env      map[string]string
	Payload  []byte
}

// MaxRequestBytes is the largest request body Lambda accepts for
// CreateFunction and UpdateFunctionCode (50 MiB of zip after base64).
const MaxRequestBytes = 69905067

// Server is the fake. Create it with New; it is safe for concurrent use.
type Server struct {
	awswire.Recorder

	opts Options
	srv  *httptest.Server
	mux  *http.ServeMux

	mu        sync.Mutex
	fns       map[string]*function
	esms      map[string]*esm
	invokes   []invocationRecord
	failNext  map[string]failure // function name → next update outcome
	failProv  map[string]string  // function name → next provisioned failure reason
	failState map[string]failure // function name → next create outcome
	rnd       *rand.Rand
}

type failure struct{ code, reason string }

// New starts a fake Lambda on a loopback httptest server. Close it when done.
func New(opts *Options) *Server {
	s := &Server{fns: map[string]*function{}, esms: map[string]*esm{}, failNext: map[string]failure{},
		failProv: map[string]string{}, failState: map[string]failure{}}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.Region == "" {
		s.opts.Region = "us-east-1"
	}
	if s.opts.MaxRequestBytes <= 0 {
		s.opts.MaxRequestBytes = MaxRequestBytes
	}
	if s.opts.Account == "" {
		s.opts.Account = "123456789012"
	}
	seed := s.opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s.rnd = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s.mux = s.newMux()
	s.srv = httptest.NewServer(s)
	return s
}

// URL is the endpoint to pass as the client's BaseEndpoint.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Region returns the region used in ARNs.
func (s *Server) Region() string { return s.opts.Region }

// FunctionARN returns the unqualified ARN of function name.
func (s *Server) FunctionARN(name string) string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", s.opts.Region, s.opts.Account, name)
}

// FailNextUpdate makes the next update of function name end with
// LastUpdateStatus Failed and the given reason code and reason; the
// previous code and configuration stay live, as in Lambda.
func (s *Server) FailNextUpdate(name, code, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext[name] = failure{code, reason}
}

// FailNextCreate makes the next creation of function name end in State
// Failed with the given reason code and reason.
func (s *Server) FailNextCreate(name, code, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failState[name] = failure{code, reason}
}

// FailProvisioning makes the next provisioned concurrency configuration
// of function name end FAILED with reason.
func (s *Server) FailProvisioning(name, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failProv[name] = reason
}

// Settle finishes the pending changes of function name now (its create
// or update, new versions, provisioned concurrency), as if their delays
// had passed, so tests need not wait on the clock.
func (s *Server) Settle(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fns[name]
	if f == nil {
		return
	}
	f.busyUntil = time.Time{}
	for _, v := range f.versions {
		v.readyAt = time.Time{}
	}
	for _, p := range f.provisioned {
		p.readyAt = time.Time{}
	}
	f.refresh(time.Now())
}

// StartForeignUpdate puts function name in LastUpdateStatus InProgress for
// d, as if another tool had just updated it.
func (s *Server) StartForeignUpdate(name string, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fns[name]
	if f == nil {
		return fmt.Errorf("no function %s", name)
	}
	f.refresh(time.Now())
	f.prev = f.cfg
	f.cfg.LastUpdateStatus = "InProgress"
	f.cfg.LastUpdateStatusReason, f.cfg.LastUpdateStatusReasonCode = "", ""
	f.cfg.RevisionId = newID()
	f.busyUntil = time.Now().Add(d)
	return nil
}

func newID() string {
	var b [16]byte
	crand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func newHex(n int) string {
	b := make([]byte, n)
	crand.Read(b)
	return hex.EncodeToString(b)
}

func nowStamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000+0000") }

type apiError struct {
	status   int
	typ, msg string
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func errf(status int, typ, format string, args ...any) *apiError {
	return &apiError{status: status, typ: typ, msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *apiError {
	return errf(404, "ResourceNotFoundException", format, args...)
}

func invalid(format string, args ...any) *apiError {
	return errf(400, "InvalidParameterValueException", format, args...)
}

func conflict(format string, args ...any) *apiError {
	return errf(409, "ResourceConflictException", format, args...)
}

func inProgress(arn string) *apiError {
	return conflict("The operation cannot be performed at this time. An update is in progress for resource: %s", arn)
}

func badRevision() *apiError {
	return errf(412, "PreconditionFailedException", "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
}

// handler serves one operation with the request body read; it runs with
// s.mu held.
type handler func(s *Server, r *http.Request, body []byte) (int, any, *apiError)

// routes maps ServeMux patterns to operations.
var routes = []struct {
	pattern, op string
	h           handler
}{
	{"POST /2015-03-31/functions", "CreateFunction", (*Server).createFunction},
	{"GET /2015-03-31/functions/{name}", "GetFunction", (*Server).getFunction},
	{"DELETE /2015-03-31/functions/{name}", "DeleteFunction", (*Server).deleteFunction},
	{"GET /2015-03-31/functions/{name}/configuration", "GetFunctionConfiguration", (*Server).getConfiguration},
	{"PUT /2015-03-31/functions/{name}/configuration", "UpdateFunctionConfiguration", (*Server).updateConfiguration},
	{"PUT /2015-03-31/functions/{name}/code", "UpdateFunctionCode", (*Server).updateCode},
	{"POST /2015-03-31/functions/{name}/versions", "PublishVersion", (*Server).publishVersion},
	{"GET /2015-03-31/functions/{name}/versions", "ListVersionsByFunction", (*Server).listVersions},
	{"POST /2015-03-31/functions/{name}/aliases", "CreateAlias", (*Server).createAlias},
	{"GET /2015-03-31/functions/{name}/aliases", "ListAliases", (*Server).listAliases},
	{"GET /2015-03-31/functions/{name}/aliases/{alias}", "GetAlias", (*Server).getAlias},
	{"PUT /2015-03-31/functions/{name}/aliases/{alias}", "UpdateAlias", (*Server).updateAlias},
	{"DELETE /2015-03-31/functions/{name}/aliases/{alias}", "DeleteAlias", (*Server).deleteAlias},
	{"PUT /2019-09-30/functions/{name}/provisioned-concurrency", "PutProvisionedConcurrencyConfig", (*Server).putProvisioned},
	{"GET /2019-09-30/functions/{name}/provisioned-concurrency", "GetProvisionedConcurrencyConfig", (*Server).getProvisioned},
	{"DELETE /2019-09-30/functions/{name}/provisioned-concurrency", "DeleteProvisionedConcurrencyConfig", (*Server).deleteProvisioned},
	{"PUT /2017-10-31/functions/{name}/concurrency", "PutFunctionConcurrency", (*Server).putConcurrency},
	{"DELETE /2017-10-31/functions/{name}/concurrency", "DeleteFunctionConcurrency", (*Server).deleteConcurrency},
	{"GET /2019-09-30/functions/{name}/concurrency", "GetFunctionConcurrency", (*Server).getConcurrency},
	{"POST /2021-10-31/functions/{name}/url", "CreateFunctionUrlConfig", (*Server).createURL},
	{"GET /2021-10-31/functions/{name}/url", "GetFunctionUrlConfig", (*Server).getURL},
	{"PUT /2021-10-31/functions/{name}/url", "UpdateFunctionUrlConfig", (*Server).updateURL},
	{"DELETE /2021-10-31/functions/{name}/url", "DeleteFunctionUrlConfig", (*Server).deleteURL},
	{"POST /2015-03-31/functions/{name}/policy", "AddPermission", (*Server).addPermission},
	{"GET /2015-03-31/functions/{name}/policy", "GetPolicy", (*Server).getPolicy},
	{"DELETE /2015-03-31/functions/{name}/policy/{sid}", "RemovePermission", (*Server).removePermission},
	{"POST /2015-03-31/event-source-mappings", "CreateEventSourceMapping", (*Server).createESM},
	{"GET /2015-03-31/event-source-mappings", "ListEventSourceMappings", (*Server).listESMs},
	{"GET /2015-03-31/event-source-mappings/{uuid}", "GetEventSourceMapping", (*Server).getESM},
	{"PUT /2015-03-31/event-source-mappings/{uuid}", "UpdateEventSourceMapping", (*Server).updateESM},
	{"DELETE /2015-03-31/event-source-mappings/{uuid}", "DeleteEventSourceMapping", (*Server).deleteESM},
	{"POST /2017-03-31/tags/{arn...}", "TagResource", (*Server).tagResource},
	{"DELETE /2017-03-31/tags/{arn...}", "UntagResource", (*Server).untagResource},
	{"GET /2017-03-31/tags/{arn...}", "ListTags", (*Server).listTags},
}

// newMux registers every operation, the invocations and function URLs.
func (s *Server) newMux() *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range routes {
		op, h := rt.op, rt.h
		mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, op, h) })
		// The SDK sends collection paths without a trailing slash; accept one too.
		if strings.HasSuffix(rt.pattern, "/functions") || strings.HasSuffix(rt.pattern, "/event-source-mappings") {
			mux.HandleFunc(rt.pattern+"/{$}", func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, op, h) })
		}
	}
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", func(w http.ResponseWriter, r *http.Request) {
		if !s.Begin("Invoke", w, r) {
			s.invoke(w, r)
		}
	})
	mux.HandleFunc("/lambda-url/{id}/{path...}", s.serveURL)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		awswire.WriteError(w, 404, "UnknownOperationException", "lambdafake: no route for "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// serve runs one operation: faults, the body limit, then h under s.mu.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, op string, h handler) {
	if op == "GetProvisionedConcurrencyConfig" && r.URL.Query().Get("List") == "ALL" {
		op, h = "ListProvisionedConcurrencyConfigs", (*Server).listProvisioned
	}
	if s.Begin(op, w, r) {
		return
	}
	limit := s.opts.MaxRequestBytes
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		awswire.WriteError(w, 400, "InvalidRequestContentException", err.Error())
		return
	}
	if len(body) > limit {
		awswire.WriteError(w, 413, "RequestTooLargeException", fmt.Sprintf("Request must be smaller than %d bytes for the %s operation", limit, op))
		return
	}
	s.mu.Lock()
	status, out, aerr := h(s, r, body)
	s.mu.Unlock()
	switch {
	case aerr != nil:
		awswire.WriteError(w, aerr.status, aerr.typ, aerr.msg)
	case out == nil:
		w.WriteHeader(status)
	default:
		awswire.WriteJSON(w, status, out)
	}
}

func decode(body []byte, v any) *apiError {
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errf(400, "InvalidRequestContentException", "Could not parse request body into json: %v", err)
	}
	return nil
}

var (
	arnFnRE   = regexp.MustCompile(`^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:([a-zA-Z0-9_-]+)(?::([a-zA-Z0-9_$-]+))?$`)
	partialRE = regexp.MustCompile(`^(?:\d{12}:function:)?([a-zA-Z0-9_-]+)(?::([a-zA-Z0-9_$-]+))?$`)
)

// splitName parses a FunctionName parameter (name, name:qualifier, ARN).
func splitName(n string) (name, qual string, ok bool) {
	if m := arnFnRE.FindStringSubmatch(n); m != nil {
		return m[1], m[2], true
	}
	if m := partialRE.FindStringSubmatch(n); m != nil {
		return m[1], m[2], true
	}
	return "", "", false
}

// lookup finds the function named in a path and the qualifier given in the
// name or the Qualifier query parameter.
func (s *Server) lookup(r *http.Request, raw string) (*function, string, *apiError) {
	name, qual, ok := splitName(raw)
	if !ok {
		return nil, "", invalid("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint", raw)
	}
	if q := r.URL.Query().Get("Qualifier"); q != "" {
		if qual != "" && qual != q {
			return nil, "", invalid("The derived qualifier from the function name does not match the specified qualifier.")
		}
		qual = q
	}
	f := s.fns[name]
	if f == nil {
		return nil, "", notFound("Function not found: %s", s.FunctionARN(name))
	}
	f.refresh(time.Now())
	return f, qual, nil
}
