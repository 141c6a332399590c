package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/service"
)

func validateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "check the spec file and every target's limits, without calling any cloud",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, ss, err := g.open(cmd.Context())
			if err != nil {
				return g.fail(err)
			}
			defer ss.Close()
			checks := ss.Validate()
			valid := true
			for _, c := range checks {
				valid = valid && c.Err() == nil
			}
			if err := g.emit(validateOutput{Valid: valid, Targets: checks}, func(w io.Writer) {
				for _, c := range checks {
					if c.Err() != nil {
						fmt.Fprintf(w, "✗ %s %s: %s\n", c.Function, c.Target, c.Error)
					} else {
						fmt.Fprintf(w, "✓ %s %s\n", c.Function, c.Target)
					}
				}
			}); err != nil {
				return err
			}
			if !valid {
				return &exitCodeError{code: exitError}
			}
			return nil
		},
	}
}

func planCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "show what deploy would change on every target (exit 0: none, 2: changes, 1: error)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, ss, err := g.open(cmd.Context())
			if err != nil {
				return g.fail(err)
			}
			defer ss.Close()
			p, err := ss.Plan(cmd.Context(), &deploy.PlanOptions{})
			if err != nil {
				return g.fail(err)
			}
			if out != "" {
				if err := writePlan(g, p, out); err != nil {
					return g.fail(err)
				}
			}
			if err := g.emit(p, func(w io.Writer) { io.WriteString(w, p.String()) }); err != nil {
				return err
			}
			if err := p.Err(); err != nil {
				return &exitCodeError{code: exitError, err: err}
			}
			if p.HasChanges() {
				return &exitCodeError{code: exitChanges}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "save the plan as JSON to this file, for updraft deploy --plan")
	return cmd
}

// writePlan saves p as JSON, atomically.
func writePlan(g *globals, p *service.Plan, path string) error {
	b, err := p.MarshalJSON()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".updraft-plan-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(g.scrub(string(b)) + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func deployCmd(g *globals) *cobra.Command {
	var planFile string
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "apply the spec file to every target (traffic moves at once: use rollout for canaries)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			_, ss, err := g.open(ctx)
			if err != nil {
				return g.fail(err)
			}
			defer ss.Close()
			pr := newProgress(g)
			planOpts := &deploy.PlanOptions{OnEvent: pr.event}
			applyOpts := &deploy.ApplyOptions{OnEvent: pr.event}
			var res []*service.FunctionApply
			if planFile != "" {
				data, err := os.ReadFile(planFile)
				if err != nil {
					return g.fail(err)
				}
				saved, err := service.ReadPlan(data)
				if err != nil {
					return g.fail(err)
				}
				res, err = ss.ApplySaved(ctx, saved, planOpts, applyOpts)
				if err != nil {
					return g.fail(err)
				}
			} else {
				p, err := ss.Plan(ctx, planOpts)
				if err != nil {
					return g.fail(err)
				}
				if err := p.Err(); err != nil {
					return g.fail(err)
				}
				res, err = ss.Apply(ctx, p, applyOpts)
				if err != nil {
					g.emit(deployOutput{Functions: res}, func(io.Writer) {})
					return g.fail(err)
				}
			}
			return g.emit(deployOutput{Functions: res}, func(w io.Writer) {
				for _, f := range res {
					for _, t := range f.Result.Targets {
						switch {
						case t.Unchanged:
							fmt.Fprintf(w, "%s %s: unchanged (revision %s)\n", f.Function, t.Target, t.Revision)
						case t.Created:
							fmt.Fprintf(w, "%s %s: created, revision %s serves\n", f.Function, t.Target, t.Revision)
						default:
							fmt.Fprintf(w, "%s %s: revision %s serves (%d bytes uploaded)\n", f.Function, t.Target, t.Revision, t.UploadedBytes)
						}
					}
				}
			})
		},
	}
	cmd.Flags().StringVar(&planFile, "plan", "", "apply a plan saved by updraft plan --out; refused when stale")
	return cmd
}
