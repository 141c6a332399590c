package localprovider

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

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

// recorder keeps a function's most recent invocation records.
type recorder struct {
	mu   sync.Mutex
	max  int
	recs []Invocation
}

func (r *recorder) add(inv Invocation) {
	r.mu.Lock()
	if len(r.recs) >= r.max {
		// Drop the oldest half at once: amortised O(1) per record.
		n := copy(r.recs, r.recs[len(r.recs)/2:])
		r.recs = r.recs[:n]
	}
	r.recs = append(r.recs, inv)
	r.mu.Unlock()
}

func match(inv *Invocation, route, rev string, since, until time.Time) bool {
	return (rev == "" || inv.Revision == rev) && (route == "" || inv.Route == "" || inv.Route == route) &&
		(since.IsZero() || !inv.Start.Before(since)) && (until.IsZero() || !inv.Start.After(until))
}

// metrics counts invocations like CloudWatch: Invocations excludes
// throttled requests, Errors counts function errors, timeouts, crashes
// and init failures.
func (r *recorder) metrics(q *driver.MetricsQuery) driver.Metrics {
	var m driver.Metrics
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.recs {
		inv := &r.recs[i]
		if !match(inv, q.Route, q.Revision, q.Since, q.Until) {
			continue
		}
		if inv.Status == StatusThrottled {
			m.Throttles++
			continue
		}
		m.Invocations++
		if inv.failed() {
			m.Errors++
		}
	}
	return m
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
// (nil for all), oldest first. Records live in memory: they cover this
// host's invocations, up to Options.MaxRecords per function.
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

// Summarize aggregates function name's records selected by q (nil for all).
func (h *Host) Summarize(name string, q *RecordQuery) *FunctionSummary {
	recs := h.Invocations(name, q)
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
