package localprovider

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/updraft-dev/updraft/internal/controlplane"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// Function protocols an instance can speak, detected at its first start.
const (
	protoUnknown int32 = iota
	protoLambda        // AWS Lambda Runtime API
	protoHTTP          // plain HTTP on $PORT
)

// fnRuntime is one function's live side in a Host: its instances by
// revision, the routing view the gateway reads, and its records.
type fnRuntime struct {
	h    *Host
	name string
	arn  string // ARN prefix, ending in ':'

	ctl     sync.Mutex // serializes control-plane operations in this process
	syncMu  sync.Mutex
	gen     int64 // generation of the metadata last synced
	stamp   time.Time
	size    int64
	routing atomic.Pointer[routing]
	rec     recorder
	sched   scheduler
	events  eventSources

	outOnce sync.Once
	out     io.Writer
	log     *logPipe // nil when output goes to Options.FunctionOutput

	mu      sync.Mutex
	pools   map[string]*revPool
	insts   map[*instance]struct{}
	total   int // instances holding a slot (starting, idle or busy)
	max     int
	waiters []*waiter
	stopped bool
}

// routing is an immutable snapshot of a function's routes, swapped
// atomically on every change so the gateway never locks to read it.
type routing struct {
	routes    map[string]*routeView
	revs      map[string]*revPool
	httpRoute string   // route of the HTTP trigger; "" when there is none
	cors      []string // the HTTP trigger's CORS origins
}

type routeView struct {
	name          string
	stable, cand  *revPool
	pct           int
	provisioned   int
	stableShare   int
	candShare     int
	invokedARNFor string
}

// pick chooses a revision by the route's weights.
func (rv *routeView) pick() *revPool {
	if rv.cand != nil && rv.pct > 0 && rand.IntN(100) < rv.pct {
		return rv.cand
	}
	return rv.stable
}

// revPool holds the instances of one revision.
type revPool struct {
	fr      *fnRuntime
	id      string
	created time.Time
	dir     string
	exe     string
	env     []string
	memMB   int
	timeout time.Duration
	proto   atomic.Int32

	// guarded by fr.mu
	idle       []*instance // oldest first
	live       int         // instances of this revision holding a slot
	ready      int         // initialised instances
	target     int         // provisioned instances to keep
	retired    bool
	failReason string
}

type waiter struct {
	rp *revPool
	ch chan *instance // nil instance: a slot to start a new one
}

// errThrottled is returned by acquire when no instance freed in time.
type throttledError struct {
	name    string
	max     int
	waited  time.Duration
	stopped bool
	retired string // the revision, when it was deleted
}

func (e *throttledError) Error() string {
	if e.retired != "" {
		return fmt.Sprintf("revision %s of function %s was deleted or replaced: retry to reach the live revisions", e.retired, e.name)
	}
	if e.stopped {
		return fmt.Sprintf("function %s is shutting down", e.name)
	}
	return fmt.Sprintf("Rate Exceeded: function %s is at its maximum concurrency of %d instances and none freed within %s: raise Spec.Concurrency.Max or Options.QueueTimeout, or send fewer concurrent requests", e.name, e.max, e.waited)
}

// initError is returned by acquire when a new instance failed to start.
type initError struct{ msg string }

func (e *initError) Error() string { return e.msg }

func (h *Host) runtime(name string) (*fnRuntime, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, driver.NewError(driver.FailedPrecondition, fmt.Sprintf("the local host for %s is closed: open the function again", h.dir))
	}
	fr := h.fns[name]
	if fr == nil {
		fr = &fnRuntime{h: h, name: name, arn: "arn:aws:lambda:local:000000000000:function:" + name + ":",
			pools: map[string]*revPool{}, insts: map[*instance]struct{}{}, max: h.opts.MaxConcurrency}
		fr.rec.maxBytes, fr.rec.maxCount = h.opts.RecordMemory, h.opts.MaxRecords
		fr.rec.log.path, fr.rec.log.host = recordLogPath(h.dir, name), h.id
		fr.sched.fr, fr.events.fr = fr, fr
		h.fns[name] = fr
	}
	return fr, nil
}

