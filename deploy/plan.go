package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider"
	"github.com/updraft-dev/updraft/trigger"
)

// PlanOptions configure Plan. Nil means the defaults.
type PlanOptions struct {
	// Concurrency bounds how many targets are read at once; 0 means 16.
	Concurrency int
	// Bundle configures the code build (cache directory, no cache).
	Bundle *provider.BundleOptions
	// Retry is kept for compatibility: reads are not retried by deploy
	// (drivers retry transient failures inside each call).
	Retry RetryPolicy
	// Logger receives progress records; nil means none.
	Logger *slog.Logger
	// OnEvent, when set, receives an EventPlanned per target, one call at a time.
	OnEvent func(Event)
}

// ChangeKind classifies a Change.
type ChangeKind string

// The kinds of change a plan reports, in the order Apply makes them.
const (
	ChangeCreate        ChangeKind = "create"         // the function does not exist and will be created
	ChangeCode          ChangeKind = "code"           // new code is uploaded
	ChangeConfig        ChangeKind = "config"         // a configuration field changes in place (Field names it)
	ChangeRevision      ChangeKind = "revision"       // a new revision is published
	ChangeTriggerAdd    ChangeKind = "trigger-add"    // a trigger is added (Field is its key)
	ChangeTriggerUpdate ChangeKind = "trigger-update" // a trigger is changed
	ChangeTriggerRemove ChangeKind = "trigger-remove" // a trigger updraft owns is removed
	ChangeProvisioned   ChangeKind = "provisioned"    // provisioned concurrency on the route changes
	ChangeTraffic       ChangeKind = "traffic"        // the route's traffic moves (Field is the route)
)

// Change is one difference between the Spec and what is live. From and To
// are display strings; sensitive values show as "[redacted]".
type Change struct {
	Kind  ChangeKind `json:"kind"`
	Field string     `json:"field,omitempty"`
	From  string     `json:"from,omitempty"`
	To    string     `json:"to,omitempty"`
}

// Violation is a problem with the Spec for one target: a bad value
// (Code "InvalidArgument") or a feature the target lacks ("Unimplemented").
type Violation struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// MarkerInfo describes a rollout in progress recorded on a route.
type MarkerInfo struct {
	ID        string    `json:"id"`
	Holder    string    `json:"holder"`
	Stable    string    `json:"stable"`
	Candidate string    `json:"candidate"`
	Step      int       `json:"step"`
	Percent   int       `json:"percent"`
	Started   time.Time `json:"started"`
	// Expires is when the holder's lease runs out (zero: the marker has
	// no lease and never expires by itself); Live is true while it has
	// not, when Plan read it.
	Expires time.Time `json:"expires,omitzero"`
	Live    bool      `json:"live"`
}

func markerInfo(m *provider.Marker) *MarkerInfo { return markerInfoAt(m, time.Now()) }

// markerInfoAt describes m as read at time at.
func markerInfoAt(m *provider.Marker, at time.Time) *MarkerInfo {
	if m == nil {
		return nil
	}
	return &MarkerInfo{ID: m.ID, Holder: m.Holder, Stable: m.Stable, Candidate: m.Candidate, Step: m.Step, Percent: m.Percent,
		Started: m.Started, Expires: m.Expires(), Live: leaseLive(m, at)}
}

// String describes the rollout in one line.
func (m *MarkerInfo) String() string {
	lease := "no lease"
	switch {
	case m.Expires.IsZero():
	case m.Live:
		lease = "lease live until " + m.Expires.UTC().Format(time.RFC3339)
	default:
		lease = "lease expired at " + m.Expires.UTC().Format(time.RFC3339) + ": its holder is gone"
	}
	if m.Candidate == "" {
		return fmt.Sprintf("rollout %s by %s, preparing a candidate to replace revision %s, started %s, %s",
			m.ID, m.Holder, m.Stable, m.Started.UTC().Format(time.RFC3339), lease)
	}
	return fmt.Sprintf("rollout %s by %s in progress: revision %s → %s at step %d (%d%%), started %s, %s",
		m.ID, m.Holder, m.Stable, m.Candidate, m.Step, m.Percent, m.Started.UTC().Format(time.RFC3339), lease)
}

