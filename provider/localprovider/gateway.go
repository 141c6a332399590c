package localprovider

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// serveGateway routes /NAME[:QUALIFIER]/PATH to function NAME's HTTP
// trigger: its route, or the route or revision QUALIFIER.
func (h *Host) serveGateway(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if strings.HasPrefix(p, controlPrefix) || (p == "/" && r.Header.Get("X-Amz-Target") != "") {
		h.serveControl(w, r)
		return
	}
	if len(p) < 2 {
		gatewayError(w, http.StatusNotFound, "no function in the path: request /NAME/ for function NAME's HTTP trigger")
		return
	}
	seg, rest := p[1:], "/"
	if i := strings.IndexByte(seg, '/'); i >= 0 {
		seg, rest = seg[:i], seg[i:]
	}
	name, qual := seg, ""
	if i := strings.IndexByte(seg, ':'); i >= 0 {
		name, qual = seg[:i], seg[i+1:]
	}
	fr, v, err := h.lookup(name)
	if err != nil {
		gatewayError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if v == nil {
		gatewayError(w, http.StatusNotFound, fmt.Sprintf("function %s does not exist in %s", name, h.dir))
		return
	}
	if v.httpRoute == "" {
		gatewayError(w, http.StatusNotFound, fmt.Sprintf("function %s has no HTTP trigger: add trigger.HTTP{Key: \"web\"} to its Spec and apply it", name))
		return
	}
	if len(v.cors) > 0 && corsHeaders(w, r, v.cors) {
		return // a preflight request, answered as a function URL does
	}
	var rp *revPool
	route := v.httpRoute
	arn := ""
	if qual != "" {
		if rv := v.routes[qual]; rv != nil {
			route, rp, arn = qual, rv.pick(), rv.invokedARNFor
		} else if rp = v.revs[qual]; rp != nil {
			route, arn = "", fr.arn+qual
		} else {
			gatewayError(w, http.StatusNotFound, fmt.Sprintf("function %s has no route or revision %q", name, qual))
			return
		}
	} else {
		rv := v.routes[route]
		if rv == nil {
			gatewayError(w, http.StatusNotFound, fmt.Sprintf("route %s of function %s does not exist: publish a revision", route, name))
			return
		}
		rp, arn = rv.pick(), rv.invokedARNFor
	}
	fr.serveHTTP(w, r, rp, route, arn, rest)
}

// corsHeaders adds the CORS headers of an allowed origin and reports
// whether r was a preflight request it answered.
func corsHeaders(w http.ResponseWriter, r *http.Request, origins []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	allowed := ""
	for _, o := range origins {
		if o == "*" || strings.EqualFold(o, origin) {
			allowed = o
			break
		}
	}
	if allowed == "" {
		return false
	}
	h := w.Header()
	h["Access-Control-Allow-Origin"] = []string{allowed}
	h["Vary"] = []string{"Origin"}
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	h["Access-Control-Allow-Methods"] = []string{"*"}
	if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
		h["Access-Control-Allow-Headers"] = []string{rh}
	}
	h["Access-Control-Max-Age"] = []string{"300"}
	w.WriteHeader(http.StatusNoContent)
	return true
}

func gatewayError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(code)
	io.WriteString(w, msg)
	io.WriteString(w, "\n")
}