// lookup returns the runtime of a function that exists, loading it from
// the state directory when this host has not seen it yet. A nil view and
// error mean the function does not exist; an error, that its metadata
// cannot be read.
func (h *Host) lookup(name string) (*fnRuntime, *routing, error) {
	h.mu.Lock()
	fr := h.fns[name]
	h.mu.Unlock()
	if fr != nil {
		if v := fr.view(); v != nil {
			return fr, v, nil
		}
	}
	if !nameRE.MatchString(name) {
		return nil, nil, nil
	}
	m, err := h.loadMeta(name)
	if err != nil || m == nil {
		return nil, nil, err
	}
	fr, err = h.runtime(name)
	if err != nil {
		return nil, nil, err
	}
	fr.sync(m)
	return fr, fr.view(), nil
}

func (fr *fnRuntime) view() *routing { return fr.routing.Load() }

func (fr *fnRuntime) output() io.Writer {
	fr.outOnce.Do(func() {
		if fr.h.opts.FunctionOutput != nil {
			fr.out = fr.h.opts.FunctionOutput
			return
		}
		dir := fr.h.fnDir(fr.name)
		os.MkdirAll(dir, 0o755)
		lw, err := openLog(filepath.Join(dir, "function.log"), fr.h.logLimit)
		if err == nil {
			fr.log, err = startLogPipe(lw, fr.h, fr.name)
		}
		if err != nil {
			fr.h.opts.Logger.Warn("cannot open the function log; output is discarded", "function", fr.name, "err", err)
			fr.out = io.Discard
			return
		}
		fr.out = fr.log.w
	})
	return fr.out
}

func (fr *fnRuntime) closeOutput() {
	if fr.log != nil {
		fr.log.close()
	}
}

// sync makes the live side match m: pools for its revisions, the routing
// view, provisioned targets and schedules. m nil means deleted.
func (fr *fnRuntime) sync(m *fnMeta) {
	fr.syncMu.Lock()
	defer fr.syncMu.Unlock()
	if m != nil && m.Gen < fr.gen {
		return // read before a change this host has already synced
	}
	fr.stamp, fr.size = fr.h.metaStamp(fr.name)
	if m == nil {
		fr.gen = 0
		fr.routing.Store(nil)
		fr.sched.update(nil, "")
		fr.events.update(nil, "")
		fr.mu.Lock()
		var kill []*instance
		for id, rp := range fr.pools {
			kill = append(kill, fr.retireLocked(rp)...)
			delete(fr.pools, id)
		}
		fr.mu.Unlock()
		killAll(kill, "the function was deleted")
		return
	}
	fr.gen = m.Gen
	ts := m.TriggerList()
	trigRoute := cmp.Or(m.TriggerRoute, provider.DefaultRoute)
	v := &routing{routes: map[string]*routeView{}, revs: map[string]*revPool{}}
	var kill []*instance
	fr.mu.Lock()
	fr.max = fr.h.opts.MaxConcurrency
	if mc := m.Config.MaxConcurrency; mc != nil && *mc > 0 {
		fr.max = *mc
	}
	for _, r := range m.Revisions {
		rp := fr.pools[r.ID]
		if rp != nil && !rp.created.Equal(r.Created) {
			kill = append(kill, fr.retireLocked(rp)...)
			rp = nil
		}
		if rp == nil {
			rp = fr.newPool(m.Name, r)
			fr.pools[r.ID] = rp
		}
		v.revs[r.ID] = rp
	}
	for id, rp := range fr.pools {
		if v.revs[id] != rp {
			kill = append(kill, fr.retireLocked(rp)...)
			delete(fr.pools, id)
		}
	}
	for _, rp := range v.revs {
		rp.target = 0
	}
	for name, r := range m.Routes {
		if rv := fr.routeView(v, name, r); rv != nil {
			v.routes[name] = rv
		}
	}
	fr.mu.Unlock()
	killAll(kill, "its revision was deleted")
	for _, t := range ts {
		if ht, ok := t.(trigger.HTTP); ok {
			v.httpRoute, v.cors = trigRoute, ht.CORSOrigins
		}
	}
	fr.routing.Store(v)
	fr.provision()
	fr.sched.update(ts, trigRoute)
	fr.events.update(ts, trigRoute)
}

