package localprovider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/internal/controlplane"
	"github.com/updraft-dev/updraft/provider/driver"
)

// localFunction is the driver.Function of one local function.
type localFunction struct {
	h       *Host
	name    string
	caps    driver.Capabilities
	onClose func()
	once    sync.Once
}

func (l *localFunction) Name() string                      { return l.name }
func (l *localFunction) Capabilities() driver.Capabilities { return l.caps }
func (l *localFunction) ErrorCode(err error) driver.ErrorCode {
	return driver.CodeOf(err)
}

// As converts i to **Host.
func (l *localFunction) As(i any) bool {
	if p, ok := i.(**Host); ok && p != nil {
		*p = l.h
		return true
	}
	return false
}

func (l *localFunction) ErrorAs(error, any) bool { return false }

func (l *localFunction) Close() error {
	l.once.Do(func() {
		if l.onClose != nil {
			l.onClose()
		}
	})
	return nil
}

func (l *localFunction) notFound() error {
	return driver.FunctionNotFound(fmt.Sprintf("function %s in %s", l.name, l.h.dir))
}

// loadExisting reads the function's metadata; NotFound if it does not exist.
func (l *localFunction) loadExisting() (*fnMeta, error) {
	m, err := l.h.loadMeta(l.name)
	if err == nil && m == nil {
		err = l.notFound()
	}
	return m, err
}

// begin takes the function's control lock, in this process and across
// processes sharing the state directory.
func (l *localFunction) begin(ctx context.Context) (*fnRuntime, func(), error) {
	fr, err := l.h.runtime(l.name)
	if err != nil {
		return nil, nil, err
	}
	fr.ctl.Lock()
	unlockFile, err := lockFile(filepath.Join(l.h.dir, "functions", "."+l.name+".lock"))
	if err != nil {
		fr.ctl.Unlock()
		return nil, nil, driver.NewError(driver.Internal, fmt.Sprintf("locking %s: %v", l.name, err))
	}
	if err := ctx.Err(); err != nil {
		unlockFile()
		fr.ctl.Unlock()
		return nil, nil, err
	}
	return fr, func() { unlockFile(); fr.ctl.Unlock() }, nil
}

func (l *localFunction) Get(ctx context.Context) (*driver.State, error) {
	fr, err := l.h.runtime(l.name)
	if err != nil {
		return nil, err
	}
	m, err := l.loadExisting()
	if err != nil {
		return nil, err
	}
	fr.sync(m)
	return l.state(fr, m)
}

func (l *localFunction) state(fr *fnRuntime, m *fnMeta) (*driver.State, error) {
	return m.State(l.h.URL(l.name), fr.provisionedStatus), nil
}

// CheckSpec implements driver.SpecChecker: the entrypoint lies inside
// the code, and every event trigger's source names a possible local
// queue, stream or bucket.
func (l *localFunction) CheckSpec(s *driver.Spec) error {
	if err := checkEntrypoint(s.Entrypoint); err != nil {
		return driver.NewError(driver.InvalidArgument, err.Error())
	}
	for _, t := range s.Triggers {
		if err := checkLocalSource(t); err != nil {
			return err
		}
	}
	return nil
}

