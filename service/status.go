package service

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/updraft-dev/updraft/provider"
)

// TargetStatus is what is live on one target.
type TargetStatus struct {
	Function string `json:"function"`
	Target   string `json:"target"`
	// Exists is false when the function has not been deployed there.
	Exists    bool             `json:"exists"`
	Endpoint  string           `json:"endpoint,omitempty"`
	Routes    []RouteStatus    `json:"routes,omitempty"`
	Revisions []RevisionStatus `json:"revisions,omitempty"`
	// Error says why the target could not be read, if it could not.
	Error string `json:"error,omitempty"`
}

// RouteStatus is one route: its traffic, rollout and verdicts.
type RouteStatus struct {
	Name             string `json:"name"`
	Stable           string `json:"stable"`
	Candidate        string `json:"candidate,omitempty"`
	CandidatePercent int    `json:"candidatePercent,omitempty"`
	// Rollout is the rollout in progress, if any.
	Rollout *RolloutStatus `json:"rollout,omitempty"`
	// LastGood is the last revision that completed a rollout; Failed the
	// revisions that failed a gate or were reverted.
	LastGood string   `json:"lastGood,omitempty"`
	Failed   []string `json:"failed,omitempty"`
	// Provisioned is the provisioned concurrency on the route.
	Provisioned *provider.Provisioned `json:"provisioned,omitempty"`
}

// RolloutStatus is a rollout marker with its lease.
type RolloutStatus struct {
	ID        string    `json:"id"`
	Holder    string    `json:"holder"`
	Stable    string    `json:"stable"`
	Candidate string    `json:"candidate"`
	Step      int       `json:"step"`
	Percent   int       `json:"percent"`
	Started   time.Time `json:"started"`
	// LeaseExpires is when the holder's lease runs out (absent: no lease);
	// Live says it has not yet.
	LeaseExpires *time.Time `json:"leaseExpires,omitempty"`
	Live         bool       `json:"live"`
}

// RevisionStatus is one published revision.
type RevisionStatus struct {
	ID         string    `json:"id"`
	CodeDigest string    `json:"codeDigest,omitempty"`
	Created    time.Time `json:"created"`
}

// Status reads every selected target. A target that cannot be read has
// Error set; the error returned is only for a cancelled context.
func (ss *Session) Status(ctx context.Context) ([]*TargetStatus, error) {
	var out []*TargetStatus
	for _, g := range ss.groups {
		for _, fn := range g.fns {
			out = append(out, &TargetStatus{Function: g.function, Target: fn.Target()})
		}
	}
	var fns []*provider.Function
	for _, g := range ss.groups {
		fns = append(fns, g.fns...)
	}
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() {
			if err := safeCall(func() error { readStatus(ctx, fn, out[i]); return nil }); err != nil {
				out[i].Error = err.Error()
			}
		})
	}
	wg.Wait()
	return out, ctx.Err()
}

func readStatus(ctx context.Context, fn *provider.Function, ts *TargetStatus) {
	st, err := fn.Get(ctx)
	if provider.Code(err) == provider.NotFound {
		return
	}
	if err != nil {
		ts.Error = err.Error()
		return
	}
	ts.Exists, ts.Endpoint = true, st.Endpoint
	now := time.Now()
	for _, name := range sortedKeys(st.Routes) {
		r := st.Routes[name]
		rs := RouteStatus{Name: name, Stable: r.Traffic.Stable, Candidate: r.Traffic.Candidate,
			CandidatePercent: r.Traffic.CandidatePercent, Provisioned: r.Provisioned}
		if v := r.Verdicts; v != nil {
			rs.LastGood, rs.Failed = v.Good, slices.Clone(v.Failed)
		}
		if m := r.Marker; m != nil {
			ro := &RolloutStatus{ID: m.ID, Holder: m.Holder, Stable: m.Stable, Candidate: m.Candidate, Step: m.Step,
				Percent: m.Percent, Started: m.Started, Live: true}
			if exp := m.Expires(); !exp.IsZero() {
				ro.LeaseExpires, ro.Live = &exp, exp.After(now)
			}
			rs.Rollout = ro
		}
		ts.Routes = append(ts.Routes, rs)
	}
	revs, err := fn.Revisions(ctx)
	if err != nil {
		ts.Error = fmt.Sprintf("revisions: %v", err)
		return
	}
	for _, r := range revs {
		ts.Revisions = append(ts.Revisions, RevisionStatus{ID: r.ID, CodeDigest: r.CodeDigest, Created: r.Created})
	}
}
