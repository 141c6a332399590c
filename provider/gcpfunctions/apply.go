package gcpfunctions

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	functions "cloud.google.com/go/functions/apiv2"
	"cloud.google.com/go/functions/apiv2/functionspb"
	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

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
	live *functionspb.Function // nil when the function does not exist
	tr   *triggerPlan
	// serviceChecked is set when the service was read before a deploy;
	// serviceNeeds then says whether it needs a write after it.
	serviceChecked, serviceNeeds bool
}

// Apply implements driver.Function. Steps: GetFunction; for a change,
// GenerateUploadUrl and the PUT (only when the bundle digest differs
// from the updraft-digest label), then CreateFunction or UpdateFunction
// (a long-running operation); then one read-modify-write of the Cloud
// Run service when the route, its pinned traffic, provisioned instances
// or the HTTP trigger's auth need it; then the schedule jobs.
// CheckSpec implements driver.SpecChecker: secrets are Secret Manager
// versions, no env name takes updraft's prefix, the runtime is in the
// table, and the triggers map to one EventTrigger (a stream's retry
// policy included), so Plan reports what Apply would refuse.
func (f *function) CheckSpec(s *driver.Spec) error {
	if err := checkSecrets(s.Secrets); err != nil {
		return err
	}
	for k := range s.Env {
		if strings.HasPrefix(k, envPrefix) {
			return driver.NewError(driver.InvalidArgument, fmt.Sprintf("environment variable %s: names starting with %s are updraft's own", k, envPrefix))
		}
	}
	if _, ok := f.opts.Runtimes[s.Runtime]; !ok {
		return driver.NewError(driver.InvalidArgument, fmt.Sprintf("runtime %q has no Cloud Functions runtime in the table (Options.Runtimes)", s.Runtime))
	}
	_, err := f.planTriggers(s.Triggers)
	return err
}

func (f *function) Apply(ctx context.Context, s *driver.Spec, opts *driver.ApplyOptions) (*driver.ApplyResult, error) {
	if err := f.CheckSpec(s); err != nil {
		return nil, err
	}
	tp, err := f.planTriggers(s.Triggers)
	if err != nil {
		return nil, err
	}
	a := &applyRun{f: f, s: s, opts: opts, res: &driver.ApplyResult{}, tr: tp}
	live, err := do(ctx, f, "GetFunction", func(ctx context.Context) (*functionspb.Function, error) {
		return f.fc.GetFunction(ctx, &functionspb.GetFunctionRequest{Name: f.name})
	})
	switch {
	case isCode(err, codes.NotFound):
		if opts.IfMatch != "" {
			return nil, driver.NewError(driver.FailedPrecondition, fmt.Sprintf("%s does not exist, so etag %s cannot match", f.name, opts.IfMatch))
		}
		err = a.create(ctx)
	case err != nil:
		return nil, err
	case opts.IfNotExist:
		return nil, driver.NewError(driver.AlreadyExists, fmt.Sprintf("%s already exists (another deployer created it first)", f.name))
	default:
		if opts.IfMatch != "" && opts.IfMatch != etagOf(live) {
			return nil, driver.NewError(driver.FailedPrecondition, fmt.Sprintf("%s changed since it was read (etag %s, now %s)", f.name, opts.IfMatch, etagOf(live)))
		}
		a.live = live
		err = a.update(ctx)
	}
	if err != nil {
		return nil, err
	}
	if err := a.service(ctx); err != nil {
		return nil, err
	}
	if tp.managed && f.opts.SchedulerClient != nil {
		changed, err := f.reconcileSchedules(ctx, a.live.GetUrl(), tp.schedules)
		if err != nil {
			return nil, err
		}
		a.res.Changed = a.res.Changed || changed
	}
	if opts.Publish {
		a.res.Revision = &driver.Revision{ID: a.live.GetServiceConfig().GetRevision(), CodeDigest: f.configOf(a.live).CodeDigest,
			Created: a.live.GetUpdateTime().AsTime(), Config: f.configOf(a.live)}
	}
	return a.res, nil
}