func (l *localFunction) Apply(ctx context.Context, s *driver.Spec, opts *driver.ApplyOptions) (*driver.ApplyResult, error) {
	if opts.BeforeApply != nil {
		// local has no native request; asFunc never converts.
		if err := opts.BeforeApply(func(any) bool { return false }); err != nil {
			return nil, err
		}
	}
	if err := l.CheckSpec(s); err != nil {
		return nil, err
	}
	fr, unlock, err := l.begin(ctx)
	if err != nil {
		return nil, err
	}
	a := &localApply{h: l.h}
	a.m, err = l.h.loadMeta(l.name)
	var res *driver.ApplyResult
	if err == nil {
		res, err = controlplane.Apply(ctx, a, l.name, s, opts)
	}
	if err == nil && a.dirty {
		// Saved once, whole: a step that failed leaves nothing applied.
		err = l.h.saveMeta(a.m)
	}
	unlock()
	if err != nil {
		return nil, err
	}
	fr.sync(a.m)
	if p := s.Concurrency.Provisioned; p != nil && *p > 0 {
		if err := fr.waitProvisioned(ctx, s.Route); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// localApply is the controlplane.Backend of one Apply: the function's
// decoded metadata, changed step by step under the control lock and saved
// by Apply when every step has succeeded.
type localApply struct {
	h     *Host
	m     *fnMeta // nil while the function does not exist
	dirty bool
}

func (a *localApply) View(fn func(*controlplane.Function)) {
	if a.m == nil {
		fn(nil)
		return
	}
	fn(&a.m.Function)
}

func (a *localApply) Step(ctx context.Context, _ string, mutate func(*controlplane.Function) (*controlplane.Function, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var cur *controlplane.Function
	if a.m != nil {
		cur = &a.m.Function
	}
	next, err := mutate(cur)
	if err != nil {
		return err
	}
	if cur == nil {
		a.m = &fnMeta{Function: *next}
	}
	a.dirty = true
	return nil
}

func (a *localApply) NewETag() string { return newETag() }

// Upload unpacks the code, once per digest.
func (a *localApply) Upload(ctx context.Context, b *bundle.Bundle, c driver.Config) error {
	if _, err := a.h.unpack(b, entrypoint(c)); err != nil {
		return err
	}
	return ctx.Err()
}

// Provision has nothing to do: the runtime starts provisioned instances
// when Apply syncs it.
func (a *localApply) Provision(string, int) {}

func (l *localFunction) ListRevisions(ctx context.Context) ([]*driver.Revision, error) {
	m, err := l.loadExisting()
	if err != nil {
		return nil, err
	}
	return m.RevisionList(), nil
}

// mutate runs fn on the function's metadata under the control lock and
// saves it when fn succeeds.
func (l *localFunction) mutate(ctx context.Context, fn func(m *fnMeta) error) error {
	fr, unlock, err := l.begin(ctx)
	if err != nil {
		return err
	}
	m, err := l.loadExisting()
	if err == nil {
		err = fn(m)
	}
	if err == nil {
		err = l.h.saveMeta(m)
	}
	unlock()
	if err != nil {
		return err
	}
	fr.sync(m)
	return nil
}

func (l *localFunction) UpdateRoute(ctx context.Context, routeName string, u *driver.RouteUpdate, opts *driver.ConditionOptions) (*driver.Route, error) {
	var out *driver.Route
	err := l.mutate(ctx, func(m *fnMeta) error {
		r, err := m.UpdateRoute(routeName, u, opts.IfMatch, newETag())
		if err == nil {
			out = r.View(nil)
		}
		return err
	})
	return out, err
}

func (l *localFunction) DeleteRevision(ctx context.Context, id string) error {
	err := l.mutate(ctx, func(m *fnMeta) error { return m.Function.DeleteRevision(id) })
	if err == nil {
		l.h.gcCode()
	}
	return err
}

func (l *localFunction) Delete(ctx context.Context) error {
	fr, unlock, err := l.begin(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := l.loadExisting(); err != nil {
		return err
	}
	fr.stopAll()
	fr.rec.reset()
	if err := os.RemoveAll(l.h.fnDir(l.name)); err != nil {
		return driver.NewError(driver.Internal, fmt.Sprintf("deleting %s: %v", l.h.fnDir(l.name), err))
	}
	fr.sync(nil) // stops this host's pollers of the function
	// As Lambda deletes a function's event source mappings: a function
	// created again under the name starts at its trigger's position.
	if err := l.h.dropStreamConsumers(ctx, l.name); err != nil {
		l.h.opts.Logger.Warn("the deleted function's stream positions were not forgotten; a function created again under its name resumes from them", "function", l.name, "err", err)
	}
	l.h.gcCode()
	return nil
}

func (l *localFunction) Invoke(ctx context.Context, req *driver.InvokeRequest) (*driver.InvokeResult, error) {
	fr, err := l.h.runtime(l.name)
	if err != nil {
		return nil, err
	}
	if fr.view() == nil {
		m, err := l.loadExisting()
		if err != nil {
			return nil, err
		}
		fr.sync(m)
	}
	return fr.invoke(ctx, req)
}

func (l *localFunction) Metrics(ctx context.Context, q *driver.MetricsQuery) (*driver.Metrics, error) {
	fr, err := l.h.runtime(l.name)
	if err != nil {
		return nil, err
	}
	if _, size := l.h.metaStamp(l.name); size < 0 {
		return nil, l.notFound()
	}
	return fr.metrics(q)
}
