package localprovider

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/updraft-dev/updraft/provider/driver"
)

// Status is how an invocation ended.
type Status string

// The invocation statuses.
const (
	// StatusOK: the function answered.
	StatusOK Status = "ok"
	// StatusError: the function returned an error (a Runtime API error, or
	// a 5xx from an HTTP function).
	StatusError Status = "error"
	// StatusTimeout: the instance was killed at the function's timeout.
	StatusTimeout Status = "timeout"
	// StatusCrash: the instance's process exited or was killed (out of
	// memory) during the invocation.
	StatusCrash Status = "crash"
	// StatusInitError: a new instance failed to initialise.
	StatusInitError Status = "init-error"
	// StatusThrottled: no instance was free within the queue timeout (429).
	StatusThrottled Status = "throttled"
	// StatusCanceled: the caller went away; the instance was discarded.
	StatusCanceled Status = "canceled"
)

// Invocation is the record of one invocation, as a cloud's logs and
// metrics would have it.
type Invocation struct {
	// RequestID is the Lambda request id ("" for a throttled request);
	// Start is when the gateway or Invoke received the request; Revision
	// is the revision that served it.
	RequestID string
	Start     time.Time
	Revision  string
	// Route is the route that chose the revision; "" for a direct
	// invocation of a revision.
	Route  string
	Status Status
	// Duration is the time from dispatch to response, without init.
	Duration time.Duration
	// ColdStart is true when a new instance was started for this request;
	// InitDuration is then its start-up time (process start to first poll
	// of the Runtime API, or to $PORT accepting).
	ColdStart    bool
	InitDuration time.Duration
	// BilledDuration is Duration plus InitDuration, rounded up to the
	// millisecond, as Lambda bills custom runtimes. 0 when throttled.
	BilledDuration time.Duration
	// MemoryMB is the revision's memory size, the other factor of the bill.
	MemoryMB int
	// HTTPStatus is the status the gateway answered with; 0 for direct
	// invocations (Invoke, schedules) and when the caller went away.
	HTTPStatus int
	// Trigger is the key of the queue, stream or storage trigger whose
	// event this invocation delivered; "" for HTTP requests, schedules
	// and direct invocations.
	Trigger string
	// Host identifies the host (process) that served the invocation, in
	// records read back with ReadInvocations.
	Host string
}

// GBSeconds is the invocation's billed compute: billed seconds times
// memory in GB (1 GB = 1024 MB), Lambda's unit of price.
func (i *Invocation) GBSeconds() float64 {
	return i.BilledDuration.Seconds() * float64(i.MemoryMB) / 1024
}

// failed reports whether the invocation counts as an error in metrics.
func (i *Invocation) failed() bool {
	switch i.Status {
	case StatusError, StatusTimeout, StatusCrash, StatusInitError:
		return true
	}
	return false
}

// recorder keeps a function's invocation data in this host: per-second
// aggregates by revision and route for Metrics, the most recent raw
// records within a memory budget, and the pending lines of the record
// log other processes read (see records.jsonl in the package doc).
type recorder struct {
	mu       sync.Mutex
	flushMu  sync.Mutex // serializes writes of the record log
	maxBytes int64      // budget of recs
	maxCount int        // 0 = no count bound
	recs     []Invocation
	bytes    int64
	dropped  bool      // recs lost older records
	oldest   time.Time // start of the oldest record in recs when dropped

	buckets map[bucketKey]*bucket
	order   []bucketKey // creation order, for eviction

	log recordLog
}

// bucketSecond is the aggregates' resolution; maxBuckets bounds their
// number per function (a day of one revision served every second).
const (
	bucketSecond = time.Second
	maxBuckets   = 86_400
)

type bucketKey struct {
	rev, route string
	sec        int64 // Unix seconds
}

type bucket struct {
	invocations, errors, throttles int64
	s2xx, s4xx, s5xx               int64
	duration                       time.Duration
}

func (b *bucket) add(inv *Invocation) {
	if inv.Status == StatusThrottled {
		b.throttles++
	} else {
		b.invocations++
		if inv.failed() {
			b.errors++
		}
		b.duration += inv.Duration
	}
	switch inv.HTTPStatus / 100 {
	case 2:
		b.s2xx++
	case 4:
		b.s4xx++
	case 5:
		b.s5xx++
	}
}

// recordSize is the memory a record holds: its struct and the request id
// (revision and route strings are shared with the pools).
func recordSize(inv *Invocation) int64 {
	return int64(unsafe.Sizeof(*inv)) + int64(len(inv.RequestID))
}

