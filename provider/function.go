package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider/driver"
)

// Function is a handle to one function on one target. It is safe for
// concurrent use. Open one with Open, OpenAll or an adapter's
// OpenFunction, and Close it when done.
//
// Every method validates its input before any call to the target, and
// every error it returns is an *Error with a code (see Code).
type Function struct {
	d      driver.Function
	target string

	mu     sync.RWMutex
	closed bool
}

// NewFunction is intended for use by provider adapters only. Application
// code opens functions with Open or an adapter's OpenFunction.
var NewFunction = newFunction

func newFunction(d driver.Function) *Function {
	target := d.Capabilities().Provider + "://" + d.Name()
	if t, ok := d.(driver.Targeter); ok && t.Target() != "" {
		target = t.Target()
	}
	return &Function{d: d, target: RedactURL(target)}
}

// Name is the function's name on its target.
func (f *Function) Name() string { return f.d.Name() }

// Target names the function for messages and identifies it: the
// provider, the name, and whatever else selects the function on its
// provider (a region, an account or profile, an endpoint), such as
// "awslambda://hello?region=eu-west-1". Two Functions with the same Target
// are the same function; two with different Targets are different ones,
// so the same name in two regions is two targets. Compare Targets to tell
// whether two handles address one function.
func (f *Function) Target() string { return f.target }

// Capabilities reports the target's limits and features.
func (f *Function) Capabilities() Capabilities { return capabilitiesFromDriver(f.d.Capabilities()) }

// Validate checks s against the target's Capabilities without any call,
// returning an *Error with code InvalidArgument (or Unimplemented when only
// unsupported features are at fault) that wraps a *ValidationError.
//
// A driver with rules of its own (driver.SpecChecker) checks them next;
// what it refuses is one violation of the Spec as a whole.
func (f *Function) Validate(s *Spec) error {
	caps := f.Capabilities()
	err := Validate(s, caps)
	if sc, ok := f.d.(driver.SpecChecker); ok && err == nil {
		if cerr := sc.CheckSpec(toDriverSpec(s, caps)); cerr != nil {
			code := driver.CodeOf(cerr)
			if code != Unimplemented {
				code = InvalidArgument
			}
			err = &ValidationError{Provider: caps.Provider, Violations: []Violation{{Field: "Spec", Code: code, Message: cerr.Error()}}}
		}
	}
	if err != nil {
		var ve *ValidationError
		errors.As(err, &ve)
		return &Error{Code: ve.code(), Target: f.target, Op: "Validate", err: err}
	}
	return nil
}

// BundleOptions configure Function.Bundle. Nil means the defaults.
type BundleOptions struct {
	// CacheDir and NoCache are passed to bundle.Build.
	CacheDir string
	NoCache  bool
}

// Bundle builds s.Code in the form this target deploys and checks it
// against the target's size limits. It returns nil, nil when s.Code is the
// zero Source.
func (f *Function) Bundle(ctx context.Context, s *Spec, opts *BundleOptions) (*bundle.Bundle, error) {
	if err := f.begin(ctx, "Bundle"); err != nil {
		return nil, err
	}
	defer f.mu.RUnlock()
	return f.bundle(ctx, s, opts)
}

func (f *Function) bundle(ctx context.Context, s *Spec, opts *BundleOptions) (*bundle.Bundle, error) {
	if s == nil || s.Code.IsZero() {
		return nil, nil
	}
	if opts == nil {
		opts = &BundleOptions{}
	}
	caps := f.Capabilities()
	form := caps.CodeForm
	if form.GOARCH == "" {
		form.GOARCH = s.Architecture
		if form.GOARCH == "" && len(caps.Architectures) > 0 {
			form.GOARCH = caps.Architectures[0]
		}
	}
	b, err := bundle.Build(ctx, s.Code, &bundle.Options{Form: form, Limits: caps.CodeLimits, CacheDir: opts.CacheDir, NoCache: opts.NoCache})
	if err != nil {
		code := InvalidArgument
		if ctx.Err() != nil {
			code = Code(ctx.Err())
		}
		return nil, &Error{Code: code, Target: f.target, Op: "Bundle", err: err}
	}
	return b, nil
}

