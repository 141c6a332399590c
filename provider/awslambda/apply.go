package awslambda

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider/driver"
)

// applyRun carries one Apply's progress.
type applyRun struct {
	f    *function
	s    *driver.Spec
	opts *driver.ApplyOptions
	res  *driver.ApplyResult
	// live is the latest GetFunction reading; rev the RevisionId the next
	// mutation must carry ("" = unconditional).
	live *lambda.GetFunctionOutput
	rev  string
}

// Apply implements driver.Function. The steps, each preceded and followed
// by a wait on LastUpdateStatus: create (or update configuration, tags,
// code), reserved concurrency, publish, create the route, triggers,
// provisioned concurrency.
func (f *function) Apply(ctx context.Context, s *driver.Spec, opts *driver.ApplyOptions) (*driver.ApplyResult, error) {
	if err := checkSecrets(s.Secrets); err != nil {
		return nil, err
	}
	a := &applyRun{f: f, s: s, opts: opts, res: &driver.ApplyResult{}, rev: opts.IfMatch}
	out, err := do(ctx, f, "GetFunction", func(ctx context.Context) (*lambda.GetFunctionOutput, error) {
		return f.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(f.name)})
	})
	switch {
	case apiCode(err) == "ResourceNotFoundException":
		err = a.create(ctx)
	case err != nil:
		return nil, err
	default:
		if opts.IfMatch != "" && opts.IfMatch != aws.ToString(out.Configuration.RevisionId) {
			return nil, driver.NewError(driver.FailedPrecondition, fmt.Sprintf("lambda function %s changed since it was read (RevisionId %s, now %s)", f.name, opts.IfMatch, aws.ToString(out.Configuration.RevisionId)))
		}
		a.live = out
		err = a.update(ctx)
	}
	if err != nil {
		return nil, err
	}
	if err := a.reserved(ctx); err != nil {
		return nil, err
	}
	if opts.Publish {
		if err := a.publish(ctx); err != nil {
			return nil, err
		}
	}
	if err := a.route(ctx); err != nil {
		return nil, err
	}
	return a.res, nil
}

// role is the execution role for s, "" to keep the live one.
func (a *applyRun) role() string {
	if a.s.Identity != "" {
		return a.s.Identity
	}
	return a.f.opts.DefaultRole
}

func (a *applyRun) code(ctx context.Context) (*types.FunctionCode, error) {
	b := a.s.Bundle
	if b.Size > a.f.opts.MaxDirectUpload {
		return a.uploadS3(ctx, b)
	}
	zipb, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	return &types.FunctionCode{ZipFile: zipb}, nil
}

// uploadS3 puts code above the inline limit in the code bucket.
func (a *applyRun) uploadS3(ctx context.Context, b *bundle.Bundle) (*types.FunctionCode, error) {
	o := a.f.opts
	if o.S3Client == nil || o.CodeBucket == "" {
		return nil, driver.NewError(driver.InvalidArgument, fmt.Sprintf("code of %s is %.1f MB, over Lambda's %d MB inline upload: set Options.CodeBucket (and S3Client) or the URL's code_bucket parameter", a.f.name, float64(b.Size)/(1<<20), o.MaxDirectUpload>>20))
	}
	zipb, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	key := o.CodeKeyPrefix + a.f.name + "/" + codeHex(b.Digest) + ".zip"
	err = a.f.retry(ctx, "PutObject", nil, func(ctx context.Context) error {
		_, err := o.S3Client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(o.CodeBucket), Key: aws.String(key),
			Body: bytes.NewReader(zipb), ContentLength: aws.Int64(int64(len(zipb)))})
		return err
	})
	if err != nil {
		return nil, err
	}
	a.f.log.Debug("uploaded code to S3", "bucket", o.CodeBucket, "key", key, "bytes", len(zipb))
	return &types.FunctionCode{S3Bucket: aws.String(o.CodeBucket), S3Key: aws.String(key)}, nil
}

func codeHex(digest string) string {
	if len(digest) > 7 && digest[:7] == "sha256:" {
		return digest[7:]
	}
	return digest
}