// etagOf is the function's ETag: Cloud Functions has none, so its
// update time stands in (compared before each update, not by the server).
func etagOf(fn *functionspb.Function) string {
	return fn.GetUpdateTime().AsTime().UTC().Format(time.RFC3339Nano)
}

func (a *applyRun) entryPoint() (string, error) {
	if a.s.Entrypoint != "" {
		return a.s.Entrypoint, nil
	}
	if a.s.Runtime == "go" {
		return goEntryPoint, nil
	}
	if a.live != nil && a.live.GetBuildConfig().GetEntryPoint() != "" {
		return a.live.GetBuildConfig().GetEntryPoint(), nil
	}
	return "", driver.NewError(driver.InvalidArgument, fmt.Sprintf("%s: runtime %s needs an Entrypoint: the function name the code registers with the Functions Framework", a.f.name, a.s.Runtime))
}

// upload sends the bundle to a signed URL and returns its StorageSource.
func (a *applyRun) upload(ctx context.Context, b *bundle.Bundle) (*functionspb.StorageSource, error) {
	f := a.f
	up, err := do(ctx, f, "GenerateUploadUrl", func(ctx context.Context) (*functionspb.GenerateUploadUrlResponse, error) {
		return f.fc.GenerateUploadUrl(ctx, &functionspb.GenerateUploadUrlRequest{Parent: f.parent, Environment: functionspb.Environment_GEN_2})
	})
	if err != nil {
		return nil, err
	}
	backoff := f.opts.RetryBackoff
	for attempt := 0; ; attempt++ {
		err := a.put(ctx, up.GetUploadUrl(), b)
		if err == nil {
			break
		}
		if _, perm := err.(*uploadError); perm || ctx.Err() != nil || attempt >= f.opts.MaxRetries {
			return nil, err
		}
		if err := sleep(ctx, backoff); err != nil {
			return nil, err
		}
		backoff = min(2*backoff, f.opts.MaxRetryBackoff)
	}
	f.log.Debug("uploaded source", "bytes", b.Size)
	a.res.UploadedBytes = b.Size
	return up.GetStorageSource(), nil
}

// uploadError is a refused upload (4xx): not retried.
type uploadError struct{ msg string }

func (e *uploadError) Error() string { return e.msg }

// put uploads the zip with a plain client: a signed URL carries its own
// authorization, and an Authorization header would make GCS refuse it.
func (a *applyRun) put(ctx context.Context, url string, b *bundle.Bundle) error {
	rc, err := b.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, rc)
	if err != nil {
		return err
	}
	req.ContentLength = b.Size
	req.Header.Set("Content-Type", "application/zip")
	resp, err := a.f.opts.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("uploading the source of %s: %w", a.f.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	msg := fmt.Sprintf("uploading the source of %s: the signed URL answered %s: %s", a.f.name, resp.Status, strings.TrimSpace(string(body)))
	if resp.StatusCode/100 == 4 {
		return &uploadError{msg}
	}
	return fmt.Errorf("%s", msg)
}

// labels is the desired label set over live ones.
func (a *applyRun) labels(live map[string]string) map[string]string {
	out := map[string]string{}
	if a.s.Labels != nil {
		maps.Copy(out, a.s.Labels)
	} else {
		maps.Copy(out, userLabels(live))
	}
	for k, v := range live {
		if strings.HasPrefix(k, "goog-") || k == "deployment-tool" {
			out[k] = v
		}
	}
	digest := live[labelDigest]
	if a.s.Bundle != nil {
		digest = digestLabel(a.s.Bundle.Digest)
	}
	if digest != "" {
		out[labelDigest] = digest
	}
	if a.tr.managed {
		if a.tr.http != nil {
			out[labelHTTP] = a.tr.http.Key
		}
		if a.tr.event != nil {
			out[labelEvent] = a.tr.eventKey
		}
	} else {
		for _, k := range []string{labelHTTP, labelEvent} {
			if v, ok := live[k]; ok {
				out[k] = v
			}
		}
	}
	return out
}