// begin checks the handle and ctx and takes the read lock; callers
// release it.
func (f *Function) begin(ctx context.Context, op string) error {
	f.mu.RLock()
	if f.closed {
		f.mu.RUnlock()
		return &Error{Code: FailedPrecondition, Target: f.target, Op: op, err: errors.New("function handle is closed"), Hint: "open it again"}
	}
	if err := ctx.Err(); err != nil {
		f.mu.RUnlock()
		return &Error{Code: Code(err), Target: f.target, Op: op, err: err}
	}
	return nil
}

// wrap gives a driver error its code, once.
func (f *Function) wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *Error
	if errors.As(err, &pe) {
		return err
	}
	code := driver.CodeOf(err)
	if code == Unknown {
		code = f.d.ErrorCode(err)
	}
	if code == Unknown || code == OK {
		code = Code(err)
		if code == Unknown && ctx.Err() != nil {
			code = Code(ctx.Err())
		}
	}
	return &Error{Code: code, Target: f.target, Op: op, Hint: hints[code], err: err}
}

func (f *Function) invalid(op, format string, args ...any) error {
	return &Error{Code: InvalidArgument, Target: f.target, Op: op, err: fmt.Errorf(format, args...)}
}

// Get reads the live state. NotFound if the function does not exist.
func (f *Function) Get(ctx context.Context) (*State, error) {
	if err := f.begin(ctx, "Get"); err != nil {
		return nil, err
	}
	defer f.mu.RUnlock()
	s, err := f.d.Get(ctx)
	if err != nil {
		return nil, f.wrap(ctx, "Get", err)
	}
	return stateFromDriver(s), nil
}

// Apply creates or updates the function to match s and returns once the
// target reports it ready. Applying the same spec again changes nothing
// and uploads nothing. With opts.Publish it returns the revision that
// holds the result (a new one only when something changed). The route
// s.Route is created at 100% on that revision if it does not exist, and
// the triggers and provisioned concurrency of s are attached to it.
func (f *Function) Apply(ctx context.Context, s *Spec, opts *ApplyOptions) (*ApplyResult, error) {
	return f.apply(ctx, s, nil, opts)
}

// ApplyBundle is Apply with code already built by Bundle for this target,
// so a caller that planned with the bundle does not build it twice. b nil
// means s.Code is not managed.
func (f *Function) ApplyBundle(ctx context.Context, s *Spec, b *bundle.Bundle, opts *ApplyOptions) (*ApplyResult, error) {
	return f.apply(ctx, s, b, opts)
}

func (f *Function) apply(ctx context.Context, s *Spec, b *bundle.Bundle, opts *ApplyOptions) (*ApplyResult, error) {
	if err := f.begin(ctx, "Apply"); err != nil {
		return nil, err
	}
	defer f.mu.RUnlock()
	if err := f.Validate(s); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &ApplyOptions{}
	}
	if opts.IfNotExist && opts.IfMatch != "" {
		return nil, f.invalid("Apply", "IfNotExist and IfMatch %s contradict each other: set one", opts.IfMatch)
	}
	caps := f.Capabilities()
	if b == nil {
		var err error
		if b, err = f.bundle(ctx, s, nil); err != nil {
			return nil, err
		}
	}
	ds := toDriverSpec(s, caps)
	ds.Bundle = b
	res, err := f.d.Apply(ctx, ds, applyOptionsToDriver(opts))
	if err != nil {
		return nil, f.wrap(ctx, "Apply", err)
	}
	return applyResultFromDriver(res), nil
}

// Revisions lists published revisions, oldest first.
func (f *Function) Revisions(ctx context.Context) ([]*Revision, error) {
	if err := f.begin(ctx, "Revisions"); err != nil {
		return nil, err
	}
	defer f.mu.RUnlock()
	rs, err := f.d.ListRevisions(ctx)
	if err != nil {
		return nil, f.wrap(ctx, "Revisions", err)
	}
	out := make([]*Revision, len(rs))
	for i, r := range rs {
		out[i] = revisionFromDriver(r)
	}
	return out, nil
}

// SetTraffic points route at t. A CandidatePercent strictly between 0 and
// 100 needs weighted traffic (Capabilities.WeightedTraffic); without it
// SetTraffic fails with Unimplemented before any call.
func (f *Function) SetTraffic(ctx context.Context, route string, t Traffic, opts *ConditionOptions) error {
	_, err := f.updateRoute(ctx, "SetTraffic", route, &RouteUpdate{Traffic: &t}, opts)
	return err
}

