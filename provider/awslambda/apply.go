package awslambda

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// applyRun carries one Apply's progress.
type applyRun struct {
	f    *function
	s    *driver.Spec
	opts *driver.ApplyOptions
	res  *driver.ApplyResult
	// live is the latest reading of the function; rev the RevisionId the
	// next mutation must carry ("" = unconditional).
	live *lambda.GetFunctionOutput
	rev  string
	// snap is the Get this Apply works from (nil: Apply read for itself).
	snap *snapshot
	// versioned is true when code or versioned configuration changed.
	versioned bool
	// alias is the route as known (nil: absent); aliasKnown says whether
	// it was read.
	alias      *types.AliasConfiguration
	aliasKnown bool
}

// Apply implements driver.Function. It checks the spec before any call
// (CheckSpec), then works from the Get whose ETag is opts.IfMatch when
// this handle made it (no read at all), else from one GetFunction; with
// IfNotExist it creates without reading. The steps, each mutation
// followed by a wait on LastUpdateStatus when Lambda reports it in
// progress: create (publishing with it) or update configuration, tags
// and code; reserved concurrency; publish (skipped when the route's
// record shows $LATEST already published); create the route; triggers;
// provisioned concurrency.
func (f *function) Apply(ctx context.Context, s *driver.Spec, opts *driver.ApplyOptions) (*driver.ApplyResult, error) {
	if err := f.preflight(s, opts.IfNotExist); err != nil {
		return nil, err
	}
	a := &applyRun{f: f, s: s, opts: opts, res: &driver.ApplyResult{}, rev: opts.IfMatch}
	if err := a.start(ctx); err != nil {
		return nil, err
	}
	if err := a.reserved(ctx); err != nil {
		return nil, err
	}
	if err := a.readAlias(ctx); err != nil {
		return nil, err
	}
	if opts.Publish && a.res.Revision == nil {
		if err := a.publish(ctx); err != nil {
			return nil, err
		}
	}
	if err := a.route(ctx); err != nil {
		return nil, err
	}
	return a.res, nil
}

// start creates the function or brings it to the spec's code and
// configuration.
func (a *applyRun) start(ctx context.Context) error {
	f := a.f
	snap := f.cache.take(a.opts.IfMatch)
	if a.opts.IfNotExist {
		return a.create(ctx)
	}
	if snap != nil {
		a.snap, a.live = snap, snap.fn
		if al, ok := snap.aliases[a.s.Route]; ok || snap.scope == nil {
			a.alias, a.aliasKnown = al, true
		}
		return a.update(ctx)
	}
	out, err := f.getFunction(ctx)
	switch {
	case apiCode(err) == "ResourceNotFoundException":
		if err := f.checkCreate(a.s); err != nil {
			return err
		}
		return a.create(ctx)
	case err != nil:
		return err
	case a.opts.IfMatch != "" && a.opts.IfMatch != aws.ToString(out.Configuration.RevisionId):
		return driver.NewError(driver.FailedPrecondition, fmt.Sprintf("lambda function %s changed since it was read (RevisionId %s, now %s): read it again", f.name, a.opts.IfMatch, aws.ToString(out.Configuration.RevisionId)))
	}
	if out.Tags == nil {
		out.Tags = map[string]string{}
	}
	a.live = out
	return a.update(ctx)
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
	if b.Size > a.f.opts.maxDirectUpload {
		return a.uploadS3(ctx, b)
	}
	zipb, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	return &types.FunctionCode{ZipFile: zipb}, nil
}

// uploadS3 puts code above the inline limit in the code bucket (the
// pre-flight made sure there is one).
func (a *applyRun) uploadS3(ctx context.Context, b *bundle.Bundle) (*types.FunctionCode, error) {
	o := a.f.opts
	zipb, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	key := o.CodeKeyPrefix + a.f.name + "/" + strings.TrimPrefix(b.Digest, "sha256:") + ".zip"
	_, err = a.f.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(o.CodeBucket), Key: aws.String(key),
		Body: bytes.NewReader(zipb), ContentLength: aws.Int64(int64(len(zipb)))})
	if err != nil {
		return nil, err
	}
	a.f.log.Debug("uploaded code to S3", "bucket", o.CodeBucket, "key", key, "bytes", len(zipb))
	return &types.FunctionCode{S3Bucket: aws.String(o.CodeBucket), S3Key: aws.String(key)}, nil
}

// createTags are the tags a new function starts with: the Labels, the
// secret names, and the trigger bookkeeping of the route.
func (a *applyRun) createTags(secrets map[string]string) map[string]string {
	s := a.s
	tags := maps.Clone(s.Labels)
	if tags == nil {
		tags = map[string]string{}
	}
	if len(secrets) > 0 {
		tags[secretsTag] = secretsValue(secrets)
	}
	var kinds []trigger.Kind
	for _, t := range s.Triggers {
		kinds = append(kinds, t.Kind())
	}
	tags[kindsTag(s.Route)] = kindsValue(kinds)
	if h, ok := httpOf(s.Triggers); ok {
		tags[urlTag(s.Route)] = h.Key
	}
	return tags
}

