package driver

import (
	"strings"
	"testing"
)

func TestChecks(t *testing.T) {
	if CheckETag("route live of f", "", "e1") != nil || CheckETag("route live of f", "e1", "e1") != nil {
		t.Error("no precondition or a matching one must pass")
	}
	if err := CheckETag("route live of f", "e1", "e2"); CodeOf(err) != FailedPrecondition || !strings.Contains(err.Error(), "changed since it was read") {
		t.Errorf("stale etag: %v", err)
	}
	if err := CheckETag("route live of f", "e1", ""); CodeOf(err) != FailedPrecondition || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("etag on a missing resource: %v", err)
	}
	traffic := map[string]Traffic{"live": {Stable: "1", Candidate: "2", CandidatePercent: 10}, "beta": {Stable: "2"}}
	if err := CheckNotServing("f", "2", traffic); CodeOf(err) != FailedPrecondition || !strings.Contains(err.Error(), "serves route beta") {
		t.Errorf("serving revision: %v", err)
	}
	if err := CheckNotServing("f", "3", traffic); err != nil {
		t.Errorf("idle revision: %v", err)
	}
	if CodeOf(RevisionNotFound("f", "9")) != NotFound || CodeOf(RouteNotFound("f", "x")) != NotFound {
		t.Error("not-found helpers must carry NotFound")
	}
	if err := CheckApply("f", true, "e1", &ApplyOptions{IfNotExist: true}); CodeOf(err) != AlreadyExists {
		t.Errorf("IfNotExist on an existing function: %v", err)
	}
	if err := CheckApply("f", false, "", &ApplyOptions{IfMatch: "e1"}); CodeOf(err) != FailedPrecondition {
		t.Errorf("IfMatch on a missing function: %v", err)
	}
	if err := CheckApply("f", true, "e1", &ApplyOptions{IfMatch: "e1"}); err != nil {
		t.Errorf("matching IfMatch: %v", err)
	}
	if CodeOf(FunctionNotFound("function f")) != NotFound || CodeOf(NoCode("f")) != InvalidArgument || CodeOf(NoRoute("f", "live")) != FailedPrecondition {
		t.Error("Apply's errors must carry their codes")
	}
}