func (a *applyRun) create(ctx context.Context) error {
	f, s := a.f, a.s
	if s.Bundle == nil {
		return driver.NewError(driver.InvalidArgument, fmt.Sprintf("lambda function %s does not exist and the spec has no code: set Spec.Code to create it", f.name))
	}
	role := a.role()
	if role == "" {
		return driver.NewError(driver.InvalidArgument, fmt.Sprintf("lambda function %s does not exist and creating it needs an execution role: set Spec.Identity to the role ARN (or Options.DefaultRole)", f.name))
	}
	handler := handlerFor(s)
	if handler == "" {
		return driver.NewError(driver.InvalidArgument, fmt.Sprintf("lambda function %s: runtime %s needs an Entrypoint (the handler, such as index.handler)", f.name, s.Runtime))
	}
	code, err := a.code(ctx)
	if err != nil {
		return err
	}
	env, _ := desiredEnv(nil, s)
	in := &lambda.CreateFunctionInput{
		FunctionName:  aws.String(f.name),
		Role:          aws.String(role),
		PackageType:   types.PackageTypeZip,
		Runtime:       runtimes[s.Runtime],
		Handler:       aws.String(handler),
		Architectures: []types.Architecture{lambdaArch(s.Architecture)},
		Code:          code,
		MemorySize:    aws.Int32(int32(s.MemoryMB)),
		Timeout:       aws.Int32(int32(s.Timeout / time.Second)),
		TracingConfig: &types.TracingConfig{Mode: tracingMode(s.Tracing)},
		LoggingConfig: &types.LoggingConfig{LogFormat: logFormat(s.LogFormat)},
	}
	if len(env) > 0 {
		in.Environment = &types.Environment{Variables: env}
	}
	if len(s.Labels) > 0 {
		in.Tags = maps.Clone(s.Labels)
	}
	if err := a.beforeApply(in, nil); err != nil {
		return err
	}
	// Retry the role's eventual consistency: a just-created role cannot be
	// assumed for a few seconds ("The role defined for the function cannot be assumed by Lambda").
	err = f.retry(ctx, "CreateFunction", nil, func(ctx context.Context) error {
		_, err := f.client.CreateFunction(ctx, in)
		if err != nil && apiCode(err) == "InvalidParameterValueException" && bytes.Contains([]byte(err.Error()), []byte("cannot be assumed")) {
			return &transientRole{err}
		}
		return err
	})
	var tr *transientRole
	if errors.As(err, &tr) {
		err = tr.err
	}
	if err != nil {
		return err
	}
	f.log.Debug("created function")
	a.res.Created, a.res.Changed, a.res.UploadedBytes = true, true, s.Bundle.Size
	out, err := f.waitUpdated(ctx, "creation")
	if err != nil {
		return err
	}
	a.live = out
	return nil
}

// transientRole marks the IAM eventual-consistency error as retryable.
type transientRole struct{ err error }

func (e *transientRole) Error() string { return e.err.Error() }
func (e *transientRole) Unwrap() error { return e.err }
func (e *transientRole) Timeout() bool { return true }
func (e *transientRole) Temporary() bool {
	return true
}

func tracingMode(on bool) types.TracingMode {
	if on {
		return types.TracingModeActive
	}
	return types.TracingModePassThrough
}

func logFormat(f string) types.LogFormat {
	if f == "json" {
		return types.LogFormatJson
	}
	return types.LogFormatText
}

// beforeApply calls the caller's hook with the native requests.
func (a *applyRun) beforeApply(create *lambda.CreateFunctionInput, update *lambda.UpdateFunctionConfigurationInput) error {
	if a.opts.BeforeApply == nil {
		return nil
	}
	return a.opts.BeforeApply(func(i any) bool {
		switch p := i.(type) {
		case **lambda.CreateFunctionInput:
			*p = create
			return create != nil
		case **lambda.UpdateFunctionConfigurationInput:
			*p = update
			return update != nil
		}
		return false
	})
}

// configUpdate builds the UpdateFunctionConfiguration request for s over
// live and reports whether anything differs.
func (a *applyRun) configUpdate(c *types.FunctionConfiguration) (*lambda.UpdateFunctionConfigurationInput, bool) {
	s := a.s
	in := &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(a.f.name)}
	changed := false
	if rt := runtimes[s.Runtime]; rt != c.Runtime {
		in.Runtime, changed = rt, true
	}
	if h := handlerFor(s); h != "" && h != aws.ToString(c.Handler) {
		in.Handler, changed = aws.String(h), true
	}
	if m := int32(s.MemoryMB); m != aws.ToInt32(c.MemorySize) {
		in.MemorySize, changed = aws.Int32(m), true
	}
	if t := int32(s.Timeout / time.Second); t != aws.ToInt32(c.Timeout) {
		in.Timeout, changed = aws.Int32(t), true
	}
	if r := a.role(); r != "" && r != aws.ToString(c.Role) {
		in.Role, changed = aws.String(r), true
	}
	if env, managed := desiredEnv(envOf(c), s); managed && !maps.Equal(env, envOf(c)) && !(len(env) == 0 && len(envOf(c)) == 0) {
		in.Environment, changed = &types.Environment{Variables: env}, true
	}
	liveTracing := c.TracingConfig != nil && c.TracingConfig.Mode == types.TracingModeActive
	if s.Tracing != liveTracing {
		in.TracingConfig, changed = &types.TracingConfig{Mode: tracingMode(s.Tracing)}, true
	}
	liveLog := types.LogFormatText
	if c.LoggingConfig != nil && c.LoggingConfig.LogFormat != "" {
		liveLog = c.LoggingConfig.LogFormat
	}
	if lf := logFormat(s.LogFormat); lf != liveLog {
		in.LoggingConfig, changed = &types.LoggingConfig{LogFormat: lf}, true
	}
	return in, changed
}

