package awslambda

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/updraft-dev/updraft/provider/driver"
)

// runtimes maps portable runtime ids to Lambda runtimes.
var runtimes = map[string]types.Runtime{
	"go":         types.RuntimeProvidedal2023,
	"nodejs22":   types.RuntimeNodejs22x,
	"nodejs20":   types.RuntimeNodejs20x,
	"python3.13": types.RuntimePython313,
	"python3.12": types.RuntimePython312,
	"java21":     types.RuntimeJava21,
}

func runtimeIDs() []string { return slices.Sorted(maps.Keys(runtimes)) }

func portableRuntime(r types.Runtime) string {
	for k, v := range runtimes {
		if v == r {
			return k
		}
	}
	return string(r)
}

func lambdaArch(a string) types.Architecture {
	if a == "arm64" {
		return types.ArchitectureArm64
	}
	return types.ArchitectureX8664
}

func portableArch(as []types.Architecture) string {
	if len(as) == 1 && as[0] == types.ArchitectureArm64 {
		return "arm64"
	}
	return "amd64"
}

// handlerFor is the Lambda handler for s, "" when s leaves it to live.
func handlerFor(s *driver.Spec) string {
	if s.Entrypoint != "" {
		return s.Entrypoint
	}
	if s.Runtime == "go" {
		return "bootstrap"
	}
	return ""
}

// codeSha converts a bundle digest ("sha256:<hex>") to Lambda's CodeSha256
// (base64 of the same SHA-256).
func codeSha(digest string) string {
	b, err := hex.DecodeString(strings.TrimPrefix(digest, "sha256:"))
	if err != nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b)
}

// digestOf converts Lambda's CodeSha256 to a bundle digest.
func digestOf(codeSha256 string) string {
	b, err := base64.StdEncoding.DecodeString(codeSha256)
	if err != nil || len(b) == 0 {
		return ""
	}
	return "sha256:" + hex.EncodeToString(b)
}

// isSecretRef reports whether an environment value is a secret reference
// updraft manages as a secret (a Secrets Manager or SSM parameter ARN).
func isSecretRef(v string) bool {
	return strings.HasPrefix(v, "arn:aws") && (strings.Contains(v, ":secretsmanager:") || strings.Contains(v, ":ssm:"))
}

func checkSecrets(secrets map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(secrets)) {
		if !isSecretRef(secrets[k]) {
			// Never echo the value: it may be a secret put here by mistake.
			return driver.NewError(driver.InvalidArgument, fmt.Sprintf("secret %s: Lambda takes a Secrets Manager or SSM parameter ARN (arn:aws:secretsmanager:… or arn:aws:ssm:…), read by the function at run time", k))
		}
	}
	return nil
}

// secretsTag lists (space-separated) the environment variables updraft
// wrote as secret references. Env and Secrets are told apart by it, never
// by the look of a value: an Env value may be an ARN too.
const secretsTag = tagPrefix + "secrets"

// secretNames returns the names secretsTag lists.
func secretNames(tags map[string]string) []string { return strings.Fields(tags[secretsTag]) }

// secretsValue is secretsTag's value for the secret names of secrets.
func secretsValue(secrets map[string]string) string {
	return strings.Join(slices.Sorted(maps.Keys(secrets)), " ")
}

// splitEnv splits Lambda's environment into plain variables and the
// secret references the function's secretsTag names.
func splitEnv(vars map[string]string, tags map[string]string) (env, secrets map[string]string) {
	names := secretNames(tags)
	for k, v := range vars {
		if slices.Contains(names, k) {
			if secrets == nil {
				secrets = map[string]string{}
			}
			secrets[k] = v
		} else {
			if env == nil {
				env = map[string]string{}
			}
			env[k] = v
		}
	}
	return env, secrets
}

// desiredEnv merges the spec's Env and Secrets over what is live, or
// returns nil, false when neither is managed; secrets are the resulting
// secret references.
func desiredEnv(live, tags map[string]string, s *driver.Spec) (env, secrets map[string]string, managed bool) {
	lenv, lsec := splitEnv(live, tags)
	secrets = lsec
	if s.Secrets != nil {
		secrets = s.Secrets
	}
	if s.Env == nil && s.Secrets == nil {
		return nil, secrets, false
	}
	out := map[string]string{}
	if s.Env != nil {
		maps.Copy(out, s.Env)
	} else {
		maps.Copy(out, lenv)
	}
	maps.Copy(out, secrets)
	return out, secrets, true
}

func envOf(c *types.FunctionConfiguration) map[string]string {
	if c.Environment == nil {
		return nil
	}
	return c.Environment.Variables
}

// reservedTag reports tags updraft or AWS own, which are not Labels.
func reservedTag(k string) bool {
	return strings.HasPrefix(k, tagPrefix) || strings.HasPrefix(k, "aws:")
}

// tagPrefix starts the tags updraft writes for its own bookkeeping.
const tagPrefix = "updraft-"

