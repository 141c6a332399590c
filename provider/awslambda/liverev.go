package awslambda

import "github.com/aws/aws-sdk-go-v2/aws"

// LiveRevision implements driver.LiveRevisioner from the handle's last
// reading (no call): the version route serves alone when it is $LATEST
// as published, by the route record's key or a version this handle
// published, as Apply's no-change path decides; "" otherwise.
func (f *function) LiveRevision(etag, route string) string {
	c := &f.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.snap
	if s == nil || etag == "" || aws.ToString(s.fn.Configuration.RevisionId) != etag {
		return ""
	}
	a := s.aliases[route]
	if a == nil || (a.RoutingConfig != nil && len(a.RoutingConfig.AdditionalVersionWeights) > 0) {
		return ""
	}
	v := aws.ToString(a.FunctionVersion)
	want := keyHash(s.fn.Configuration)
	if decodeRecord(aws.ToString(a.Description)).key == v+":"+want || c.keys[v] == want {
		return v
	}
	return ""
}
