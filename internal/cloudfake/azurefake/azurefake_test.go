package azurefake_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appservice/armappservice/v6"

	"github.com/updraft-dev/updraft/internal/cloudfake/azurefake"
)

type recorded struct {
	Interactions []struct {
		Name, Method, URL, Body string
		Status                  int
		Headers                 map[string]string
	}
}

func loadRecorded(t *testing.T) map[string]map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/recorded-scm.json")
	if err != nil {
		t.Fatal(err)
	}
	var r recorded
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, it := range r.Interactions {
		m := map[string]any{"status": it.Status, "headers": it.Headers, "body": it.Body}
		out[it.Name] = m
	}
	return out
}

func testZip(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for n, c := range files {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, c)
	}
	zw.Close()
	return buf.Bytes()
}

// newSite creates a plan and a site through the SDK.
func newSite(t *testing.T, c *azurefake.Cloud, name string, flex bool) {
	t.Helper()
	ctx := t.Context()
	cf, err := c.NewClientFactory()
	if err != nil {
		t.Fatal(err)
	}
	fast := &runtime.PollUntilDoneOptions{Frequency: time.Millisecond}
	pp, err := cf.NewPlansClient().BeginCreateOrUpdate(ctx, "rg", name+"-plan", armappservice.Plan{Location: to.Ptr("westeurope"),
		SKU: &armappservice.SKUDescription{Name: to.Ptr("FC1")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pp.PollUntilDone(ctx, fast)
	if err != nil {
		t.Fatal(err)
	}
	site := armappservice.Site{Location: to.Ptr("westeurope"), Properties: &armappservice.SiteProperties{ServerFarmID: plan.ID}}
	if flex {
		site.Properties.FunctionAppConfig = &armappservice.FunctionAppConfig{
			Runtime:    &armappservice.FunctionsRuntime{Name: to.Ptr(armappservice.RuntimeNameCustom), Version: to.Ptr("1.0")},
			Deployment: &armappservice.FunctionsDeployment{Storage: &armappservice.FunctionsDeploymentStorage{Value: to.Ptr("https://st.blob.core.windows.net/pkg")}},
		}
	}
	sp, err := cf.NewWebAppsClient().BeginCreateOrUpdate(ctx, "rg", name, site, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.PollUntilDone(ctx, fast); err != nil {
		t.Fatal(err)
	}
}

func do(t *testing.T, c *azurefake.Cloud, method, url string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer fake_token")
	req.Header.Set("Content-Type", "application/zip")
	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func keys(t *testing.T, body string) []string {
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// The fake answers OneDeploy and zip deploy as the recorded Azure traffic
// shows: the same statuses, headers and status document fields.
func TestResponsesMatchRecordedShapes(t *testing.T) {
	rec := loadRecorded(t)
	c := azurefake.New(&azurefake.Options{DeploymentPolls: 1})
	defer c.Close()
	newSite(t, c, "flexapp", true)
	newSite(t, c, "premapp", false)
	pkg := testZip(t, map[string]string{"host.json": "{}", "handler": "x"})

	resp, body := do(t, c, http.MethodPost, "https://flexapp.scm.azurewebsites.net/api/publish?RemoteBuild=false", pkg)
	want := rec["flex-publish"]
	var id string
	if resp.StatusCode != want["status"] || json.Unmarshal(body, &id) != nil || id == "" {
		t.Fatalf("publish: %d %s, want %v with the id as a JSON string", resp.StatusCode, body, want["status"])
	}
	if loc := resp.Header.Get("Location"); loc != "https://flexapp.scm.azurewebsites.net/api/deployments/"+id {
		t.Errorf("publish Location %q", loc)
	}
	resp, _ = do(t, c, http.MethodGet, "https://flexapp.scm.azurewebsites.net/api/deployments/"+id, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status while in progress: %d (Flex answers 200 and the body decides)", resp.StatusCode)
	}
	_, body = do(t, c, http.MethodGet, "https://flexapp.scm.azurewebsites.net/api/deployments/"+id, nil)
	wantKeys := keys(t, rec["flex-status"]["body"].(string))
	if got := keys(t, string(body)); !slices.Equal(got, wantKeys) {
		t.Errorf("status fields\n got %v\nwant %v", got, wantKeys)
	}
	var st struct {
		Status   int    `json:"status"`
		Complete bool   `json:"complete"`
		Deployer string `json:"deployer"`
	}
	json.Unmarshal(body, &st)
	if st.Status != 4 || !st.Complete || st.Deployer != "LegionOneDeploy" {
		t.Errorf("final status %+v", st)
	}

	resp, _ = do(t, c, http.MethodPost, "https://premapp.scm.azurewebsites.net/api/zipdeploy?isAsync=true", pkg)
	want = rec["zipdeploy"]
	loc := resp.Header.Get("Location")
	if resp.StatusCode != want["status"] || !regexp.MustCompile(`/api/deployments/latest\?deployer=Push-Deployer&time=`).MatchString(loc) ||
		resp.Header.Get("SCM-DEPLOYMENT-ID") == "" {
		t.Fatalf("zipdeploy: %d Location %q id %q", resp.StatusCode, loc, resp.Header.Get("SCM-DEPLOYMENT-ID"))
	}
	resp, _ = do(t, c, http.MethodGet, loc, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("zipdeploy status while running: %d, want 202", resp.StatusCode)
	}
	resp, body = do(t, c, http.MethodGet, loc, nil)
	if resp.StatusCode != rec["zipdeploy-status"]["status"] {
		t.Errorf("zipdeploy final status code %d", resp.StatusCode)
	}
	if got, want := keys(t, string(body)), keys(t, rec["zipdeploy-status"]["body"].(string)); !slices.Equal(got, want) {
		t.Errorf("zipdeploy status fields\n got %v\nwant %v", got, want)
	}
}

func TestDeploymentRules(t *testing.T) {
	c := azurefake.New(nil)
	defer c.Close()
	newSite(t, c, "flexapp", true)
	pkg := testZip(t, map[string]string{"host.json": "{}"})
	if resp, _ := do(t, c, http.MethodPost, "https://flexapp.scm.azurewebsites.net/api/zipdeploy?isAsync=true", pkg); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("zip deploy on Flex: %d, want 400", resp.StatusCode)
	}
	if resp, _ := do(t, c, http.MethodPost, "https://flexapp.scm.azurewebsites.net/api/publish", pkg); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("publish: %d", resp.StatusCode)
	}
	if resp, _ := do(t, c, http.MethodPost, "https://flexapp.scm.azurewebsites.net/api/publish", pkg); resp.StatusCode != http.StatusConflict {
		t.Errorf("second publish while the first runs: %d, want 409", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, "https://flexapp.scm.azurewebsites.net/api/publish", bytes.NewReader(pkg))
	if resp, err := c.HTTPClient().Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("publish without a token: %v %v", resp, err)
	}
	// Slots are refused on Flex, If-Match is checked.
	cf, _ := c.NewClientFactory()
	web := cf.NewWebAppsClient()
	site, _ := c.Site("rg", "flexapp", "")
	_, err := web.BeginCreateOrUpdateSlot(t.Context(), "rg", "flexapp", "staging", armappservice.Site{Location: to.Ptr("westeurope"),
		Properties: &armappservice.SiteProperties{ServerFarmID: site.Site.Properties.ServerFarmID}}, nil)
	var re *azcore.ResponseError
	if !asRE(err, &re) || re.ErrorCode != "SlotsNotSupportedOnFlexConsumption" {
		t.Errorf("slot on Flex: %v", err)
	}
	ctx := policy.WithHTTPHeader(context.Background(), http.Header{"If-Match": {"stale"}})
	_, err = web.BeginCreateOrUpdate(ctx, "rg", "flexapp", site.Site, nil)
	if !asRE(err, &re) || re.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("PUT with a stale If-Match: %v", err)
	}
}

func asRE(err error, re **azcore.ResponseError) bool {
	for err != nil {
		if e, ok := err.(*azcore.ResponseError); ok {
			*re = e
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

func TestFailedDeploymentLog(t *testing.T) {
	c := azurefake.New(&azurefake.Options{DeploymentPolls: 1})
	defer c.Close()
	newSite(t, c, "flexapp", true)
	c.Inject(azurefake.Fault{FailDeployment: []string{"boom: handler missing"}})
	_, body := do(t, c, http.MethodPost, "https://flexapp.scm.azurewebsites.net/api/publish", testZip(t, map[string]string{"host.json": "{}"}))
	var id string
	json.Unmarshal(body, &id)
	base := "https://flexapp.scm.azurewebsites.net/api/deployments/" + id
	do(t, c, http.MethodGet, base, nil)
	_, body = do(t, c, http.MethodGet, base, nil)
	if !strings.Contains(string(body), `"status":3`) {
		t.Fatalf("status %s, want failed", body)
	}
	_, body = do(t, c, http.MethodGet, base+"/log", nil)
	if !strings.Contains(string(body), `"message":"boom: handler missing","type":2`) {
		t.Fatalf("log %s lacks the error line", body)
	}
	if si, _ := c.Site("rg", "flexapp", ""); si.PackageDigest != "" {
		t.Errorf("a failed deployment went live: %s", si.PackageDigest)
	}
}

func TestInjectedFaults(t *testing.T) {
	c := azurefake.New(nil)
	defer c.Close()
	newSite(t, c, "flexapp", true)
	c.Inject(azurefake.Fault{Service: "scm", Status: http.StatusTooManyRequests, RetryAfter: 2 * time.Second})
	resp, _ := do(t, c, http.MethodGet, "https://flexapp.scm.azurewebsites.net/api/deployments/latest", nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("429 fault: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp, _ := do(t, c, http.MethodGet, "https://flexapp.scm.azurewebsites.net/api/deployments/latest", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("fault did not clear after one use: %d", resp.StatusCode)
	}
	c.Inject(azurefake.Fault{Service: "arm", Method: http.MethodGet, Status: http.StatusConflict})
	cf, _ := c.NewClientFactory()
	_, err := cf.NewWebAppsClient().Get(t.Context(), "rg", "flexapp", nil)
	var re *azcore.ResponseError
	if !asRE(err, &re) || re.StatusCode != http.StatusConflict || re.ErrorCode != "Conflict" {
		t.Fatalf("ARM 409 fault: %v", err)
	}
}
