package azurefake

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Kudu DeployStatus values.
const (
	statusPending   = 0
	statusBuilding  = 1
	statusDeploying = 2
	statusFailed    = 3
	statusSuccess   = 4
)

type deployment struct {
	id        string
	deployer  string
	status    int
	polls     int
	remaining int
	fail      []string
	pkg       *pkg
	received  time.Time
	end       time.Time
	log       []logEntry
}

type logEntry struct {
	Time    time.Time `json:"log_time"`
	ID      string    `json:"id"`
	Message string    `json:"message"`
	Type    int       `json:"type"` // 0 info, 1 warning, 2 error
}

// siteByHost finds the site or slot whose SCM or app host is host.
func (c *Cloud) siteByHost(host string, scm bool) *site {
	for _, s := range c.sites {
		for _, x := range append([]*site{s}, values(s.slots)...) {
			if (scm && x.scmHost() == host) || (!scm && x.hostName() == host) {
				return x
			}
		}
	}
	return nil
}

func values(m map[string]*site) []*site {
	out := make([]*site, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (c *Cloud) serveSCM(w http.ResponseWriter, r *http.Request, host string) {
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	defer func() { c.record("scm", r, sw.status) }()
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") || len(r.Header.Get("Authorization")) <= len("Bearer ") {
		http.Error(sw, "unauthorized: send an Entra ID bearer token", http.StatusUnauthorized)
		return
	}
	var body []byte
	if r.Method == http.MethodPost {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			http.Error(sw, err.Error(), http.StatusBadRequest)
			return
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.siteByHost(host, true)
	if s == nil {
		http.Error(sw, "no such site", http.StatusNotFound)
		return
	}
	path := r.URL.Path
	switch {
	case r.Method == http.MethodPost && (path == "/api/publish" || path == "/api/zipdeploy"):
		c.startDeployment(sw, r, s, body)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/api/deployments/"):
		rest := strings.TrimPrefix(path, "/api/deployments/")
		id, sub, _ := strings.Cut(rest, "/")
		d := s.findDeployment(id)
		if d == nil {
			writeJSON(sw, http.StatusNotFound, map[string]string{"Message": "deployment " + id + " not found"})
			return
		}
		if sub == "log" {
			writeJSON(sw, http.StatusOK, d.log)
			return
		}
		c.advance(s, d)
		status := http.StatusOK
		if d.deployer == "Push-Deployer" && d.status < statusFailed {
			status = http.StatusAccepted // Kudu's zipdeploy answers 202 while running
		}
		writeJSON(sw, status, d.json(s))
	default:
		http.NotFound(sw, r)
	}
}

func (s *site) findDeployment(id string) *deployment {
	if id == "latest" {
		if len(s.deployments) == 0 {
			return nil
		}
		return s.deployments[len(s.deployments)-1]
	}
	for _, d := range s.deployments {
		if d.id == id {
			return d
		}
	}
	return nil
}

func (s *site) running() bool {
	for _, d := range s.deployments {
		if d.status < statusFailed {
			return true
		}
	}
	return false
}

func (c *Cloud) startDeployment(w http.ResponseWriter, r *http.Request, s *site, body []byte) {
	zipdeploy := r.URL.Path == "/api/zipdeploy"
	switch {
	case zipdeploy && s.flex():
		http.Error(w, "Zip deploy is not supported on Flex Consumption: use OneDeploy (/api/publish)", http.StatusBadRequest)
		return
	case !zipdeploy && r.URL.Query().Get("RemoteBuild") == "true" && s.flex() && r.URL.Query().Get("type") == "":
		// Accepted: the recorded azd traffic does it; the fake does not build.
	case s.running():
		writeJSON(w, http.StatusConflict, map[string]string{"Message": "There is a deployment currently in progress. Please try again when it completes."})
		return
	}
	if zipdeploy && !s.flex() && s.settings["WEBSITE_RUN_FROM_PACKAGE"] != "" && s.settings["WEBSITE_RUN_FROM_PACKAGE"] != "1" {
		writeJSON(w, http.StatusConflict, map[string]string{"Message": "WEBSITE_RUN_FROM_PACKAGE points at a URL; zip deploy is not possible"})
		return
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		http.Error(w, "the request body is not a zip archive", http.StatusBadRequest)
		return
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			http.Error(w, "corrupt zip entry "+f.Name, http.StatusBadRequest)
			return
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			http.Error(w, "corrupt zip entry "+f.Name, http.StatusBadRequest)
			return
		}
		files[f.Name] = b
	}
	sum := sha256.Sum256(body)
	c.seq++
	d := &deployment{id: fmt.Sprintf("%08x-0000-4000-8000-%012x", c.seq, c.seq), status: statusPending, remaining: c.polls,
		pkg: &pkg{digest: "sha256:" + hex.EncodeToString(sum[:]), files: files}, received: time.Now().UTC()}
	d.deployer = "LegionOneDeploy"
	if !s.flex() {
		d.deployer = "OneDeploy"
	}
	if zipdeploy {
		d.deployer = "Push-Deployer"
	}
	d.fail = c.takeDeploymentFault()
	if _, ok := files["host.json"]; !ok && d.fail == nil {
		d.fail = []string{"Deployment failed: host.json was not found at the root of the package"}
	}
	d.logf(0, "Received deployment request %s from %s", d.id, d.deployer)
	s.deployments = append(s.deployments, d)
	base := "https://" + s.scmHost()
	if zipdeploy {
		w.Header().Set("Location", base+"/api/deployments/latest?deployer=Push-Deployer&time="+d.received.Format("2006-01-02_15-04-05Z"))
		w.Header().Set("SCM-DEPLOYMENT-ID", d.id)
		w.Header().Set("RetryAfter", "30")
		w.WriteHeader(http.StatusAccepted)
		return
	}
	w.Header().Set("Location", base+"/api/deployments/"+d.id)
	writeJSON(w, http.StatusAccepted, d.id)
}

func (d *deployment) logf(typ int, format string, args ...any) {
	d.log = append(d.log, logEntry{Time: time.Now().UTC(), ID: fmt.Sprintf("%s-%d", d.id[:8], len(d.log)), Message: fmt.Sprintf(format, args...), Type: typ})
}

// advance moves a deployment one step on each status poll.
func (c *Cloud) advance(s *site, d *deployment) {
	if d.status >= statusFailed {
		return
	}
	d.polls++
	if d.remaining > 0 {
		d.remaining--
		d.status = min(d.status+1, statusDeploying)
		d.logf(0, "%s", []string{"Pending", "Building", "Deploying"}[d.status])
		return
	}
	d.end = time.Now().UTC()
	if d.fail != nil {
		d.status = statusFailed
		for _, l := range d.fail {
			d.logf(2, "%s", l)
		}
		return
	}
	d.status = statusSuccess
	d.logf(0, "Deployment successful.")
	s.content = d.pkg
}

func (d *deployment) json(s *site) map[string]any {
	base := "https://" + s.scmHost() + "/api/deployments/" + d.id
	text := ""
	switch d.status {
	case statusFailed:
		text = "Failed"
	case statusBuilding:
		text = "Building"
	case statusDeploying:
		text = "Deploying"
	}
	m := map[string]any{
		"id": d.id, "status": d.status, "status_text": text, "author_email": "", "author": nil, "deployer": d.deployer,
		"remoteBuild": false, "message": "", "progress": "", "received_time": d.received, "start_time": d.received,
		"complete": d.status >= statusFailed, "active": d.status == statusSuccess && s.content == d.pkg, "is_temp": false,
		"is_readonly": false, "url": base, "log_url": base + "/log", "site_name": s.name, "build_summary": nil,
	}
	if !d.end.IsZero() {
		m["end_time"] = d.end
	}
	if d.deployer == "Push-Deployer" {
		delete(m, "remoteBuild")
	}
	if d.status == statusSuccess {
		m["last_success_end_time"] = d.end
	}
	return m
}

// serveApp answers requests to a site's own host: the deployed package's
// HTTP trigger (if any) echoes the request, checking the function key
// when its authLevel is "function".
func (c *Cloud) serveApp(w http.ResponseWriter, r *http.Request, host string) {
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		c.record("app", r, sw.status)
		c.mu.Lock()
		if s := c.siteByHost(host, false); s != nil {
			s.hits = append(s.hits, hit{at: time.Now().UTC(), status: sw.status})
		}
		c.mu.Unlock()
	}()
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	s := c.siteByHost(host, false)
	var content *pkg
	key := ""
	if s != nil {
		content, key = s.content, s.hostKey
	}
	c.mu.Unlock()
	if s == nil {
		http.Error(sw, "no such site", http.StatusNotFound)
		return
	}
	if content == nil {
		http.Error(sw, "the function host has no deployed package", http.StatusServiceUnavailable)
		return
	}
	auth, ok := httpTrigger(content)
	if !ok {
		http.NotFound(sw, r)
		return
	}
	if auth != "anonymous" && r.Header.Get("x-functions-key") != key && r.URL.Query().Get("code") != key {
		http.Error(sw, "unauthorized", http.StatusUnauthorized)
		return
	}
	sw.Header().Set("Content-Type", "application/json")
	sw.Header().Set("X-Updraft-Package", content.digest)
	sw.WriteHeader(http.StatusOK)
	_, _ = sw.Write(body)
}

// httpTrigger finds an httpTrigger binding in the package's function.json
// files and returns its authLevel.
func httpTrigger(p *pkg) (string, bool) {
	for name, b := range p.files {
		if !strings.HasSuffix(name, "/function.json") {
			continue
		}
		var fj struct {
			Bindings []struct {
				Type      string `json:"type"`
				AuthLevel string `json:"authLevel"`
			} `json:"bindings"`
		}
		if json.Unmarshal(b, &fj) != nil {
			continue
		}
		for _, bd := range fj.Bindings {
			if bd.Type == "httpTrigger" {
				return bd.AuthLevel, true
			}
		}
	}
	return "", false
}
