// Package s3fake is an in-process S3 endpoint (path-style, REST-XML) for
// tests that use the real aws-sdk-go-v2 S3 client with BaseEndpoint =
// Server.URL and UsePathStyle. It serves PutObject, GetObject and the
// bucket notification configuration, which S3 replaces as a whole on
// every PUT, and which it validates up front: a Lambda destination must
// already allow s3.amazonaws.com to invoke it (Options.CanInvoke).
package s3fake

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"

	"github.com/updraft-dev/updraft/internal/cloudfake/awswire"
)

// Options configure a Server. Nil means the defaults.
type Options struct {
	// CanInvoke reports whether the resource policy of the Lambda function
	// ARN lets s3.amazonaws.com invoke it from the bucket ARN; nil allows all.
	CanInvoke func(functionArn, bucketArn string) bool
}

// Server is the fake. Create it with New.
type Server struct {
	awswire.Recorder
	opts Options
	srv  *httptest.Server

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	objects      map[string][]byte
	notification []byte // raw NotificationConfiguration XML; nil = empty
}

// New starts a fake S3.
func New(opts *Options) *Server {
	s := &Server{buckets: map[string]*bucket{}}
	if opts != nil {
		s.opts = *opts
	}
	s.srv = httptest.NewServer(s)
	return s
}

// URL is the endpoint to pass as the client's BaseEndpoint.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// CreateBucket creates an empty bucket.
func (s *Server) CreateBucket(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buckets[name] == nil {
		s.buckets[name] = &bucket{objects: map[string][]byte{}}
	}
}

// Object returns an object's bytes; it implements lambdafake.ObjectStore.
func (s *Server) Object(bucket, key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[bucket]
	if b == nil {
		return nil, false
	}
	o, ok := b.objects[key]
	return o, ok
}

// Notification is the parsed part of a bucket notification configuration
// that tests inspect.
type Notification struct {
	XMLName xml.Name `xml:"NotificationConfiguration"`
	Lambda  []struct {
		ID     string   `xml:"Id"`
		Arn    string   `xml:"CloudFunction"`
		Events []string `xml:"Event"`
	} `xml:"CloudFunctionConfiguration"`
	Queue []struct {
		ID  string `xml:"Id"`
		Arn string `xml:"Queue"`
	} `xml:"QueueConfiguration"`
	Topic []struct {
		ID  string `xml:"Id"`
		Arn string `xml:"Topic"`
	} `xml:"TopicConfiguration"`
}

// Notifications returns bucket's parsed notification configuration.
func (s *Server) Notifications(bucket string) Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n Notification
	if b := s.buckets[bucket]; b != nil && b.notification != nil {
		xml.Unmarshal(b.notification, &n)
	}
	return n
}

// SetNotificationXML replaces bucket's notification configuration, as
// another tool would.
func (s *Server) SetNotificationXML(bucket, doc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.buckets[bucket]; b != nil {
		b.notification = []byte(doc)
	}
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>fake</RequestId></Error>`, code, xmlEscape(msg))
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// objectHandler serves one operation on bucket b (key "" for bucket
// operations) with s.mu held.
type objectHandler func(s *Server, w http.ResponseWriter, r *http.Request, b *bucket, bucketName, key string, body []byte)

// operation names the operation a request asks for. S3 selects bucket
// sub-resources by query parameter (?notification), which ServeMux
// patterns cannot match, hence this small table instead.
func operation(r *http.Request, key string) (string, objectHandler) {
	_, notif := r.URL.Query()["notification"]
	switch {
	case notif && r.Method == "GET":
		return "GetBucketNotificationConfiguration", (*Server).getNotification
	case notif && r.Method == "PUT":
		return "PutBucketNotificationConfiguration", (*Server).putNotification
	case key != "" && r.Method == "PUT":
		return "PutObject", (*Server).putObject
	case key != "" && (r.Method == "GET" || r.Method == "HEAD"):
		return "GetObject", (*Server).getObject
	}
	return "", nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	op, h := operation(r, key)
	if h == nil {
		writeErr(w, 501, "NotImplemented", "s3fake: "+r.Method+" "+r.URL.String())
		return
	}
	if s.Begin(op, w, r) {
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeErr(w, 400, "IncompleteBody", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[name]
	if b == nil {
		writeErr(w, 404, "NoSuchBucket", "The specified bucket does not exist")
		return
	}
	h(s, w, r, b, name, key, body)
}

func (s *Server) getNotification(w http.ResponseWriter, _ *http.Request, b *bucket, _, _ string, _ []byte) {
	w.Header().Set("Content-Type", "application/xml")
	if b.notification == nil {
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>`)
		return
	}
	w.Write(b.notification)
}

func (s *Server) putNotification(w http.ResponseWriter, _ *http.Request, b *bucket, name, _ string, body []byte) {
	var n Notification
	if err := xml.Unmarshal(body, &n); err != nil {
		writeErr(w, 400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")
		return
	}
	ids := map[string]bool{}
	for _, l := range n.Lambda {
		if l.ID != "" && ids[l.ID] {
			writeErr(w, 400, "InvalidArgument", "Configuration Id must be unique: "+l.ID)
			return
		}
		ids[l.ID] = true
		if s.opts.CanInvoke != nil && !s.opts.CanInvoke(l.Arn, "arn:aws:s3:::"+name) {
			writeErr(w, 400, "InvalidArgument", "Unable to validate the following destination configurations")
			return
		}
	}
	b.notification = body
	w.WriteHeader(200)
}

func (s *Server) putObject(w http.ResponseWriter, _ *http.Request, b *bucket, _, key string, body []byte) {
	b.objects[key] = body
	w.Header().Set("ETag", `"`+strconv.Itoa(len(body))+`"`)
	w.WriteHeader(200)
}

func (s *Server) getObject(w http.ResponseWriter, r *http.Request, b *bucket, _, key string, _ []byte) {
	o, ok := b.objects[key]
	if !ok {
		writeErr(w, 404, "NoSuchKey", "The specified key does not exist.")
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(o)))
	w.WriteHeader(200)
	if r.Method == "GET" {
		w.Write(o)
	}
}

// readBody reads the request body, decoding aws-chunked encoding (used by
// the SDK for streaming checksums).
func readBody(r *http.Request) ([]byte, error) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") {
		return raw, nil
	}
	var out bytes.Buffer
	br := bufio.NewReader(bytes.NewReader(raw))
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("aws-chunked: %v", err)
		}
		sizeHex := strings.TrimSpace(strings.SplitN(line, ";", 2)[0])
		n, err := strconv.ParseInt(sizeHex, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("aws-chunked size %q: %v", sizeHex, err)
		}
		if n == 0 {
			return out.Bytes(), nil
		}
		if _, err := io.CopyN(&out, br, n); err != nil {
			return nil, err
		}
		br.ReadString('\n')
	}
}
