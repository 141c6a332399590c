package azurefake

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appservice/armappservice/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appservice/armappservice/v6/fake"
)

// flexDeprecated are the app settings Flex Consumption rejects.
var flexDeprecated = []string{"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE",
	"SCM_DO_BUILD_DURING_DEPLOYMENT", "ENABLE_ORYX_BUILD", "WEBSITE_CONTENTSHARE", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
	"WEBSITE_TIME_ZONE", "TZ"}

type plan struct {
	obj armappservice.Plan
}

// site is a function app or one of its slots.
type site struct {
	rg, name, slot string
	obj            armappservice.Site
	settings       map[string]string
	etag           int
	slots          map[string]*site
	hostKey        string

	// content is the deployed package (swapped with the slot's on swap).
	content     *pkg
	deployments []*deployment
	hits        []hit
	// sticky are the app setting names that stay with their slot on a
	// swap (kept on the production site).
	sticky []string
}

// pkg is a deployed package.
type pkg struct {
	digest string
	files  map[string][]byte
}

func (s *site) flex() bool {
	return s.obj.Properties != nil && s.obj.Properties.FunctionAppConfig != nil
}

func (s *site) hostName() string {
	if s.slot != "" {
		return s.name + "-" + s.slot + ".azurewebsites.net"
	}
	return s.name + ".azurewebsites.net"
}

func (s *site) scmHost() string {
	return strings.Replace(s.hostName(), ".azurewebsites.net", ".scm.azurewebsites.net", 1)
}

func (s *site) etagString() string { return fmt.Sprintf("1DC%013X", s.etag) }

func (s *site) resourceID() string {
	id := "/subscriptions/" + Subscription + "/resourceGroups/" + s.rg + "/providers/Microsoft.Web/sites/" + s.name
	if s.slot != "" {
		id += "/slots/" + s.slot
	}
	return id
}

// view returns the site as ARM shows it: system fields filled in.
func (s *site) view() armappservice.Site {
	v := s.obj
	v.ID, v.Name, v.Type = to.Ptr(s.resourceID()), to.Ptr(s.name), to.Ptr("Microsoft.Web/sites")
	if s.slot != "" {
		v.Name, v.Type = to.Ptr(s.name+"/"+s.slot), to.Ptr("Microsoft.Web/sites/slots")
	}
	p := armappservice.SiteProperties{}
	if v.Properties != nil {
		p = *v.Properties
	}
	p.State = to.Ptr("Running")
	p.DefaultHostName = to.Ptr(s.hostName())
	p.HostNames = []*string{to.Ptr(s.hostName())}
	p.EnabledHostNames = []*string{to.Ptr(s.hostName()), to.Ptr(s.scmHost())}
	p.HostNameSSLStates = []*armappservice.HostNameSSLState{
		{Name: to.Ptr(s.hostName()), HostType: to.Ptr(armappservice.HostTypeStandard)},
		{Name: to.Ptr(s.scmHost()), HostType: to.Ptr(armappservice.HostTypeRepository)},
	}
	p.ResourceGroup = to.Ptr(s.rg)
	if s.slot != "" {
		p.SlotSwapStatus = nil
	}
	v.Properties = &p
	v.Tags = maps.Clone(s.obj.Tags)
	return v
}

type ifMatchKey struct{}

type ifNoneMatchKey struct{}

// armTransport adds fault injection, If-Match and call records around
// the SDK's fake server transport.
type armTransport struct {
	c     *Cloud
	inner policy.Transporter
}

