package bundle_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/bundle"
)

// The portable example's function package, built in every form.
const portableFn = "../examples/portable/fn"

func TestGoFunctionBinaryForms(t *testing.T) {
	cache := t.TempDir()
	src := bundle.GoFunction(portableFn)
	lambda := build(t, src, &bundle.Options{CacheDir: cache, Form: bundle.Form{GoBuild: true, GOOS: "linux", GOARCH: "arm64"}})
	if got := names(lambda); len(got) != 1 || got[0] != "bootstrap" || lambda.Manifest[0].Mode != 0o755 {
		t.Errorf("Lambda form: %v", lambda.Manifest)
	}
	again := build(t, src, &bundle.Options{CacheDir: cache, Form: bundle.Form{GoBuild: true, GOOS: "linux", GOARCH: "arm64"}})
	if again.Digest != lambda.Digest || !again.Cached {
		t.Errorf("rebuild: digest %s cached %v, want %s from the cache", again.Digest, again.Cached, lambda.Digest)
	}
	fresh := build(t, src, &bundle.Options{NoCache: true, Form: bundle.Form{GoBuild: true, GOOS: "linux", GOARCH: "arm64"}})
	if fresh.Digest != lambda.Digest {
		t.Errorf("not reproducible: %s then %s", lambda.Digest, fresh.Digest)
	}
	amd := build(t, src, &bundle.Options{CacheDir: cache, Form: bundle.Form{GoBuild: true, GOOS: "linux", GOARCH: "amd64"}})
	if amd.Digest == lambda.Digest {
		t.Error("amd64 and arm64 gave the same bundle")
	}
	extra := map[string][]byte{"host.json": []byte(`{"version":"2.0"}`), "web/function.json": []byte(`{"bindings":[]}`)}
	az := build(t, src, &bundle.Options{CacheDir: cache, Form: bundle.Form{GoBuild: true, Binary: "handler", Extra: extra}})
	if got := strings.Join(names(az), " "); got != "handler host.json web/function.json" {
		t.Errorf("Azure form: %s", got)
	}
}

func TestGoFunctionRefusals(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"go.mod":      "module example.com/m\n\ngo 1.22\n",
		"main/m.go":   "package main\n\nfunc main() {}\n",
		"lib/l.go":    "package lib\n\nfunc F() {}\n",
		"broken/b.go": "package broken\n\nimport \"example.com/m/missing\"\n\nvar _ = missing.X\n",
	})
	for sub, want := range map[string]string{"main": "is package main", "lib": "does not import github.com/updraft-dev/updraft/function", "broken": "missing", "nowhere": "no such file"} {
		for _, goBuild := range []bool{true, false} {
			_, err := bundle.Build(context.Background(), bundle.GoFunction(filepath.Join(dir, sub)), &bundle.Options{NoCache: true, Form: bundle.Form{GoBuild: goBuild}})
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s (GoBuild %v): %v, want %q", sub, goBuild, err, want)
			}
		}
	}
}

func TestFrameworkVersionIsUpdraftsOwn(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	b := build(t, bundle.GoFunction(portableFn), &bundle.Options{NoCache: true})
	_, files := readZip(t, b)
	line := ""
	for l := range strings.SplitSeq(files["go.mod"], "\n") {
		if strings.Contains(l, "functions-framework-go ") {
			line = strings.TrimSpace(l)
		}
	}
	if line == "" || !strings.Contains(string(mod), line) {
		t.Errorf("the source zip requires %q, updraft's go.mod does not", line)
	}
}

// unzip writes b's files under dir, keeping the executable bit.
func unzip(t *testing.T, b *bundle.Bundle, dir string) {
	t.Helper()
	_, files := readZip(t, b)
	for _, e := range b.Manifest {
		p := filepath.Join(dir, filepath.FromSlash(e.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(files[e.Name]), e.Mode); err != nil {
			t.Fatal(err)
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// lockedBuffer is the output of a running process, safe to read while it
// writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls the output for want, for up to a minute.
func (b *lockedBuffer) waitFor(t *testing.T, want string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !strings.Contains(b.String(), want); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("output lacks %s:\n%s", want, b.String())
			return
		}
	}
}

// start runs a server binary and waits until base answers.
func start(t *testing.T, bin string, env []string, base string) *lockedBuffer {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("output of %s:\n%s", filepath.Base(bin), out.String())
		}
	})
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second)
		if err == nil {
			c.Close()
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s: %v", bin, base, err)
		}
	}
}

