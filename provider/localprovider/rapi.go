package localprovider

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The Runtime API is served by a small HTTP/1.1 server of its own rather
// than net/http: it has four endpoints, one client (the instance) and sits
// on the hot path of every invocation, twice. It speaks keep-alive,
// Content-Length and chunked bodies, and Expect: 100-continue.

// connSet tracks an instance's Runtime API connections, to close them.
type connSet struct {
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func (s *connSet) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.conns == nil {
		s.conns = map[net.Conn]struct{}{}
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *connSet) remove(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
}

// serveRuntimeAPI accepts the instance's connections until it is closed.
func (in *instance) serveRuntimeAPI() {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := in.ln.Accept()
		if err != nil {
			return
		}
		if !in.conns.add(c) {
			c.Close()
			return
		}
		wg.Go(func() {
			defer in.conns.remove(c)
			defer c.Close()
			if in.fr != nil {
				defer in.fr.h.recovered("runtime API connection", "function", in.fr.name)
			}
			in.serveConn(c)
		})
	}
}

func (in *instance) closeRuntimeAPI() {
	in.ln.Close()
	in.conns.closeAll()
}

// rapiRequest is one parsed request.
type rapiRequest struct {
	method, path  string
	contentLength int64
	chunked       bool
	expect100     bool
	closeConn     bool
	errorType     string
}

var (
	errBadRequest     = errors.New("malformed request")
	errHeaderTooLarge = errors.New("request header too large")
)

// maxRAPIHeader bounds a request's line and headers together; a single
// line is also bounded by the connection's 4 KiB read buffer.
const maxRAPIHeader = 16 << 10

// readRequest parses one request head. It is stricter than net/http: it
// accepts only what net/http would read the same way (the fuzz test
// checks it), and refuses anything whose framing could be read two ways:
// several Content-Length headers, Content-Length with Transfer-Encoding,
// any transfer coding but chunked, obsolete line folding, control
// characters. A refused request ends the connection.
func readRequest(br *bufio.Reader, r *rapiRequest) error {
	*r = rapiRequest{contentLength: -1}
	budget := maxRAPIHeader
	line, err := readLine(br, &budget)
	if err != nil {
		return err
	}
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return errBadRequest
	}
	sp2 := sp1 + 1 + bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 <= sp1+1 || bytes.IndexByte(line[sp2+1:], ' ') >= 0 {
		return errBadRequest
	}
	method, target, proto := line[:sp1], line[sp1+1:sp2], line[sp2+1:]
	for _, c := range method {
		if !isTokenChar(c) {
			return errBadRequest
		}
	}
	if target[0] != '/' {
		return errBadRequest
	}
	for _, c := range target {
		if !isTargetChar(c) {
			return errBadRequest
		}
	}
	http10 := false
	switch string(proto) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		http10, r.closeConn = true, true
	default:
		return errBadRequest
	}
	r.method = string(method)
	if q := bytes.IndexByte(target, '?'); q >= 0 {
		target = target[:q]
	}
	r.path = string(target)
	return r.readHeaders(br, &budget, http10)
}

// readHeaders reads the header section of r into it. Its complexity is
// one flat switch over the header names the server reads.
func (r *rapiRequest) readHeaders(br *bufio.Reader, budget *int, http10 bool) error {
	var nCL, nTE, nHost int
	for {
		k, v, err := readHeader(br, budget)
		if err != nil {
			return err
		}
		if k == nil {
			break
		}
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			nCL++
			if r.contentLength, err = parseLength(v); err != nil {
				return err
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			nTE++
			r.chunked = bytes.EqualFold(v, []byte("chunked"))
		case bytes.EqualFold(k, []byte("Host")):
			nHost++
		case bytes.EqualFold(k, []byte("Expect")):
			r.expect100 = bytes.EqualFold(v, []byte("100-continue"))
		case bytes.EqualFold(k, []byte("Connection")):
			if bytes.EqualFold(v, []byte("close")) {
				r.closeConn = true
			} else if http10 && bytes.EqualFold(v, []byte("keep-alive")) {
				r.closeConn = false
			}
		case bytes.EqualFold(k, []byte("Lambda-Runtime-Function-Error-Type")):
			r.errorType = string(v)
		}
	}
	if nCL > 1 || nHost > 1 || nTE > 1 || nTE == 1 && (!r.chunked || nCL > 0 || http10) {
		return errBadRequest
	}
	return nil
}

