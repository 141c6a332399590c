package awslambda

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/provider/driver"
)

func TestRouteRecordRoundTrip(t *testing.T) {
	hb := time.UnixMilli(1_700_000_123_000)
	in := routeRecord{
		marker:   &driver.Marker{ID: "ro-1", Holder: "ci@host", Stable: "3", Candidate: "4", Step: 2, Percent: 50, Started: hb.Add(-time.Minute), Heartbeat: hb, Lease: 90 * time.Second},
		verdicts: &driver.Verdicts{Good: "3", Failed: []string{"1", "2"}},
	}
	desc, err := encodeRecord(in)
	if err != nil {
		t.Fatal(err)
	}
	out := decodeRecord(desc)
	if *out.marker != *in.marker || out.verdicts.Good != "3" || strings.Join(out.verdicts.Failed, ",") != "1,2" {
		t.Fatalf("round trip: %+v %+v from %q", out.marker, out.verdicts, desc)
	}
	if got := out.marker.Expires(); !got.Equal(hb.Add(90 * time.Second)) {
		t.Fatalf("expires %v", got)
	}
	if d, _ := encodeRecord(routeRecord{}); d != "" {
		t.Fatalf("empty record encodes as %q", d)
	}
}

func TestRouteRecordLegacyAndForeign(t *testing.T) {
	r := decodeRecord(`updraft-rollout {"i":"ro-9","h":"me","s":"1","c":"2","n":1,"p":10}`)
	if r.marker == nil || r.marker.ID != "ro-9" || r.marker.Percent != 10 || r.verdicts != nil {
		t.Fatalf("legacy marker: %+v", r)
	}
	for _, d := range []string{"", "prod alias", "updraft {not json", `updraft {"m":{"h":"no id"}}`} {
		if r := decodeRecord(d); r.marker != nil || r.verdicts != nil {
			t.Fatalf("%q decoded as %+v", d, r)
		}
	}
}

func TestRouteRecordDropsOldestFailedToFit(t *testing.T) {
	var failed []string
	for i := 1000; i < 1100; i++ {
		failed = append(failed, strconv.Itoa(i))
	}
	m := &driver.Marker{ID: "ro-1", Holder: "ci@host"}
	desc, err := encodeRecord(routeRecord{marker: m, verdicts: &driver.Verdicts{Good: "999", Failed: failed}})
	if err != nil {
		t.Fatal(err)
	}
	if len(desc) > maxDescription {
		t.Fatalf("description is %d bytes", len(desc))
	}
	got := decodeRecord(desc).verdicts.Failed
	if len(got) < driver.MinFailedVerdicts || got[len(got)-1] != "1099" {
		t.Fatalf("kept %d failed, newest %q", len(got), got[len(got)-1])
	}
	// A marker too long to leave room for the minimum is refused.
	long := &driver.Marker{ID: strings.Repeat("x", 200), Holder: "h"}
	if _, err := encodeRecord(routeRecord{marker: long, verdicts: &driver.Verdicts{Failed: failed}}); driver.CodeOf(err) != driver.InvalidArgument {
		t.Fatalf("oversized: %v", err)
	}
}