// routeView is route name's view over the revision pools of v, and adds
// its provisioned instances to their targets; nil when its stable
// revision has no pool. fr.mu is held.
func (fr *fnRuntime) routeView(v *routing, name string, r *controlplane.Route) *routeView {
	rv := &routeView{name: name, stable: v.revs[r.Traffic.Stable], cand: v.revs[r.Traffic.Candidate],
		pct: r.Traffic.CandidatePercent, provisioned: r.Provisioned, invokedARNFor: fr.arn + name}
	if rv.stable == nil {
		return nil
	}
	if rv.cand == nil {
		rv.pct = 0
	}
	if r.Provisioned > 0 {
		if rv.cand != nil {
			rv.candShare = (r.Provisioned*rv.pct + 50) / 100
		}
		rv.stableShare = r.Provisioned - rv.candShare
		rv.stable.target += rv.stableShare
		if rv.cand != nil {
			rv.cand.target += rv.candShare
		}
	}
	return rv
}

// newPool prepares a revision's process settings. Called with fr.mu held.
func (fr *fnRuntime) newPool(name string, r *driver.Revision) *revPool {
	c := r.Config
	dir := fr.h.codeDir(r.CodeDigest)
	rp := &revPool{fr: fr, id: r.ID, created: r.Created, dir: dir, exe: filepath.Join(dir, filepath.FromSlash(entrypoint(c))),
		memMB: c.MemoryMB, timeout: c.Timeout}
	if rp.timeout <= 0 {
		rp.timeout = 3 * time.Second
	}
	if rp.memMB <= 0 {
		rp.memMB = 128
	}
	env := []string{
		"AWS_LAMBDA_FUNCTION_NAME=" + name,
		"AWS_LAMBDA_FUNCTION_VERSION=" + r.ID,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(rp.memMB),
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + name,
		"AWS_LAMBDA_LOG_STREAM_NAME=local/" + r.ID,
		"AWS_LAMBDA_LOG_FORMAT=" + map[bool]string{true: "JSON", false: "Text"}[c.LogFormat == "json"],
		"LAMBDA_TASK_ROOT=" + dir,
		"LAMBDA_RUNTIME_DIR=" + dir,
		"_HANDLER=" + c.Entrypoint,
		"K_SERVICE=" + name,
		"K_REVISION=" + name + "-" + r.ID,
		"K_CONFIGURATION=" + name,
		"UPDRAFT_PROVIDER=local",
		"UPDRAFT_REVISION=" + r.ID,
		// The AWS SDKs' SQS clients reach the local queues (the gateway
		// speaks the SQS JSON protocol); Spec.Env can point them elsewhere.
		"AWS_ENDPOINT_URL_SQS=http://" + fr.h.Addr(),
		"TZ=:UTC",
		// A soft limit that makes a Go function's GC keep its heap under
		// the memory size; the hard bound is the RSS watch (see the package doc).
		"GOMEMLIMIT=" + strconv.Itoa(rp.memMB*9/10) + "MiB",
		// Lambda gives a function CPU in proportion to its memory, one vCPU
		// per 1,769 MB: a Go function gets as many Ps.
		"GOMAXPROCS=" + strconv.Itoa(max(1, min(runtime.NumCPU(), (rp.memMB+1768)/1769))),
	}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG", "SYSTEMROOT"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	env = append(env, fr.h.awsEnv...)
	for _, k := range slices.Sorted(maps.Keys(c.Env)) {
		env = append(env, k+"="+c.Env[k])
	}
	// Secrets are references (an ARN, a Key Vault URI), never values, as
	// on the clouds: the function resolves them at run time.
	for _, k := range slices.Sorted(maps.Keys(c.Secrets)) {
		env = append(env, k+"="+c.Secrets[k])
	}
	rp.env = env
	return rp
}

// retireLocked stops routing to rp and returns its idle instances to kill;
// busy ones finish their request and are killed on release.
func (fr *fnRuntime) retireLocked(rp *revPool) []*instance {
	rp.retired = true
	rp.target = 0
	idle := rp.idle
	rp.idle = nil
	return idle
}

func killAll(ins []*instance, why string) {
	for _, in := range ins {
		in.kill(why)
	}
}