func post(t *testing.T, url string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// pubsubCE is a Pub/Sub CloudEvent in binary mode.
func pubsubCE(id, data string) (map[string]string, string) {
	body, _ := json.Marshal(map[string]any{"subscription": "projects/p/subscriptions/s",
		"message": map[string]any{"messageId": id, "data": []byte(data), "publishTime": "2024-12-01T09:00:00Z"}})
	return map[string]string{"Ce-Specversion": "1.0", "Ce-Type": "google.cloud.pubsub.topic.v1.messagePublished",
		"Ce-Source": "//pubsub.googleapis.com/projects/p/topics/jobs", "Ce-Id": id, "Content-Type": "application/json"}, string(body)
}

// TestGCFSourceZipBuildsAsCloudBuildWould unpacks the Cloud Functions
// form, adds the main Google's Go buildpack generates for a package that
// registers with functions-framework-go, builds it offline from the
// module cache and serves an HTTP request and Pub/Sub CloudEvents.
func TestGCFSourceZipBuildsAsCloudBuildWould(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	b := build(t, bundle.GoFunction(portableFn), &bundle.Options{NoCache: true})
	_, files := readZip(t, b)
	for _, want := range []string{"module " + bundle.GCFModule, "replace github.com/updraft-dev/updraft => ./_user"} {
		if !strings.Contains(files["go.mod"], want) {
			t.Errorf("go.mod lacks %q:\n%s", want, files["go.mod"])
		}
	}
	if !strings.Contains(files["updraftfn.go"], `functions.HTTP("Updraft"`) || !strings.Contains(files["updraftfn.go"], "package updraftfn") {
		t.Errorf("root package:\n%s", files["updraftfn.go"])
	}
	if _, ok := files["_user/examples/portable/fn/fn.go"]; !ok {
		t.Error("the user's module is not under _user/")
	}
	again := build(t, bundle.GoFunction(portableFn), &bundle.Options{NoCache: true})
	if again.Digest != b.Digest {
		t.Errorf("source zip not reproducible: %s then %s", b.Digest, again.Digest)
	}
	cache := t.TempDir()
	build(t, bundle.GoFunction(portableFn), &bundle.Options{CacheDir: cache})
	if c := build(t, bundle.GoFunction(portableFn), &bundle.Options{CacheDir: cache}); !c.Cached || c.Digest != b.Digest {
		t.Errorf("unchanged source zip: cached %v, digest %s, want %s from the cache", c.Cached, c.Digest, b.Digest)
	}

	dir := t.TempDir()
	unzip(t, b, dir)
	// The buildpack's main for declarative functions: import the package,
	// start the framework on $PORT (FUNCTION_TARGET picks the entry point).
	writeTree(t, dir, map[string]string{"functions.local/app/main.go": `package main

import (
	"log"
	"os"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	_ "updraft.local/updraftfn"
)

func main() {
	if err := funcframework.Start(os.Getenv("PORT")); err != nil {
		log.Fatal(err)
	}
}
`})
	bin := filepath.Join(t.TempDir(), "app")
	cmd := exec.Command("go", "build", "-o", bin, "./functions.local/app")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false", "GOPROXY=off", "GOSUMDB=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build of the source zip: %v\n%s\ngo.mod:\n%s", err, out, files["go.mod"])
	}
	port := freePort(t)
	base := "http://127.0.0.1:" + port
	out := start(t, bin, []string{"PORT=" + port, "FUNCTION_TARGET=" + bundle.GCFEntryPoint, "K_SERVICE=fn", "UPDRAFT_EVENT_KEY=jobs", "VERSION=gcf", "GOOGLE_CLOUD_PROJECT=proj"}, base)
	req, _ := http.NewRequest("GET", base+"/hello?name=cloud", nil)
	req.Header.Set("X-Cloud-Trace-Context", "105445aa7843bc8bf206b12000100000/1;o=1")
	req.Header.Set("Function-Execution-Id", "exec-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"message":"hello, cloud"`) || !strings.Contains(string(body), `"platform":"gcp"`) {
		t.Errorf("GET /hello: %d %s", resp.StatusCode, body)
	}
	// The function's slog record, in Cloud Logging's structured format.
	out.waitFor(t, `"severity":"INFO","message":"greeting","name":"cloud","trigger":"web","logging.googleapis.com/trace":"projects/proj/traces/105445aa7843bc8bf206b12000100000","logging.googleapis.com/spanId":"0000000000000001","logging.googleapis.com/trace_sampled":true,"logging.googleapis.com/labels":{"execution_id":"exec-1"}}`)
	h, ce := pubsubCE("m-1", "resize")
	if code, out := post(t, base+"/", h, ce); code != 200 {
		t.Errorf("Pub/Sub message: %d %s", code, out)
	}
	h, ce = pubsubCE("m-2", "fail: corrupt")
	if code, out := post(t, base+"/", h, ce); code != 500 {
		t.Errorf("failed Pub/Sub message answered %d %s, want 500 (a nack)", code, out)
	}
}

