package azurefunctions

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/appservice/armappservice/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// Site tags updraft owns. Tag values hold at most 256 characters, so
// longer values are split over NAME, NAME.1, NAME.2, ….
const (
	tagPrefix      = "updraft-"
	tagLive        = "updraft-live"         // revision serving production
	tagStaging     = "updraft-staging"      // revision in the Premium staging slot
	tagPackage     = "updraft-package"      // digest of the package live on production
	tagSlotPackage = "updraft-slot-package" // digest of the package in the staging slot
	tagDeploying   = "updraft-deploying"    // a SetTraffic redeploy is under way
	tagMarker      = "updraft-marker"
	tagVerdicts    = "updraft-verdicts"
	tagProvisioned = "updraft-provisioned"
	tagRevisions   = "updraft-revisions" // the revision container, so Get finds it
	maxTagValue    = 256
)

// record is a revision (or the draft): what updraft applied, and the
// package that holds its code, host.json and function.json files.
type record struct {
	ID      string        `json:"id,omitempty"`
	Created time.Time     `json:"created"`
	Config  driver.Config `json:"config"`
	// Triggers are kind-tagged portable triggers.
	Triggers []triggerJSON `json:"triggers"`
	// Package is the deployed zip's digest; PackageSize its size.
	Package     string `json:"package"`
	PackageSize int64  `json:"packageSize"`
	// Settings are the app settings updraft manages for this revision:
	// environment, Key Vault references, trigger connections.
	Settings map[string]string `json:"settings"`
}

type triggerJSON struct {
	Kind trigger.Kind    `json:"kind"`
	Spec json.RawMessage `json:"spec"`
}

func encodeTriggers(ts []trigger.Trigger) []triggerJSON {
	out := make([]triggerJSON, 0, len(ts))
	for _, t := range ts {
		b, _ := json.Marshal(t)
		out = append(out, triggerJSON{Kind: t.Kind(), Spec: b})
	}
	return out
}

