package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/hashicorp/go-multierror"

	"github.com/updraft-dev/updraft/deploy"
	"github.com/updraft-dev/updraft/provider"
)

// OpenOptions select what Open opens. Nil means everything.
type OpenOptions struct {
	// Functions selects functions by name; empty means all.
	Functions []string
	// Targets selects targets by URL; empty means all.
	Targets []string
	// Open opens one target; nil means provider.Open. updraft dev uses it
	// to serve local:// targets from its own host.
	Open func(ctx context.Context, url string) (*provider.Function, error)
}

// Session is a Service with its targets open. Its methods run the deploy
// workflows over every selected function and target.
type Session struct {
	svc    *Service
	groups []*group
}

// group is the targets of one function that share one Spec: deploy's
// workflows take one Spec for many targets.
type group struct {
	function string
	spec     *provider.Spec
	urls     []string
	fns      []*provider.Function
}

// Open opens every selected target. An unknown selection is an error.
func (s *Service) Open(ctx context.Context, opts *OpenOptions) (*Session, error) {
	if opts == nil {
		opts = &OpenOptions{}
	}
	if err := s.checkSelection(opts); err != nil {
		return nil, err
	}
	open := opts.Open
	if open == nil {
		open = provider.Open
	}
	ss := &Session{svc: s}
	var errs *multierror.Error
	for _, f := range s.Functions {
		if len(opts.Functions) > 0 && !slices.Contains(opts.Functions, f.Name) {
			continue
		}
		for _, t := range f.Targets {
			if len(opts.Targets) > 0 && !slices.Contains(opts.Targets, t.URL) {
				continue
			}
			fn, err := open(ctx, t.URL)
			if err != nil {
				errs = multierror.Append(errs, fmt.Errorf("function %s: %w", f.Name, err))
				continue
			}
			ss.add(f.Name, t, fn)
		}
	}
	if err := errs.ErrorOrNil(); err != nil {
		ss.Close()
		return nil, err
	}
	if len(ss.groups) == 0 {
		return nil, provider.Errorf(provider.InvalidArgument, s.Name, "Open", "the selection matches no target")
	}
	return ss, nil
}

func (s *Service) checkSelection(opts *OpenOptions) error {
	var missing []string
	for _, name := range opts.Functions {
		if !slices.ContainsFunc(s.Functions, func(f *ServiceFunction) bool { return f.Name == name }) {
			missing = append(missing, "function "+name)
		}
	}
	for _, u := range opts.Targets {
		found := slices.ContainsFunc(s.Functions, func(f *ServiceFunction) bool {
			return slices.ContainsFunc(f.Targets, func(t *ServiceTarget) bool { return t.URL == u })
		})
		if !found {
			missing = append(missing, "target "+redactURL(u))
		}
	}
	if len(missing) > 0 {
		return provider.Errorf(provider.InvalidArgument, s.Name, "Open", "%v is not in the spec file", missing)
	}
	return nil
}

func (ss *Session) add(function string, t *ServiceTarget, fn *provider.Function) {
	for _, g := range ss.groups {
		if g.function == function && g.spec == t.Spec {
			g.urls, g.fns = append(g.urls, t.URL), append(g.fns, fn)
			return
		}
	}
	ss.groups = append(ss.groups, &group{function: function, spec: t.Spec, urls: []string{t.URL}, fns: []*provider.Function{fn}})
}

// Functions returns the open targets by function name, in file order.
func (ss *Session) Functions() map[string][]*provider.Function {
	out := map[string][]*provider.Function{}
	for _, g := range ss.groups {
		out[g.function] = append(out[g.function], g.fns...)
	}
	return out
}

// Close closes every target.
func (ss *Session) Close() error {
	var errs []error
	for _, g := range ss.groups {
		for _, fn := range g.fns {
			errs = append(errs, fn.Close())
		}
	}
	return errors.Join(errs...)
}