// TestAzureFormAnswersCustomHandlerRequests runs the Azure form's handler
// binary as the Functions host does and sends it invocation envelopes and
// a forwarded HTTP request.
func TestAzureFormAnswersCustomHandlerRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	extra := map[string][]byte{
		"host.json":          []byte(`{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"handler"},"enableForwardingHttpRequest":true}}`),
		"jobs/function.json": []byte(`{"bindings":[{"type":"queueTrigger","direction":"in","name":"msg","queueName":"jobs"}]}`),
	}
	b := build(t, bundle.GoFunction(portableFn), &bundle.Options{NoCache: true, Form: bundle.Form{GoBuild: true, GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, Binary: "handler", Extra: extra}})
	dir := t.TempDir()
	unzip(t, b, dir)
	port := freePort(t)
	base := "http://127.0.0.1:" + port
	out := start(t, filepath.Join(dir, "handler"), []string{"FUNCTIONS_CUSTOMHANDLER_PORT=" + port}, base)
	hdr := map[string]string{"Content-Type": "application/json", "X-Azure-Functions-InvocationId": "inv-1"}
	envelope := func(text string) string {
		return fmt.Sprintf(`{"Data":{"msg":%q},"Metadata":{"DequeueCount":1,"Id":"q-1","sys":{"MethodName":"jobs","UtcNow":"2024-12-01T09:00:00Z"}}}`, text)
	}
	if code, out := post(t, base+"/jobs", hdr, envelope("resize")); code != 200 || out != `{"Outputs":{},"Logs":["INFO: job done id=q-1 body=resize"],"ReturnValue":null}` {
		t.Errorf("queue envelope: %d %s", code, out)
	}
	if code, out := post(t, base+"/jobs", hdr, envelope("fail: corrupt")); code != 500 || !strings.Contains(out, `"Logs":["WARN: job failed id=q-1","ERROR: function: event handler failed err=message q-1 failed"]`) {
		t.Errorf("failed message: %d %s, want 500 (the host retries)", code, out)
	}
	if code, body := get(t, base+"/hello?name=azure"); code != 200 || !strings.Contains(body, `"platform":"azure"`) {
		t.Errorf("forwarded GET /hello: %d %s", code, body)
	}
	out.waitFor(t, `"msg":"job done","id":"q-1","body":"resize","trigger":"jobs","invocationId":"inv-1"}`)
}

// TestGoFunctionInAnotherModule builds a function whose module is not
// updraft (it requires updraft through a replace to this checkout, as a
// user developing against a local copy would): the binary form compiles
// in the user's module, and the source zip carries updraft's package
// function under _updraft/ and builds offline.
func TestGoFunctionInAnotherModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds programs")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"go.mod": "module example.com/shop\n\ngo 1.26\n\nrequire github.com/updraft-dev/updraft v0.0.0\n\nreplace github.com/updraft-dev/updraft => " + root + "\n",
		"orders/orders.go": `package orders

import (
	"context"
	"net/http"

	"github.com/updraft-dev/updraft/function"
)

func init() {
	function.HTTP("web", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("orders")) }))
	function.Queue("jobs", func(ctx context.Context, b []function.Message) ([]string, error) { return nil, nil })
}
`})
	offline := append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false", "GOPROXY=off", "GOSUMDB=off")
	// -e: the tests of dependencies (aws-lambda-go's need testify) are not
	// in a module cache that only ever built updraft, and need not be.
	tidy := exec.Command("go", "mod", "tidy", "-e")
	tidy.Dir, tidy.Env = dir, offline
	if out, err := tidy.CombinedOutput(); err != nil {
		t.Fatalf("go mod tidy: %v\n%s", err, out)
	}
	src := bundle.GoFunction(filepath.Join(dir, "orders"))
	bin := build(t, src, &bundle.Options{NoCache: true, Form: bundle.Form{GoBuild: true}})
	if got := names(bin); len(got) != 1 || got[0] != "bootstrap" {
		t.Errorf("binary form: %v", got)
	}
	zb := build(t, src, &bundle.Options{NoCache: true})
	_, files := readZip(t, zb)
	for _, want := range []string{"_updraft/go.mod", "_updraft/function/function.go", "_user/go.mod", "_user/orders/orders.go"} {
		if _, ok := files[want]; !ok {
			t.Errorf("source zip lacks %s", want)
		}
	}
	for name := range files {
		if strings.HasPrefix(name, "_updraft/") && (strings.HasSuffix(name, "_test.go") || strings.Contains(name, "testdata/") || strings.Contains(name, "provider/")) {
			t.Errorf("source zip carries %s", name)
		}
	}
	if !strings.Contains(files["go.mod"], "replace github.com/updraft-dev/updraft => ./_updraft") || !strings.Contains(files["go.mod"], "replace example.com/shop => ./_user") {
		t.Errorf("go.mod:\n%s", files["go.mod"])
	}
	out := t.TempDir()
	unzip(t, zb, out)
	writeTree(t, out, map[string]string{"functions.local/app/main.go": "package main\n\nimport (\n\t\"github.com/GoogleCloudPlatform/functions-framework-go/funcframework\"\n\n\t_ \"updraft.local/updraftfn\"\n)\n\nfunc main() { funcframework.Start(\"8080\") }\n"})
	gb := exec.Command("go", "build", "-o", filepath.Join(t.TempDir(), "app"), "./functions.local/app")
	gb.Dir, gb.Env = out, offline
	if o, err := gb.CombinedOutput(); err != nil {
		t.Fatalf("go build of the source zip: %v\n%s\ngo.mod:\n%s", err, o, files["go.mod"])
	}
}