func (a *applyRun) create(ctx context.Context) error {
	f, s := a.f, a.s
	code, err := a.code(ctx)
	if err != nil {
		return err
	}
	env, secrets, _ := desiredEnv(nil, nil, s)
	in := &lambda.CreateFunctionInput{
		FunctionName:  aws.String(f.name),
		Role:          aws.String(a.role()),
		PackageType:   types.PackageTypeZip,
		Runtime:       runtimes[s.Runtime],
		Handler:       aws.String(handlerFor(s)),
		Architectures: []types.Architecture{lambdaArch(s.Architecture)},
		Code:          code,
		MemorySize:    aws.Int32(int32(s.MemoryMB)),
		Timeout:       aws.Int32(int32(s.Timeout / time.Second)),
		TracingConfig: &types.TracingConfig{Mode: tracingMode(s.Tracing)},
		LoggingConfig: &types.LoggingConfig{LogFormat: logFormat(s.LogFormat)},
		Tags:          a.createTags(secrets),
		Publish:       a.opts.Publish,
	}
	if len(env) > 0 {
		in.Environment = &types.Environment{Variables: env}
	}
	if err := a.beforeApply(in, nil); err != nil {
		return err
	}
	out, err := f.createFunction(ctx, in)
	if err != nil {
		if a.opts.IfNotExist && errorCode(err) == driver.AlreadyExists {
			return driver.NewError(driver.AlreadyExists, fmt.Sprintf("lambda function %s already exists (created by someone else since it was read): plan again", f.name))
		}
		return err
	}
	f.log.Debug("created function")
	a.res.Created, a.res.Changed, a.res.UploadedBytes = true, true, s.Bundle.Size
	a.aliasKnown = true // a new function has no aliases
	live, err := f.waitUpdated(ctx, "creation")
	if err != nil {
		return err
	}
	if live.Tags == nil {
		live.Tags = map[string]string{}
	}
	a.live = live
	if v := aws.ToString(out.Version); v != "" && v != "$LATEST" {
		// CreateFunction published version 1 with the function.
		cfg := *live.Configuration
		cfg.Version = out.Version
		a.published(&cfg, true)
	}
	return nil
}

// createFunction calls CreateFunction, retrying while IAM has not yet
// propagated a just-created role ("cannot be assumed by Lambda").
func (f *function) createFunction(ctx context.Context, in *lambda.CreateFunctionInput) (*lambda.CreateFunctionOutput, error) {
	backoff := f.opts.RetryBackoff
	for attempt := 0; ; attempt++ {
		out, err := f.client.CreateFunction(ctx, in)
		roleLag := apiCode(err) == "InvalidParameterValueException" && strings.Contains(errMessage(err), "cannot be assumed")
		if !roleLag || attempt >= f.opts.MaxRetries {
			return out, err
		}
		if err := sleep(ctx, backoff); err != nil {
			return nil, err
		}
		backoff = min(2*backoff, f.opts.MaxRetryBackoff)
	}
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
	set := func(differs bool, apply func()) {
		if differs {
			apply()
			changed = true
		}
	}
	rt, h, m, t, r := runtimes[s.Runtime], handlerFor(s), int32(s.MemoryMB), int32(s.Timeout/time.Second), a.role()
	set(rt != c.Runtime, func() { in.Runtime = rt })
	set(h != "" && h != aws.ToString(c.Handler), func() { in.Handler = aws.String(h) })
	set(m != aws.ToInt32(c.MemorySize), func() { in.MemorySize = aws.Int32(m) })
	set(t != aws.ToInt32(c.Timeout), func() { in.Timeout = aws.Int32(t) })
	set(r != "" && r != aws.ToString(c.Role), func() { in.Role = aws.String(r) })
	env, _, managed := desiredEnv(envOf(c), a.live.Tags, s)
	set(managed && !maps.Equal(env, envOf(c)) && (len(env) > 0 || len(envOf(c)) > 0), func() { in.Environment = &types.Environment{Variables: env} })
	liveTracing := c.TracingConfig != nil && c.TracingConfig.Mode == types.TracingModeActive
	set(s.Tracing != liveTracing, func() { in.TracingConfig = &types.TracingConfig{Mode: tracingMode(s.Tracing)} })
	liveLog := types.LogFormatText
	if c.LoggingConfig != nil && c.LoggingConfig.LogFormat != "" {
		liveLog = c.LoggingConfig.LogFormat
	}
	lf := logFormat(s.LogFormat)
	set(lf != liveLog, func() { in.LoggingConfig = &types.LoggingConfig{LogFormat: lf} })
	return in, changed
}

