package awslambda

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/updraft-dev/updraft/provider/driver"
)

// Metrics implements driver.Function with one CloudWatch GetMetricData
// (paged): the Sum of AWS/Lambda Invocations, Errors and Throttles with
// dimensions FunctionName, Resource (FUNCTION:ROUTE) and ExecutedVersion
// when a route and revision are given; FunctionName and Resource
// (FUNCTION:REVISION) for a revision invoked directly; FunctionName alone
// otherwise. Zero times mean the last three hours.
//
// HTTP classes come from the function URL metrics UrlRequestCount,
// Url4xxCount and Url5xxCount, which CloudWatch publishes with the
// dimensions FunctionName and Resource only (no ExecutedVersion): for a
// route they count every response of the route's URL, whatever version
// served it, so during a canary they mix the candidate's responses with
// the stable version's. Status2xx is the requests that were neither 4xx
// nor 5xx. HTTP is true when the route (or, with no route, the function)
// has a function URL, which costs one GetFunctionUrlConfig; a revision
// queried directly has none (Lambda puts URLs on aliases only).
func (f *function) Metrics(ctx context.Context, q *driver.MetricsQuery) (*driver.Metrics, error) {
	if f.cw == nil {
		return nil, driver.NewError(driver.Unimplemented, "awslambda: metrics need Options.CloudWatchClient")
	}
	until := q.Until
	if until.IsZero() {
		until = time.Now().Add(time.Minute)
	}
	since := q.Since
	if since.IsZero() {
		since = until.Add(-3 * time.Hour)
	}
	fnDim := cwtypes.Dimension{Name: aws.String("FunctionName"), Value: aws.String(f.name)}
	dims := []cwtypes.Dimension{fnDim}
	urlDims := []cwtypes.Dimension{fnDim}
	switch {
	case q.Route != "":
		res := cwtypes.Dimension{Name: aws.String("Resource"), Value: aws.String(f.name + ":" + q.Route)}
		dims = append(dims, res)
		urlDims = append(urlDims, res)
		if q.Revision != "" {
			dims = append(dims, cwtypes.Dimension{Name: aws.String("ExecutedVersion"), Value: aws.String(q.Revision)})
		}
	case q.Revision != "":
		dims = append(dims, cwtypes.Dimension{Name: aws.String("Resource"), Value: aws.String(f.name + ":" + q.Revision)})
	}
	hasURL, err := f.hasURL(ctx, q)
	if err != nil {
		return nil, err
	}
	in := &cloudwatch.GetMetricDataInput{StartTime: aws.Time(since), EndTime: aws.Time(until)}
	add := func(id, name string, dims []cwtypes.Dimension) {
		in.MetricDataQueries = append(in.MetricDataQueries, cwtypes.MetricDataQuery{Id: aws.String(id),
			MetricStat: &cwtypes.MetricStat{Metric: &cwtypes.Metric{Namespace: aws.String("AWS/Lambda"), MetricName: aws.String(name), Dimensions: dims},
				Period: aws.Int32(60), Stat: aws.String("Sum")}})
	}
	add("inv", "Invocations", dims)
	add("err", "Errors", dims)
	add("thr", "Throttles", dims)
	if hasURL {
		add("req", "UrlRequestCount", urlDims)
		add("u4", "Url4xxCount", urlDims)
		add("u5", "Url5xxCount", urlDims)
	}
	sums := map[string]float64{}
	p := cloudwatch.NewGetMetricDataPaginator(f.cw, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range page.MetricDataResults {
			for _, v := range r.Values {
				sums[aws.ToString(r.Id)] += v
			}
		}
	}
	m := &driver.Metrics{Invocations: int64(sums["inv"]), Errors: int64(sums["err"]), Throttles: int64(sums["thr"]), HTTP: hasURL}
	if hasURL {
		m.Status4xx, m.Status5xx = int64(sums["u4"]), int64(sums["u5"])
		m.Status2xx = max(0, int64(sums["req"])-m.Status4xx-m.Status5xx)
	}
	return m, nil
}

// hasURL reports whether the queried route (or the function) has a URL.
func (f *function) hasURL(ctx context.Context, q *driver.MetricsQuery) (bool, error) {
	if q.Route == "" && q.Revision != "" {
		return false, nil
	}
	_, err := f.client.GetFunctionUrlConfig(ctx, &lambda.GetFunctionUrlConfigInput{FunctionName: aws.String(f.name), Qualifier: str(q.Route)})
	switch {
	case err == nil:
		return true, nil
	case apiCode(err) == "ResourceNotFoundException":
		return false, nil
	}
	return false, fmt.Errorf("reading the function URL of %s: %w", f.name, err)
}
