package awslambda

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/updraft-dev/updraft/provider/driver"
	"github.com/updraft-dev/updraft/trigger"
)

// ReadScope limits a read to what a Spec manages (see GetScoped). It
// is the driver SPI's type (driver.ReadScope, read through
// driver.ScopedGetter), kept under this name for the adapter's callers.
type ReadScope = driver.ReadScope

// snapshot is one Get's reading, kept so that an Apply conditioned on
// its ETag works from it instead of reading again.
type snapshot struct {
	fn *lambda.GetFunctionOutput
	// scope is what was read; nil for a status read (everything).
	scope *ReadScope
	// aliases holds the routes read; a nil value means known absent.
	aliases map[string]*types.AliasConfiguration
	// triggers and provisioned hold the readings of the routes read.
	triggers    map[string]*routeTriggers
	provisioned map[string]*driver.Provisioned
	at          time.Time
}

// covers reports whether the snapshot read route's triggers (what is
// "triggers") or provisioned concurrency ("provisioned").
func (s *snapshot) covers(route, what string) bool {
	if s == nil {
		return false
	}
	if s.scope == nil {
		return true
	}
	if s.scope.Route != route {
		return false
	}
	return what == "triggers" && s.scope.Triggers || what == "provisioned" && s.scope.Provisioned
}

// recentFunction returns a copy of the tags and reserved concurrency of
// the last Get's reading when it is at most maxSnapshotAge old, for
// ListRevisions. The copy is made under the lock, before any Apply can
// take the reading and change it.
func (c *readCache) recentFunction() *lambda.GetFunctionOutput {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap == nil || time.Since(c.snap.at) > maxSnapshotAge {
		return nil
	}
	return &lambda.GetFunctionOutput{Tags: maps.Clone(c.snap.fn.Tags), Concurrency: c.snap.fn.Concurrency}
}

// maxSnapshotAge bounds how old a reading ListRevisions reuses.
const maxSnapshotAge = time.Minute

// clear forgets everything (the function was deleted).
func (c *readCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.snap = nil
	clear(c.routes)
	clear(c.keys)
}

// readCache is what the handle remembers between calls. An entry is used
// only under a precondition that would fail if it were stale: an Apply
// whose IfMatch equals the snapshot's RevisionId (every mutation then
// carries that RevisionId), an UpdateRoute whose IfMatch equals the
// cached alias's RevisionId (UpdateAlias carries it). A failed
// precondition is the signal to read again, so nothing here is read
// "just in case".
type readCache struct {
	mu   sync.Mutex
	snap *snapshot
	// routes are the latest known aliases, by route.
	routes map[string]*types.AliasConfiguration
	// keys maps versions to keyHash, learned from publishes.
	keys map[string]string
}

// take returns the snapshot whose RevisionId is etag, or nil. Either
// way the handle forgets it: the Apply about to run changes what it read.
func (c *readCache) take(etag string) *snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.snap
	c.snap = nil
	if etag == "" || s == nil || aws.ToString(s.fn.Configuration.RevisionId) != etag {
		return nil
	}
	return s
}

func (c *readCache) put(s *snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.snap = s
	for r, a := range s.aliases {
		if a != nil {
			c.routes[r] = a
		} else {
			delete(c.routes, r)
		}
	}
}

func (c *readCache) alias(route string) *types.AliasConfiguration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.routes[route]
}

func (c *readCache) setAlias(route string, a *types.AliasConfiguration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.routes[route] = a
	if c.snap != nil {
		// The alias as written is newer than the reading's: an Apply from
		// that reading must see it (and not create it again).
		c.snap.aliases[route] = a
	}
}

func (c *readCache) key(version string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.keys[version]
}

func (c *readCache) setKey(version, h string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys[version] = h
}

