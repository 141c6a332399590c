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
