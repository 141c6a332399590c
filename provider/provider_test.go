package provider_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/provider/memprovider"
	"github.com/updraft-dev/updraft/trigger"
)

func lambdaLike() provider.Capabilities {
	c := memprovider.Capabilities()
	c.Provider = "awslambda"
	return c
}

func TestValidateReportsEveryViolationAtOnce(t *testing.T) {
	two, one := 2, 1
	s := &provider.Spec{
		Runtime:      "cobol",
		MemoryMB:     20000,
		Timeout:      20 * time.Minute,
		Architecture: "mips",
		Concurrency:  provider.Concurrency{Provisioned: &two, Max: &one},
		Env:          map[string]string{"1X": "v", "DB_PASS": "x"},
		Secrets:      map[string]string{"DB_PASS": "arn:aws:secretsmanager:eu-west-1:1:secret:db"},
		Labels:       map[string]string{"Bad Key": "v"},
		LogFormat:    "xml",
		Route:        "Live!",
		Triggers:     []trigger.Trigger{trigger.Schedule{Key: "tick", Cron: "every five minutes"}},
	}
	err := provider.Validate(s, lambdaLike())
	var ve *provider.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want *ValidationError", err)
	}
	want := []string{
		`runtime "cobol": awslambda accepts`,
		"memory 20000 MB: awslambda allows 128–10240 MB in 1 MB steps",
		"timeout 20m0s: awslambda allows at most 15m0s",
		`architecture "mips"`,
		"provisioned concurrency 2 is above max concurrency 1",
		`environment variable name "1X"`,
		`environment variable "DB_PASS" is also a secret`,
		`label key "Bad Key"`,
		`log format "xml"`,
		`route "Live!"`,
		`cron "every five minutes" does not parse`,
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error lacks %q:\n%s", w, msg)
		}
	}
	if len(ve.Violations) != len(want) {
		t.Errorf("got %d violations, want %d: %v", len(ve.Violations), len(want), ve.Violations)
	}
}

func TestValidateUnsupportedFeaturesAreUnimplemented(t *testing.T) {
	caps := lambdaLike()
	caps.Triggers = []trigger.Kind{trigger.KindHTTP}
	caps.Provisioned = false
	caps.MemoryValues = []int{512, 2048}
	one := 1
	s := &provider.Spec{Runtime: "go", Concurrency: provider.Concurrency{Provisioned: &one},
		Triggers: []trigger.Trigger{trigger.Queue{Key: "q", Source: "jobs"}}}
	d := memprovider.NewCloud(&memprovider.Options{Capabilities: func(c *provider.Capabilities) { *c = caps }})
	fn, err := d.OpenFunction(t.Context(), "fn")
	if err != nil {
		t.Fatal(err)
	}
	err = fn.Validate(s)
	if provider.Code(err) != provider.Unimplemented || !errors.Is(err, provider.ErrUnimplemented) {
		t.Fatalf("got %v (%v), want Unimplemented", err, provider.Code(err))
	}
	s.MemoryMB = 1024
	err = fn.Validate(s)
	if provider.Code(err) != provider.InvalidArgument || !strings.Contains(err.Error(), "memory 1024 MB: awslambda allows 512, 2048 MB") {
		t.Fatalf("got %v, want InvalidArgument naming the allowed sizes", err)
	}
}

func TestValidateNeverEchoesSecretValues(t *testing.T) {
	s := &provider.Spec{Runtime: "go", Secrets: map[string]string{"bad name": "s3cr3t-value"}, Env: map[string]string{"bad name": "hunter2"}}
	err := provider.Validate(s, lambdaLike())
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), "s3cr3t-value") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("validation error leaks a value: %v", err)
	}
}

func TestValidateAcceptsDefaults(t *testing.T) {
	if err := provider.Validate(&provider.Spec{Runtime: "go"}, lambdaLike()); err != nil {
		t.Fatal(err)
	}
	if err := provider.Validate(nil, lambdaLike()); err == nil {
		t.Fatal("nil spec must be invalid")
	}
}

type nativeErr struct{ code string }

func (e *nativeErr) Error() string { return "native " + e.code }