func decodeTriggers(in []triggerJSON) ([]trigger.Trigger, error) {
	out := make([]trigger.Trigger, 0, len(in))
	for _, tj := range in {
		var t trigger.Trigger
		var err error
		switch tj.Kind {
		case trigger.KindHTTP:
			var v trigger.HTTP
			err, t = json.Unmarshal(tj.Spec, &v), &v
		case trigger.KindQueue:
			var v trigger.Queue
			err, t = json.Unmarshal(tj.Spec, &v), &v
		case trigger.KindStream:
			var v trigger.Stream
			err, t = json.Unmarshal(tj.Spec, &v), &v
		case trigger.KindSchedule:
			var v trigger.Schedule
			err, t = json.Unmarshal(tj.Spec, &v), &v
		case trigger.KindStorage:
			var v trigger.Storage
			err, t = json.Unmarshal(tj.Spec, &v), &v
		default:
			err = fmt.Errorf("unknown trigger kind %q", tj.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("revision record: trigger: %w", err)
		}
		out = append(out, deref(t))
	}
	return out, nil
}

func deref(t trigger.Trigger) trigger.Trigger {
	switch v := t.(type) {
	case *trigger.HTTP:
		return *v
	case *trigger.Queue:
		return *v
	case *trigger.Stream:
		return *v
	case *trigger.Schedule:
		return *v
	case *trigger.Storage:
		return *v
	}
	return t
}

// index is the revision container's record of one app, kept in one blob
// (APP/revisions.json) written with If-Match on its ETag.
type index struct {
	Next      int       `json:"next"`
	Draft     *record   `json:"draft,omitempty"`
	Revisions []*record `json:"revisions"`

	etag azcore.ETag
}

func (ix *index) find(id string) *record {
	for _, r := range ix.Revisions {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// revStore is a revision container.
type revStore struct {
	c   *container.Client
	app string
}

func (f *function) store(url string) (*revStore, error) {
	if url == "" {
		return nil, driver.NewError(driver.FailedPrecondition,
			"no revision container: set Options.RevisionContainer (or StorageAccount) so revisions and their packages can be kept")
	}
	c, err := container.NewClient(url, f.cred, &container.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: f.opts.Transport,
		Retry:     policy.RetryOptions{MaxRetries: int32(f.opts.MaxRetries), RetryDelay: f.opts.RetryDelay},
	}})
	if err != nil {
		return nil, err
	}
	return &revStore{c: c, app: f.app}, nil
}

func (s *revStore) indexBlob() *blockblob.Client {
	return s.c.NewBlockBlobClient("updraft/" + s.app + "/revisions.json")
}

func (s *revStore) packageBlob(digest string) *blockblob.Client {
	return s.c.NewBlockBlobClient("updraft/" + s.app + "/packages/" + strings.TrimPrefix(digest, "sha256:") + ".zip")
}

func (s *revStore) readIndex(ctx context.Context) (*index, error) {
	resp, err := s.indexBlob().DownloadStream(ctx, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) {
		return &index{Next: 1}, nil
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	ix := &index{}
	if err := json.Unmarshal(b, ix); err != nil {
		return nil, driver.NewError(driver.Internal, "revision index of "+s.app+" is unreadable: "+err.Error())
	}
	if resp.ETag != nil {
		ix.etag = *resp.ETag
	}
	return ix, nil
}

// writeIndex stores ix, conditioned on the ETag it was read with.
func (s *revStore) writeIndex(ctx context.Context, ix *index) error {
	b, err := json.Marshal(ix)
	if err != nil {
		return err
	}
	mac := &blob.ModifiedAccessConditions{}
	if ix.etag == "" {
		mac.IfNoneMatch = to.Ptr(azcore.ETagAny)
	} else {
		mac.IfMatch = to.Ptr(ix.etag)
	}
	resp, err := s.indexBlob().Upload(ctx, streaming.NopCloser(bytes.NewReader(b)), &blockblob.UploadOptions{
		HTTPHeaders:      &blob.HTTPHeaders{BlobContentType: to.Ptr("application/json")},
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: mac},
	})
	if bloberror.HasCode(err, bloberror.ConditionNotMet, bloberror.BlobAlreadyExists) {
		return driver.NewError(driver.FailedPrecondition, "the revisions of "+s.app+" changed during this call (another deployment?): read them again")
	}
	if err != nil {
		return err
	}
	if resp.ETag != nil {
		ix.etag = *resp.ETag
	}
	return nil
}

func (s *revStore) putPackage(ctx context.Context, digest string, zip []byte) error {
	_, err := s.packageBlob(digest).Upload(ctx, streaming.NopCloser(bytes.NewReader(zip)), &blockblob.UploadOptions{
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: to.Ptr("application/zip")},
	})
	return err
}

func (s *revStore) hasPackage(ctx context.Context, digest string) (bool, error) {
	_, err := s.packageBlob(digest).GetProperties(ctx, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) {
		return false, nil
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
		return false, nil // HEAD answers carry no error body
	}
	return err == nil, err
}