func (a *applyRun) update(ctx context.Context) error {
	f, s := a.f, a.s
	c := a.live.Configuration
	in, changed := a.configUpdate(c)
	if a.opts.BeforeApply != nil {
		before, _ := json.Marshal(in)
		if err := a.beforeApply(nil, in); err != nil {
			return err
		}
		after, _ := json.Marshal(in)
		changed = changed || !bytes.Equal(before, after)
	}
	wantSha := ""
	if s.Bundle != nil {
		wantSha = codeSha(s.Bundle.Digest)
	}
	codeChanged := s.Bundle != nil && (wantSha != aws.ToString(c.CodeSha256) || portableArch(c.Architectures) != s.Architecture)
	if !changed && !codeChanged && !a.tagsDiffer() {
		return nil
	}
	// Wait for anything in flight (another deployer, a previous apply).
	if err := a.waitBefore(ctx); err != nil {
		return err
	}
	if changed {
		err := f.retry(ctx, "UpdateFunctionConfiguration", a.onConflict, func(ctx context.Context) error {
			in.RevisionId = str(a.rev)
			_, err := f.client.UpdateFunctionConfiguration(ctx, in)
			return err
		})
		if err != nil {
			return err
		}
		f.log.Debug("updated configuration")
		a.res.Changed = true
		if err := a.waitAfter(ctx, "update of configuration"); err != nil {
			return err
		}
	}
	if err := a.tags(ctx); err != nil {
		return err
	}
	if codeChanged {
		code, err := a.code(ctx)
		if err != nil {
			return err
		}
		cin := &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(f.name), ZipFile: code.ZipFile, S3Bucket: code.S3Bucket, S3Key: code.S3Key,
			Architectures: []types.Architecture{lambdaArch(s.Architecture)}}
		err = f.retry(ctx, "UpdateFunctionCode", a.onConflict, func(ctx context.Context) error {
			cin.RevisionId = str(a.rev)
			_, err := f.client.UpdateFunctionCode(ctx, cin)
			return err
		})
		if err != nil {
			return err
		}
		f.log.Debug("updated code", "bytes", s.Bundle.Size)
		a.res.Changed, a.res.UploadedBytes = true, s.Bundle.Size
		if err := a.waitAfter(ctx, "update of code"); err != nil {
			return err
		}
	}
	return nil
}

// waitBefore waits for an in-flight update before the first mutation.
func (a *applyRun) waitBefore(ctx context.Context) error {
	c := a.live.Configuration
	if c.State != types.StatePending && c.LastUpdateStatus != types.LastUpdateStatusInProgress {
		return nil
	}
	out, err := a.f.waitIdle(ctx)
	if err != nil {
		return err
	}
	if a.rev != "" && a.rev != aws.ToString(out.Configuration.RevisionId) {
		// The in-flight update was not ours: the caller's precondition no longer holds.
		return driver.NewError(driver.FailedPrecondition, fmt.Sprintf("lambda function %s changed since it was read (an update by someone else was in progress)", a.f.name))
	}
	a.live = out
	return nil
}

// onConflict waits for the function when a mutation met "update in progress".
func (a *applyRun) onConflict(ctx context.Context) error {
	_, err := a.f.waitIdle(ctx)
	return err
}

// waitAfter waits for our mutation to finish and chains the RevisionId.
func (a *applyRun) waitAfter(ctx context.Context, what string) error {
	out, err := a.f.waitUpdated(ctx, what)
	if err != nil {
		return err
	}
	a.live = out
	if a.rev != "" {
		a.rev = aws.ToString(out.Configuration.RevisionId)
	}
	return nil
}

func (a *applyRun) tagsDiffer() bool {
	add, remove := a.tagDiff()
	return len(add) > 0 || len(remove) > 0
}

