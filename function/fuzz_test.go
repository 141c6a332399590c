package function

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// fuzzMux has a handler of every kind, so every decoder is reached.
func fuzzMux() *Mux {
	var m Mux
	m.HTTP("web", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	m.Queue("jobs", func(context.Context, []Message) ([]string, error) { return nil, nil })
	m.Stream("docs", func(context.Context, []Change) ([]string, error) { return nil, nil })
	m.Storage("files", func(context.Context, Object) error { return nil })
	m.Schedule("tick", func(context.Context, Tick) error { return nil })
	return &m
}

// FuzzLambdaInvoke feeds arbitrary payloads to the Lambda entry: it must
// answer or fail, never panic (Invoke's recover would hide a panic, so
// the handlers here do not panic and a recovered panic fails the test).
func FuzzLambdaInvoke(f *testing.F) {
	for _, s := range []string{sqsEvent, dynamoEvent, urlEvent, `{"Records":[{"eventSource":"aws:s3","s3":{"object":{"key":"%zz"}}}]}`,
		`{"Records":[{"eventSource":"aws:kinesis"}]}`, `{"detail-type":"Scheduled Event","resources":[]}`, `{}`, `null`} {
		f.Add([]byte(s))
	}
	h := NewLambdaHandler(fuzzMux(), "")
	f.Fuzz(func(t *testing.T, payload []byte) {
		_, err := h.Invoke(context.Background(), payload)
		if err != nil && bytes.Contains([]byte(err.Error()), []byte("panicked")) {
			t.Fatalf("panic on %q: %v", payload, err)
		}
	})
}

// FuzzFirestoreProto feeds arbitrary bytes to the protobuf decoder.
func FuzzFirestoreProto(f *testing.F) {
	f.Add(firestorePB([][]byte{pbEntry("a", []byte{0x8a, 0x01, 0x01, 'x'})}, nil))
	f.Add([]byte{0x0a, 0x05, 0x12, 0x03, 0x0a, 0x01, 'k'})
	f.Fuzz(func(t *testing.T, b []byte) {
		firestoreProtoDocs(b)
	})
}

// FuzzAzureEnvelope posts arbitrary bodies as envelopes of every kind.
func FuzzAzureEnvelope(f *testing.F) {
	f.Add("jobs", []byte(`{"Data":{"msg":"x"},"Metadata":{"Id":"1","DequeueCount":"2"}}`))
	f.Add("docs", []byte(`{"Data":{"documents":"[{\"id\":\"a\",\"_lsn\":1}]"}}`))
	f.Add("files", []byte(`{"Data":{"blob":"aGk="},"Metadata":{"BlobTrigger":"c/n","Properties":{"Length":2}}}`))
	f.Add("tick", []byte(`{"Data":{"timer":{}},"Metadata":{"sys":{"UtcNow":"2024-12-01T09:00:00Z"}}}`))
	h := fuzzMux().Handler(&HandlerOptions{Platform: Azure})
	f.Fuzz(func(t *testing.T, key string, body []byte) {
		if key == "" || key[0] == '/' {
			return
		}
		req, err := http.NewRequest("POST", "/"+key, bytes.NewReader(body))
		if err != nil {
			return
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code == 500 && bytes.Contains(w.Body.Bytes(), []byte("panicked")) {
			t.Fatalf("panic on %q %q: %s", key, body, w.Body)
		}
	})
}
