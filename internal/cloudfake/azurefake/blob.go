package azurefake

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

type blob struct {
	data     []byte
	etag     string
	modified time.Time
	ctype    string
}

func blobError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("x-ms-error-code", code)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
}

// serveBlob implements Put Blob (block blobs), Get Blob, Get Blob
// Properties and Delete Blob with If-Match / If-None-Match.
// Its branches are the four operations and their conditional headers.
func (c *Cloud) serveBlob(w http.ResponseWriter, r *http.Request, host string) {
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	defer func() { c.record("blob", r, sw.status) }()
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		blobError(sw, http.StatusForbidden, "AuthenticationFailed", "send a bearer token")
		return
	}
	if r.URL.Query().Get("comp") != "" || r.URL.Query().Get("restype") != "" {
		blobError(sw, http.StatusNotImplemented, "NotImplemented", "the fake serves single blob operations only")
		return
	}
	key := host + r.URL.Path
	if strings.Count(strings.Trim(r.URL.Path, "/"), "/") < 1 {
		blobError(sw, http.StatusBadRequest, "InvalidUri", "name a container and a blob")
		return
	}
	var body []byte
	if r.Method == http.MethodPut {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			blobError(sw, http.StatusBadRequest, "InvalidInput", err.Error())
			return
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.blobs[key]
	ifMatch, ifNone := r.Header.Get("If-Match"), r.Header.Get("If-None-Match")
	if ifMatch != "" && (b == nil || (ifMatch != "*" && ifMatch != b.etag)) {
		if b == nil {
			blobError(sw, http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.")
			return
		}
		blobError(sw, http.StatusPreconditionFailed, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
		return
	}
	if ifNone == "*" && b != nil {
		if r.Method == http.MethodPut {
			blobError(sw, http.StatusConflict, "BlobAlreadyExists", "The specified blob already exists.")
			return
		}
		sw.WriteHeader(http.StatusNotModified)
		return
	}
	switch r.Method {
	case http.MethodPut:
		if r.Header.Get("x-ms-blob-type") != "BlockBlob" {
			blobError(sw, http.StatusBadRequest, "MissingRequiredHeader", "x-ms-blob-type: BlockBlob is required")
			return
		}
		c.seq++
		nb := &blob{data: body, etag: fmt.Sprintf(`"0x8DC%012X"`, c.seq), modified: time.Now().UTC(), ctype: r.Header.Get("x-ms-blob-content-type")}
		c.blobs[key] = nb
		sw.Header().Set("ETag", nb.etag)
		sw.Header().Set("Last-Modified", nb.modified.Format(http.TimeFormat))
		sw.Header().Set("x-ms-request-server-encrypted", "true")
		sw.WriteHeader(http.StatusCreated)
	case http.MethodGet, http.MethodHead:
		if b == nil {
			blobError(sw, http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.")
			return
		}
		h := sw.Header()
		h.Set("ETag", b.etag)
		h.Set("Last-Modified", b.modified.Format(http.TimeFormat))
		h.Set("Content-Length", strconv.Itoa(len(b.data)))
		h.Set("x-ms-blob-type", "BlockBlob")
		if b.ctype != "" {
			h.Set("Content-Type", b.ctype)
		}
		sw.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = sw.Write(b.data)
		}
	case http.MethodDelete:
		if b == nil {
			blobError(sw, http.StatusNotFound, "BlobNotFound", "The specified blob does not exist.")
			return
		}
		delete(c.blobs, key)
		sw.WriteHeader(http.StatusAccepted)
	default:
		blobError(sw, http.StatusMethodNotAllowed, "UnsupportedHttpVerb", r.Method)
	}
}

// Blobs lists the stored blob URLs (host and path), sorted.
func (c *Cloud) Blobs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.blobs))
	for k := range c.blobs {
		out = append(out, "https://"+k)
	}
	sort.Strings(out)
	return out
}

// Blob returns a stored blob's bytes.
func (c *Cloud) Blob(url string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.blobs[strings.TrimPrefix(url, "https://")]
	if b == nil {
		return nil, false
	}
	return append([]byte(nil), b.data...), true
}