func (t armTransport) Do(req *http.Request) (*http.Response, error) {
	// A real transport sends nothing on a canceled context; the SDK's fake
	// server panics on one (its dispatch goroutine sends on a closed channel).
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	c := t.c
	f, lat := c.fault("arm", req.Method, req.URL.Path)
	if lat > 0 {
		tm := time.NewTimer(lat)
		select {
		case <-req.Context().Done():
			tm.Stop()
			return nil, req.Context().Err()
		case <-tm.C:
		}
	}
	if f != nil {
		code := "InjectedFault"
		switch f.Status {
		case http.StatusTooManyRequests:
			code = "TooManyRequests"
		case http.StatusConflict:
			code = "Conflict"
		}
		h := http.Header{"Content-Type": {"application/json"}, "X-Ms-Error-Code": {code}}
		if f.RetryAfter > 0 {
			h.Set("Retry-After", fmt.Sprint(int(f.RetryAfter/time.Second)))
		}
		c.record("arm", req, f.Status)
		body := `{"error":{"code":"` + code + `","message":"injected fault"}}`
		return &http.Response{StatusCode: f.Status, Status: http.StatusText(f.Status), Header: h, Request: req,
			Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}, nil
	}
	ctx := context.WithValue(req.Context(), ifMatchKey{}, req.Header.Get("If-Match"))
	ctx = context.WithValue(ctx, ifNoneMatchKey{}, req.Header.Get("If-None-Match"))
	resp, err := t.inner.Do(req.WithContext(ctx))
	st := 0
	if resp != nil {
		st = resp.StatusCode
	}
	if err != nil {
		var re *azcore.ResponseError
		if asResponseError(err, &re) {
			st = re.StatusCode
		}
	}
	c.record("arm", req, st)
	return resp, err
}

