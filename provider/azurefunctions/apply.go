package azurefunctions

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appservice/armappservice/v6"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

var kvURIRE = regexp.MustCompile(`^https://[a-zA-Z0-9-]{3,24}\.vault\.azure\.(net|cn|us)/secrets/[a-zA-Z0-9-]{1,127}(/[0-9a-fA-F]{32})?/?$`)

// keyVaultReference turns a secret reference into the app-setting value
// Azure resolves at run time. The value is never read by updraft.
func keyVaultReference(name, ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	switch {
	case strings.HasPrefix(ref, "@Microsoft.KeyVault(") && strings.HasSuffix(ref, ")"):
		return ref, nil
	case kvURIRE.MatchString(ref):
		return "@Microsoft.KeyVault(SecretUri=" + ref + ")", nil
	}
	// Never echo the value: it may be a secret put here by mistake.
	return "", invalid("secret %s: the reference is not a Key Vault secret URI (https://VAULT.vault.azure.net/secrets/NAME[/VERSION]) or an @Microsoft.KeyVault(...) reference", name)
}

// platformSettings are the app settings each plan needs besides the
// function's own.
func (f *function) platformSettings(cfg driver.Config) map[string]string {
	m := map[string]string{"UPDRAFT_FUNCTION": f.app}
	if f.opts.StorageAccount != "" {
		m["AzureWebJobsStorage__accountName"] = f.opts.StorageAccount
	}
	if f.opts.Plan == Premium {
		m["FUNCTIONS_WORKER_RUNTIME"] = "custom"
		m["FUNCTIONS_EXTENSION_VERSION"] = "~4"
		m["WEBSITE_RUN_FROM_PACKAGE"] = "1"
	}
	if cfg.Tracing && f.opts.ApplicationInsightsConnectionString != "" {
		m["APPLICATIONINSIGHTS_CONNECTION_STRING"] = f.opts.ApplicationInsightsConnectionString
	}
	return m
}

// desiredRecord computes the draft that s makes of draft (nil when new),
// and the package to deploy (nil when the code is not managed).
func (f *function) desiredRecord(ctx context.Context, draft *record, s *driver.Spec) (*record, *bundle.Bundle, error) {
	var cur driver.Config
	var curTriggers []trigger.Trigger
	if draft != nil {
		cur = draft.Config
		var err error
		if curTriggers, err = decodeTriggers(draft.Triggers); err != nil {
			return nil, nil, err
		}
	}
	cfg := driver.Desired(cur, s)
	if s.Labels == nil {
		cfg.Labels = cur.Labels
	}
	ts := s.Triggers
	if ts == nil {
		ts = curTriggers
	}
	extra, trigSettings, err := generated(cfg.Timeout, ts)
	if err != nil {
		return nil, nil, err
	}
	rec := &record{Config: cfg, Triggers: encodeTriggers(ts), Settings: f.platformSettings(cfg)}
	maps.Copy(rec.Settings, trigSettings)
	for k, v := range cfg.Env {
		rec.Settings[k] = v
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Secrets)) {
		v, err := keyVaultReference(k, cfg.Secrets[k])
		if err != nil {
			return nil, nil, err
		}
		rec.Settings[k] = v
	}
	if f.opts.Plan == Flex {
		for _, k := range []string{"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE", "WEBSITE_TIME_ZONE", "TZ"} {
			if _, ok := rec.Settings[k]; ok {
				return nil, nil, invalid("environment variable %s: Flex Consumption does not allow this app setting", k)
			}
		}
	}
	var pkg *bundle.Bundle
	switch {
	case s.Bundle != nil:
		if pkg, err = buildPackage(ctx, s.Bundle, extra, f.Capabilities().CodeLimits); err != nil {
			return nil, nil, invalid("building the Azure package: %v", err)
		}
		rec.Package, rec.PackageSize = pkg.Digest, pkg.Size
	case draft != nil:
		prev, _, _ := generated(draft.Config.Timeout, curTriggers)
		if !sameFiles(prev, extra) {
			return nil, nil, invalid("triggers and timeout are compiled into the Azure package: give the code (Spec.Code) to change them")
		}
		rec.Package, rec.PackageSize = draft.Package, draft.PackageSize
	default:
		return nil, nil, invalid("function app %s does not exist: give the code (Spec.Code) to create it", f.app)
	}
	return rec, pkg, nil
}

