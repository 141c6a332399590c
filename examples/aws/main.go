// Command aws deploys a Go function to AWS Lambda with updraft and rolls
// a new version out as a canary, with a smoke invoke and a CloudWatch
// error-rate gate, rolling back automatically if a gate fails.
//
// It needs AWS credentials in the SDK's default chain and an execution
// role for the function:
//
//	go run ./examples/aws -region eu-west-1 -role arn:aws:iam::123456789012:role/hello-lambda -greeting Hello
//
// Run it again with another -greeting to see a canary rollout (10%, 50%,
// 100%); -plan only prints what would change.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
	_ "github.com/updraft-dev/updraft/provider/awslambda"
	"github.com/updraft-dev/updraft/trigger"
)

func main() {
	name := flag.String("name", "updraft-hello", "function name")
	region := flag.String("region", os.Getenv("AWS_REGION"), "AWS region")
	role := flag.String("role", "", "execution role ARN (needed to create the function)")
	greeting := flag.String("greeting", "Hello", "GREETING environment variable: change it to roll out a new version")
	interval := flag.Duration("interval", time.Minute, "bake time between canary steps")
	planOnly := flag.Bool("plan", false, "print the plan and stop")
	flag.Parse()
	if err := run(context.Background(), *name, *region, *role, *greeting, *interval, *planOnly); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, name, region, role, greeting string, interval time.Duration, planOnly bool) error {
	url := fmt.Sprintf("awslambda://%s?region=%s", name, region)
	if role != "" {
		url += "&role=" + role
	}
	fn, err := provider.Open(ctx, url)
	if err != nil {
		return err
	}
	defer fn.Close()
	fns := []*provider.Function{fn}

	spec := &provider.Spec{
		Code:         bundle.GoSource("./examples/aws/function"),
		Runtime:      "go",
		Architecture: "arm64",
		MemoryMB:     256,
		Timeout:      10 * time.Second,
		Env:          map[string]string{"GREETING": greeting},
		LogFormat:    "json",
		Labels:       map[string]string{"app": "updraft-example"},
		Triggers:     []trigger.Trigger{trigger.HTTP{Key: "web", Auth: trigger.AuthNone}},
	}

	plan, err := deploy.Plan(ctx, fns, spec, nil)
	if err != nil {
		return err
	}
	fmt.Println(plan)
	if planOnly || !plan.HasChanges() {
		return nil
	}
	res, err := deploy.Rollout(ctx, fns, spec, &deploy.RolloutOptions{
		Strategy: deploy.Canary(10, 50),
		Interval: interval,
		Gates:    []deploy.Gate{deploy.InvokeGate([]byte(`{"name":"smoke test"}`)), deploy.ErrorRateGate(0.01, 20)},
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if res != nil {
		fmt.Printf("rollout %s: %s\n", res.ID, res.Outcome)
	}
	if err != nil {
		return err
	}
	st, err := fn.Get(ctx)
	if err != nil {
		return err
	}
	fmt.Println("endpoint:", st.Endpoint)
	return nil
}
