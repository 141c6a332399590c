package function

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/logs")

// logInvocation is one invocation in each mode, logged through
// NewLogHandler: the records must carry that cloud's correlation fields.
func logInvocation(t *testing.T, p Platform) []byte {
	t.Helper()
	var buf bytes.Buffer
	log := slog.New(NewLogHandler(&buf, &LogOptions{Platform: p, Project: "my-project", Level: slog.LevelDebug}))
	emit := func(ctx context.Context) {
		// Records at a fixed time, so that the golden files are stable.
		at := time.Date(2024, 12, 1, 9, 0, 0, 0, time.UTC)
		h := log.Handler()
		for _, r := range []struct {
			l   slog.Level
			msg string
			as  []slog.Attr
		}{{slog.LevelInfo, "job done", []slog.Attr{slog.String("id", "m-1")}}, {slog.LevelWarn, "slow", nil}, {slog.LevelError, "failed", []slog.Attr{slog.String("err", "boom")}}} {
			rec := slog.NewRecord(at, r.l, r.msg, 0)
			rec.AddAttrs(r.as...)
			if err := h.Handle(ctx, rec); err != nil {
				t.Fatal(err)
			}
		}
		g := h.WithAttrs([]slog.Attr{slog.String("component", "billing")}).WithGroup("order")
		rec := slog.NewRecord(at, slog.LevelDebug, "grouped", 0)
		rec.AddAttrs(slog.Int("qty", 2))
		g.Handle(ctx, rec)
	}
	switch p {
	case AWSLambda:
		var m Mux
		m.Queue("jobs", func(ctx context.Context, _ []Message) ([]string, error) { emit(ctx); return nil, nil })
		if _, err := NewLambdaHandler(&m, "").Invoke(lambdaCtx("8476a536-e9f4-11e8-9739-2dfe598c3fcd", testXRay), []byte(sqsEvent)); err != nil {
			t.Fatal(err)
		}
	default:
		var m Mux
		m.HTTP("web", http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { emit(r.Context()) }))
		req := httptest.NewRequest("GET", "/", nil)
		switch p {
		case GCP:
			req.Header.Set("X-Cloud-Trace-Context", "105445aa7843bc8bf206b12000100000/1;o=1")
			req.Header.Set("Function-Execution-Id", "exec-7")
		case Azure:
			req.Header.Set("X-Azure-Functions-InvocationId", "3f3a5c1e-91b2-4d6e-9a7f-2b8c0d1e4f5a")
			req.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
		default:
			req.Header.Set("X-Request-Id", "local-1")
			req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
		}
		m.Handler(&HandlerOptions{Platform: p}).ServeHTTP(httptest.NewRecorder(), req)
	}
	return buf.Bytes()
}

func TestLogGolden(t *testing.T) {
	for _, p := range []Platform{AWSLambda, GCP, Azure, Local} {
		t.Run(string(p), func(t *testing.T) {
			got := logInvocation(t, p)
			for l := range bytes.SplitSeq(bytes.TrimSpace(got), []byte("\n")) {
				if !json.Valid(l) {
					t.Errorf("not one JSON object per line: %s", l)
				}
			}
			golden := filepath.Join("testdata", "logs", string(p)+".jsonl")
			if *update {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("log records differ from %s:\n got:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func TestLogWithoutInvocation(t *testing.T) {
	var buf bytes.Buffer
	slog.New(NewLogHandler(&buf, &LogOptions{Platform: GCP})).Warn("starting")
	if !strings.Contains(buf.String(), `"severity":"WARNING","message":"starting"`) || strings.Contains(buf.String(), "trace") {
		t.Errorf("%s", buf.String())
	}
}