// sameRecord compares two records, ignoring ID and creation time.
func sameRecord(a, b *record) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	x.ID, y.ID, x.Created = "", "", y.Created
	bx, _ := json.Marshal(x)
	by, _ := json.Marshal(y)
	return string(bx) == string(by)
}

// applyCall carries one Apply's state.
type applyCall struct {
	f        *function
	s        *driver.Spec
	opts     *driver.ApplyOptions
	l        *live
	rec      *record
	pkg      *bundle.Bundle
	res      *driver.ApplyResult
	hookDone bool
}

// hook runs BeforeApply once, with the native requests.
func (a *applyCall) hook(site *armappservice.Site, settings *armappservice.StringDictionary) error {
	if a.hookDone || a.opts.BeforeApply == nil {
		return nil
	}
	a.hookDone = true
	return a.opts.BeforeApply(func(i any) bool {
		switch p := i.(type) {
		case **armappservice.Site:
			if site == nil {
				return false
			}
			*p = site
			return true
		case **armappservice.StringDictionary:
			if settings == nil {
				return false
			}
			*p = settings
			return true
		}
		return false
	})
}

// Apply implements driver.Function. See the package doc for how
// revisions map onto packages and slots.
// CheckSpec implements driver.SpecChecker: the route is live, and the
// triggers compile into function.json files, so a trigger Azure cannot
// express is reported by Plan and refused before any call.
func (f *function) CheckSpec(s *driver.Spec) error {
	if s.Route != "live" {
		return invalid("route %q: an Azure function app has one route, live (its production host)", s.Route)
	}
	if s.Triggers != nil {
		if _, _, err := generated(s.Timeout, s.Triggers); err != nil {
			return err
		}
	}
	return nil
}

