package azurefunctions

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
)

type interaction struct {
	Name, Method, URL, Body string
	Status                  int
	Headers                 map[string]string
}

// replay serves recorded Azure SCM answers, rewritten to its own host,
// and records the requests it got.
type replay struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

func newReplay(t *testing.T, names ...string) *replay {
	b, err := os.ReadFile("../../internal/cloudfake/azurefake/testdata/recorded-scm.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct{ Interactions []interaction }
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	byName := map[string]interaction{}
	for _, it := range fx.Interactions {
		byName[it.Name] = it
	}
	r := &replay{}
	var queue []interaction
	for _, n := range names {
		queue = append(queue, byName[n])
	}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, req)
		r.body = append(r.body, body)
		if len(queue) == 0 {
			r.mu.Unlock()
			http.Error(w, "unexpected request", http.StatusTeapot)
			return
		}
		it := queue[0]
		queue = queue[1:]
		r.mu.Unlock()
		u, _ := url.Parse(it.URL)
		if req.Method != it.Method || req.URL.Path != u.Path {
			http.Error(w, "request "+req.Method+" "+req.URL.Path+" does not match the recording's "+it.Method+" "+u.Path, http.StatusTeapot)
			return
		}
		for k, v := range it.Headers {
			v = strings.ReplaceAll(v, u.Hostname()+":443", req.Host)
			w.Header().Set(k, strings.ReplaceAll(v, u.Hostname(), req.Host))
		}
		w.WriteHeader(it.Status)
		io.WriteString(w, it.Body)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *replay) scm() *scmClient {
	o := (&Options{Transport: r.srv.Client(), PollInterval: time.Millisecond, RetryDelay: time.Millisecond}).withDefaults("app")
	return newSCM(&azfake.TokenCredential{}, &o)
}

func (r *replay) host() string { return strings.TrimPrefix(r.srv.URL, "https://") }

// The driver's OneDeploy and zip deploy requests match the recorded ones
// and it reads the recorded answers to success.
func TestDeployAgainstRecordedAnswers(t *testing.T) {
	zip := []byte("PK\x05\x06" + strings.Repeat("\x00", 18))
	for _, c := range []struct {
		name      string
		oneDeploy bool
		steps     []string
		path      string
		query     url.Values
	}{
		{"flex", true, []string{"flex-publish", "flex-status"}, "/api/publish", url.Values{"RemoteBuild": {"false"}, "Deployer": {"updraft"}}},
		{"premium", false, []string{"zipdeploy", "zipdeploy-status"}, "/api/zipdeploy", url.Values{"isAsync": {"true"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newReplay(t, c.steps...)
			if err := r.scm().deploy(t.Context(), r.host(), "app", zip, c.oneDeploy); err != nil {
				t.Fatalf("deploy against the recorded answers: %v", err)
			}
			if len(r.reqs) != 2 {
				t.Fatalf("%d requests, want the POST and one status poll", len(r.reqs))
			}
			post := r.reqs[0]
			if post.Method != http.MethodPost || post.URL.Path != c.path || post.URL.Query().Encode() != c.query.Encode() {
				t.Errorf("POST %s?%s, want %s?%s", post.URL.Path, post.URL.RawQuery, c.path, c.query.Encode())
			}
			if post.Header.Get("Content-Type") != "application/zip" || post.Header.Get("Authorization") != "Bearer fake_token" || string(r.body[0]) != string(zip) {
				t.Errorf("POST headers %v", post.Header)
			}
			if r.reqs[1].Method != http.MethodGet || !strings.HasPrefix(r.reqs[1].URL.Path, "/api/deployments/") {
				t.Errorf("status poll %s %s", r.reqs[1].Method, r.reqs[1].URL)
			}
		})
	}
}
