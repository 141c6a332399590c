package localrollout

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/provider/localprovider"
	"github.com/updraft-dev/updraft/trigger"
)

// fnDir holds the test function, built once by TestMain.
var fnDir string

// spec is the test function at version, answering HTTP status.
func spec(version string, status int) *provider.Spec {
	return &provider.Spec{
		Code:     bundle.Dir(fnDir),
		Runtime:  "go",
		MemoryMB: 128,
		Timeout:  10 * time.Second,
		Env:      map[string]string{"VERSION": version, "STATUS": fmt.Sprint(status)},
		Triggers: []trigger.Trigger{trigger.HTTP{Key: "web", Auth: trigger.AuthNone}},
	}
}

// open opens names on local:// in dir, closed at the end of the test.
func open(t testing.TB, dir string, names ...string) []*provider.Function {
	t.Helper()
	var fns []*provider.Function
	for _, n := range names {
		fn, err := provider.Open(context.Background(), "local://"+n+"?dir="+dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fn.Close() })
		fns = append(fns, fn)
	}
	return fns
}

// gates are the built-in gates with their usual settings: a smoke
// request shaped as a function URL event, and the error rate.
func gates() []deploy.Gate {
	return []deploy.Gate{deploy.InvokeGate(deploy.HTTPEvent("GET", "/health", nil)), deploy.ErrorRateGate(0.05, 5)}
}

func opts(s deploy.Strategy, gs ...deploy.Gate) *deploy.RolloutOptions {
	return &deploy.RolloutOptions{Strategy: s, Gates: gs, Holder: "tester@local", Retry: deploy.RetryPolicy{Backoff: time.Millisecond}}
}

func route(t testing.TB, fn *provider.Function) *provider.Route {
	t.Helper()
	st, err := fn.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r := st.Routes[provider.DefaultRoute]
	if r == nil {
		t.Fatalf("%s has no route", fn.Target())
	}
	return r
}

func wantStable(t testing.TB, fn *provider.Function, rev string) {
	t.Helper()
	r := route(t, fn)
	if r.Traffic != (provider.Traffic{Stable: rev}) || r.Marker != nil {
		t.Errorf("%s: traffic %+v marker %+v, want all on %s and no marker", fn.Target(), r.Traffic, r.Marker, rev)
	}
}

// deployV1 applies the healthy version 1 to fns.
func deployV1(t testing.TB, fns []*provider.Function) {
	t.Helper()
	if _, err := deploy.Apply(context.Background(), fns, spec("1", 200), nil); err != nil {
		t.Fatal(err)
	}
}