// acquire returns an instance of rp for one request: an idle one, a new
// one while under the function's maximum concurrency, or one freed within
// the queue timeout. cold reports that the instance was started for it.
func (fr *fnRuntime) acquire(ctx context.Context, rp *revPool) (in *instance, cold bool, err error) {
	fr.mu.Lock()
	for n := len(rp.idle); n > 0; n = len(rp.idle) {
		in = rp.idle[n-1]
		rp.idle = rp.idle[:n-1]
		if !in.isDead() {
			fr.mu.Unlock()
			return in, false, nil
		}
	}
	if fr.stopped || rp.retired {
		fr.mu.Unlock()
		te := &throttledError{name: fr.name, stopped: true}
		if rp.retired {
			te.retired = rp.id
		}
		return nil, false, te
	}
	if fr.total < fr.max {
		fr.total++
		rp.live++
		fr.mu.Unlock()
		in, err := fr.spawn(ctx, rp, false)
		return in, true, err
	}
	// At the maximum: an idle instance of another revision gives its slot.
	if victim := fr.idleVictimLocked(rp); victim != nil {
		victim.slotGiven = true
		rp.live++
		fr.mu.Unlock()
		victim.kill("its slot went to another revision at the maximum concurrency")
		in, err := fr.spawn(ctx, rp, false)
		return in, true, err
	}
	w := &waiter{rp: rp, ch: make(chan *instance, 1)}
	fr.waiters = append(fr.waiters, w)
	max := fr.max
	fr.mu.Unlock()

	qt := fr.h.opts.QueueTimeout
	t := time.NewTimer(qt)
	defer t.Stop()
	select {
	case in := <-w.ch:
		return fr.granted(ctx, rp, in)
	case <-t.C:
	case <-ctx.Done():
	}
	fr.mu.Lock()
	if i := slices.Index(fr.waiters, w); i >= 0 {
		fr.waiters = slices.Delete(fr.waiters, i, i+1)
		fr.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		return nil, false, &throttledError{name: fr.name, max: max, waited: qt}
	}
	fr.mu.Unlock()
	return fr.granted(ctx, rp, <-w.ch)
}

// granted completes a wait: a warm instance, or a slot to start one.
func (fr *fnRuntime) granted(ctx context.Context, rp *revPool, in *instance) (*instance, bool, error) {
	if in != nil {
		return in, false, nil
	}
	in, err := fr.spawn(ctx, rp, false)
	return in, true, err
}

// idleVictimLocked finds the longest idle instance of another revision
// that is not provisioned, or any idle one of a retired revision.
func (fr *fnRuntime) idleVictimLocked(not *revPool) *instance {
	var best *instance
	var bestPool *revPool
	for _, rp := range fr.pools {
		if rp == not || len(rp.idle) == 0 || (rp.live <= rp.target && !rp.retired) {
			continue
		}
		if c := rp.idle[0]; best == nil || c.lastUsed.Before(best.lastUsed) {
			best, bestPool = c, rp
		}
	}
	if best != nil {
		bestPool.idle = bestPool.idle[1:]
	}
	return best
}

// release returns a healthy instance after a request: to a waiter of its
// revision, as a slot to a waiter of another one, or to the idle list.
func (fr *fnRuntime) release(in *instance) {
	fr.mu.Lock()
	if in.isDead() {
		fr.mu.Unlock()
		return
	}
	rp := in.rp
	if !in.isReady {
		in.isReady = true
		rp.ready++
	}
	for i, w := range fr.waiters {
		if w.rp == rp {
			fr.waiters = slices.Delete(fr.waiters, i, i+1)
			fr.mu.Unlock()
			w.ch <- in
			return
		}
	}
	if len(fr.waiters) > 0 || rp.retired || fr.stopped {
		if len(fr.waiters) > 0 {
			w := fr.waiters[0]
			fr.waiters = fr.waiters[1:]
			in.slotGiven = true
			w.rp.live++
			w.ch <- nil
		}
		fr.mu.Unlock()
		in.kill("its revision is no longer served")
		return
	}
	in.lastUsed = time.Now()
	rp.idle = append(rp.idle, in)
	fr.mu.Unlock()
}

// gone is called once when an instance's process has exited (or never
// started): it frees the instance's slot for a waiter.
func (fr *fnRuntime) gone(in *instance) {
	fr.mu.Lock()
	rp := in.rp
	if i := slices.Index(rp.idle, in); i >= 0 {
		rp.idle = slices.Delete(rp.idle, i, i+1)
	}
	delete(fr.insts, in)
	rp.live--
	if in.isReady {
		rp.ready--
	}
	if !in.slotGiven {
		fr.freeSlotLocked()
	}
	fr.mu.Unlock()
	if !fr.isStopped() {
		fr.provision()
	}
}