func (s *revStore) getPackage(ctx context.Context, digest string) ([]byte, error) {
	resp, err := s.packageBlob(digest).DownloadStream(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	if "sha256:"+hex.EncodeToString(sum[:]) != digest {
		return nil, driver.NewError(driver.Internal, "kept package "+digest+" is corrupt in the revision container")
	}
	return b, nil
}

func (s *revStore) deletePackage(ctx context.Context, digest string) error {
	_, err := s.packageBlob(digest).Delete(ctx, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return nil
	}
	return err
}

func (s *revStore) deleteAll(ctx context.Context, ix *index) error {
	seen := map[string]bool{}
	all := slices.Clone(ix.Revisions)
	if ix.Draft != nil {
		all = append(all, ix.Draft)
	}
	for _, r := range all {
		if r.Package != "" && !seen[r.Package] {
			seen[r.Package] = true
			if err := s.deletePackage(ctx, r.Package); err != nil {
				return err
			}
		}
	}
	_, err := s.indexBlob().Delete(ctx, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) {
		return nil
	}
	return err
}

// tags reads the updraft tags of a site.
func tagValue(tags map[string]*string, name string) string {
	var b strings.Builder
	for i := 0; ; i++ {
		k := name
		if i > 0 {
			k = name + "." + strconv.Itoa(i)
		}
		v, ok := tags[k]
		if !ok || v == nil {
			break
		}
		b.WriteString(*v)
	}
	return b.String()
}

// setTag sets (or, with "", removes) a possibly split tag value.
func setTag(tags map[string]*string, name, value string) {
	for k := range tags {
		if k == name || strings.HasPrefix(k, name+".") {
			delete(tags, k)
		}
	}
	for i := 0; value != ""; i++ {
		n := min(len(value), maxTagValue)
		k := name
		if i > 0 {
			k = name + "." + strconv.Itoa(i)
		}
		tags[k] = to.Ptr(value[:n])
		value = value[n:]
	}
}

// markerJSON is the marker as stored in its tag.
type markerJSON struct {
	ID        string    `json:"i"`
	Holder    string    `json:"h"`
	Stable    string    `json:"s"`
	Candidate string    `json:"c,omitempty"`
	Step      int       `json:"n,omitempty"`
	Percent   int       `json:"p,omitempty"`
	Started   time.Time `json:"t"`
	Heartbeat time.Time `json:"b,omitzero"`
	Lease     int64     `json:"l,omitempty"` // milliseconds
}

func encodeMarker(m *driver.Marker) string {
	if m == nil {
		return ""
	}
	b, _ := json.Marshal(markerJSON{ID: m.ID, Holder: m.Holder, Stable: m.Stable, Candidate: m.Candidate, Step: m.Step, Percent: m.Percent,
		Started: m.Started.UTC(), Heartbeat: m.Heartbeat.UTC(), Lease: m.Lease.Milliseconds()})
	return string(b)
}

func decodeMarker(s string) *driver.Marker {
	if s == "" {
		return nil
	}
	var m markerJSON
	if json.Unmarshal([]byte(s), &m) != nil {
		return nil
	}
	return &driver.Marker{ID: m.ID, Holder: m.Holder, Stable: m.Stable, Candidate: m.Candidate, Step: m.Step, Percent: m.Percent,
		Started: m.Started, Heartbeat: m.Heartbeat, Lease: time.Duration(m.Lease) * time.Millisecond}
}

// maxFailedVerdicts bounds the failed revisions kept in the verdicts tag
// (the newest are kept): tags are few and small.
const maxFailedVerdicts = 32

// encodeVerdicts writes verdicts as "GOOD;FAILED1,FAILED2".
func encodeVerdicts(v *driver.Verdicts) string {
	failed := v.Failed
	if len(failed) > maxFailedVerdicts {
		failed = failed[len(failed)-maxFailedVerdicts:]
	}
	if v.Good == "" && len(failed) == 0 {
		return ";"
	}
	return v.Good + ";" + strings.Join(failed, ",")
}

func decodeVerdicts(s string) *driver.Verdicts {
	good, failed, ok := strings.Cut(s, ";")
	if !ok {
		return nil
	}
	v := &driver.Verdicts{Good: good}
	if failed != "" {
		v.Failed = strings.Split(failed, ",")
	}
	return v
}

// routeOf is the live route described by the site tags.
func routeOf(tags map[string]*string) *driver.Route {
	r := &driver.Route{Name: "live", Traffic: driver.Traffic{Stable: tagValue(tags, tagLive)}, ETag: routeETag(tags),
		Marker: decodeMarker(tagValue(tags, tagMarker)), Verdicts: decodeVerdicts(tagValue(tags, tagVerdicts))}
	if n, err := strconv.Atoi(tagValue(tags, tagProvisioned)); err == nil && n > 0 {
		r.Provisioned = &driver.Provisioned{Requested: n, Ready: n, Status: "READY"}
	}
	return r
}

// routeETag hashes the tags that make up the route.
func routeETag(tags map[string]*string) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		if strings.HasPrefix(k, tagPrefix) && tags[k] != nil {
			fmt.Fprintf(h, "%s=%s\n", k, *tags[k])
		}
	}
	return "r" + hex.EncodeToString(h.Sum(nil))[:16]
}

// configETag hashes the draft.
func configETag(r *record) string {
	if r == nil {
		return ""
	}
	b, _ := json.Marshal(r)
	sum := sha256.Sum256(b)
	return "c" + hex.EncodeToString(sum[:])[:16]
}

// live is what load reads.
type live struct {
	site     armappservice.Site
	siteETag string
	ix       *index
	st       *revStore
}

