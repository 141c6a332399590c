package function

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
)

// Platform names where the function runs.
type Platform string

// The platforms.
const (
	AWSLambda Platform = "aws-lambda"
	GCP       Platform = "gcp"
	Azure     Platform = "azure"
	// Local is plain HTTP with no cloud's conventions (tests, local runs).
	Local Platform = "local"
)

// Info describes the invocation a handler runs for.
type Info struct {
	Platform Platform
	// Key is the trigger key of the handler.
	Key string
	// RequestID is the cloud's id of this invocation: the Lambda request
	// id, the Cloud Functions execution id (or the CloudEvent id), the
	// Azure invocation id.
	RequestID string
	// Trace is the W3C trace context of the invocation, if any.
	Trace TraceContext
	// XRay is the raw X-Ray trace header on Lambda.
	XRay string
}

type infoKey struct{}

// FromContext returns the invocation's Info, and whether ctx has one.
func FromContext(ctx context.Context) (Info, bool) {
	in, ok := ctx.Value(infoKey{}).(*Info)
	if !ok || in == nil {
		return Info{}, false
	}
	return *in, true
}

// NewContext returns ctx carrying in (for tests of handlers).
func NewContext(ctx context.Context, in Info) context.Context {
	return context.WithValue(ctx, infoKey{}, &in)
}

// TraceContext is a W3C trace context (www.w3.org/TR/trace-context).
type TraceContext struct {
	// TraceID is 32 lower-case hex digits; SpanID 16. Empty when unknown.
	TraceID, SpanID string
	Sampled         bool
	// State is the tracestate header, passed on unchanged.
	State string
}

// IsValid reports whether t has a trace id and a span id.
func (t TraceContext) IsValid() bool { return isHex(t.TraceID, 32) && isHex(t.SpanID, 16) }

// Traceparent formats t as a traceparent header value ("" when invalid).
func (t TraceContext) Traceparent() string {
	if !t.IsValid() {
		return ""
	}
	flags := "00"
	if t.Sampled {
		flags = "01"
	}
	return "00-" + t.TraceID + "-" + t.SpanID + "-" + flags
}

// ParseTraceparent parses a traceparent header value.
func ParseTraceparent(s string) (TraceContext, bool) {
	s = strings.TrimSpace(s)
	p := strings.Split(s, "-")
	if len(p) < 4 || len(p[0]) != 2 || p[0] == "ff" || !isHex(p[0], 2) || (p[0] == "00" && len(p) != 4) {
		return TraceContext{}, false
	}
	t := TraceContext{TraceID: p[1], SpanID: p[2]}
	if !t.IsValid() || allZero(t.TraceID) || allZero(t.SpanID) || !isHex(p[3], 2) {
		return TraceContext{}, false
	}
	f, _ := strconv.ParseUint(p[3], 16, 8)
	t.Sampled = f&1 == 1
	return t, true
}

// ParseXRay converts an X-Ray trace header
// ("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
// to a W3C trace context: the trace id is the root's two hex parts, the
// span id the parent.
func ParseXRay(s string) (TraceContext, bool) {
	var t TraceContext
	for f := range strings.SplitSeq(s, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		switch k {
		case "Root":
			p := strings.Split(v, "-")
			if len(p) == 3 && p[0] == "1" && isHex(p[1], 8) && isHex(p[2], 24) {
				t.TraceID = strings.ToLower(p[1] + p[2])
			}
		case "Parent":
			if isHex(v, 16) {
				t.SpanID = strings.ToLower(v)
			}
		case "Sampled":
			t.Sampled = v == "1"
		}
	}
	if t.TraceID == "" {
		return TraceContext{}, false
	}
	if t.SpanID == "" {
		t.SpanID = newSpanID()
	}
	return t, true
}

// ParseCloudTrace parses Google's X-Cloud-Trace-Context header
// ("TRACE_ID/SPAN_ID;o=1", the span id in decimal).
func ParseCloudTrace(s string) (TraceContext, bool) {
	tr, rest, _ := strings.Cut(s, "/")
	if !isHex(tr, 32) {
		return TraceContext{}, false
	}
	t := TraceContext{TraceID: strings.ToLower(tr)}
	span, opt, _ := strings.Cut(rest, ";")
	if n, err := strconv.ParseUint(span, 10, 64); err == nil && n != 0 {
		t.SpanID = hex.EncodeToString([]byte{byte(n >> 56), byte(n >> 48), byte(n >> 40), byte(n >> 32), byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	} else {
		t.SpanID = newSpanID()
	}
	t.Sampled = strings.TrimSpace(opt) == "o=1"
	return t, true
}

// traceFromHeader takes the trace context of an HTTP request: traceparent
// first, then X-Cloud-Trace-Context, then X-Amzn-Trace-Id.
func traceFromHeader(h http.Header) TraceContext {
	if t, ok := ParseTraceparent(h.Get("Traceparent")); ok {
		t.State = h.Get("Tracestate")
		return t
	}
	if t, ok := ParseCloudTrace(h.Get("X-Cloud-Trace-Context")); ok {
		return t
	}
	if t, ok := ParseXRay(h.Get("X-Amzn-Trace-Id")); ok {
		return t
	}
	return TraceContext{}
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func allZero(s string) bool { return strings.Trim(s, "0") == "" }

func newSpanID() string {
	var b [8]byte
	for {
		rand.Read(b[:])
		if b != [8]byte{} {
			return hex.EncodeToString(b[:])
		}
	}
}

// Transport is an http.RoundTripper that sends the trace context of the
// request's context (see FromContext) as traceparent and tracestate, with
// a new span id for the outgoing call, unless the request has a
// traceparent already. Base nil means http.DefaultTransport.
type Transport struct {
	Base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	in, ok := FromContext(r.Context())
	if !ok || !in.Trace.IsValid() || r.Header.Get("Traceparent") != "" {
		return base.RoundTrip(r)
	}
	out := in.Trace
	out.SpanID = newSpanID()
	r2 := r.Clone(r.Context())
	r2.Header.Set("Traceparent", out.Traceparent())
	if out.State != "" {
		r2.Header.Set("Tracestate", out.State)
	}
	return base.RoundTrip(r2)
}