// eachGroup runs f on every group concurrently and joins the errors.
func (ss *Session) eachGroup(f func(i int, g *group) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs *multierror.Error
	)
	for i, g := range ss.groups {
		wg.Go(func() {
			err := safeCall(func() error { return f(i, g) })
			if err != nil {
				mu.Lock()
				errs = multierror.Append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errs.ErrorOrNil()
}

// perGroup runs call on every group concurrently (see eachGroup) and
// returns the results in group order, with the failures naming their
// function.
func perGroup[R any](ss *Session, call func(i int, g *group) (R, error)) ([]R, error) {
	out := make([]R, len(ss.groups))
	err := ss.eachGroup(func(i int, g *group) error {
		r, err := call(i, g)
		out[i] = r
		if err != nil {
			return fmt.Errorf("function %s: %w", g.function, err)
		}
		return nil
	})
	return out, err
}

// safeCall runs f, turning a panic into an Internal error: no goroutine
// the service starts may take its caller's process down.
func safeCall(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = provider.Errorf(provider.Internal, "", "service", "panic: %v", r)
		}
	}()
	return f()
}

// PlanVersion is the version of a saved plan's format.
const PlanVersion = 1

// Plan is the combined plan of every selected function and target. It
// marshals to stable JSON that ReadPlan reads back, so a plan made in one
// CI job can be applied in another (see Session.ApplySaved).
type Plan struct {
	// Spec and SpecDigest name the spec file the plan was made from.
	Spec       string `json:"spec"`
	SpecDigest string `json:"specDigest"`
	// Functions hold one plan per function and Spec, in file order.
	Functions []*FunctionPlan `json:"functions"`
}

// FunctionPlan is the plan of one function's targets that share a Spec.
type FunctionPlan struct {
	Function string               `json:"function"`
	Plan     *deploy.PlanResult   `json:"-"`
	Targets  []*deploy.TargetPlan `json:"targets"`
}

// HasChanges reports whether applying the plan would change anything.
func (p *Plan) HasChanges() bool {
	for _, f := range p.Functions {
		for _, t := range f.Targets {
			if t.HasChanges() {
				return true
			}
		}
	}
	return false
}

// Err returns every violation of every target, or nil.
func (p *Plan) Err() error {
	var errs *multierror.Error
	for _, f := range p.Functions {
		if f.Plan != nil {
			if err := f.Plan.Err(); err != nil {
				errs = multierror.Append(errs, fmt.Errorf("function %s: %w", f.Function, err))
			}
		}
	}
	return errs.ErrorOrNil()
}

// MarshalJSON writes the plan with its format version and hasChanges.
func (p *Plan) MarshalJSON() ([]byte, error) {
	type plain Plan
	return json.Marshal(struct {
		Version    int  `json:"version"`
		HasChanges bool `json:"hasChanges"`
		*plain
	}{PlanVersion, p.HasChanges(), (*plain)(p)})
}

// String renders the plan as a diff, function by function.
func (p *Plan) String() string {
	var b bytes.Buffer
	for _, f := range p.Functions {
		fmt.Fprintf(&b, "function %s\n", f.Function)
		if f.Plan != nil {
			for line := range bytes.Lines([]byte(f.Plan.String())) {
				b.WriteString("  ")
				b.Write(line)
			}
		}
	}
	return b.String()
}

// ReadPlan reads a plan saved as JSON. The result only describes the
// plan; apply it with Session.ApplySaved.
func ReadPlan(data []byte) (*Plan, error) {
	var raw struct {
		Version int `json:"version"`
		Plan
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, provider.Errorf(provider.InvalidArgument, "", "ReadPlan", "the saved plan is not valid JSON: %v", err)
	}
	if raw.Version != PlanVersion {
		return nil, provider.Errorf(provider.InvalidArgument, "", "ReadPlan", "saved plan version %d: this updraft reads version %d; make the plan again with this version", raw.Version, PlanVersion)
	}
	return &raw.Plan, nil
}

// Plan plans every selected function on its targets (see deploy.Plan).
func (ss *Session) Plan(ctx context.Context, opts *deploy.PlanOptions) (*Plan, error) {
	p := &Plan{Spec: ss.svc.Name, SpecDigest: ss.svc.Digest, Functions: make([]*FunctionPlan, len(ss.groups))}
	err := ss.eachGroup(func(i int, g *group) error {
		pr, err := deploy.Plan(ctx, g.fns, g.spec, opts)
		if err != nil {
			return fmt.Errorf("function %s: %w", g.function, err)
		}
		p.Functions[i] = &FunctionPlan{Function: g.function, Plan: pr, Targets: pr.Targets}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Apply applies a plan this session made (see deploy.ApplyPlan).
func (ss *Session) Apply(ctx context.Context, p *Plan, opts *deploy.ApplyOptions) ([]*FunctionApply, error) {
	return perGroup(ss, func(i int, g *group) (*FunctionApply, error) {
		fp := p.Functions[i]
		if fp == nil || fp.Plan == nil || fp.Function != g.function {
			return nil, provider.Errorf(provider.InvalidArgument, ss.svc.Name, "Apply", "the plan was not made by this session: plan again")
		}
		res, err := deploy.ApplyPlan(ctx, fp.Plan, opts)
		return &FunctionApply{Function: g.function, Result: res}, err
	})
}

// FunctionApply is what Apply did for one function.
type FunctionApply struct {
	Function string              `json:"function"`
	Result   *deploy.ApplyResult `json:"result"`
}

// ApplySaved applies a plan saved by an earlier job: it plans again and
// applies only when nothing changed since, neither the spec file (by
// digest) nor any target (live revision, etags, code digest, changes).
// A stale plan fails with FailedPrecondition and applies nothing.
func (ss *Session) ApplySaved(ctx context.Context, saved *Plan, planOpts *deploy.PlanOptions, opts *deploy.ApplyOptions) ([]*FunctionApply, error) {
	if saved.SpecDigest != ss.svc.Digest {
		return nil, provider.Errorf(provider.FailedPrecondition, ss.svc.Name, "Apply",
			"the spec file changed since the plan was made (digest %s, now %s): make the plan again", saved.SpecDigest, ss.svc.Digest)
	}
	fresh, err := ss.Plan(ctx, planOpts)
	if err != nil {
		return nil, err
	}
	if err := samePlan(saved, fresh); err != nil {
		return nil, provider.Errorf(provider.FailedPrecondition, ss.svc.Name, "Apply", "the saved plan is stale: %v; make the plan again", err)
	}
	return ss.Apply(ctx, fresh, opts)
}

// samePlan reports how fresh differs from saved, or nil.
func samePlan(saved, fresh *Plan) error {
	if len(saved.Functions) != len(fresh.Functions) {
		return fmt.Errorf("it covers %d function groups, the spec file now %d", len(saved.Functions), len(fresh.Functions))
	}
	for i, f := range fresh.Functions {
		s := saved.Functions[i]
		if s.Function != f.Function || len(s.Targets) != len(f.Targets) {
			return fmt.Errorf("function %s: its targets changed", f.Function)
		}
		for j, t := range f.Targets {
			a, _ := json.Marshal(s.Targets[j])
			b, _ := json.Marshal(t)
			if !bytes.Equal(a, b) {
				return fmt.Errorf("%s changed since the plan was made", t.Target)
			}
		}
	}
	return nil
}

// Policy returns the rollout options the spec file's policy gives, for
// Rollout; nil fields of the file keep deploy's defaults.
func (s *Service) Policy() (*deploy.RolloutOptions, error) {
	opts := &deploy.RolloutOptions{}
	r := s.File.Rollout
	if r == nil {
		return opts, nil
	}
	st, err := r.strategy()
	if err != nil {
		return nil, err
	}
	opts.Strategy, opts.Interval, opts.Gates = st, r.Interval.Value(), r.gates()
	return opts, nil
}

// Lockstep is the policy's lockstep: "all" or "function".
func (s *Service) Lockstep() string {
	if r := s.File.Rollout; r != nil && r.Lockstep != "" {
		return r.Lockstep
	}
	return "all"
}

// FunctionRollout is a rollout of one function's targets.
type FunctionRollout struct {
	Function string                `json:"function"`
	Result   *deploy.RolloutResult `json:"result"`
}

// Rollout rolls every selected function out. With lockstep "function"
// each function rolls out on its own (concurrently), its targets in
// lockstep; with "all" every target of every function moves together, and
// a failure anywhere rolls all back (see lockstep.go for how).
func (ss *Session) Rollout(ctx context.Context, lockstep string, opts *deploy.RolloutOptions) ([]*FunctionRollout, error) {
	if opts == nil {
		opts = &deploy.RolloutOptions{}
	}
	var coord *coordinator
	if lockstep != "function" && len(ss.groups) > 1 {
		names := make([]string, len(ss.groups))
		for i, g := range ss.groups {
			names[i] = g.function
		}
		coord = newCoordinator(names)
	}
	return perGroup(ss, func(i int, g *group) (*FunctionRollout, error) {
		o := opts
		if coord != nil {
			o = coord.options(i, opts)
		}
		res, err := deploy.Rollout(ctx, g.fns, g.spec, o)
		if coord != nil {
			coord.finished(i, err)
		}
		return &FunctionRollout{Function: g.function, Result: res}, err
	})
}

// FunctionRollback is a rollback of one function's targets.
type FunctionRollback struct {
	Function string                 `json:"function"`
	Result   *deploy.RollbackResult `json:"result"`
}

// Rollback rolls every selected target back (see deploy.Rollback).
func (ss *Session) Rollback(ctx context.Context, opts *deploy.RollbackOptions) ([]*FunctionRollback, error) {
	return perGroup(ss, func(_ int, g *group) (*FunctionRollback, error) {
		o := *opts
		if o.Route == "" {
			o.Route = g.spec.Route
		}
		res, err := deploy.Rollback(ctx, g.fns, &o)
		return &FunctionRollback{Function: g.function, Result: res}, err
	})
}

// FunctionPrune is a prune of one function's targets.
type FunctionPrune struct {
	Function string              `json:"function"`
	Result   *deploy.PruneResult `json:"result"`
}

// Prune deletes old revisions of every selected target (see deploy.Prune).
func (ss *Session) Prune(ctx context.Context, opts *deploy.PruneOptions) ([]*FunctionPrune, error) {
	return perGroup(ss, func(_ int, g *group) (*FunctionPrune, error) {
		res, err := deploy.Prune(ctx, g.fns, opts)
		return &FunctionPrune{Function: g.function, Result: res}, err
	})
}

// FunctionDestroy is a destroy of one function's targets.
type FunctionDestroy struct {
	Function string                `json:"function"`
	Result   *deploy.DestroyResult `json:"result"`
}

// Destroy deletes every selected target (see deploy.Destroy).
func (ss *Session) Destroy(ctx context.Context, opts *deploy.DestroyOptions) ([]*FunctionDestroy, error) {
	return perGroup(ss, func(_ int, g *group) (*FunctionDestroy, error) {
		res, err := deploy.Destroy(ctx, g.fns, opts)
		return &FunctionDestroy{Function: g.function, Result: res}, err
	})
}

// TargetCheck is the validation of one target's Spec against its limits.
type TargetCheck struct {
	Function string `json:"function"`
	Target   string `json:"target"`
	// Error lists every violation ("" when the Spec is valid there).
	Error string `json:"error,omitempty"`
	err   error
}

// Err returns the validation error, or nil.
func (c *TargetCheck) Err() error { return c.err }

// Validate checks every selected target's Spec against the target's
// capabilities, without any call to it.
func (ss *Session) Validate() []*TargetCheck {
	var out []*TargetCheck
	for _, g := range ss.groups {
		for _, fn := range g.fns {
			c := &TargetCheck{Function: g.function, Target: fn.Target()}
			if err := fn.Validate(g.spec); err != nil {
				c.err, c.Error = err, err.Error()
			}
			out = append(out, c)
		}
	}
	return out
}
