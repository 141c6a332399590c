package azurefunctions

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file:\n got: %s\nwant: %s", name, got, want)
	}
}

func TestGoldenPackageFiles(t *testing.T) {
	cases := []struct {
		name     string
		trig     trigger.Trigger
		settings map[string]string
	}{
		{"http-function", trigger.HTTP{Key: "web"}, nil},
		{"http-anonymous", trigger.HTTP{Key: "web", Auth: trigger.AuthNone}, nil},
		{"queue-host-storage", trigger.Queue{Key: "jobs", Source: "jobs"}, nil},
		{"queue-account", trigger.Queue{Key: "jobs", Source: "stq/jobs"}, map[string]string{"UPDRAFT_JOBS_QUEUE__queueServiceUri": "https://stq.queue.core.windows.net"}},
		{"servicebus-queue", trigger.Queue{Key: "orders", Source: "servicebus:sb-prod/orders"}, map[string]string{"UPDRAFT_ORDERS_SB__fullyQualifiedNamespace": "sb-prod.servicebus.windows.net"}},
		{"servicebus-topic", trigger.Queue{Key: "audit-log", Source: "servicebus:sb-prod/events/audit"}, map[string]string{"UPDRAFT_AUDIT_LOG_SB__fullyQualifiedNamespace": "sb-prod.servicebus.windows.net"}},
		{"cosmos", trigger.Stream{Key: "changes", Source: "cosmos:db-acct/shop/items", StartingPosition: trigger.StartTrimHorizon, BatchSize: 50},
			map[string]string{"UPDRAFT_CHANGES_COSMOS__accountEndpoint": "https://db-acct.documents.azure.com:443/"}},
		{"cosmos-retry", trigger.Stream{Key: "changes", Source: "cosmos:db-acct/shop/items", MaxRetries: new(5)},
			map[string]string{"UPDRAFT_CHANGES_COSMOS__accountEndpoint": "https://db-acct.documents.azure.com:443/"}},
		{"timer-cron", trigger.Schedule{Key: "tick", Cron: "*/5 * * * *"}, nil},
		{"timer-rate", trigger.Schedule{Key: "hourly", Rate: 2 * time.Hour}, nil},
		{"blob", trigger.Storage{Key: "uploads", Bucket: "stblob/incoming", Prefix: "in/", Suffix: ".csv"},
			map[string]string{"UPDRAFT_UPLOADS_BLOB__blobServiceUri": "https://stblob.blob.core.windows.net", "UPDRAFT_UPLOADS_BLOB__queueServiceUri": "https://stblob.queue.core.windows.net"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files, settings, err := generated(5*time.Minute, []trigger.Trigger{c.trig})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, c.name+".function.json", files[c.trig.TriggerKey()+"/function.json"])
			if len(settings) != len(c.settings) {
				t.Errorf("settings = %v, want %v", settings, c.settings)
			}
			for k, v := range c.settings {
				if settings[k] != v {
					t.Errorf("setting %s = %q, want %q", k, settings[k], v)
				}
			}
		})
	}
	files, _, err := generated(90*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "host.json", files["host.json"])
}

func TestUnsupportedTriggers(t *testing.T) {
	for _, tr := range []trigger.Trigger{
		trigger.HTTP{Key: "web", CORSOrigins: []string{"https://example.com"}},
		trigger.Schedule{Key: "tick", Cron: "0 9 * * *", TimeZone: "Europe/Paris"},
		trigger.Storage{Key: "gone", Bucket: "c", Events: []trigger.StorageEvent{trigger.ObjectDeleted}},
	} {
		if _, _, err := generated(time.Minute, []trigger.Trigger{tr}); driver.CodeOf(err) != driver.Unimplemented {
			t.Errorf("%s: got %v, want Unimplemented", trigger.Describe(tr), err)
		}
	}
	for _, tr := range []trigger.Trigger{
		trigger.Stream{Key: "s", Source: "arn:aws:dynamodb:table"},
		trigger.Queue{Key: "q", Source: "servicebus:onlynamespace"},
		trigger.Schedule{Key: "odd", Rate: 7 * time.Minute},
	} {
		if _, _, err := generated(time.Minute, []trigger.Trigger{tr}); driver.CodeOf(err) != driver.InvalidArgument {
			t.Errorf("%s: got %v, want InvalidArgument", trigger.Describe(tr), err)
		}
	}
	two := []trigger.Trigger{trigger.HTTP{Key: "a"}, trigger.HTTP{Key: "b"}}
	if _, _, err := generated(time.Minute, two); driver.CodeOf(err) != driver.InvalidArgument {
		t.Errorf("two HTTP triggers: got %v, want InvalidArgument", err)
	}
}

func TestFunctionTimeoutFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		10 * time.Second: "00:00:10", 90 * time.Minute: "01:30:00", 24 * time.Hour: "1.00:00:00",
	} {
		if got := functionTimeout(d); got != want {
			t.Errorf("functionTimeout(%s) = %s, want %s", d, got, want)
		}
	}
}

// The package is reproducible: the same code and triggers give the same
// digest, whatever the order of the triggers in the map.
func TestPackageIsReproducible(t *testing.T) {
	code, err := bundle.Build(context.Background(), bundle.Files(map[string][]byte{"handler": []byte("#!/bin/sh\n")}), &bundle.Options{NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := []trigger.Trigger{trigger.HTTP{Key: "web"}, trigger.Schedule{Key: "tick", Cron: "0 * * * *"}, trigger.Queue{Key: "jobs", Source: "jobs"}}
	var digests []string
	for range 3 {
		files, _, err := generated(time.Minute, ts)
		if err != nil {
			t.Fatal(err)
		}
		b, err := buildPackage(context.Background(), code, files, bundle.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, b.Digest)
		names := []string{}
		for _, e := range b.Manifest {
			names = append(names, e.Name)
		}
		if len(names) != 5 || names[0] != "handler" || names[1] != "host.json" || names[2] != "jobs/function.json" {
			t.Fatalf("package files = %v", names)
		}
	}
	if digests[0] != digests[1] || digests[1] != digests[2] {
		t.Fatalf("digests differ: %v", digests)
	}
}

// TestCosmosRetryPolicy: MaxRetries unset and 0 both leave function.json
// without a retry policy (Azure's default: the batch is not retried);
// BisectOnError, which Azure has not, is refused.
func TestCosmosRetryPolicy(t *testing.T) {
	src := "cosmos:db-acct/shop/items"
	for _, n := range []*int{nil, new(0)} {
		files, _, err := generated(time.Minute, []trigger.Trigger{trigger.Stream{Key: "c", Source: src, MaxRetries: n}})
		if err != nil {
			t.Fatal(err)
		}
		if fj := string(files["c/function.json"]); strings.Contains(fj, "retry") {
			t.Errorf("MaxRetries %v: function.json has a retry policy:\n%s", n, fj)
		}
	}
	_, _, err := generated(time.Minute, []trigger.Trigger{trigger.Stream{Key: "c", Source: src, BisectOnError: true}})
	if driver.CodeOf(err) != driver.InvalidArgument || !strings.Contains(err.Error(), "BisectOnError") {
		t.Errorf("BisectOnError: %v, want InvalidArgument naming the field", err)
	}
}