// readLine reads one line without its CRLF (or LF), charging budget.
func readLine(br *bufio.Reader, budget *int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, errHeaderTooLarge
	}
	if err != nil {
		return nil, err
	}
	if *budget -= len(line); *budget < 0 {
		return nil, errHeaderTooLarge
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// readHeader reads one header field; a nil key ends the section.
func readHeader(br *bufio.Reader, budget *int) (k, v []byte, err error) {
	line, err := readLine(br, budget)
	if err != nil || len(line) == 0 {
		return nil, nil, err
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return nil, nil, errBadRequest
	}
	k, v = line[:colon], line[colon+1:]
	for _, c := range k {
		if !isTokenChar(c) {
			return nil, nil, errBadRequest
		}
	}
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	for _, c := range v {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return nil, nil, errBadRequest
		}
	}
	return k, v, nil
}

// parseLength parses a Content-Length value: 1 to 18 digits.
func parseLength(v []byte) (int64, error) {
	if len(v) == 0 || len(v) > 18 {
		return 0, errBadRequest
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, errBadRequest
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// isTokenChar reports whether c may appear in an HTTP token (a method or
// a header name, RFC 9110 section 5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// isTargetChar reports whether c may appear in a request target this
// server accepts: the unreserved and sub-delimiter characters, ':', '@',
// '/' and '?'. Percent-encoding is refused: no Runtime API path uses it.
func isTargetChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=:@/?", c) >= 0
}

// body reads the request body, at most limit bytes.
func (r *rapiRequest) body(br *bufio.Reader, limit int64) ([]byte, error) {
	switch {
	case r.chunked:
		b, err := io.ReadAll(io.LimitReader(httputil.NewChunkedReader(br), limit+1))
		if err == nil && int64(len(b)) > limit {
			return nil, errTooLarge
		}
		if err != nil {
			return nil, errBadRequest
		}
		// The chunked reader stops after the last chunk: read the trailer
		// section up to its empty line, each line ended by CRLF (net/http
		// reads a bare LF there in some cases and not others).
		budget := maxRAPIHeader
		for {
			if p, err := br.Peek(2); err == nil && p[0] == '\r' && p[1] == '\n' {
				br.Discard(2)
				return b, nil
			}
			k, _, err := readHeader(br, &budget)
			if err != nil {
				return nil, err
			}
			if k == nil {
				return nil, errBadRequest // an empty line ended by LF alone
			}
		}
	case r.contentLength > limit:
		return nil, errTooLarge
	case r.contentLength > 0:
		b := make([]byte, r.contentLength)
		_, err := io.ReadFull(br, b)
		return b, err
	}
	return nil, nil
}

const rapiPrefix = "/2018-06-01/runtime/"

// rapiReadTimeout bounds the reading of one request, from its first
// byte to the end of its body. An idle connection has no deadline: the
// runtime keeps it open while its handler runs.
const rapiReadTimeout = 10 * time.Second

// serveConn serves one keep-alive connection of the instance.
func (in *instance) serveConn(c net.Conn) {
	br := bufio.NewReaderSize(c, 4096)
	bw := bufio.NewWriterSize(c, 4096)
	var r rapiRequest
	for {
		if _, err := br.Peek(1); err != nil {
			return
		}
		c.SetReadDeadline(time.Now().Add(cmp.Or(in.readTimeout, rapiReadTimeout)))
		err := readRequest(br, &r)
		if err == nil && r.expect100 {
			bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			bw.Flush()
		}
		var body []byte
		if err == nil {
			body, err = r.body(br, maxPayload)
		}
		c.SetReadDeadline(time.Time{})
		tooLarge := errors.Is(err, errTooLarge)
		switch {
		case errors.Is(err, errBadRequest):
			writeRAPI(bw, 400, "InvalidRequest", "malformed request")
			bw.Flush()
			return
		case errors.Is(err, errHeaderTooLarge):
			writeRAPI(bw, 431, "InvalidRequest", "request header over 16 KiB")
			bw.Flush()
			return
		case err != nil && !tooLarge:
			return
		}
		if !in.route(bw, &r, body, tooLarge) {
			return
		}
		if err := bw.Flush(); err != nil || r.closeConn || tooLarge {
			return
		}
	}
}

// route handles one request; false ends the connection.
func (in *instance) route(bw *bufio.Writer, r *rapiRequest, body []byte, tooLarge bool) bool {
	if len(r.path) < len(rapiPrefix) || r.path[:len(rapiPrefix)] != rapiPrefix {
		writeRAPI(bw, 404, "InvalidRequest", "unknown path "+r.path)
		return true
	}
	rest := r.path[len(rapiPrefix):]
	switch {
	case rest == "invocation/next" && r.method == "GET":
		return in.next(bw)
	case rest == "init/error" && r.method == "POST":
		in.markInitError(string(body))
		writeAccepted(bw)
	case len(rest) > len("invocation/") && rest[:len("invocation/")] == "invocation/" && r.method == "POST":
		rest = rest[len("invocation/"):]
		i := bytes.IndexByte([]byte(rest), '/')
		if i < 0 {
			writeRAPI(bw, 404, "InvalidRequest", "unknown path "+r.path)
			return true
		}
		in.respond(bw, rest[:i], rest[i+1:], r.errorType, body, tooLarge)
	default:
		writeRAPI(bw, 404, "InvalidRequest", "unknown path "+r.path)
	}
	return true
}

func writeAccepted(bw *bufio.Writer) {
	bw.WriteString("HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"status\":\"OK\"}")
}

func writeRAPI(bw *bufio.Writer, code int, typ, msg string) {
	body := errorPayload(typ, msg)
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", code, statusText(code), len(body))
	bw.Write(body)
}

func statusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 413:
		return "Request Entity Too Large"
	case 431:
		return "Request Header Fields Too Large"
	}
	return "Error"
}