// waitLeases polls until no marker on fns has a live lease.
func waitLeases(t testing.TB, fns ...*provider.Function) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for _, fn := range fns {
		for {
			m := route(t, fn).Marker
			if m == nil || (!m.Expires().IsZero() && time.Now().After(m.Expires())) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: lease still live: %+v", fn.Target(), m)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// Cases 1 and 2: a candidate whose handler answers 500 is caught at the
// first step and rolled back; its spec then plans as a failed revision
// that Apply and Rollout refuse.
func TestLocalHTTP500IsCaughtAndNeverComesBack(t *testing.T) {
	ctx := t.Context()
	fns := open(t, t.TempDir(), "web")
	deployV1(t, fns)
	res, err := deploy.Rollout(ctx, fns, spec("2", 500), opts(deploy.Canary(10, 50), gates()...))
	var ge *deploy.GateError
	if !errors.As(err, &ge) || ge.Step != 1 || ge.Gate != "invoke" || !strings.Contains(err.Error(), "answered HTTP 500") ||
		!strings.Contains(err.Error(), `"version":"2"`) {
		t.Fatalf("rollout of a 500 candidate: %v", err)
	}
	if res.Outcome != deploy.OutcomeRolledBack {
		t.Errorf("outcome %s", res.Outcome)
	}
	wantStable(t, fns[0], "1")

	p, err := deploy.Plan(ctx, fns, spec("2", 500), nil)
	if err != nil || p.Targets[0].FailedRevision != "2" {
		t.Fatalf("plan: %v\n%s", err, p)
	}
	if _, err := deploy.Apply(ctx, fns, spec("2", 500), nil); provider.Code(err) != provider.FailedPrecondition {
		t.Fatalf("apply of the failed revision: %v", err)
	}
	if _, err := deploy.Rollout(ctx, fns, spec("2", 500), opts(deploy.Canary(10))); provider.Code(err) != provider.FailedPrecondition {
		t.Fatalf("rollout of the failed revision: %v", err)
	}
	wantStable(t, fns[0], "1")
	// The fix rolls out.
	if _, err := deploy.Rollout(ctx, fns, spec("3", 200), opts(deploy.Canary(10), gates()...)); err != nil {
		t.Fatal(err)
	}
	if r := route(t, fns[0]); r.Verdicts == nil || r.Verdicts.Good != "3" || !r.Verdicts.IsFailed("2") {
		t.Errorf("verdicts %+v", r.Verdicts)
	}
}

// Case 3: Rollback goes to the last known good and Prune keeps it.
func TestLocalRollbackAndPruneKeepTheLastGood(t *testing.T) {
	ctx := t.Context()
	fns := open(t, t.TempDir(), "app")
	deployV1(t, fns)
	if _, err := deploy.Rollout(ctx, fns, spec("2", 200), opts(deploy.Canary(10), gates()...)); err != nil {
		t.Fatal(err)
	}
	if _, err := deploy.Rollout(ctx, fns, spec("3", 503), opts(deploy.Canary(10), gates()...)); err == nil {
		t.Fatal("a 503 candidate was promoted")
	}
	if _, err := deploy.Apply(ctx, fns, spec("4", 200), nil); err != nil {
		t.Fatal(err)
	}
	pr, err := deploy.Prune(ctx, fns, &deploy.PruneOptions{Keep: 1})
	if err != nil {
		t.Fatal(err)
	}
	if tp := pr.Targets[0]; fmt.Sprint(tp.Kept) != "[2 4]" || fmt.Sprint(tp.Deleted) != "[1 3]" || tp.Reasons["2"] == "" {
		t.Fatalf("prune: %+v", tp)
	}
	rb, err := deploy.Rollback(ctx, fns, nil)
	if err != nil || rb.Targets[0].To != "2" {
		t.Fatalf("rollback: %+v %v", rb.Targets[0], err)
	}
	wantStable(t, fns[0], "2")
}

// Case 4: a Rollback (with TakeOver) during a rollout wins: the
// rollout's next conditioned write fails and traffic stays where the
// Rollback put it.
func TestLocalRollbackDuringAShift(t *testing.T) {
	ctx := t.Context()
	fns := open(t, t.TempDir(), "app")
	deployV1(t, fns)
	var once sync.Once
	rollbackNow := deploy.Gate{Name: "rollback-now", Check: func(ctx context.Context, in *deploy.GateInput) error {
		once.Do(func() {
			if _, err := deploy.Rollback(ctx, fns, nil); provider.Code(err) != provider.FailedPrecondition {
				t.Errorf("rollback of a live rollout: %v", err)
			}
			if _, err := deploy.Rollback(ctx, fns, &deploy.RollbackOptions{TakeOver: true}); err != nil {
				t.Errorf("rollback with TakeOver: %v", err)
			}
		})
		return nil
	}}
	_, err := deploy.Rollout(ctx, fns, spec("2", 200), opts(deploy.Canary(10, 50), rollbackNow))
	if provider.Code(err) != provider.FailedPrecondition || !strings.Contains(err.Error(), "taken over") {
		t.Fatalf("rollout after the rollback: %v", err)
	}
	wantStable(t, fns[0], "1")
}

// helperEnv makes the test binary a rollout process (see TestMain);
// fnEnv passes it the built function.
const helperEnv, fnEnv = "LOCALROLLOUT_HELPER_DIR", "LOCALROLLOUT_FN_DIR"

// TestMain builds the test function once (the bundle of a directory is
// quick to plan, a Go build is not), or runs the other process of the
// two-process test.
func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		fnDir = os.Getenv(fnEnv)
		os.Exit(helperRollout(dir))
	}
	tmp, err := os.MkdirTemp("", "localrollout-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fnDir = filepath.Join(tmp, "fn")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(fnDir, "bootstrap"), "./testdata/fn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the test function: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// helperRollout is the other OS process of case 5: it rolls out version
// 2 with the default holder and a gate that says so on stdout and then
// waits to be killed.
func helperRollout(dir string) int {
	ctx := context.Background()
	fn, err := provider.Open(ctx, "local://shared?dir="+dir)
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	hold := deploy.Gate{Name: "hold", Check: func(ctx context.Context, in *deploy.GateInput) error {
		fmt.Println("IN-GATE")
		<-ctx.Done()
		return ctx.Err()
	}}
	_, err = deploy.Rollout(ctx, []*provider.Function{fn}, spec("2", 200), &deploy.RolloutOptions{
		Strategy: deploy.Canary(10), Gates: []deploy.Gate{hold}, ID: "r-other-process", Lease: 5 * time.Second, GateTimeout: time.Hour})
	fmt.Println("ERROR", err)
	return 1
}

// Case 5, with two OS processes on one state directory: while the other
// process's rollout holds a live lease, this process's rollout of the
// same spec by the same (default) holder is refused, naming holder,
// rollout and lease expiry; once the other process is killed and its
// lease expires, the next rollout resumes it without TakeOver.
func TestLocalTwoProcessesSameHolder(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	fns := open(t, dir, "shared")
	deployV1(t, fns)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir, fnEnv+"="+fnDir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(out)
	for lines.Scan() && lines.Text() != "IN-GATE" {
		if strings.HasPrefix(lines.Text(), "ERROR") {
			t.Fatalf("other process: %s", lines.Text())
		}
	}

	o := opts(deploy.Canary(10))
	o.Holder = "" // the same default holder as the other process
	_, err = deploy.Rollout(ctx, fns, spec("2", 200), o)
	if provider.Code(err) != provider.FailedPrecondition || !strings.Contains(err.Error(), "rollout r-other-process by ") ||
		!strings.Contains(err.Error(), "lease is live until") {
		t.Fatalf("rollout while the other process holds the route: %v", err)
	}
	if _, err := deploy.Apply(ctx, fns, spec("5", 200), nil); provider.Code(err) != provider.FailedPrecondition {
		t.Fatalf("apply while the other process holds the route: %v", err)
	}
	if _, err := deploy.Rollback(ctx, fns, nil); provider.Code(err) != provider.FailedPrecondition {
		t.Fatalf("rollback while the other process holds the route: %v", err)
	}

	// The other process dies: its lease expires and the next run resumes.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	waitLeases(t, fns...)
	res, err := deploy.Rollout(ctx, fns, spec("2", 200), o)
	if err != nil || res.Targets[0].ResumedAt != 1 || res.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("resume after the holder died: %+v %v", res, err)
	}
	wantStable(t, fns[0], "2")
}

// notFoundOnce answers the first Get with NotFound, as an eventually
// consistent read might.
type notFoundOnce struct {
	driver.Function
	once sync.Once
}

func (n *notFoundOnce) Get(ctx context.Context) (*driver.State, error) {
	first := false
	n.once.Do(func() { first = true })
	if first {
		return nil, driver.NewError(driver.NotFound, "function does not exist (a stale read)")
	}
	return n.Function.Get(ctx)
}

// Case 6: a NotFound while planning an existing function fails the
// rollout instead of "creating" it with no gates.
func TestLocalNotFoundWhilePlanning(t *testing.T) {
	ctx := t.Context()
	fns := open(t, t.TempDir(), "app")
	deployV1(t, fns)
	var host *localprovider.Host
	if !fns[0].As(&host) {
		t.Fatal("no host")
	}
	d, err := host.OpenDriver("app")
	if err != nil {
		t.Fatal(err)
	}
	stale := provider.NewFunction(&notFoundOnce{Function: d})
	t.Cleanup(func() { stale.Close() })
	res, err := deploy.Rollout(ctx, []*provider.Function{stale}, spec("2", 500), opts(deploy.Canary(10), gates()...))
	if provider.Code(err) != provider.AlreadyExists || res.Targets[0].Outcome == deploy.OutcomeCreated {
		t.Fatalf("rollout over a stale NotFound: %v (%+v)", err, res.Targets[0])
	}
	wantStable(t, fns[0], "1")
}

// Case 7: a target created by the rollout is removed when another target
// fails its gate.
func TestLocalNewTargetIsRolledBack(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	fns := open(t, dir, "old", "new")
	deployV1(t, fns[:1])
	failOld := deploy.Gate{Name: "old-fails", Check: func(ctx context.Context, in *deploy.GateInput) error {
		if in.Target == fns[0].Target() {
			return errors.New("synthetic failure")
		}
		return nil
	}}
	res, err := deploy.Rollout(ctx, fns, spec("2", 200), opts(deploy.Canary(10), failOld))
	if err == nil || res.Targets[1].Outcome != deploy.OutcomeRolledBack {
		t.Fatalf("rollout: %v %+v", err, res.Targets[1])
	}
	if _, err := fns[1].Get(ctx); provider.Code(err) != provider.NotFound {
		t.Fatalf("the new target survived the rollback: %v", err)
	}
	wantStable(t, fns[0], "1")
}

// Case 1 through real traffic: requests through the gateway reach a
// candidate at 50% that answers 500; local:// reports the 5xx responses
// (Metrics.HTTP) and ErrorRateGate, which counts them as errors, fails
// the first step, so the candidate is rolled back without an InvokeGate.
func TestLocalErrorRateGateCounts5xx(t *testing.T) {
	ctx := t.Context()
	fns := open(t, t.TempDir(), "api")
	deployV1(t, fns)
	var host *localprovider.Host
	if !fns[0].As(&host) {
		t.Fatal("no host")
	}
	url := host.URL("api")
	traffic := deploy.Gate{Name: "traffic", Check: func(ctx context.Context, in *deploy.GateInput) error {
		for range 60 {
			resp, err := http.Get(url)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return nil
	}}
	res, err := deploy.Rollout(ctx, fns, spec("2", 500), opts(deploy.Canary(50), traffic, deploy.ErrorRateGate(0.05, 5)))
	var ge *deploy.GateError
	t.Log(err)
	if !errors.As(err, &ge) || ge.Gate != "error-rate" || ge.Step != 1 || !strings.Contains(err.Error(), "HTTP 5xx") {
		t.Fatalf("rollout of a 500 candidate with real traffic: %v", err)
	}
	if res.Outcome != deploy.OutcomeRolledBack {
		t.Errorf("outcome %s", res.Outcome)
	}
	wantStable(t, fns[0], "1")
	if r := route(t, fns[0]); !r.Verdicts.IsFailed("2") {
		t.Errorf("verdicts %+v", r.Verdicts)
	}
}
