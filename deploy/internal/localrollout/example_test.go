package localrollout

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
)

// A candidate whose HTTP handler answers 500 is caught by the built-in
// gates at the first step of a canary on local:// and rolled back; the
// same spec is then refused as a known-failed revision.
func Example_http500RolledBack() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "localrollout-")
	defer os.RemoveAll(dir)
	fn, err := provider.Open(ctx, "local://shop?dir="+dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fn.Close()
	fns := []*provider.Function{fn}
	if _, err := deploy.Apply(ctx, fns, spec("1", 200), nil); err != nil {
		fmt.Println(err)
		return
	}
	res, err := deploy.Rollout(ctx, fns, spec("2", 500), &deploy.RolloutOptions{
		Strategy: deploy.Canary(10, 50),
		Gates:    []deploy.Gate{deploy.InvokeGate(deploy.HTTPEvent("GET", "/", nil)), deploy.ErrorRateGate(0.05, 5)},
	})
	var ge *deploy.GateError
	if errors.As(err, &ge) {
		fmt.Printf("gate %s failed at step %d (%d%%): %s\n", ge.Gate, ge.Step, ge.Percent, ge.Err)
	}
	st, _ := fn.Get(ctx)
	live := st.Routes[provider.DefaultRoute]
	fmt.Printf("outcome %s; revision %s serves the route; failed revisions %v\n", res.Outcome, live.Traffic.Stable, live.Verdicts.Failed)
	_, err = deploy.Apply(ctx, fns, spec("2", 500), nil)
	fmt.Println("apply of the same spec:", provider.Code(err))
	// Output:
	// gate invoke failed at step 1 (10%): smoke invoke of revision 2 answered HTTP 500: {"version":"2","path":"/"}
	// outcome rolled-back; revision 1 serves the route; failed revisions [2]
	// apply of the same spec: FailedPrecondition
}
