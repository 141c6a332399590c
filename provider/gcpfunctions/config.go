package gcpfunctions

import (
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/functions/apiv2/functionspb"
	"cloud.google.com/go/run/apiv2/runpb"

	"github.com/updraft-dev/updraft/bundle"
	"github.com/updraft-dev/updraft/provider/driver"
)

// Bookkeeping updraft keeps on the function and its Cloud Run service.
const (
	labelPrefix  = "updraft-"
	labelDigest  = "updraft-digest" // base32 of the bundle's SHA-256
	labelHTTP    = "updraft-http"   // key of the HTTP trigger
	labelEvent   = "updraft-event"  // key of the event trigger
	envPrefix    = "UPDRAFT_"
	envFunction  = "UPDRAFT_FUNCTION"
	envEventKey  = "UPDRAFT_EVENT_KEY"
	envMeta      = "UPDRAFT_META" // per-revision record: digest, runtime, entry point, tracing, log format
	annRoute     = "updraft.dev/route"
	annRollout   = "updraft.dev/rollout"
	annVerdicts  = "updraft.dev/verdicts"
	candidateTag = "candidate"
	smokeTag     = "smoke"
	goEntryPoint = bundle.GCFEntryPoint // the entry point of the portable Go form
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// digestLabel encodes "sha256:<hex>" in a label value (lower-case, ≤ 63).
func digestLabel(digest string) string {
	b, err := hex.DecodeString(strings.TrimPrefix(digest, "sha256:"))
	if err != nil || len(b) == 0 {
		return ""
	}
	return strings.ToLower(b32.EncodeToString(b))
}

func digestFromLabel(v string) string {
	b, err := b32.DecodeString(strings.ToUpper(v))
	if err != nil || len(b) == 0 {
		return ""
	}
	return "sha256:" + hex.EncodeToString(b)
}

// meta is what UPDRAFT_META records in each revision's environment.
type meta struct {
	Digest  string `json:"d,omitempty"`
	Runtime string `json:"r,omitempty"`
	Entry   string `json:"e,omitempty"`
	Tracing bool   `json:"t,omitempty"`
	Log     string `json:"l,omitempty"`
}

func (m meta) encode() string {
	b, _ := json.Marshal(m)
	return string(b)
}

func decodeMeta(s string) meta {
	var m meta
	_ = json.Unmarshal([]byte(s), &m)
	return m
}

// portableRuntime maps a Cloud Functions runtime back to a portable id.
func (f *function) portableRuntime(r string) string {
	for _, k := range slices.Sorted(maps.Keys(f.opts.Runtimes)) {
		if f.opts.Runtimes[k] == r {
			return k
		}
	}
	return r
}

// RuntimesFromList builds a portable → Cloud Functions runtime table from
// a ListRuntimes response: for each language the newest 2nd gen runtime
// in stage GA (go → go126, nodejs → nodejs22 and the numbered ids such as
// nodejs20, python → python3.13, …). Pass it as Options.Runtimes.
func RuntimesFromList(resp *functionspb.ListRuntimesResponse) map[string]string {
	out := map[string]string{}
	best := map[string]int{}
	for _, r := range resp.GetRuntimes() {
		if r.GetStage() != functionspb.ListRuntimesResponse_GA || (r.GetEnvironment() != functionspb.Environment_GEN_2 && r.GetEnvironment() != 0) {
			continue
		}
		lang := strings.TrimRight(r.GetName(), "0123456789")
		ver, err := strconv.Atoi(strings.TrimPrefix(r.GetName(), lang))
		if err != nil {
			continue
		}
		id := r.GetName()
		if lang == "python" && ver >= 300 {
			id = fmt.Sprintf("python%d.%d", ver/100, ver%100)
		}
		out[id] = r.GetName()
		if ver > best[lang] {
			best[lang] = ver
			if lang == "go" {
				out["go"] = r.GetName()
			}
		}
	}
	return out
}

// memoryQuantity is the available_memory for mb.
func memoryQuantity(mb int) string { return strconv.Itoa(mb) + "Mi" }

// parseMemory converts a quantity ("256Mi", "1Gi", "512M") to MiB.
func parseMemory(q string) int {
	units := []struct {
		suffix string
		bytes  float64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(q, u.suffix); ok {
			v, err := strconv.ParseFloat(n, 64)
			if err != nil {
				return 0
			}
			mib := v * u.bytes / (1 << 20)
			m := int(mib)
			if float64(m) < mib {
				m++
			}
			return m
		}
	}
	return 0
}

// cpuFor is the CPU for mb of memory and a per-instance concurrency, by
// Cloud Run's coupling rules: the default CPU of the memory size, and at
// least 1 vCPU when an instance serves more than one request.
func cpuFor(mb, concurrency int) string {
	var c float64
	switch {
	case mb <= 128:
		c = 0.083
	case mb <= 256:
		c = 0.167
	case mb <= 512:
		c = 0.333
	case mb <= 1024:
		c = 0.583
	case mb <= 2048:
		c = 1
	case mb <= 8192:
		c = 2
	case mb <= 16384:
		c = 4
	default:
		c = 8
	}
	if concurrency > 1 && c < 1 {
		c = 1
	}
	return strconv.FormatFloat(c, 'f', -1, 64)
}

// parseSecretRef splits a Secret Manager version name
// (projects/P/secrets/S/versions/V) into its parts.
func parseSecretRef(ref string) (project, secret, version string, ok bool) {
	p := strings.Split(ref, "/")
	if len(p) != 6 || p[0] != "projects" || p[2] != "secrets" || p[4] != "versions" || p[1] == "" || p[3] == "" || p[5] == "" {
		return "", "", "", false
	}
	return p[1], p[3], p[5], true
}

func checkSecrets(secrets map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(secrets)) {
		if _, _, _, ok := parseSecretRef(secrets[k]); !ok {
			// Never echo the value: it may be a secret put here by mistake.
			return driver.NewError(driver.InvalidArgument, fmt.Sprintf("secret %s: Cloud Functions takes a Secret Manager version name, projects/PROJECT/secrets/NAME/versions/N (or /versions/latest), resolved by Cloud Run when an instance starts", k))
		}
	}
	return nil
}

