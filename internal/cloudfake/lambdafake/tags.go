package lambdafake

import (
	"maps"
	"net/http"
	"strings"
)

// Tags of functions and event source mappings.

// tagTarget resolves a taggable ARN to its tag map.
func (s *Server) tagTarget(arn string) (*map[string]string, *apiError) {
	if i := strings.Index(arn, ":event-source-mapping:"); i >= 0 {
		e := s.esms[arn[i+len(":event-source-mapping:"):]]
		if e == nil {
			return nil, notFound("The resource you requested does not exist.")
		}
		return &e.tags, nil
	}
	name, qual, ok := splitName(arn)
	if !ok || !strings.HasPrefix(arn, "arn:") {
		return nil, invalid("Invalid resource ARN %s", arn)
	}
	if qual != "" {
		return nil, invalid("Tags are not supported on qualified function ARNs")
	}
	f := s.fns[name]
	if f == nil {
		return nil, notFound("Function not found: %s", arn)
	}
	return &f.tags, nil
}

func (s *Server) tagResource(r *http.Request, body []byte) (int, any, *apiError) {
	tags, aerr := s.tagTarget(r.PathValue("arn"))
	if aerr != nil {
		return 0, nil, aerr
	}
	var in struct {
		Tags map[string]string `json:"Tags"`
	}
	if aerr := decode(body, &in); aerr != nil {
		return 0, nil, aerr
	}
	if *tags == nil {
		*tags = map[string]string{}
	}
	if len(*tags)+len(in.Tags) > 50 {
		return 0, nil, invalid("A resource can have at most 50 tags")
	}
	maps.Copy(*tags, in.Tags)
	return 204, nil, nil
}

func (s *Server) untagResource(r *http.Request, _ []byte) (int, any, *apiError) {
	tags, aerr := s.tagTarget(r.PathValue("arn"))
	if aerr != nil {
		return 0, nil, aerr
	}
	for _, k := range r.URL.Query()["tagKeys"] {
		delete(*tags, k)
	}
	return 204, nil, nil
}

func (s *Server) listTags(r *http.Request, _ []byte) (int, any, *apiError) {
	tags, aerr := s.tagTarget(r.PathValue("arn"))
	if aerr != nil {
		return 0, nil, aerr
	}
	out := *tags
	if out == nil {
		out = map[string]string{}
	}
	return 200, map[string]any{"Tags": out}, nil
}