// SetMarker stores the rollout marker m on route, or clears it when m is
// nil. NotFound if the route does not exist.
func (f *Function) SetMarker(ctx context.Context, route string, m *Marker, opts *ConditionOptions) error {
	_, err := f.updateRoute(ctx, "SetMarker", route, &RouteUpdate{Marker: m, ClearMarker: m == nil}, opts)
	return err
}

// SetVerdicts replaces the verdicts stored on route. NotFound if the route
// does not exist.
func (f *Function) SetVerdicts(ctx context.Context, route string, v Verdicts, opts *ConditionOptions) error {
	_, err := f.updateRoute(ctx, "SetVerdicts", route, &RouteUpdate{Verdicts: &v}, opts)
	return err
}

// UpdateRoute writes traffic, marker and verdicts of route in one
// conditioned write: what u sets changes together or not at all. It
// returns the route as written, with its new ETag for the next write
// (Provisioned is not read). An update with Traffic creates the route.
func (f *Function) UpdateRoute(ctx context.Context, route string, u *RouteUpdate, opts *ConditionOptions) (*Route, error) {
	return f.updateRoute(ctx, "UpdateRoute", route, u, opts)
}

func (f *Function) updateRoute(ctx context.Context, op, route string, u *RouteUpdate, opts *ConditionOptions) (*Route, error) {
	if err := f.begin(ctx, op); err != nil {
		return nil, err
	}
	defer f.mu.RUnlock()
	if route == "" {
		route = DefaultRoute
	}
	if !routeRE.MatchString(route) {
		return nil, f.invalid(op, "route %q: use lower-case letters, digits and '-', starting with a letter", route)
	}
	du, err := f.routeUpdateToDriver(op, u)
	if err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &ConditionOptions{}
	}
	r, err := f.d.UpdateRoute(ctx, route, du, &driver.ConditionOptions{IfMatch: opts.IfMatch})
	if err != nil {
		return nil, f.wrap(ctx, op, err)
	}
	if r.Name == "" {
		r.Name = route
	}
	return routeFromDriver(r), nil
}

// routeUpdateToDriver checks u and returns the driver's copy with its
// traffic normalized.
func (f *Function) routeUpdateToDriver(op string, u *RouteUpdate) (*driver.RouteUpdate, error) {
	if u == nil || (u.Traffic == nil && u.Marker == nil && !u.ClearMarker && u.Verdicts == nil) {
		return nil, f.invalid(op, "route update sets nothing")
	}
	if u.Marker != nil && u.ClearMarker {
		return nil, f.invalid(op, "route update both sets and clears the marker")
	}
	du := &driver.RouteUpdate{Marker: markerToDriver(u.Marker), ClearMarker: u.ClearMarker, Verdicts: verdictsToDriver(u.Verdicts)}
	if m := u.Marker; m != nil {
		if m.ID == "" || strings.ContainsAny(m.ID+m.Holder, "\n\r") {
			return nil, f.invalid(op, "marker needs a one-line ID and holder")
		}
		if m.Lease < 0 {
			return nil, f.invalid(op, "marker lease %s is negative", m.Lease)
		}
	}
	if v := u.Verdicts; v != nil {
		for _, id := range append([]string{v.Good}, v.Failed...) {
			if strings.ContainsAny(id, ",; \n\r") {
				return nil, f.invalid(op, "verdict revision %q has a separator or space in it", id)
			}
		}
		if slices.Contains(v.Failed, "") {
			return nil, f.invalid(op, "verdicts list an empty failed revision")
		}
	}
	if u.Traffic != nil {
		t, err := f.normTraffic(op, *u.Traffic)
		if err != nil {
			return nil, err
		}
		dt := driver.Traffic(t)
		du.Traffic = &dt
	}
	return du, nil
}