func asResponseError(err error, re **azcore.ResponseError) bool {
	for err != nil {
		if e, ok := err.(*azcore.ResponseError); ok {
			*re = e
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// ARMClientOptions returns options that send armappservice clients to the
// fake ARM.
func (c *Cloud) ARMClientOptions() *arm.ClientOptions {
	srv := c.servers()
	return &arm.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: armTransport{c: c, inner: fake.NewServerFactoryTransport(srv)},
	}}
}

// NewClientFactory returns an armappservice client factory wired to the
// fake, with a fake credential.
func (c *Cloud) NewClientFactory() (*armappservice.ClientFactory, error) {
	return armappservice.NewClientFactory(Subscription, &azfake.TokenCredential{}, c.ARMClientOptions())
}

func etagHeader(s *site) *azfake.SetResponseOptions {
	return &azfake.SetResponseOptions{Header: http.Header{"ETag": {s.etagString()}}}
}

func (c *Cloud) lookup(rg, name, slot string) *site {
	s := c.sites[rg+"/"+name]
	if s == nil || slot == "" || slot == "production" {
		return s
	}
	return s.slots[slot]
}

// withSite answers a read of site rg/name (slot "" is production) with
// what f makes of it, under the lock, or NotFound when it does not exist.
func withSite[T any](c *Cloud, rg, name, slot string, f func(*site) T) (resp azfake.Responder[T], e azfake.ErrorResponder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.lookup(rg, name, slot)
	if s == nil {
		notFound(&e)
		return
	}
	resp.SetResponse(http.StatusOK, f(s), nil)
	return
}

func notFound(e *azfake.ErrorResponder) { e.SetResponseError(http.StatusNotFound, "ResourceNotFound") }

// servers is the table of every ARM operation the fake answers, one
// closure per operation: its length and branch count are the table's,
// each entry being a short lookup, so it stays one function.
func (c *Cloud) servers() *fake.ServerFactory {
	return &fake.ServerFactory{
		PlansServer: fake.PlansServer{
			Get: func(ctx context.Context, rg, name string, _ *armappservice.PlansClientGetOptions) (resp azfake.Responder[armappservice.PlansClientGetResponse], e azfake.ErrorResponder) {
				c.mu.Lock()
				defer c.mu.Unlock()
				p := c.plans[rg+"/"+name]
				if p == nil {
					notFound(&e)
					return
				}
				resp.SetResponse(http.StatusOK, armappservice.PlansClientGetResponse{Plan: p.obj}, nil)
				return
			},
			BeginCreateOrUpdate: func(ctx context.Context, rg, name string, p armappservice.Plan, _ *armappservice.PlansClientBeginCreateOrUpdateOptions) (resp azfake.PollerResponder[armappservice.PlansClientCreateOrUpdateResponse], e azfake.ErrorResponder) {
				c.mu.Lock()
				defer c.mu.Unlock()
				if p.SKU == nil || p.SKU.Name == nil || p.Location == nil {
					e.SetResponseError(http.StatusBadRequest, "InvalidRequestContent")
					return
				}
				p.ID = to.Ptr("/subscriptions/" + Subscription + "/resourceGroups/" + rg + "/providers/Microsoft.Web/serverfarms/" + name)
				p.Name = to.Ptr(name)
				c.plans[rg+"/"+name] = &plan{obj: p}
				resp.AddNonTerminalResponse(http.StatusAccepted, nil)
				resp.SetTerminalResponse(http.StatusOK, armappservice.PlansClientCreateOrUpdateResponse{Plan: p}, nil)
				return
			},
		},
		WebAppsServer: fake.WebAppsServer{
			Get: func(ctx context.Context, rg, name string, _ *armappservice.WebAppsClientGetOptions) (resp azfake.Responder[armappservice.WebAppsClientGetResponse], e azfake.ErrorResponder) {
				c.mu.Lock()
				defer c.mu.Unlock()
				s := c.lookup(rg, name, "")
				if s == nil {
					notFound(&e)
					return
				}
				resp.SetResponse(http.StatusOK, armappservice.WebAppsClientGetResponse{Site: s.view()}, etagHeader(s))
				return
			},
			GetSlot: func(ctx context.Context, rg, name, slot string, _ *armappservice.WebAppsClientGetSlotOptions) (resp azfake.Responder[armappservice.WebAppsClientGetSlotResponse], e azfake.ErrorResponder) {
				c.mu.Lock()
				defer c.mu.Unlock()
				s := c.lookup(rg, name, slot)
				if s == nil {
					notFound(&e)
					return
				}
				resp.SetResponse(http.StatusOK, armappservice.WebAppsClientGetSlotResponse{Site: s.view()}, etagHeader(s))
				return
			},
			BeginCreateOrUpdate: func(ctx context.Context, rg, name string, in armappservice.Site, _ *armappservice.WebAppsClientBeginCreateOrUpdateOptions) (resp azfake.PollerResponder[armappservice.WebAppsClientCreateOrUpdateResponse], e azfake.ErrorResponder) {
				c.mu.Lock()
				defer c.mu.Unlock()
				s, code := c.putSite(ctx, rg, name, "", in)
				if code != "" {
					e.SetResponseError(statusOf(code), code)
					return
				}
				resp.AddNonTerminalResponse(http.StatusAccepted, nil)
				resp.SetTerminalResponse(http.StatusOK, armappservice.WebAppsClientCreateOrUpdateResponse{Site: s.view()}, nil)
				return
			},
			BeginCreateOrUpdateSlot: func(ctx context.Context, rg, name, slot string, in armappservice.Site, _ *armappservice.WebAppsClientBeginCreateOrUpdateSlotOptions) (resp azfake.PollerResponder[armappservice.WebAppsClientCreateOrUpdateSlotResponse], e azfake.ErrorResponder) {
				c.mu.Lock()
				defer c.mu.Unlock()
				s, code := c.putSite(ctx, rg, name, slot, in)
				if code != "" {
					e.SetResponseError(statusOf(code), code)
					return
				}
				resp.SetTerminalResponse(http.StatusOK, armappservice.WebAppsClientCreateOrUpdateSlotResponse{Site: s.view()}, nil)
				return
			},
			Delete: func(ctx context.Context, rg, name string, _ *armappservice.WebAppsClientDeleteOptions) (resp azfake.Responder[armappservice.WebAppsClientDeleteResponse], e azfake.ErrorResponder) {
				c.mu.Lock()
				defer c.mu.Unlock()
				if c.sites[rg+"/"+name] == nil {
					notFound(&e)
					return
				}
				delete(c.sites, rg+"/"+name)
				resp.SetResponse(http.StatusOK, armappservice.WebAppsClientDeleteResponse{}, nil)
				return
			},
			ListApplicationSettings: func(ctx context.Context, rg, name string, _ *armappservice.WebAppsClientListApplicationSettingsOptions) (resp azfake.Responder[armappservice.WebAppsClientListApplicationSettingsResponse], e azfake.ErrorResponder) {
				return withSite(c, rg, name, "", func(s *site) armappservice.WebAppsClientListApplicationSettingsResponse {
					return armappservice.WebAppsClientListApplicationSettingsResponse{StringDictionary: dict(s)}
				})
			},
			ListApplicationSettingsSlot: func(ctx context.Context, rg, name, slot string, _ *armappservice.WebAppsClientListApplicationSettingsSlotOptions) (resp azfake.Responder[armappservice.WebAppsClientListApplicationSettingsSlotResponse], e azfake.ErrorResponder) {
				return withSite(c, rg, name, slot, func(s *site) armappservice.WebAppsClientListApplicationSettingsSlotResponse {
					return armappservice.WebAppsClientListApplicationSettingsSlotResponse{StringDictionary: dict(s)}
				})
			},
			UpdateApplicationSettings: func(ctx context.Context, rg, name string, d armappservice.StringDictionary, _ *armappservice.WebAppsClientUpdateApplicationSettingsOptions) (resp azfake.Responder[armappservice.WebAppsClientUpdateApplicationSettingsResponse], e azfake.ErrorResponder) {
				c.mu.Lock()
				defer c.mu.Unlock()
				s := c.lookup(rg, name, "")
				if s == nil {
					notFound(&e)
					return
				}
				if code := setSettings(s, d); code != "" {
					e.SetResponseError(http.StatusBadRequest, code)
					return
				}
				resp.SetResponse(http.StatusOK, armappservice.WebAppsClientUpdateApplicationSettingsResponse{StringDictionary: dict(s)}, nil)
				return
			},
			UpdateApplicationSettingsSlot: func(ctx context.Context, rg, name, slot string, d armappservice.StringDictionary, _ *armappservice.WebAppsClientUpdateApplicationSettingsSlotOptions) (resp azfake.Responder[armappservice.WebAppsClientUpdateApplicationSettingsSlotResponse], e azfake.ErrorResponder) {
				c.mu.Lock()
				defer c.mu.Unlock()
				s := c.lookup(rg, name, slot)
				if s == nil {
					notFound(&e)
					return
				}
				if code := setSettings(s, d); code != "" {
					e.SetResponseError(http.StatusBadRequest, code)
					return
				}
				resp.SetResponse(http.StatusOK, armappservice.WebAppsClientUpdateApplicationSettingsSlotResponse{StringDictionary: dict(s)}, nil)
				return
			},
			BeginSwapSlotWithProduction: func(ctx context.Context, rg, name string, ent armappservice.CsmSlotEntity, _ *armappservice.WebAppsClientBeginSwapSlotWithProductionOptions) (resp azfake.PollerResponder[armappservice.WebAppsClientSwapSlotWithProductionResponse], e azfake.ErrorResponder) {
				c.mu.Lock()
				defer c.mu.Unlock()
				p := c.lookup(rg, name, "")
				if p == nil || ent.TargetSlot == nil {
					notFound(&e)
					return
				}
				s := p.slots[*ent.TargetSlot]
				if s == nil {
					notFound(&e)
					return
				}
				// Code and (non-sticky) app settings change places; the
				// scale settings, tags and host names stay with each slot.
				p.content, s.content = s.content, p.content
				ps, ss := map[string]string{}, map[string]string{}
				for k, v := range p.settings {
					if slices.Contains(p.sticky, k) {
						ps[k] = v
					} else {
						ss[k] = v
					}
				}
				for k, v := range s.settings {
					if slices.Contains(p.sticky, k) {
						ss[k] = v
					} else {
						ps[k] = v
					}
				}
				p.settings, s.settings = ps, ss
				p.etag++
				s.etag++
				resp.AddNonTerminalResponse(http.StatusAccepted, nil)
				resp.SetTerminalResponse(http.StatusOK, armappservice.WebAppsClientSwapSlotWithProductionResponse{}, nil)
				return
			},
			ListSlotConfigurationNames: func(ctx context.Context, rg, name string, _ *armappservice.WebAppsClientListSlotConfigurationNamesOptions) (resp azfake.Responder[armappservice.WebAppsClientListSlotConfigurationNamesResponse], e azfake.ErrorResponder) {
				c.mu.Lock()
				defer c.mu.Unlock()
				s := c.lookup(rg, name, "")
				if s == nil {
					notFound(&e)
					return
				}
				names := make([]*string, len(s.sticky))
				for i, n := range s.sticky {
					names[i] = to.Ptr(n)
				}
				resp.SetResponse(http.StatusOK, armappservice.WebAppsClientListSlotConfigurationNamesResponse{SlotConfigNamesResource: armappservice.SlotConfigNamesResource{
					Properties: &armappservice.SlotConfigNames{AppSettingNames: names}}}, nil)
				return
			},
			UpdateSlotConfigurationNames: func(ctx context.Context, rg, name string, r armappservice.SlotConfigNamesResource, _ *armappservice.WebAppsClientUpdateSlotConfigurationNamesOptions) (resp azfake.Responder[armappservice.WebAppsClientUpdateSlotConfigurationNamesResponse], e azfake.ErrorResponder) {
				c.mu.Lock()
				defer c.mu.Unlock()
				s := c.lookup(rg, name, "")
				if s == nil {
					notFound(&e)
					return
				}
				s.sticky = nil
				if r.Properties != nil {
					for _, n := range r.Properties.AppSettingNames {
						if n != nil {
							s.sticky = append(s.sticky, *n)
						}
					}
				}
				resp.SetResponse(http.StatusOK, armappservice.WebAppsClientUpdateSlotConfigurationNamesResponse{SlotConfigNamesResource: r}, nil)
				return
			},
			ListHostKeys: func(ctx context.Context, rg, name string, _ *armappservice.WebAppsClientListHostKeysOptions) (resp azfake.Responder[armappservice.WebAppsClientListHostKeysResponse], e azfake.ErrorResponder) {
				return withSite(c, rg, name, "", func(s *site) armappservice.WebAppsClientListHostKeysResponse {
					return armappservice.WebAppsClientListHostKeysResponse{HostKeys: hostKeys(s)}
				})
			},
			ListHostKeysSlot: func(ctx context.Context, rg, name, slot string, _ *armappservice.WebAppsClientListHostKeysSlotOptions) (resp azfake.Responder[armappservice.WebAppsClientListHostKeysSlotResponse], e azfake.ErrorResponder) {
				return withSite(c, rg, name, slot, func(s *site) armappservice.WebAppsClientListHostKeysSlotResponse {
					return armappservice.WebAppsClientListHostKeysSlotResponse{HostKeys: hostKeys(s)}
				})
			},
		},
	}
}

func hostKeys(s *site) armappservice.HostKeys {
	return armappservice.HostKeys{MasterKey: to.Ptr("master-" + s.hostKey), FunctionKeys: map[string]*string{"default": to.Ptr(s.hostKey)}}
}

func statusOf(code string) int {
	switch code {
	case "PreconditionFailed":
		return http.StatusPreconditionFailed
	case "ResourceNotFound":
		return http.StatusNotFound
	case "Conflict":
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

func dict(s *site) armappservice.StringDictionary {
	m := make(map[string]*string, len(s.settings))
	for k, v := range s.settings {
		m[k] = to.Ptr(v)
	}
	return armappservice.StringDictionary{Properties: m, ID: to.Ptr(s.resourceID() + "/config/appsettings"), Name: to.Ptr("appsettings")}
}

func setSettings(s *site, d armappservice.StringDictionary) string {
	m := map[string]string{}
	for k, v := range d.Properties {
		if v != nil {
			m[k] = *v
		}
	}
	if s.flex() {
		for _, k := range flexDeprecated {
			if _, ok := m[k]; ok {
				return "FlexDeprecatedAppSetting"
			}
		}
	}
	s.settings = m
	return ""
}

// putSite creates or replaces a site or slot (PUT semantics), checking
// If-Match and the Flex rules. It returns an error code on refusal.
// Its branches are ARM's checks, in the order ARM makes them (existence,
// If-Match, the plan, the Flex rules), kept together so the order shows.
func (c *Cloud) putSite(ctx context.Context, rg, name, slot string, in armappservice.Site) (*site, string) {
	parent := c.sites[rg+"/"+name]
	if slot != "" && parent == nil {
		return nil, "ResourceNotFound"
	}
	cur := c.lookup(rg, name, slot)
	if slot != "" && cur == parent {
		cur = nil
	}
	ifMatch, _ := ctx.Value(ifMatchKey{}).(string)
	if ifMatch != "" && ifMatch != "*" && (cur == nil || ifMatch != cur.etagString()) {
		return nil, "PreconditionFailed"
	}
	if ifNone, _ := ctx.Value(ifNoneMatchKey{}).(string); ifNone == "*" && cur != nil {
		return nil, "PreconditionFailed"
	}
	if in.Location == nil || in.Properties == nil || in.Properties.ServerFarmID == nil {
		return nil, "InvalidRequestContent"
	}
	farm := *in.Properties.ServerFarmID
	if c.plans[rg+"/"+farm[strings.LastIndex(farm, "/")+1:]] == nil {
		return nil, "ServerFarmNotFound"
	}
	if slot != "" && parent.flex() {
		return nil, "SlotsNotSupportedOnFlexConsumption"
	}
	if fc := in.Properties.FunctionAppConfig; fc != nil {
		if code := checkFlex(fc); code != "" {
			return nil, code
		}
		if in.Properties.SiteConfig != nil {
			for _, nv := range in.Properties.SiteConfig.AppSettings {
				if nv.Name != nil && slices.Contains(flexDeprecated, *nv.Name) {
					return nil, "FlexDeprecatedAppSetting"
				}
			}
		}
	}
	if cur == nil {
		c.seq++
		cur = &site{rg: rg, name: name, slot: slot, settings: map[string]string{}, slots: map[string]*site{},
			hostKey: fmt.Sprintf("key%04d", c.seq)}
		if in.Properties.SiteConfig != nil {
			for _, nv := range in.Properties.SiteConfig.AppSettings {
				if nv.Name != nil && nv.Value != nil {
					cur.settings[*nv.Name] = *nv.Value
				}
			}
		}
		if slot == "" {
			c.sites[rg+"/"+name] = cur
		} else {
			parent.slots[slot] = cur
		}
	}
	// App settings are managed through their own resource: the stored
	// site keeps none.
	in = cloneSite(in)
	if in.Properties.SiteConfig != nil {
		in.Properties.SiteConfig.AppSettings = nil
	}
	cur.obj = in
	cur.etag++
	return cur, ""
}

// checkFlex applies Flex Consumption's rules to a FunctionAppConfig:
// one short check per rule, as a flat list.
func checkFlex(fc *armappservice.FunctionAppConfig) string {
	if fc.Runtime == nil || fc.Runtime.Name == nil {
		return "FlexRuntimeRequired"
	}
	if fc.Deployment == nil || fc.Deployment.Storage == nil || fc.Deployment.Storage.Value == nil {
		return "FlexDeploymentStorageRequired"
	}
	if sc := fc.ScaleAndConcurrency; sc != nil {
		if m := sc.InstanceMemoryMB; m != nil && *m != 512 && *m != 2048 && *m != 4096 {
			return "InvalidInstanceMemoryMB"
		}
		if m := sc.MaximumInstanceCount; m != nil && (*m < 1 || *m > 1000) {
			return "InvalidMaximumInstanceCount"
		}
		for _, ar := range sc.AlwaysReady {
			if ar.Name == nil || ar.InstanceCount == nil || *ar.InstanceCount < 0 {
				return "InvalidAlwaysReady"
			}
			n := *ar.Name
			if n != "http" && n != "blob" && n != "durable" && !strings.HasPrefix(n, "function:") {
				return "InvalidAlwaysReady"
			}
		}
	}
	return ""
}

// cloneSite deep-copies a site through JSON, as a server would store it.
func cloneSite(s armappservice.Site) armappservice.Site {
	b, err := s.MarshalJSON()
	if err != nil {
		panic(err)
	}
	var out armappservice.Site
	if err := out.UnmarshalJSON(b); err != nil {
		panic(err)
	}
	return out
}

// SiteInfo is what tests inspect of a site or slot.
type SiteInfo struct {
	Site     armappservice.Site
	Settings map[string]string
	// PackageDigest is the sha256 of the deployed zip ("" if none) and
	// Files its contents.
	PackageDigest string
	Files         map[string][]byte
	// Deployments counts deployments (all outcomes).
	Deployments int
}

// Site returns a copy of site rg/name (slot "" = production).
func (c *Cloud) Site(rg, name, slot string) (*SiteInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.lookup(rg, name, slot)
	if s == nil || (slot != "" && s == c.sites[rg+"/"+name]) {
		return nil, false
	}
	si := &SiteInfo{Site: cloneSite(s.view()), Settings: maps.Clone(s.settings), Deployments: len(s.deployments)}
	if s.content != nil {
		si.PackageDigest = s.content.digest
		si.Files = maps.Clone(s.content.files)
	}
	return si, true
}

// SetTags replaces a site's tags as another tool would (bumping its ETag).
func (c *Cloud) SetTags(rg, name string, tags map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.lookup(rg, name, ""); s != nil {
		s.obj.Tags = map[string]*string{}
		for k, v := range tags {
			s.obj.Tags[k] = to.Ptr(v)
		}
		s.etag++
	}
}