// TargetPlan is the plan for one target.
type TargetPlan struct {
	// Target names the function, such as "mem://hello".
	Target string `json:"target"`
	// Route is the route the Spec attaches to and rollouts shift.
	Route string `json:"route"`
	// Exists is false when Apply will create the function.
	Exists bool `json:"exists"`
	// Live is the revision serving the route now ("" if none).
	Live string `json:"live,omitempty"`
	// Revision is the existing revision that matches the Spec, when
	// NewRevision is false; Apply makes it serve the route.
	Revision string `json:"revision,omitempty"`
	// NewRevision is true when Apply publishes a new revision.
	NewRevision bool `json:"newRevision"`
	// CodeDigest is the digest of the built bundle ("" when code is not managed).
	CodeDigest string `json:"codeDigest,omitempty"`
	// Changes lists what Apply would do, in order; empty means nothing.
	Changes []Change `json:"changes"`
	// Violations lists every problem with the Spec for this target; Apply
	// and Rollout refuse a plan with violations.
	Violations []Violation `json:"violations,omitempty"`
	// Rollout is the rollout in progress on the route, if any.
	Rollout *MarkerInfo `json:"rollout,omitempty"`
	// FailedRevision is set when the Spec (code and configuration) is a
	// revision recorded as failed on the route: Apply and Rollout refuse
	// to move traffic to it unless AllowFailedRevision is set.
	FailedRevision string `json:"failedRevision,omitempty"`
	// FailedCode is set when the Spec's code is that of a revision
	// recorded as failed, with a different configuration: a warning only,
	// since a configuration change is a usual fix.
	FailedCode string `json:"failedCode,omitempty"`
	// LastGood is the route's last known good revision: the last one a
	// rollout completed with ("" when none has).
	LastGood string `json:"lastGood,omitempty"`

	fn          *provider.Function
	readAt      time.Time // when the state was read: leases are judged at that time
	spec        *provider.Spec
	caps        provider.Capabilities
	bundle      *bundle.Bundle
	state       *provider.State // nil when the function does not exist
	revisions   []*provider.Revision
	listed      bool   // revisions were listed (see needRevisions)
	liveRev     string // the revision the target knows serves the live configuration ("" unknown)
	validateErr error
}

// HasChanges reports whether Apply would change this target.
func (t *TargetPlan) HasChanges() bool { return len(t.Changes) > 0 }

// Function returns the target's handle.
func (t *TargetPlan) Function() *provider.Function { return t.fn }

// needsApply reports whether a change other than traffic is planned.
func (t *TargetPlan) needsApply() bool {
	for _, c := range t.Changes {
		if c.Kind != ChangeTraffic {
			return true
		}
	}
	return false
}

func (t *TargetPlan) route() *provider.Route {
	if t.state == nil {
		return nil
	}
	return t.state.Routes[t.Route]
}

// PlanResult is what Apply would do on each target, computed before any
// mutation. It marshals to stable JSON and prints as a diff.
type PlanResult struct {
	// Targets are in the order the functions were given.
	Targets []*TargetPlan `json:"targets"`

	spec *provider.Spec
	red  *redactor
}

// HasChanges reports whether Apply would change any target.
func (p *PlanResult) HasChanges() bool {
	for _, t := range p.Targets {
		if t.HasChanges() {
			return true
		}
	}
	return false
}

// Err returns the violations of every target as one error (a
// go-multierror of *TargetError with code InvalidArgument or
// Unimplemented), or nil when the Spec is valid for all targets.
func (p *PlanResult) Err() error {
	var errs []error
	for _, t := range p.Targets {
		if t.validateErr != nil {
			errs = append(errs, &TargetError{Target: t.Target, Step: StepValidate, Err: t.validateErr})
		}
	}
	return p.red.scrubErr(joinErrors(errs...))
}