func (fr *fnRuntime) isStopped() bool {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	return fr.stopped
}

// freeSlotLocked passes a freed slot to the first waiter, or returns it.
func (fr *fnRuntime) freeSlotLocked() {
	if len(fr.waiters) > 0 {
		w := fr.waiters[0]
		fr.waiters = fr.waiters[1:]
		w.rp.live++
		w.ch <- nil
		return
	}
	fr.total--
}

// spawn starts an instance of rp in a slot already counted and waits for
// it to initialise. On failure the slot is freed.
func (fr *fnRuntime) spawn(ctx context.Context, rp *revPool, provisioned bool) (*instance, error) {
	in, err := fr.start(rp, provisioned)
	if err != nil {
		fr.mu.Lock()
		rp.live--
		fr.freeSlotLocked()
		fr.mu.Unlock()
		return nil, &initError{msg: fmt.Sprintf("function %s revision %s could not start: %v", fr.name, rp.id, err)}
	}
	if err := in.waitInit(ctx, fr.h.opts.InitTimeout); err != nil {
		in.kill("it failed to initialise")
		return nil, err
	}
	if !provisioned {
		// A provisioned instance counts as ready when release puts it in
		// the idle list, so READY always means requests find it warm.
		fr.mu.Lock()
		in.isReady = true
		rp.ready++
		fr.mu.Unlock()
	}
	return in, nil
}

// provision starts the provisioned instances each revision is missing,
// within the function's maximum concurrency, in the background.
func (fr *fnRuntime) provision() {
	fr.mu.Lock()
	if fr.stopped || fr.h.isClosed() {
		fr.mu.Unlock()
		return
	}
	var todo []*revPool
	var evict []*instance
	for _, rp := range fr.pools {
		for !rp.retired && rp.live < rp.target {
			if fr.total < fr.max {
				fr.total++
			} else if v := fr.idleVictimLocked(rp); v != nil {
				// At the maximum: an idle instance beyond another
				// revision's provisioned ones gives its slot.
				v.slotGiven = true
				evict = append(evict, v)
			} else {
				break
			}
			rp.live++
			todo = append(todo, rp)
		}
	}
	fr.mu.Unlock()
	killAll(evict, "its slot went to a provisioned instance of another revision")
	for _, rp := range todo {
		go func() {
			defer fr.h.recovered("provisioning", "function", fr.name, "revision", rp.id)
			in, err := fr.spawn(fr.h.ctx, rp, true)
			if err != nil {
				fr.mu.Lock()
				rp.failReason = err.Error()
				fr.mu.Unlock()
				fr.h.opts.Logger.Warn("provisioned instance failed", "function", fr.name, "revision", rp.id, "err", err)
				return
			}
			fr.mu.Lock()
			rp.failReason = ""
			fr.mu.Unlock()
			fr.release(in)
		}()
	}
}

// provisionedStatus reports provisioned concurrency on route.
func (fr *fnRuntime) provisionedStatus(route string, requested int) *driver.Provisioned {
	p := &driver.Provisioned{Requested: requested, Status: "IN_PROGRESS"}
	v := fr.view()
	if v == nil || v.routes[route] == nil {
		return p
	}
	rv := v.routes[route]
	fr.mu.Lock()
	p.Ready = min(rv.stable.ready, rv.stableShare)
	reason := rv.stable.failReason
	if rv.cand != nil {
		p.Ready += min(rv.cand.ready, rv.candShare)
		if reason == "" {
			reason = rv.cand.failReason
		}
	}
	fr.mu.Unlock()
	switch {
	case p.Ready >= requested:
		p.Status = "READY"
	case reason != "":
		p.Status, p.Reason = "FAILED", reason
	}
	return p
}

// waitProvisioned waits until provisioned concurrency on route is READY.
func (fr *fnRuntime) waitProvisioned(ctx context.Context, route string) error {
	return controlplane.WaitProvisioned(ctx, fr.name, route, 2*time.Millisecond, func() *driver.Provisioned {
		v := fr.view()
		if v == nil || v.routes[route] == nil || v.routes[route].provisioned == 0 {
			return nil
		}
		return fr.provisionedStatus(route, v.routes[route].provisioned)
	})
}

