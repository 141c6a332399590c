package function

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

// Mode is how the function is invoked.
type Mode string

// The modes.
const (
	// ModeLambda polls the Lambda Runtime API (AWS_LAMBDA_RUNTIME_API).
	ModeLambda Mode = "lambda"
	// ModeHTTP serves HTTP on $PORT (Cloud Run, functions-framework).
	ModeHTTP Mode = "http"
	// ModeAzure serves the Azure custom handler on FUNCTIONS_CUSTOMHANDLER_PORT.
	ModeAzure Mode = "azure"
)

// DetectMode returns the mode the environment asks for (getenv nil means
// os.Getenv): UPDRAFT_RUNTIME if set, else ModeLambda when
// AWS_LAMBDA_RUNTIME_API is set, ModeAzure when
// FUNCTIONS_CUSTOMHANDLER_PORT is, ModeHTTP when PORT is.
func DetectMode(getenv func(string) string) (Mode, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	switch m := Mode(getenv("UPDRAFT_RUNTIME")); m {
	case ModeLambda, ModeHTTP, ModeAzure:
		return m, nil
	case "":
	default:
		return "", fmt.Errorf("function: UPDRAFT_RUNTIME=%q: use lambda, http or azure", m)
	}
	switch {
	case getenv("AWS_LAMBDA_RUNTIME_API") != "":
		return ModeLambda, nil
	case getenv("FUNCTIONS_CUSTOMHANDLER_PORT") != "":
		return ModeAzure, nil
	case getenv("PORT") != "":
		return ModeHTTP, nil
	}
	return "", errors.New("function: no runtime found: none of AWS_LAMBDA_RUNTIME_API, FUNCTIONS_CUSTOMHANDLER_PORT or PORT is set (set PORT=8080 to serve HTTP here)")
}

// RunOptions configure Run. A nil *RunOptions means the defaults.
type RunOptions struct {
	// Mux is what is served; nil means DefaultMux.
	Mux *Mux
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// KeepLogger leaves slog's default logger alone; otherwise Run sets it
	// to a NewLogHandler for the platform, writing to standard output.
	KeepLogger bool
	// Listening, if set, is called with the address once an HTTP mode
	// listens.
	Listening func(addr net.Addr)
}

// Main runs DefaultMux in the mode the environment selects, until SIGTERM
// or an interrupt (on Lambda, for the life of the process), and exits
// non-zero if it cannot start. It is the whole main of the program the
// bundler generates.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := Run(ctx, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		stop()
		os.Exit(1)
	}
}

// Run serves the Mux in the mode DetectMode finds, until ctx ends. In
// ModeLambda it does not return: aws-lambda-go owns the process.
func Run(ctx context.Context, opts *RunOptions) error {
	var o RunOptions
	if opts != nil {
		o = *opts
	}
	if o.Mux == nil {
		o.Mux = DefaultMux
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	mode, err := DetectMode(o.Getenv)
	if err != nil {
		return err
	}
	if len(o.Mux.Keys("")) == 0 {
		return errors.New("function: no handler is registered: import the function's package (its init registers handlers with function.HTTP, function.Queue, …)")
	}
	platform := Local
	switch {
	case mode == ModeLambda:
		platform = AWSLambda
	case mode == ModeAzure:
		platform = Azure
	case o.Getenv("K_SERVICE") != "" && o.Getenv("AWS_LAMBDA_RUNTIME_API") == "":
		// local:// sets K_SERVICE too, and always offers the Runtime API.
		platform = GCP
	}
	if !o.KeepLogger {
		slog.SetDefault(slog.New(NewLogHandler(os.Stdout, &LogOptions{Platform: platform, Project: o.Getenv("GOOGLE_CLOUD_PROJECT")})))
	}
	eventKey := o.Getenv("UPDRAFT_EVENT_KEY")
	switch mode {
	case ModeLambda:
		lambda.StartWithOptions(NewLambdaHandler(o.Mux, eventKey), lambda.WithContext(ctx))
		return nil
	case ModeAzure:
		return serve(ctx, "127.0.0.1:"+o.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT"), o.Mux.Handler(&HandlerOptions{Platform: Azure, EventKey: eventKey}), o.Listening)
	}
	port := o.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	return serve(ctx, ":"+port, o.Mux.Handler(&HandlerOptions{Platform: platform, EventKey: eventKey}), o.Listening)
}

func serve(ctx context.Context, addr string, h http.Handler, listening func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("function: listening on %s: %w", addr, err)
	}
	if listening != nil {
		listening(ln.Addr())
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("function: serving HTTP: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("function: shutting down: %w", err)
	}
	return nil
}
