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
		rt := routeOf(a)
		rt.Provisioned = pcs[name]
		st.Routes[name] = rt
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

// routeOf converts an alias to a Route (without provisioned status).
func routeOf(a *types.AliasConfiguration) *driver.Route {
	rec := decodeRecord(aws.ToString(a.Description))
	return &driver.Route{Name: aws.ToString(a.Name), Traffic: trafficOf(a), ETag: aws.ToString(a.RevisionId),
		Marker: rec.marker, Verdicts: rec.verdicts}
}

func aliasOfUpdate(o *lambda.UpdateAliasOutput) *types.AliasConfiguration {
	return &types.AliasConfiguration{Name: o.Name, FunctionVersion: o.FunctionVersion, RoutingConfig: o.RoutingConfig,
		Description: o.Description, RevisionId: o.RevisionId}
}

// UpdateRoute implements driver.Function. A traffic-only update is one
// UpdateAlias (RevisionId = IfMatch) that leaves the description alone,
// falling back to CreateAlias when the route does not exist. An update of
// the marker or the verdicts rewrites the description, which holds both:
// one UpdateAlias when u sets both, else GetAlias first to keep the other
// half, conditioned on the RevisionId read (or IfMatch).
func (f *function) UpdateRoute(ctx context.Context, route string, u *driver.RouteUpdate, opts *driver.ConditionOptions) (*driver.Route, error) {
	record := u.Marker != nil || u.ClearMarker || u.Verdicts != nil
	if !record {
		return f.setTraffic(ctx, route, *u.Traffic, opts)
	}
	whole := (u.Marker != nil || u.ClearMarker) && u.Verdicts != nil
	for attempt := 0; ; attempt++ {
		in := &lambda.UpdateAliasInput{FunctionName: aws.String(f.name), Name: aws.String(route), RevisionId: str(opts.IfMatch)}
		var rec routeRecord
		if !whole {
			a, err := do(ctx, f, "GetAlias", func(ctx context.Context) (*lambda.GetAliasOutput, error) {
				return f.client.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(f.name), Name: aws.String(route)})
			})
			if apiCode(err) == "ResourceNotFoundException" && u.Traffic != nil && opts.IfMatch == "" {
				return f.createAlias(ctx, route, *u.Traffic, u)
			}
			if err != nil {
				return nil, f.aliasMissing(ctx, route, opts, err)
			}
			rec = decodeRecord(aws.ToString(a.Description))
			if opts.IfMatch == "" {
				in.RevisionId = a.RevisionId
			}
		}
		switch {
		case u.ClearMarker:
			rec.marker = nil
		case u.Marker != nil:
			rec.marker = u.Marker
		}
		if u.Verdicts != nil {
			rec.verdicts = u.Verdicts
		}
		desc, err := encodeRecord(rec)
		if err != nil {
			return nil, err
		}
		in.Description = aws.String(desc)
		if u.Traffic != nil {
			in.FunctionVersion, in.RoutingConfig = aws.String(u.Traffic.Stable), routing(*u.Traffic)
		}
		var out *lambda.UpdateAliasOutput
		err = f.retry(ctx, "UpdateAlias", nil, func(ctx context.Context) error {
			var err error
			out, err = f.client.UpdateAlias(ctx, in)
			return err
		})
		// Without IfMatch a concurrent change of the alias is not a
		// conflict: read again and write over the new state.
		if apiCode(err) == "PreconditionFailedException" && opts.IfMatch == "" && !whole && attempt < f.opts.MaxRetries {
			continue
		}
		if apiCode(err) == "ResourceNotFoundException" && u.Traffic != nil && whole && opts.IfMatch == "" {
			return f.createAlias(ctx, route, *u.Traffic, u)
		}
		if err != nil {
			return nil, f.aliasMissing(ctx, route, opts, err)
		}
		return routeOf(aliasOfUpdate(out)), nil
	}
}

// setTraffic is UpdateRoute for traffic alone.
func (f *function) setTraffic(ctx context.Context, route string, t driver.Traffic, opts *driver.ConditionOptions) (*driver.Route, error) {
	var out *lambda.UpdateAliasOutput
	err := f.retry(ctx, "UpdateAlias", nil, func(ctx context.Context) error {
		var err error
		out, err = f.client.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String(f.name), Name: aws.String(route),
			FunctionVersion: aws.String(t.Stable), RoutingConfig: routing(t), RevisionId: str(opts.IfMatch)})
		return err
	})
	if err == nil {
		return routeOf(aliasOfUpdate(out)), nil
	}
	if apiCode(err) != "ResourceNotFoundException" {
		return nil, err
	}
	if opts.IfMatch != "" {
		return nil, f.aliasMissing(ctx, route, opts, err)
	}
	r, cerr := f.createAlias(ctx, route, t, &driver.RouteUpdate{Traffic: &t})
	if errorCode(cerr) == driver.AlreadyExists {
		return nil, err // the alias exists: the first NotFound was about a revision
	}
	return r, cerr
}

// aliasMissing turns a NotFound from a conditioned alias write into
// FailedPrecondition when it is the alias, not the function or a
// revision, that is missing: an etag cannot match a route that is gone.
func (f *function) aliasMissing(ctx context.Context, route string, opts *driver.ConditionOptions, err error) error {
	if apiCode(err) != "ResourceNotFoundException" || opts.IfMatch == "" {
		return err
	}
	if _, gerr := do(ctx, f, "GetAlias", func(ctx context.Context) (*lambda.GetAliasOutput, error) {
		return f.client.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(f.name), Name: aws.String(route)})
	}); apiCode(gerr) == "ResourceNotFoundException" && !strings.Contains(errMessage(gerr), "Function not found") {
		return driver.NewError(driver.FailedPrecondition, fmt.Sprintf("route %s of %s does not exist, so etag %s cannot match", route, f.name, opts.IfMatch))
	}
	return err
}

func errMessage(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// createAlias creates route at t with the record u carries.
func (f *function) createAlias(ctx context.Context, route string, t driver.Traffic, u *driver.RouteUpdate) (*driver.Route, error) {
	in := &lambda.CreateAliasInput{FunctionName: aws.String(f.name), Name: aws.String(route), FunctionVersion: aws.String(t.Stable)}
	if t.Candidate != "" && t.CandidatePercent > 0 {
		in.RoutingConfig = routing(t)
	}
	desc, err := encodeRecord(routeRecord{marker: u.Marker, verdicts: u.Verdicts})
	if err != nil {
		return nil, err
	}
	if desc != "" {
		in.Description = aws.String(desc)
	}
	var out *lambda.CreateAliasOutput
	err = f.retry(ctx, "CreateAlias", nil, func(ctx context.Context) error {
		var err error
		out, err = f.client.CreateAlias(ctx, in)
		return err
	})
	if err != nil {
		return nil, err
	}
	return routeOf(&types.AliasConfiguration{Name: out.Name, FunctionVersion: out.FunctionVersion, RoutingConfig: out.RoutingConfig,
		Description: out.Description, RevisionId: out.RevisionId}), nil
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
