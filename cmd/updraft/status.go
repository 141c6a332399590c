package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/localprovider"
	"github.com/updraft-dev/updraft/service"
)

func statusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "show what is live: revisions, traffic, rollout and lease, verdicts, provisioned readiness",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, ss, err := g.open(cmd.Context())
			if err != nil {
				return g.fail(err)
			}
			defer ss.Close()
			st, err := ss.Status(cmd.Context())
			if err != nil {
				return g.fail(err)
			}
			if err := g.emit(statusOutput{Targets: st}, func(w io.Writer) { printStatus(w, st) }); err != nil {
				return err
			}
			for _, t := range st {
				if t.Error != "" {
					return &exitCodeError{code: exitError}
				}
			}
			return nil
		},
	}
}

func printStatus(w io.Writer, st []*service.TargetStatus) {
	for _, t := range st {
		fmt.Fprintf(w, "%s %s\n", t.Function, t.Target)
		switch {
		case t.Error != "":
			fmt.Fprintf(w, "  error: %s\n", t.Error)
			continue
		case !t.Exists:
			fmt.Fprintln(w, "  not deployed")
			continue
		}
		if t.Endpoint != "" {
			fmt.Fprintf(w, "  endpoint %s\n", t.Endpoint)
		}
		for _, r := range t.Routes {
			traffic := "revision " + r.Stable + " 100%"
			if r.Candidate != "" {
				traffic = fmt.Sprintf("revision %s %d%%, candidate %s %d%%", r.Stable, 100-r.CandidatePercent, r.Candidate, r.CandidatePercent)
			}
			fmt.Fprintf(w, "  route %s: %s\n", r.Name, traffic)
			if r.LastGood != "" || len(r.Failed) > 0 {
				fmt.Fprintf(w, "    last known good %s; failed [%s]\n", orDash(r.LastGood), strings.Join(r.Failed, " "))
			}
			if ro := r.Rollout; ro != nil {
				lease := "no lease"
				if ro.LeaseExpires != nil {
					state := "live"
					if !ro.Live {
						state = "expired: the next rollout resumes or reverts it"
					}
					lease = fmt.Sprintf("lease until %s (%s)", ro.LeaseExpires.UTC().Format(time.RFC3339), state)
				}
				fmt.Fprintf(w, "    rollout %s by %s: %s → %s, step %d at %d%%, %s\n", ro.ID, ro.Holder, ro.Stable, ro.Candidate, ro.Step, ro.Percent, lease)
			}
			if p := r.Provisioned; p != nil {
				fmt.Fprintf(w, "    provisioned %d/%d %s %s\n", p.Ready, p.Requested, p.Status, p.Reason)
			}
		}
		ids := make([]string, len(t.Revisions))
		for i, r := range t.Revisions {
			ids[i] = r.ID
		}
		fmt.Fprintf(w, "  revisions [%s]\n", strings.Join(ids, " "))
	}
}