func TestCodeAndUnwrap(t *testing.T) {
	cases := []struct {
		err  error
		want provider.ErrorCode
	}{
		{nil, provider.OK},
		{errors.New("x"), provider.Unknown},
		{context.Canceled, provider.Canceled},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), provider.DeadlineExceeded},
		{driver.NewError(driver.NotFound, "gone"), provider.NotFound},
		{provider.ErrResourceExhausted, provider.ResourceExhausted},
		{provider.Errorf(provider.FailedPrecondition, "mem://x", "Rollout", "held by %s", "ci-1"), provider.FailedPrecondition},
	}
	for _, c := range cases {
		if got := provider.Code(c.err); got != c.want {
			t.Errorf("Code(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if s := provider.ErrorCode(42).String(); s != "ErrorCode(42)" {
		t.Errorf("unknown code string %q", s)
	}
}

// codeDriver is a driver whose errors are native and mapped by ErrorCode.
type codeDriver struct {
	driver.Function
	err error
}

func (d *codeDriver) Get(context.Context) (*driver.State, error) { return nil, d.err }
func (d *codeDriver) ErrorCode(err error) driver.ErrorCode {
	var n *nativeErr
	if errors.As(err, &n) && n.code == "ResourceNotFoundException" {
		return driver.NotFound
	}
	return driver.Unknown
}
func (d *codeDriver) ErrorAs(err error, i any) bool { return errors.As(err, i) }
func (d *codeDriver) Name() string                  { return "fn" }
func (d *codeDriver) Capabilities() driver.Capabilities {
	return driver.Capabilities{Provider: "fake"}
}
func (d *codeDriver) Close() error { return nil }

func TestDriverErrorsAreWrappedOnceWithCode(t *testing.T) {
	native := &nativeErr{code: "ResourceNotFoundException"}
	fn := provider.NewFunction(&codeDriver{err: native})
	_, err := fn.Get(t.Context())
	if provider.Code(err) != provider.NotFound || !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("got %v, want NotFound", err)
	}
	var got *nativeErr
	if !errors.As(err, &got) || got != native {
		t.Fatalf("errors.As does not reach the native error: %v", err)
	}
	var got2 *nativeErr
	if !fn.ErrorAs(err, &got2) || got2 != native {
		t.Fatal("ErrorAs does not reach the native error")
	}
	if !strings.HasPrefix(err.Error(), "updraft: fake://fn: Get: native ResourceNotFoundException (NotFound)") {
		t.Errorf("message %q", err.Error())
	}
	fn2 := provider.NewFunction(&codeDriver{err: errors.New("socket closed")})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := fn2.Get(ctx); provider.Code(err) != provider.Canceled {
		t.Errorf("canceled ctx: %v", err)
	}
}

func TestSetTrafficValidatesBeforeCalling(t *testing.T) {
	c := memprovider.NewCloud(nil)
	fn, _ := c.OpenFunction(t.Context(), "fn")
	for _, tr := range []provider.Traffic{
		{},
		{Stable: "1", CandidatePercent: 10},
		{Stable: "1", Candidate: "1", CandidatePercent: 10},
		{Stable: "1", Candidate: "2", CandidatePercent: -1},
	} {
		if err := fn.SetTraffic(t.Context(), "", tr, nil); provider.Code(err) != provider.InvalidArgument {
			t.Errorf("SetTraffic(%+v) = %v, want InvalidArgument", tr, err)
		}
	}
	if n := c.Mutations(); n != 0 {
		t.Errorf("invalid calls reached the driver: %v", c.Calls())
	}
}

type opener struct{}

func (opener) OpenFunctionURL(ctx context.Context, u *url.URL) (*provider.Function, error) {
	return nil, errors.New("no")
}

func TestURLMux(t *testing.T) {
	var m provider.URLMux
	m.RegisterFunction("x", opener{})
	if !m.ValidFunctionScheme("x") || m.ValidFunctionScheme("y") {
		t.Fatal("ValidFunctionScheme")
	}
	defer func() {
		if recover() == nil {
			t.Error("registering a scheme twice must panic")
		}
	}()
	if _, err := m.OpenFunction(t.Context(), "x://a"); provider.Code(err) != provider.InvalidArgument {
		t.Errorf("opener failure: %v", err)
	}
	if _, err := m.OpenFunction(t.Context(), "y://a"); err == nil || !strings.Contains(err.Error(), "known schemes: [x]") {
		t.Errorf("unknown scheme: %v", err)
	}
	m.RegisterFunction("x", opener{})
}

func TestSpecClone(t *testing.T) {
	n := 1
	s := &provider.Spec{Env: map[string]string{"A": "1"}, Concurrency: provider.Concurrency{Provisioned: &n},
		Triggers: []trigger.Trigger{trigger.HTTP{Key: "web"}}}
	c := s.Clone()
	c.Env["A"] = "2"
	*c.Concurrency.Provisioned = 5
	c.Triggers[0] = trigger.HTTP{Key: "other"}
	if s.Env["A"] != "1" || *s.Concurrency.Provisioned != 1 || s.Triggers[0].TriggerKey() != "web" {
		t.Fatal("Clone shares state with the original")
	}
	if (&provider.Spec{}).Clone().Env != nil {
		t.Fatal("Clone turned nil Env (not managed) into empty (clear)")
	}
}

func FuzzOpenURL(f *testing.F) {
	for _, s := range []string{"mem://a", "mem://", "awslambda://x?region=eu-west-1", "::", "mem://a/b", "mem://%zz",
		"mem://admin:S3cret@fn%zz", "//admin:S3cret@fn", "mem://fn?token=x", "mem:a@b", "mem://a#b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fn, err := provider.Open(t.Context(), s)
		if err == nil {
			fn.Close()
			return
		}
		if provider.Code(err) != provider.InvalidArgument {
			t.Fatalf("Open(%q) = %v, want InvalidArgument", s, err)
		}
		if msg := err.Error(); strings.Contains(msg, "<nil>") || strings.Count(msg, "updraft:") != 1 {
			t.Fatalf("Open(%q) = %s", s, msg)
		}
	})
}
