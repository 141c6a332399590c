package function_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/updraft-dev/updraft/function"
)

// TestUnderFunctionsFramework serves a Mux the way the Cloud Functions
// form does — registered with functions-framework-go as the HTTP entry
// point Updraft — and posts it an HTTP request and a structured
// CloudEvent through the framework's own server.
func TestUnderFunctionsFramework(t *testing.T) {
	var m function.Mux
	got := make(chan function.Message, 1)
	m.HTTP("web", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello "+r.URL.Path) }))
	m.Queue("jobs", func(_ context.Context, b []function.Message) ([]string, error) { got <- b[0]; return nil, nil })
	functions.HTTP("Updraft", m.Handler(&function.HandlerOptions{Platform: function.GCP}).ServeHTTP)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	// The framework's server has no way to stop; it ends with the test binary.
	go funcframework.StartHostPort("127.0.0.1", port)
	base := "http://127.0.0.1:" + port + "/Updraft"
	var resp *http.Response
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err = http.Get(base); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "hello /Updraft" {
		t.Errorf("HTTP: %d %q", resp.StatusCode, b)
	}
	ev, err := os.ReadFile("testdata/gcf-events/pubsub_text-cloudevent-input.json")
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Post(base, "application/cloudevents+json", strings.NewReader(string(ev)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("CloudEvent: %d", resp.StatusCode)
	}
	select {
	case msg := <-got:
		if string(msg.Body) != "test message 3" {
			t.Errorf("message %+v", msg)
		}
	default:
		t.Error("the queue handler was not called")
	}
}