// serviceConfig is the desired ServiceConfig over live (nil on create):
// the whole message, since updates name service_config in the mask.
func (a *applyRun) serviceConfig(live *functionspb.ServiceConfig, liveLabels map[string]string) *functionspb.ServiceConfig {
	f, s := a.f, a.s
	sc := &functionspb.ServiceConfig{}
	if live != nil {
		sc = proto.Clone(live).(*functionspb.ServiceConfig)
	}
	sc.Service, sc.Uri, sc.Revision = "", "", ""
	sc.AvailableMemory = memoryQuantity(s.MemoryMB)
	if f.opts.RequestConcurrency > 0 {
		sc.MaxInstanceRequestConcurrency = int32(f.opts.RequestConcurrency)
	}
	sc.AvailableCpu = cpuFor(s.MemoryMB, int(max(sc.MaxInstanceRequestConcurrency, 1)))
	sc.TimeoutSeconds = int32(s.Timeout / time.Second)
	if s.Concurrency.Max != nil {
		sc.MaxInstanceCount = int32(*s.Concurrency.Max)
	}
	env := map[string]string{}
	if s.Env != nil {
		maps.Copy(env, s.Env)
	} else {
		maps.Copy(env, userEnv(sc.GetEnvironmentVariables()))
	}
	m := decodeMeta(sc.GetEnvironmentVariables()[envMeta])
	m.Runtime, m.Tracing, m.Log = s.Runtime, s.Tracing, s.LogFormat
	if e, err := a.entryPoint(); err == nil {
		m.Entry = e
	}
	if s.Bundle != nil {
		m.Digest = s.Bundle.Digest
	}
	env[envMeta] = m.encode()
	env[envFunction] = f.id
	switch {
	case a.tr.managed && a.tr.event != nil:
		env[envEventKey] = a.tr.eventKey
	case !a.tr.managed && sc.GetEnvironmentVariables()[envEventKey] != "":
		env[envEventKey] = sc.GetEnvironmentVariables()[envEventKey]
	}
	sc.EnvironmentVariables = env
	if s.Secrets != nil {
		sc.SecretEnvironmentVariables = secretEnv(s.Secrets)
	}
	switch f.opts.Ingress { // "" keeps the live setting (ALLOW_ALL on create)
	case "internal":
		sc.IngressSettings = functionspb.ServiceConfig_ALLOW_INTERNAL_ONLY
	case "internal-and-gclb":
		sc.IngressSettings = functionspb.ServiceConfig_ALLOW_INTERNAL_AND_GCLB
	case "all":
		sc.IngressSettings = functionspb.ServiceConfig_ALLOW_ALL
	}
	switch {
	case s.Identity != "":
		sc.ServiceAccountEmail = s.Identity
	case live == nil && f.opts.ServiceAccount != "":
		sc.ServiceAccountEmail = f.opts.ServiceAccount
	}
	// Updates keep traffic where it is (the service is pinned first); a
	// proto3 false is sent only because the mask names service_config.
	sc.AllTrafficOnLatestRevision = live == nil
	return sc
}

func (a *applyRun) buildConfig(live *functionspb.BuildConfig, src *functionspb.StorageSource) (*functionspb.BuildConfig, error) {
	f := a.f
	bc := &functionspb.BuildConfig{}
	if live != nil {
		bc = proto.Clone(live).(*functionspb.BuildConfig)
	}
	bc.Build, bc.SourceProvenance = "", nil
	bc.Runtime = f.opts.Runtimes[a.s.Runtime]
	e, err := a.entryPoint()
	if err != nil {
		return nil, err
	}
	bc.EntryPoint = e
	if f.opts.BuildEnv != nil {
		bc.EnvironmentVariables = maps.Clone(f.opts.BuildEnv)
	}
	if f.opts.BuildServiceAccount != "" {
		bc.ServiceAccount = f.opts.BuildServiceAccount
	}
	if f.opts.WorkerPool != "" {
		bc.WorkerPool = f.opts.WorkerPool
	}
	if f.opts.DockerRepository != "" {
		bc.DockerRepository = f.opts.DockerRepository
	}
	if src != nil {
		bc.Source = &functionspb.Source{Source: &functionspb.Source_StorageSource{StorageSource: src}}
	}
	return bc, nil
}