// normTraffic checks t and returns it normalized: all traffic on the
// candidate is the candidate alone, and a 0% candidate is none.
func (f *Function) normTraffic(op string, t Traffic) (Traffic, error) {
	switch {
	case t.Stable == "":
		return t, f.invalid(op, "traffic has no stable revision")
	case t.CandidatePercent < 0 || t.CandidatePercent > 100:
		return t, f.invalid(op, "candidate percent %d: use 0 to 100", t.CandidatePercent)
	case t.CandidatePercent > 0 && t.Candidate == "":
		return t, f.invalid(op, "candidate percent %d with no candidate revision", t.CandidatePercent)
	case t.Candidate != "" && t.Candidate == t.Stable:
		return t, f.invalid(op, "candidate and stable are both revision %s", t.Stable)
	}
	if t.CandidatePercent == 100 {
		t = Traffic{Stable: t.Candidate}
	}
	if t.CandidatePercent == 0 {
		t.Candidate = ""
	}
	caps := f.d.Capabilities()
	if t.CandidatePercent > 0 && !caps.WeightedTraffic {
		return t, &Error{Code: Unimplemented, Target: f.target, Op: op,
			err: fmt.Errorf("%s cannot split traffic by percent", caps.Provider), Hint: "use a blue/green strategy (0% then 100%)"}
	}
	return t, nil
}

// DeleteRevision deletes revision id. FailedPrecondition if a route or
// provisioned concurrency references it.
func (f *Function) DeleteRevision(ctx context.Context, id string) error {
	if err := f.begin(ctx, "DeleteRevision"); err != nil {
		return err
	}
	defer f.mu.RUnlock()
	if id == "" {
		return f.invalid("DeleteRevision", "revision id is empty")
	}
	return f.wrap(ctx, "DeleteRevision", f.d.DeleteRevision(ctx, id))
}

// Delete deletes the function, its routes and the triggers updraft owns.
func (f *Function) Delete(ctx context.Context) error {
	if err := f.begin(ctx, "Delete"); err != nil {
		return err
	}
	defer f.mu.RUnlock()
	return f.wrap(ctx, "Delete", f.d.Delete(ctx))
}

// Invoke runs the function once, on a revision or a route. A function
// error is reported in InvokeResult.FunctionError. Unimplemented if the
// target cannot invoke.
func (f *Function) Invoke(ctx context.Context, opts *InvokeOptions) (*InvokeResult, error) {
	if err := f.begin(ctx, "Invoke"); err != nil {
		return nil, err
	}
	defer f.mu.RUnlock()
	if opts == nil {
		opts = &InvokeOptions{}
	}
	route := opts.Route
	if route == "" && opts.Revision == "" {
		route = DefaultRoute
	}
	r, err := f.d.Invoke(ctx, &driver.InvokeRequest{Revision: opts.Revision, Route: route, Payload: opts.Payload})
	if err != nil {
		return nil, f.wrap(ctx, "Invoke", err)
	}
	return invokeResultFromDriver(r), nil
}

// Metrics reads invocation counts. Unimplemented if the target has none.
func (f *Function) Metrics(ctx context.Context, q *MetricsQuery) (*Metrics, error) {
	if err := f.begin(ctx, "Metrics"); err != nil {
		return nil, err
	}
	defer f.mu.RUnlock()
	if q == nil {
		q = &MetricsQuery{}
	}
	if !q.Until.IsZero() && q.Until.Before(q.Since) {
		return nil, f.invalid("Metrics", "until %s is before since %s", q.Until, q.Since)
	}
	m, err := f.d.Metrics(ctx, metricsQueryToDriver(q))
	if err != nil {
		return nil, f.wrap(ctx, "Metrics", err)
	}
	return (*Metrics)(m), nil
}

// As converts i to a native type of the adapter (its client); see the
// adapter's package doc for the types. It returns false for nil.
func (f *Function) As(i any) bool {
	if i == nil {
		return false
	}
	return f.d.As(i)
}

// ErrorAs converts err to a native error type of the adapter, unwrapping
// updraft's *Error. It returns false for a nil err or i.
func (f *Function) ErrorAs(err error, i any) bool {
	if err == nil || i == nil {
		return false
	}
	var pe *Error
	if errors.As(err, &pe) {
		err = pe.err
	}
	return f.d.ErrorAs(err, i)
}

// Close releases the handle. Later calls fail with FailedPrecondition;
// a second Close does too.
func (f *Function) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return &Error{Code: FailedPrecondition, Target: f.target, Op: "Close", err: errors.New("function handle is already closed")}
	}
	f.closed = true
	return f.wrap(context.Background(), "Close", f.d.Close())
}