// MarshalJSON encodes the plan with a top-level hasChanges field. The
// field order and the order of targets and changes are stable.
func (p *PlanResult) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		HasChanges bool          `json:"hasChanges"`
		Targets    []*TargetPlan `json:"targets"`
	}{p.HasChanges(), p.Targets})
}

// String renders the plan as a human-readable diff: "+" adds, "~"
// changes, "-" removes, "!" needs attention.
func (p *PlanResult) String() string {
	var b strings.Builder
	for _, t := range p.Targets {
		if !t.HasChanges() && len(t.Violations) == 0 && t.Rollout == nil && t.FailedRevision == "" && t.FailedCode == "" {
			fmt.Fprintf(&b, "%s: no changes (route %s on revision %s)\n", t.Target, t.Route, t.Live)
			continue
		}
		fmt.Fprintf(&b, "%s (route %s):\n", t.Target, t.Route)
		for _, c := range t.Changes {
			b.WriteString("  " + c.String() + "\n")
		}
		if t.Rollout != nil {
			b.WriteString("  ! " + t.Rollout.String() + "\n")
		}
		if t.FailedRevision != "" {
			fmt.Fprintf(&b, "  ! the spec is revision %s, which failed a rollout: Apply and Rollout refuse it unless AllowFailedRevision is set\n", t.FailedRevision)
		}
		if t.FailedCode != "" {
			fmt.Fprintf(&b, "  ! the code is that of revision %s, which failed a rollout (the configuration differs)\n", t.FailedCode)
		}
		for _, v := range t.Violations {
			fmt.Fprintf(&b, "  ! %s (%s): %s\n", v.Field, v.Code, v.Message)
		}
	}
	return p.red.scrub(b.String())
}

