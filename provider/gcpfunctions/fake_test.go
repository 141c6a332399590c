package gcpfunctions

import (
	"context"
	"net/http"
	"testing"
	"time"

	functions "cloud.google.com/go/functions/apiv2"
	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	run "cloud.google.com/go/run/apiv2"
	scheduler "cloud.google.com/go/scheduler/apiv1"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/internal/cloudfake/gcpfake"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/provider/providertest"
	"github.com/updraft-dev/updraft/trigger"
)

const (
	testParent   = "projects/p/locations/us-central1"
	schedulerSA  = "scheduler@p.iam.gserviceaccount.com"
	testFunction = testParent + "/functions/fn"
)

// fakeGCP is the gcpfake server reached through the real clients.
type fakeGCP struct {
	srv *gcpfake.Server
	fc  *functions.FunctionClient
	sc  *run.ServicesClient
	rc  *run.RevisionsClient
	sch *scheduler.CloudSchedulerClient
	mc  *monitoring.MetricClient
}

// bearer adds a fake identity token, as an ID-token client would.
type bearer struct{}

func (bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer fake-id-token")
	return http.DefaultTransport.RoundTrip(r)
}

func newFakeGCP(t testing.TB, opts *gcpfake.Options) *fakeGCP {
	t.Helper()
	if opts == nil {
		opts = &gcpfake.Options{OpDelay: 3 * time.Millisecond}
	}
	srv, err := gcpfake.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fg := &fakeGCP{srv: srv}
	co := srv.ClientOptions()
	if fg.fc, err = functions.NewFunctionClient(ctx, co...); err != nil {
		t.Fatal(err)
	}
	if fg.sc, err = run.NewServicesClient(ctx, co...); err != nil {
		t.Fatal(err)
	}
	if fg.rc, err = run.NewRevisionsClient(ctx, co...); err != nil {
		t.Fatal(err)
	}
	if fg.sch, err = scheduler.NewCloudSchedulerClient(ctx, co...); err != nil {
		t.Fatal(err)
	}
	if fg.mc, err = monitoring.NewMetricClient(ctx, co...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		fg.fc.Close()
		fg.sc.Close()
		fg.rc.Close()
		fg.sch.Close()
		fg.mc.Close()
		srv.Close()
	})
	return fg
}

func (fg *fakeGCP) options() *Options {
	return &Options{RevisionsClient: fg.rc, SchedulerClient: fg.sch, SchedulerServiceAccount: schedulerSA, MetricClient: fg.mc,
		InvokeClient: &http.Client{Transport: bearer{}},
		PollInterval: time.Millisecond, MaxPollInterval: 4 * time.Millisecond, OperationTimeout: 10 * time.Second,
		RetryBackoff: time.Millisecond, MaxRetryBackoff: 4 * time.Millisecond}
}

func (fg *fakeGCP) open(t testing.TB, name string, mod func(*Options)) *provider.Function {
	t.Helper()
	o := fg.options()
	if mod != nil {
		mod(o)
	}
	fn, err := OpenFunction(context.Background(), fg.fc, fg.sc, name, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fn.Close() })
	return fn
}

// testSource is a Go package for functions-framework-go.
func testSource() bundle.Source {
	return bundle.Files(map[string][]byte{
		"go.mod": []byte("module example.com/fn\n\ngo 1.26\n"),
		"fn.go":  []byte("package fn\n\n// Updraft would be registered by the portable entry.\n"),
	})
}

func testSpec() *provider.Spec { return &provider.Spec{Code: testSource(), Runtime: "go"} }

// testTriggers are three triggers of which none is an event trigger:
// Cloud Functions cannot turn an HTTP function into an event-triggered
// one in place, which the suite's replace-then-clear sequence would need.
func testTriggers() []trigger.Trigger {
	return []trigger.Trigger{
		trigger.HTTP{Key: "web", Auth: trigger.AuthNone},
		trigger.Schedule{Key: "tick", Cron: "*/5 * * * *"},
		trigger.Schedule{Key: "nightly", Rate: 24 * time.Hour, TimeZone: "Europe/Paris", Payload: []byte(`{"full":true}`)},
	}
}

type harness struct{ fg *fakeGCP }

func newHarness(ctx context.Context, t *testing.T) (providertest.Harness, error) {
	return &harness{fg: newFakeGCP(t, nil)}, nil
}

func (h *harness) MakeDriver(ctx context.Context) (driver.Function, error) {
	return OpenDriver(ctx, h.fg.fc, h.fg.sc, testFunction, h.fg.options())
}
func (h *harness) MakeDriverForNonexistentFunction(ctx context.Context) (driver.Function, error) {
	return OpenDriver(ctx, h.fg.fc, h.fg.sc, testParent+"/functions/missing", h.fg.options())
}
func (h *harness) Spec(context.Context) (*provider.Spec, error) { return testSpec(), nil }
func (h *harness) Triggers() []trigger.Trigger                  { return testTriggers() }
func (h *harness) Close()                                       {}

func TestConformance(t *testing.T) {
	providertest.RunConformanceTests(t, newHarness, []providertest.AsTest{asTest{}})
}
