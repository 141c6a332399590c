package lambdafake

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is a FunctionConfiguration as Lambda sends it.
type Config struct {
	FunctionName               string            `json:"FunctionName,omitempty"`
	FunctionArn                string            `json:"FunctionArn,omitempty"`
	Runtime                    string            `json:"Runtime,omitempty"`
	Role                       string            `json:"Role,omitempty"`
	Handler                    string            `json:"Handler,omitempty"`
	CodeSize                   int64             `json:"CodeSize"`
	Description                string            `json:"Description,omitempty"`
	Timeout                    int32             `json:"Timeout,omitempty"`
	MemorySize                 int32             `json:"MemorySize,omitempty"`
	LastModified               string            `json:"LastModified,omitempty"`
	CodeSha256                 string            `json:"CodeSha256,omitempty"`
	Version                    string            `json:"Version,omitempty"`
	Environment                *Environment      `json:"Environment,omitempty"`
	TracingConfig              *TracingConfig    `json:"TracingConfig,omitempty"`
	RevisionId                 string            `json:"RevisionId,omitempty"`
	State                      string            `json:"State,omitempty"`
	StateReason                string            `json:"StateReason,omitempty"`
	StateReasonCode            string            `json:"StateReasonCode,omitempty"`
	LastUpdateStatus           string            `json:"LastUpdateStatus,omitempty"`
	LastUpdateStatusReason     string            `json:"LastUpdateStatusReason,omitempty"`
	LastUpdateStatusReasonCode string            `json:"LastUpdateStatusReasonCode,omitempty"`
	PackageType                string            `json:"PackageType,omitempty"`
	Architectures              []string          `json:"Architectures,omitempty"`
	LoggingConfig              *LoggingConfig    `json:"LoggingConfig,omitempty"`
	EphemeralStorage           *EphemeralStorage `json:"EphemeralStorage,omitempty"`
}

// Environment is a function's environment.
type Environment struct {
	Variables map[string]string `json:"Variables,omitempty"`
}

// TracingConfig is a function's X-Ray mode.
type TracingConfig struct {
	Mode string `json:"Mode,omitempty"`
}

// LoggingConfig is a function's logging settings.
type LoggingConfig struct {
	LogFormat           string `json:"LogFormat,omitempty"`
	ApplicationLogLevel string `json:"ApplicationLogLevel,omitempty"`
	SystemLogLevel      string `json:"SystemLogLevel,omitempty"`
	LogGroup            string `json:"LogGroup,omitempty"`
}

// EphemeralStorage is the size of /tmp.
type EphemeralStorage struct {
	Size int32 `json:"Size"`
}

type function struct {
	name, arn string
	cfg       Config // $LATEST
	prev      Config // before the in-flight update, restored if it fails
	busyUntil time.Time
	fail      *failure // outcome of the in-flight update or create
	created   bool     // the in-flight change is the creation
	code      []byte   // the zip of $LATEST

	versions     []*version
	nextVersion  int
	aliases      map[string]*alias
	provisioned  map[string]*provisioned
	reserved     *int32
	tags         map[string]string
	policies     map[string][]statement // qualifier ("" unqualified) → statements
	policyRev    map[string]string
	urls         map[string]*urlConfig
	publishedFor string // fingerprint of $LATEST at the last publish
}

type version struct {
	cfg     Config
	readyAt time.Time
}

// fingerprint identifies $LATEST's code and versioned configuration.
func (c Config) fingerprint() string {
	c.RevisionId, c.LastModified, c.State, c.StateReason, c.StateReasonCode = "", "", "", "", ""
	c.LastUpdateStatus, c.LastUpdateStatusReason, c.LastUpdateStatusReasonCode, c.Version = "", "", "", ""
	b, _ := json.Marshal(c)
	return string(b)
}

func clone(c Config) Config {
	if c.Environment != nil {
		e := *c.Environment
		e.Variables = maps.Clone(e.Variables)
		c.Environment = &e
	}
	if c.TracingConfig != nil {
		t := *c.TracingConfig
		c.TracingConfig = &t
	}
	if c.LoggingConfig != nil {
		l := *c.LoggingConfig
		c.LoggingConfig = &l
	}
	if c.EphemeralStorage != nil {
		e := *c.EphemeralStorage
		c.EphemeralStorage = &e
	}
	c.Architectures = slices.Clone(c.Architectures)
	return c
}

