package gcpfunctions

import (
	"encoding/json"
	"strings"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"

	"github.com/updraft-dev/updraft/provider/driver"
)

// addStatus counts n requests answered with HTTP status code: every one
// is an invocation, a 5xx is also an error and a 429 a throttle.
func addStatus(m *driver.Metrics, code string, n int64) {
	m.HTTP = true
	m.Invocations += n
	switch {
	case strings.HasPrefix(code, "2"):
		m.Status2xx += n
	case strings.HasPrefix(code, "4"):
		m.Status4xx += n
		if code == "429" {
			m.Throttles += n
		}
	case strings.HasPrefix(code, "5"):
		m.Status5xx += n
		m.Errors += n
	}
}

func leaseToJSON(m *driver.Marker, mj *markerJSON) {
	if !m.Heartbeat.IsZero() {
		mj.Heartbeat = m.Heartbeat.UnixMilli()
	}
	mj.LeaseMS = m.Lease.Milliseconds()
}

func leaseFromJSON(mj *markerJSON, m *driver.Marker) {
	if mj.Heartbeat != 0 {
		m.Heartbeat = time.UnixMilli(mj.Heartbeat)
	}
	m.Lease = time.Duration(mj.LeaseMS) * time.Millisecond
}

// MaxFailedVerdicts is how many failed revisions the verdicts annotation
// keeps (the newest); Cloud Run allows 256 KiB of annotations in all.
const MaxFailedVerdicts = 64

type verdictsJSON struct {
	Good   string   `json:"good,omitempty"`
	Failed []string `json:"failed,omitempty"`
}

func encodeVerdicts(v *driver.Verdicts) string {
	failed := v.Failed
	if n := len(failed); n > MaxFailedVerdicts {
		failed = failed[n-MaxFailedVerdicts:]
	}
	b, _ := json.Marshal(verdictsJSON{Good: v.Good, Failed: failed})
	return string(b)
}

// verdictsOf reads the route's revision verdicts from the service.
func verdictsOf(svc *runpb.Service, r *driver.Route) {
	s := svc.GetAnnotations()[annVerdicts]
	var vj verdictsJSON
	if s == "" || json.Unmarshal([]byte(s), &vj) != nil {
		return
	}
	r.Verdicts = &driver.Verdicts{Good: vj.Good, Failed: vj.Failed}
}