// stopAll kills every instance of the function (Delete).
func (fr *fnRuntime) stopAll() {
	fr.mu.Lock()
	var kill []*instance
	for in := range fr.insts {
		kill = append(kill, in)
	}
	for _, rp := range fr.pools {
		rp.target = 0
	}
	fr.mu.Unlock()
	killAll(kill, "the function was deleted")
}

// shutdown kills every instance and refuses new ones (Host.Close).
func (fr *fnRuntime) shutdown() {
	fr.sched.update(nil, "")
	fr.events.update(nil, "")
	fr.mu.Lock()
	fr.stopped = true
	var kill []*instance
	for in := range fr.insts {
		kill = append(kill, in)
	}
	ws := fr.waiters
	fr.waiters = nil
	fr.mu.Unlock()
	for _, w := range ws {
		w.rp.fr.mu.Lock()
		w.rp.live++
		w.rp.fr.mu.Unlock()
		w.ch <- nil // the waiter's spawn fails: the host is closed
	}
	killAll(kill, "the host is closing")
}

// housekeeping reaps idle instances, keeps provisioned ones, watches
// memory and notices metadata changed by other processes.
func (h *Host) housekeeping() {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var n int
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-tick.C:
		}
		n++
		h.mu.Lock()
		fns := make([]*fnRuntime, 0, len(h.fns))
		for _, fr := range h.fns {
			fns = append(fns, fr)
		}
		h.mu.Unlock()
		for _, fr := range fns {
			fr.tick(n)
		}
	}
}

// tick is one round of housekeeping for fr; a panic in it ends that
// round for that function alone.
func (fr *fnRuntime) tick(n int) {
	defer fr.h.recovered("housekeeping", "function", fr.name)
	fr.watchMemory()
	fr.rec.flush()
	if n%10 == 0 {
		fr.reap()
		fr.refreshFromDisk()
	}
}

// reap kills instances idle longer than the keep-alive, beyond the
// provisioned ones.
func (fr *fnRuntime) reap() {
	cutoff := time.Now().Add(-fr.h.opts.KeepAlive)
	var kill []*instance
	fr.mu.Lock()
	for _, rp := range fr.pools {
		for len(rp.idle) > 0 && rp.idle[0].lastUsed.Before(cutoff) && rp.live-len(kill) > rp.target {
			kill = append(kill, rp.idle[0])
			rp.idle = rp.idle[1:]
		}
	}
	fr.mu.Unlock()
	killAll(kill, "it was idle longer than the keep-alive")
	fr.provision()
}

// refreshFromDisk re-reads the metadata when another process changed it.
func (fr *fnRuntime) refreshFromDisk() {
	if fr.view() == nil {
		return
	}
	t, size := fr.h.metaStamp(fr.name)
	fr.syncMu.Lock()
	same := t.Equal(fr.stamp) && size == fr.size
	fr.syncMu.Unlock()
	if same || !fr.ctl.TryLock() {
		return
	}
	defer fr.ctl.Unlock()
	m, err := fr.h.loadMeta(fr.name)
	if err != nil {
		// Keep serving what was last read; say so once per change.
		fr.syncMu.Lock()
		fr.stamp, fr.size = t, size
		fr.syncMu.Unlock()
		fr.h.opts.Logger.Warn("metadata changed on disk cannot be read; serving the last good one", "function", fr.name, "err", err)
		return
	}
	fr.sync(m)
}

// watchMemory kills instances whose resident memory is over their
// revision's memory size (where the OS reports it).
func (fr *fnRuntime) watchMemory() {
	if runtime.GOOS != "linux" {
		return
	}
	fr.mu.Lock()
	ins := make([]*instance, 0, len(fr.insts))
	for in := range fr.insts {
		ins = append(ins, in)
	}
	fr.mu.Unlock()
	for _, in := range ins {
		rss := residentBytes(in.pid)
		if limit := int64(in.rp.memMB) << 20; rss > limit {
			in.kill(fmt.Sprintf("Runtime.OutOfMemory: its resident memory %d MB is over the function's %d MB (raise Spec.MemoryMB)", rss>>20, in.rp.memMB))
		}
	}
}