// serveHTTP runs one HTTP trigger request on rp. The body is read whole
// (within the payload limit and the body timeout) before an instance is
// taken, so a slow client never holds one.
func (fr *fnRuntime) serveHTTP(w http.ResponseWriter, r *http.Request, rp *revPool, route, arn, path string) {
	start := time.Now()
	ctx := r.Context()
	body, err := fr.h.readGatewayBody(w, r)
	if err != nil {
		// net/http cancels the request's context on any read error, so
		// the deadline is told from a client that went away first.
		code, msg := http.StatusBadRequest, "malformed request body: "+err.Error()
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			code, msg = http.StatusRequestTimeout, fmt.Sprintf("request body not received within %s", fr.h.opts.BodyTimeout)
		case errors.Is(err, errTooLarge):
			code, msg = http.StatusRequestEntityTooLarge, "request body over the 6 MB payload limit"
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed):
			return
		}
		w.Header()["Connection"] = []string{"close"}
		gatewayError(w, code, msg)
		return
	}
	for attempt := 1; ; attempt++ {
		in, cold, err := fr.acquire(ctx, rp)
		if err != nil {
			var te *throttledError
			code := http.StatusBadGateway
			switch {
			case errors.As(err, &te) && !te.stopped:
				code = http.StatusTooManyRequests
			case errors.As(err, &te):
				code = http.StatusServiceUnavailable
			}
			if ctx.Err() != nil {
				code = 0
			}
			err = fr.acquireFailed(ctx, rp, route, start, err, code)
			if code == 0 {
				return
			}
			w.Header()["X-Updraft-Revision"] = []string{rp.id}
			gatewayError(w, code, err.Error())
			return
		}
		var o outcome
		var id string
		status := 0
		if in.proto.Load() == protoHTTP {
			setInstanceHeaders(w, rp, in, cold)
			id = fr.h.ids.next()
			o, status = fr.proxyHTTP(ctx, w, r, body, in, id, path)
		} else {
			id = fr.h.ids.next()
			buf := eventBufs.Get().(*[]byte)
			ev := appendEvent((*buf)[:0], r, path, body, id, fr.name, start)
			inv := &invocation{id: id, payload: ev, deadline: start.Add(rp.timeout), arn: arn, trace: traceID(id, start), done: make(chan invResult, 1)}
			o = fr.runLambda(ctx, in, inv)
			if o.status == statusUndelivered && attempt < maxDeliveries {
				*buf = ev
				eventBufs.Put(buf)
				continue // the instance died before it took the event
			}
			if o.status != StatusCrash && o.status != StatusTimeout && o.status != StatusCanceled && o.status != statusUndelivered {
				*buf = ev
				eventBufs.Put(buf)
			}
			setInstanceHeaders(w, rp, in, cold)
			status = writeLambdaResponse(w, id, &o, fr.name, rp.id)
		}
		fr.record(rp, route, id, start, in, cold, o.status, status)
		return
	}
}

// maxDeliveries is how many instances a request is offered to when the
// ones it got died before taking it.
const maxDeliveries = 3

func setInstanceHeaders(w http.ResponseWriter, rp *revPool, in *instance, cold bool) {
	hd := w.Header()
	hd["X-Updraft-Revision"] = []string{rp.id}
	if cold {
		hd["X-Updraft-Init-Duration"] = []string{in.initDur.String()}
	}
}

// readGatewayBody reads a gateway request's body, at most the payload
// limit, within the host's body timeout.
func (h *Host) readGatewayBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(h.opts.BodyTimeout))
	body, err := readBody(r, maxPayload)
	rc.SetReadDeadline(time.Time{})
	return body, err
}

var eventBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// writeLambdaResponse maps a function URL (payload format 2.0) response
// back to HTTP and returns the status it answered (0 when the caller went
// away).
func writeLambdaResponse(w http.ResponseWriter, id string, o *outcome, name, rev string) int {
	h := w.Header()
	h["X-Amzn-Requestid"] = []string{id}
	switch o.status {
	case StatusOK:
	case StatusError:
		h["X-Amz-Function-Error"] = []string{o.errType}
		h["Content-Type"] = []string{"application/json"}
		w.WriteHeader(http.StatusBadGateway)
		w.Write(o.payload)
		return http.StatusBadGateway
	case StatusTimeout:
		gatewayError(w, http.StatusGatewayTimeout, fmt.Sprintf("%s: function %s revision %s was killed at its timeout (raise Spec.Timeout or make it faster); the next request starts a fresh instance", o.detail, name, rev))
		return http.StatusGatewayTimeout
	case StatusCanceled:
		return 0
	default:
		gatewayError(w, http.StatusBadGateway, fmt.Sprintf("function %s revision %s failed (%s): %s; the next request starts a fresh instance", name, rev, o.errType, o.detail))
		return http.StatusBadGateway
	}
	p := bytes.TrimSpace(o.payload)
	if len(p) > 0 && p[0] == '{' && bytes.Contains(p, []byte(`"statusCode"`)) {
		var resp urlResponse
		if err := json.Unmarshal(p, &resp); err == nil && resp.StatusCode != 0 {
			if resp.StatusCode < 200 || resp.StatusCode > 599 {
				// A function URL answers a response it cannot map with 502.
				gatewayError(w, http.StatusBadGateway, fmt.Sprintf("function %s revision %s returned statusCode %d, which is not an HTTP response status (200 to 599)", name, rev, resp.StatusCode))
				return http.StatusBadGateway
			}
			resp.setHeaders(h)
			body := []byte(resp.Body)
			if resp.IsBase64Encoded {
				if b, err := base64.StdEncoding.DecodeString(resp.Body); err == nil {
					body = b
				}
			}
			if _, ok := h["Content-Type"]; !ok {
				h["Content-Type"] = []string{"application/json"}
			}
			h["Content-Length"] = []string{strconv.Itoa(len(body))}
			w.WriteHeader(resp.StatusCode)
			w.Write(body)
			return resp.StatusCode
		}
	}
	// Any other JSON is the body of a 200 application/json response.
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(o.payload))}
	w.WriteHeader(http.StatusOK)
	w.Write(o.payload)
	return http.StatusOK
}