func (l *live) tags() map[string]*string {
	if l.site.Tags == nil {
		l.site.Tags = map[string]*string{}
	}
	return l.site.Tags
}

func (l *live) flex() bool {
	return l.site.Properties != nil && l.site.Properties.FunctionAppConfig != nil
}

// revisionURL is where revisions of the site are kept.
func (f *function) revisionURL(site *armappservice.Site) string {
	if site != nil {
		if v := tagValue(site.Tags, tagRevisions); v != "" {
			return v
		}
	}
	if f.opts.RevisionContainer != "" {
		return f.opts.RevisionContainer
	}
	if site != nil && site.Properties != nil && site.Properties.FunctionAppConfig != nil {
		if d := site.Properties.FunctionAppConfig.Deployment; d != nil && d.Storage != nil && d.Storage.Value != nil {
			return *d.Storage.Value
		}
	}
	if f.opts.Plan == Flex {
		return f.opts.DeploymentContainer
	}
	return ""
}

// getSite reads the production site and its ETag; a *missingError
// (NotFound) if absent.
func (f *function) getSite(ctx context.Context) (*armappservice.Site, string, error) {
	var raw *http.Response
	resp, err := f.web.Get(policy.WithCaptureResponse(ctx, &raw), f.rg, f.app, nil)
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
		return nil, "", &missingError{app: f.app, err: err}
	}
	if err != nil {
		return nil, "", err
	}
	etag := ""
	if raw != nil {
		etag = raw.Header.Get("ETag")
	}
	return &resp.Site, etag, nil
}

// load reads the site and its revision index; a *missingError when the
// app does not exist.
func (f *function) load(ctx context.Context) (*live, error) {
	site, etag, err := f.getSite(ctx)
	if err != nil || site == nil {
		return nil, err
	}
	l := &live{site: *site, siteETag: etag}
	if (l.flex() && f.opts.Plan != Flex) || (!l.flex() && f.opts.Plan == Flex) {
		plan := Premium
		if l.flex() {
			plan = Flex
		}
		return nil, driver.NewError(driver.FailedPrecondition, fmt.Sprintf("app %s is on the %s plan: open it with plan=%s", f.app, plan, plan))
	}
	url := f.revisionURL(site)
	if url == "" {
		l.ix = &index{Next: 1}
		return l, nil
	}
	if l.st, err = f.store(url); err != nil {
		return nil, err
	}
	if l.ix, err = l.st.readIndex(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// missingError is ARM's 404 for the app, kept so ErrorAs reaches it.
type missingError struct {
	app string
	err error
}

func (e *missingError) Error() string { return "function app " + e.app + " does not exist" }
func (e *missingError) Unwrap() error { return e.err }

func isMissing(err error) bool {
	var m *missingError
	return errors.As(err, &m)
}

func notFoundErr(app string) error {
	return driver.NewError(driver.NotFound, "function app "+app+" does not exist")
}

// Get implements driver.Function.
func (f *function) Get(ctx context.Context) (*driver.State, error) {
	l, err := f.load(ctx)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, notFoundErr(f.app)
	}
	return f.state(l)
}

func (f *function) state(l *live) (*driver.State, error) {
	st := &driver.State{Name: f.app, Routes: map[string]*driver.Route{}}
	if p := l.site.Properties; p != nil && p.DefaultHostName != nil {
		st.Endpoint = "https://" + *p.DefaultHostName + "/"
	}
	if d := l.ix.Draft; d != nil {
		st.Config = d.Config.Clone()
		st.ETag = configETag(d)
		ts, err := decodeTriggers(d.Triggers)
		if err != nil {
			return nil, err
		}
		st.Triggers = ts
	}
	st.Config.Labels = labels(l.site.Tags)
	tags := l.tags()
	if tagValue(tags, tagLive) != "" {
		st.Routes["live"] = routeOf(tags)
	}
	return st, nil
}

// labels are the site tags that are not updraft's own or Azure's hidden ones.
func labels(tags map[string]*string) map[string]string {
	var out map[string]string
	for k, v := range tags {
		if strings.HasPrefix(k, tagPrefix) || strings.HasPrefix(k, "hidden-") || v == nil {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = *v
	}
	return out
}
