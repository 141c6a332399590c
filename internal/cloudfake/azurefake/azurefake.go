// Package azurefake is an in-process fake of the parts of Azure that the
// azurefunctions adapter talks to, for tests that run offline through the
// real Azure SDK clients:
//
//   - ARM (Microsoft.Web sites, slots, app settings, host keys, slot swap,
//     plans), served through the SDK's own armappservice/v6/fake servers,
//     with the site ETag returned on GET and If-Match checked on PUT;
//   - the SCM (Kudu) host of each site and slot, over TLS: OneDeploy
//     (POST /api/publish), zip deploy (POST /api/zipdeploy?isAsync=true),
//     deployment status with Kudu's state machine (0 pending, 1 building,
//     2 deploying, 3 failed, 4 success) and deployment logs, modelled on
//     recorded Azure traffic;
//   - the app's own HTTPS host, which answers requests for the deployed
//     package's HTTP trigger and checks function keys;
//   - Blob Storage (Put, Get, Delete Blob with ETag preconditions).
//
// Every host name (app.scm.azurewebsites.net, acct.blob.core.windows.net,
// …) is served by one TLS listener: HTTPClient dials it whatever the host
// and trusts its certificate, so requests keep their real URLs.
//
// Faults are injected with Inject: a status (429 with Retry-After, 5xx,
// 409), latency, or a failed deployment with its log lines.
package azurefake

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Subscription is the subscription id the fake answers for.
const Subscription = "00000000-0000-0000-0000-000000000000"

// Fault is an injected failure. Zero fields match anything.
type Fault struct {
	// Service is "arm", "scm", "app" or "blob" ("" = any).
	Service string
	// Method and PathContains select requests ("" = any).
	Method, PathContains string
	// Status is the HTTP status to answer (429, 500, 503, 409, …); 0 with
	// Latency only delays.
	Status int
	// RetryAfter, when set with Status, is sent as Retry-After (seconds).
	RetryAfter time.Duration
	// Latency delays each matched request.
	Latency time.Duration
	// Count is how many requests it hits; 0 means one, -1 means all.
	Count int
	// FailDeployment, when non-empty, makes the next deployment (publish
	// or zipdeploy) end in status 3 with these log lines; Service, Method
	// and Status are ignored.
	FailDeployment []string
}

// Call is one request the fake served.
type Call struct {
	Service, Method, Host, Path string
	Status                      int
}

// Options configure the fake. Nil means the defaults.
type Options struct {
	// DeploymentPolls is how many status polls a deployment stays in
	// progress before it completes (default 2).
	DeploymentPolls int
}

// Cloud is the fake. Create it with New and Close it when done.
type Cloud struct {
	srv   *httptest.Server
	polls int

	mu     sync.Mutex
	sites  map[string]*site // "rg/name"
	plans  map[string]*plan
	blobs  map[string]*blob // "host/path"
	faults []*Fault
	calls  []Call
	seq    int
}

// New starts a fake cloud.
func New(opts *Options) *Cloud {
	c := &Cloud{sites: map[string]*site{}, plans: map[string]*plan{}, blobs: map[string]*blob{}, polls: 2}
	if opts != nil && opts.DeploymentPolls > 0 {
		c.polls = opts.DeploymentPolls
	}
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(c.serveHTTP))
	c.srv.StartTLS()
	return c
}

// Close stops the servers.
func (c *Cloud) Close() { c.srv.Close() }

// HTTPClient returns a client that reaches the fake for every host name
// over TLS, trusting its certificate. It also implements the azcore
// policy.Transporter interface (Do).
func (c *Cloud) HTTPClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(c.srv.Certificate())
	addr := c.srv.Listener.Addr().String()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		// The httptest certificate names example.com; every host is it.
		TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: "example.com"},
		ForceAttemptHTTP2: false,
	}
	return &http.Client{Transport: tr}
}

// Inject adds a fault.
func (c *Cloud) Inject(f Fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.Count == 0 {
		f.Count = 1
	}
	c.faults = append(c.faults, &f)
}

// Calls returns the requests served so far.
func (c *Cloud) Calls() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Call(nil), c.calls...)
}

// ResetCalls forgets the recorded calls.
func (c *Cloud) ResetCalls() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = nil
}

// CountCalls counts recorded calls of service ("" = all) whose method
// matches ("" = any).
func (c *Cloud) CountCalls(service, method string) int {
	n := 0
	for _, k := range c.Calls() {
		if (service == "" || k.Service == service) && (method == "" || k.Method == method) {
			n++
		}
	}
	return n
}

// fault returns the first live fault matching the request, consuming one
// use, or nil. Deployment faults are never returned here. The latency of
// every matching fault is summed.
func (c *Cloud) fault(service, method, path string) (*Fault, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var lat time.Duration
	for _, f := range c.faults {
		if f.Count == 0 || f.FailDeployment != nil {
			continue
		}
		if (f.Service != "" && f.Service != service) || (f.Method != "" && f.Method != method) ||
			(f.PathContains != "" && !strings.Contains(path, f.PathContains)) {
			continue
		}
		lat += f.Latency
		if f.Status == 0 {
			continue
		}
		if f.Count > 0 {
			f.Count--
		}
		return f, lat
	}
	return nil, lat
}

// takeDeploymentFault consumes a FailDeployment fault.
func (c *Cloud) takeDeploymentFault() []string {
	for _, f := range c.faults {
		if f.FailDeployment != nil && f.Count != 0 {
			if f.Count > 0 {
				f.Count--
			}
			return f.FailDeployment
		}
	}
	return nil
}

func (c *Cloud) record(service string, r *http.Request, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, Call{Service: service, Method: r.Method, Host: r.Host, Path: r.URL.Path, Status: status})
}

// applyFault sleeps for injected latency and answers an injected status.
// It reports whether it answered.
func (c *Cloud) applyFault(service string, w http.ResponseWriter, r *http.Request) bool {
	f, lat := c.fault(service, r.Method, r.URL.Path)
	if lat > 0 {
		t := time.NewTimer(lat)
		select {
		case <-r.Context().Done():
		case <-t.C:
		}
		t.Stop()
	}
	if f == nil {
		return false
	}
	if f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(f.RetryAfter.Round(time.Second)/time.Second)))
	}
	code := "InjectedFault"
	switch f.Status {
	case http.StatusTooManyRequests:
		code = "TooManyRequests"
	case http.StatusConflict:
		code = "Conflict"
	}
	w.Header().Set("x-ms-error-code", code)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.Status)
	_, _ = w.Write([]byte(`{"error":{"code":"` + code + `","message":"injected fault"}}`))
	c.record(service, r, f.Status)
	return true
}

func (c *Cloud) serveHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	switch {
	case strings.HasSuffix(host, ".blob.core.windows.net"):
		if c.applyFault("blob", w, r) {
			return
		}
		c.serveBlob(w, r, host)
	case strings.Contains(host, ".scm."):
		if c.applyFault("scm", w, r) {
			return
		}
		c.serveSCM(w, r, host)
	default:
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		if c.applyFault("app", sw, r) {
			c.mu.Lock()
			if s := c.siteByHost(host, false); s != nil {
				s.hits = append(s.hits, hit{at: time.Now().UTC(), status: sw.status})
			}
			c.mu.Unlock()
			return
		}
		c.serveApp(w, r, host)
	}
}

// statusWriter records the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