// configOf is configOfRaw with the role reported as "" when it is
// Options.DefaultRole, which is what a Spec's empty Identity means.
func (f *function) configOf(c *types.FunctionConfiguration, tags map[string]string, reserved *int32) driver.Config {
	out := configOfRaw(c, tags, reserved)
	if out.Identity == f.opts.DefaultRole {
		out.Identity = ""
	}
	return out
}

// configOfRaw converts a FunctionConfiguration (and the function's tags and
// reserved concurrency) to the driver's Config.
func configOfRaw(c *types.FunctionConfiguration, tags map[string]string, reserved *int32) driver.Config {
	out := driver.Config{
		Runtime:      portableRuntime(c.Runtime),
		Entrypoint:   aws.ToString(c.Handler),
		CodeDigest:   digestOf(aws.ToString(c.CodeSha256)),
		CodeSize:     c.CodeSize,
		MemoryMB:     int(aws.ToInt32(c.MemorySize)),
		Timeout:      time.Duration(aws.ToInt32(c.Timeout)) * time.Second,
		Architecture: portableArch(c.Architectures),
		Tracing:      c.TracingConfig != nil && c.TracingConfig.Mode == types.TracingModeActive,
		LogFormat:    "text",
		Identity:     aws.ToString(c.Role),
	}
	if out.Runtime == "go" && out.Entrypoint == "bootstrap" {
		out.Entrypoint = ""
	}
	if c.LoggingConfig != nil && c.LoggingConfig.LogFormat == types.LogFormatJson {
		out.LogFormat = "json"
	}
	out.Env, out.Secrets = splitEnv(envOf(c), tags)
	for k, v := range tags {
		if !reservedTag(k) {
			if out.Labels == nil {
				out.Labels = map[string]string{}
			}
			out.Labels[k] = v
		}
	}
	if reserved != nil {
		n := int(*reserved)
		out.MaxConcurrency = &n
	}
	return out
}

// versionKey identifies what a published version snapshots: when $LATEST
// and the newest version have the same key, publishing adds nothing.
func versionKey(c *types.FunctionConfiguration) string {
	k := struct {
		Code, Runtime, Handler, Role string
		Memory, Timeout              int32
		Env                          map[string]string
		Tracing, Log                 string
		Arch                         []types.Architecture
		Ephemeral                    int32
		Vpc                          *types.VpcConfigResponse
		Layers                       []string
		DLQ, KMS                     string
		FS                           []types.FileSystemConfig
	}{Code: aws.ToString(c.CodeSha256), Runtime: string(c.Runtime), Handler: aws.ToString(c.Handler), Role: aws.ToString(c.Role),
		Memory: aws.ToInt32(c.MemorySize), Timeout: aws.ToInt32(c.Timeout), Env: envOf(c), Arch: c.Architectures,
		KMS: aws.ToString(c.KMSKeyArn), FS: c.FileSystemConfigs}
	if len(k.Env) == 0 {
		k.Env = nil
	}
	if c.TracingConfig != nil {
		k.Tracing = string(c.TracingConfig.Mode)
	}
	if k.Tracing == "" {
		k.Tracing = string(types.TracingModePassThrough)
	}
	if c.LoggingConfig != nil {
		k.Log = string(c.LoggingConfig.LogFormat)
	}
	if c.EphemeralStorage != nil {
		k.Ephemeral = aws.ToInt32(c.EphemeralStorage.Size)
	}
	if c.VpcConfig != nil && (len(c.VpcConfig.SubnetIds) > 0 || len(c.VpcConfig.SecurityGroupIds) > 0) {
		k.Vpc = &types.VpcConfigResponse{SubnetIds: c.VpcConfig.SubnetIds, SecurityGroupIds: c.VpcConfig.SecurityGroupIds}
	}
	for _, l := range c.Layers {
		k.Layers = append(k.Layers, aws.ToString(l.Arn))
	}
	if c.DeadLetterConfig != nil {
		k.DLQ = aws.ToString(c.DeadLetterConfig.TargetArn)
	}
	b, _ := json.Marshal(k)
	return string(b)
}

// keyHash is the short digest of a versionKey stored in route records.
func keyHash(c *types.FunctionConfiguration) string {
	h := sha256.Sum256([]byte(versionKey(c)))
	return hex.EncodeToString(h[:6])
}

// revisionOf converts a published version. Tags (Labels) and reserved
// concurrency (MaxConcurrency) are function-wide in Lambda, not
// versioned: they are the function's current ones on every revision.
func (f *function) revisionOf(c *types.FunctionConfiguration, tags map[string]string, reserved *int32) *driver.Revision {
	r := &driver.Revision{ID: aws.ToString(c.Version), CodeDigest: digestOf(aws.ToString(c.CodeSha256)), Config: f.configOf(c, tags, reserved)}
	if t, err := time.Parse("2006-01-02T15:04:05.000-0700", aws.ToString(c.LastModified)); err == nil {
		r.Created = t
	}
	return r
}

