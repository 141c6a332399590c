package azurefunctions_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/azurefunctions"
	"github.com/updraft-dev/updraft/trigger"
)

// The package the adapter deploys runs as an Azure custom handler: the
// handler built from a portable function package serves the forwarded
// HTTP request at its own path and the queue invocation envelope at
// /KEY, as the generated host.json and function.json promise.
func TestDeployedPackageServesTheCustomHandlerContract(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a function")
	}
	e := newEnv(t, azurefunctions.Flex)
	fn := e.open(t, "fn")
	s := &provider.Spec{Code: bundle.GoFunction("./testdata/fnpkg"), Runtime: "go",
		Triggers: []trigger.Trigger{trigger.HTTP{Key: "web"}, trigger.Queue{Key: "jobs", Source: "jobs"}}}
	mustApply(t, fn, s)
	site, _ := e.cloud.Site(rg, "fn", "")
	for _, name := range []string{"handler", "host.json", "web/function.json", "jobs/function.json"} {
		if site.Files[name] == nil {
			t.Fatalf("deployed package lacks %s", name)
		}
	}
	if !strings.Contains(string(site.Files["host.json"]), `"defaultExecutablePath": "handler"`) {
		t.Fatalf("host.json does not start the handler: %s", site.Files["host.json"])
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "handler")
	if err := os.WriteFile(bin, site.Files["handler"], 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.CommandContext(t.Context(), bin)
	cmd.Env = append(os.Environ(), fmt.Sprintf("FUNCTIONS_CUSTOMHANDLER_PORT=%d", port), "UPDRAFT_FUNCTION=fn")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handler did not listen on FUNCTIONS_CUSTOMHANDLER_PORT: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get(base + "/orders/42")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "path=/orders/42" {
		t.Fatalf("forwarded HTTP request: %d %q", resp.StatusCode, b)
	}
	post := func(body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, base+"/jobs", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Azure-Functions-InvocationId", "inv-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(`{"Data":{"msg":"hello"},"Metadata":{"Id":"m1","DequeueCount":"1"}}`); code != 200 || !strings.Contains(body, `"Outputs"`) {
		t.Fatalf("queue invocation: %d %s", code, body)
	}
	if code, _ := post(`{"Data":{"msg":"bad"},"Metadata":{"Id":"m2","DequeueCount":"1"}}`); code < 400 {
		t.Fatalf("a failed message answered %d; the host retries only on an error status", code)
	}
}
