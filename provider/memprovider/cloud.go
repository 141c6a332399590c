package memprovider

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/updraft-dev/updraft/internal/controlplane"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// Operations, as recorded in Calls and matched by Fault.Op. The Apply
// steps are separate operations so a fault can hit any one of them; Apply
// runs them in this order and stops at the first failure, leaving the
// earlier steps applied, as a real cloud would.
const (
	OpGet            = "Get"
	OpListRevisions  = "ListRevisions"
	OpSetTraffic     = "SetTraffic"
	OpSetMarker      = "SetMarker"
	OpSetVerdicts    = "SetVerdicts"
	OpDeleteRevision = "DeleteRevision"
	OpDelete         = "Delete"
	OpInvoke         = "Invoke"
	OpMetrics        = "Metrics"

	OpCreate      = controlplane.OpCreate      // create the function
	OpUpdateCode  = controlplane.OpUpdateCode  // upload new code
	OpUpdateConf  = controlplane.OpUpdateConf  // change configuration
	OpPublish     = controlplane.OpPublish     // publish a revision
	OpCreateRoute = controlplane.OpCreateRoute // create the route on first publish
	OpTriggers    = controlplane.OpTriggers    // reconcile triggers
	OpProvisioned = controlplane.OpProvisioned // set provisioned concurrency
)

// Mutating reports whether op changes state.
func Mutating(op string) bool {
	switch op {
	case OpGet, OpListRevisions, OpInvoke, OpMetrics:
		return false
	}
	return true
}

// Call is one recorded operation.
type Call struct {
	Op       string
	Function string
	Mutating bool
}

// Fault makes matching calls fail.
type Fault struct {
	// Op is the operation to fail (OpSetTraffic, OpPublish, …).
	Op string
	// Function limits the fault to one function; "" matches any.
	Function string
	// After lets that many matching calls pass before failing (After 2
	// fails the third call).
	After int
	// Times is how many calls fail; 0 means 1, negative means forever.
	Times int
	// Code is the error code returned; Unknown if zero.
	Code provider.ErrorCode
	// Message is the error text; a default naming the fault if empty.
	Message string
}

// Invocation is what a Handler receives.
type Invocation struct {
	Function string
	Revision string
	Env      map[string]string
	Payload  []byte
}

// Options configure a Cloud. Nil means the defaults.
type Options struct {
	// ProvisionDelay is how long provisioned concurrency stays IN_PROGRESS
	// before it is READY. Default 0 (ready on the first poll).
	ProvisionDelay time.Duration
	// PollInterval is how often Apply polls for readiness; default 1ms.
	PollInterval time.Duration
	// Capabilities, if set, edits the capabilities every function reports
	// (for example WeightedTraffic = false to model a swap-only target).
	Capabilities func(*provider.Capabilities)
	// Handler runs invocations; nil echoes the payload. An error becomes
	// the result's FunctionError.
	Handler func(ctx context.Context, inv *Invocation) ([]byte, error)
	// Seed seeds the weighted routing of Invoke; 0 means random.
	Seed uint64
}

// Cloud is an in-memory control plane holding any number of functions.
// It is safe for concurrent use.
type Cloud struct {
	opts Options

	mu       sync.Mutex
	fns      map[string]*function
	faults   []*faultState
	calls    []Call
	latency  time.Duration
	notReady map[string]int
	failProv map[string]string
	uploaded int64
	etag     int64
	rnd      *rand.Rand
	invokes  map[string][]invocationRecord
	inflight int
	peak     int
}

type faultState struct {
	Fault
	seen, failed int
}

type invocationRecord struct {
	at        time.Time
	revision  string
	route     string
	failed    bool
	throttled bool
}

// NewCloud returns an empty Cloud.
func NewCloud(opts *Options) *Cloud {
	c := &Cloud{fns: map[string]*function{}, notReady: map[string]int{}, failProv: map[string]string{}, invokes: map[string][]invocationRecord{}}
	if opts != nil {
		c.opts = *opts
	}
	if c.opts.PollInterval <= 0 {
		c.opts.PollInterval = time.Millisecond
	}
	seed := c.opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	c.rnd = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return c
}