func (f *function) Apply(ctx context.Context, s *driver.Spec, opts *driver.ApplyOptions) (*driver.ApplyResult, error) {
	if err := f.CheckSpec(s); err != nil {
		return nil, err
	}
	l, err := f.load(ctx)
	if isMissing(err) {
		l, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	var draft *record
	if l != nil {
		draft = l.ix.Draft
	}
	if err := driver.CheckETag("function "+f.app, opts.IfMatch, configETag(draft)); err != nil {
		return nil, err
	}
	if opts.IfNotExist && l != nil {
		return nil, driver.NewError(driver.AlreadyExists, "function app "+f.app+" already exists (another deployment created it): plan again")
	}
	rec, pkg, err := f.desiredRecord(ctx, draft, s)
	if err != nil {
		return nil, err
	}
	a := &applyCall{f: f, s: s, opts: opts, l: l, rec: rec, pkg: pkg, res: &driver.ApplyResult{}}
	switch {
	case l == nil:
		err = a.create(ctx)
	case tagValue(l.tags(), tagLive) == "":
		err = a.direct(ctx)
	default:
		err = a.stage(ctx)
	}
	if err != nil {
		return nil, err
	}
	return a.res, nil
}

// publish records the draft and, with Publish, a revision for it (the
// newest one when it already matches). It writes the index when needed.
func (a *applyCall) publish(ctx context.Context) error {
	ix := a.l.ix
	changed := !sameRecord(ix.Draft, a.rec)
	a.res.Changed = a.res.Changed || changed
	dirty := changed
	if changed {
		a.rec.Created = timeNow()
		ix.Draft = a.rec
	}
	if a.opts.Publish {
		var newest *record
		if n := len(ix.Revisions); n > 0 {
			newest = ix.Revisions[n-1]
		}
		if newest != nil && sameRecord(newest, ix.Draft) {
			a.res.Revision = toRevision(newest)
		} else {
			r := *ix.Draft
			r.ID, r.Created = strconv.Itoa(max(ix.Next, 1)), timeNow()
			ix.Next = max(ix.Next, 1) + 1
			ix.Revisions = append(ix.Revisions, &r)
			a.res.Revision, a.res.Published = toRevision(&r), true
			dirty = true
		}
	}
	if !dirty {
		return nil
	}
	if a.l.st == nil {
		return driver.NewError(driver.FailedPrecondition, "no revision container: set Options.RevisionContainer or StorageAccount")
	}
	return a.l.st.writeIndex(ctx, ix)
}

func toRevision(r *record) *driver.Revision {
	return &driver.Revision{ID: r.ID, CodeDigest: r.Config.CodeDigest, Created: r.Created, Config: r.Config.Clone()}
}

// keep stores the package in the revision container unless it is there.
func (a *applyCall) keep(ctx context.Context) error {
	if a.pkg == nil || a.kept(a.rec.Package) {
		return nil
	}
	ok, err := a.l.st.hasPackage(ctx, a.rec.Package)
	if err != nil || ok {
		return err
	}
	b, err := a.pkg.Bytes()
	if err != nil {
		return err
	}
	if err := a.l.st.putPackage(ctx, a.rec.Package, b); err != nil {
		return err
	}
	a.res.UploadedBytes += int64(len(b))
	return nil
}

// kept reports whether the index already records digest, so its
// package is in the revision container.
func (a *applyCall) kept(digest string) bool {
	ix := a.l.ix
	if ix.Draft != nil && ix.Draft.Package == digest {
		return true
	}
	for _, r := range ix.Revisions {
		if r.Package == digest {
			return true
		}
	}
	return false
}

// editTags applies edit to the site's tags when it changes them: the
// edit is tried on the tags as loaded first, so a no-op reads nothing more.
func (f *function) editTags(ctx context.Context, l *live, edit func(map[string]*string) error) error {
	try := maps.Clone(l.tags())
	if err := edit(try); err != nil {
		return err
	}
	if maps.EqualFunc(try, l.tags(), func(a, b *string) bool { return *a == *b }) {
		return nil
	}
	_, err := f.updateTags(ctx, "", edit)
	return err
}

// provisioned is the route's provisioned count after s (nil = keep).
func (a *applyCall) provisioned() (int, bool) {
	cur := 0
	if a.l != nil {
		cur, _ = strconv.Atoi(tagValue(a.l.tags(), tagProvisioned))
	}
	if a.s.Concurrency.Provisioned == nil {
		return cur, false
	}
	return *a.s.Concurrency.Provisioned, *a.s.Concurrency.Provisioned != cur
}

// create makes the plan, the app, its settings and first deployment.
func (a *applyCall) create(ctx context.Context) error {
	f := a.f
	if f.opts.Location == "" || f.opts.StorageAccount == "" {
		return invalid("function app %s does not exist: set Options.Location and Options.StorageAccount (URL location= and storage=) to create it", f.app)
	}
	planID, err := f.ensurePlan(ctx, a.rec.Config.MemoryMB)
	if err != nil {
		return err
	}
	prov, _ := a.provisioned()
	url := f.revisionURL(nil)
	site := armappservice.Site{Location: to.Ptr(f.opts.Location), Kind: to.Ptr("functionapp,linux"),
		Identity: identity(a.rec.Config.Identity), Tags: map[string]*string{},
		Properties: &armappservice.SiteProperties{ServerFarmID: to.Ptr(planID), HTTPSOnly: to.Ptr(true), Reserved: to.Ptr(true),
			SiteConfig: &armappservice.SiteConfig{AppSettings: []*armappservice.NameValuePair{}}}}
	for k, v := range a.rec.Config.Labels {
		site.Tags[k] = to.Ptr(v)
	}
	setTag(site.Tags, tagRevisions, url)
	if a.s.Concurrency.Provisioned != nil && prov > 0 {
		setTag(site.Tags, tagProvisioned, strconv.Itoa(prov))
	}
	f.shape(&site, a.rec, prov)
	for _, k := range slices.Sorted(maps.Keys(a.rec.Settings)) {
		site.Properties.SiteConfig.AppSettings = append(site.Properties.SiteConfig.AppSettings,
			&armappservice.NameValuePair{Name: to.Ptr(k), Value: to.Ptr(a.rec.Settings[k])})
	}
	if err := a.hook(&site, nil); err != nil {
		return err
	}
	// If-None-Match: * makes the create lose, not overwrite, a race.
	p, err := f.web.BeginCreateOrUpdate(policy.WithHTTPHeader(ctx, http.Header{"If-None-Match": {"*"}}), f.rg, f.app, site, nil)
	if err == nil {
		_, err = p.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: f.opts.PollInterval})
	}
	if errorCode(err) == driver.FailedPrecondition {
		return driver.NewError(driver.AlreadyExists, "function app "+f.app+" was created by another deployment meanwhile: plan again")
	}
	if err != nil {
		return err
	}
	a.res.Created, a.res.Changed = true, true
	l, err := f.load(ctx)
	if err != nil {
		return err
	}
	if l == nil {
		return driver.NewError(driver.Internal, "function app "+f.app+" vanished right after it was created")
	}
	a.l = l
	return a.direct(ctx)
}

