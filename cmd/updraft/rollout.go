package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/service"
)

func rolloutCmd(g *globals) *cobra.Command {
	var (
		strategy, lockstep, holder string
		steps                      []int
		step                       int
		interval                   time.Duration
		invokePayload              string
		errorRate                  float64
		minInvocations             int64
		revert, takeOver           bool
	)
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "roll the spec file out with the rollout policy: new revision, traffic in steps, gates, automatic rollback",
		Long: `rollout publishes a candidate revision on every target without moving traffic,
then shifts traffic to it by the strategy (the file's rollout: policy, which
the flags override), runs the gates after each step and rolls every target
back on a failed gate, a failed shift or Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			svc, ss, err := g.open(ctx)
			if err != nil {
				return g.fail(err)
			}
			defer ss.Close()
			opts, err := svc.Policy()
			if err != nil {
				return g.fail(err)
			}
			if err := overrideStrategy(cmd, opts, strategy, steps, step, interval); err != nil {
				return err
			}
			if cmd.Flags().Changed("invoke") {
				opts.Gates = append(opts.Gates, deploy.InvokeGate([]byte(invokePayload)))
			}
			if cmd.Flags().Changed("error-rate") {
				opts.Gates = append(opts.Gates, deploy.ErrorRateGate(errorRate, minInvocations))
			}
			pr := newProgress(g)
			opts.OnEvent, opts.Holder, opts.Revert, opts.TakeOver = pr.event, holder, revert, takeOver
			ls := svc.Lockstep()
			if lockstep != "" {
				ls = lockstep
			}
			res, err := ss.Rollout(ctx, ls, opts)
			if errors.Is(ctx.Err(), context.Canceled) {
				fmt.Fprintln(g.stderr, "updraft: interrupted: every target was rolled back to its stable revision (see the results)")
			}
			g.emit(rolloutOutput{Functions: res}, func(w io.Writer) { printRollouts(w, res) })
			return g.fail(err)
		},
	}
	f := cmd.Flags()
	f.StringVar(&strategy, "strategy", "", "all-at-once, blue-green, canary or linear (default: the file's policy, else blue-green)")
	f.IntSliceVar(&steps, "steps", nil, "canary percentages, such as 10,50,100")
	f.IntVar(&step, "step", 0, "linear: percentage added every interval")
	f.DurationVar(&interval, "interval", 0, "bake time after each shift, such as 5m")
	f.StringVar(&invokePayload, "invoke", "", "add a smoke-invoke gate with this JSON payload")
	f.Float64Var(&errorRate, "error-rate", 0, "add an error-rate gate failing above this rate (0 to 1)")
	f.Int64Var(&minInvocations, "min-invocations", 10, "with --error-rate: invocations needed before the rate counts")
	f.StringVar(&lockstep, "lockstep", "", "all or function (default: the file's policy, else all)")
	f.StringVar(&holder, "holder", "", "who runs the rollout, recorded in the marker (default $USER@hostname)")
	f.BoolVar(&revert, "revert", false, "revert an interrupted rollout instead of rolling out")
	f.BoolVar(&takeOver, "take-over", false, "resume or revert a rollout whose holder still holds a live lease (only when it is known to be gone)")
	return cmd
}

// overrideStrategy applies the strategy flags to opts.
func overrideStrategy(cmd *cobra.Command, opts *deploy.RolloutOptions, strategy string, steps []int, step int, interval time.Duration) error {
	if cmd.Flags().Changed("interval") {
		opts.Interval = interval
	}
	if strategy == "" && !cmd.Flags().Changed("steps") {
		return nil
	}
	if strategy == "" {
		strategy = "canary"
	}
	switch strategy {
	case "all-at-once":
		opts.Strategy = deploy.AllAtOnce()
	case "blue-green":
		opts.Strategy = deploy.BlueGreen()
	case "canary":
		opts.Strategy = deploy.Canary(steps...)
	case "linear":
		if step <= 0 {
			return usageErr("--strategy linear needs --step")
		}
		opts.Strategy = deploy.Linear(step, opts.Interval)
	default:
		return usageErr("--strategy %q: use all-at-once, blue-green, canary or linear", strategy)
	}
	return nil
}

func printRollouts(w io.Writer, res []*service.FunctionRollout) {
	for _, f := range res {
		if f == nil || f.Result == nil {
			continue
		}
		r := f.Result
		fmt.Fprintf(w, "function %s: rollout %s (%s) %s in %s\n", f.Function, r.ID, r.Strategy.Name, r.Outcome, since(r.Elapsed))
		for _, t := range r.Targets {
			line := fmt.Sprintf("  %s: %s", t.Target, t.Outcome)
			if t.Candidate != "" {
				line += fmt.Sprintf(", revision %s → %s at %d%%", orDash(t.Stable), t.Candidate, t.Percent)
			}
			if t.FailedGate != "" {
				line += ", gate " + t.FailedGate + " failed"
			}
			if t.Failure != "" {
				line += ": " + t.Failure
			}
			fmt.Fprintln(w, line)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func rollbackCmd(g *globals) *cobra.Command {
	var revision, route string
	cmd := &cobra.Command{
		Use:   "rollback",
		Short: "point every target's route back at the last known good revision (or --revision)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, ss, err := g.open(cmd.Context())
			if err != nil {
				return g.fail(err)
			}
			defer ss.Close()
			pr := newProgress(g)
			res, err := ss.Rollback(cmd.Context(), &deploy.RollbackOptions{Revision: revision, Route: route, OnEvent: pr.event})
			g.emit(rollbackOutput{Functions: res}, func(w io.Writer) {
				for _, f := range res {
					if f == nil || f.Result == nil {
						continue
					}
					for _, t := range f.Result.Targets {
						fmt.Fprintf(w, "%s %s: route %s %s → %s\n", f.Function, t.Target, t.Route, orDash(t.From), t.To)
					}
				}
			})
			return g.fail(err)
		},
	}
	cmd.Flags().StringVar(&revision, "revision", "", "revision to serve (default: the last known good)")
	cmd.Flags().StringVar(&route, "route", "", "route to roll back (default: the function's route)")
	return cmd
}

func pruneCmd(g *globals) *cobra.Command {
	var keep int
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "delete old revisions, keeping the newest --keep and every revision in use or last known good",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, ss, err := g.open(cmd.Context())
			if err != nil {
				return g.fail(err)
			}
			defer ss.Close()
			res, err := ss.Prune(cmd.Context(), &deploy.PruneOptions{Keep: keep, DryRun: dryRun})
			g.emit(pruneOutput{Functions: res}, func(w io.Writer) {
				for _, f := range res {
					if f == nil || f.Result == nil {
						continue
					}
					for _, t := range f.Result.Targets {
						verb := "deleted"
						if dryRun {
							verb = "would delete"
						}
						fmt.Fprintf(w, "%s %s: %s [%s], kept [%s]\n", f.Function, t.Target, verb, strings.Join(t.Deleted, " "), strings.Join(t.Kept, " "))
					}
				}
			})
			return g.fail(err)
		},
	}
	cmd.Flags().IntVar(&keep, "keep", 3, "how many of the newest revisions to keep besides those in use")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say what would be deleted, delete nothing")
	return cmd
}

func destroyCmd(g *globals) *cobra.Command {
	var yes, force bool
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "delete every selected function with its routes and the triggers updraft owns",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, ss, err := g.open(cmd.Context())
			if err != nil {
				return g.fail(err)
			}
			defer ss.Close()
			if !yes {
				ok, err := confirm(g, cmd.InOrStdin(), ss)
				if err != nil {
					return err
				}
				if !ok {
					return &exitCodeError{code: exitError, err: errors.New("destroy cancelled")}
				}
			}
			pr := newProgress(g)
			res, err := ss.Destroy(cmd.Context(), &deploy.DestroyOptions{Force: force, OnEvent: pr.event})
			g.emit(destroyOutput{Functions: res}, func(w io.Writer) {
				for _, f := range res {
					if f == nil || f.Result == nil {
						continue
					}
					for _, t := range f.Result.Targets {
						state := "deleted"
						if !t.Deleted {
							state = "did not exist"
						}
						fmt.Fprintf(w, "%s %s: %s\n", f.Function, t.Target, state)
					}
				}
			})
			return g.fail(err)
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask (needed when stdin is not a terminal)")
	cmd.Flags().BoolVar(&force, "force", false, "delete even while a rollout is in progress")
	return cmd
}
