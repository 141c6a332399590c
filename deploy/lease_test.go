package deploy

import (
	"context"
	"testing"
	"time"

	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/memprovider"
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

// TestLeaseIsRenewedDuringTheRollback makes the rollback of a failed gate
// retry for a while (traffic writes fail): the lease is renewed
// meanwhile, so no other run takes the route for dead.
func TestLeaseIsRenewedDuringTheRollback(t *testing.T) {
	c := newCloud(t, nil)
	fns := openFns(t, c, "a")
	deployed(t, fns, "1")
	var failedAt time.Time
	o := rolloutOpts(Canary(10, 50), failAt(1))
	o.Lease, o.RollbackTimeout = 90*time.Millisecond, time.Second
	o.OnEvent = func(e Event) {
		if e.Kind == EventGate && e.GateResult == GateFailed {
			failedAt = time.Now()
			c.InjectFault(memprovider.Fault{Op: memprovider.OpSetTraffic, Times: -1, Code: provider.Internal})
		}
	}
	if _, err := Rollout(t.Context(), fns, testSpec("2"), o); err == nil {
		t.Fatal("rollout succeeded")
	}
	c.ClearFaults()
	m := route(t, fns[0]).Marker
	if m == nil || !m.Heartbeat.After(failedAt) {
		t.Fatalf("marker %+v: not renewed after the gate failed at %s", m, failedAt)
	}
}
