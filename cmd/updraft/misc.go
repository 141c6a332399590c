package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/localprovider"
	"github.com/updraft-dev/updraft/service"
	"github.com/updraft-dev/updraft/trigger"
)

func versionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print updraft's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := versionOutput{Version: version(), Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
			return g.emit(v, func(w io.Writer) { fmt.Fprintf(w, "updraft %s (%s, %s)\n", v.Version, v.Go, v.Platform) })
		},
	}
}

func schemaCmd(g *globals) *cobra.Command {
	var of string
	cmd := &cobra.Command{
		Use:   "schema [--of COMMAND]",
		Short: "print the JSON Schema of the spec file (for editors), or of a command's JSON output",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if of == "" {
				_, err := g.stdout.Write(service.Schema())
				return err
			}
			b, err := outputSchema(of)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(g.stdout, string(b))
			return err
		},
	}
	cmd.Flags().StringVar(&of, "of", "", "a command whose --output json to describe (plan, rollout, status, …, or error)")
	return cmd
}

// starter is what updraft init writes: a spec file and a Go function that
// answers HTTP on $PORT, deployed to local:// so plan and deploy work at
// once with no cloud account.
var starter = map[string]string{
	"updraft.yaml": `# updraft spec file: updraft plan, updraft deploy, updraft rollout.
# Schema: updraft schema > updraft.schema.json (editors complete and check the file).
version: 1
functions:
  {{name}}:
    code: {go: ./functions/{{name}}}
    runtime: go
    memory: 128
    timeout: 10s
    env: {GREETING: hello}
    triggers:
      - {kind: http, key: web, auth: none}
    targets:
      - url: local://{{name}}
      # - url: awslambda://{{name}}?region=eu-west-1&role=arn:aws:iam::123456789012:role/{{name}}
rollout:
  strategy: canary
  steps: [10, 100]
  interval: 5s
  gates:
    - invoke: {payload: "{}"}
    - errorRate: {max: 0.05, minInvocations: 5}
`,
	"functions/{{name}}/go.mod": "module {{name}}\n\ngo 1.26\n",
	"functions/{{name}}/main.go": `// Command {{name}} is a function that answers HTTP on $PORT, the protocol
// local:// and Cloud Run speak.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s from {{name}}\n", os.Getenv("GREETING"))
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil))
}
`,
}

// detectRuntime guesses the code form and portable runtime of an existing
// function directory.
func detectRuntime(dir string) (form, rt string, err error) {
	has := func(pattern string) bool {
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		return len(m) > 0
	}
	switch {
	case has("*.go"):
		return "go", "go", nil
	case has("package.json"):
		return "dir", "nodejs22", nil
	case has("requirements.txt"), has("pyproject.toml"), has("*.py"):
		return "dir", "python3.13", nil
	case has("pom.xml"), has("build.gradle"), has("*.jar"):
		return "dir", "java21", nil
	}
	return "", "", provider.Errorf(provider.InvalidArgument, dir, "init", "cannot tell the runtime of %s (no .go, package.json, Python or Java files): write the spec file by hand", dir)
}

// fromSpec is the spec file init writes for an existing function.
const fromSpec = `# updraft spec file for the function in {{code}}.
version: 1
functions:
  {{name}}:
    code: {{{form}}: {{code}}}
    runtime: {{runtime}}
    memory: 128
    timeout: 10s
    targets:
      - url: local://{{name}}
`