// direct deploys the draft to the production app: the function has no
// route yet, so nothing serves a revision that could be disturbed.
func (a *applyCall) direct(ctx context.Context) error {
	f := a.f
	if a.l.st == nil {
		return driver.NewError(driver.FailedPrecondition, "no revision container: set Options.RevisionContainer or StorageAccount")
	}
	if err := a.keep(ctx); err != nil {
		return err
	}
	prov, _ := a.provisioned()
	n, err := f.deployRecord(ctx, a.l, "", a.rec, a.l.ix.Draft, prov, a, false)
	if err != nil {
		return err
	}
	if n > 0 {
		a.res.Changed = true
		a.res.UploadedBytes += n
	}
	if err := a.publish(ctx); err != nil {
		return err
	}
	return f.editTags(ctx, a.l, func(tags map[string]*string) error {
		setTag(tags, tagPackage, a.rec.Package)
		if a.s.Concurrency.Provisioned != nil {
			setTag(tags, tagProvisioned, nonzero(prov))
		}
		setLabels(tags, a.s.Labels)
		if a.res.Revision != nil {
			setTag(tags, tagLive, a.res.Revision.ID)
		}
		return nil
	})
}

// stage records the draft without touching the production app: Flex
// keeps it in the revision container, Premium also deploys it to the
// staging slot. Provisioned concurrency and labels apply to the app.
func (a *applyCall) stage(ctx context.Context) error {
	f := a.f
	if err := a.keep(ctx); err != nil {
		return err
	}
	liveRec := a.l.ix.find(tagValue(a.l.tags(), tagLive))
	if f.opts.Plan == Premium && !(sameRecord(liveRec, a.rec) && tagValue(a.l.tags(), tagSlotPackage) == "") {
		n, err := f.deployRecord(ctx, a.l, f.opts.StagingSlot, a.rec, a.l.ix.find(tagValue(a.l.tags(), tagStaging)), -1, a, false)
		if err != nil {
			return err
		}
		a.res.UploadedBytes += n
		if n > 0 {
			a.res.Changed = true
		}
	}
	if err := a.publish(ctx); err != nil {
		return err
	}
	prov, provChanged := a.provisioned()
	if provChanged {
		if liveRec == nil {
			liveRec = a.rec
		}
		if err := f.scale(ctx, "", liveRec, prov, a); err != nil {
			return err
		}
	}
	return f.editTags(ctx, a.l, func(tags map[string]*string) error {
		if provChanged {
			setTag(tags, tagProvisioned, nonzero(prov))
		}
		setLabels(tags, a.s.Labels)
		if f.opts.Plan == Premium && tagValue(tags, tagSlotPackage) != "" || !sameRecord(liveRec, a.rec) && f.opts.Plan == Premium {
			setTag(tags, tagSlotPackage, a.rec.Package)
			staged := ""
			if a.res.Revision != nil {
				staged = a.res.Revision.ID
			}
			setTag(tags, tagStaging, staged)
		}
		return nil
	})
}

