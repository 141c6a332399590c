package function

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkLambdaSQS measures decoding a two-message SQS batch, calling
// the handler and encoding the batch-failure response.
func BenchmarkLambdaSQS(b *testing.B) {
	var m Mux
	m.Queue("jobs", func(_ context.Context, batch []Message) ([]string, error) { return []string{batch[1].ID}, nil })
	h := NewLambdaHandler(&m, "")
	ctx := lambdaCtx("req", testXRay)
	payload := []byte(sqsEvent)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Invoke(ctx, payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLambdaHTTP measures a function URL event through an
// http.Handler and back.
func BenchmarkLambdaHTTP(b *testing.B) {
	var m Mux
	m.HTTP("web", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true}`))
	}))
	h := NewLambdaHandler(&m, "")
	ctx := lambdaCtx("req", testXRay)
	payload := []byte(urlEvent)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Invoke(ctx, payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCloudEventPubSub measures a binary-mode Pub/Sub CloudEvent
// through the HTTP entry.
func BenchmarkCloudEventPubSub(b *testing.B) {
	var m Mux
	m.Queue("jobs", func(context.Context, []Message) ([]string, error) { return nil, nil })
	h := m.Handler(&HandlerOptions{Platform: GCP})
	body := `{"subscription":"projects/p/subscriptions/s","message":{"messageId":"1","data":"aGVsbG8=","publishTime":"2024-12-01T09:00:00Z"}}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/", strings.NewReader(body))
		req.Header.Set("Ce-Specversion", "1.0")
		req.Header.Set("Ce-Type", cePubSub)
		req.Header.Set("Ce-Source", "//pubsub.googleapis.com/projects/p/topics/jobs")
		req.Header.Set("Ce-Id", "1")
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body)
		}
	}
}
