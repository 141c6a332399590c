package awslambda

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// Get implements driver.Function: GetFunction, ListAliases,
// ListProvisionedConcurrencyConfigs, then the reads of owned triggers.
func (f *function) Get(ctx context.Context) (*driver.State, error) {
	out, err := do(ctx, f, "GetFunction", func(ctx context.Context) (*lambda.GetFunctionOutput, error) {
		return f.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(f.name)})
	})
	if err != nil {
		return nil, err
	}
	reserved := reservedOf(out)
	st := &driver.State{Name: f.name, Config: f.configOf(out.Configuration, out.Tags, reserved),
		ETag: aws.ToString(out.Configuration.RevisionId), Routes: map[string]*driver.Route{}}
	aliases, err := f.listAliases(ctx)
	if err != nil {
		return nil, err
	}
	pcs := map[string]*driver.Provisioned{}
	pp := lambda.NewListProvisionedConcurrencyConfigsPaginator(f.client, &lambda.ListProvisionedConcurrencyConfigsInput{FunctionName: aws.String(f.name)})
	for pp.HasMorePages() {
		page, err := do(ctx, f, "NextPage", func(ctx context.Context) (*lambda.ListProvisionedConcurrencyConfigsOutput, error) {
			return pp.NextPage(ctx)
		})
		if err != nil {
			return nil, err
		}
		for _, p := range page.ProvisionedConcurrencyConfigs {
			arn := aws.ToString(p.FunctionArn)
			q := arn[strings.LastIndex(arn, ":")+1:]
			pcs[q] = &driver.Provisioned{Requested: int(aws.ToInt32(p.RequestedProvisionedConcurrentExecutions)),
				Ready: int(aws.ToInt32(p.AllocatedProvisionedConcurrentExecutions)), Status: string(p.Status), Reason: aws.ToString(p.StatusReason)}
		}
	}
	fnArn := aws.ToString(out.Configuration.FunctionArn)
	var routes []string
	for i := range aliases {
		a := &aliases[i]
		name := aws.ToString(a.Name)
		routes = append(routes, name)
		st.Routes[name] = &driver.Route{Name: name, Traffic: trafficOf(a), ETag: aws.ToString(a.RevisionId),
			Marker: decodeMarker(aws.ToString(a.Description)), Provisioned: pcs[name]}
	}
	owned, err := f.readTriggers(ctx, fnArn, routes, out.Tags)
	if err != nil {
		return nil, err
	}
	for _, o := range owned {
		st.Triggers = append(st.Triggers, o.trigger)
		if o.endpoint != "" && st.Endpoint == "" {
			st.Endpoint = o.endpoint
		}
	}
	slices.SortFunc(st.Triggers, func(a, b trigger.Trigger) int { return strings.Compare(a.TriggerKey(), b.TriggerKey()) })
	return st, nil
}

func (f *function) listAliases(ctx context.Context) ([]types.AliasConfiguration, error) {
	var out []types.AliasConfiguration
	p := lambda.NewListAliasesPaginator(f.client, &lambda.ListAliasesInput{FunctionName: aws.String(f.name)})
	for p.HasMorePages() {
		page, err := do(ctx, f, "NextPage", func(ctx context.Context) (*lambda.ListAliasesOutput, error) { return p.NextPage(ctx) })
		if err != nil {
			return nil, err
		}
		out = append(out, page.Aliases...)
	}
	return out, nil
}

// ListRevisions implements driver.Function.
func (f *function) ListRevisions(ctx context.Context) ([]*driver.Revision, error) {
	vs, err := f.listVersions(ctx)
	if err != nil {
		return nil, err
	}
	fn, err := do(ctx, f, "GetFunction", func(ctx context.Context) (*lambda.GetFunctionOutput, error) {
		return f.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(f.name)})
	})
	if err != nil {
		return nil, err
	}
	out := make([]*driver.Revision, len(vs))
	for i := range vs {
		out[i] = f.revisionOf(&vs[i], fn.Tags, reservedOf(fn))
	}
	return out, nil
}

func routing(t driver.Traffic) *types.AliasRoutingConfiguration {
	w := map[string]float64{}
	if t.Candidate != "" && t.CandidatePercent > 0 {
		w[t.Candidate] = float64(t.CandidatePercent) / 100
	}
	// An explicit empty map clears the weights; a nil RoutingConfig would
	// leave them as they are.
	return &types.AliasRoutingConfiguration{AdditionalVersionWeights: w}
}

