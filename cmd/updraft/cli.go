package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/service"

	// The adapters register their URL schemes.
	_ "github.com/updraft-dev/updraft/provider/awslambda"
	_ "github.com/updraft-dev/updraft/provider/azurefunctions"
	_ "github.com/updraft-dev/updraft/provider/gcpfunctions"
	_ "github.com/updraft-dev/updraft/provider/localprovider"
	_ "github.com/updraft-dev/updraft/provider/memprovider"
)

// globals are the flags every command shares, and the output streams.
type globals struct {
	specPath  string
	output    string
	functions []string
	targets   []string

	stdout, stderr io.Writer

	mu      sync.Mutex
	secrets []string // secret references and sensitive env values, never printed
	emitted bool     // a JSON result was written: a failure adds no error object
}

func (g *globals) json() bool { return g.output == "json" }

// specFile returns the spec file to read: --spec, else updraft.yaml, else
// updraft.json.
func (g *globals) specFile() (string, error) {
	if g.specPath != "" {
		return g.specPath, nil
	}
	for _, name := range []string{"updraft.yaml", "updraft.yml", "updraft.json"} {
		if _, err := os.Stat(name); err == nil {
			return name, nil
		}
	}
	return "", provider.Errorf(provider.FailedPrecondition, "", "spec", "no spec file (updraft.yaml or updraft.json) here: run updraft init, or name one with --spec")
}

// load reads and checks the spec file.
func (g *globals) load() (*service.Service, error) {
	path, err := g.specFile()
	if err != nil {
		return nil, err
	}
	svc, err := service.Load(path, nil)
	if err != nil {
		return nil, err
	}
	g.remember(svc)
	return svc, nil
}

// remember notes the values output must never show: env values that look
// like secrets (Load refuses them in the file, so these come only from a
// program that built the Service itself). Secret references are not
// secrets: plans show them.
func (g *globals) remember(svc *service.Service) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, f := range svc.Functions {
		for _, t := range f.Targets {
			for k, v := range t.Spec.Env {
				if deploy.SensitiveEnv(k, v) && len(v) >= 4 {
					g.secrets = append(g.secrets, v)
				}
			}
		}
	}
}

// scrub replaces every remembered secret in s.
func (g *globals) scrub(s string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, v := range g.secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

// open loads the spec file and opens the selected targets.
func (g *globals) open(ctx context.Context) (*service.Service, *service.Session, error) {
	svc, err := g.load()
	if err != nil {
		return nil, nil, err
	}
	ss, err := svc.Open(ctx, &service.OpenOptions{Functions: g.functions, Targets: g.targets})
	if err != nil {
		return nil, nil, err
	}
	return svc, ss, nil
}

// emit writes v as indented JSON on stdout (scrubbed), or calls text.
func (g *globals) emit(v any, text func(w io.Writer)) error {
	if g.json() {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		g.mu.Lock()
		g.emitted = true
		g.mu.Unlock()
		_, err = fmt.Fprintln(g.stdout, g.scrub(string(b)))
		return err
	}
	var sb strings.Builder
	text(&sb)
	_, err := io.WriteString(g.stdout, g.scrub(sb.String()))
	return err
}

// fail reports err as the command's failure: in JSON mode, when the
// command wrote no result, as an error object on stdout too, so a pipeline
// reading JSON sees it (a result, such as a rolled-back rollout, says what
// failed itself).
func (g *globals) fail(err error) error {
	if err == nil {
		return nil
	}
	g.mu.Lock()
	emitted := g.emitted
	g.mu.Unlock()
	if g.json() && !emitted {
		var out errorOutput
		out.Error.Code, out.Error.Message = provider.Code(err).String(), err.Error()
		b, _ := json.Marshal(out)
		fmt.Fprintln(g.stdout, g.scrub(string(b)))
	}
	return &exitCodeError{code: exitError, err: err}
}

// progress renders deploy events: one plain line each in CI or when
// stderr is not a terminal (with GitHub Actions annotations for failures
// and promotions), a live per-target view otherwise.
type progress struct {
	g      *globals
	w      io.Writer
	github bool
	live   bool

	mu    sync.Mutex
	lines map[string]string
	order []string
	drawn int
}

func newProgress(g *globals) *progress {
	p := &progress{g: g, w: g.stderr, github: os.Getenv("GITHUB_ACTIONS") == "true", lines: map[string]string{}}
	if f, ok := g.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && os.Getenv("CI") == "" {
		p.live = true
	}
	return p
}

// event is a deploy OnEvent callback.
func (p *progress) event(e deploy.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := p.g.scrub(e.String())
	if e.Err != nil && !strings.Contains(line, e.Err.Error()) {
		line += ": " + p.g.scrub(e.Err.Error())
	}
	if !p.live {
		fmt.Fprintln(p.w, line)
		p.annotate(e)
		return
	}
	key := e.Target
	if key == "" {
		key = "(rollout)"
	}
	if _, ok := p.lines[key]; !ok {
		p.order = append(p.order, key)
	}
	p.lines[key] = line
	// Redraw the block of per-target lines in place.
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA", p.drawn)
	}
	width := 0
	if f, ok := p.w.(*os.File); ok {
		width, _, _ = term.GetSize(int(f.Fd()))
	}
	for _, k := range p.order {
		l := p.lines[k]
		if r := []rune(l); width > 1 && len(r) >= width {
			l = string(r[:width-2]) + "…" // a wrapped line would break the redraw
		}
		fmt.Fprintf(p.w, "\x1b[2K%s\n", l)
	}
	p.drawn = len(p.order)
}

// annotate writes GitHub Actions workflow commands for the events a
// reviewer must see.
func (p *progress) annotate(e deploy.Event) {
	if !p.github {
		return
	}
	esc := func(s string) string {
		return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(p.g.scrub(s))
	}
	switch {
	case e.Kind == deploy.EventFailed || e.GateResult == deploy.GateFailed:
		msg := e.Message
		if e.Err != nil {
			msg = e.Err.Error()
		}
		fmt.Fprintf(p.w, "::error title=updraft %s::%s\n", e.Kind, esc(e.Target+": "+msg))
	case e.Kind == deploy.EventRollback:
		fmt.Fprintf(p.w, "::warning title=updraft rollback::%s\n", esc(e.Target+": "+e.Message))
	case e.Kind == deploy.EventPromoted:
		fmt.Fprintf(p.w, "::notice title=updraft promoted::%s\n", esc(fmt.Sprintf("%s: revision %s serves 100%%", e.Target, e.Candidate)))
	}
}

// version is the module version the binary was built from.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// since formats a duration for text output.
func since(d time.Duration) string { return d.Round(time.Millisecond).String() }

// withSession makes a cobra RunE that loads the spec file, opens the
// selected targets, runs f and closes them; an error opening them is the
// command's failure.
func (g *globals) withSession(f func(cmd *cobra.Command, svc *service.Service, ss *service.Session) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		svc, ss, err := g.open(cmd.Context())
		if err != nil {
			return g.fail(err)
		}
		defer ss.Close()
		return f(cmd, svc, ss)
	}
}
