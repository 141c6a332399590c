package awslambda

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/updraft-dev/updraft/provider/driver"
)

// readAlias reads the spec's route unless this Apply already knows it.
func (a *applyRun) readAlias(ctx context.Context) error {
	if a.aliasKnown {
		return nil
	}
	al, err := a.f.getAlias(ctx, a.s.Route)
	if err != nil {
		return err
	}
	a.alias, a.aliasKnown = al, true
	return nil
}

// published records c (a version's configuration) as the result.
func (a *applyRun) published(c *types.FunctionConfiguration, isNew bool) {
	a.res.Revision = a.f.revisionOf(c, a.live.Tags, reservedOf(a.live))
	a.res.Published = a.res.Published || isNew
	a.f.cache.setKey(aws.ToString(c.Version), keyHash(c))
}

// servingMatch returns the version the route serves when it is $LATEST
// as published (by the route record's key or a version this handle
// published), else "".
func (a *applyRun) servingMatch() string {
	if a.alias == nil {
		return ""
	}
	v := aws.ToString(a.alias.FunctionVersion)
	want := keyHash(a.live.Configuration)
	rec := decodeRecord(aws.ToString(a.alias.Description))
	if rec.key == v+":"+want || a.f.cache.key(v) == want {
		return v
	}
	return ""
}

// publish returns the newest version matching $LATEST, publishing one
// when none does. A change made by this Apply publishes at once; an
// unchanged function whose route serves $LATEST costs nothing; otherwise
// one ListVersionsByFunction decides.
func (a *applyRun) publish(ctx context.Context) error {
	f := a.f
	c := a.live.Configuration
	if !a.versioned {
		if v := a.servingMatch(); v != "" {
			cfg := *c
			cfg.Version = aws.String(v)
			a.published(&cfg, false)
			return nil
		}
		versions, err := f.listVersions(ctx)
		if err != nil {
			return err
		}
		for i := len(versions) - 1; i >= 0; i-- {
			if versionKey(&versions[i]) == versionKey(c) {
				a.published(&versions[i], false)
				return nil
			}
		}
	}
	if !idle(c) {
		if err := a.waitAfter(ctx, "update"); err != nil {
			return err
		}
		c = a.live.Configuration
	}
	var out *lambda.PublishVersionOutput
	err := f.retry(ctx, "PublishVersion", a.onConflict, func(ctx context.Context) error {
		var err error
		// The preconditions make Lambda refuse to snapshot a change made by
		// someone else since our last reading.
		out, err = f.client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(f.name),
			CodeSha256: c.CodeSha256, RevisionId: c.RevisionId})
		return err
	})
	if err != nil {
		return err
	}
	v := aws.ToString(out.Version)
	f.log.Debug("published version", "version", v)
	if out.State == types.StatePending {
		if err := f.waitVersion(ctx, v); err != nil {
			return err
		}
	}
	a.published(publishedConfig(out), true)
	return nil
}

// publishedConfig copies PublishVersion's output into a FunctionConfiguration.
func publishedConfig(o *lambda.PublishVersionOutput) *types.FunctionConfiguration {
	return &types.FunctionConfiguration{Version: o.Version, CodeSha256: o.CodeSha256, CodeSize: o.CodeSize, Runtime: o.Runtime,
		Handler: o.Handler, Role: o.Role, MemorySize: o.MemorySize, Timeout: o.Timeout, Environment: o.Environment,
		TracingConfig: o.TracingConfig, LoggingConfig: o.LoggingConfig, Architectures: o.Architectures, LastModified: o.LastModified,
		FunctionArn: o.FunctionArn, State: o.State, EphemeralStorage: o.EphemeralStorage, VpcConfig: o.VpcConfig, Layers: o.Layers,
		DeadLetterConfig: o.DeadLetterConfig, KMSKeyArn: o.KMSKeyArn, FileSystemConfigs: o.FileSystemConfigs}
}

// listVersions lists published versions, oldest first.
func (f *function) listVersions(ctx context.Context) ([]types.FunctionConfiguration, error) {
	var out []types.FunctionConfiguration
	p := lambda.NewListVersionsByFunctionPaginator(f.client, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String(f.name)})
	for p.HasMorePages() {
		page, err := do(ctx, f, "ListVersionsByFunction", func(ctx context.Context) (*lambda.ListVersionsByFunctionOutput, error) {
			return p.NextPage(ctx)
		})
		if err != nil {
			return nil, err
		}
		for _, v := range page.Versions {
			if aws.ToString(v.Version) != "$LATEST" {
				out = append(out, v)
			}
		}
	}
	slices.SortFunc(out, func(a, b types.FunctionConfiguration) int {
		x, _ := strconv.Atoi(aws.ToString(a.Version))
		y, _ := strconv.Atoi(aws.ToString(b.Version))
		return x - y
	})
	return out, nil
}

