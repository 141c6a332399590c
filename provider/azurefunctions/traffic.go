package azurefunctions

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appservice/armappservice/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor"

	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

func timeNow() time.Time { return time.Now().UTC() }

func (f *function) routeName(route string) error {
	if route != "live" {
		return driver.RouteNotFound(f.app, route)
	}
	return nil
}

// ListRevisions implements driver.Function.
func (f *function) ListRevisions(ctx context.Context) ([]*driver.Revision, error) {
	l, err := f.load(ctx)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, notFoundErr(f.app)
	}
	out := make([]*driver.Revision, len(l.ix.Revisions))
	for i, r := range l.ix.Revisions {
		out[i] = toRevision(r)
	}
	return out, nil
}

// UpdateRoute implements driver.Function. The route is the production
// host; its record (serving revision, marker, verdicts) is a set of site
// tags written in one PUT conditioned on the site's ETag. There is no
// split: the route serves one revision. Moving it on Flex redeploys the
// revision's kept package and settings (skipping the package when its
// digest is live); on Premium it swaps the staging slot in, after
// deploying the revision there if it is not. The tags name the new
// revision with a deploying flag before the deployment starts, so a run
// that dies half way leaves a route that the next traffic write deploys
// again.
//
// Its branches are the Flex and the Premium paths above and the record
// write they share, kept in one function so the order of the writes
// (tags first, then the deployment) shows.
func (f *function) UpdateRoute(ctx context.Context, route string, u *driver.RouteUpdate, opts *driver.ConditionOptions) (*driver.Route, error) {
	if t := u.Traffic; t != nil && t.Candidate != "" && t.CandidatePercent > 0 {
		return nil, unimplemented("Azure Functions cannot split a route's traffic by percent (Flex has no slots; Premium slot routing is unreliable for function apps)")
	}
	l, err := f.load(ctx)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, notFoundErr(f.app)
	}
	tags := l.tags()
	exists := route == "live" && tagValue(tags, tagLive) != ""
	switch {
	case route != "live" && u.Traffic != nil:
		return nil, invalid("route %q: an Azure function app has one route, live (its production host)", route)
	case !exists && opts.IfMatch != "":
		return nil, driver.CheckETag("route "+route+" of "+f.app, opts.IfMatch, "")
	case !exists && u.Traffic == nil:
		return nil, driver.RouteNotFound(f.app, route)
	}
	if err := driver.CheckETag("route live of "+f.app, opts.IfMatch, routeETag(tags)); err != nil {
		return nil, err
	}
	editRecord := func(tags map[string]*string) {
		switch {
		case u.ClearMarker:
			setTag(tags, tagMarker, "")
		case u.Marker != nil:
			setTag(tags, tagMarker, encodeMarker(u.Marker))
		}
		if u.Verdicts != nil {
			setTag(tags, tagVerdicts, encodeVerdicts(u.Verdicts))
		}
	}
	var rec *record
	if u.Traffic != nil {
		if rec = l.ix.find(u.Traffic.Stable); rec == nil {
			return nil, driver.RevisionNotFound(f.app, u.Traffic.Stable)
		}
		if tagValue(tags, tagLive) == rec.ID && tagValue(tags, tagDeploying) == "" {
			rec = nil // already serving
		}
	}
	if rec == nil {
		out, err := f.updateTags(ctx, opts.IfMatch, func(tags map[string]*string) error { editRecord(tags); return nil })
		if err != nil {
			return nil, err
		}
		return routeOf(out), nil
	}
	var out map[string]*string
	if f.opts.Plan == Premium {
		out, err = f.swapTo(ctx, l, rec, opts.IfMatch, editRecord)
	} else {
		out, err = f.redeploy(ctx, l, rec, opts.IfMatch, editRecord)
	}
	if err != nil {
		return nil, err
	}
	return routeOf(out), nil
}

