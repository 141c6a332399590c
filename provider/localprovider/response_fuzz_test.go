package localprovider

import (
	"net/http/httptest"
	"testing"
)

// FuzzFunctionResponse feeds arbitrary function results to the mapping
// of function URL responses: it must never panic (net/http's WriteHeader
// panics on a status outside 100 to 999), and it answers with a status of
// 200 to 599 that it also reports for the records.
func FuzzFunctionResponse(f *testing.F) {
	for _, s := range []string{
		`{"statusCode":200,"body":"hi"}`,
		`{"statusCode":1}`, `{"statusCode":42}`, `{"statusCode":1000}`, `{"statusCode":-1}`, `{"statusCode":101}`,
		`{"statusCode":204,"headers":{"X-A":"b","Bad Name":"x","X-B":"a\r\nSet-Cookie: evil"},"cookies":["a=b","c\nd"]}`,
		`{"statusCode":302,"multiValueHeaders":{"Location":["/x"]},"body":"aGk=","isBase64Encoded":true}`,
		`{"statusCode":200,"headers":{"Content-Length":"999","Transfer-Encoding":"chunked"}}`,
		`"just a string"`, `[1,2]`, `{"statusCode":"200"}`, ``, `{`,
	} {
		f.Add([]byte(s), false)
	}
	f.Add([]byte(`{"errorMessage":"boom","errorType":"Custom"}`), true)
	f.Fuzz(func(t *testing.T, payload []byte, fnErr bool) {
		o := outcome{status: StatusOK, payload: payload}
		if fnErr {
			o = outcome{status: StatusError, errType: "Unhandled", payload: payload}
		}
		w := httptest.NewRecorder()
		code := writeLambdaResponse(w, "req-1", &o, "f", "1")
		if code < 200 || code > 599 || w.Code != code {
			t.Fatalf("answered %d, reported %d, for %q", w.Code, code, payload)
		}
		for k, vs := range w.Header() {
			for _, v := range vs {
				if !validHeader(k, v) && k != "Content-Length" && k != "Content-Type" && k != "X-Content-Type-Options" && k != "X-Amzn-Requestid" && k != "X-Amz-Function-Error" {
					t.Fatalf("sent header %q: %q for %q", k, v, payload)
				}
			}
		}
	})
}
