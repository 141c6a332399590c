package controlplane

import (
	"context"
	"fmt"
	"testing"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// mapBackend keeps one function in memory; before, when set, runs before
// each step and may fail it or change the state under it.
type mapBackend struct {
	f      *Function
	n      int
	ops    []string
	before func(op string) error
}

func (b *mapBackend) View(fn func(*Function)) { fn(b.f) }
func (b *mapBackend) Step(_ context.Context, op string, mutate func(*Function) (*Function, error)) error {
	b.ops = append(b.ops, op)
	if b.before != nil {
		if err := b.before(op); err != nil {
			return err
		}
	}
	f, err := mutate(b.f)
	if err == nil {
		b.f = f
	}
	return err
}
func (b *mapBackend) NewETag() string                                             { b.n++; return fmt.Sprint(b.n) }
func (b *mapBackend) Upload(context.Context, *bundle.Bundle, driver.Config) error { return nil }
func (b *mapBackend) Provision(string, int)                                       {}

func spec() *driver.Spec {
	return &driver.Spec{Bundle: &bundle.Bundle{Digest: "sha256:aa", Size: 1}, Runtime: "go", Route: "live"}
}

func TestApplySteps(t *testing.T) {
	ctx := t.Context()
	b := &mapBackend{}
	s := spec()
	s.Triggers = []trigger.Trigger{trigger.Schedule{Key: "tick", Cron: "*/5 * * * *"}}
	_, err := Apply(ctx, b, "f", s, &driver.ApplyOptions{})
	if driver.CodeOf(err) != driver.FailedPrecondition {
		t.Fatalf("triggers without a route: %v", err)
	}
	s.Concurrency.Provisioned = new(int)
	*s.Concurrency.Provisioned = 2
	b.ops = nil
	res, err := Apply(ctx, b, "f", s, &driver.ApplyOptions{Publish: true})
	if err != nil || !res.Published {
		t.Fatalf("Apply: %+v %v", res, err)
	}
	want := []string{OpPublish, OpCreateRoute, OpTriggers, OpProvisioned}
	if fmt.Sprint(b.ops) != fmt.Sprint(want) {
		t.Fatalf("steps %v, want %v", b.ops, want)
	}
	if r := b.f.Routes["live"]; r.Provisioned != 2 || b.f.TriggerRoute != "live" {
		t.Fatalf("route %+v, trigger route %q", r, b.f.TriggerRoute)
	}
	b.ops = nil
	if res, err := Apply(ctx, b, "f", s, &driver.ApplyOptions{Publish: true}); err != nil || res.Changed || len(b.ops) > 0 {
		t.Fatalf("no-op Apply: %+v %v, steps %v", res, err, b.ops)
	}
}

func TestDeletedDuringApply(t *testing.T) {
	ctx := t.Context()
	b := &mapBackend{}
	if _, err := Apply(ctx, b, "f", spec(), &driver.ApplyOptions{Publish: true}); err != nil {
		t.Fatal(err)
	}
	s := spec()
	s.Env = map[string]string{"V": "2"}
	b.before = func(op string) error {
		if op == OpPublish {
			b.f = nil // another process deleted the function
		}
		return nil
	}
	if _, err := Apply(ctx, b, "f", s, &driver.ApplyOptions{Publish: true}); driver.CodeOf(err) != driver.NotFound {
		t.Fatalf("Apply over a deleted function: %v", err)
	}
}

func TestCreateRace(t *testing.T) {
	b := &mapBackend{}
	b.before = func(op string) error {
		if op == OpCreate && b.f == nil {
			b.f = &Function{Name: "f", Routes: map[string]*Route{}} // created meanwhile
		}
		return nil
	}
	if _, err := Apply(t.Context(), b, "f", spec(), &driver.ApplyOptions{}); driver.CodeOf(err) != driver.AlreadyExists {
		t.Fatalf("a create that lost its race: %v", err)
	}
}