func (a *applyRun) create(ctx context.Context) error {
	f, s := a.f, a.s
	if s.Bundle == nil {
		return driver.NewError(driver.InvalidArgument, fmt.Sprintf("%s does not exist and the spec has no code: set Spec.Code to create it", f.name))
	}
	if _, err := a.entryPoint(); err != nil {
		return err
	}
	src, err := a.upload(ctx, s.Bundle)
	if err != nil {
		return err
	}
	bc, err := a.buildConfig(nil, src)
	if err != nil {
		return err
	}
	fn := &functionspb.Function{Environment: functionspb.Environment_GEN_2, Labels: a.labels(nil), BuildConfig: bc,
		ServiceConfig: a.serviceConfig(nil, nil), EventTrigger: a.tr.event}
	req := &functionspb.CreateFunctionRequest{Parent: f.parent, FunctionId: f.id, Function: fn}
	if err := a.beforeApply(req, nil); err != nil {
		return err
	}
	var op *functions.CreateFunctionOperation
	attempts := 0
	err = f.retry(ctx, "CreateFunction", true, func(ctx context.Context) error {
		attempts++
		var err error
		op, err = f.fc.CreateFunction(ctx, req)
		return err
	})
	switch {
	case isCode(err, codes.AlreadyExists) && attempts > 1:
		// An earlier attempt reached Cloud Functions before its answer was lost.
		live, err := f.waitIdle(ctx)
		if err != nil {
			return err
		}
		a.live = live
	case err != nil:
		return err
	default:
		live, err := wait(ctx, f, "creation", op)
		if err != nil {
			return f.buildError(op, err)
		}
		a.live = live
	}
	f.log.Debug("created function", "revision", a.live.GetServiceConfig().GetRevision())
	a.res.Created, a.res.Changed, a.res.Published = true, true, true
	return nil
}

// buildError turns a failed deploy into a *BuildError when the
// operation's metadata shows the build stage failed.
func (f *function) buildError(op interface {
	Metadata() (*functionspb.OperationMetadata, error)
}, err error) error {
	md, merr := op.Metadata()
	if merr != nil || md == nil {
		return err
	}
	for _, st := range md.GetStages() {
		if st.GetName() == functionspb.Stage_BUILD && (st.GetMessage() != "" || len(st.GetStateMessages()) > 0) && st.GetState() == functionspb.Stage_COMPLETE {
			msg := st.GetMessage()
			for _, sm := range st.GetStateMessages() {
				if sm.GetSeverity() == functionspb.StateMessage_ERROR && sm.GetMessage() != "" {
					msg = sm.GetMessage()
				}
			}
			return &BuildError{Function: f.name, Message: msg, LogURL: st.GetResourceUri(), Err: err}
		}
	}
	return err
}

// waitIdle polls GetFunction until no deploy is in progress.
func (f *function) waitIdle(ctx context.Context) (*functionspb.Function, error) {
	deadline := time.Now().Add(f.opts.OperationTimeout)
	interval := f.opts.PollInterval
	for {
		fn, err := do(ctx, f, "GetFunction", func(ctx context.Context) (*functionspb.Function, error) {
			return f.fc.GetFunction(ctx, &functionspb.GetFunctionRequest{Name: f.name})
		})
		if err != nil {
			return nil, err
		}
		if fn.GetState() != functionspb.Function_DEPLOYING && fn.GetState() != functionspb.Function_DELETING {
			return fn, nil
		}
		if time.Now().After(deadline) {
			return nil, driver.NewError(driver.DeadlineExceeded, fmt.Sprintf("%s stayed %s for %s", f.name, fn.GetState(), f.opts.OperationTimeout))
		}
		if err := sleep(ctx, interval); err != nil {
			return nil, err
		}
		interval = min(interval+interval/2, f.opts.MaxPollInterval)
	}
}

