package localprovider

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/updraft-dev/updraft/provider/driver"
)

// idGen makes UUID-shaped request ids: a random per-host prefix and a counter.
type idGen struct {
	prefix [19]byte // "xxxxxxxx-xxxx-4xxx-"
	n      atomic.Uint64
}

func (g *idGen) init() {
	var r [8]byte
	rand.Read(r[:])
	h := hex.EncodeToString(r[:])
	copy(g.prefix[:], h[:8]+"-"+h[8:12]+"-4"+h[13:16]+"-")
}

const hexDigits = "0123456789abcdef"

func (g *idGen) next() string {
	n := g.n.Add(1)
	var b [36]byte
	copy(b[:], g.prefix[:])
	// 4 hex, '-', 12 hex: 16 hex digits of n, with the variant nibble set.
	var d [16]byte
	for i := 15; i >= 0; i-- {
		d[i] = hexDigits[n&15]
		n >>= 4
	}
	d[0] = hexDigits[8|(d[0]&3)]
	copy(b[19:23], d[:4])
	b[23] = '-'
	copy(b[24:], d[4:])
	return string(b[:])
}

func traceID(reqID string, now time.Time) string {
	// Root=1-{8 hex epoch seconds}-{24 hex}, as X-Ray ids are shaped.
	var b []byte
	b = append(b, "Root=1-"...)
	b = strconv.AppendUint(b, uint64(now.Unix())&0xffffffff, 16)
	b = append(b, '-')
	for i := 0; i < len(reqID) && len(b) < 7+8+1+24; i++ {
		if reqID[i] != '-' {
			b = append(b, reqID[i])
		}
	}
	b = append(b, ";Sampled=0"...)
	return string(b)
}

// outcome is how one invocation ended.
type outcome struct {
	status  Status
	payload []byte
	errType string
	detail  string // for the client when the platform ended it
}

// statusUndelivered is the outcome of an invocation whose instance died
// before it asked for it: it never reached the function, and is offered
// to another instance.
const statusUndelivered Status = "undelivered"

// runLambda sends inv to a Runtime API instance and waits for its
// response, its timeout, its crash or the caller's cancellation. It
// returns the instance to the pool or leaves it killed.
func (fr *fnRuntime) runLambda(ctx context.Context, in *instance, inv *invocation) outcome {
	rp := in.rp
	in.work <- inv
	t := time.NewTimer(rp.timeout)
	defer t.Stop()
	var o outcome
	select {
	case r := <-inv.done:
		o = resultOutcome(r)
	case <-t.C:
		why := fmt.Sprintf("Task timed out after %.2f seconds", rp.timeout.Seconds())
		in.kill(why)
		o = outcome{status: StatusTimeout, errType: "Sandbox.Timedout", detail: why}
	case <-in.dead:
		select {
		case r := <-inv.done:
			return resultOutcome(r)
		default:
		}
		select {
		case <-in.work:
			return outcome{status: statusUndelivered, errType: "Runtime.ExitError", detail: in.crashDetail()}
		default:
		}
		return outcome{status: StatusCrash, errType: "Runtime.ExitError", detail: in.crashDetail()}
	case <-ctx.Done():
		in.kill("its caller went away (" + ctx.Err().Error() + ")")
		return outcome{status: StatusCanceled, errType: "Canceled", detail: ctx.Err().Error()}
	}
	switch {
	case o.status == StatusOK:
		fr.release(in)
	case o.status == StatusError && o.errType == "Runtime.InitError":
		in.kill("its runtime reported an init error")
	case o.status == StatusError:
		// A runtime may exit after reporting an error (aws-lambda-go does
		// after a panic): the instance is reused once it asks for its next
		// invocation, not before.
		fr.releaseOnNext(in)
	}
	return o
}

// releaseOnNext releases in when it next polls /next (now, if it already
// has). One that neither polls nor exits within its revision's timeout is
// killed.
func (fr *fnRuntime) releaseOnNext(in *instance) {
	in.parked.Store(true)
	if in.polled.Load() && in.parked.CompareAndSwap(true, false) {
		fr.release(in)
		return
	}
	time.AfterFunc(in.rp.timeout, func() {
		if in.parked.CompareAndSwap(true, false) {
			in.kill(fmt.Sprintf("it did not ask for its next invocation within %s of reporting an error", in.rp.timeout))
		}
	})
}