func (a *applyRun) update(ctx context.Context) error {
	s := a.s
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
	codeChanged := s.Bundle != nil && (codeSha(s.Bundle.Digest) != aws.ToString(c.CodeSha256) || portableArch(c.Architectures) != s.Architecture)
	add, remove := a.tagDiff()
	if !changed && !codeChanged && len(add) == 0 && len(remove) == 0 {
		return nil
	}
	// Wait for anything in flight (another deployer, a previous apply).
	if err := a.waitBefore(ctx); err != nil {
		return err
	}
	if changed {
		if err := a.updateConfiguration(ctx, in); err != nil {
			return err
		}
	}
	if err := a.tags(ctx, add, remove); err != nil {
		return err
	}
	if codeChanged {
		return a.updateCode(ctx)
	}
	return nil
}

func (a *applyRun) updateConfiguration(ctx context.Context, in *lambda.UpdateFunctionConfigurationInput) error {
	f := a.f
	var out *lambda.UpdateFunctionConfigurationOutput
	err := f.retry(ctx, "UpdateFunctionConfiguration", a.onConflict, func(ctx context.Context) error {
		in.RevisionId = str(a.rev)
		var err error
		out, err = f.client.UpdateFunctionConfiguration(ctx, in)
		return err
	})
	if err != nil {
		return err
	}
	f.log.Debug("updated configuration")
	a.res.Changed, a.versioned = true, true
	return a.settled(ctx, "update of configuration", configOfUpdate(out))
}

func (a *applyRun) updateCode(ctx context.Context) error {
	f, s := a.f, a.s
	code, err := a.code(ctx)
	if err != nil {
		return err
	}
	cin := &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(f.name), ZipFile: code.ZipFile, S3Bucket: code.S3Bucket, S3Key: code.S3Key,
		Architectures: []types.Architecture{lambdaArch(s.Architecture)}}
	var out *lambda.UpdateFunctionCodeOutput
	err = f.retry(ctx, "UpdateFunctionCode", a.onConflict, func(ctx context.Context) error {
		cin.RevisionId = str(a.rev)
		var err error
		out, err = f.client.UpdateFunctionCode(ctx, cin)
		return err
	})
	if err != nil {
		return err
	}
	f.log.Debug("updated code", "bytes", s.Bundle.Size)
	a.res.Changed, a.versioned, a.res.UploadedBytes = true, true, s.Bundle.Size
	return a.settled(ctx, "update of code", configOfCode(out))
}

// settled makes c (a mutation's response) the live configuration when
// Lambda already reports it finished, else waits for it.
func (a *applyRun) settled(ctx context.Context, what string, c *types.FunctionConfiguration) error {
	if !idle(c) {
		return a.waitAfter(ctx, what)
	}
	if err := a.f.failure(c, what); err != nil {
		return err
	}
	a.live = &lambda.GetFunctionOutput{Configuration: c, Tags: a.live.Tags, Concurrency: a.live.Concurrency}
	if a.rev != "" {
		a.rev = aws.ToString(c.RevisionId)
	}
	return nil
}

// waitBefore waits for an in-flight update before the first mutation.
func (a *applyRun) waitBefore(ctx context.Context) error {
	if idle(a.live.Configuration) {
		return nil
	}
	out, err := a.f.waitIdle(ctx)
	if err != nil {
		return err
	}
	if a.rev != "" && a.rev != aws.ToString(out.Configuration.RevisionId) {
		// The in-flight update was not ours: the caller's precondition no longer holds.
		return driver.NewError(driver.FailedPrecondition, fmt.Sprintf("lambda function %s changed since it was read (an update by someone else was in progress): read it again", a.f.name))
	}
	a.keepTags(out)
	return nil
}

// keepTags makes out the live reading, keeping the tags this run wrote.
func (a *applyRun) keepTags(out *lambda.GetFunctionOutput) {
	if out.Tags == nil {
		out.Tags = map[string]string{}
	}
	if a.live != nil {
		out.Tags = a.live.Tags
	}
	a.live = out
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
	a.keepTags(out)
	if a.rev != "" {
		a.rev = aws.ToString(out.Configuration.RevisionId)
	}
	return nil
}

// wantTags are the tags the spec manages: Labels (when non-nil) and the
// secret names (when Env or Secrets are).
func (a *applyRun) wantTags() (want map[string]string, managed func(string) bool) {
	s := a.s
	want = map[string]string{}
	maps.Copy(want, s.Labels)
	_, secrets, envManaged := desiredEnv(envOf(a.live.Configuration), a.live.Tags, s)
	if envManaged && len(secrets) > 0 {
		want[secretsTag] = secretsValue(secrets)
	}
	return want, func(k string) bool {
		if k == secretsTag {
			return envManaged
		}
		return s.Labels != nil && !reservedTag(k)
	}
}

