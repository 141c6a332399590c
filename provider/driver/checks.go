package driver

import (
	"fmt"
	"maps"
	"slices"
)

// The helpers below are the contract checks that drivers whose backend is
// their own code (memprovider, localprovider) make; cloud drivers get the
// same answers from their cloud and map its errors instead.

// CheckETag returns FailedPrecondition when ifMatch is set and is not
// etag. what names the resource in the message ("route live of hello").
func CheckETag(what, ifMatch, etag string) error {
	if ifMatch == "" || ifMatch == etag {
		return nil
	}
	if etag == "" {
		return NewError(FailedPrecondition, fmt.Sprintf("%s does not exist, so etag %s cannot match", what, ifMatch))
	}
	return NewError(FailedPrecondition, fmt.Sprintf("%s changed since it was read (etag %s, now %s)", what, ifMatch, etag))
}

// RevisionNotFound is the NotFound error for revision id of function fn.
func RevisionNotFound(fn, id string) error {
	return NewError(NotFound, fmt.Sprintf("revision %s of %s does not exist", id, fn))
}

// RouteNotFound is the NotFound error for route of function fn.
func RouteNotFound(fn, route string) error {
	return NewError(NotFound, fmt.Sprintf("route %s of %s does not exist", route, fn))
}

// CheckNotServing returns FailedPrecondition if revision id of fn is the
// stable or candidate revision of a route, as DeleteRevision must; traffic
// maps route names to their traffic, and the first serving route in name
// order is named.
func CheckNotServing(fn, id string, traffic map[string]Traffic) error {
	for _, name := range slices.Sorted(maps.Keys(traffic)) {
		if t := traffic[name]; t.Stable == id || t.Candidate == id {
			return NewError(FailedPrecondition, fmt.Sprintf("revision %s of %s serves route %s: shift its traffic away first", id, fn, name))
		}
	}
	return nil
}

// CheckRouteUpdate makes the checks UpdateRoute owes before writing u to
// route of fn, whose current traffic, marker and verdicts are in cur (nil
// when the route does not exist): revisions exist (exists reports whether
// a revision id does), the route exists unless u sets traffic, and
// ifMatch equals cur's ETag.
func CheckRouteUpdate(fn, route string, cur *Route, u *RouteUpdate, ifMatch string, exists func(id string) bool) error {
	if u.Traffic != nil {
		for _, id := range []string{u.Traffic.Stable, u.Traffic.Candidate} {
			if id != "" && !exists(id) {
				return RevisionNotFound(fn, id)
			}
		}
	}
	etag := ""
	if cur != nil {
		etag = cur.ETag
	}
	if err := CheckETag("route "+route+" of "+fn, ifMatch, etag); err != nil {
		return err
	}
	if cur == nil && u.Traffic == nil {
		return RouteNotFound(fn, route)
	}
	return nil
}

// ApplyRouteUpdate writes u's fields into r (copying them) and sets its
// ETag to etag. Call it after CheckRouteUpdate.
func ApplyRouteUpdate(r *Route, u *RouteUpdate, etag string) {
	if u.Traffic != nil {
		r.Traffic = *u.Traffic
	}
	switch {
	case u.ClearMarker:
		r.Marker = nil
	case u.Marker != nil:
		mk := *u.Marker
		r.Marker = &mk
	}
	if u.Verdicts != nil {
		r.Verdicts = u.Verdicts.Clone()
	}
	r.ETag = etag
}

// FunctionNotFound is the NotFound error for a function that does not
// exist; what names it ("function hello", "function hello in /state").
func FunctionNotFound(what string) error {
	return NewError(NotFound, what+" does not exist: Apply a spec to create it")
}

// FunctionExists is the AlreadyExists error of a create that lost its
// race: someone else made function fn after the caller read that it did
// not exist.
func FunctionExists(fn string) error {
	return NewError(AlreadyExists, fmt.Sprintf("function %s already exists: another deployment created it since it was read; read it again and plan an update", fn))
}

// CheckApply makes the precondition checks Apply owes before it changes
// anything: IfNotExist on an existing function, and IfMatch that is not
// the function's etag ("" when it does not exist, so any IfMatch fails).
func CheckApply(fn string, exists bool, etag string, opts *ApplyOptions) error {
	if exists && opts.IfNotExist {
		return FunctionExists(fn)
	}
	if !exists {
		etag = ""
	}
	return CheckETag("function "+fn, opts.IfMatch, etag)
}

// NoCode is the InvalidArgument error of an Apply that would create
// function fn from a spec without code.
func NoCode(fn string) error {
	return NewError(InvalidArgument, fmt.Sprintf("function %s does not exist and the spec has no code: set Spec.Code to create it", fn))
}

// NoRoute is the FailedPrecondition error of an Apply that attaches
// triggers or provisioned concurrency to a route that does not exist.
func NoRoute(fn, route string) error {
	return NewError(FailedPrecondition, fmt.Sprintf("route %s of %s does not exist, so triggers and provisioned concurrency have nothing to attach to: apply with Publish", route, fn))
}