// redeploy makes production run rec on Flex.
func (f *function) redeploy(ctx context.Context, l *live, rec *record, ifMatch string, edit func(map[string]*string)) (map[string]*string, error) {
	cur := tagValue(l.tags(), tagLive)
	interrupted := tagValue(l.tags(), tagDeploying) != ""
	if _, err := f.updateTags(ctx, ifMatch, func(tags map[string]*string) error {
		edit(tags)
		setTag(tags, tagLive, rec.ID)
		setTag(tags, tagDeploying, "1")
		return nil
	}); err != nil {
		return nil, err
	}
	l, err := f.load(ctx)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, notFoundErr(f.app)
	}
	prov, err := strconv.Atoi(tagValue(l.tags(), tagProvisioned))
	if err != nil {
		prov = 0
	}
	if _, err := f.deployRecord(ctx, l, "", rec, l.ix.find(cur), prov, nil, interrupted); err != nil {
		return nil, err
	}
	return f.updateTags(ctx, "", func(tags map[string]*string) error {
		setTag(tags, tagPackage, rec.Package)
		setTag(tags, tagDeploying, "")
		return nil
	})
}

// swapTo makes rec serve production on Premium: deploy it to the staging
// slot unless it is there, then swap the slot with production.
func (f *function) swapTo(ctx context.Context, l *live, rec *record, ifMatch string, edit func(map[string]*string)) (map[string]*string, error) {
	tags := l.tags()
	if tagValue(tags, tagStaging) != rec.ID || tagValue(tags, tagDeploying) != "" {
		prev := l.ix.find(tagValue(tags, tagStaging))
		if prev == nil {
			prev = l.ix.Draft
		}
		if err := driver.CheckETag("route live of "+f.app, ifMatch, routeETag(tags)); err != nil {
			return nil, err
		}
		interrupted := tagValue(tags, tagDeploying) != ""
		if _, err := f.deployRecord(ctx, l, f.opts.StagingSlot, rec, prev, -1, nil, interrupted); err != nil {
			return nil, err
		}
	}
	if _, err := f.updateTags(ctx, ifMatch, func(tags map[string]*string) error {
		edit(tags)
		setTag(tags, tagStaging, rec.ID)
		setTag(tags, tagSlotPackage, rec.Package)
		setTag(tags, tagDeploying, "1")
		return nil
	}); err != nil {
		return nil, err
	}
	p, err := f.web.BeginSwapSlotWithProduction(ctx, f.rg, f.app, armappservice.CsmSlotEntity{
		TargetSlot: to.Ptr(f.opts.StagingSlot), PreserveVnet: to.Ptr(true)}, nil)
	if err != nil {
		return nil, err
	}
	if _, err := p.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: f.opts.PollInterval}); err != nil {
		return nil, err
	}
	return f.updateTags(ctx, "", func(tags map[string]*string) error {
		live, staged := tagValue(tags, tagLive), tagValue(tags, tagStaging)
		lp, sp := tagValue(tags, tagPackage), tagValue(tags, tagSlotPackage)
		setTag(tags, tagLive, staged)
		setTag(tags, tagStaging, live)
		setTag(tags, tagPackage, sp)
		setTag(tags, tagSlotPackage, lp)
		setTag(tags, tagDeploying, "")
		return nil
	})
}