func normSC(sc *functionspb.ServiceConfig) *functionspb.ServiceConfig {
	c := proto.Clone(sc).(*functionspb.ServiceConfig)
	if c == nil {
		c = &functionspb.ServiceConfig{}
	}
	c.Service, c.Uri, c.Revision, c.AllTrafficOnLatestRevision = "", "", "", false
	if len(c.EnvironmentVariables) == 0 {
		c.EnvironmentVariables = nil
	}
	return c
}

func normBC(bc *functionspb.BuildConfig) *functionspb.BuildConfig {
	c := proto.Clone(bc).(*functionspb.BuildConfig)
	if c == nil {
		c = &functionspb.BuildConfig{}
	}
	c.Build, c.SourceProvenance = "", nil
	if len(c.EnvironmentVariables) == 0 {
		c.EnvironmentVariables = nil
	}
	return c
}

// updateRequest builds the UpdateFunctionRequest for the spec over the
// live function and reports whether the code and anything changed.
func (a *applyRun) updateRequest() (req *functionspb.UpdateFunctionRequest, codeChanged, changed bool, err error) {
	f, s, live := a.f, a.s, a.live
	// A function whose last deploy failed (its first build, say) has no
	// revision of what its labels say: deploy it again, code included.
	failed := live.GetState() == functionspb.Function_FAILED || live.GetServiceConfig().GetRevision() == ""
	codeChanged = s.Bundle != nil && (failed || digestFromLabel(live.GetLabels()[labelDigest]) != s.Bundle.Digest)
	bc, err := a.buildConfig(live.GetBuildConfig(), nil)
	if err != nil {
		return nil, false, false, err
	}
	sc := a.serviceConfig(live.GetServiceConfig(), live.GetLabels())
	labels := a.labels(live.GetLabels())
	et := live.GetEventTrigger()
	eventChanged := false
	if a.tr.managed && a.tr.event != nil && f.eventSigOf(live.GetEventTrigger()) != f.eventSigOf(a.tr.event) {
		et, eventChanged = a.tr.event, true
	}
	buildChanged := codeChanged || !proto.Equal(normBC(live.GetBuildConfig()), normBC(bc))
	mask := []string{"service_config"}
	if buildChanged {
		mask = append(mask, "build_config")
	}
	labelsChanged := !maps.Equal(labels, live.GetLabels())
	if labelsChanged {
		mask = append(mask, "labels")
	}
	if eventChanged {
		mask = append(mask, "event_trigger")
	}
	changed = failed || buildChanged || labelsChanged || eventChanged || !proto.Equal(normSC(live.GetServiceConfig()), normSC(sc))
	req = &functionspb.UpdateFunctionRequest{
		Function:   &functionspb.Function{Name: f.name, Labels: labels, BuildConfig: bc, ServiceConfig: sc, EventTrigger: et},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: mask},
	}
	return req, codeChanged, changed, nil
}

// hookUpdate runs BeforeApply on req, adds the fields it edited to the
// mask, and reports whether it edited anything.
func (a *applyRun) hookUpdate(req *functionspb.UpdateFunctionRequest) (bool, error) {
	if a.opts.BeforeApply == nil {
		return false, nil
	}
	before := proto.Clone(req).(*functionspb.UpdateFunctionRequest)
	if err := a.beforeApply(nil, req); err != nil {
		return false, err
	}
	for _, p := range []struct {
		path string
		a, b proto.Message
	}{{"build_config", before.Function.BuildConfig, req.Function.BuildConfig}, {"event_trigger", before.Function.EventTrigger, req.Function.EventTrigger},
		{"labels", &functionspb.Function{Labels: before.Function.Labels}, &functionspb.Function{Labels: req.Function.Labels}},
		{"description", &functionspb.Function{Description: before.Function.Description}, &functionspb.Function{Description: req.Function.Description}}} {
		if !proto.Equal(p.a, p.b) && !slices.Contains(req.UpdateMask.Paths, p.path) {
			req.UpdateMask.Paths = append(req.UpdateMask.Paths, p.path)
		}
	}
	return !proto.Equal(before, req), nil
}