func initCmd(g *globals) *cobra.Command {
	var name, from string
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "write a starter updraft.yaml and function that deploy to local:// right away",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			if !funcName(name) {
				return usageErr("--name %q: use lower-case letters, digits and inner hyphens", name)
			}
			if from != "" {
				return initFrom(g, dir, name, from)
			}
			var written []string
			for pattern := range starter {
				p := filepath.Join(dir, filepath.FromSlash(strings.ReplaceAll(pattern, "{{name}}", name)))
				if _, err := os.Stat(p); err == nil {
					return g.fail(provider.Errorf(provider.AlreadyExists, p, "init", "%s exists: init writes only new files; remove it or init another directory", p))
				}
				written = append(written, p)
			}
			slices.Sort(written)
			for pattern, body := range starter {
				p := filepath.Join(dir, filepath.FromSlash(strings.ReplaceAll(pattern, "{{name}}", name)))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					return g.fail(err)
				}
				if err := os.WriteFile(p, []byte(strings.ReplaceAll(body, "{{name}}", name)), 0o644); err != nil {
					return g.fail(err)
				}
			}
			return g.emit(initOutput{Written: written}, func(w io.Writer) {
				fmt.Fprintf(w, "wrote %s/updraft.yaml and %s/functions/%s\nnext: updraft plan, then updraft deploy\n", dir, dir, name)
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "hello", "the function's name")
	cmd.Flags().StringVar(&from, "from", "", "describe an existing function's code directory instead of writing a starter")
	return cmd
}

// initFrom writes DIR/updraft.yaml for the existing code in from.
func initFrom(g *globals, dir, name, from string) error {
	form, rt, err := detectRuntime(from)
	if err != nil {
		return g.fail(err)
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return g.fail(err)
	}
	absFrom, err := filepath.Abs(from)
	if err != nil {
		return g.fail(err)
	}
	rel, err := filepath.Rel(absDir, absFrom)
	if err != nil {
		rel = absFrom
	}
	rel = filepath.ToSlash(rel)
	if !strings.HasPrefix(rel, ".") && !strings.HasPrefix(rel, "/") {
		rel = "./" + rel
	}
	p := filepath.Join(dir, "updraft.yaml")
	if _, err := os.Stat(p); err == nil {
		return g.fail(provider.Errorf(provider.AlreadyExists, p, "init", "%s exists: remove it or init another directory", p))
	}
	body := strings.NewReplacer("{{name}}", name, "{{form}}", form, "{{code}}", rel, "{{runtime}}", rt).Replace(fromSpec)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return g.fail(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		return g.fail(err)
	}
	return g.emit(initOutput{Written: []string{p}, Runtime: rt}, func(w io.Writer) {
		fmt.Fprintf(w, "wrote %s for %s (%s, %s)\nnext: updraft plan, then updraft deploy\n", p, rel, form, rt)
	})
}

func funcName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' && i > 0 && i < len(s)-1
		if !ok {
			return false
		}
	}
	return true
}