// route creates the route on the published revision if needed, then
// reconciles triggers and provisioned concurrency on it.
func (a *applyRun) route(ctx context.Context) error {
	f, s := a.f, a.s
	if a.alias == nil {
		needsRoute := len(s.Triggers) > 0 || (s.Concurrency.Provisioned != nil && *s.Concurrency.Provisioned > 0)
		switch {
		case a.res.Revision != nil:
			rev := a.res.Revision.ID
			if _, err := f.createAlias(ctx, s.Route, driver.Traffic{Stable: rev}, &driver.RouteUpdate{}); err != nil {
				return err
			}
			f.log.Debug("created route", "route", s.Route, "version", rev)
		case needsRoute:
			return driver.NewError(driver.FailedPrecondition, fmt.Sprintf("route %s of %s does not exist, so triggers and provisioned concurrency have nothing to attach to: apply with Publish", s.Route, f.name))
		default:
			return nil
		}
	}
	if s.Triggers != nil {
		var rt *routeTriggers
		fnArn := aws.ToString(a.live.Configuration.FunctionArn)
		switch {
		case a.res.Created:
			// A function this Apply created has no triggers yet.
			rt = &routeTriggers{route: s.Route, fnArn: fnArn, aliasArn: fnArn + ":" + s.Route, owned: map[string]*owned{},
				policy: map[string]statement{}, tags: a.live.Tags}
		case a.snap.covers(s.Route, "triggers"):
			rt = a.snap.triggers[s.Route]
		}
		changed, err := f.reconcileTriggers(ctx, fnArn, s.Route, s.Triggers, a.live.Tags, rt)
		if err != nil {
			return err
		}
		a.res.Changed = a.res.Changed || changed
	}
	if s.Concurrency.Provisioned != nil {
		changed, err := a.provisioned(ctx, *s.Concurrency.Provisioned)
		if err != nil {
			return err
		}
		a.res.Changed = a.res.Changed || changed
	}
	return nil
}

// provisioned sets provisioned concurrency on the route to want (0
// removes it) and waits for READY, failing with Lambda's reason on
// FAILED. A route this Apply created has none, and a Get it works from
// may have read it; otherwise it is read first.
func (a *applyRun) provisioned(ctx context.Context, want int) (bool, error) {
	f, route := a.f, a.s.Route
	var cur *driver.Provisioned
	switch {
	case a.alias == nil:
	case a.snap.covers(route, "provisioned"):
		cur = a.snap.provisioned[route]
	default:
		p, err := f.getProvisioned(ctx, route)
		if err != nil {
			return false, err
		}
		cur = provisionedOf(p)
	}
	switch {
	case want == 0 && cur == nil:
		return false, nil
	case want == 0:
		err := f.retry(ctx, "DeleteProvisionedConcurrencyConfig", nil, func(ctx context.Context) error {
			_, err := f.client.DeleteProvisionedConcurrencyConfig(ctx, &lambda.DeleteProvisionedConcurrencyConfigInput{FunctionName: aws.String(f.name), Qualifier: aws.String(route)})
			return err
		})
		if apiCode(err) == "ProvisionedConcurrencyConfigNotFoundException" {
			return false, nil
		}
		return err == nil, err
	case cur != nil && cur.Requested == want && cur.Status == string(types.ProvisionedConcurrencyStatusEnumReady):
		return false, nil
	case cur != nil && cur.Requested == want && cur.Status == string(types.ProvisionedConcurrencyStatusEnumInProgress):
		return false, f.waitProvisioned(ctx, route, want)
	}
	err := f.retry(ctx, "PutProvisionedConcurrencyConfig", nil, func(ctx context.Context) error {
		_, err := f.client.PutProvisionedConcurrencyConfig(ctx, &lambda.PutProvisionedConcurrencyConfigInput{FunctionName: aws.String(f.name),
			Qualifier: aws.String(route), ProvisionedConcurrentExecutions: aws.Int32(int32(want))})
		return err
	})
	if err != nil {
		return false, err
	}
	f.log.Debug("provisioned concurrency requested", "route", route, "count", want)
	return true, f.waitProvisioned(ctx, route, want)
}

func (f *function) waitProvisioned(ctx context.Context, route string, want int) error {
	return f.poll(ctx, "provisioned concurrency on "+route, f.opts.ProvisionedTimeout, func(ctx context.Context) (bool, error) {
		p, err := f.client.GetProvisionedConcurrencyConfig(ctx, &lambda.GetProvisionedConcurrencyConfigInput{FunctionName: aws.String(f.name), Qualifier: aws.String(route)})
		if err != nil {
			return false, err
		}
		switch p.Status {
		case types.ProvisionedConcurrencyStatusEnumReady:
			return true, nil
		case types.ProvisionedConcurrencyStatusEnumFailed:
			return false, &FailedError{Function: f.name, What: fmt.Sprintf("provisioned concurrency %d on route %s", want, route), Status: "FAILED", Reason: aws.ToString(p.StatusReason)}
		}
		return false, nil
	})
}
