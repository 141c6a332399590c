package controlplane_test

import (
	"context"
	"fmt"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/internal/controlplane"
	"github.com/updraft-dev/updraft/provider/driver"
)

// store is the smallest Backend: one function in memory, each step
// logged.
type store struct {
	f    *controlplane.Function
	etag int
}

func (s *store) View(fn func(*controlplane.Function)) { fn(s.f) }
func (s *store) Step(_ context.Context, op string, mutate func(*controlplane.Function) (*controlplane.Function, error)) error {
	fmt.Println("step", op)
	f, err := mutate(s.f)
	if err == nil {
		s.f = f
	}
	return err
}
func (s *store) NewETag() string { s.etag++; return fmt.Sprint("e", s.etag) }
func (s *store) Upload(context.Context, *bundle.Bundle, driver.Config) error {
	return nil
}
func (s *store) Provision(string, int) {}

// Apply runs the steps a spec needs and no others: the second Apply of
// the same spec changes nothing.
func ExampleApply() {
	ctx := context.Background()
	b := &store{}
	spec := &driver.Spec{Bundle: &bundle.Bundle{Digest: "sha256:aa", Size: 10}, Runtime: "go", Route: "live"}
	opts := &driver.ApplyOptions{Publish: true}
	res, err := controlplane.Apply(ctx, b, "hello", spec, opts)
	fmt.Println(res.Created, res.Revision.ID, err)
	res, err = controlplane.Apply(ctx, b, "hello", spec, opts)
	fmt.Println(res.Changed, res.Published, err)
	_, err = controlplane.Apply(ctx, b, "hello", spec, &driver.ApplyOptions{IfNotExist: true})
	fmt.Println(driver.CodeOf(err))
	fmt.Println(b.f.DeleteRevision("1") != nil)
	// Output:
	// step Apply.Create
	// step Apply.Publish
	// step Apply.CreateRoute
	// true 1 <nil>
	// false false <nil>
	// AlreadyExists
	// true
}
