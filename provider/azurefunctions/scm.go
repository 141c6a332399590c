package azurefunctions

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
)

// Kudu's DeployStatus values.
const (
	deployFailed  = 3
	deploySuccess = 4
)

// SCMError is a refusal from the SCM (Kudu) host. Its code follows the
// HTTP status.
type SCMError struct {
	Host       string
	Op         string
	StatusCode int
	Message    string
}

// Error says what the SCM host refused and why.
func (e *SCMError) Error() string {
	return fmt.Sprintf("scm host %s: %s: HTTP %d: %s", e.Host, e.Op, e.StatusCode, e.Message)
}

// DeploymentError is a deployment that the SCM host finished in a failed
// state, with the error lines of its log. Its code is Internal.
type DeploymentError struct {
	App, ID string
	// Status is Kudu's DeployStatus (3 failed, -1 cancelled, 5 conflict,
	// 6 partial success).
	Status int
	// Log holds the deployment log's error lines (all lines when none is
	// marked as an error).
	Log []string
}

// Error names the deployment and its log's reason.
func (e *DeploymentError) Error() string {
	msg := fmt.Sprintf("deployment %s to %s failed (status %d)", e.ID, e.App, e.Status)
	if len(e.Log) > 0 {
		msg += ": " + strings.Join(e.Log, "; ")
	}
	return msg + ": fix the package and apply again"
}

// scmClient talks to SCM hosts with a bearer token through an azcore
// pipeline whose retry policy handles 429 (with Retry-After) and 5xx.
// There is no SDK client for Kudu's REST API, so the requests are
// written here.
type scmClient struct {
	pl   runtime.Pipeline
	opts *Options
}

func newSCM(cred azcore.TokenCredential, o *Options) *scmClient {
	pl := runtime.NewPipeline("updraft-azurefunctions", "v0",
		runtime.PipelineOptions{PerRetry: []policy.Policy{runtime.NewBearerTokenPolicy(cred, []string{o.SCMScope}, nil)}},
		&policy.ClientOptions{Transport: o.Transport, Retry: policy.RetryOptions{
			MaxRetries: int32(o.MaxRetries), RetryDelay: o.RetryDelay, MaxRetryDelay: 30 * time.Second,
		}})
	return &scmClient{pl: pl, opts: o}
}

func (c *scmClient) do(ctx context.Context, method, url string, body []byte, ctype string) (*http.Response, []byte, error) {
	req, err := runtime.NewRequest(ctx, method, url)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		if err := req.SetBody(streaming.NopCloser(bytes.NewReader(body)), ctype); err != nil {
			return nil, nil, err
		}
	}
	resp, err := c.pl.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, b, err
}

// deploy sends zip to the SCM host (OneDeploy for Flex, zip deploy
// otherwise), retrying while another deployment runs (409), and waits
// for the deployment to finish.
func (c *scmClient) deploy(ctx context.Context, host, app string, zip []byte, oneDeploy bool) error {
	url := "https://" + host + "/api/zipdeploy?isAsync=true"
	if oneDeploy {
		url = "https://" + host + "/api/publish?RemoteBuild=false&Deployer=updraft"
	}
	var resp *http.Response
	var body []byte
	delay := c.opts.RetryDelay
	for attempt := 0; ; attempt++ {
		var err error
		resp, body, err = c.do(ctx, http.MethodPost, url, zip, "application/zip")
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusConflict || attempt >= c.opts.MaxRetries {
			break
		}
		if err := sleep(ctx, delay); err != nil {
			return err
		}
		delay = min(2*delay, 30*time.Second)
	}
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return &SCMError{Host: host, Op: "deploy", StatusCode: resp.StatusCode, Message: shortBody(body)}
	}
	status := resp.Header.Get("Location")
	if status == "" {
		var id string
		if json.Unmarshal(body, &id) != nil || id == "" {
			return &SCMError{Host: host, Op: "deploy", StatusCode: resp.StatusCode, Message: "no deployment id or Location in the answer"}
		}
		status = "https://" + host + "/api/deployments/" + id
	}
	return c.wait(ctx, host, app, status)
}

type deployStatus struct {
	ID         string `json:"id"`
	Status     int    `json:"status"`
	StatusText string `json:"status_text"`
	Complete   bool   `json:"complete"`
	LogURL     string `json:"log_url"`
}

// wait polls a deployment until it completes. The body decides, not the
// HTTP status: Flex answers 200 while running.
func (c *scmClient) wait(ctx context.Context, host, app, url string) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.DeployTimeout)
	defer cancel()
	for {
		resp, body, err := c.do(ctx, http.MethodGet, url, nil, "")
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
			return &SCMError{Host: host, Op: "deployment status", StatusCode: resp.StatusCode, Message: shortBody(body)}
		}
		var st deployStatus
		if err := json.Unmarshal(body, &st); err != nil {
			return &SCMError{Host: host, Op: "deployment status", StatusCode: resp.StatusCode, Message: "unreadable status: " + shortBody(body)}
		}
		if st.Status == deploySuccess && (st.Complete || resp.StatusCode == http.StatusOK) {
			return nil
		}
		if st.Complete || st.Status == deployFailed || st.Status < 0 || st.Status > deploySuccess {
			return &DeploymentError{App: app, ID: st.ID, Status: st.Status, Log: c.failureLog(ctx, st)}
		}
		if err := sleep(ctx, c.opts.PollInterval); err != nil {
			return err
		}
	}
}

// failureLog reads the deployment log's error lines.
func (c *scmClient) failureLog(ctx context.Context, st deployStatus) []string {
	if st.LogURL == "" {
		if st.StatusText != "" {
			return []string{st.StatusText}
		}
		return nil
	}
	resp, body, err := c.do(ctx, http.MethodGet, st.LogURL, nil, "")
	if err != nil || resp.StatusCode != http.StatusOK {
		return []string{st.StatusText}
	}
	var entries []struct {
		Message string `json:"message"`
		Type    int    `json:"type"`
	}
	if json.Unmarshal(body, &entries) != nil {
		return []string{st.StatusText}
	}
	var errs, all []string
	for _, e := range entries {
		all = append(all, e.Message)
		if e.Type == 2 {
			errs = append(errs, e.Message)
		}
	}
	if len(errs) == 0 {
		return all
	}
	return errs
}

func shortBody(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