func nonzero(n int) string {
	if n <= 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func setLabels(tags map[string]*string, want map[string]string) {
	if want == nil {
		return
	}
	for k := range labels(tags) {
		delete(tags, k)
	}
	for k, v := range want {
		tags[k] = to.Ptr(v)
	}
}

func identity(id string) *armappservice.ManagedServiceIdentity {
	if id == "" {
		return &armappservice.ManagedServiceIdentity{Type: to.Ptr(armappservice.ManagedServiceIdentityTypeSystemAssigned)}
	}
	return &armappservice.ManagedServiceIdentity{Type: to.Ptr(armappservice.ManagedServiceIdentityTypeSystemAssignedUserAssigned),
		UserAssignedIdentities: map[string]*armappservice.UserAssignedIdentity{id: {}}}
}

// shape writes a record's scale and runtime settings into a site: Flex's
// functionAppConfig, Premium's site config. prov < 0 keeps the site's.
func (f *function) shape(site *armappservice.Site, rec *record, prov int) {
	p := site.Properties
	if p.SiteConfig == nil {
		p.SiteConfig = &armappservice.SiteConfig{}
	}
	if f.opts.Plan == Premium {
		sc := p.SiteConfig
		if prov >= 0 {
			sc.MinimumElasticInstanceCount = to.Ptr(int32(prov))
		}
		if f.opts.PreWarmedInstances > 0 {
			sc.PreWarmedInstanceCount = to.Ptr(int32(f.opts.PreWarmedInstances))
		}
		if m := rec.Config.MaxConcurrency; m != nil {
			sc.FunctionAppScaleLimit = to.Ptr(int32(*m))
		}
		return
	}
	fc := p.FunctionAppConfig
	if fc == nil {
		fc = &armappservice.FunctionAppConfig{
			Deployment: &armappservice.FunctionsDeployment{Storage: &armappservice.FunctionsDeploymentStorage{
				Type:           to.Ptr(armappservice.FunctionsDeploymentStorageTypeBlobContainer),
				Value:          to.Ptr(f.opts.DeploymentContainer),
				Authentication: &armappservice.FunctionsDeploymentStorageAuthentication{Type: to.Ptr(armappservice.AuthenticationTypeSystemAssignedIdentity)},
			}},
		}
		p.FunctionAppConfig = fc
	}
	fc.Runtime = &armappservice.FunctionsRuntime{Name: to.Ptr(armappservice.RuntimeName(f.opts.FlexRuntime)), Version: to.Ptr(f.opts.FlexRuntimeVersion)}
	sc := fc.ScaleAndConcurrency
	if sc == nil {
		sc = &armappservice.FunctionsScaleAndConcurrency{}
		fc.ScaleAndConcurrency = sc
	}
	sc.InstanceMemoryMB = to.Ptr(int32(rec.Config.MemoryMB))
	if m := rec.Config.MaxConcurrency; m != nil {
		sc.MaximumInstanceCount = to.Ptr(int32(*m))
	}
	if prov >= 0 {
		sc.AlwaysReady = nil
		if prov > 0 {
			sc.AlwaysReady = []*armappservice.FunctionsAlwaysReadyConfig{{Name: to.Ptr("http"), InstanceCount: to.Ptr(int32(prov))}}
		}
	}
	if f.opts.PerInstanceConcurrency > 0 {
		sc.Triggers = &armappservice.FunctionsScaleAndConcurrencyTriggers{HTTP: &armappservice.FunctionsScaleAndConcurrencyTriggersHTTP{
			PerInstanceConcurrency: to.Ptr(int32(f.opts.PerInstanceConcurrency))}}
	}
}

// premiumSKUs maps Premium memory sizes to plan SKUs.
var premiumSKUs = map[int]string{3584: "EP1", 7168: "EP2", 14336: "EP3"}

// ensurePlan returns the plan's resource id, creating the plan if needed
// (on Premium with the SKU of memoryMB, unless Options.PremiumSKU names
// another).
func (f *function) ensurePlan(ctx context.Context, memoryMB int) (string, error) {
	got, err := f.plans.Get(ctx, f.rg, f.opts.PlanName, nil)
	if err == nil && got.ID != nil {
		return *got.ID, nil
	}
	if errorCode(err) != driver.NotFound {
		return "", err
	}
	plan := armappservice.Plan{Location: to.Ptr(f.opts.Location), Kind: to.Ptr("functionapp"),
		SKU:        &armappservice.SKUDescription{Name: to.Ptr("FC1"), Tier: to.Ptr("FlexConsumption")},
		Properties: &armappservice.PlanProperties{Reserved: to.Ptr(true)}}
	if f.opts.Plan == Premium {
		plan.Kind = to.Ptr("elastic")
		sku := f.opts.PremiumSKU
		if sku == "" {
			if sku = premiumSKUs[memoryMB]; sku == "" {
				sku = "EP1"
			}
		}
		plan.SKU = &armappservice.SKUDescription{Name: to.Ptr(sku), Tier: to.Ptr("ElasticPremium")}
		plan.Properties.MaximumElasticWorkerCount = to.Ptr[int32](20)
	}
	p, err := f.plans.BeginCreateOrUpdate(ctx, f.rg, f.opts.PlanName, plan, nil)
	if err != nil {
		return "", err
	}
	res, err := p.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: f.opts.PollInterval})
	if err != nil {
		return "", err
	}
	if res.ID == nil {
		return "", driver.NewError(driver.Internal, "plan "+f.opts.PlanName+" was created without an id")
	}
	return *res.ID, nil
}

