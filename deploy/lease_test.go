package deploy

import (
	"context"
	"testing"
	"time"
)

// TestLeaseIsRenewedWhileGating checks the renewer: a gate that runs for
// several lease periods sees the heartbeat move and the lease stay live.
func TestLeaseIsRenewedWhileGating(t *testing.T) {
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	deployed(t, fns, "1")
	const lease = 60 * time.Millisecond
	slow := Gate{Name: "slow", Check: func(ctx context.Context, in *GateInput) error {
		first := route(t, in.Function).Marker.Heartbeat
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			m := route(t, in.Function).Marker
			if m.Heartbeat.After(first) {
				if m.Lease != lease || !m.Expires().Equal(m.Heartbeat.Add(lease)) {
					t.Errorf("renewed marker %+v: want the lease %s from the new heartbeat", m, lease)
				}
				return nil
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Errorf("the heartbeat never moved from %s", first)
		return nil
	}}
	o := rolloutOpts(Canary(10), slow)
	o.Lease = lease
	if _, err := Rollout(t.Context(), fns, testSpec("2"), o); err != nil {
		t.Fatal(err)
	}
}
