package localprovider

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"time"

	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// Event deliveries: queue messages, stream records and storage events
// reach a function through its trigger route, split by the route's
// weights as HTTP requests are. A Runtime API instance gets the event
// as Lambda would (an SQS, DynamoDB Streams or S3 event, a batch per
// invocation); a $PORT instance gets CloudEvents as Cloud Run would
// (Pub/Sub messagePublished, Firestore document written, Cloud Storage
// object events), one per request.

// httpEvent is one request to a $PORT instance.
type httpEvent struct {
	header http.Header
	body   []byte
}

// delivery is one batch to deliver.
type delivery struct {
	route, trigger string
	// lambda is the event for a Runtime API instance.
	lambda func() []byte
	// http are the requests for a $PORT instance, one per item.
	http func() []httpEvent
}

// deliveryResult says how a delivery ended.
type deliveryResult struct {
	revision string
	// delivered is false when no function ran (throttled, no route, the
	// host closing): the batch is to be offered again, uncounted.
	delivered bool
	// lambda is true when a Runtime API instance took the batch; payload
	// is then its answer and status how it ended.
	lambda  bool
	status  Status
	payload []byte
	detail  string
	// httpFailed are the indexes of the failed requests of a $PORT
	// delivery (all of them after the first that could not be sent).
	httpFailed map[int]bool
	// retryAfter is how long to wait before offering an undelivered
	// batch again.
	retryAfter time.Duration
}

// deliver runs one delivery on the route's revision (picked by weight).
func (fr *fnRuntime) deliver(ctx context.Context, d *delivery) *deliveryResult {
	v := fr.view()
	if v == nil {
		return &deliveryResult{retryAfter: time.Second}
	}
	rv := v.routes[d.route]
	if rv == nil {
		return &deliveryResult{retryAfter: time.Second}
	}
	rp := rv.pick()
	res := &deliveryResult{revision: rp.id}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		in, cold, err := fr.acquire(ctx, rp)
		if err != nil {
			err = fr.acquireFailed(ctx, rp, d.route, start, err, 0)
			if driver.CodeOf(err) == driver.Internal {
				// An init failure is the function's failure, as on Lambda.
				res.delivered, res.lambda, res.status, res.detail = true, true, StatusInitError, err.Error()
				return res
			}
			res.retryAfter = time.Second
			return res
		}
		if in.proto.Load() == protoHTTP {
			return fr.deliverHTTP(ctx, rp, in, cold, d, start, res)
		}
		inv := fr.newInvocation(rp, rv.invokedARNFor, d.lambda())
		o := fr.runLambda(ctx, in, inv)
		if o.status == statusUndelivered && attempt < maxDeliveries {
			continue
		}
		if o.status == StatusCanceled {
			return res
		}
		fr.recordEvent(rp, d.route, d.trigger, inv.id, start, in, cold, o.status)
		res.delivered, res.lambda, res.status, res.payload, res.detail = true, true, o.status, o.payload, o.detail
		if o.status == statusUndelivered {
			res.status = StatusCrash
		}
		return res
	}
}

// deliverHTTP posts a delivery's events to a $PORT instance one after
// the other, each a recorded invocation; a 2xx answer is a success.
func (fr *fnRuntime) deliverHTTP(ctx context.Context, rp *revPool, in *instance, cold bool, d *delivery, start time.Time, res *deliveryResult) *deliveryResult {
	evs := d.http()
	res.httpFailed = map[int]bool{}
	for i, ev := range evs {
		if i > 0 {
			var err error
			in, cold, err = fr.acquire(ctx, rp)
			if err != nil {
				fr.acquireFailed(ctx, rp, d.route, start, err, 0)
				for j := i; j < len(evs); j++ {
					res.httpFailed[j] = true
				}
				res.delivered = true
				return res
			}
			start = time.Now()
		}
		id := fr.h.ids.next()
		header := ev.header.Clone()
		header["X-Request-Id"] = []string{id}
		code, body, o := fr.post(ctx, in, header, ev.body)
		switch {
		case code >= 200 && code < 300:
			o = outcome{status: StatusOK}
		case code != 0:
			// A non-2xx answer is a nack: Pub/Sub and Eventarc deliver
			// the event again.
			o = outcome{status: StatusError, detail: fmt.Sprintf("HTTP %d: %s", code, bytes.TrimSpace(body))}
		}
		if o.status == StatusCanceled {
			if i == 0 {
				return res
			}
			for j := i; j < len(evs); j++ {
				res.httpFailed[j] = true
			}
			return res
		}
		fr.recordEvent(rp, d.route, d.trigger, id, start, in, cold, o.status)
		res.delivered = true
		if o.status != StatusOK {
			res.httpFailed[i] = true
			if res.detail == "" {
				res.detail = o.detail
			}
		}
		cold = false
	}
	return res
}

// eventSources runs a function's queue, stream and storage triggers on
// this host while it has the function open.
type eventSources struct {
	fr      *fnRuntime
	mu      sync.Mutex
	running map[string]*eventSource
}

type eventSource struct {
	t      trigger.Trigger
	route  string
	cancel context.CancelFunc
	done   chan struct{}
}

// update starts, restarts and stops pollers so that those of ts run.
func (es *eventSources) update(ts []trigger.Trigger, route string) {
	want := map[string]trigger.Trigger{}
	for _, t := range ts {
		switch t.Kind() {
		case trigger.KindQueue, trigger.KindStream, trigger.KindStorage:
			want[t.TriggerKey()] = t
		}
	}
	es.mu.Lock()
	defer es.mu.Unlock()
	closed := es.fr.h.isClosed()
	var stop []*eventSource
	for key, s := range es.running {
		if t, ok := want[key]; closed || !ok || !reflect.DeepEqual(t, s.t) || s.route != route {
			stop = append(stop, s)
			delete(es.running, key)
		}
	}
	for _, s := range stop {
		s.cancel()
	}
	for _, s := range stop {
		<-s.done
	}
	if closed {
		return
	}
	if es.running == nil {
		es.running = map[string]*eventSource{}
	}
	for key, t := range want {
		if es.running[key] != nil {
			continue
		}
		ctx, cancel := context.WithCancel(es.fr.h.ctx)
		s := &eventSource{t: t, route: route, cancel: cancel, done: make(chan struct{})}
		es.running[key] = s
		run := es.runner(t)
		go func() {
			defer close(s.done)
			defer es.fr.h.recovered("event source", "function", es.fr.name, "trigger", key)
			run(ctx, route)
		}()
	}
}

func (es *eventSources) runner(t trigger.Trigger) func(context.Context, string) {
	switch v := t.(type) {
	case trigger.Queue:
		return func(ctx context.Context, route string) { es.fr.runQueue(ctx, v, route) }
	case trigger.Stream:
		return func(ctx context.Context, route string) { es.fr.runStream(ctx, v, route) }
	case trigger.Storage:
		return func(ctx context.Context, route string) { es.fr.runStorage(ctx, v, route) }
	}
	return func(context.Context, string) {}
}

// sleep waits for d, a wake-up or the end of ctx; false when ctx ended.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-wake:
	}
	return true
}

// maxTimeout is the longest timeout of the revisions route can send to.
func (fr *fnRuntime) maxTimeout(route string) time.Duration {
	v := fr.view()
	if v == nil {
		return 0
	}
	rv := v.routes[route]
	if rv == nil {
		return 0
	}
	d := rv.stable.timeout
	if rv.cand != nil {
		d = max(d, rv.cand.timeout)
	}
	return d
}