// Get implements driver.Function. It is a status read with no Spec
// context, so it reads everything: GetFunction (configuration, code
// digest, tags, reserved concurrency in one call), ListAliases,
// ListProvisionedConcurrencyConfigs, and per route the APIs of the
// trigger kinds its index tag lists. A deploy reads less with GetScoped.
func (f *function) Get(ctx context.Context) (*driver.State, error) {
	return f.GetScoped(ctx, nil)
}

// GetScoped is Get limited to sc (nil: everything, as Get). A scope with
// no triggers and no provisioned concurrency costs two calls:
// GetFunction and GetAlias.
func (f *function) GetScoped(ctx context.Context, sc *ReadScope) (*driver.State, error) {
	out, err := f.getFunction(ctx)
	if err != nil {
		return nil, err
	}
	if out.Tags == nil {
		out.Tags = map[string]string{}
	}
	snap := &snapshot{fn: out, scope: sc, aliases: map[string]*types.AliasConfiguration{}, triggers: map[string]*routeTriggers{},
		provisioned: map[string]*driver.Provisioned{}, at: time.Now()}
	if err := f.readRoutes(ctx, snap); err != nil {
		return nil, err
	}
	st := &driver.State{Name: f.name, Config: f.configOf(out.Configuration, out.Tags, reservedOf(out)),
		ETag: aws.ToString(out.Configuration.RevisionId), Routes: map[string]*driver.Route{}}
	for name, a := range snap.aliases {
		if a == nil {
			continue
		}
		rt := routeOf(a)
		rt.Provisioned = snap.provisioned[name]
		st.Routes[name] = rt
		if trs := snap.triggers[name]; trs != nil {
			for _, o := range trs.list() {
				st.Triggers = append(st.Triggers, o.trigger)
				if o.endpoint != "" && st.Endpoint == "" {
					st.Endpoint = o.endpoint
				}
				if d := f.esmDrift(trs, o); d != "" {
					if st.TriggerDrift == nil {
						st.TriggerDrift = map[string]string{}
					}
					st.TriggerDrift[o.key] = d
				}
			}
		}
	}
	slices.SortFunc(st.Triggers, func(a, b trigger.Trigger) int { return strings.Compare(a.TriggerKey(), b.TriggerKey()) })
	f.cache.put(snap)
	return st, nil
}

func (f *function) getFunction(ctx context.Context) (*lambda.GetFunctionOutput, error) {
	return do(ctx, f, "GetFunction", func(ctx context.Context) (*lambda.GetFunctionOutput, error) {
		return f.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(f.name)})
	})
}

// readRoutes fills snap's routes, provisioned concurrency and triggers.
func (f *function) readRoutes(ctx context.Context, snap *snapshot) error {
	sc, tags := snap.scope, snap.fn.Tags
	fnArn := aws.ToString(snap.fn.Configuration.FunctionArn)
	if sc != nil {
		a, err := f.getAlias(ctx, sc.Route)
		if err != nil {
			return err
		}
		snap.aliases[sc.Route] = a
		if a == nil {
			return nil
		}
		if sc.Provisioned {
			p, err := f.getProvisioned(ctx, sc.Route)
			if err != nil {
				return err
			}
			snap.provisioned[sc.Route] = provisionedOf(p)
		}
		if sc.Triggers {
			rt, err := f.readRoute(ctx, fnArn, sc.Route, tags)
			if err != nil {
				return err
			}
			snap.triggers[sc.Route] = rt
		}
		return nil
	}
	aliases, err := f.listAliases(ctx)
	if err != nil {
		return err
	}
	for i := range aliases {
		snap.aliases[aws.ToString(aliases[i].Name)] = &aliases[i]
	}
	if snap.provisioned, err = f.listProvisioned(ctx); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(snap.aliases)) {
		rt, err := f.readRoute(ctx, fnArn, name, tags)
		if err != nil {
			return err
		}
		snap.triggers[name] = rt
	}
	return nil
}

