// Command updraft builds and deploys serverless functions from CI
// pipelines and terminals.
//
// Usage:
//
//	updraft bundle [--go] [--arch arm64|amd64] [-o out.zip] [--output text|json] PATH
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
