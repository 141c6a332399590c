package lambdafake

import (
	"encoding/json"
	"net/http"
	"time"
)

// Function URL configurations; serving requests through them is in urlinvoke.go.

// urlConfig is a function URL configuration.
type urlConfig struct {
	FunctionUrl      string          `json:"FunctionUrl"`
	FunctionArn      string          `json:"FunctionArn"`
	AuthType         string          `json:"AuthType"`
	Cors             json.RawMessage `json:"Cors,omitempty"`
	CreationTime     string          `json:"CreationTime"`
	LastModifiedTime string          `json:"LastModifiedTime"`
	InvokeMode       string          `json:"InvokeMode,omitempty"`
}

type urlInput struct {
	AuthType   *string         `json:"AuthType"`
	Cors       json.RawMessage `json:"Cors"`
	InvokeMode *string         `json:"InvokeMode"`
}

func (s *Server) urlQualifier(f *function, qual string) *apiError {
	if qual == "" || qual == "$LATEST" {
		return nil
	}
	if isNumeric(qual) {
		return invalid("Function URL configs are not supported for published versions; use an alias")
	}
	if f.aliases[qual] == nil {
		return notFound("Function not found: %s:%s", f.arn, qual)
	}
	return nil
}

func (s *Server) createURL(r *http.Request, body []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	var in urlInput
	if aerr := decode(body, &in); aerr != nil {
		return 0, nil, aerr
	}
	if aerr := s.urlQualifier(f, qual); aerr != nil {
		return 0, nil, aerr
	}
	if in.AuthType == nil || (*in.AuthType != "NONE" && *in.AuthType != "AWS_IAM") {
		return 0, nil, invalid("1 validation error detected: Value at 'authType' failed to satisfy constraint: Member must satisfy enum value set: [NONE, AWS_IAM]")
	}
	if f.urls[qual] != nil {
		return 0, nil, conflict("FunctionUrlConfig exists for this Lambda function")
	}
	arn := f.arn
	if qual != "" {
		arn += ":" + qual
	}
	now := nowStamp(time.Now())
	u := &urlConfig{FunctionUrl: "https://" + newHex(16) + ".lambda-url." + s.opts.Region + ".on.aws/", FunctionArn: arn,
		AuthType: *in.AuthType, Cors: in.Cors, CreationTime: now, LastModifiedTime: now, InvokeMode: "BUFFERED"}
	if in.InvokeMode != nil {
		u.InvokeMode = *in.InvokeMode
	}
	f.urls[qual] = u
	return 201, *u, nil
}

func (s *Server) getURL(r *http.Request, _ []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	u := f.urls[qual]
	if u == nil {
		return 0, nil, notFound("The resource you requested does not exist.")
	}
	return 200, *u, nil
}

func (s *Server) updateURL(r *http.Request, body []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	u := f.urls[qual]
	if u == nil {
		return 0, nil, notFound("The resource you requested does not exist.")
	}
	var in urlInput
	if aerr := decode(body, &in); aerr != nil {
		return 0, nil, aerr
	}
	if in.AuthType != nil {
		if *in.AuthType != "NONE" && *in.AuthType != "AWS_IAM" {
			return 0, nil, invalid("1 validation error detected: Value at 'authType' failed to satisfy constraint")
		}
		u.AuthType = *in.AuthType
	}
	if in.Cors != nil {
		u.Cors = in.Cors
	}
	if in.InvokeMode != nil {
		u.InvokeMode = *in.InvokeMode
	}
	u.LastModifiedTime = nowStamp(time.Now())
	return 200, *u, nil
}

func (s *Server) deleteURL(r *http.Request, _ []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	if f.urls[qual] == nil {
		return 0, nil, notFound("The resource you requested does not exist.")
	}
	delete(f.urls, qual)
	return 204, nil, nil
}