// String renders the change as one diff line.
func (c Change) String() string {
	switch c.Kind {
	case ChangeCreate:
		return "+ create function"
	case ChangeCode:
		if c.From == "" {
			return "+ code " + c.To
		}
		return fmt.Sprintf("~ code %s → %s", c.From, c.To)
	case ChangeRevision:
		if c.From == "" {
			return "+ publish a new revision"
		}
		return "+ publish a new revision (newest is " + c.From + ")"
	case ChangeTriggerAdd:
		return "+ trigger " + c.To
	case ChangeTriggerRemove:
		return "- trigger " + c.From
	case ChangeTriggerUpdate:
		return fmt.Sprintf("~ trigger %s → %s", c.From, c.To)
	case ChangeTraffic:
		return fmt.Sprintf("~ traffic on route %s: %s → %s", c.Field, orNone(c.From), c.To)
	case ChangeProvisioned:
		return fmt.Sprintf("~ provisioned concurrency %s → %s", orNone(c.From), c.To)
	}
	switch {
	case c.From == "":
		return fmt.Sprintf("+ %s: %s", c.Field, c.To)
	case c.To == "":
		return fmt.Sprintf("- %s: %s", c.Field, c.From)
	}
	return fmt.Sprintf("~ %s: %s → %s", c.Field, c.From, c.To)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Plan reads every target concurrently and reports what Apply would
// change on each, and every violation of the Spec, without mutating
// anything. It builds the code bundle once per distinct target form and
// keeps it, so ApplyPlan uploads exactly what was planned.
//
// A target that cannot be read fails the whole Plan; the error lists every
// such target (a go-multierror of *TargetError). Violations do not fail
// Plan: they are in the plan (see Plan.Err).
func Plan(ctx context.Context, fns []*provider.Function, spec *provider.Spec, opts *PlanOptions) (*PlanResult, error) {
	if opts == nil {
		opts = &PlanOptions{}
	}
	if err := checkTargets(fns, spec, "Plan"); err != nil {
		return nil, err
	}
	red := newRedactor(spec)
	em := newEmitter(opts.Logger, opts.OnEvent, red)
	p := &PlanResult{Targets: make([]*TargetPlan, len(fns)), spec: spec, red: red}
	bundles := &bundleCache{m: map[string]*bundleOnce{}}
	var redMu sync.Mutex
	errs := forEach(len(fns), opts.Concurrency, func(i int) error {
		tp, err := planTarget(ctx, fns[i], spec, bundles, opts)
		if err != nil {
			return err
		}
		p.Targets[i] = tp
		if tp.state != nil {
			redMu.Lock()
			red.merge(newRedactor(nil, &tp.state.Config))
			redMu.Unlock()
		}
		return nil
	})
	for i, err := range errs {
		errs[i] = targetErr(fns[i].Target(), StepRead, err)
	}
	if err := joinErrors(errs...); err != nil {
		return nil, red.scrubErr(err)
	}
	for _, tp := range p.Targets {
		tp.redact()
		msg := fmt.Sprintf("%d changes", len(tp.Changes))
		if len(tp.Violations) > 0 {
			msg += fmt.Sprintf(", %d violations", len(tp.Violations))
		}
		em.emit(Event{Kind: EventPlanned, Target: tp.Target, Message: msg})
	}
	return p, nil
}

// checkTargets rejects an empty target list, a nil spec, and a function given twice.
func checkTargets(fns []*provider.Function, spec *provider.Spec, op string) error {
	if spec == nil {
		return provider.Errorf(provider.InvalidArgument, "deploy", op, "spec is nil")
	}
	return checkFns(fns, op)
}

func checkFns(fns []*provider.Function, op string) error {
	if len(fns) == 0 {
		return provider.Errorf(provider.InvalidArgument, "deploy", op, "no targets: pass at least one function")
	}
	seen := map[string]bool{}
	for i, f := range fns {
		if f == nil {
			return provider.Errorf(provider.InvalidArgument, "deploy", op, "target %d is nil", i)
		}
		if seen[f.Target()] {
			return provider.Errorf(provider.InvalidArgument, f.Target(), op, "target is given twice: pass each function once")
		}
		seen[f.Target()] = true
	}
	return nil
}

type bundleOnce struct {
	once sync.Once
	b    *bundle.Bundle
	err  error
}

// bundleCache builds each distinct (form, limits, architecture) once per Plan.
type bundleCache struct {
	mu sync.Mutex
	m  map[string]*bundleOnce
}

func (c *bundleCache) get(ctx context.Context, fn *provider.Function, spec *provider.Spec, opts *provider.BundleOptions) (*bundle.Bundle, error) {
	caps := fn.Capabilities()
	arch := spec.Architecture
	if arch == "" && len(caps.Architectures) > 0 {
		arch = caps.Architectures[0]
	}
	key := fmt.Sprintf("%#v|%#v|%s", caps.CodeForm, caps.CodeLimits, arch)
	c.mu.Lock()
	o := c.m[key]
	if o == nil {
		o = &bundleOnce{}
		c.m[key] = o
	}
	c.mu.Unlock()
	o.once.Do(func() { o.b, o.err = fn.Bundle(ctx, spec, opts) })
	return o.b, o.err
}

func planTarget(ctx context.Context, fn *provider.Function, spec *provider.Spec, bundles *bundleCache, opts *PlanOptions) (*TargetPlan, error) {
	caps := fn.Capabilities()
	route := spec.Route
	if route == "" {
		route = provider.DefaultRoute
	}
	tp := &TargetPlan{Target: fn.Target(), Route: route, fn: fn, spec: spec, caps: caps, Changes: []Change{}}
	if err := fn.Validate(spec); err != nil {
		tp.validateErr = err
		var ve *provider.ValidationError
		if errors.As(err, &ve) {
			for _, v := range ve.Violations {
				tp.Violations = append(tp.Violations, Violation{Field: v.Field, Code: v.Code.String(), Message: v.Message})
			}
		}
	}
	// A NotFound read means the function does not exist: Apply creates it
	// with IfNotExist, so a NotFound that was not true fails there
	// (AlreadyExists) instead of being taken for a new function. Any
	// other read error, and a NotFound of the revisions of a function
	// just read, fail the plan for this target.
	//
	// The read is scoped to what the Spec manages (its route, and its
	// triggers and provisioned concurrency only when it manages them), and
	// it is the read Apply and Rollout work from: they pass its ETags on
	// as preconditions instead of reading again.
	tp.readAt = time.Now()
	state, err := fn.Read(ctx, provider.ReadOptionsFor(spec))
	switch {
	case provider.Code(err) == provider.NotFound:
		state = nil
	case err != nil:
		return nil, targetErr(tp.Target, StepRead, err)
	}
	tp.state = state
	tp.Exists = state != nil
	if tp.validateErr == nil {
		b, err := bundles.get(ctx, fn, spec, opts.Bundle)
		if err != nil {
			return nil, targetErr(tp.Target, StepBundle, err)
		}
		tp.bundle = b
		if b != nil {
			tp.CodeDigest = b.Digest
		}
	}
	if tp.needRevisions() {
		if tp.revisions, err = fn.Revisions(ctx); err != nil {
			return nil, targetErr(tp.Target, StepRead, err)
		}
		tp.listed = true
	}
	if r := tp.route(); r != nil {
		tp.Live = r.Traffic.Stable
		tp.Rollout = markerInfoAt(r.Marker, tp.readAt)
		if r.Verdicts != nil {
			tp.LastGood = r.Verdicts.Good
		}
	}
	if tp.validateErr == nil {
		tp.diff()
	}
	return tp, nil
}

// needRevisions reports whether the plan must list the revisions, and
// sets liveRev when it need not because the target knows the route
// already serves the live configuration. Revisions decide three things:
// whether an existing revision already matches the spec (the newest one
// is reused instead of publishing), whether the spec is a revision
// recorded as failed, and whether an interrupted rollout's candidate is
// the spec's. So they are listed when the function exists and:
//   - the route's verdicts list failed revisions, or a marker is on it;
//   - or the spec changes nothing in the live code and configuration, and
//     the target cannot tell without a call which revision holds them.
//
// When the spec changes the live code or configuration, Apply changes
// them and publishes a revision of the result, whatever revisions
// exist: the list cannot change the outcome (the plan then does not name
// the newest revision it replaces). An invalid spec is not diffed.
func (t *TargetPlan) needRevisions() bool {
	if t.state == nil || t.validateErr != nil {
		return false
	}
	r := t.route()
	if r != nil && (r.Marker != nil || (r.Verdicts != nil && len(r.Verdicts.Failed) > 0)) {
		return true
	}
	want, live := t.desired(), t.state.Config
	if want.CodeDigest != live.CodeDigest || len(configChanges(live, want)) > 0 {
		return false
	}
	if r != nil && r.Traffic.Candidate == "" {
		if id := t.fn.LiveRevision(t.state, t.Route); id != "" && id == r.Traffic.Stable {
			t.liveRev = id
			return false
		}
	}
	return true
}

// desired is the configuration the function has after applying the spec:
// the spec with the target's defaults filled in, and the live values for
// what the spec does not manage.
func (t *TargetPlan) desired() provider.Config {
	var live provider.Config
	if t.state != nil {
		live = t.state.Config
	}
	return provider.Desired(live, t.spec, t.bundle, t.caps)
}

// diff fills Changes, Revision and NewRevision.
func (t *TargetPlan) diff() {
	want := t.desired()
	var live provider.Config
	if t.state != nil {
		live = t.state.Config
	} else {
		t.Changes = append(t.Changes, Change{Kind: ChangeCreate})
	}
	if want.CodeDigest != live.CodeDigest {
		t.Changes = append(t.Changes, Change{Kind: ChangeCode, From: live.CodeDigest, To: want.CodeDigest})
	}
	t.Changes = append(t.Changes, configChanges(live, want)...)

	var newest *provider.Revision
	switch {
	case len(t.revisions) > 0:
		newest = t.revisions[len(t.revisions)-1]
	case !t.listed && t.liveRev != "":
		// The target knows this revision holds the live configuration,
		// which is the spec's.
		newest = &provider.Revision{ID: t.liveRev, Config: live}
	}
	t.NewRevision = newest == nil || newest.Config.CodeDigest != want.CodeDigest || len(configChanges(newest.Config, want)) > 0
	if t.NewRevision {
		c := Change{Kind: ChangeRevision}
		if newest != nil {
			c.From = newest.ID
		}
		t.Changes = append(t.Changes, c)
	} else {
		t.Revision = newest.ID
	}

	if t.spec.Triggers != nil {
		var drift map[string]string
		if t.state != nil {
			drift = t.state.TriggerDrift
		}
		t.Changes = append(t.Changes, triggerChanges(t.liveTriggers(), t.spec.Triggers, drift)...)
	}
	r := t.route()
	if p := t.spec.Concurrency.Provisioned; p != nil {
		cur := 0
		if r != nil && r.Provisioned != nil {
			cur = r.Provisioned.Requested
		}
		if cur != *p {
			t.Changes = append(t.Changes, Change{Kind: ChangeProvisioned, From: itoaOrEmpty(cur), To: fmt.Sprint(*p)})
		}
	}
	t.findFailed(want)
	to := t.Revision
	if t.NewRevision {
		to = "the new revision"
	}
	switch {
	case r == nil:
		t.Changes = append(t.Changes, Change{Kind: ChangeTraffic, Field: t.Route, To: to + " (route created)"})
	case t.NewRevision || r.Traffic != (provider.Traffic{Stable: t.Revision}):
		t.Changes = append(t.Changes, Change{Kind: ChangeTraffic, Field: t.Route, From: describeTraffic(r.Traffic), To: to})
	}
}

// findFailed sets FailedRevision (or FailedCode) when a revision recorded
// as failed on the route has the desired code (and configuration),
// matched by code digest, the newest such revision first.
func (t *TargetPlan) findFailed(want provider.Config) {
	r := t.route()
	if r == nil || r.Verdicts == nil || len(r.Verdicts.Failed) == 0 {
		return
	}
	for _, rev := range slices.Backward(t.revisions) {
		if !r.Verdicts.IsFailed(rev.ID) || rev.Config.CodeDigest != want.CodeDigest {
			continue
		}
		if len(configChanges(rev.Config, want)) == 0 {
			t.FailedRevision, t.FailedCode = rev.ID, ""
			return
		}
		if t.FailedCode == "" {
			t.FailedCode = rev.ID
		}
	}
}

// refusesFailed reports whether the plan moves traffic to a revision
// recorded as failed: the revision it reuses, or a new one identical to a
// failed one.
func (t *TargetPlan) refusesFailed() bool { return t.FailedRevision != "" }

func itoaOrEmpty(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprint(n)
}

func describeTraffic(tr provider.Traffic) string {
	if tr.Candidate == "" || tr.CandidatePercent == 0 {
		return tr.Stable
	}
	return fmt.Sprintf("%s (%d%%) + %s (%d%%)", tr.Stable, 100-tr.CandidatePercent, tr.Candidate, tr.CandidatePercent)
}

func (t *TargetPlan) liveTriggers() []trigger.Trigger {
	if t.state == nil {
		return nil
	}
	return t.state.Triggers
}

// triggerChanges compares the live triggers with the wanted ones; a
// trigger equal to the wanted one but drifted (State.TriggerDrift) is an
// update too, saying what it repairs.
func triggerChanges(live, want []trigger.Trigger, drift map[string]string) []Change {
	byKey := func(ts []trigger.Trigger) map[string]trigger.Trigger {
		m := make(map[string]trigger.Trigger, len(ts))
		for _, tr := range ts {
			if tr != nil {
				m[tr.TriggerKey()] = trigger.Normalize(tr)
			}
		}
		return m
	}
	l, w := byKey(live), byKey(want)
	var out []Change
	for _, k := range unionKeys(l, w) {
		lt, inLive := l[k]
		wt, inWant := w[k]
		switch {
		case !inLive:
			out = append(out, Change{Kind: ChangeTriggerAdd, Field: k, To: trigger.Describe(wt)})
		case !inWant:
			out = append(out, Change{Kind: ChangeTriggerRemove, Field: k, From: trigger.Describe(lt)})
		case !equalTrigger(lt, wt):
			from, to := trigger.Describe(lt), trigger.Describe(wt)
			if from == to {
				to += " (settings changed)"
			}
			out = append(out, Change{Kind: ChangeTriggerUpdate, Field: k, From: from, To: to})
		case drift[k] != "":
			d := trigger.Describe(wt)
			out = append(out, Change{Kind: ChangeTriggerUpdate, Field: k, From: d + " (" + drift[k] + ")", To: d})
		}
	}
	return out
}

func equalTrigger(a, b trigger.Trigger) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && fmt.Sprintf("%T", a) == fmt.Sprintf("%T", b) && string(ja) == string(jb)
}