// DeleteRevision implements driver.Function: it forgets the revision and
// deletes its kept package when nothing else uses it.
func (f *function) DeleteRevision(ctx context.Context, id string) error {
	l, err := f.load(ctx)
	if err != nil {
		return err
	}
	if l == nil {
		return notFoundErr(f.app)
	}
	rec := l.ix.find(id)
	if rec == nil {
		return driver.RevisionNotFound(f.app, id)
	}
	tags := l.tags()
	if err := driver.CheckNotServing(f.app, id, map[string]driver.Traffic{"live": {Stable: tagValue(tags, tagLive)}}); err != nil {
		return err
	}
	keep := []*record{}
	used := false
	for _, r := range l.ix.Revisions {
		if r.ID != id {
			keep = append(keep, r)
			used = used || r.Package == rec.Package
		}
	}
	used = used || (l.ix.Draft != nil && l.ix.Draft.Package == rec.Package) ||
		tagValue(tags, tagPackage) == rec.Package || tagValue(tags, tagSlotPackage) == rec.Package
	l.ix.Revisions = keep
	if err := l.st.writeIndex(ctx, l.ix); err != nil {
		return err
	}
	if tagValue(tags, tagStaging) == id {
		// The staging slot still holds the package, as no revision.
		if _, err := f.updateTags(ctx, "", func(tags map[string]*string) error { setTag(tags, tagStaging, ""); return nil }); err != nil {
			return err
		}
	}
	if !used {
		return l.st.deletePackage(ctx, rec.Package)
	}
	return nil
}

// Delete implements driver.Function: the app (with its slots) and the
// revisions kept for it.
func (f *function) Delete(ctx context.Context) error {
	l, err := f.load(ctx)
	if err != nil {
		return err
	}
	if l == nil {
		return notFoundErr(f.app)
	}
	if _, err := f.web.Delete(ctx, f.rg, f.app, &armappservice.WebAppsClientDeleteOptions{DeleteEmptyServerFarm: to.Ptr(true)}); err != nil {
		return err
	}
	if l.st != nil {
		return l.st.deleteAll(ctx, l.ix)
	}
	return nil
}

// hostOf finds the revision a request names (route "live" when id is
// "") and the slot whose host serves it ("" = production). what names
// the operation in the Unimplemented message of a revision no host runs.
func (f *function) hostOf(l *live, id, route, what string) (*record, string, error) {
	tags := l.tags()
	if id == "" {
		if err := f.routeName(route); err != nil {
			return nil, "", err
		}
		if id = tagValue(tags, tagLive); id == "" {
			return nil, "", driver.RouteNotFound(f.app, route)
		}
	}
	rec := l.ix.find(id)
	switch {
	case rec == nil:
		return nil, "", driver.RevisionNotFound(f.app, id)
	case id == tagValue(tags, tagLive):
		return rec, "", nil
	case f.opts.Plan == Premium && id == tagValue(tags, tagStaging):
		return rec, f.opts.StagingSlot, nil
	case f.opts.Plan == Flex:
		return nil, "", unimplemented("%s revision %s of %s: it is not deployed, and Flex Consumption runs only the live revision (no slots); roll out all at once and gate on the live revision", what, id, f.app)
	}
	return nil, "", unimplemented("%s revision %s of %s: it is in neither the production nor the %s slot", what, id, f.app, f.opts.StagingSlot)
}

// hostKey returns the default function key of a slot's host.
func (f *function) hostKey(ctx context.Context, slot string) (string, error) {
	var keys armappservice.HostKeys
	if slot == "" {
		r, err := f.web.ListHostKeys(ctx, f.rg, f.app, nil)
		if err != nil {
			return "", err
		}
		keys = r.HostKeys
	} else {
		r, err := f.web.ListHostKeysSlot(ctx, f.rg, f.app, slot, nil)
		if err != nil {
			return "", err
		}
		keys = r.HostKeys
	}
	if k := keys.FunctionKeys["default"]; k != nil {
		return *k, nil
	}
	return "", nil
}

// httpTriggerOf returns the record's HTTP trigger, if it has one.
func httpTriggerOf(rec *record) (*trigger.HTTP, error) {
	ts, err := decodeTriggers(rec.Triggers)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if h, ok := t.(trigger.HTTP); ok {
			return &h, nil
		}
	}
	return nil, nil
}

