package lambdafake

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/updraft-dev/updraft/internal/cloudfake/awswire"
)

// Invoke through weighted aliases, and the invocation records served as metrics.

type invocationRecord struct {
	at        time.Time
	function  string
	version   string
	resource  string // "fn:qualifier" or "fn"
	failed    bool
	throttled bool
	// status is the HTTP status of a request through a function URL (0
	// for an Invoke call).
	status int
}

// run invokes function f through qualifier qual (an alias routes by its
// weights) and records the invocation; status is the HTTP status of a
// function URL request (0 for Invoke), computed from the output by
// statusOf. It is called without s.mu.
func (s *Server) run(ctx context.Context, f *function, qual string, payload []byte, statusOf func(out []byte, ferr error) int) (*ran, *apiError) {
	s.mu.Lock()
	ver := qual
	if a := f.aliases[qual]; a != nil {
		ver = a.FunctionVersion
		if a.RoutingConfig != nil {
			for k, wt := range a.RoutingConfig.AdditionalVersionWeights {
				if s.rnd.Float64() < wt {
					ver = k
				}
			}
		}
	}
	if ver == "" {
		ver = "$LATEST"
	}
	cfg, aerr := s.qualified(f, ver)
	if aerr == nil && cfg.State == "Pending" {
		aerr = conflict("The operation cannot be performed at this time. The function is currently in the following state: Pending")
	}
	handler := s.opts.Handler
	s.mu.Unlock()
	if aerr != nil {
		return nil, aerr
	}
	resource := f.name
	if qual != "" {
		resource += ":" + qual
	}
	var env map[string]string
	if cfg.Environment != nil {
		env = maps.Clone(cfg.Environment.Variables)
	}
	out := payload
	var ferr error
	if handler != nil {
		out, ferr = handler(ctx, &Invocation{Function: f.name, Version: ver, Env: env, Payload: payload})
	}
	rec := invocationRecord{at: time.Now(), function: f.name, version: ver, resource: resource, failed: ferr != nil}
	if statusOf != nil {
		rec.status = statusOf(out, ferr)
	}
	s.mu.Lock()
	s.invokes = append(s.invokes, rec)
	s.mu.Unlock()
	return &ran{version: ver, out: out, ferr: ferr}, nil
}

// ran is what run did: the version that ran, its output, its error.
type ran struct {
	version string
	out     []byte
	ferr    error
}

func (s *Server) invoke(w http.ResponseWriter, r *http.Request) {
	payload, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	f, qual, aerr := s.lookup(r, r.PathValue("name"))
	s.mu.Unlock()
	if aerr != nil {
		awswire.WriteError(w, aerr.status, aerr.typ, aerr.msg)
		return
	}
	res, aerr := s.run(r.Context(), f, qual, payload, nil)
	if aerr != nil {
		awswire.WriteError(w, aerr.status, aerr.typ, aerr.msg)
		return
	}
	out := res.out
	w.Header().Set("X-Amz-Executed-Version", res.version)
	w.Header().Set("Content-Type", "application/json")
	if res.ferr != nil {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		out, _ = json.Marshal(map[string]string{"errorMessage": res.ferr.Error(), "errorType": "errorString"})
	}
	w.WriteHeader(200)
	w.Write(out)
}

// RecordInvocations adds n invocations of function fn's version through
// resource ("fn:alias", "fn:version" or "fn"), of which errors failed and
// throttles were throttled, at time at (zero = now), to the metrics.
func (s *Server) RecordInvocations(fn, resource, version string, at time.Time, n, errors, throttles int) {
	if at.IsZero() {
		at = time.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range n {
		s.invokes = append(s.invokes, invocationRecord{at: at, function: fn, version: version, resource: resource, failed: i < errors})
	}
	for range throttles {
		s.invokes = append(s.invokes, invocationRecord{at: at, function: fn, version: version, resource: resource, throttled: true})
	}
}

// Datapoints serves AWS/Lambda metrics for cloudwatchfake: the Sum per
// period of the invocations matching the dimensions (FunctionName,
// optionally Resource and ExecutedVersion), like CloudWatch's published
// Lambda metrics. Invocations, Errors and Throttles count Invoke calls
// and function URL requests; UrlRequestCount, Url4xxCount and Url5xxCount
// count function URL requests by status class and, as in CloudWatch,
// have no ExecutedVersion dimension.
func (s *Server) Datapoints(namespace, metric string, dims map[string]string, start, end time.Time, period time.Duration) ([]time.Time, []float64) {
	if namespace != "AWS/Lambda" || period <= 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	buckets := map[int64]float64{}
	for _, rec := range s.invokes {
		if rec.at.Before(start) || !rec.at.Before(end) {
			continue
		}
		if fn, ok := dims["FunctionName"]; !ok || fn != rec.function {
			continue
		}
		if res, ok := dims["Resource"]; ok && res != rec.resource {
			continue
		}
		if v, ok := dims["ExecutedVersion"]; ok && (v != rec.version || strings.HasPrefix(metric, "Url")) {
			// CloudWatch has no ExecutedVersion series of URL metrics.
			continue
		}
		val, ok := metricValue(metric, rec)
		if !ok {
			continue
		}
		b := start.Add(rec.at.Sub(start) / period * period).Unix()
		buckets[b] += val
	}
	var ts []time.Time
	var vs []float64
	for _, b := range slices.Sorted(maps.Keys(buckets)) {
		ts = append(ts, time.Unix(b, 0).UTC())
		vs = append(vs, buckets[b])
	}
	return ts, vs
}

// metricValue is rec's contribution to metric, and whether metric is one
// the fake serves.
func metricValue(metric string, rec invocationRecord) (float64, bool) {
	one := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	switch metric {
	case "Invocations":
		return one(!rec.throttled), true
	case "Errors":
		return one(rec.failed), true
	case "Throttles":
		return one(rec.throttled), true
	case "UrlRequestCount":
		return one(rec.status != 0), true
	case "Url4xxCount":
		return one(rec.status >= 400 && rec.status < 500), true
	case "Url5xxCount":
		return one(rec.status >= 500), true
	}
	return 0, false
}