func resultOutcome(r invResult) outcome {
	if r.errType != "" {
		return outcome{status: StatusError, payload: r.payload, errType: r.errType}
	}
	return outcome{status: StatusOK, payload: r.payload}
}

func (in *instance) crashDetail() string {
	<-in.dead
	msg := fmt.Sprintf("the instance process exited during the invocation (%v)", in.exitErr)
	if r := in.reason.Load(); r != nil {
		msg = "the instance was killed: " + *r
	}
	return msg
}

// newInvocation prepares a Runtime API invocation.
func (fr *fnRuntime) newInvocation(rp *revPool, arn string, payload []byte) *invocation {
	now := time.Now()
	id := fr.h.ids.next()
	return &invocation{id: id, payload: payload, deadline: now.Add(rp.timeout), arn: arn,
		trace: traceID(id, now), done: make(chan invResult, 1)}
}

// record adds one invocation to the function's records; httpStatus is
// the gateway's answer (0 for direct invocations).
func (fr *fnRuntime) record(rp *revPool, route, id string, start time.Time, in *instance, cold bool, st Status, httpStatus int) {
	fr.rec.add(newRecord(rp, route, id, start, in, cold, st, httpStatus))
}

// recordEvent records the delivery of an event of trigger key.
func (fr *fnRuntime) recordEvent(rp *revPool, route, key, id string, start time.Time, in *instance, cold bool, st Status) {
	r := newRecord(rp, route, id, start, in, cold, st, 0)
	r.Trigger = key
	fr.rec.add(r)
}

func newRecord(rp *revPool, route, id string, start time.Time, in *instance, cold bool, st Status, httpStatus int) Invocation {
	if st == statusUndelivered {
		st = StatusCrash
	}
	dur := time.Since(start)
	r := Invocation{RequestID: id, Start: start, Revision: rp.id, Route: route, Status: st, MemoryMB: rp.memMB, HTTPStatus: httpStatus}
	if cold && in != nil {
		r.ColdStart = true
		r.InitDuration = in.initDur
		dur -= in.initDur
	}
	if st != StatusThrottled {
		r.Duration = max(dur, 0)
		// Lambda bills the duration rounded up to the millisecond, plus
		// the init phase of a cold start on custom (provided) runtimes.
		r.BilledDuration = roundUpMs(r.Duration + r.InitDuration)
	}
	return r
}

func roundUpMs(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return (d + time.Millisecond - 1) / time.Millisecond * time.Millisecond
}

// invoke runs one direct invocation (driver.Function.Invoke).
func (fr *fnRuntime) invoke(ctx context.Context, req *driver.InvokeRequest) (*driver.InvokeResult, error) {
	v := fr.view()
	if v == nil {
		return nil, driver.NewError(driver.NotFound, fmt.Sprintf("function %s does not exist", fr.name))
	}
	var rp *revPool
	route, arn := req.Route, ""
	if req.Revision != "" {
		rp = v.revs[req.Revision]
		if rp == nil {
			return nil, driver.RevisionNotFound(fr.name, req.Revision)
		}
		route, arn = "", fr.arn+req.Revision
	} else {
		rv := v.routes[req.Route]
		if rv == nil {
			return nil, driver.NewError(driver.NotFound, fmt.Sprintf("route %s of %s does not exist: apply with Publish or SetTraffic first", req.Route, fr.name))
		}
		rp, arn = rv.pick(), rv.invokedARNFor
	}
	payload := req.Payload
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	if len(payload) > maxPayload {
		return nil, driver.NewError(driver.InvalidArgument, fmt.Sprintf("payload of %d bytes is over the 6 MB limit", len(payload)))
	}
	start := time.Now()
	var o outcome
	for attempt := 1; ; attempt++ {
		in, cold, err := fr.acquire(ctx, rp)
		if err != nil {
			return nil, fr.acquireFailed(ctx, rp, route, start, err, 0)
		}
		id := ""
		if in.proto.Load() == protoHTTP {
			id = fr.h.ids.next()
			o = fr.postHTTP(ctx, in, id, payload)
		} else {
			inv := fr.newInvocation(rp, arn, payload)
			id = inv.id
			o = fr.runLambda(ctx, in, inv)
			if o.status == statusUndelivered && attempt < maxDeliveries {
				continue
			}
		}
		fr.record(rp, route, id, start, in, cold, o.status, 0)
		break
	}
	res := &driver.InvokeResult{Revision: rp.id}
	res.Duration = time.Since(start)
	switch o.status {
	case StatusOK:
		res.Payload = o.payload
	case StatusError:
		res.Payload, res.FunctionError = o.payload, o.errType
	case StatusCanceled:
		return nil, ctx.Err()
	default:
		res.FunctionError = "Unhandled"
		res.Payload = errorPayload(o.errType, o.detail)
	}
	return res, nil
}