// tagDiff compares the managed tags with the function's, leaving the
// other bookkeeping tags and AWS's own.
func (a *applyRun) tagDiff() (add map[string]string, remove []string) {
	want, managed := a.wantTags()
	live := a.live.Tags
	for k, v := range want {
		if cur, ok := live[k]; managed(k) && (!ok || cur != v) {
			if add == nil {
				add = map[string]string{}
			}
			add[k] = v
		}
	}
	for _, k := range slices.Sorted(maps.Keys(live)) {
		if _, ok := want[k]; !ok && managed(k) {
			remove = append(remove, k)
		}
	}
	return add, remove
}

// tags writes a tag diff: one UntagResource, one TagResource at most.
func (a *applyRun) tags(ctx context.Context, add map[string]string, remove []string) error {
	f := a.f
	arn := aws.String(aws.ToString(a.live.Configuration.FunctionArn))
	if len(remove) > 0 {
		err := f.retry(ctx, "UntagResource", nil, func(ctx context.Context) error {
			_, err := f.client.UntagResource(ctx, &lambda.UntagResourceInput{Resource: arn, TagKeys: remove})
			return err
		})
		if err != nil {
			return err
		}
		a.res.Changed = true
	}
	if len(add) > 0 {
		err := f.retry(ctx, "TagResource", nil, func(ctx context.Context) error {
			_, err := f.client.TagResource(ctx, &lambda.TagResourceInput{Resource: arn, Tags: add})
			return err
		})
		if err != nil {
			return err
		}
		a.res.Changed = true
	}
	for _, k := range remove {
		delete(a.live.Tags, k)
	}
	maps.Copy(a.live.Tags, add)
	return nil
}

// reserved reconciles reserved concurrency (Spec.Concurrency.Max).
func (a *applyRun) reserved(ctx context.Context) error {
	want := a.s.Concurrency.Max
	if want == nil {
		return nil
	}
	f := a.f
	if cur := reservedOf(a.live); cur != nil && int(*cur) == *want {
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

// configOfUpdate and configOfCode copy a mutation's response.
func configOfUpdate(o *lambda.UpdateFunctionConfigurationOutput) *types.FunctionConfiguration {
	return &types.FunctionConfiguration{FunctionName: o.FunctionName, FunctionArn: o.FunctionArn, Version: o.Version, CodeSha256: o.CodeSha256,
		CodeSize: o.CodeSize, Runtime: o.Runtime, Handler: o.Handler, Role: o.Role, MemorySize: o.MemorySize, Timeout: o.Timeout,
		Environment: o.Environment, TracingConfig: o.TracingConfig, LoggingConfig: o.LoggingConfig, Architectures: o.Architectures,
		LastModified: o.LastModified, State: o.State, StateReason: o.StateReason, StateReasonCode: o.StateReasonCode,
		LastUpdateStatus: o.LastUpdateStatus, LastUpdateStatusReason: o.LastUpdateStatusReason, LastUpdateStatusReasonCode: o.LastUpdateStatusReasonCode,
		RevisionId: o.RevisionId, EphemeralStorage: o.EphemeralStorage, VpcConfig: o.VpcConfig, Layers: o.Layers, DeadLetterConfig: o.DeadLetterConfig,
		KMSKeyArn: o.KMSKeyArn, FileSystemConfigs: o.FileSystemConfigs, PackageType: o.PackageType}
}

func configOfCode(o *lambda.UpdateFunctionCodeOutput) *types.FunctionConfiguration {
	return &types.FunctionConfiguration{FunctionName: o.FunctionName, FunctionArn: o.FunctionArn, Version: o.Version, CodeSha256: o.CodeSha256,
		CodeSize: o.CodeSize, Runtime: o.Runtime, Handler: o.Handler, Role: o.Role, MemorySize: o.MemorySize, Timeout: o.Timeout,
		Environment: o.Environment, TracingConfig: o.TracingConfig, LoggingConfig: o.LoggingConfig, Architectures: o.Architectures,
		LastModified: o.LastModified, State: o.State, StateReason: o.StateReason, StateReasonCode: o.StateReasonCode,
		LastUpdateStatus: o.LastUpdateStatus, LastUpdateStatusReason: o.LastUpdateStatusReason, LastUpdateStatusReasonCode: o.LastUpdateStatusReasonCode,
		RevisionId: o.RevisionId, EphemeralStorage: o.EphemeralStorage, VpcConfig: o.VpcConfig, Layers: o.Layers, DeadLetterConfig: o.DeadLetterConfig,
		KMSKeyArn: o.KMSKeyArn, FileSystemConfigs: o.FileSystemConfigs, PackageType: o.PackageType}
}
