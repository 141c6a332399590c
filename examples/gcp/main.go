// Command gcp deploys a Go function to Google Cloud Functions (2nd gen)
// with updraft and rolls each new version out as a canary through Cloud
// Run traffic (10%, 50%, 100%), with a smoke invoke of the candidate
// through its tag URL and a Cloud Monitoring error-rate gate, rolling
// back automatically if a gate fails.
//
// It needs Application Default Credentials (gcloud auth
// application-default login, or GOOGLE_APPLICATION_CREDENTIALS naming a
// service account key; the smoke invoke needs an ID token, so use a
// service account), a project with the Cloud Functions, Cloud Build,
// Cloud Run and Cloud Monitoring APIs enabled, and permission to deploy
// functions (roles/cloudfunctions.developer and
// roles/iam.serviceAccountUser on the runtime service account):
//
//	go run ./examples/gcp -project my-project -region europe-west1 -greeting Hello
//
// Run it again with another -greeting to see a canary rollout; -plan only
// prints what would change; -public makes the URL callable by anyone.
// The function's source is examples/gcp/function, its own module.
//
// Without a cloud account, go test ./examples/gcp rolls one Spec out to
// AWS Lambda and Cloud Functions (on the in-repo fakes, through the real
// SDKs) and to local:// in lockstep, and shows a candidate that fails its
// smoke invoke on one target rolled back on all three.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
	_ "github.com/updraft-dev/updraft/provider/gcpfunctions"
	"github.com/updraft-dev/updraft/trigger"
)

func main() {
	project := flag.String("project", "", "Google Cloud project ID (required)")
	region := flag.String("region", "us-central1", "Cloud Functions region")
	name := flag.String("name", "updraft-hello", "function name")
	greeting := flag.String("greeting", "Hello", "GREETING environment variable; change it to roll out a new revision")
	plan := flag.Bool("plan", false, "only print the plan")
	public := flag.Bool("public", false, "allow unauthenticated calls to the function's URL")
	flag.Parse()
	if *project == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(context.Background(), *project, *region, *name, *greeting, *plan, *public); err != nil {
		log.Fatal(err)
	}
}

// functionDir is examples/gcp/function, found from this file when run
// with go run from anywhere in the repository.
func functionDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "examples/gcp/function"
	}
	return filepath.Join(filepath.Dir(file), "function")
}

func run(ctx context.Context, project, region, name, greeting string, planOnly, public bool) error {
	url := fmt.Sprintf("gcpfunctions://projects/%s/locations/%s/functions/%s", project, region, name)
	fn, err := provider.Open(ctx, url)
	if err != nil {
		return err
	}
	defer fn.Close()
	auth := trigger.AuthIAM
	if public {
		auth = trigger.AuthNone
	}
	spec := &provider.Spec{
		Code:     bundle.Dir(functionDir()),
		Runtime:  "go",
		MemoryMB: 256,
		Timeout:  30 * time.Second,
		Env:      map[string]string{"GREETING": greeting},
		Triggers: []trigger.Trigger{trigger.HTTP{Key: "web", Auth: auth}},
		Labels:   map[string]string{"app": "updraft-example"},
	}
	fns := []*provider.Function{fn}
	p, err := deploy.Plan(ctx, fns, spec, nil)
	if err != nil {
		return err
	}
	fmt.Print(p)
	if planOnly || !p.HasChanges() {
		return p.Err()
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	res, err := deploy.Rollout(ctx, fns, spec, &deploy.RolloutOptions{
		Strategy: deploy.Canary(10, 50, 100),
		Interval: time.Minute,
		Gates:    []deploy.Gate{deploy.InvokeGate([]byte(`{}`)), deploy.ErrorRateGate(0.01, 20)},
		Logger:   logger,
	})
	if res != nil {
		for _, t := range res.Targets {
			fmt.Printf("%s: %s (stable %s, candidate %s at %d%%)\n", t.Target, t.Outcome, t.Stable, t.Candidate, t.Percent)
		}
	}
	if err != nil {
		return err
	}
	st, err := fn.Get(ctx)
	if err != nil {
		return err
	}
	fmt.Println("URL:", st.Endpoint)
	return nil
}