func secretEnv(secrets map[string]string) []*functionspb.SecretEnvVar {
	var out []*functionspb.SecretEnvVar
	for _, k := range slices.Sorted(maps.Keys(secrets)) {
		p, s, v, _ := parseSecretRef(secrets[k])
		out = append(out, &functionspb.SecretEnvVar{Key: k, ProjectId: p, Secret: s, Version: v})
	}
	return out
}

func secretsOf(vs []*functionspb.SecretEnvVar) map[string]string {
	var out map[string]string
	for _, v := range vs {
		if out == nil {
			out = map[string]string{}
		}
		ver := v.Version
		if ver == "" {
			ver = "latest"
		}
		out[v.Key] = "projects/" + v.ProjectId + "/secrets/" + v.Secret + "/versions/" + ver
	}
	return out
}

// userEnv drops updraft's own variables.
func userEnv(env map[string]string) map[string]string {
	var out map[string]string
	for k, v := range env {
		if strings.HasPrefix(k, envPrefix) {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out
}

// userLabels drops updraft's and Google's own labels.
func userLabels(l map[string]string) map[string]string {
	var out map[string]string
	for k, v := range l {
		if strings.HasPrefix(k, labelPrefix) || strings.HasPrefix(k, "goog-") || k == "deployment-tool" {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out
}

// configOf converts a function to the driver's Config.
func (f *function) configOf(fn *functionspb.Function) driver.Config {
	bc, sc := fn.GetBuildConfig(), fn.GetServiceConfig()
	m := decodeMeta(sc.GetEnvironmentVariables()[envMeta])
	c := driver.Config{
		Runtime:      m.Runtime,
		Entrypoint:   bc.GetEntryPoint(),
		CodeDigest:   digestFromLabel(fn.GetLabels()[labelDigest]),
		MemoryMB:     parseMemory(sc.GetAvailableMemory()),
		Timeout:      time.Duration(sc.GetTimeoutSeconds()) * time.Second,
		Architecture: "amd64",
		Env:          userEnv(sc.GetEnvironmentVariables()),
		Secrets:      secretsOf(sc.GetSecretEnvironmentVariables()),
		Tracing:      m.Tracing,
		LogFormat:    cmpOr(m.Log, "text"),
		Labels:       userLabels(fn.GetLabels()),
		Identity:     sc.GetServiceAccountEmail(),
	}
	if c.Runtime == "" {
		c.Runtime = f.portableRuntime(bc.GetRuntime())
	}
	if c.Runtime == "go" && c.Entrypoint == goEntryPoint {
		c.Entrypoint = ""
	}
	if n := int(sc.GetMaxInstanceCount()); n > 0 {
		c.MaxConcurrency = &n
	}
	if c.Identity == f.opts.ServiceAccount {
		c.Identity = ""
	}
	return c
}

// revisionOf converts a Cloud Run revision. Labels are function-wide in
// Cloud Functions, so every revision reports the function's current ones.
func (f *function) revisionOf(r *runpb.Revision, fn *functionspb.Function) *driver.Revision {
	c := driver.Config{Architecture: "amd64", Labels: userLabels(fn.GetLabels()), Identity: r.GetServiceAccount(), LogFormat: "text"}
	var m meta
	if len(r.GetContainers()) > 0 {
		ct := r.GetContainers()[0]
		for _, e := range ct.GetEnv() {
			switch v := e.GetValues().(type) {
			case *runpb.EnvVar_Value:
				switch {
				case e.GetName() == envMeta:
					m = decodeMeta(v.Value)
				case strings.HasPrefix(e.GetName(), envPrefix):
				default:
					if c.Env == nil {
						c.Env = map[string]string{}
					}
					c.Env[e.GetName()] = v.Value
				}
			case *runpb.EnvVar_ValueSource:
				ref := v.ValueSource.GetSecretKeyRef()
				if ref == nil {
					continue
				}
				if c.Secrets == nil {
					c.Secrets = map[string]string{}
				}
				sec := ref.GetSecret()
				if !strings.HasPrefix(sec, "projects/") {
					sec = "projects/" + f.project + "/secrets/" + sec
				}
				c.Secrets[e.GetName()] = sec + "/versions/" + cmpOr(ref.GetVersion(), "latest")
			}
		}
		c.MemoryMB = parseMemory(ct.GetResources().GetLimits()["memory"])
	}
	c.Runtime, c.Entrypoint, c.CodeDigest, c.Tracing, c.LogFormat = m.Runtime, m.Entry, m.Digest, m.Tracing, cmpOr(m.Log, "text")
	if c.Runtime == "go" && c.Entrypoint == goEntryPoint {
		c.Entrypoint = ""
	}
	c.Timeout = r.GetTimeout().AsDuration()
	if n := int(r.GetScaling().GetMaxInstanceCount()); n > 0 {
		c.MaxConcurrency = &n
	}
	if c.Identity == f.opts.ServiceAccount {
		c.Identity = ""
	}
	return &driver.Revision{ID: lastSegment(r.GetName()), CodeDigest: m.Digest, Created: r.GetCreateTime().AsTime(), Config: c}
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func lastSegment(name string) string { return name[strings.LastIndex(name, "/")+1:] }

// markerJSON is the rollout marker as stored in the service annotation.
type markerJSON struct {
	ID        string `json:"id"`
	Holder    string `json:"holder,omitempty"`
	Stable    string `json:"stable,omitempty"`
	Candidate string `json:"candidate,omitempty"`
	Step      int    `json:"step,omitempty"`
	Percent   int    `json:"percent,omitempty"`
	Started   int64  `json:"started,omitempty"`   // Unix milliseconds
	Heartbeat int64  `json:"heartbeat,omitempty"` // Unix milliseconds
	LeaseMS   int64  `json:"leaseMs,omitempty"`
}

func encodeMarker(m *driver.Marker) string {
	mj := markerJSON{ID: m.ID, Holder: m.Holder, Stable: m.Stable, Candidate: m.Candidate, Step: m.Step, Percent: m.Percent}
	if !m.Started.IsZero() {
		mj.Started = m.Started.UnixMilli()
	}
	leaseToJSON(m, &mj)
	b, _ := json.Marshal(mj)
	return string(b)
}

func decodeMarker(s string) *driver.Marker {
	var mj markerJSON
	if s == "" || json.Unmarshal([]byte(s), &mj) != nil || mj.ID == "" {
		return nil
	}
	m := &driver.Marker{ID: mj.ID, Holder: mj.Holder, Stable: mj.Stable, Candidate: mj.Candidate, Step: mj.Step, Percent: mj.Percent}
	if mj.Started != 0 {
		m.Started = time.UnixMilli(mj.Started)
	}
	leaseFromJSON(&mj, m)
	return m
}

// trafficOf reads a service's traffic as a two-way split: the entry
// tagged "candidate" is the candidate; otherwise the larger share is
// stable. LATEST resolves to the latest ready revision.
func trafficOf(svc *runpb.Service) driver.Traffic {
	type entry struct {
		rev string
		pct int
		tag string
	}
	var es []entry
	for _, t := range svc.GetTraffic() {
		if t.GetPercent() == 0 {
			continue
		}
		rev := t.GetRevision()
		if t.GetType() == runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST {
			rev = lastSegment(svc.GetLatestReadyRevision())
		}
		es = append(es, entry{rev, int(t.GetPercent()), t.GetTag()})
	}
	slices.SortStableFunc(es, func(a, b entry) int {
		if (a.tag == candidateTag) != (b.tag == candidateTag) {
			if a.tag == candidateTag {
				return 1
			}
			return -1
		}
		return b.pct - a.pct
	})
	var t driver.Traffic
	if len(es) > 0 {
		t.Stable = es[0].rev
	}
	if len(es) > 1 {
		t.Candidate, t.CandidatePercent = es[1].rev, es[1].pct
	}
	return t
}