// An alias description that starts with recordPrefix holds updraft's
// route record: the rollout marker and the revision verdicts, as compact
// JSON, so that one conditioned UpdateAlias writes both. Lambda allows 256
// characters; a record that does not fit drops its oldest failed verdicts
// down to driver.MinFailedVerdicts before it is refused.
const recordPrefix = "updraft "

// legacyMarkerPrefix is the marker-only description of earlier versions,
// still read.
const legacyMarkerPrefix = "updraft-rollout "

const maxDescription = 256

type markerJSON struct {
	ID        string `json:"i"`
	Holder    string `json:"h,omitempty"`
	Stable    string `json:"s,omitempty"`
	Candidate string `json:"c,omitempty"`
	Step      int    `json:"n,omitempty"`
	Percent   int    `json:"p,omitempty"`
	Started   int64  `json:"t,omitempty"`
	Heartbeat int64  `json:"b,omitempty"`
	LeaseMS   int64  `json:"l,omitempty"`
}

type recordJSON struct {
	Marker *markerJSON `json:"m,omitempty"`
	Good   string      `json:"g,omitempty"`
	Failed string      `json:"f,omitempty"` // comma-separated, oldest first
	Key    string      `json:"k,omitempty"` // VERSION:HASH, see routeRecord.key
}

// routeRecord is what an alias description says.
type routeRecord struct {
	marker   *driver.Marker
	verdicts *driver.Verdicts
	// key is "VERSION:HASH", HASH a digest of versionKey of that version:
	// when the alias points at VERSION and $LATEST has the same HASH,
	// $LATEST is already published as VERSION, which saves a no-change
	// Apply listing the versions. It is a hint: one that does not match
	// the alias's version is ignored.
	key string
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMilli(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// encodeRecord returns the alias description holding r ("" when r is empty).
func encodeRecord(r routeRecord) (string, error) {
	var rj recordJSON
	if m := r.marker; m != nil {
		rj.Marker = &markerJSON{ID: m.ID, Holder: m.Holder, Stable: m.Stable, Candidate: m.Candidate, Step: m.Step, Percent: m.Percent,
			Started: unixMilli(m.Started), Heartbeat: unixMilli(m.Heartbeat), LeaseMS: m.Lease.Milliseconds()}
	}
	var failed []string
	if v := r.verdicts; v != nil {
		rj.Good, failed = v.Good, v.Failed
	}
	rj.Key = r.key
	for {
		rj.Failed = strings.Join(failed, ",")
		if rj.Marker == nil && rj.Good == "" && rj.Failed == "" && rj.Key == "" {
			return "", nil
		}
		b, _ := json.Marshal(rj)
		s := recordPrefix + string(b)
		if len(s) <= maxDescription {
			return s, nil
		}
		if len(failed) <= driver.MinFailedVerdicts {
			return "", driver.NewError(driver.InvalidArgument, fmt.Sprintf(
				"rollout marker and verdicts are %d bytes encoded; a Lambda alias description holds %d: shorten the marker's ID and Holder", len(s), maxDescription))
		}
		failed = failed[1:]
	}
}

// decodeRecord reads an alias description; anything that is not a record
// is an empty one (the description belongs to someone else).
func decodeRecord(desc string) routeRecord {
	var rj recordJSON
	switch {
	case strings.HasPrefix(desc, recordPrefix):
		if json.Unmarshal([]byte(strings.TrimPrefix(desc, recordPrefix)), &rj) != nil {
			return routeRecord{}
		}
	case strings.HasPrefix(desc, legacyMarkerPrefix):
		var mj markerJSON
		if json.Unmarshal([]byte(strings.TrimPrefix(desc, legacyMarkerPrefix)), &mj) != nil {
			return routeRecord{}
		}
		rj.Marker = &mj
	default:
		return routeRecord{}
	}
	r := routeRecord{key: rj.Key}
	if mj := rj.Marker; mj != nil && mj.ID != "" {
		r.marker = &driver.Marker{ID: mj.ID, Holder: mj.Holder, Stable: mj.Stable, Candidate: mj.Candidate, Step: mj.Step, Percent: mj.Percent,
			Started: fromMilli(mj.Started), Heartbeat: fromMilli(mj.Heartbeat), Lease: time.Duration(mj.LeaseMS) * time.Millisecond}
	}
	if rj.Good != "" || rj.Failed != "" {
		r.verdicts = &driver.Verdicts{Good: rj.Good}
		if rj.Failed != "" {
			r.verdicts.Failed = strings.Split(rj.Failed, ",")
		}
	}
	return r
}

// trafficOf converts an alias's version and routing to a Traffic.
func trafficOf(a *types.AliasConfiguration) driver.Traffic {
	t := driver.Traffic{Stable: aws.ToString(a.FunctionVersion)}
	if a.RoutingConfig != nil {
		for v, w := range a.RoutingConfig.AdditionalVersionWeights {
			t.Candidate, t.CandidatePercent = v, int(w*100+0.5)
		}
	}
	return t
}
