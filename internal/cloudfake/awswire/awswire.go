// Package awswire holds what the AWS control-plane fakes share: JSON
// responses and errors in the shape the SDK parses, fault injection
// (throttling, 5xx, conflicts, connection resets, latency) and a record of
// the operations each fake served.
package awswire

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// WriteJSON writes v as a JSON body with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Requestid", "fake-request")
	w.WriteHeader(status)
	if v != nil {
		json.NewEncoder(w).Encode(v)
	}
}

// WriteError writes an AWS REST-JSON error: the type in X-Amzn-ErrorType,
// the message in the body, as Lambda and Scheduler send them.
func WriteError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.Header().Set("X-Amzn-Requestid", "fake-request")
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"Type": "User", "message": msg})
}

// Fault makes matching operations fail or slow down.
type Fault struct {
	// Op is the operation name ("UpdateFunctionCode"); "" matches every operation.
	Op string
	// After lets that many matching calls pass before the fault applies.
	After int
	// Times is how many calls the fault applies to; 0 means 1, negative forever.
	Times int
	// Status and Type give the error response (429 TooManyRequestsException,
	// 500 ServiceException, 409 ResourceConflictException, …). Status 0
	// with Reset false only adds Latency.
	Status int
	Type   string
	// Message is the error message; a default is used when empty.
	Message string
	// Reset breaks the connection in the middle of the response.
	Reset bool
	// Latency delays the response (before any error).
	Latency time.Duration
}

type faultState struct {
	Fault
	seen, applied int
}

// Recorder records operations and applies faults. The zero value is ready.
type Recorder struct {
	mu      sync.Mutex
	faults  []*faultState
	calls   []string
	latency time.Duration
}

// Inject adds a fault.
func (r *Recorder) Inject(f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, &faultState{Fault: f})
}

// ClearFaults removes every fault.
func (r *Recorder) ClearFaults() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = nil
}

// SetLatency delays every response by d.
func (r *Recorder) SetLatency(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latency = d
}

// Calls returns the operations served so far, in order (including those
// a fault failed).
func (r *Recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// ResetCalls forgets the recorded operations.
func (r *Recorder) ResetCalls() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}

// Begin records op and applies latency and faults. It returns true when
// a fault answered the request, in which case the handler must return.
func (r *Recorder) Begin(op string, w http.ResponseWriter, req *http.Request) bool {
	r.mu.Lock()
	r.calls = append(r.calls, op)
	delay := r.latency
	var hit *faultState
	for _, f := range r.faults {
		if f.Op != "" && f.Op != op {
			continue
		}
		f.seen++
		if f.seen <= f.After {
			continue
		}
		times := f.Times
		if times == 0 {
			times = 1
		}
		if times > 0 && f.applied >= times {
			continue
		}
		f.applied++
		hit = f
		break
	}
	r.mu.Unlock()
	if hit != nil {
		delay += hit.Latency
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			return true
		}
	}
	if hit == nil {
		return false
	}
	switch {
	case hit.Reset:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				// Start a response and cut it off with a TCP reset, so the
				// client sees a broken connection rather than a clean close
				// that net/http would silently retry.
				io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/js")
				if tc, ok := conn.(*net.TCPConn); ok {
					tc.SetLinger(0)
				}
				conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler)
	case hit.Status != 0:
		msg := hit.Message
		if msg == "" {
			msg = "injected fault: " + hit.Type
		}
		WriteError(w, hit.Status, hit.Type, msg)
		return true
	}
	return false
}
