package azurefake

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor"
	monfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor/fake"
)

// hit is one request served by an app host.
type hit struct {
	at     time.Time
	status int
}

// MonitorClientOptions returns options that send armmonitor clients to
// the fake Azure Monitor, whose App Service metrics (Requests, Http2xx,
// Http4xx, Http5xx) count the requests the app hosts answered.
func (c *Cloud) MonitorClientOptions() *arm.ClientOptions {
	srv := &monfake.MetricsServer{List: c.listMetrics}
	return &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: armTransport{c: c, inner: monfake.NewMetricsServerTransport(srv)}}}
}

// listMetrics answers Azure Monitor's List for the App Service metrics
// the adapter reads; its branches parse and check the query's parts.
func (c *Cloud) listMetrics(ctx context.Context, uri string, o *armmonitor.MetricsClientListOptions) (resp azfake.Responder[armmonitor.MetricsClientListResponse], e azfake.ErrorResponder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s *site
	for _, p := range c.sites {
		for _, x := range append([]*site{p}, values(p.slots)...) {
			if strings.EqualFold(strings.TrimPrefix(x.resourceID(), "/"), strings.TrimPrefix(uri, "/")) {
				s = x
			}
		}
	}
	if s == nil {
		notFound(&e)
		return
	}
	var from, until time.Time
	if o != nil && o.Timespan != nil {
		a, b, _ := strings.Cut(*o.Timespan, "/")
		from, _ = time.Parse(time.RFC3339, a)
		until, _ = time.Parse(time.RFC3339, b)
	}
	names := []string{"Requests"}
	if o != nil && o.Metricnames != nil {
		names = strings.Split(*o.Metricnames, ",")
	}
	out := armmonitor.Response{Timespan: o.Timespan, Interval: to.Ptr("PT1M"), Namespace: to.Ptr("Microsoft.Web/sites")}
	for _, n := range names {
		var total float64
		for _, h := range s.hits {
			if (!from.IsZero() && h.at.Before(from)) || (!until.IsZero() && h.at.After(until)) {
				continue
			}
			class := h.status / 100
			if n == "Requests" || (n == "Http2xx" && class == 2) || (n == "Http4xx" && class == 4) || (n == "Http5xx" && class == 5) {
				total++
			}
		}
		out.Value = append(out.Value, &armmonitor.Metric{Name: &armmonitor.LocalizableString{Value: to.Ptr(n)}, Unit: to.Ptr(armmonitor.MetricUnitCount),
			Timeseries: []*armmonitor.TimeSeriesElement{{Data: []*armmonitor.MetricValue{{TimeStamp: to.Ptr(from), Total: to.Ptr(total)}}}}})
	}
	resp.SetResponse(http.StatusOK, armmonitor.MetricsClientListResponse{Response: out}, nil)
	return
}
