package localprovider

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"strconv"
	"sync"
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

var errBadRequest = errors.New("malformed request")

func readRequest(br *bufio.Reader, r *rapiRequest) error {
	*r = rapiRequest{contentLength: -1}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	line = bytes.TrimRight(line, "\r\n")
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1 {
		return errBadRequest
	}
	r.method = string(line[:sp1])
	path := line[sp1+1 : sp2]
	if q := bytes.IndexByte(path, '?'); q >= 0 {
		path = path[:q]
	}
	r.path = string(path)
	if string(line[sp2+1:]) == "HTTP/1.0" {
		r.closeConn = true
	}
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return errBadRequest
		}
		k, v := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil || n < 0 {
				return errBadRequest
			}
			r.contentLength = n
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			r.chunked = bytes.EqualFold(v, []byte("chunked"))
		case bytes.EqualFold(k, []byte("Expect")):
			r.expect100 = bytes.EqualFold(v, []byte("100-continue"))
		case bytes.EqualFold(k, []byte("Connection")):
			r.closeConn = bytes.EqualFold(v, []byte("close"))
		case bytes.EqualFold(k, []byte("Lambda-Runtime-Function-Error-Type")):
			r.errorType = string(v)
		}
	}
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
			return nil, err
		}
		// The chunked reader stops after the last chunk: skip the trailer
		// section up to its empty line.
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return nil, err
			}
			if len(bytes.TrimRight(line, "\r\n")) == 0 {
				return b, nil
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

// serveConn serves one keep-alive connection of the instance.
func (in *instance) serveConn(c net.Conn) {
	br := bufio.NewReaderSize(c, 4096)
	bw := bufio.NewWriterSize(c, 4096)
	var r rapiRequest
	for {
		if err := readRequest(br, &r); err != nil {
			if errors.Is(err, errBadRequest) {
				writeRAPI(bw, 400, "InvalidRequest", "malformed request")
				bw.Flush()
			}
			return
		}
		if r.expect100 {
			bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			bw.Flush()
		}
		body, err := r.body(br, maxPayload)
		tooLarge := errors.Is(err, errTooLarge)
		if err != nil && !tooLarge {
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
	}
	return "Error"
}

// next long-polls for the instance's next invocation.
func (in *instance) next(bw *bufio.Writer) bool {
	in.markReady(protoLambda)
	var inv *invocation
	select {
	case inv = <-in.work:
	case <-in.dead:
		return false
	}
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