func invokeCmd(g *globals) *cobra.Command {
	var payload, revision, route string
	cmd := &cobra.Command{
		Use:   "invoke",
		Short: "run the function once on each selected target and print its response",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, ss, err := g.open(cmd.Context())
			if err != nil {
				return g.fail(err)
			}
			defer ss.Close()
			body := []byte(payload)
			if strings.HasPrefix(payload, "@") {
				if body, err = os.ReadFile(payload[1:]); err != nil {
					return g.fail(err)
				}
			}
			out := invokeOutput{}
			var failed error
			for name, fns := range ss.Functions() {
				for _, fn := range fns {
					r := invokeResult{Function: name, Target: fn.Target()}
					res, err := fn.Invoke(cmd.Context(), &provider.InvokeOptions{Payload: body, Revision: revision, Route: route})
					if err != nil {
						r.Error, failed = err.Error(), err
					} else {
						r.Revision, r.Payload, r.FunctionError, r.DurationMS = res.Revision, string(res.Payload), res.FunctionError, res.Duration.Milliseconds()
						if res.FunctionError != "" {
							failed = errors.New("the function reported an error")
						}
					}
					out = append(out, r)
				}
			}
			g.emit(out, func(w io.Writer) {
				for _, r := range out {
					switch {
					case r.Error != "":
						fmt.Fprintf(w, "%s %s: %s\n", r.Function, r.Target, r.Error)
					case r.FunctionError != "":
						fmt.Fprintf(w, "%s %s (revision %s): function error %s: %s\n", r.Function, r.Target, r.Revision, r.FunctionError, r.Payload)
					default:
						fmt.Fprintf(w, "%s %s (revision %s, %d ms): %s\n", r.Function, r.Target, r.Revision, r.DurationMS, r.Payload)
					}
				}
			})
			if failed != nil {
				return &exitCodeError{code: exitError}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&payload, "payload", "{}", "event to send (JSON), or @FILE")
	cmd.Flags().StringVar(&revision, "revision", "", "run this revision directly instead of the route")
	cmd.Flags().StringVar(&route, "route", "", "route to run (default: the function's route)")
	return cmd
}

func logsCmd(g *globals) *cobra.Command {
	var lines int
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "print the functions' logs (local:// today; the clouds' log services are not read yet)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, err := g.load()
			if err != nil {
				return g.fail(err)
			}
			var errs []error
			for _, f := range svc.Functions {
				if len(g.functions) > 0 && !contains(g.functions, f.Name) {
					continue
				}
				for _, t := range f.Targets {
					if len(g.targets) > 0 && !contains(g.targets, t.URL) {
						continue
					}
					if err := printLog(g, f.Name, t.URL, lines); err != nil {
						errs = append(errs, err)
					}
				}
			}
			return g.fail(errors.Join(errs...))
		},
	}
	cmd.Flags().IntVar(&lines, "lines", 100, "how many of the last lines to print (0: all)")
	return cmd
}

// printLog prints the tail of a local:// function's log; other schemes
// are reported as not supported.
func printLog(g *globals, function, target string, lines int) error {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "local" {
		scheme := "this"
		if err == nil {
			scheme = u.Scheme + "://"
		}
		return provider.Errorf(provider.Unimplemented, target, "Logs", "updraft does not read %s logs yet: use the cloud's log service (CloudWatch Logs, Cloud Logging, Application Insights)", scheme)
	}
	dir := u.Query().Get("dir")
	if dir == "" {
		if dir, err = localprovider.DefaultDir(); err != nil {
			return err
		}
	}
	path := filepath.Join(dir, "functions", u.Host, "function.log")
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return provider.Errorf(provider.NotFound, target, "Logs", "no log at %s: the function has not run on this machine yet", path)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	var tail []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		tail = append(tail, sc.Text())
		if lines > 0 && len(tail) > lines {
			tail = tail[1:]
		}
	}
	for _, l := range tail {
		if g.json() { // JSON Lines: one compact object a line
			b, _ := json.Marshal(logLine{Function: function, Target: target, Line: l})
			fmt.Fprintln(g.stdout, g.scrub(string(b)))
			continue
		}
		fmt.Fprintf(g.stdout, "%s | %s\n", function, g.scrub(l))
	}
	return sc.Err()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// confirm asks on a terminal whether to destroy the session's targets;
// without a terminal it refuses, asking for --yes.
func confirm(g *globals, in io.Reader, ss *service.Session) (bool, error) {
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false, usageErr("destroy deletes functions: pass --yes when stdin is not a terminal")
	}
	n := 0
	for _, fns := range ss.Functions() {
		for _, fn := range fns {
			fmt.Fprintf(g.stderr, "  %s\n", fn.Target())
			n++
		}
	}
	fmt.Fprintf(g.stderr, "Destroy these %d functions? Type yes: ", n)
	line, _ := bufio.NewReader(in).ReadString('\n')
	return strings.TrimSpace(line) == "yes", nil
}