// refresh finishes state transitions whose delay has passed.
func (f *function) refresh(now time.Time) {
	if (f.cfg.State == "Pending" || f.cfg.LastUpdateStatus == "InProgress") && !now.Before(f.busyUntil) {
		switch {
		case f.fail != nil && f.created:
			f.cfg.State, f.cfg.StateReasonCode, f.cfg.StateReason = "Failed", f.fail.code, f.fail.reason
			f.cfg.LastUpdateStatus, f.cfg.LastUpdateStatusReasonCode, f.cfg.LastUpdateStatusReason = "Failed", f.fail.code, f.fail.reason
		case f.fail != nil:
			rev := f.cfg.RevisionId
			f.cfg = clone(f.prev)
			f.cfg.RevisionId = rev
			f.cfg.LastUpdateStatus, f.cfg.LastUpdateStatusReasonCode, f.cfg.LastUpdateStatusReason = "Failed", f.fail.code, f.fail.reason
		default:
			f.cfg.State, f.cfg.StateReason, f.cfg.StateReasonCode = "Active", "", ""
			f.cfg.LastUpdateStatus, f.cfg.LastUpdateStatusReason, f.cfg.LastUpdateStatusReasonCode = "Successful", "", ""
		}
		f.fail, f.created = nil, false
		f.cfg.RevisionId = newID()
	}
	for _, v := range f.versions {
		if v.cfg.State == "Pending" && !now.Before(v.readyAt) {
			v.cfg.State = "Active"
			v.cfg.LastUpdateStatus = "Successful"
		}
	}
	for _, p := range f.provisioned {
		p.refresh(now)
	}
}

func (f *function) busy() bool {
	return f.cfg.State == "Pending" || f.cfg.LastUpdateStatus == "InProgress"
}

// startUpdate marks $LATEST InProgress for the configured delay.
func (s *Server) startUpdate(f *function, before Config) {
	f.prev = before
	f.cfg.LastUpdateStatus = "InProgress"
	f.cfg.LastUpdateStatusReason, f.cfg.LastUpdateStatusReasonCode = "The function is being updated.", "InProgress"
	f.cfg.LastModified = nowStamp(time.Now())
	f.cfg.RevisionId = newID()
	f.busyUntil = s.until(s.opts.UpdateDelay)
	if fl, ok := s.failNext[f.name]; ok {
		delete(s.failNext, f.name)
		f.fail = &fl
	}
	f.refresh(time.Now())
}

func (f *function) version(v string) *version {
	for _, x := range f.versions {
		if x.cfg.Version == v {
			return x
		}
	}
	return nil
}

type functionCode struct {
	ZipFile         []byte `json:"ZipFile,omitempty"`
	S3Bucket        string `json:"S3Bucket,omitempty"`
	S3Key           string `json:"S3Key,omitempty"`
	S3ObjectVersion string `json:"S3ObjectVersion,omitempty"`
	ImageUri        string `json:"ImageUri,omitempty"`
}

// resolveCode returns the zip for a code location and checks it is a zip.
func (s *Server) resolveCode(c functionCode) ([]byte, *apiError) {
	var zipb []byte
	switch {
	case c.ImageUri != "":
		return nil, invalid("lambdafake: container images are not supported")
	case len(c.ZipFile) > 0:
		zipb = c.ZipFile
	case c.S3Bucket != "" && c.S3Key != "":
		if s.opts.Objects == nil {
			return nil, invalid("Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: The specified bucket does not exist")
		}
		b, ok := s.opts.Objects.Object(c.S3Bucket, c.S3Key)
		if !ok {
			return nil, invalid("Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist.")
		}
		zipb = b
	default:
		return nil, invalid("Please provide a source for function code.")
	}
	zr, err := zip.NewReader(bytes.NewReader(zipb), int64(len(zipb)))
	if err != nil {
		return nil, invalid("Could not unzip uploaded file. Please check your file, then try to upload again.")
	}
	var unzipped uint64
	for _, zf := range zr.File {
		unzipped += zf.UncompressedSize64
	}
	if unzipped > 250<<20 {
		return nil, invalid("Unzipped size must be smaller than 262144000 bytes")
	}
	return zipb, nil
}