// getAlias reads one alias; nil, nil when it does not exist.
func (f *function) getAlias(ctx context.Context, route string) (*types.AliasConfiguration, error) {
	a, err := do(ctx, f, "GetAlias", func(ctx context.Context) (*lambda.GetAliasOutput, error) {
		return f.client.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(f.name), Name: aws.String(route)})
	})
	if apiCode(err) == "ResourceNotFoundException" && !strings.Contains(errMessage(err), "Function not found") {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ac := &types.AliasConfiguration{Name: a.Name, FunctionVersion: a.FunctionVersion, RoutingConfig: a.RoutingConfig,
		Description: a.Description, RevisionId: a.RevisionId, AliasArn: a.AliasArn}
	f.cache.setAlias(route, ac)
	return ac, nil
}

func (f *function) getProvisioned(ctx context.Context, route string) (*lambda.GetProvisionedConcurrencyConfigOutput, error) {
	p, err := do(ctx, f, "GetProvisionedConcurrencyConfig", func(ctx context.Context) (*lambda.GetProvisionedConcurrencyConfigOutput, error) {
		return f.client.GetProvisionedConcurrencyConfig(ctx, &lambda.GetProvisionedConcurrencyConfigInput{FunctionName: aws.String(f.name), Qualifier: aws.String(route)})
	})
	if apiCode(err) == "ProvisionedConcurrencyConfigNotFoundException" || apiCode(err) == "ResourceNotFoundException" {
		return nil, nil
	}
	return p, err
}

func provisionedOf(p *lambda.GetProvisionedConcurrencyConfigOutput) *driver.Provisioned {
	if p == nil {
		return nil
	}
	return &driver.Provisioned{Requested: int(aws.ToInt32(p.RequestedProvisionedConcurrentExecutions)),
		Ready: int(aws.ToInt32(p.AllocatedProvisionedConcurrentExecutions)), Status: string(p.Status), Reason: aws.ToString(p.StatusReason)}
}

func (f *function) listProvisioned(ctx context.Context) (map[string]*driver.Provisioned, error) {
	pcs := map[string]*driver.Provisioned{}
	pp := lambda.NewListProvisionedConcurrencyConfigsPaginator(f.client, &lambda.ListProvisionedConcurrencyConfigsInput{FunctionName: aws.String(f.name)})
	for pp.HasMorePages() {
		page, err := do(ctx, f, "ListProvisionedConcurrencyConfigs", func(ctx context.Context) (*lambda.ListProvisionedConcurrencyConfigsOutput, error) {
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
	return pcs, nil
}

func (f *function) listAliases(ctx context.Context) ([]types.AliasConfiguration, error) {
	var out []types.AliasConfiguration
	p := lambda.NewListAliasesPaginator(f.client, &lambda.ListAliasesInput{FunctionName: aws.String(f.name)})
	for p.HasMorePages() {
		page, err := do(ctx, f, "ListAliases", func(ctx context.Context) (*lambda.ListAliasesOutput, error) { return p.NextPage(ctx) })
		if err != nil {
			return nil, err
		}
		out = append(out, page.Aliases...)
	}
	return out, nil
}

// ListRevisions implements driver.Function: ListVersionsByFunction, plus
// GetFunction for the function-wide tags and reserved concurrency unless
// this handle read them in the last minute (a Plan's Get just before).
func (f *function) ListRevisions(ctx context.Context) ([]*driver.Revision, error) {
	vs, err := f.listVersions(ctx)
	if err != nil {
		return nil, err
	}
	fn := f.cache.recentFunction()
	if fn == nil {
		if fn, err = f.getFunction(ctx); err != nil {
			return nil, err
		}
	}
	out := make([]*driver.Revision, len(vs))
	for i := range vs {
		out[i] = f.revisionOf(&vs[i], fn.Tags, reservedOf(fn))
		f.cache.setKey(aws.ToString(vs[i].Version), keyHash(&vs[i]))
	}
	return out, nil
}

func reservedOf(o *lambda.GetFunctionOutput) *int32 {
	if o == nil || o.Concurrency == nil {
		return nil
	}
	return o.Concurrency.ReservedConcurrentExecutions
}