// tagDiff compares Labels with the function's tags, leaving updraft's and AWS's own.
func (a *applyRun) tagDiff() (add map[string]string, remove []string) {
	if a.s.Labels == nil {
		return nil, nil
	}
	live := a.live.Tags
	for k, v := range a.s.Labels {
		if live[k] != v {
			if add == nil {
				add = map[string]string{}
			}
			add[k] = v
		}
	}
	for _, k := range slices.Sorted(maps.Keys(live)) {
		if _, ok := a.s.Labels[k]; !ok && !reservedTag(k) {
			remove = append(remove, k)
		}
	}
	return add, remove
}

func (a *applyRun) tags(ctx context.Context) error {
	add, remove := a.tagDiff()
	if len(add) == 0 && len(remove) == 0 {
		return nil
	}
	f := a.f
	arn := aws.ToString(a.live.Configuration.FunctionArn)
	if len(remove) > 0 {
		err := f.retry(ctx, "UntagResource", nil, func(ctx context.Context) error {
			_, err := f.client.UntagResource(ctx, &lambda.UntagResourceInput{Resource: aws.String(arn), TagKeys: remove})
			return err
		})
		if err != nil {
			return err
		}
	}
	if len(add) > 0 {
		err := f.retry(ctx, "TagResource", nil, func(ctx context.Context) error {
			_, err := f.client.TagResource(ctx, &lambda.TagResourceInput{Resource: aws.String(arn), Tags: add})
			return err
		})
		if err != nil {
			return err
		}
	}
	tags := map[string]string{}
	for k, v := range a.live.Tags {
		if !slices.Contains(remove, k) {
			tags[k] = v
		}
	}
	maps.Copy(tags, add)
	a.live.Tags = tags
	a.res.Changed = true
	return nil
}

// reserved reconciles reserved concurrency (Spec.Concurrency.Max).
func (a *applyRun) reserved(ctx context.Context) error {
	want := a.s.Concurrency.Max
	if want == nil {
		return nil
	}
	f := a.f
	var cur *int32
	if a.live.Concurrency != nil {
		cur = a.live.Concurrency.ReservedConcurrentExecutions
	}
	if cur != nil && int(*cur) == *want {
		return nil
	}
	err := f.retry(ctx, "PutFunctionConcurrency", nil, func(ctx context.Context) error {
		_, err := f.client.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(f.name), ReservedConcurrentExecutions: aws.Int32(int32(*want))})
		return err
	})
	if err != nil {
		return err
	}
	a.live.Concurrency = &types.Concurrency{ReservedConcurrentExecutions: aws.Int32(int32(*want))}
	a.res.Changed = true
	return nil
}