func (a *applyRun) update(ctx context.Context) error {
	f, s, live := a.f, a.s, a.live
	if a.tr.managed && (live.GetEventTrigger() == nil) != (a.tr.event == nil) {
		what := "add an event trigger to the HTTP function"
		if a.tr.event == nil {
			what = "remove the event trigger of"
		}
		return driver.NewError(driver.FailedPrecondition, fmt.Sprintf("Cloud Functions cannot %s %s in place: delete the function (deploy.Destroy) and apply again, or give the event trigger its own function", what, f.name))
	}
	req, codeChanged, changed, err := a.updateRequest()
	if err != nil {
		return err
	}
	edited, err := a.hookUpdate(req)
	if err != nil {
		return err
	}
	changed = changed || edited
	if !changed {
		return nil
	}
	// Traffic must name a revision before the deploy, or the new
	// revision becomes LATEST and takes it whatever the flag says.
	if err := a.pin(ctx); err != nil {
		return err
	}
	if codeChanged {
		src, err := a.upload(ctx, s.Bundle)
		if err != nil {
			return err
		}
		if req.Function.BuildConfig == nil {
			req.Function.BuildConfig = &functionspb.BuildConfig{}
		}
		req.Function.BuildConfig.Source = &functionspb.Source{Source: &functionspb.Source_StorageSource{StorageSource: src}}
		if !slices.Contains(req.UpdateMask.Paths, "build_config") {
			req.UpdateMask.Paths = append(req.UpdateMask.Paths, "build_config")
		}
	}
	before := live.GetServiceConfig().GetRevision()
	var op *functions.UpdateFunctionOperation
	err = f.retry(ctx, "UpdateFunction", true, func(ctx context.Context) error {
		var err error
		op, err = f.fc.UpdateFunction(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	fn, err := wait(ctx, f, "update", op)
	if err != nil {
		return f.buildError(op, err)
	}
	f.log.Debug("updated function", "mask", req.UpdateMask.Paths, "revision", fn.GetServiceConfig().GetRevision())
	a.live = fn
	a.res.Changed = true
	a.res.Published = fn.GetServiceConfig().GetRevision() != before
	return nil
}

// pinLatest points service traffic that follows LATEST at the revision
// it serves now, so a deploy does not move it.
func pinLatest(svc *runpb.Service) bool {
	changed := false
	for _, t := range svc.Traffic {
		if t.Type == runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST {
			t.Type, t.Revision = runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION, lastSegment(svc.LatestReadyRevision)
			changed = true
		}
	}
	return changed
}

// pin pins the service's traffic before a deploy, and notes whether the
// service needs the after-deploy write (so the read can be skipped).
func (a *applyRun) pin(ctx context.Context) error {
	_, err := a.f.updateService(ctx, "", func(svc *runpb.Service) (bool, error) {
		changed := pinLatest(svc)
		probe := proto.Clone(svc).(*runpb.Service)
		needs, err := a.editService(probe)
		if err != nil {
			return false, err
		}
		a.serviceChecked, a.serviceNeeds = true, needs
		return changed, nil
	}, true)
	if isCode(err, codes.NotFound) {
		return nil // no service yet: the first deploy's build failed
	}
	return err
}

// service reconciles what lives on the Cloud Run service: the route
// annotation, pinned traffic, service-level minimum instances
// (provisioned) and the HTTP trigger's auth. A deploy changes none of
// them, so when the read before the deploy found nothing to do, it
// reads nothing.
func (a *applyRun) service(ctx context.Context) error {
	if a.serviceChecked && !a.serviceNeeds {
		return nil
	}
	changed := false
	_, err := a.f.updateService(ctx, "", func(svc *runpb.Service) (bool, error) {
		var err error
		changed, err = a.editService(svc)
		return changed, err
	}, true)
	if changed {
		a.res.Changed = true
	}
	return err
}

// editService applies the spec to svc and reports whether it changed.
func (a *applyRun) editService(svc *runpb.Service) (bool, error) {
	s := a.s
	changed := false
	route := svc.Annotations[annRoute]
	switch {
	case route != "" && route != s.Route:
		return false, driver.NewError(driver.InvalidArgument, fmt.Sprintf("%s has route %s (its Cloud Run service traffic) and Cloud Functions has one route per function: use Route %q", a.f.name, route, route))
	case route == "" && a.opts.Publish:
		// A new route starts at 100% on the published revision.
		if svc.Annotations == nil {
			svc.Annotations = map[string]string{}
		}
		svc.Annotations[annRoute] = s.Route
		if rev := a.live.GetServiceConfig().GetRevision(); rev != "" {
			svc.Traffic = []*runpb.TrafficTarget{{Type: runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION, Revision: rev, Percent: 100}}
		}
		changed = true
	}
	if pinLatest(svc) {
		changed = true
	}
	if p := s.Concurrency.Provisioned; p != nil && int(svc.GetScaling().GetMinInstanceCount()) != *p {
		if svc.Scaling == nil {
			svc.Scaling = &runpb.ServiceScaling{}
		}
		svc.Scaling.MinInstanceCount = int32(*p)
		changed = true
	}
	if a.tr.managed {
		public := a.tr.http != nil && a.tr.http.Auth == trigger.AuthNone
		if svc.InvokerIamDisabled != public {
			svc.InvokerIamDisabled = public
			changed = true
		}
	}
	return changed, nil
}

// updateService reads the service, lets edit change it and, when edit
// reports a change, writes it back conditioned on the etag it read (or on
// ifMatch), waits for the operation and returns the service as written
// (as read when edit changed nothing). Without ifMatch a concurrent
// change (ABORTED) makes it read and edit again; with ifMatch it is
// FailedPrecondition. waitDone false returns once the update is accepted.
func (f *function) updateService(ctx context.Context, ifMatch string, edit func(*runpb.Service) (bool, error), waitDone bool) (*runpb.Service, error) {
	for attempt := 0; ; attempt++ {
		svc, err := do(ctx, f, "GetService", func(ctx context.Context) (*runpb.Service, error) {
			return f.sc.GetService(ctx, &runpb.GetServiceRequest{Name: f.svcName})
		})
		if err != nil {
			return nil, err
		}
		if ifMatch != "" && ifMatch != svc.Etag {
			return nil, driver.NewError(driver.FailedPrecondition, fmt.Sprintf("the Cloud Run service of %s changed since it was read (etag %s, now %s)", f.name, ifMatch, svc.Etag))
		}
		if svc.Annotations == nil {
			svc.Annotations = map[string]string{}
		}
		changed, err := edit(svc)
		if err != nil {
			return nil, err
		}
		if !changed {
			return svc, nil
		}
		var op *run.UpdateServiceOperation
		err = f.retry(ctx, "UpdateService", false, func(ctx context.Context) error {
			var err error
			op, err = f.sc.UpdateService(ctx, &runpb.UpdateServiceRequest{Service: svc})
			return err
		})
		if isCode(err, codes.Aborted) || isCode(err, codes.FailedPrecondition) {
			if ifMatch != "" {
				return nil, driver.NewError(driver.FailedPrecondition, fmt.Sprintf("the Cloud Run service of %s changed since it was read (etag %s): %v", f.name, ifMatch, err))
			}
			if attempt < f.opts.MaxRetries {
				if err := sleep(ctx, min(f.opts.RetryBackoff<<attempt, f.opts.MaxRetryBackoff)); err != nil {
					return nil, err
				}
				continue
			}
		}
		if err != nil {
			return nil, err
		}
		if !waitDone {
			return svc, nil
		}
		return wait(ctx, f, "service update", op)
	}
}

// beforeApply calls the caller's hook with the native requests.
func (a *applyRun) beforeApply(create *functionspb.CreateFunctionRequest, update *functionspb.UpdateFunctionRequest) error {
	if a.opts.BeforeApply == nil {
		return nil
	}
	return a.opts.BeforeApply(func(i any) bool {
		switch p := i.(type) {
		case **functionspb.CreateFunctionRequest:
			*p = create
			return create != nil
		case **functionspb.UpdateFunctionRequest:
			*p = update
			return update != nil
		}
		return false
	})
}