func codeSha(b []byte) string {
	h := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(h[:])
}

var (
	fnNameRE  = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	roleRE    = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/.+$`)
	envKeyRE  = regexp.MustCompile(`^[a-zA-Z]([a-zA-Z0-9_])*$`)
	runtimes  = []string{"provided.al2023", "provided.al2", "nodejs22.x", "nodejs20.x", "python3.13", "python3.12", "java21", "go1.x"}
	archs     = []string{"x86_64", "arm64"}
	logFmts   = []string{"JSON", "Text"}
	tracModes = []string{"Active", "PassThrough"}
)

type configFields struct {
	Role             *string           `json:"Role"`
	Handler          *string           `json:"Handler"`
	Runtime          *string           `json:"Runtime"`
	Description      *string           `json:"Description"`
	Timeout          *int32            `json:"Timeout"`
	MemorySize       *int32            `json:"MemorySize"`
	Environment      *Environment      `json:"Environment"`
	TracingConfig    *TracingConfig    `json:"TracingConfig"`
	LoggingConfig    *LoggingConfig    `json:"LoggingConfig"`
	EphemeralStorage *EphemeralStorage `json:"EphemeralStorage"`
	RevisionId       *string           `json:"RevisionId"`
}

// apply validates the fields and copies the set ones onto c.
func (in *configFields) apply(c *Config) *apiError {
	for _, step := range []func(*Config) *apiError{in.applyCore, in.applyEnv, in.applySettings} {
		if aerr := step(c); aerr != nil {
			return aerr
		}
	}
	return nil
}

// applyCore sets the role, runtime, handler, description and limits.
func (in *configFields) applyCore(c *Config) *apiError {
	if in.Role != nil {
		if !roleRE.MatchString(*in.Role) {
			return invalid("1 validation error detected: Value '%s' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+", *in.Role)
		}
		c.Role = *in.Role
	}
	if in.Runtime != nil {
		if !slices.Contains(runtimes, *in.Runtime) {
			return invalid("Value %s at 'runtime' failed to satisfy constraint: Member must satisfy enum value set", *in.Runtime)
		}
		c.Runtime = *in.Runtime
	}
	if in.Handler != nil {
		c.Handler = *in.Handler
	}
	if in.Description != nil {
		c.Description = *in.Description
	}
	if in.Timeout != nil {
		if *in.Timeout < 1 || *in.Timeout > 900 {
			return invalid("1 validation error detected: Value '%d' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900", *in.Timeout)
		}
		c.Timeout = *in.Timeout
	}
	if in.MemorySize != nil {
		if *in.MemorySize < 128 || *in.MemorySize > 10240 {
			return invalid("1 validation error detected: Value '%d' at 'memorySize' failed to satisfy constraint: Member must have value between 128 and 10240", *in.MemorySize)
		}
		c.MemorySize = *in.MemorySize
	}
	return nil
}

// applyEnv validates and sets the environment.
func (in *configFields) applyEnv(c *Config) *apiError {
	if in.Environment != nil {
		n := 0
		for k, v := range in.Environment.Variables {
			if !envKeyRE.MatchString(k) {
				return invalid("Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys or invalid names: %s", k)
			}
			n += len(k) + len(v)
		}
		if n > 4096 {
			return invalid("Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: %d", n)
		}
		if len(in.Environment.Variables) == 0 {
			c.Environment = nil
		} else {
			c.Environment = &Environment{Variables: maps.Clone(in.Environment.Variables)}
		}
	}
	return nil
}

// applySettings sets tracing, logging and ephemeral storage.
func (in *configFields) applySettings(c *Config) *apiError {
	if in.TracingConfig != nil {
		if !slices.Contains(tracModes, in.TracingConfig.Mode) {
			return invalid("Value %s at 'tracingConfig.mode' failed to satisfy enum", in.TracingConfig.Mode)
		}
		t := *in.TracingConfig
		c.TracingConfig = &t
	}
	if in.LoggingConfig != nil {
		l := *in.LoggingConfig
		if l.LogFormat != "" && !slices.Contains(logFmts, l.LogFormat) {
			return invalid("Value %s at 'loggingConfig.logFormat' failed to satisfy enum", l.LogFormat)
		}
		if l.LogFormat == "" {
			l.LogFormat = "Text"
		}
		if l.LogGroup == "" {
			l.LogGroup = "/aws/lambda/" + c.FunctionName
		}
		c.LoggingConfig = &l
	}
	if in.EphemeralStorage != nil {
		e := *in.EphemeralStorage
		c.EphemeralStorage = &e
	}
	return nil
}

type createInput struct {
	configFields
	FunctionName  string            `json:"FunctionName"`
	Code          functionCode      `json:"Code"`
	PackageType   string            `json:"PackageType"`
	Architectures []string          `json:"Architectures"`
	Publish       bool              `json:"Publish"`
	Tags          map[string]string `json:"Tags"`
}

func (s *Server) createFunction(r *http.Request, body []byte) (int, any, *apiError) {
	var in createInput
	if err := decode(body, &in); err != nil {
		return 0, nil, err
	}
	if !fnNameRE.MatchString(in.FunctionName) {
		return 0, nil, invalid("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint", in.FunctionName)
	}
	if in.Role == nil {
		return 0, nil, invalid("1 validation error detected: Value null at 'role' failed to satisfy constraint: Member must not be null")
	}
	if in.PackageType == "" {
		in.PackageType = "Zip"
	}
	if in.PackageType == "Zip" && (in.Runtime == nil || in.Handler == nil) {
		return 0, nil, invalid("Runtime and Handler are mandatory parameters for functions created with deployment packages.")
	}
	if s.fns[in.FunctionName] != nil {
		return 0, nil, conflict("Function already exist: %s", in.FunctionName)
	}
	if len(in.Architectures) == 0 {
		in.Architectures = []string{"x86_64"}
	}
	if len(in.Architectures) != 1 || !slices.Contains(archs, in.Architectures[0]) {
		return 0, nil, invalid("1 validation error detected: Value '%v' at 'architectures' failed to satisfy constraint: Member must have length less than or equal to 1", in.Architectures)
	}
	zipb, aerr := s.resolveCode(in.Code)
	if aerr != nil {
		return 0, nil, aerr
	}
	arn := s.FunctionARN(in.FunctionName)
	c := Config{FunctionName: in.FunctionName, FunctionArn: arn, Version: "$LATEST", PackageType: in.PackageType,
		Architectures: in.Architectures, CodeSha256: codeSha(zipb), CodeSize: int64(len(zipb)), Timeout: 3, MemorySize: 128,
		TracingConfig: &TracingConfig{Mode: "PassThrough"}, EphemeralStorage: &EphemeralStorage{Size: 512},
		LoggingConfig: &LoggingConfig{LogFormat: "Text", LogGroup: "/aws/lambda/" + in.FunctionName}}
	if aerr := in.configFields.apply(&c); aerr != nil {
		return 0, nil, aerr
	}
	c.State, c.StateReason, c.StateReasonCode = "Pending", "The function is being created.", "Creating"
	c.LastUpdateStatus, c.LastUpdateStatusReason, c.LastUpdateStatusReasonCode = "InProgress", "The function is being created.", "Creating"
	c.LastModified = nowStamp(time.Now())
	c.RevisionId = newID()
	f := &function{name: in.FunctionName, arn: arn, cfg: c, code: zipb, nextVersion: 1, created: true,
		aliases: map[string]*alias{}, provisioned: map[string]*provisioned{}, tags: maps.Clone(in.Tags),
		policies: map[string][]statement{}, policyRev: map[string]string{}, urls: map[string]*urlConfig{},
		busyUntil: s.until(s.opts.CreateDelay)}
	if f.tags == nil {
		f.tags = map[string]string{}
	}
	if fl, ok := s.failState[in.FunctionName]; ok {
		delete(s.failState, in.FunctionName)
		f.fail = &fl
	}
	s.fns[in.FunctionName] = f
	out := clone(f.cfg)
	if in.Publish {
		// Version 1 is published with the function and becomes Active with it.
		v := s.publish(f)
		v.cfg.State, v.readyAt = f.cfg.State, f.busyUntil
		f.refresh(time.Now())
		out = clone(v.cfg)
	}
	return 201, out, nil
}

func (s *Server) getFunction(r *http.Request, _ []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	s.settleOnRead(f)
	cfg, aerr := s.qualified(f, qual)
	if aerr != nil {
		return 0, nil, aerr
	}
	out := map[string]any{
		"Configuration": cfg,
		"Code":          map[string]string{"RepositoryType": "S3", "Location": "https://awslambda-" + s.opts.Region + "-tasks.s3.amazonaws.com/snapshots/" + f.name},
	}
	if len(f.tags) > 0 {
		out["Tags"] = f.tags
	}
	if f.reserved != nil {
		out["Concurrency"] = map[string]int32{"ReservedConcurrentExecutions": *f.reserved}
	}
	return 200, out, nil
}

// qualified returns the configuration of $LATEST, a version or an alias's version.
func (s *Server) qualified(f *function, qual string) (Config, *apiError) {
	switch {
	case qual == "" || qual == "$LATEST":
		return clone(f.cfg), nil
	case isNumeric(qual):
		v := f.version(qual)
		if v == nil {
			return Config{}, notFound("Function not found: %s:%s", f.arn, qual)
		}
		return clone(v.cfg), nil
	default:
		a := f.aliases[qual]
		if a == nil {
			return Config{}, notFound("Function not found: %s:%s", f.arn, qual)
		}
		if a.FunctionVersion == "$LATEST" {
			return clone(f.cfg), nil
		}
		return clone(f.version(a.FunctionVersion).cfg), nil
	}
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func (s *Server) getConfiguration(r *http.Request, _ []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	s.settleOnRead(f)
	cfg, aerr := s.qualified(f, qual)
	if aerr != nil {
		return 0, nil, aerr
	}
	return 200, cfg, nil
}

func (s *Server) updateConfiguration(r *http.Request, body []byte) (int, any, *apiError) {
	f, _, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	var in configFields
	if aerr := decode(body, &in); aerr != nil {
		return 0, nil, aerr
	}
	if f.busy() {
		return 0, nil, inProgress(f.arn)
	}
	if in.RevisionId != nil && *in.RevisionId != f.cfg.RevisionId {
		return 0, nil, badRevision()
	}
	before := clone(f.cfg)
	next := clone(f.cfg)
	if aerr := in.apply(&next); aerr != nil {
		return 0, nil, aerr
	}
	f.cfg = next
	s.startUpdate(f, before)
	return 200, clone(f.cfg), nil
}

type codeInput struct {
	functionCode
	Architectures []string `json:"Architectures"`
	Publish       bool     `json:"Publish"`
	DryRun        bool     `json:"DryRun"`
	RevisionId    *string  `json:"RevisionId"`
}

func (s *Server) updateCode(r *http.Request, body []byte) (int, any, *apiError) {
	f, _, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	var in codeInput
	if aerr := decode(body, &in); aerr != nil {
		return 0, nil, aerr
	}
	if len(in.Architectures) > 0 && (len(in.Architectures) != 1 || !slices.Contains(archs, in.Architectures[0])) {
		return 0, nil, invalid("1 validation error detected: Value '%v' at 'architectures' failed to satisfy constraint", in.Architectures)
	}
	zipb, aerr := s.resolveCode(in.functionCode)
	if aerr != nil {
		return 0, nil, aerr
	}
	if f.busy() {
		return 0, nil, inProgress(f.arn)
	}
	if in.RevisionId != nil && *in.RevisionId != f.cfg.RevisionId {
		return 0, nil, badRevision()
	}
	if in.DryRun {
		return 200, clone(f.cfg), nil
	}
	before := clone(f.cfg)
	f.cfg.CodeSha256, f.cfg.CodeSize, f.code = codeSha(zipb), int64(len(zipb)), zipb
	if len(in.Architectures) == 1 {
		f.cfg.Architectures = in.Architectures
	}
	s.startUpdate(f, before)
	out := clone(f.cfg)
	if in.Publish && !f.busy() {
		out = clone(s.publish(f).cfg)
	}
	return 200, out, nil
}

// publish snapshots $LATEST as a new version, or returns the newest
// version when nothing changed since it was published.
func (s *Server) publish(f *function) *version {
	fp := f.cfg.fingerprint()
	if n := len(f.versions); n > 0 && f.publishedFor == fp {
		return f.versions[n-1]
	}
	v := &version{cfg: clone(f.cfg), readyAt: time.Now().Add(s.opts.PublishDelay)}
	v.cfg.Version = strconv.Itoa(f.nextVersion)
	v.cfg.FunctionArn = f.arn + ":" + v.cfg.Version
	v.cfg.RevisionId = newID()
	v.cfg.LastModified = nowStamp(time.Now())
	v.cfg.State = "Pending"
	v.cfg.StateReason, v.cfg.StateReasonCode = "", "Creating"
	if s.opts.PublishDelay == 0 {
		v.cfg.State, v.cfg.StateReasonCode = "Active", ""
	}
	f.nextVersion++
	f.versions = append(f.versions, v)
	f.publishedFor = fp
	return v
}

func (s *Server) publishVersion(r *http.Request, body []byte) (int, any, *apiError) {
	f, _, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	var in struct {
		CodeSha256  *string `json:"CodeSha256"`
		Description *string `json:"Description"`
		RevisionId  *string `json:"RevisionId"`
	}
	if aerr := decode(body, &in); aerr != nil {
		return 0, nil, aerr
	}
	if f.busy() {
		return 0, nil, inProgress(f.arn)
	}
	if in.RevisionId != nil && *in.RevisionId != f.cfg.RevisionId {
		return 0, nil, badRevision()
	}
	if in.CodeSha256 != nil && *in.CodeSha256 != f.cfg.CodeSha256 {
		return 0, nil, errf(412, "PreconditionFailedException", "CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST (%s). Please try again with the CodeSHA256 in $LATEST.", *in.CodeSha256, f.cfg.CodeSha256)
	}
	v := s.publish(f)
	if in.Description != nil {
		v.cfg.Description = *in.Description
	}
	return 201, clone(v.cfg), nil
}

// page returns items[from:from+max] and the next marker.
func page[T any](items []T, r *http.Request) ([]T, *string) {
	q := r.URL.Query()
	from, _ := strconv.Atoi(q.Get("Marker"))
	maxItems, _ := strconv.Atoi(q.Get("MaxItems"))
	if maxItems <= 0 || maxItems > 50 {
		maxItems = 50
	}
	if from > len(items) {
		from = len(items)
	}
	to := min(from+maxItems, len(items))
	var next *string
	if to < len(items) {
		n := strconv.Itoa(to)
		next = &n
	}
	return items[from:to], next
}

func (s *Server) listVersions(r *http.Request, _ []byte) (int, any, *apiError) {
	f, _, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	all := []Config{clone(f.cfg)}
	for _, v := range f.versions {
		all = append(all, clone(v.cfg))
	}
	items, next := page(all, r)
	return 200, map[string]any{"Versions": items, "NextMarker": next}, nil
}

func (s *Server) deleteFunction(r *http.Request, _ []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, r.PathValue("name"))
	if aerr != nil {
		return 0, nil, aerr
	}
	if qual == "" {
		delete(s.fns, f.name)
		return 204, nil, nil
	}
	if !isNumeric(qual) {
		return 0, nil, invalid("Deletion of aliases or $LATEST is not supported by DeleteFunction; use DeleteAlias")
	}
	v := f.version(qual)
	if v == nil {
		return 0, nil, notFound("Function not found: %s:%s", f.arn, qual)
	}
	var refs []string
	for _, name := range slices.Sorted(maps.Keys(f.aliases)) {
		a := f.aliases[name]
		if a.FunctionVersion == qual {
			refs = append(refs, name)
			continue
		}
		if a.RoutingConfig != nil {
			if _, ok := a.RoutingConfig.AdditionalVersionWeights[qual]; ok {
				refs = append(refs, name)
			}
		}
	}
	if len(refs) > 0 {
		return 0, nil, conflict("Unable to delete version because the following aliases reference it: [%s]", strings.Join(refs, ", "))
	}
	if f.provisioned[qual] != nil {
		return 0, nil, conflict("Unable to delete version %s because it has provisioned concurrency configured", qual)
	}
	f.versions = slices.DeleteFunc(f.versions, func(x *version) bool { return x == v })
	return 204, nil, nil
}
