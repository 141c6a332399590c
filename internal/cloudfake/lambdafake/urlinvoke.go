package lambdafake

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

// URLEndpoint returns where a function URL of this fake is served: the
// URL Lambda reports (https://ID.lambda-url.REGION.on.aws/) is mapped to
// SERVER/lambda-url/ID/, which answers like the real one: an AWS_IAM URL
// needs a signed request (an Authorization header), a NONE URL the two
// statements Lambda requires (see PublicURLInvocable); the request
// reaches the Handler as a payload format 2.0 event, and a response of
// the form {"statusCode":…,"headers":…,"body":…} becomes the HTTP
// response (any other output is a 200 JSON body; a function error a 502).
func (s *Server) URLEndpoint(functionURL string) string {
	id, _, _ := strings.Cut(strings.TrimPrefix(functionURL, "https://"), ".")
	return s.srv.URL + "/lambda-url/" + id + "/"
}

// urlEvent is the payload format 2.0 event a function URL sends.
type urlEvent struct {
	Version         string            `json:"version"`
	RawPath         string            `json:"rawPath"`
	RawQueryString  string            `json:"rawQueryString"`
	Headers         map[string]string `json:"headers"`
	RequestContext  urlRequestContext `json:"requestContext"`
	Body            string            `json:"body,omitempty"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
}

type urlRequestContext struct {
	HTTP struct {
		Method string `json:"method"`
		Path   string `json:"path"`
	} `json:"http"`
}

// urlResponse is the structured response a function may return.
type urlResponse struct {
	StatusCode      int               `json:"statusCode"`
	Headers         map[string]string `json:"headers"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
}

// byURLID finds the function and qualifier of a function URL id.
func (s *Server) byURLID(id string) (*function, string, *urlConfig) {
	for _, f := range s.fns {
		for q, u := range f.urls {
			if strings.HasPrefix(u.FunctionUrl, "https://"+id+".") {
				return f, q, u
			}
		}
	}
	return nil, "", nil
}

func (s *Server) serveURL(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	f, qual, u := s.byURLID(r.PathValue("id"))
	var auth string
	if u != nil {
		auth = u.AuthType
	}
	s.mu.Unlock()
	if f == nil {
		http.Error(w, `{"Message":null}`, http.StatusNotFound)
		return
	}
	if (auth == "AWS_IAM" && r.Header.Get("Authorization") == "") || (auth == "NONE" && !s.PublicURLInvocable(f.name, qual)) {
		http.Error(w, `{"Message":"Forbidden"}`, http.StatusForbidden)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 6<<20))
	ev := urlEvent{Version: "2.0", RawPath: "/" + r.PathValue("path"), RawQueryString: r.URL.RawQuery, Headers: map[string]string{}}
	for k, v := range r.Header {
		ev.Headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path = r.Method, ev.RawPath
	if utf8.Valid(body) {
		ev.Body = string(body)
	} else {
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	}
	payload, _ := json.Marshal(ev)
	res, aerr := s.run(r.Context(), f, qual, payload, urlStatus)
	switch {
	case aerr != nil:
		http.Error(w, `{"Message":"`+aerr.msg+`"}`, aerr.status)
	case res.ferr != nil:
		http.Error(w, `{"Message":"Internal Server Error"}`, http.StatusBadGateway)
	default:
		writeURLResponse(w, res.out)
	}
}

// structured returns out as a structured response when it is one.
func structured(out []byte) (urlResponse, bool) {
	var resp urlResponse
	if json.Unmarshal(out, &resp) != nil || resp.StatusCode == 0 {
		return urlResponse{}, false
	}
	return resp, true
}

func urlStatus(out []byte, ferr error) int {
	if ferr != nil {
		return http.StatusBadGateway
	}
	if resp, ok := structured(out); ok {
		if resp.StatusCode < 100 || resp.StatusCode > 599 {
			return http.StatusBadGateway
		}
		return resp.StatusCode
	}
	return http.StatusOK
}

func writeURLResponse(w http.ResponseWriter, out []byte) {
	resp, ok := structured(out)
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write(out)
		return
	}
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		http.Error(w, `{"Message":"Internal Server Error"}`, http.StatusBadGateway)
		return
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	b := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if d, err := base64.StdEncoding.DecodeString(resp.Body); err == nil {
			b = d
		}
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(b)
}
