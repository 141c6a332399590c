package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/memprovider"
)

// helloSpec is a small Node.js function; version changes its code and env.
func helloSpec(version string) *provider.Spec {
	return &provider.Spec{
		Code:       bundle.Files(map[string][]byte{"index.js": []byte("exports.handler = async () => 'hello v" + version + "'\n")}),
		Runtime:    "nodejs22",
		Entrypoint: "index.handler",
		Env:        map[string]string{"VERSION": version},
	}
}

var noCache = &provider.BundleOptions{NoCache: true}

func ExamplePlan() {
	ctx := context.Background()
	cloud := memprovider.NewCloud(nil)
	fn, err := cloud.OpenFunction(ctx, "hello")
	if err != nil {
		log.Fatal(err)
	}
	fns := []*provider.Function{fn}
	if _, err := deploy.Apply(ctx, fns, helloSpec("1"), &deploy.ApplyOptions{Bundle: noCache}); err != nil {
		log.Fatal(err)
	}

	// Same code, more memory, a secret reference and a token in env.
	spec := helloSpec("1")
	spec.MemoryMB = 256
	spec.Secrets = map[string]string{"DB_PASSWORD": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db"}
	spec.Env["API_TOKEN"] = "tok-3f9a8b7c6d5e4f3a2b1c"
	plan, err := deploy.Plan(ctx, fns, spec, &deploy.PlanOptions{Bundle: noCache})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(plan)
	fmt.Println("has changes:", plan.HasChanges())
	// Output:
	// mem://hello (route live):
	//   ~ MemoryMB: 128 → 256
	//   + Env[API_TOKEN]: [redacted]
	//   + Secrets[DB_PASSWORD]: [redacted]
	//   + publish a new revision
	//   ~ traffic on route live: 1 → the new revision
	// has changes: true
}

func ExampleRollout() {
	ctx := context.Background()
	cloud := memprovider.NewCloud(nil)
	fn, err := cloud.OpenFunction(ctx, "hello")
	if err != nil {
		log.Fatal(err)
	}
	fns := []*provider.Function{fn}
	if _, err := deploy.Apply(ctx, fns, helloSpec("1"), &deploy.ApplyOptions{Bundle: noCache}); err != nil {
		log.Fatal(err)
	}

	res, err := deploy.Rollout(ctx, fns, helloSpec("2"), &deploy.RolloutOptions{
		Strategy: deploy.Canary(10, 50, 100),
		Gates:    []deploy.Gate{deploy.InvokeGate([]byte(`{}`)), deploy.ErrorRateGate(0.01, 100)},
		Bundle:   noCache,
		OnEvent: func(e deploy.Event) {
			switch e.Kind {
			case deploy.EventShifted:
				fmt.Printf("step %d/%d: %d%% on revision %s\n", e.Step, e.Steps, e.Percent, e.Candidate)
			case deploy.EventGate:
				fmt.Printf("  gate %s: %s\n", e.Gate, e.GateResult)
			case deploy.EventPromoted:
				fmt.Println(e.Message)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("outcome:", res.Outcome)
	// Output:
	// step 1/3: 10% on revision 2
	//   gate invoke: passed
	//   gate error-rate: skipped
	// step 2/3: 50% on revision 2
	//   gate invoke: passed
	//   gate error-rate: skipped
	// step 3/3: 100% on revision 2
	//   gate invoke: passed
	//   gate error-rate: skipped
	// revision 2 serves all traffic on route live
	// outcome: succeeded
}

func ExampleRollout_rollback() {
	ctx := context.Background()
	// Version 2 of the function fails every invocation.
	cloud := memprovider.NewCloud(&memprovider.Options{Handler: func(ctx context.Context, inv *memprovider.Invocation) ([]byte, error) {
		if inv.Env["VERSION"] == "2" {
			return nil, errors.New("TypeError: cannot read properties of undefined")
		}
		return []byte(`"ok"`), nil
	}})
	fn, err := cloud.OpenFunction(ctx, "hello")
	if err != nil {
		log.Fatal(err)
	}
	fns := []*provider.Function{fn}
	if _, err := deploy.Apply(ctx, fns, helloSpec("1"), &deploy.ApplyOptions{Bundle: noCache}); err != nil {
		log.Fatal(err)
	}

	res, err := deploy.Rollout(ctx, fns, helloSpec("2"), &deploy.RolloutOptions{
		Strategy: deploy.BlueGreen(),
		Gates:    []deploy.Gate{deploy.InvokeGate([]byte(`{}`))},
		Bundle:   noCache,
	})
	var ge *deploy.GateError
	if errors.As(err, &ge) {
		fmt.Printf("gate %s failed on %s at step %d (%d%%)\n", ge.Gate, ge.Target, ge.Step, ge.Percent)
	}
	fmt.Println("code:", provider.Code(err))
	fmt.Println("outcome:", res.Outcome)
	st, _ := fn.Get(ctx)
	fmt.Println("live serves revision", st.Routes["live"].Traffic.Stable)
	// Output:
	// gate invoke failed on mem://hello at step 1 (0%)
	// code: FailedPrecondition
	// outcome: rolled-back
	// live serves revision 1
}

func ExamplePrune() {
	ctx := context.Background()
	cloud := memprovider.NewCloud(nil)
	fn, _ := cloud.OpenFunction(ctx, "hello")
	fns := []*provider.Function{fn}
	for _, v := range []string{"1", "2", "3", "4", "5"} {
		if _, err := deploy.Apply(ctx, fns, helloSpec(v), &deploy.ApplyOptions{Bundle: noCache}); err != nil {
			log.Fatal(err)
		}
	}
	res, err := deploy.Prune(ctx, fns, &deploy.PruneOptions{Keep: 2})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("deleted", res.Targets[0].Deleted, "kept", res.Targets[0].Kept)
	// Output:
	// deleted [1 2 3] kept [4 5]
}

// A candidate that answers HTTP 500 is caught by InvokeGate sent an
// HTTPEvent, rolled back and recorded as failed: the same spec is then
// refused, and Rollback goes to the last known good.
func ExampleHTTPEvent() {
	ctx := context.Background()
	cloud := memprovider.NewCloud(&memprovider.Options{Handler: func(ctx context.Context, inv *memprovider.Invocation) ([]byte, error) {
		if inv.Env["VERSION"] == "3" {
			return []byte(`{"statusCode":500,"body":"upstream unavailable"}`), nil
		}
		return []byte(`{"statusCode":200,"body":"ok"}`), nil
	}})
	fn, err := cloud.OpenFunction(ctx, "hello")
	if err != nil {
		log.Fatal(err)
	}
	fns := []*provider.Function{fn}
	if _, err := deploy.Apply(ctx, fns, helloSpec("1"), &deploy.ApplyOptions{Bundle: noCache}); err != nil {
		log.Fatal(err)
	}
	opts := &deploy.RolloutOptions{
		Strategy: deploy.Canary(10),
		Gates:    []deploy.Gate{deploy.InvokeGate(deploy.HTTPEvent("GET", "/health", nil))},
		Bundle:   noCache,
	}
	if _, err := deploy.Rollout(ctx, fns, helloSpec("2"), opts); err != nil {
		log.Fatal(err)
	}
	_, err = deploy.Rollout(ctx, fns, helloSpec("3"), opts)
	var ge *deploy.GateError
	if errors.As(err, &ge) {
		fmt.Println(ge.Err)
	}
	_, err = deploy.Apply(ctx, fns, helloSpec("3"), &deploy.ApplyOptions{Bundle: noCache})
	fmt.Println("apply of version 3:", provider.Code(err))
	st, _ := fn.Get(ctx)
	v := st.Routes[provider.DefaultRoute].Verdicts
	fmt.Printf("last known good %s, failed %v\n", v.Good, v.Failed)
	// Output:
	// smoke invoke of revision 3 answered HTTP 500: upstream unavailable
	// apply of version 3: FailedPrecondition
	// last known good 2, failed [3]
}