// acquireFailed records and converts an acquire error.
// httpStatus is the gateway's answer (0 for direct invocations).
func (fr *fnRuntime) acquireFailed(ctx context.Context, rp *revPool, route string, start time.Time, err error, httpStatus int) error {
	var te *throttledError
	var ie *initError
	switch {
	case errors.As(err, &te):
		if !te.stopped {
			fr.record(rp, route, "", start, nil, false, StatusThrottled, httpStatus)
			return driver.NewError(driver.ResourceExhausted, err.Error())
		}
		return driver.NewError(driver.FailedPrecondition, err.Error())
	case errors.As(err, &ie):
		fr.record(rp, route, "", start, nil, false, StatusInitError, httpStatus)
		return driver.NewError(driver.Internal, err.Error())
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func errorPayload(typ, msg string) []byte {
	var b []byte
	b = append(b, `{"errorMessage":`...)
	b = appendJSONString(b, msg)
	b = append(b, `,"errorType":`...)
	b = appendJSONString(b, typ)
	return append(b, '}')
}

// postHTTP runs a direct invocation on an HTTP-protocol instance: a POST
// of the payload to "/".
func (fr *fnRuntime) postHTTP(ctx context.Context, in *instance, id string, payload []byte) outcome {
	code, body, o := fr.post(ctx, in, http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {id}}, payload)
	switch {
	case code == 0:
		return o
	case code >= 500:
		return outcome{status: StatusError, errType: "Unhandled", payload: body}
	}
	return outcome{status: StatusOK, payload: body}
}

// post POSTs body to an HTTP-protocol instance's "/" with header and
// reads the answer: its status code and body, the instance released. On
// failure the code is 0, the instance is killed and the outcome says why.
func (fr *fnRuntime) post(ctx context.Context, in *instance, header http.Header, body []byte) (int, []byte, outcome) {
	req, _ := http.NewRequest(http.MethodPost, in.base+"/", bytes.NewReader(body))
	req.Header = header
	resp, o := fr.roundTrip(ctx, in, req)
	if resp == nil {
		return 0, nil, o
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxPayload+1))
	resp.Body.Close()
	if err != nil || len(answer) > maxPayload {
		in.kill("its response could not be read")
		return 0, nil, outcome{status: StatusCrash, errType: "Runtime.ExitError", detail: in.crashDetail()}
	}
	fr.release(in)
	return resp.StatusCode, answer, outcome{}
}

// roundTrip sends req to an HTTP-protocol instance within the revision's
// timeout. On failure the instance is killed and the outcome says why;
// on success the caller reads the body and then releases the instance.
func (fr *fnRuntime) roundTrip(ctx context.Context, in *instance, req *http.Request) (*http.Response, outcome) {
	rp := in.rp
	tctx, cancel := context.WithTimeout(ctx, rp.timeout)
	resp, err := fr.h.tr.RoundTrip(req.WithContext(tctx))
	if err == nil {
		resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
		return resp, outcome{}
	}
	timedOut := errors.Is(tctx.Err(), context.DeadlineExceeded)
	cancel()
	switch {
	case ctx.Err() != nil && !timedOut:
		in.kill("its caller went away (" + ctx.Err().Error() + ")")
		return nil, outcome{status: StatusCanceled, errType: "Canceled", detail: ctx.Err().Error()}
	case timedOut:
		why := fmt.Sprintf("Task timed out after %.2f seconds", rp.timeout.Seconds())
		in.kill(why)
		return nil, outcome{status: StatusTimeout, errType: "Sandbox.Timedout", detail: why}
	}
	in.kill("its HTTP server failed: " + err.Error())
	return nil, outcome{status: StatusCrash, errType: "Runtime.ExitError", detail: in.crashDetail()}
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