func (r *recorder) add(inv Invocation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := bucketKey{rev: inv.Revision, route: inv.Route, sec: inv.Start.Unix()}
	b := r.buckets[k]
	if b == nil {
		if r.buckets == nil {
			r.buckets = map[bucketKey]*bucket{}
		}
		if len(r.order) >= maxBuckets {
			delete(r.buckets, r.order[0])
			r.order = r.order[1:]
		}
		b = &bucket{}
		r.buckets[k] = b
		r.order = append(r.order, k)
	}
	b.add(&inv)
	size := recordSize(&inv)
	if (r.bytes+size > r.maxBytes || (r.maxCount > 0 && len(r.recs) >= r.maxCount)) && len(r.recs) > 0 {
		// Drop the oldest half at once: amortised O(1) per record.
		half := len(r.recs) / 2
		for i := range r.recs[:max(half, 1)] {
			r.bytes -= recordSize(&r.recs[i])
		}
		n := copy(r.recs, r.recs[max(half, 1):])
		clear(r.recs[n:])
		r.recs = r.recs[:n]
		r.dropped = true
		if n > 0 {
			r.oldest = r.recs[0].Start
		}
	}
	r.recs = append(r.recs, inv)
	r.bytes += size
	if r.dropped && len(r.recs) == 1 {
		r.oldest = inv.Start
	}
	r.log.append(&inv)
}

// reset forgets everything (the function was deleted).
func (r *recorder) reset() {
	r.mu.Lock()
	r.recs, r.bytes, r.dropped, r.oldest = nil, 0, false, time.Time{}
	r.buckets, r.order = nil, nil
	r.log.discard()
	r.mu.Unlock()
}

func match(inv *Invocation, route, rev string, since, until time.Time) bool {
	return (rev == "" || inv.Revision == rev) && (route == "" || inv.Route == "" || inv.Route == route) &&
		(since.IsZero() || !inv.Start.Before(since)) && (until.IsZero() || !inv.Start.After(until))
}

// metrics counts this host's invocations like CloudWatch: Invocations
// excludes throttled requests, Errors counts function errors, timeouts,
// crashes and init failures, and the Status counts are the gateway's
// responses by class. While the raw records reach back to q.Since the
// counts are exact; beyond them they come from the per-second aggregates,
// which count every second that overlaps [Since, Until].
func (r *recorder) metrics(q *driver.MetricsQuery) driver.Metrics {
	m := driver.Metrics{HTTP: true}
	var b bucket
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.dropped || (!q.Since.IsZero() && !q.Since.Before(r.oldest)) {
		for i := range r.recs {
			if inv := &r.recs[i]; match(inv, q.Route, q.Revision, q.Since, q.Until) {
				b.add(inv)
			}
		}
	} else {
		var from, to int64 = math.MinInt64, math.MaxInt64
		if !q.Since.IsZero() {
			from = q.Since.Unix()
		}
		if !q.Until.IsZero() {
			to = q.Until.Unix()
		}
		for k, kb := range r.buckets {
			if (q.Revision == "" || k.rev == q.Revision) && (q.Route == "" || k.route == "" || k.route == q.Route) && k.sec >= from && k.sec <= to {
				b.invocations += kb.invocations
				b.errors += kb.errors
				b.throttles += kb.throttles
				b.s2xx += kb.s2xx
				b.s4xx += kb.s4xx
				b.s5xx += kb.s5xx
			}
		}
	}
	m.Invocations, m.Errors, m.Throttles = b.invocations, b.errors, b.throttles
	m.Status2xx, m.Status4xx, m.Status5xx = b.s2xx, b.s4xx, b.s5xx
	return m
}

// metrics adds, to this host's counts, those of the other hosts that
// wrote to the function's record log (another process serving it).
func (fr *fnRuntime) metrics(q *driver.MetricsQuery) (*driver.Metrics, error) {
	m := fr.rec.metrics(q)
	var b bucket
	err := scanRecordLog(fr.rec.log.path, fr.rec.log.host, func(w *wireRecord) {
		if inv := w.invocation(); match(&inv, q.Route, q.Revision, q.Since, q.Until) {
			b.add(&inv)
		}
	})
	if err != nil {
		return nil, err
	}
	m.Invocations += b.invocations
	m.Errors += b.errors
	m.Throttles += b.throttles
	m.Status2xx += b.s2xx
	m.Status4xx += b.s4xx
	m.Status5xx += b.s5xx
	return &m, nil
}