// next long-polls for the instance's next invocation.
func (in *instance) next(bw *bufio.Writer) bool {
	in.markReady(protoLambda)
	in.polled.Store(true)
	if in.parked.CompareAndSwap(true, false) {
		in.fr.release(in)
	}
	var inv *invocation
	select {
	case inv = <-in.work:
	case <-in.dead:
		return false
	}
	if in.isDead() {
		// Taken as the instance died: leave it for the gateway to offer
		// to another instance (the channel has room: it held only inv).
		in.work <- inv
		return false
	}
	in.polled.Store(false)
	in.cur.Store(inv)
	bw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: ")
	bw.WriteString(inv.id)
	bw.WriteString("\r\nLambda-Runtime-Deadline-Ms: ")
	var num [20]byte
	bw.Write(strconv.AppendInt(num[:0], inv.deadline.UnixMilli(), 10))
	bw.WriteString("\r\nLambda-Runtime-Invoked-Function-Arn: ")
	bw.WriteString(inv.arn)
	bw.WriteString("\r\nLambda-Runtime-Trace-Id: ")
	bw.WriteString(inv.trace)
	bw.WriteString("\r\nContent-Length: ")
	bw.Write(strconv.AppendInt(num[:0], int64(len(inv.payload)), 10))
	bw.WriteString("\r\n\r\n")
	bw.Write(inv.payload)
	return true
}

func (in *instance) markInitError(body string) {
	if in.cur.Load() == nil {
		select {
		case <-in.readyc:
		default:
			select {
			case in.initErrc <- body:
			default:
			}
			return
		}
	}
	// An init error after init is the runtime giving up: end its invocation.
	if inv := in.cur.Load(); inv != nil {
		inv.finish(invResult{payload: []byte(body), errType: "Runtime.InitError"})
	}
}

// respond takes an invocation's response or error.
func (in *instance) respond(bw *bufio.Writer, id, action, errType string, body []byte, tooLarge bool) {
	inv := in.cur.Load()
	if inv == nil || inv.id != id {
		writeRAPI(bw, 400, "InvalidRequestID", "no invocation in progress with request id "+id)
		return
	}
	var res invResult
	switch action {
	case "response":
	case "error":
		res.errType = errType
		if res.errType == "" {
			res.errType = "Unhandled"
		}
	default:
		writeRAPI(bw, 404, "InvalidRequest", "unknown action "+action)
		return
	}
	if tooLarge {
		res = invResult{errType: "Function.ResponseSizeTooLarge",
			payload: []byte(`{"errorMessage":"Response payload size exceeded maximum allowed payload size (6291556 bytes).","errorType":"Function.ResponseSizeTooLarge"}`)}
		in.cur.CompareAndSwap(inv, nil)
		inv.finish(res)
		writeRAPI(bw, 413, "RequestEntityTooLarge", "response over 6 MB")
		return
	}
	res.payload = body
	in.cur.CompareAndSwap(inv, nil)
	inv.finish(res)
	writeAccepted(bw)
}
