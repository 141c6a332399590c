package localprovider

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// FuzzRuntimeAPIRequest checks the Runtime API server's request parser
// against net/http.ReadRequest: whatever it accepts, net/http reads the
// same way (method, path, body, and where the next request starts), so
// the two can never frame one byte stream differently. It may refuse
// more than net/http does.
func FuzzRuntimeAPIRequest(f *testing.F) {
	const p = "POST /2018-06-01/runtime/invocation/abc/response HTTP/1.1\r\nHost: x\r\n"
	for _, s := range []string{
		"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Go-http-client/1.1\r\n\r\n",
		p + "Content-Length: 5\r\n\r\nhello",
		p + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		p + "Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nTrailer-A: b\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		p + "Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		p + "Content-Length: 0\r\nContent-Length: 5\r\n\r\nhello",
		p + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
		p + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		p + "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n{}",
		p + "Lambda-Runtime-Function-Error-Type: Custom.Bad\r\nContent-Length: 2\r\n\r\n{}",
		"POST /2018-06-01/runtime/init/error HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}",
		"GET /a HTTP/1.1\nHost: x\n\n",
		"GET /a?x=%zz HTTP/1.1\r\n\r\n",
		"GET /a b HTTP/1.1\r\n\r\n",
		p + "X: a\r\n b\r\n\r\n",
		p + "Content-Length: 5\r\n\r\nhelloGET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := bytes.NewReader(data)
		br := bufio.NewReaderSize(rd, 4096)
		var r rapiRequest
		if readRequest(br, &r) != nil {
			return
		}
		body, err := r.body(br, 1<<20)
		if err != nil {
			return
		}
		rest := br.Buffered() + rd.Len()

		grd := bytes.NewReader(data)
		gbr := bufio.NewReaderSize(grd, 4096)
		req, err := http.ReadRequest(gbr)
		if err != nil {
			t.Fatalf("accepted a request net/http refuses (%v):\n%q", err, data)
		}
		gbody, err := io.ReadAll(req.Body)
		if err != nil {
			t.Fatalf("accepted a body net/http refuses (%v):\n%q", err, data)
		}
		gpath, _, _ := strings.Cut(req.RequestURI, "?")
		if req.Method != r.method || gpath != r.path || !bytes.Equal(gbody, body) {
			t.Fatalf("read %s %s %q, net/http %s %s %q:\n%q", r.method, r.path, body, req.Method, gpath, gbody, data)
		}
		if grest := gbr.Buffered() + grd.Len(); grest != rest {
			t.Fatalf("the next request starts %d bytes from the end, for net/http %d:\n%q", rest, grest, data)
		}
		if et := req.Header.Get("Lambda-Runtime-Function-Error-Type"); et != r.errorType && len(req.Header["Lambda-Runtime-Function-Error-Type"]) == 1 {
			t.Fatalf("error type %q, net/http %q:\n%q", r.errorType, et, data)
		}
	})
}
