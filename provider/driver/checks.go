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