// configChanges lists the configuration differences from → to, code
// excluded, in a fixed field order. Secret references and sensitive
// environment values are redacted.
func configChanges(from, to provider.Config) []Change {
	var out []Change
	field := func(name string, a, b any, show func(any) string) {
		if a != b {
			out = append(out, Change{Kind: ChangeConfig, Field: name, From: show(a), To: show(b)})
		}
	}
	str := func(v any) string {
		if v == nil || v == "" || v == 0 || v == time.Duration(0) || v == false {
			return ""
		}
		return fmt.Sprint(v)
	}
	field("Runtime", from.Runtime, to.Runtime, str)
	field("Entrypoint", from.Entrypoint, to.Entrypoint, str)
	field("MemoryMB", from.MemoryMB, to.MemoryMB, str)
	field("Timeout", from.Timeout, to.Timeout, str)
	field("Architecture", from.Architecture, to.Architecture, str)
	field("MaxConcurrency", intOr0(from.MaxConcurrency), intOr0(to.MaxConcurrency), str)
	out = append(out, mapChanges("Env", from.Env, to.Env, SensitiveEnv)...)
	out = append(out, mapChanges("Secrets", from.Secrets, to.Secrets, func(string, string) bool { return true })...)
	field("Tracing", from.Tracing, to.Tracing, func(v any) string { return fmt.Sprint(v) })
	field("LogFormat", from.LogFormat, to.LogFormat, str)
	out = append(out, mapChanges("Labels", from.Labels, to.Labels, func(string, string) bool { return false })...)
	field("Identity", from.Identity, to.Identity, str)
	return out
}

func intOr0(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func mapChanges(name string, from, to map[string]string, sensitive func(k, v string) bool) []Change {
	var out []Change
	for _, k := range unionKeys(from, to) {
		a, inFrom := from[k]
		b, inTo := to[k]
		if inFrom == inTo && a == b {
			continue
		}
		if (inFrom && sensitive(k, a)) || (inTo && sensitive(k, b)) {
			if inFrom {
				a = redacted
			}
			if inTo {
				b = redacted
			}
		}
		out = append(out, Change{Kind: ChangeConfig, Field: name + "[" + k + "]", From: a, To: b})
	}
	return out
}

// redact scrubs display strings once more with the plan's known values.
func (t *TargetPlan) redact() {
	red := newRedactor(t.spec)
	if t.state != nil {
		red.merge(newRedactor(nil, &t.state.Config))
	}
	for i := range t.Changes {
		t.Changes[i].From = red.scrub(t.Changes[i].From)
		t.Changes[i].To = red.scrub(t.Changes[i].To)
	}
	for i := range t.Violations {
		t.Violations[i].Message = red.scrub(t.Violations[i].Message)
	}
}

// unionKeys returns the keys of a and b, sorted, each once.
func unionKeys[V any](a, b map[string]V) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