// Invoke implements driver.Function: an HTTP POST of the payload to the
// host serving the revision (production, or the Premium staging slot),
// with a host key when the trigger needs one. A 5xx answer is a function
// error.
func (f *function) Invoke(ctx context.Context, req *driver.InvokeRequest) (*driver.InvokeResult, error) {
	l, err := f.load(ctx)
	if err != nil {
		return nil, err
	}
	rec, slot, err := f.hostOf(l, req.Revision, req.Route, "invoking")
	if err != nil {
		return nil, err
	}
	ht, err := httpTriggerOf(rec)
	if err != nil {
		return nil, err
	}
	if ht == nil {
		return nil, unimplemented("revision %s of %s has no HTTP trigger to invoke", rec.ID, f.app)
	}
	site, _, err := f.getSlot(ctx, slot)
	if err != nil {
		return nil, err
	}
	if site == nil || site.Properties == nil || site.Properties.DefaultHostName == nil {
		return nil, notFoundErr(f.app)
	}
	key := ""
	if ht.Auth != trigger.AuthNone {
		if key, err = f.hostKey(ctx, slot); err != nil {
			return nil, err
		}
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+*site.Properties.DefaultHostName+"/", bytes.NewReader(req.Payload))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	if key != "" {
		hreq.Header.Set("x-functions-key", key)
	}
	start := time.Now()
	resp, err := f.opts.Transport.Do(hreq)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 6<<20))
	if err != nil {
		return nil, err
	}
	res := &driver.InvokeResult{Revision: rec.ID, Payload: body, Duration: time.Since(start)}
	switch {
	case resp.StatusCode >= 500:
		res.FunctionError = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, shortBody(body))
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, driver.NewError(driver.PermissionDenied, fmt.Sprintf("invoking %s: HTTP %d", f.app, resp.StatusCode))
	}
	return res, nil
}

// Metrics implements driver.Function with Azure Monitor's App Service
// metrics of the host serving the revision (Requests, Http2xx, Http4xx,
// Http5xx; Errors are the 5xx responses). The metrics belong to a host,
// not a revision: the revision must be the one on production (or, on
// Premium, in the staging slot) for the whole window.
func (f *function) Metrics(ctx context.Context, q *driver.MetricsQuery) (*driver.Metrics, error) {
	if f.opts.MetricsClient == nil {
		return nil, unimplemented("metrics for %s: no Azure Monitor client (set Options.MetricsClient; URLs get one)", f.app)
	}
	l, err := f.load(ctx)
	if err != nil {
		return nil, err
	}
	_, slot, err := f.hostOf(l, q.Revision, cmp.Or(q.Route, "live"), "reading metrics of")
	if err != nil {
		return nil, err
	}
	resource := ""
	if l.site.ID != nil {
		resource = *l.site.ID
	}
	if slot != "" {
		resource += "/slots/" + slot
	}
	since, until := q.Since, q.Until
	if until.IsZero() {
		until = timeNow()
	}
	if since.IsZero() {
		since = until.Add(-time.Hour)
	}
	resp, err := f.opts.MetricsClient.List(ctx, resource, &armmonitor.MetricsClientListOptions{
		Metricnames: to.Ptr("Requests,Http2xx,Http4xx,Http5xx"), Aggregation: to.Ptr("Total"), Interval: to.Ptr("PT1M"),
		Timespan: to.Ptr(since.UTC().Truncate(time.Second).Format(time.RFC3339) + "/" +
			until.UTC().Add(time.Second-1).Truncate(time.Second).Format(time.RFC3339)),
	})
	if err != nil {
		return nil, err
	}
	m := &driver.Metrics{HTTP: true}
	for _, metric := range resp.Value {
		if metric == nil || metric.Name == nil || metric.Name.Value == nil {
			continue
		}
		var total int64
		for _, ts := range metric.Timeseries {
			for _, d := range ts.Data {
				if d != nil && d.Total != nil {
					total += int64(*d.Total)
				}
			}
		}
		switch *metric.Name.Value {
		case "Requests":
			m.Invocations = total
		case "Http2xx":
			m.Status2xx = total
		case "Http4xx":
			m.Status4xx = total
		case "Http5xx":
			m.Status5xx, m.Errors = total, total
		}
	}
	return m, nil
}