// urlResponse is a function URL response (payload format 2.0).
type urlResponse struct {
	StatusCode        int                 `json:"statusCode"`
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Cookies           []string            `json:"cookies"`
	Body              string              `json:"body"`
	IsBase64Encoded   bool                `json:"isBase64Encoded"`
}

// setHeaders adds the response's valid headers and cookies to h.
func (resp *urlResponse) setHeaders(h http.Header) {
	for k, v := range resp.Headers {
		if validHeader(k, v) {
			h.Set(k, v)
		}
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			if validHeader(k, v) {
				h.Add(k, v)
			}
		}
	}
	for _, c := range resp.Cookies {
		if validHeader("Set-Cookie", c) {
			h.Add("Set-Cookie", c)
		}
	}
}

// validHeader reports whether a header a function returned can be sent
// as it is: a token name, a value without control characters but tab,
// and not one the gateway owns (framing, hop-by-hop).
func validHeader(k, v string) bool {
	if k == "" || hopHeader(http.CanonicalHeaderKey(k)) || strings.EqualFold(k, "Content-Length") {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isTokenChar(k[i]) {
			return false
		}
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// proxyHTTP forwards a request to an HTTP-protocol instance.
func (fr *fnRuntime) proxyHTTP(ctx context.Context, w http.ResponseWriter, r *http.Request, body []byte, in *instance, id, path string) (outcome, int) {
	u := in.base + path
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	var rd io.Reader = http.NoBody
	if len(body) > 0 {
		rd = bytes.NewReader(body)
	}
	out, err := http.NewRequest(r.Method, u, rd)
	if err != nil {
		fr.release(in)
		gatewayError(w, http.StatusBadRequest, "bad request: "+err.Error())
		return outcome{status: StatusError, errType: "BadRequest"}, http.StatusBadRequest
	}
	out.ContentLength = int64(len(body))
	for k, vs := range r.Header {
		if hopHeader(k) {
			continue
		}
		out.Header[k] = vs
	}
	out.Header["X-Request-Id"] = []string{id}
	out.Header["X-Forwarded-For"] = []string{clientIP(r)}
	out.Host = r.Host
	resp, o := fr.roundTrip(ctx, in, out)
	if resp == nil {
		switch o.status {
		case StatusTimeout:
			gatewayError(w, http.StatusGatewayTimeout, fmt.Sprintf("%s: function %s revision %s was killed at its timeout (raise Spec.Timeout or make it faster); the next request starts a fresh instance", o.detail, fr.name, in.rp.id))
			return o, http.StatusGatewayTimeout
		case StatusCrash:
			gatewayError(w, http.StatusBadGateway, fmt.Sprintf("function %s revision %s failed: %s; the next request starts a fresh instance", fr.name, in.rp.id, o.detail))
			return o, http.StatusBadGateway
		}
		return o, 0
	}
	h := w.Header()
	for k, vs := range resp.Header {
		if hopHeader(k) {
			continue
		}
		h[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, err = io.Copy(w, resp.Body)
	resp.Body.Close()
	if err != nil && ctx.Err() == nil {
		in.kill("its response broke off: " + err.Error())
		return outcome{status: StatusCrash, errType: "Runtime.ExitError", detail: err.Error()}, resp.StatusCode
	}
	if err != nil {
		in.kill("its caller went away")
		return outcome{status: StatusCanceled}, 0
	}
	fr.release(in)
	if resp.StatusCode >= 500 {
		return outcome{status: StatusError, errType: "Unhandled"}, resp.StatusCode
	}
	return outcome{status: StatusOK}, resp.StatusCode
}

func hopHeader(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Proxy-Authorization", "Proxy-Authenticate":
		return true
	}
	return false
}

func clientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

// appendEvent appends the API Gateway v2 / function URL event (payload
// format 2.0) for r to b.
func appendEvent(b []byte, r *http.Request, path string, body []byte, id, name string, now time.Time) []byte {
	b = append(b, `{"version":"2.0","routeKey":"$default","rawPath":`...)
	b = appendJSONString(b, path)
	b = append(b, `,"rawQueryString":`...)
	b = appendJSONString(b, r.URL.RawQuery)
	b = appendCookies(b, r.Header["Cookie"])
	b = appendHeaders(b, r)
	b = appendQuery(b, r.URL.RawQuery)
	b = appendRequestContext(b, r, path, id, name, now)
	return appendBody(b, r.Header.Get("Content-Type"), body)
}

// appendCookies appends the event's "cookies": each cookie of the Cookie
// header lines, as API Gateway splits them.
func appendCookies(b []byte, lines []string) []byte {
	if len(lines) == 0 {
		return b
	}
	b = append(b, `,"cookies":[`...)
	first := true
	for _, line := range lines {
		for c := range strings.SplitSeq(line, ";") {
			c = strings.TrimSpace(c)
			if c == "" {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendJSONString(b, c)
		}
	}
	return append(b, ']')
}

// appendHeaders appends the event's "headers": lower-cased names,
// repeated values joined by commas, the Host always present.
func appendHeaders(b []byte, r *http.Request) []byte {
	b = append(b, `,"headers":{`...)
	first := true
	host := false
	for k, vs := range r.Header {
		if k == "Cookie" {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		host = host || k == "Host"
		b = appendHeaderName(b, k)
		b = append(b, `":`...)
		b = appendJSONString(b, strings.Join(vs, ","))
	}
	if !host {
		if !first {
			b = append(b, ',')
		}
		b = append(b, `"host":`...)
		b = appendJSONString(b, r.Host)
	}
	return append(b, '}')
}

// appendHeaderName appends '"' and k lower-cased, any byte that JSON
// would need escaped replaced by '_'.
func appendHeaderName(b []byte, k string) []byte {
	b = append(b, '"')
	for i := 0; i < len(k); i++ {
		c := k[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c == '"' || c == '\\' || c < 0x20 {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}

// appendQuery appends the event's "queryStringParameters", when the
// query parses and is not empty.
func appendQuery(b []byte, raw string) []byte {
	if raw == "" {
		return b
	}
	q, err := url.ParseQuery(raw)
	if err != nil || len(q) == 0 {
		return b
	}
	b = append(b, `,"queryStringParameters":{`...)
	first := true
	for k, vs := range q {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, strings.Join(vs, ","))
	}
	return append(b, '}')
}

// appendRequestContext appends the event's "requestContext".
func appendRequestContext(b []byte, r *http.Request, path, id, name string, now time.Time) []byte {
	b = append(b, `,"requestContext":{"accountId":"anonymous","apiId":`...)
	b = appendJSONString(b, name)
	b = append(b, `,"domainName":`...)
	b = appendJSONString(b, r.Host)
	b = append(b, `,"domainPrefix":`...)
	b = appendJSONString(b, name)
	b = append(b, `,"http":{"method":`...)
	b = appendJSONString(b, r.Method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, path)
	b = append(b, `,"protocol":`...)
	b = appendJSONString(b, r.Proto)
	b = append(b, `,"sourceIp":`...)
	b = appendJSONString(b, clientIP(r))
	b = append(b, `,"userAgent":`...)
	b = appendJSONString(b, r.Header.Get("User-Agent"))
	b = append(b, `},"requestId":`...)
	b = appendJSONString(b, id)
	b = append(b, `,"routeKey":"$default","stage":"$default","time":"`...)
	b = now.UTC().AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, `","timeEpoch":`...)
	b = strconv.AppendInt(b, now.UnixMilli(), 10)
	return append(b, '}')
}

// appendBody appends the event's "body", as text when it is text and
// valid UTF-8, else base64, and closes the event.
func appendBody(b []byte, contentType string, body []byte) []byte {
	if len(body) == 0 {
		return append(b, `,"isBase64Encoded":false}`...)
	}
	b = append(b, `,"body":`...)
	if isText(contentType) && utf8.Valid(body) {
		b = appendJSONString(b, string(body))
		return append(b, `,"isBase64Encoded":false}`...)
	}
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, body)
	return append(b, `","isBase64Encoded":true}`...)
}

// isText reports whether a content type is sent as text in events, as
// function URLs do.
func isText(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"), strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	switch mt {
	case "application/json", "application/xml", "application/javascript", "application/x-www-form-urlencoded", "application/graphql":
		return true
	}
	return false
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"':
				b = append(b, '\\', '"')
			case '\\':
				b = append(b, '\\', '\\')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&15])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