// InjectFault adds a fault. Faults are checked in the order added.
func (c *Cloud) InjectFault(f Fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = append(c.faults, &faultState{Fault: f})
}

// ClearFaults removes every fault.
func (c *Cloud) ClearFaults() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = nil
}

// SetLatency makes every call take at least d (and honour ctx meanwhile).
func (c *Cloud) SetLatency(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.latency = d
}

// NotReady makes the next n readiness polls of function report it busy,
// as a cloud does while an update is in progress.
func (c *Cloud) NotReady(function string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.notReady[function] += n
}

// FailProvisioning makes the next provisioned concurrency change of
// function end FAILED with reason.
func (c *Cloud) FailProvisioning(function, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failProv[function] = reason
}

// Calls returns the calls recorded so far.
func (c *Cloud) Calls() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Call(nil), c.calls...)
}

// Mutations counts the recorded calls that changed (or tried to change) state.
func (c *Cloud) Mutations() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, call := range c.calls {
		if call.Mutating {
			n++
		}
	}
	return n
}

// UploadedBytes is the total code uploaded so far.
func (c *Cloud) UploadedBytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.uploaded
}

// PeakConcurrency is the largest number of calls that were in progress at
// once (each call counts while its latency, set by SetLatency, elapses).
func (c *Cloud) PeakConcurrency() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peak
}

// ResetCounters forgets recorded calls, uploaded bytes and the peak
// concurrency.
func (c *Cloud) ResetCounters() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = nil
	c.uploaded = 0
	c.peak = c.inflight
}

// RecordInvocations adds invocation records for revision of function, as
// if traffic had reached it: n invocations of which errs failed and
// throttles were throttled. Metrics reads them back.
func (c *Cloud) RecordInvocations(function, revision string, n, errs, throttles int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for i := int64(0); i < n; i++ {
		c.invokes[function] = append(c.invokes[function], invocationRecord{at: now, revision: revision, failed: i < errs, throttled: i >= errs && i < errs+throttles})
	}
}

// Triggers returns every trigger on function, updraft's and foreign ones,
// keyed by name ("updraft-KEY" for updraft's).
func (c *Cloud) Triggers(function string) map[string]trigger.Trigger {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.fns[function]
	if f == nil {
		return nil
	}
	out := map[string]trigger.Trigger{}
	for k, t := range f.Triggers {
		out[ownedPrefix+k] = t
	}
	for k, t := range f.foreign {
		out[k] = t
	}
	return out
}

// AddForeignTrigger attaches a trigger that another tool made; updraft
// must leave it alone.
func (c *Cloud) AddForeignTrigger(function, name string, t trigger.Trigger) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.fns[function]
	if f == nil {
		return fmt.Errorf("function %s does not exist", function)
	}
	f.foreign[name] = t
	return nil
}

const ownedPrefix = "updraft-"

// begin records a call, applies latency and faults.
func (c *Cloud) begin(ctx context.Context, op, fn string) error {
	c.mu.Lock()
	c.calls = append(c.calls, Call{Op: op, Function: fn, Mutating: Mutating(op)})
	lat := c.latency
	var err error
	for _, f := range c.faults {
		if f.Op != op || (f.Function != "" && f.Function != fn) {
			continue
		}
		f.seen++
		times := f.Times
		if times == 0 {
			times = 1
		}
		if f.seen > f.After && (times < 0 || f.failed < times) {
			f.failed++
			code := f.Code
			if code == provider.OK {
				code = provider.Unknown
			}
			msg := f.Message
			if msg == "" {
				msg = fmt.Sprintf("injected %s fault on %s of %s", code, op, fn)
			}
			err = driver.NewError(code, msg)
			break
		}
	}
	c.inflight++
	c.peak = max(c.peak, c.inflight)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inflight--
		c.mu.Unlock()
	}()
	if lat > 0 {
		t := time.NewTimer(lat)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// nextETag returns a fresh opaque etag; c.mu must be held.
func (c *Cloud) nextETag() string {
	c.etag++
	return fmt.Sprintf("etag-%d", c.etag)
}