func devCmd(g *globals) *cobra.Command {
	var addr, dir string
	var watch time.Duration
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "run the spec file's local:// targets on this machine and keep them serving",
		Long: `dev starts a local:// host with its gateway on a stable address, deploys every
local:// target of the spec file to it, and serves until Ctrl-C: schedules fire
and provisioned instances stay warm. With --watch it deploys again whenever the
code or the spec changes. Other updraft commands, run from another terminal
against the same spec file, see and change what it serves (they share its
state directory).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			svc, err := g.load()
			if err != nil {
				return g.fail(err)
			}
			locals := localTargets(svc, g.targets)
			if len(locals) == 0 {
				return g.fail(provider.Errorf(provider.InvalidArgument, svc.Name, "dev", "no local:// target selected: add - url: local://NAME to a function's targets"))
			}
			if dir, err = stateDir(locals, dir); err != nil {
				return g.fail(err)
			}
			h, err := localprovider.NewHost(ctx, &localprovider.Options{Dir: dir, Addr: addr})
			if err != nil {
				return g.fail(fmt.Errorf("starting the local host on %s: %w (choose another address with --addr)", addr, err))
			}
			defer h.Close()
			ss, err := svc.Open(ctx, &service.OpenOptions{Functions: g.functions, Targets: locals,
				Open: func(ctx context.Context, target string) (*provider.Function, error) {
					u, err := url.Parse(target)
					if err != nil {
						return nil, err
					}
					return h.OpenFunction(ctx, u.Host)
				}})
			if err != nil {
				return g.fail(err)
			}
			defer ss.Close()
			pr := newProgress(g)
			deployOnce := func() error {
				p, err := ss.Plan(ctx, &deploy.PlanOptions{})
				if err != nil {
					return err
				}
				if err := p.Err(); err != nil || !p.HasChanges() {
					return err
				}
				_, err = ss.Apply(ctx, p, &deploy.ApplyOptions{OnEvent: pr.event})
				return err
			}
			if err := deployOnce(); err != nil {
				return g.fail(err)
			}
			printLocalTriggers(g.stdout, h, svc, locals)
			fmt.Fprintf(g.stdout, "serving on %s (state %s); Ctrl-C stops\n", h.Addr(), h.Dir())
			if watch <= 0 {
				<-ctx.Done()
				return nil
			}
			tick := time.NewTicker(watch)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-tick.C:
					if err := deployOnce(); err != nil && !errors.Is(err, context.Canceled) {
						fmt.Fprintf(g.stderr, "updraft dev: %v\n", g.scrub(err.Error()))
					}
				}
			}
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8787", "gateway address")
	cmd.Flags().StringVar(&dir, "dir", "", "state directory for targets without dir= (default: local://'s default, shared with the other commands)")
	cmd.Flags().DurationVar(&watch, "watch", 0, "deploy again when code or configuration changed, checking this often (such as 1s)")
	return cmd
}

// stateDir returns the one state directory the local:// targets name
// (their dir= parameter, else dflt, else local://'s default).
func stateDir(targets []string, dflt string) (string, error) {
	dirs := map[string]bool{}
	for _, t := range targets {
		u, err := url.Parse(t)
		if err != nil {
			return "", err
		}
		d := u.Query().Get("dir")
		if d == "" {
			d = dflt
		}
		if d == "" {
			if d, err = localprovider.DefaultDir(); err != nil {
				return "", err
			}
		}
		abs, err := filepath.Abs(d)
		if err != nil {
			return "", err
		}
		dirs[abs] = true
	}
	if len(dirs) != 1 {
		return "", provider.Errorf(provider.InvalidArgument, "", "dev", "the local:// targets name %d state directories: dev serves one; select targets with --target", len(dirs))
	}
	for d := range dirs {
		return d, nil
	}
	return "", nil
}

// localTargets returns the local:// targets of svc, among selected when
// it is not empty.
func localTargets(svc *service.Service, selected []string) []string {
	var out []string
	for _, f := range svc.Functions {
		for _, t := range f.Targets {
			if u, err := url.Parse(t.URL); err == nil && u.Scheme == "local" && (len(selected) == 0 || contains(selected, t.URL)) {
				out = append(out, t.URL)
			}
		}
	}
	return out
}

// printLocalTriggers says, for each local:// target dev serves, how to
// reach its triggers: the URL of its HTTP trigger, and how to feed its
// queue, stream and storage triggers.
func printLocalTriggers(w io.Writer, h *localprovider.Host, svc *service.Service, locals []string) {
	for _, f := range svc.Functions {
		for _, t := range f.Targets {
			if !contains(locals, t.URL) {
				continue
			}
			u, err := url.Parse(t.URL)
			if err != nil {
				continue
			}
			name := u.Host
			for _, tr := range t.Spec.Triggers {
				switch v := tr.(type) {
				case trigger.HTTP:
					fmt.Fprintf(w, "%s: %s\n", name, h.URL(name))
				case trigger.Queue:
					q := localprovider.QueueName(v.Source)
					fmt.Fprintf(w, "%s: queue %s (updraft queue send %s BODY, or POST http://%s/.updraft/queues/%s)\n", name, q, q, h.Addr(), q)
				case trigger.Stream:
					st := localprovider.StreamName(v.Source)
					fmt.Fprintf(w, "%s: stream %s (updraft stream append %s CHANGE, or POST http://%s/.updraft/streams/%s)\n", name, st, st, h.Addr(), st)
				case trigger.Storage:
					if d, err := h.BucketDir(v.Bucket); err == nil {
						fmt.Fprintf(w, "%s: bucket %s (files in %s)\n", name, localprovider.BucketName(v.Bucket), d)
					}
				case trigger.Schedule:
					fmt.Fprintf(w, "%s: %s\n", name, trigger.Describe(v))
				}
			}
		}
	}
}
