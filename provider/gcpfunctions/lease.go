package gcpfunctions

import "github.com/updraft-dev/updraft/provider/driver"

// leaseToJSON and leaseFromJSON carry the marker's lease; the marker has
// no lease fields yet, so they copy nothing.
func leaseToJSON(_ *driver.Marker, _ *markerJSON) {}

func leaseFromJSON(_ *markerJSON, _ *driver.Marker) {}
