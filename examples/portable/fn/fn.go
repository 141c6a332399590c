// Package fn is the portable example's function: one Go library package,
// with an HTTP route and a queue handler, that runs unchanged on AWS
// Lambda, Cloud Functions, Azure Functions and local://. It has no main:
// the bundler (bundle.GoFunction) writes the one each target needs.
package fn

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/updraft-dev/updraft/function"
)

func init() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", hello)
	mux.HandleFunc("GET /{$}", hello)
	function.HTTP("web", mux)
	function.Queue("jobs", jobs)
}

type greeting struct {
	Message   string `json:"message"`
	Version   string `json:"version,omitempty"`
	Platform  string `json:"platform"`
	RequestID string `json:"requestId,omitempty"`
	TraceID   string `json:"traceId,omitempty"`
}

func hello(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" {
		name = "world"
	}
	in, _ := function.FromContext(r.Context())
	slog.InfoContext(r.Context(), "greeting", "name", name)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(greeting{Message: "hello, " + name, Version: os.Getenv("VERSION"),
		Platform: string(in.Platform), RequestID: in.RequestID, TraceID: in.Trace.TraceID})
}

// jobs handles a batch of jobs; a job whose body contains "fail" fails
// alone, and the cloud delivers it again.
func jobs(ctx context.Context, batch []function.Message) ([]string, error) {
	var failed []string
	for _, m := range batch {
		if strings.Contains(string(m.Body), "fail") {
			slog.WarnContext(ctx, "job failed", "id", m.ID)
			failed = append(failed, m.ID)
			continue
		}
		slog.InfoContext(ctx, "job done", "id", m.ID, "body", string(m.Body))
	}
	return failed, nil
}
