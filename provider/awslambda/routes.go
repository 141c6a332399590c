package awslambda

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

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

// UpdateRoute implements driver.Function with one UpdateAlias carrying
// RevisionId = IfMatch (CreateAlias when the route does not exist and
// the update has Traffic). The alias description holds the marker and
// the verdicts together: an update of one of them keeps the other from
// the alias as this handle last read or wrote it when IfMatch equals that
// reading's RevisionId (no read), else from a GetAlias first.
func (f *function) UpdateRoute(ctx context.Context, route string, u *driver.RouteUpdate, opts *driver.ConditionOptions) (*driver.Route, error) {
	record := u.Marker != nil || u.ClearMarker || u.Verdicts != nil
	if !record {
		return f.setTraffic(ctx, route, *u.Traffic, opts)
	}
	whole := (u.Marker != nil || u.ClearMarker) && u.Verdicts != nil
	unconditioned := opts.IfMatch == ""
	for attempt := 0; ; attempt++ {
		in := &lambda.UpdateAliasInput{FunctionName: aws.String(f.name), Name: aws.String(route), RevisionId: str(opts.IfMatch)}
		cur, created, err := f.recordBase(ctx, route, in, u, opts, whole)
		if err != nil || created != nil {
			return created, err
		}
		r, err := f.writeRecord(ctx, route, in, cur, u)
		switch {
		case err == nil:
			return r, nil
		case apiCode(err) == "PreconditionFailedException" && unconditioned && !whole && attempt < f.opts.MaxRetries:
			// Without IfMatch a concurrent change of the alias is not a
			// conflict: read again and write over the new state.
			continue
		case apiCode(err) == "ResourceNotFoundException" && u.Traffic != nil && whole && unconditioned:
			return f.createAlias(ctx, route, *u.Traffic, u)
		}
		return nil, f.aliasMissing(ctx, route, opts, err)
	}
}

// recordBase returns the alias an update of half the record keeps the
// other half from: the cached one under IfMatch, else a GetAlias (nil
// when u replaces the whole record). A missing route is created when u
// has Traffic and no IfMatch (created is then the result).
func (f *function) recordBase(ctx context.Context, route string, in *lambda.UpdateAliasInput, u *driver.RouteUpdate, opts *driver.ConditionOptions, whole bool) (cur *types.AliasConfiguration, created *driver.Route, err error) {
	if cur = f.cachedAlias(route, opts); cur != nil || whole {
		return cur, nil, nil
	}
	a, err := f.getAlias(ctx, route)
	switch {
	case err != nil:
		return nil, nil, err
	case a == nil && u.Traffic != nil && opts.IfMatch == "":
		created, err = f.createAlias(ctx, route, *u.Traffic, u)
		return nil, created, err
	case a == nil:
		return nil, nil, f.routeGone(route, opts)
	case opts.IfMatch == "":
		in.RevisionId = a.RevisionId
	}
	return a, nil, nil
}

// writeRecord is one UpdateAlias writing u's record over cur (and u's traffic).
func (f *function) writeRecord(ctx context.Context, route string, in *lambda.UpdateAliasInput, cur *types.AliasConfiguration, u *driver.RouteUpdate) (*driver.Route, error) {
	desc, err := f.recordFor(cur, u)
	if err != nil {
		return nil, err
	}
	in.Description = aws.String(desc)
	if u.Traffic != nil {
		in.FunctionVersion, in.RoutingConfig = aws.String(u.Traffic.Stable), routing(*u.Traffic)
	}
	return f.updateAlias(ctx, route, in)
}

// cachedAlias returns the alias as last read or written when its
// RevisionId is opts.IfMatch (so the write's precondition vouches for it).
func (f *function) cachedAlias(route string, opts *driver.ConditionOptions) *types.AliasConfiguration {
	c := f.cache.alias(route)
	if c == nil || opts.IfMatch == "" || aws.ToString(c.RevisionId) != opts.IfMatch {
		return nil
	}
	return c
}

// recordFor is the description after u over cur (nil: unknown, when u
// replaces both halves).
func (f *function) recordFor(cur *types.AliasConfiguration, u *driver.RouteUpdate) (string, error) {
	var rec routeRecord
	stable := ""
	if cur != nil {
		rec = decodeRecord(aws.ToString(cur.Description))
		stable = aws.ToString(cur.FunctionVersion)
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
	if u.Traffic != nil {
		stable = u.Traffic.Stable
	}
	rec.key = f.keyFor(stable, rec.key)
	return encodeRecord(rec)
}

// keyFor is the record key for an alias on version v: the one this
// handle knows for v, else old when it is about v, else none.
func (f *function) keyFor(v, old string) string {
	if v == "" {
		return ""
	}
	if h := f.cache.key(v); h != "" {
		return v + ":" + h
	}
	if strings.HasPrefix(old, v+":") {
		return old
	}
	return ""
}

func (f *function) updateAlias(ctx context.Context, route string, in *lambda.UpdateAliasInput) (*driver.Route, error) {
	var out *lambda.UpdateAliasOutput
	err := f.retry(ctx, "UpdateAlias", nil, func(ctx context.Context) error {
		var err error
		out, err = f.client.UpdateAlias(ctx, in)
		return err
	})
	if err != nil {
		return nil, err
	}
	a := aliasOfUpdate(out)
	f.cache.setAlias(route, a)
	return routeOf(a), nil
}

// setTraffic is UpdateRoute for traffic alone. The description is left
// as it is unless the cached alias shows its record key needs updating.
func (f *function) setTraffic(ctx context.Context, route string, t driver.Traffic, opts *driver.ConditionOptions) (*driver.Route, error) {
	in := &lambda.UpdateAliasInput{FunctionName: aws.String(f.name), Name: aws.String(route),
		FunctionVersion: aws.String(t.Stable), RoutingConfig: routing(t), RevisionId: str(opts.IfMatch)}
	if cur := f.cachedAlias(route, opts); cur != nil {
		rec := decodeRecord(aws.ToString(cur.Description))
		if k := f.keyFor(t.Stable, rec.key); k != rec.key && (rec.key != "" || k != "") {
			rec.key = k
			if desc, err := encodeRecord(rec); err == nil {
				in.Description = aws.String(desc)
			}
		}
	}
	r, err := f.updateAlias(ctx, route, in)
	if err == nil {
		return r, nil
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

func (f *function) routeGone(route string, opts *driver.ConditionOptions) error {
	if opts.IfMatch != "" {
		return driver.NewError(driver.FailedPrecondition, fmt.Sprintf("route %s of %s does not exist, so etag %s cannot match", route, f.name, opts.IfMatch))
	}
	return driver.NewError(driver.NotFound, fmt.Sprintf("route %s of %s does not exist: set Traffic to create it", route, f.name))
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
	desc, err := encodeRecord(routeRecord{marker: u.Marker, verdicts: u.Verdicts, key: f.keyFor(t.Stable, "")})
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
	a := &types.AliasConfiguration{Name: out.Name, FunctionVersion: out.FunctionVersion, RoutingConfig: out.RoutingConfig,
		Description: out.Description, RevisionId: out.RevisionId, AliasArn: out.AliasArn}
	f.cache.setAlias(route, a)
	return routeOf(a), nil
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
		if out.Tags == nil {
			out.Tags = map[string]string{}
		}
		if _, err := f.reconcileTriggers(ctx, fnArn, aws.ToString(a.Name), []trigger.Trigger{}, out.Tags, nil); err != nil {
			return err
		}
	}
	defer f.cache.clear()
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
