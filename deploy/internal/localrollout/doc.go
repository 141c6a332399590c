// Package localrollout tests the deploy engine against local://, with
// real function processes built from testdata/fn: one test per case of
// the rollout safety rules (HTTP-aware gates, failed revisions that never
// come back, last known good, conditioned traffic writes, live leases
// across two OS processes, NotFound reads while planning, created
// targets in the lockstep). It holds no code of its own; the deploy
// package's own tests use mem://.
package localrollout