// publish returns the newest version matching $LATEST, publishing one
// when none does. An unchanged function costs one ListVersionsByFunction.
func (a *applyRun) publish(ctx context.Context) error {
	f := a.f
	c := a.live.Configuration
	var newest *types.FunctionConfiguration
	if !a.res.Created {
		versions, err := f.listVersions(ctx)
		if err != nil {
			return err
		}
		if n := len(versions); n > 0 {
			newest = &versions[n-1]
		}
		if newest != nil && versionKey(newest) == versionKey(c) {
			a.res.Revision = f.revisionOf(newest, a.live.Tags, reservedOf(a.live))
			return nil
		}
	}
	if c.State == types.StatePending || c.LastUpdateStatus == types.LastUpdateStatusInProgress {
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
	if newest == nil || aws.ToString(newest.Version) != v {
		a.res.Published = true
		f.log.Debug("published version", "version", v)
	}
	if out.State == types.StatePending {
		if err := f.waitVersion(ctx, v); err != nil {
			return err
		}
	}
	cfg := types.FunctionConfiguration(*publishedConfig(out))
	a.res.Revision = f.revisionOf(&cfg, a.live.Tags, reservedOf(a.live))
	return nil
}

// publishedConfig copies PublishVersion's output into a FunctionConfiguration.
func publishedConfig(o *lambda.PublishVersionOutput) *types.FunctionConfiguration {
	return &types.FunctionConfiguration{Version: o.Version, CodeSha256: o.CodeSha256, CodeSize: o.CodeSize, Runtime: o.Runtime,
		Handler: o.Handler, Role: o.Role, MemorySize: o.MemorySize, Timeout: o.Timeout, Environment: o.Environment,
		TracingConfig: o.TracingConfig, LoggingConfig: o.LoggingConfig, Architectures: o.Architectures, LastModified: o.LastModified,
		FunctionArn: o.FunctionArn, State: o.State}
}

// listVersions lists published versions, oldest first.
func (f *function) listVersions(ctx context.Context) ([]types.FunctionConfiguration, error) {
	var out []types.FunctionConfiguration
	p := lambda.NewListVersionsByFunctionPaginator(f.client, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String(f.name)})
	for p.HasMorePages() {
		var page *lambda.ListVersionsByFunctionOutput
		err := f.retry(ctx, "ListVersionsByFunction", nil, func(ctx context.Context) error {
			var err error
			page, err = p.NextPage(ctx)
			return err
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
	alias, err := do(ctx, f, "GetAlias", func(ctx context.Context) (*lambda.GetAliasOutput, error) {
		return f.client.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(f.name), Name: aws.String(s.Route)})
	})
	if apiCode(err) == "ResourceNotFoundException" {
		alias, err = nil, nil
	}
	if err != nil {
		return err
	}
	needsRoute := len(s.Triggers) > 0 || (s.Concurrency.Provisioned != nil && *s.Concurrency.Provisioned > 0)
	if alias == nil {
		switch {
		case a.res.Revision != nil:
			err := f.retry(ctx, "CreateAlias", nil, func(ctx context.Context) error {
				_, err := f.client.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(f.name), Name: aws.String(s.Route),
					FunctionVersion: aws.String(a.res.Revision.ID)})
				return err
			})
			if err != nil {
				return err
			}
			f.log.Debug("created route", "route", s.Route, "version", a.res.Revision.ID)
		case needsRoute:
			return driver.NewError(driver.FailedPrecondition, fmt.Sprintf("route %s of %s does not exist, so triggers and provisioned concurrency have nothing to attach to: apply with Publish", s.Route, f.name))
		default:
			return nil
		}
	}
	fnArn := aws.ToString(a.live.Configuration.FunctionArn)
	if s.Triggers != nil {
		changed, err := f.reconcileTriggers(ctx, fnArn, s.Route, s.Triggers, a.live.Tags)
		if err != nil {
			return err
		}
		a.res.Changed = a.res.Changed || changed
	}
	if s.Concurrency.Provisioned != nil {
		changed, err := f.reconcileProvisioned(ctx, s.Route, *s.Concurrency.Provisioned)
		if err != nil {
			return err
		}
		a.res.Changed = a.res.Changed || changed
	}
	return nil
}

// reconcileProvisioned sets provisioned concurrency on route to want (0
// removes it) and waits for READY, failing with Lambda's reason on FAILED.
func (f *function) reconcileProvisioned(ctx context.Context, route string, want int) (bool, error) {
	cur, err := do(ctx, f, "GetProvisionedConcurrencyConfig", func(ctx context.Context) (*lambda.GetProvisionedConcurrencyConfigOutput, error) {
		return f.client.GetProvisionedConcurrencyConfig(ctx, &lambda.GetProvisionedConcurrencyConfigInput{FunctionName: aws.String(f.name), Qualifier: aws.String(route)})
	})
	if apiCode(err) == "ProvisionedConcurrencyConfigNotFoundException" || apiCode(err) == "ResourceNotFoundException" {
		cur, err = nil, nil
	}
	if err != nil {
		return false, err
	}
	have := 0
	if cur != nil {
		have = int(aws.ToInt32(cur.RequestedProvisionedConcurrentExecutions))
	}
	switch {
	case want == 0 && cur == nil:
		return false, nil
	case want == 0:
		err := f.retry(ctx, "DeleteProvisionedConcurrencyConfig", nil, func(ctx context.Context) error {
			_, err := f.client.DeleteProvisionedConcurrencyConfig(ctx, &lambda.DeleteProvisionedConcurrencyConfigInput{FunctionName: aws.String(f.name), Qualifier: aws.String(route)})
			return err
		})
		return err == nil, err
	case have == want && cur.Status == types.ProvisionedConcurrencyStatusEnumReady:
		return false, nil
	case have == want && cur.Status == types.ProvisionedConcurrencyStatusEnumInProgress:
		return false, f.waitProvisioned(ctx, route, want)
	}
	err = f.retry(ctx, "PutProvisionedConcurrencyConfig", nil, func(ctx context.Context) error {
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
		p, err := do(ctx, f, "GetProvisionedConcurrencyConfig", func(ctx context.Context) (*lambda.GetProvisionedConcurrencyConfigOutput, error) {
			return f.client.GetProvisionedConcurrencyConfig(ctx, &lambda.GetProvisionedConcurrencyConfigInput{FunctionName: aws.String(f.name), Qualifier: aws.String(route)})
		})
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