// RecordQuery selects invocation records. The zero value selects all.
type RecordQuery struct {
	// Route and Revision filter when non-empty; records of direct
	// revision invocations match any Route.
	Route, Revision string
	// Since and Until bound the start time when non-zero.
	Since, Until time.Time
}

// Invocations returns function name's invocation records selected by q
// (nil for all), oldest first. These are the records this host keeps in
// memory: the most recent of its own invocations, within
// Options.RecordMemory per function. ReadInvocations reads those of
// every host from the state directory.
func (h *Host) Invocations(name string, q *RecordQuery) []Invocation {
	if q == nil {
		q = &RecordQuery{}
	}
	h.mu.Lock()
	fr := h.fns[name]
	h.mu.Unlock()
	if fr == nil {
		return nil
	}
	fr.rec.mu.Lock()
	defer fr.rec.mu.Unlock()
	var out []Invocation
	for i := range fr.rec.recs {
		if inv := &fr.rec.recs[i]; match(inv, q.Route, q.Revision, q.Since, q.Until) {
			out = append(out, *inv)
		}
	}
	return out
}

// Summary aggregates invocation records.
type Summary struct {
	// Invocations counts invocations, not counting throttled requests;
	// Errors those that failed (function errors, timeouts, crashes, init
	// failures); Throttles the requests answered 429; ColdStarts those
	// that started an instance.
	Invocations int64
	Errors      int64
	Throttles   int64
	ColdStarts  int64
	// Percentiles of Duration and, over cold starts, of InitDuration.
	DurationP50, DurationP99 time.Duration
	InitP50                  time.Duration
	// BilledDuration and GBSeconds total the invocations' billing.
	BilledDuration time.Duration
	GBSeconds      float64
}

// String renders the summary on one line.
func (s Summary) String() string {
	return fmt.Sprintf("%d invocations, %d errors, %d throttles, %d cold starts (init p50 %s), duration p50 %s p99 %s, billed %s = %.6f GB-s",
		s.Invocations, s.Errors, s.Throttles, s.ColdStarts, s.InitP50.Round(10*time.Microsecond),
		s.DurationP50.Round(time.Microsecond), s.DurationP99.Round(time.Microsecond), s.BilledDuration, s.GBSeconds)
}

// FunctionSummary is a function's summary in all and per revision.
type FunctionSummary struct {
	// Function is the function's name; Total covers all its revisions.
	Function string
	Total    Summary
	// Revisions holds one summary per revision that was invoked.
	Revisions map[string]Summary
}

// RevisionIDs lists the summarised revisions in numeric order.
func (f *FunctionSummary) RevisionIDs() []string {
	ids := make([]string, 0, len(f.Revisions))
	for id := range f.Revisions {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		na, ea := strconv.Atoi(a)
		nb, eb := strconv.Atoi(b)
		if ea == nil && eb == nil {
			return cmp.Compare(na, nb)
		}
		return cmp.Compare(a, b)
	})
	return ids
}

// Summarize aggregates function name's records selected by q (nil for
// all), those this host keeps in memory.
func (h *Host) Summarize(name string, q *RecordQuery) *FunctionSummary {
	return SummarizeInvocations(name, h.Invocations(name, q))
}

// SummarizeInvocations aggregates records of function name, such as those
// ReadInvocations returns.
func SummarizeInvocations(name string, recs []Invocation) *FunctionSummary {
	out := &FunctionSummary{Function: name, Revisions: map[string]Summary{}}
	byRev := map[string][]Invocation{}
	for _, r := range recs {
		byRev[r.Revision] = append(byRev[r.Revision], r)
	}
	out.Total = summarize(recs)
	for id, rs := range byRev {
		out.Revisions[id] = summarize(rs)
	}
	return out
}

func summarize(recs []Invocation) Summary {
	var s Summary
	var durs, inits []time.Duration
	for i := range recs {
		r := &recs[i]
		if r.Status == StatusThrottled {
			s.Throttles++
			continue
		}
		s.Invocations++
		if r.failed() {
			s.Errors++
		}
		if r.ColdStart {
			s.ColdStarts++
			inits = append(inits, r.InitDuration)
		}
		durs = append(durs, r.Duration)
		s.BilledDuration += r.BilledDuration
		s.GBSeconds += r.GBSeconds()
	}
	s.DurationP50, s.DurationP99 = percentile(durs, 50), percentile(durs, 99)
	s.InitP50 = percentile(inits, 50)
	return s
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := (len(ds)*p+99)/100 - 1
	return ds[max(0, min(i, len(ds)-1))]
}
