package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes of run. plan exits exitChanges when the plan has changes,
// like terraform plan -detailed-exitcode; a bad command line is
// exitUsage, never 2, so a CI script cannot take a typo for changes.
const (
	exitOK      = 0
	exitError   = 1  // the command failed
	exitChanges = 2  // plan: there are changes
	exitUsage   = 64 // bad command line (sysexits EX_USAGE)
)

// exitError carries a command's exit code through cobra.
type exitCodeError struct {
	code int
	err  error // already reported when nil
}

func (e *exitCodeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitCodeError) Unwrap() error { return e.err }

// usageErr is a bad command line.
func usageErr(format string, args ...any) error {
	return &exitCodeError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// run runs the CLI with args (without the program name) and returns the
// process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if len(args) == 0 {
		root.SetOut(stderr)
		root.Usage()
		return exitUsage
	}
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ce *exitCodeError
	if errors.As(err, &ce) {
		if ce.err != nil {
			fmt.Fprintf(stderr, "updraft: %s\n", g.scrub(unprefixed(ce.err.Error())))
		}
		return ce.code
	}
	msg := err.Error()
	fmt.Fprintf(stderr, "updraft: %s\n", g.scrub(unprefixed(msg)))
	if isUsage(msg) {
		return exitUsage
	}
	return exitError
}

// unprefixed drops the "updraft: " the library's errors start with, so
// the CLI says it once.
func unprefixed(msg string) string { return strings.TrimPrefix(msg, "updraft: ") }

// isUsage recognises cobra's own command-line errors, which it returns
// as plain errors.
func isUsage(msg string) bool {
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "flag needs an argument",
		"invalid argument", "accepts ", "requires at least", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "updraft",
		Short: "Deploy serverless functions to AWS Lambda, Google Cloud Functions, Azure Functions and local://",
		Long: `updraft plans, deploys and rolls out the functions described in a spec file
(updraft.yaml) to every target it names: awslambda://, gcpfunctions://,
azurefunctions://, local:// (this machine) and mem:// (tests).

Exit codes: 0 success; 1 failure; 2 (plan only) there are changes; 64 bad command line.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	root.SetVersionTemplate("updraft {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVar(&g.specPath, "spec", "", "spec file (default updraft.yaml, else updraft.json, in the current directory)")
	pf.StringVar(&g.output, "output", "text", "output format: text or json")
	pf.StringSliceVar(&g.functions, "function", nil, "select functions by name (repeat or comma-separate)")
	pf.StringSliceVar(&g.targets, "target", nil, "select targets by URL (repeat or comma-separate)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if g.output != "text" && g.output != "json" {
			return usageErr("--output %q: use text or json", g.output)
		}
		return nil
	}
	root.AddCommand(
		initCmd(g), validateCmd(g), planCmd(g), deployCmd(g), rolloutCmd(g), rollbackCmd(g),
		statusCmd(g), invokeCmd(g), logsCmd(g), pruneCmd(g), destroyCmd(g), devCmd(g),
		bundleCmd(g), schemaCmd(g), versionCmd(g), queueCmd(g),
	)
	return root
}

// bundleCmd wraps the bundle command, which parses its own flags.
func bundleCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:                "bundle [--go] [--arch arm64|amd64] [-o out.zip] [--output json] PATH",
		Short:              "build a reproducible zip of a function's code",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := runBundle(cmd.Context(), args, g.stdout, g.stderr); code != exitOK {
				return &exitCodeError{code: code}
			}
			return nil
		},
	}
}
