package gcpfunctions

import (
	"strings"

	"cloud.google.com/go/run/apiv2/runpb"

	"github.com/updraft-dev/updraft/provider/driver"
)

// addStatus counts n requests answered with HTTP status code.
func addStatus(m *driver.Metrics, code string, n int64) {
	m.Invocations += n
	switch {
	case strings.HasPrefix(code, "5"):
		m.Errors += n
	case code == "429":
		m.Throttles += n
	}
}

// verdictsOf reads the route's revision verdicts from the service; the
// route has no verdicts yet, so it reads nothing.
func verdictsOf(_ *runpb.Service, _ *driver.Route) {}
