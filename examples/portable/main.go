// Command portable builds one Go function package (./fn, with an HTTP
// route and a queue handler) in the form every target needs — a Lambda
// bootstrap for arm64, a Cloud Functions source zip, an Azure custom
// handler package, a binary for this machine — then deploys it to local://
// twice, once speaking the Lambda Runtime API and once HTTP on $PORT, and
// calls both: an HTTP request, and a queue batch in which one message
// fails alone.
//
// From a clone of the repository:
//
//	go run ./examples/portable
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/localprovider"
	"github.com/updraft-dev/updraft/trigger"
)

func main() {
	if err := run(context.Background(), os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "portable:", err)
		os.Exit(1)
	}
}

// Forms are the artifacts each target deploys, all from the same package.
func forms() []struct {
	Target string
	Form   bundle.Form
} {
	return []struct {
		Target string
		Form   bundle.Form
	}{
		{"awslambda (arm64)", bundle.Form{GoBuild: true, GOOS: "linux", GOARCH: "arm64", Binary: "bootstrap"}},
		{"gcpfunctions (source)", bundle.Form{}},
		{"azurefunctions", bundle.Form{GoBuild: true, GOOS: "linux", GOARCH: "amd64", Binary: "handler", Extra: azureFiles()}},
		{"local", bundle.Form{GoBuild: true, GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, Binary: "bootstrap"}},
	}
}

// azureFiles are the custom-handler files the Azure adapter generates for
// this function's triggers (web: HTTP, jobs: a Storage queue).
func azureFiles() map[string][]byte {
	return map[string][]byte{
		"host.json":          []byte(`{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"handler"},"enableForwardingHttpRequest":true},"extensions":{"http":{"routePrefix":""}},"functionTimeout":"00:00:10"}`),
		"web/function.json":  []byte(`{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["get"],"route":"{*path}"},{"type":"http","direction":"out","name":"res"}]}`),
		"jobs/function.json": []byte(`{"bindings":[{"type":"queueTrigger","direction":"in","name":"msg","queueName":"jobs","connection":"AzureWebJobsStorage"}]}`),
	}
}

func run(ctx context.Context, w io.Writer, args []string) error {
	fs := flag.NewFlagSet("portable", flag.ContinueOnError)
	fs.SetOutput(w)
	dir := fs.String("dir", "", "state directory (default: a temporary directory, removed at the end)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	src, err := functionDir()
	if err != nil {
		return err
	}
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "updraft-portable-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}
	code := bundle.GoFunction(src)

	fmt.Fprintln(w, "one Go package, every form:")
	for _, f := range forms() {
		b, err := bundle.Build(ctx, code, &bundle.Options{Form: f.Form})
		if err != nil {
			return fmt.Errorf("building the %s form: %w", f.Target, err)
		}
		names := make([]string, 0, 4)
		for _, e := range b.Manifest {
			if !strings.HasPrefix(e.Name, "_user/") && !strings.HasPrefix(e.Name, "_updraft/") {
				names = append(names, e.Name)
			}
		}
		fmt.Fprintf(w, "  %-22s %d files, %s: %s\n", f.Target, b.Files, b.Digest[:19], strings.Join(names, " "))
	}

	for _, mode := range []string{"lambda", "http"} {
		name := "portable-" + mode
		fn, err := provider.Open(ctx, "local://"+name+"?dir="+*dir)
		if err != nil {
			return err
		}
		defer fn.Close()
		var host *localprovider.Host
		if !fn.As(&host) {
			return errors.New("local:// function does not expose its host")
		}
		env := map[string]string{"VERSION": "v1"}
		if mode == "http" {
			env["UPDRAFT_RUNTIME"] = "http" // local:// offers both protocols; pick $PORT
		}
		spec := &provider.Spec{Code: code, Runtime: "go", MemoryMB: 128, Timeout: 10 * time.Second, Env: env,
			Triggers: []trigger.Trigger{trigger.HTTP{Key: "web", Auth: trigger.AuthNone}}}
		if _, err := deploy.Rollout(ctx, []*provider.Function{fn}, spec, nil); err != nil {
			return fmt.Errorf("deploying %s: %w", name, err)
		}
		fmt.Fprintf(w, "\nlocal://%s (%s protocol):\n", name, map[string]string{"lambda": "Runtime API", "http": "HTTP on $PORT"}[mode])

		resp, err := http.Get(host.URL(name) + "hello?name=gopher")
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		var g struct{ Message, Version, Platform string }
		if err := json.Unmarshal(body, &g); err != nil {
			return fmt.Errorf("GET /hello answered %d %q: %w", resp.StatusCode, body, err)
		}
		fmt.Fprintf(w, "  GET /hello?name=gopher -> %d %s (version %s, platform %s)\n", resp.StatusCode, g.Message, g.Version, g.Platform)

		if mode == "lambda" {
			// Lambda delivers SQS batches through the Runtime API; the
			// answer names the messages to deliver again.
			res, err := fn.Invoke(ctx, &provider.InvokeOptions{Payload: sqsBatch("job-1", "resize photo", "job-2", "fail: corrupt", "job-3", "send mail")})
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "  SQS batch of 3 -> %s\n", res.Payload)
		}
	}
	return nil
}

// sqsBatch is an SQS event with messages (id, body) pairs.
func sqsBatch(kv ...string) []byte {
	type rec struct {
		MessageID      string `json:"messageId"`
		Body           string `json:"body"`
		EventSource    string `json:"eventSource"`
		EventSourceARN string `json:"eventSourceARN"`
	}
	var ev struct {
		Records []rec `json:"Records"`
	}
	for i := 0; i+1 < len(kv); i += 2 {
		ev.Records = append(ev.Records, rec{kv[i], kv[i+1], "aws:sqs", "arn:aws:sqs:local:000000000000:jobs"})
	}
	b, _ := json.Marshal(ev)
	return b
}

// functionDir finds ./fn from the repository root or from this directory.
func functionDir() (string, error) {
	for _, c := range []string{filepath.Join("examples", "portable", "fn"), "fn"} {
		if fi, err := os.Stat(filepath.Join(c, "fn.go")); err == nil && !fi.IsDir() {
			return c, nil
		}
	}
	return "", errors.New("cannot find the function package: run from the repository root or from examples/portable")
}
