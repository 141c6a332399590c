package localprovider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
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
	return driver.NewError(driver.NotFound, fmt.Sprintf("function %s does not exist in %s: Apply a spec to create it", l.name, l.h.dir))
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
	s := &driver.State{Name: m.Name, Config: cloneConfig(m.Config), ETag: m.ETag, Routes: map[string]*driver.Route{}}
	for name, r := range m.Routes {
		rt := r.route()
		rt.Name = name
		if r.Provisioned > 0 {
			rt.Provisioned = fr.provisionedStatus(name, r.Provisioned)
		}
		s.Routes[name] = rt
	}
	ts, err := m.triggers()
	if err != nil {
		return nil, driver.NewError(driver.Internal, err.Error())
	}
	if len(ts) > 0 {
		s.Triggers = ts
	}
	for _, t := range ts {
		if t.Kind() == trigger.KindHTTP {
			s.Endpoint = l.h.URL(l.name)
		}
	}
	return s, nil
}

func cloneConfig(c driver.Config) driver.Config { return c.Clone() }

// desired and sameConfig are the SPI's shared definitions, so Apply
// changes exactly what deploy.Plan reports.
func desired(live driver.Config, s *driver.Spec) driver.Config { return driver.Desired(live, s) }

func sameConfig(a, b driver.Config) bool { return driver.SameConfig(a, b) }

