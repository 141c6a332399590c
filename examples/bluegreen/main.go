// Command bluegreen shows updraft's progressive rollouts on the in-memory
// mem:// provider, with no cloud account: a canary of a broken version
// that fails its gate and is rolled back on every region (and is then
// refused as a known-failed revision), then a canary of a fixed version
// that succeeds, and a prune that says why it kept each revision. It
// prints a transcript and exits 0.
//
//	go run ./examples/bluegreen
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/memprovider"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// checkout is the function's spec at a version. Version 2 has a bug.
func checkout(version string) *provider.Spec {
	return &provider.Spec{
		Code:       bundle.Files(map[string][]byte{"index.js": []byte("exports.handler = async (e) => ({ ok: true, v: '" + version + "' })\n")}),
		Runtime:    "nodejs22",
		Entrypoint: "index.handler",
		MemoryMB:   256,
		Env:        map[string]string{"VERSION": version},
		Secrets:    map[string]string{"STRIPE_KEY": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stripe"},
	}
}

// handler plays the function's code: the second version fails.
func handler(ctx context.Context, inv *memprovider.Invocation) ([]byte, error) {
	if inv.Env["VERSION"] == "2" {
		return nil, errors.New("TypeError: cannot read properties of undefined (reading 'total')")
	}
	return []byte(`{"ok":true}`), nil
}

func run(ctx context.Context, w io.Writer) error {
	cloud := memprovider.NewCloud(&memprovider.Options{Handler: handler, Seed: 1})
	var fns []*provider.Function
	for _, region := range []string{"checkout-eu", "checkout-us", "checkout-ap"} {
		fn, err := cloud.OpenFunction(ctx, region)
		if err != nil {
			return err
		}
		defer fn.Close()
		fns = append(fns, fn)
	}
	bopts := &provider.BundleOptions{NoCache: true}

	section(w, "Deploy version 1 to three regions")
	res, err := deploy.Apply(ctx, fns, checkout("1"), &deploy.ApplyOptions{Bundle: bopts})
	if err != nil {
		return err
	}
	for _, t := range res.Targets {
		fmt.Fprintf(w, "%s: revision %s live\n", t.Target, t.Revision)
	}

	section(w, "Plan version 2")
	plan, err := deploy.Plan(ctx, fns[:1], checkout("2"), &deploy.PlanOptions{Bundle: bopts})
	if err != nil {
		return err
	}
	fmt.Fprint(w, plan)

	opts := func() *deploy.RolloutOptions {
		return &deploy.RolloutOptions{
			Strategy: deploy.Canary(10, 50, 100),
			Interval: 10 * time.Millisecond,
			Gates: []deploy.Gate{
				deploy.InvokeGate([]byte(`{"cart":"c-42"}`)),
				deploy.ErrorRateGate(0.02, 50),
			},
			Holder: "example@bluegreen",
			Bundle: bopts,
			// While the candidate bakes, send it real traffic through the
			// route, so the error-rate gate has something to judge.
			OnEvent: func(e deploy.Event) {
				transcript(w, e)
				if e.Kind == deploy.EventShifted && e.Percent > 0 {
					for _, fn := range fns {
						if fn.Target() == e.Target {
							for range 200 {
								fn.Invoke(ctx, &provider.InvokeOptions{Payload: []byte(`{}`)})
							}
						}
					}
				}
			},
		}
	}

	section(w, "Canary of version 2 (broken)")
	rr, err := deploy.Rollout(ctx, fns, checkout("2"), opts())
	if err == nil {
		return errors.New("the broken version was promoted")
	}
	var ge *deploy.GateError
	if errors.As(err, &ge) {
		fmt.Fprintf(w, "=> %s: gate %q failed at step %d (%d%%): rolled back everywhere (code %s)\n",
			ge.Target, ge.Gate, ge.Step, ge.Percent, provider.Code(err))
	}
	summary(w, rr)
	if err := live(ctx, w, fns); err != nil {
		return err
	}

	section(w, "Version 2 again: recorded as failed on every region")
	plan, err = deploy.Plan(ctx, fns[:1], checkout("2"), &deploy.PlanOptions{Bundle: bopts})
	if err != nil {
		return err
	}
	fmt.Fprint(w, plan)
	if _, err := deploy.Apply(ctx, fns, checkout("2"), &deploy.ApplyOptions{Bundle: bopts}); err != nil {
		fmt.Fprintf(w, "=> Apply refuses it (code %s) unless AllowFailedRevision is set\n", provider.Code(err))
	} else {
		return errors.New("the failed version was applied")
	}

	section(w, "Canary of version 3 (fixed)")
	rr, err = deploy.Rollout(ctx, fns, checkout("3"), opts())
	if err != nil {
		return fmt.Errorf("the fixed version did not roll out: %w", err)
	}
	summary(w, rr)
	if err := live(ctx, w, fns); err != nil {
		return err
	}

	section(w, "Prune: keep the newest revision and whatever is live")
	pr, err := deploy.Prune(ctx, fns, &deploy.PruneOptions{Keep: 1})
	if err != nil {
		return err
	}
	for _, t := range pr.Targets {
		fmt.Fprintf(w, "%s: deleted %v, kept %v\n", t.Target, t.Deleted, t.Kept)
		for _, id := range t.Kept {
			fmt.Fprintf(w, "   kept %s: %s\n", id, t.Reasons[id])
		}
	}
	return nil
}

func section(w io.Writer, title string) {
	fmt.Fprintf(w, "\n== %s\n", title)
}

// transcript prints the rollout's events without timings.
func transcript(w io.Writer, e deploy.Event) {
	switch e.Kind {
	case deploy.EventPlanned, deploy.EventApplied, deploy.EventUnchanged:
		return
	}
	line := fmt.Sprintf("  %-9s", e.Kind)
	if e.Target != "" {
		line += " " + e.Target
	}
	if e.Steps > 0 {
		line += fmt.Sprintf(" step %d/%d (%d%%)", e.Step, e.Steps, e.Percent)
	}
	if e.Gate != "" {
		line += fmt.Sprintf(" gate %s: %s", e.Gate, e.GateResult)
	}
	if e.Message != "" && e.Kind != deploy.EventShifted {
		line += " — " + e.Message
	}
	fmt.Fprintln(w, strings.TrimRight(line, " "))
}

func summary(w io.Writer, r *deploy.RolloutResult) {
	fmt.Fprintf(w, "=> outcome %s\n", r.Outcome)
	for _, t := range r.Targets {
		fmt.Fprintf(w, "   %s: %s (stable %s, candidate %s, candidate at %d%%)\n", t.Target, t.Outcome, t.Stable, t.Candidate, t.Percent)
	}
}

func live(ctx context.Context, w io.Writer, fns []*provider.Function) error {
	for _, fn := range fns {
		st, err := fn.Get(ctx)
		if err != nil {
			return err
		}
		r := st.Routes[provider.DefaultRoute]
		fmt.Fprintf(w, "   %s: route live serves revision %s (rollout marker: %v)\n", fn.Target(), r.Traffic.Stable, r.Marker != nil)
	}
	return nil
}