// SetTraffic implements driver.Function with one UpdateAlias (RevisionId
// = IfMatch), falling back to CreateAlias when the route does not exist.
func (f *function) SetTraffic(ctx context.Context, route string, t driver.Traffic, opts *driver.ConditionOptions) error {
	err := f.retry(ctx, "UpdateAlias", nil, func(ctx context.Context) error {
		_, err := f.client.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String(f.name), Name: aws.String(route),
			FunctionVersion: aws.String(t.Stable), RoutingConfig: routing(t), RevisionId: str(opts.IfMatch)})
		return err
	})
	if apiCode(err) != "ResourceNotFoundException" {
		return err
	}
	// The function, the route or a revision is missing.
	if opts.IfMatch != "" {
		if _, gerr := do(ctx, f, "GetAlias", func(ctx context.Context) (*lambda.GetAliasOutput, error) {
			return f.client.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(f.name), Name: aws.String(route)})
		}); apiCode(gerr) == "ResourceNotFoundException" &&
			!strings.Contains(errMessage(gerr), "Function not found") {
			return driver.NewError(driver.FailedPrecondition, fmt.Sprintf("route %s of %s does not exist, so etag %s cannot match", route, f.name, opts.IfMatch))
		}
		return err
	}
	in := &lambda.CreateAliasInput{FunctionName: aws.String(f.name), Name: aws.String(route), FunctionVersion: aws.String(t.Stable)}
	if t.Candidate != "" && t.CandidatePercent > 0 {
		in.RoutingConfig = routing(t)
	}
	cerr := f.retry(ctx, "CreateAlias", nil, func(ctx context.Context) error {
		_, err := f.client.CreateAlias(ctx, in)
		return err
	})
	if errorCode(cerr) == driver.AlreadyExists {
		return err // the alias exists: the first NotFound was about a revision
	}
	return cerr
}

func errMessage(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// SetMarker implements driver.Function: the marker is the alias
// description, written with the alias's current version and routing.
func (f *function) SetMarker(ctx context.Context, route string, m *driver.Marker, opts *driver.ConditionOptions) error {
	desc, err := encodeMarker(m)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		a, err := do(ctx, f, "GetAlias", func(ctx context.Context) (*lambda.GetAliasOutput, error) {
			return f.client.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(f.name), Name: aws.String(route)})
		})
		if err != nil {
			return err
		}
		rev := opts.IfMatch
		if rev == "" {
			rev = aws.ToString(a.RevisionId)
		}
		rc := a.RoutingConfig
		if rc == nil || rc.AdditionalVersionWeights == nil {
			rc = &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{}}
		}
		err = f.retry(ctx, "UpdateAlias", nil, func(ctx context.Context) error {
			_, err := f.client.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String(f.name), Name: aws.String(route),
				FunctionVersion: a.FunctionVersion, RoutingConfig: rc, Description: aws.String(desc), RevisionId: aws.String(rev)})
			return err
		})
		// Without IfMatch a concurrent change of traffic is not a conflict:
		// read again and write the marker over the new traffic.
		if apiCode(err) == "PreconditionFailedException" && opts.IfMatch == "" && attempt < f.opts.MaxRetries {
			continue
		}
		return err
	}
}

// DeleteRevision implements driver.Function. Lambda refuses to delete a
// version an alias or provisioned concurrency references (409, mapped to
// FailedPrecondition).
func (f *function) DeleteRevision(ctx context.Context, id string) error {
	return f.retry(ctx, "DeleteFunction", nil, func(ctx context.Context) error {
		_, err := f.client.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(f.name), Qualifier: aws.String(id)})
		return err
	})
}