func (l *localFunction) Apply(ctx context.Context, s *driver.Spec, opts *driver.ApplyOptions) (*driver.ApplyResult, error) {
	if opts.BeforeApply != nil {
		// local has no native request; asFunc never converts.
		if err := opts.BeforeApply(func(any) bool { return false }); err != nil {
			return nil, err
		}
	}
	fr, unlock, err := l.begin(ctx)
	if err != nil {
		return nil, err
	}
	res, m, err := l.apply(ctx, s, opts)
	unlock()
	if err != nil {
		return nil, err
	}
	fr.sync(m)
	if p := s.Concurrency.Provisioned; p != nil && *p > 0 {
		if err := fr.waitProvisioned(ctx, s.Route); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func (l *localFunction) apply(ctx context.Context, s *driver.Spec, opts *driver.ApplyOptions) (*driver.ApplyResult, *fnMeta, error) {
	res := &driver.ApplyResult{}
	m, err := l.h.loadMeta(l.name)
	if err != nil {
		return nil, nil, err
	}
	if err := l.checkApply(m, s, opts); err != nil {
		return nil, nil, err
	}
	if m == nil {
		if s.Bundle == nil {
			return nil, nil, driver.NewError(driver.InvalidArgument, fmt.Sprintf("function %s does not exist and the spec has no code: set Spec.Code to create it", l.name))
		}
		m = &fnMeta{Name: l.name, NextRev: 1, Routes: map[string]*routeMeta{}}
		res.Created = true
	}
	live := m.Config
	want := desired(live, s)
	if s.Bundle != nil && (res.Created || s.Bundle.Digest != live.CodeDigest) {
		if _, err := l.h.unpack(s.Bundle, entrypoint(want)); err != nil {
			return nil, nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		res.UploadedBytes = s.Bundle.Size
	}
	if res.Created || !sameConfig(live, want) {
		m.Config = cloneConfig(want)
		m.ETag = newETag()
		res.Changed = true
	}

	if opts.Publish {
		var newest *driver.Revision
		if n := len(m.Revisions); n > 0 {
			newest = m.Revisions[n-1]
		}
		if newest == nil || !sameConfig(newest.Config, m.Config) {
			newest = &driver.Revision{ID: fmt.Sprint(m.NextRev), CodeDigest: m.Config.CodeDigest, Created: time.Now().UTC(), Config: cloneConfig(m.Config)}
			m.NextRev++
			m.Revisions = append(m.Revisions, newest)
			res.Published = true
		}
		r := *newest
		r.Config = cloneConfig(r.Config)
		res.Revision = &r
	}

	dirty := false
	r := m.Routes[s.Route]
	needsRoute := len(s.Triggers) > 0 || (s.Concurrency.Provisioned != nil && *s.Concurrency.Provisioned > 0)
	if r == nil {
		switch {
		case res.Revision != nil:
			r = &routeMeta{Name: s.Route, Traffic: driver.Traffic{Stable: res.Revision.ID}, ETag: newETag()}
			m.Routes[s.Route] = r
			dirty = true
		case needsRoute:
			return nil, nil, driver.NewError(driver.FailedPrecondition, fmt.Sprintf("route %s of %s does not exist, so triggers and provisioned concurrency have nothing to attach to: apply with Publish", s.Route, l.name))
		}
	}
	if s.Triggers != nil {
		cur, err := m.triggers()
		if err != nil {
			return nil, nil, driver.NewError(driver.Internal, err.Error())
		}
		if !sameTriggers(cur, s.Triggers) {
			st, err := storeTriggers(s.Triggers)
			if err != nil {
				return nil, nil, driver.NewError(driver.InvalidArgument, fmt.Sprintf("encoding triggers: %v", err))
			}
			m.Triggers = st
			res.Changed = true
		}
		if len(s.Triggers) > 0 && m.TriggerRoute != s.Route {
			m.TriggerRoute = s.Route
			res.Changed = true
		}
	}
	if p := s.Concurrency.Provisioned; p != nil && r != nil && *p != r.Provisioned {
		r.Provisioned = *p
		r.ETag = newETag()
		res.Changed = true
	}
	if res.Created || res.Changed || res.Published || dirty {
		if err := l.h.saveMeta(m); err != nil {
			return nil, nil, err
		}
	}
	return res, m, nil
}

// checkApply checks what Apply must refuse before it changes anything,
// under the function's lock: an entrypoint outside the code, and the
// preconditions (IfNotExist on an existing function, IfMatch that does
// not match, also on an absent one).
func (l *localFunction) checkApply(m *fnMeta, s *driver.Spec, opts *driver.ApplyOptions) error {
	if err := checkEntrypoint(s.Entrypoint); err != nil {
		return driver.NewError(driver.InvalidArgument, err.Error())
	}
	switch {
	case m != nil && opts.IfNotExist:
		return driver.NewError(driver.AlreadyExists, fmt.Sprintf("function %s already exists in %s: another deploy created it since this one was planned; plan again", l.name, l.h.dir))
	case m != nil:
		return driver.CheckETag("function "+l.name, opts.IfMatch, m.ETag)
	}
	return driver.CheckETag("function "+l.name, opts.IfMatch, "")
}

func sameTriggers(a, b []trigger.Trigger) bool {
	am, bm := map[string]trigger.Trigger{}, map[string]trigger.Trigger{}
	for _, t := range a {
		am[t.TriggerKey()] = t
	}
	for _, t := range b {
		bm[t.TriggerKey()] = t
	}
	return reflect.DeepEqual(am, bm)
}

func (l *localFunction) ListRevisions(ctx context.Context) ([]*driver.Revision, error) {
	m, err := l.loadExisting()
	if err != nil {
		return nil, err
	}
	out := make([]*driver.Revision, len(m.Revisions))
	for i, r := range m.Revisions {
		cp := *r
		cp.Config = cloneConfig(r.Config)
		out[i] = &cp
	}
	return out, nil
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
		r := m.Routes[routeName]
		var cur *driver.Route
		if r != nil {
			cur = r.route()
		}
		exists := func(id string) bool { return m.revision(id) != nil }
		if err := driver.CheckRouteUpdate(l.name, routeName, cur, u, opts.IfMatch, exists); err != nil {
			return err
		}
		if cur == nil {
			cur = &driver.Route{Name: routeName}
		}
		driver.ApplyRouteUpdate(cur, u, newETag())
		if r == nil {
			r = &routeMeta{Name: routeName}
			m.Routes[routeName] = r
		}
		r.Traffic, r.ETag, r.Marker, r.Verdicts = cur.Traffic, cur.ETag, cur.Marker, cur.Verdicts
		out = r.route()
		return nil
	})
	return out, err
}

func (l *localFunction) DeleteRevision(ctx context.Context, id string) error {
	err := l.mutate(ctx, func(m *fnMeta) error {
		i := slices.IndexFunc(m.Revisions, func(r *driver.Revision) bool { return r.ID == id })
		if i < 0 {
			return driver.RevisionNotFound(l.name, id)
		}
		traffic := make(map[string]driver.Traffic, len(m.Routes))
		for name, r := range m.Routes {
			traffic[name] = r.Traffic
		}
		if err := driver.CheckNotServing(l.name, id, traffic); err != nil {
			return err
		}
		m.Revisions = slices.Delete(m.Revisions, i, i+1)
		return nil
	})
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
	fr.sync(nil)
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
