package deploy

import (
	"slices"
	"time"

	"github.com/updraft-dev/updraft/provider"
)

// maxFailedVerdicts is how many failed revisions deploy keeps in a
// route's verdicts, newest last; drivers keep at least
// driver.MinFailedVerdicts of them.
const maxFailedVerdicts = 16

// withFailed returns v with rev recorded as failed (moved to the newest
// place when it already was), never as the last known good.
func withFailed(v *provider.Verdicts, rev string) *provider.Verdicts {
	out := &provider.Verdicts{}
	if v != nil {
		out.Good = v.Good
		out.Failed = slices.DeleteFunc(slices.Clone(v.Failed), func(id string) bool { return id == rev })
	}
	if rev == "" {
		return out
	}
	if out.Good == rev {
		out.Good = ""
	}
	out.Failed = append(out.Failed, rev)
	if n := len(out.Failed); n > maxFailedVerdicts {
		out.Failed = out.Failed[n-maxFailedVerdicts:]
	}
	return out
}

// withGood returns v with rev as the last known good, no longer failed.
func withGood(v *provider.Verdicts, rev string) *provider.Verdicts {
	out := &provider.Verdicts{Good: rev}
	if v != nil {
		out.Failed = slices.DeleteFunc(slices.Clone(v.Failed), func(id string) bool { return id == rev })
	}
	return out
}

// sameVerdicts reports whether a and b record the same (nil records none).
func sameVerdicts(a, b *provider.Verdicts) bool {
	if a == nil {
		a = &provider.Verdicts{}
	}
	if b == nil {
		b = &provider.Verdicts{}
	}
	return a.Good == b.Good && slices.Equal(a.Failed, b.Failed)
}

// leaseLive reports whether m is held by a running rollout at now: its
// lease has not run out. A marker without a lease never expires by
// itself (it was written by a holder that promised no heartbeat), so it
// counts as live: only TakeOver, Revert after TakeOver, or Rollback with
// TakeOver clears it.
func leaseLive(m *provider.Marker, now time.Time) bool {
	if m == nil {
		return false
	}
	exp := m.Expires()
	return exp.IsZero() || now.Before(exp)
}

// liveMarkerErr is the error for a route whose marker had a live lease
// when it was read.
func liveMarkerErr(target, route string, m *provider.Marker, op string) error {
	lease := "its marker has no lease, so it never expires by itself"
	if exp := m.Expires(); !exp.IsZero() {
		lease = "its lease is live until " + exp.UTC().Format(time.RFC3339) + " unless renewed"
	}
	return withHint(provider.FailedPrecondition, target, op,
		"wait for it to finish or for its lease to expire (the next run then resumes or reverts it); if its holder is known to be gone, set TakeOver",
		"route %s is held by rollout %s by %s: %s", route, m.ID, m.Holder, lease)
}

// failedRevisionErr is the error for a plan that would move traffic to a
// revision recorded as failed.
func failedRevisionErr(tp *TargetPlan, op string) error {
	return withHint(provider.FailedPrecondition, tp.Target, op,
		"fix the code or configuration and deploy again; to deploy this revision anyway set AllowFailedRevision",
		"the spec is revision %s, which failed a rollout on route %s", tp.FailedRevision, tp.Route)
}