// Delete implements driver.Function: it removes the triggers updraft
// owns on every route (event source mappings, schedules and S3
// notifications outlive the function otherwise), then the function.
func (f *function) Delete(ctx context.Context) error {
	out, err := do(ctx, f, "GetFunction", func(ctx context.Context) (*lambda.GetFunctionOutput, error) {
		return f.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(f.name)})
	})
	if err != nil {
		return err
	}
	aliases, err := f.listAliases(ctx)
	if err != nil {
		return err
	}
	fnArn := aws.ToString(out.Configuration.FunctionArn)
	for _, a := range aliases {
		if _, err := f.reconcileTriggers(ctx, fnArn, aws.ToString(a.Name), []trigger.Trigger{}, out.Tags); err != nil {
			return err
		}
	}
	return f.retry(ctx, "DeleteFunction", nil, func(ctx context.Context) error {
		_, err := f.client.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(f.name)})
		return err
	})
}

// Invoke implements driver.Function with a synchronous Invoke.
func (f *function) Invoke(ctx context.Context, req *driver.InvokeRequest) (*driver.InvokeResult, error) {
	q := req.Revision
	if q == "" {
		q = req.Route
	}
	start := time.Now()
	// No retry beyond the SDK's: an invocation is not idempotent.
	out, err := f.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(f.name), Qualifier: str(q), Payload: req.Payload})
	if err != nil {
		return nil, err
	}
	res := &driver.InvokeResult{Revision: aws.ToString(out.ExecutedVersion), Payload: out.Payload, Duration: time.Since(start)}
	if fe := aws.ToString(out.FunctionError); fe != "" {
		res.FunctionError = fe
		var body struct {
			ErrorMessage string `json:"errorMessage"`
		}
		if json.Unmarshal(out.Payload, &body) == nil && body.ErrorMessage != "" {
			res.FunctionError = fe + ": " + body.ErrorMessage
		}
	}
	return res, nil
}

// Metrics implements driver.Function with CloudWatch GetMetricData: the
// Sum of AWS/Lambda Invocations, Errors and Throttles with dimensions
// FunctionName, Resource (FUNCTION:ROUTE) and ExecutedVersion when a route
// and revision are given; FunctionName and Resource (FUNCTION:REVISION)
// for a revision invoked directly; FunctionName alone otherwise. Zero
// times mean the last three hours.
func (f *function) Metrics(ctx context.Context, q *driver.MetricsQuery) (*driver.Metrics, error) {
	cw := f.opts.CloudWatchClient
	if cw == nil {
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
	dims := []cwtypes.Dimension{{Name: aws.String("FunctionName"), Value: aws.String(f.name)}}
	switch {
	case q.Route != "":
		dims = append(dims, cwtypes.Dimension{Name: aws.String("Resource"), Value: aws.String(f.name + ":" + q.Route)})
		if q.Revision != "" {
			dims = append(dims, cwtypes.Dimension{Name: aws.String("ExecutedVersion"), Value: aws.String(q.Revision)})
		}
	case q.Revision != "":
		dims = append(dims, cwtypes.Dimension{Name: aws.String("Resource"), Value: aws.String(f.name + ":" + q.Revision)})
	}
	names := []string{"Invocations", "Errors", "Throttles"}
	in := &cloudwatch.GetMetricDataInput{StartTime: aws.Time(since), EndTime: aws.Time(until)}
	for i, n := range names {
		in.MetricDataQueries = append(in.MetricDataQueries, cwtypes.MetricDataQuery{Id: aws.String(fmt.Sprintf("m%d", i)),
			MetricStat: &cwtypes.MetricStat{Metric: &cwtypes.Metric{Namespace: aws.String("AWS/Lambda"), MetricName: aws.String(n), Dimensions: dims},
				Period: aws.Int32(60), Stat: aws.String("Sum")}})
	}
	sums := map[string]float64{}
	p := cloudwatch.NewGetMetricDataPaginator(cw, in)
	for p.HasMorePages() {
		page, err := do(ctx, f, "NextPage", func(ctx context.Context) (*cloudwatch.GetMetricDataOutput, error) { return p.NextPage(ctx) })
		if err != nil {
			return nil, err
		}
		for _, r := range page.MetricDataResults {
			for _, v := range r.Values {
				sums[aws.ToString(r.Id)] += v
			}
		}
	}
	return &driver.Metrics{Invocations: int64(sums["m0"]), Errors: int64(sums["m1"]), Throttles: int64(sums["m2"])}, nil
}

func reservedOf(o *lambda.GetFunctionOutput) *int32 {
	if o == nil || o.Concurrency == nil {
		return nil
	}
	return o.Concurrency.ReservedConcurrentExecutions
}