// putSite PUTs a site or slot with If-Match (when etag is set) and waits.
func (f *function) putSite(ctx context.Context, slot string, site armappservice.Site, etag string) (*armappservice.Site, error) {
	if etag != "" {
		ctx = policy.WithHTTPHeader(ctx, http.Header{"If-Match": {etag}})
	}
	po := &runtime.PollUntilDoneOptions{Frequency: f.opts.PollInterval}
	if slot == "" {
		p, err := f.web.BeginCreateOrUpdate(ctx, f.rg, f.app, site, nil)
		if err != nil {
			return nil, err
		}
		r, err := p.PollUntilDone(ctx, po)
		return &r.Site, err
	}
	p, err := f.web.BeginCreateOrUpdateSlot(ctx, f.rg, f.app, slot, site, nil)
	if err != nil {
		return nil, err
	}
	r, err := p.PollUntilDone(ctx, po)
	return &r.Site, err
}

// getSlot reads a slot (nil if absent) and its ETag.
func (f *function) getSlot(ctx context.Context, slot string) (*armappservice.Site, string, error) {
	if slot == "" {
		return f.getSite(ctx)
	}
	var raw *http.Response
	resp, err := f.web.GetSlot(policy.WithCaptureResponse(ctx, &raw), f.rg, f.app, slot, nil)
	if errorCode(err) == driver.NotFound {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	return &resp.Site, raw.Header.Get("ETag"), nil
}

// updateTags reads the site, lets edit change its tags and PUTs it back
// with If-Match when anything changed. With routeIfMatch set, the
// route's ETag must match first.
func (f *function) updateTags(ctx context.Context, routeIfMatch string, edit func(map[string]*string) error) (map[string]*string, error) {
	site, etag, err := f.getSite(ctx)
	if err != nil {
		return nil, err
	}
	if site == nil {
		return nil, notFoundErr(f.app)
	}
	if site.Tags == nil {
		site.Tags = map[string]*string{}
	}
	if err := driver.CheckETag("route live of "+f.app, routeIfMatch, routeETag(site.Tags)); err != nil {
		return nil, err
	}
	before := maps.Clone(site.Tags)
	if err := edit(site.Tags); err != nil {
		return nil, err
	}
	if maps.EqualFunc(before, site.Tags, func(a, b *string) bool { return *a == *b }) {
		return site.Tags, nil
	}
	if _, err = f.putSite(ctx, "", *site, etag); err != nil {
		return nil, err
	}
	return site.Tags, nil
}

// scale applies a record's scale settings (and prov) to a site or slot.
func (f *function) scale(ctx context.Context, slot string, rec *record, prov int, a *applyCall) error {
	site, etag, err := f.getSlot(ctx, slot)
	if err != nil {
		return err
	}
	if site == nil {
		return notFoundErr(f.app)
	}
	before, _ := json.Marshal(site)
	f.shape(site, rec, prov)
	after, _ := json.Marshal(site)
	if string(before) == string(after) {
		return nil
	}
	if a != nil {
		if err := a.hook(site, nil); err != nil {
			return err
		}
	}
	_, err = f.putSite(ctx, slot, *site, etag)
	return err
}

// deployRecord makes slot ("" = production) run rec: scale settings, app
// settings (replacing those prev managed), then the package unless the
// slot already runs it (or force says an interrupted run may have left
// it half deployed). It returns the package bytes sent. prov < 0 keeps
// provisioned concurrency as it is.
func (f *function) deployRecord(ctx context.Context, l *live, slot string, rec, prev *record, prov int, a *applyCall, force bool) (int64, error) {
	if slot != "" {
		if err := f.ensureSlot(ctx, l); err != nil {
			return 0, err
		}
	}
	if err := f.scale(ctx, slot, rec, prov, a); err != nil {
		return 0, err
	}
	var extra map[string]string
	if slot != "" {
		var err error
		if extra, err = f.disableEventTriggers(ctx, rec); err != nil {
			return 0, err
		}
	}
	if err := f.writeSettings(ctx, slot, rec, prev, extra, a); err != nil {
		return 0, err
	}
	running := tagValue(l.tags(), tagPackage)
	if slot != "" {
		running = tagValue(l.tags(), tagSlotPackage)
	}
	if running == rec.Package && !force {
		return 0, nil // unchanged digest: nothing to deploy
	}
	var zip []byte
	var err error
	if a != nil && a.pkg != nil && a.pkg.Digest == rec.Package {
		zip, err = a.pkg.Bytes()
	} else {
		zip, err = l.st.getPackage(ctx, rec.Package)
	}
	if err != nil {
		return 0, err
	}
	site, _, err := f.getSlot(ctx, slot)
	if err != nil {
		return 0, err
	}
	if site == nil {
		return 0, notFoundErr(f.app)
	}
	host := scmHost(site)
	if host == "" {
		return 0, driver.NewError(driver.FailedPrecondition, "function app "+f.app+" has no SCM host name")
	}
	f.log.Debug("deploying package", "slot", slot, "digest", rec.Package, "bytes", len(zip))
	if err := f.scm.deploy(ctx, host, f.app, zip, f.opts.Plan == Flex); err != nil {
		return 0, err
	}
	return int64(len(zip)), nil
}

func scmHost(s *armappservice.Site) string {
	if s.Properties == nil {
		return ""
	}
	for _, h := range s.Properties.HostNameSSLStates {
		if h.HostType != nil && *h.HostType == armappservice.HostTypeRepository && h.Name != nil {
			return *h.Name
		}
	}
	return ""
}

// disableEventTriggers returns the settings that disable rec's non-HTTP
// functions in the staging slot (AzureWebJobs.KEY.Disabled), after making
// those names sticky so a swap leaves them with the slot: Azure runs the
// triggers of every slot, so a staged candidate would otherwise consume
// the production queue.
func (f *function) disableEventTriggers(ctx context.Context, rec *record) (map[string]string, error) {
	ts, err := decodeTriggers(rec.Triggers)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, t := range ts {
		if t.Kind() != trigger.KindHTTP {
			out["AzureWebJobs."+t.TriggerKey()+".Disabled"] = "true"
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	cur, err := f.web.ListSlotConfigurationNames(ctx, f.rg, f.app, nil)
	if err != nil {
		return nil, err
	}
	var names []*string
	have := map[string]bool{}
	if p := cur.Properties; p != nil {
		names = p.AppSettingNames
		for _, n := range names {
			if n != nil {
				have[*n] = true
			}
		}
	}
	missing := false
	for _, k := range slices.Sorted(maps.Keys(out)) {
		if !have[k] {
			names, missing = append(names, to.Ptr(k)), true
		}
	}
	if missing {
		props := armappservice.SlotConfigNames{AppSettingNames: names}
		if p := cur.Properties; p != nil {
			props.ConnectionStringNames, props.AzureStorageConfigNames = p.ConnectionStringNames, p.AzureStorageConfigNames
		}
		if _, err := f.web.UpdateSlotConfigurationNames(ctx, f.rg, f.app, armappservice.SlotConfigNamesResource{Properties: &props}, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ensureSlot creates the Premium staging slot on the app's plan.
func (f *function) ensureSlot(ctx context.Context, l *live) error {
	s, _, err := f.getSlot(ctx, f.opts.StagingSlot)
	if err != nil || s != nil {
		return err
	}
	slot := armappservice.Site{Location: l.site.Location, Kind: l.site.Kind, Identity: l.site.Identity,
		Properties: &armappservice.SiteProperties{ServerFarmID: l.site.Properties.ServerFarmID, HTTPSOnly: to.Ptr(true), Reserved: to.Ptr(true),
			SiteConfig: &armappservice.SiteConfig{}}}
	_, err = f.putSite(ctx, f.opts.StagingSlot, slot, "")
	return err
}

// writeSettings replaces the app settings prev managed with rec's,
// keeping the others, when they differ.
func (f *function) writeSettings(ctx context.Context, slot string, rec, prev *record, extra map[string]string, a *applyCall) error {
	var cur map[string]*string
	if slot == "" {
		r, err := f.web.ListApplicationSettings(ctx, f.rg, f.app, nil)
		if err != nil {
			return err
		}
		cur = r.Properties
	} else {
		r, err := f.web.ListApplicationSettingsSlot(ctx, f.rg, f.app, slot, nil)
		if err != nil {
			return err
		}
		cur = r.Properties
	}
	want := map[string]*string{}
	for k, v := range cur {
		if prev != nil {
			if _, managed := prev.Settings[k]; managed {
				continue
			}
		}
		want[k] = v
	}
	for k, v := range rec.Settings {
		want[k] = to.Ptr(v)
	}
	for k, v := range extra {
		want[k] = to.Ptr(v)
	}
	if maps.EqualFunc(cur, want, func(a, b *string) bool { return a != nil && b != nil && *a == *b }) {
		return nil
	}
	d := armappservice.StringDictionary{Properties: want}
	if a != nil {
		if err := a.hook(nil, &d); err != nil {
			return err
		}
	}
	var err error
	if slot == "" {
		_, err = f.web.UpdateApplicationSettings(ctx, f.rg, f.app, d, nil)
	} else {
		_, err = f.web.UpdateApplicationSettingsSlot(ctx, f.rg, f.app, slot, d, nil)
	}
	return err
}

var (
	_ = azcore.ETagAny
	_ = policy.RetryOptions{}
	_ = fmt.Sprint
)
