package lambdafake

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/updraft-dev/updraft/internal/cloudfake/awswire"
)

type provisioned struct {
	Requested  int32  `json:"RequestedProvisionedConcurrentExecutions"`
	Available  int32  `json:"AvailableProvisionedConcurrentExecutions"`
	Allocated  int32  `json:"AllocatedProvisionedConcurrentExecutions"`
	Status     string `json:"Status"`
	Reason     string `json:"StatusReason,omitempty"`
	Modified   string `json:"LastModified"`
	readyAt    time.Time
	failReason string
}

func (p *provisioned) refresh(now time.Time) {
	if p.Status != "IN_PROGRESS" || now.Before(p.readyAt) {
		return
	}
	if p.failReason != "" {
		p.Status, p.Reason, p.Allocated, p.Available = "FAILED", p.failReason, 0, 0
		return
	}
	p.Status, p.Allocated, p.Available = "READY", p.Requested, p.Requested
}

func (s *Server) startProvisioning(f *function, p *provisioned) {
	p.Status, p.Reason, p.Allocated, p.Available = "IN_PROGRESS", "", 0, 0
	p.readyAt = time.Now().Add(s.opts.ProvisionDelay)
	p.Modified = nowStamp(time.Now())
	p.failReason = ""
	if reason, ok := s.failProv[f.name]; ok {
		delete(s.failProv, f.name)
		p.failReason = reason
	}
	if s.opts.ProvisionDelay == 0 {
		p.refresh(time.Now())
	}
}

// provisionedQualifier checks a provisioned-concurrency qualifier.
func (s *Server) provisionedQualifier(f *function, qual string) *apiError {
	switch {
	case qual == "" || qual == "$LATEST":
		return invalid("Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
	case isNumeric(qual):
		if f.version(qual) == nil {
			return notFound("Function not found: %s:%s", f.arn, qual)
		}
	default:
		a := f.aliases[qual]
		if a == nil {
			return notFound("Function not found: %s:%s", f.arn, qual)
		}
		if a.FunctionVersion == "$LATEST" {
			return invalid("Provisioned Concurrency Configs cannot be applied to an alias that points to $LATEST.")
		}
	}
	return nil
}

func (s *Server) putProvisioned(r *http.Request, m []string, body []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, m[1])
	if aerr != nil {
		return 0, nil, aerr
	}
	var in struct {
		ProvisionedConcurrentExecutions int32 `json:"ProvisionedConcurrentExecutions"`
	}
	if aerr := decode(body, &in); aerr != nil {
		return 0, nil, aerr
	}
	if in.ProvisionedConcurrentExecutions < 1 {
		return 0, nil, invalid("1 validation error detected: Value '%d' at 'provisionedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 1", in.ProvisionedConcurrentExecutions)
	}
	if aerr := s.provisionedQualifier(f, qual); aerr != nil {
		return 0, nil, aerr
	}
	p := &provisioned{Requested: in.ProvisionedConcurrentExecutions}
	f.provisioned[qual] = p
	s.startProvisioning(f, p)
	return 202, *p, nil
}

func (s *Server) getProvisioned(r *http.Request, m []string, _ []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, m[1])
	if aerr != nil {
		return 0, nil, aerr
	}
	p := f.provisioned[qual]
	if p == nil {
		return 0, nil, errf(404, "ProvisionedConcurrencyConfigNotFoundException", "No Provisioned Concurrency Config found for this function")
	}
	return 200, *p, nil
}

func (s *Server) deleteProvisioned(r *http.Request, m []string, _ []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, m[1])
	if aerr != nil {
		return 0, nil, aerr
	}
	if f.provisioned[qual] == nil {
		return 0, nil, errf(404, "ProvisionedConcurrencyConfigNotFoundException", "No Provisioned Concurrency Config found for this function")
	}
	delete(f.provisioned, qual)
	return 204, nil, nil
}

func (s *Server) listProvisioned(r *http.Request, m []string, _ []byte) (int, any, *apiError) {
	f, _, aerr := s.lookup(r, m[1])
	if aerr != nil {
		return 0, nil, aerr
	}
	type item struct {
		FunctionArn string `json:"FunctionArn"`
		provisioned
	}
	var all []item
	for _, q := range slices.Sorted(maps.Keys(f.provisioned)) {
		all = append(all, item{FunctionArn: f.arn + ":" + q, provisioned: *f.provisioned[q]})
	}
	items, next := page(all, r)
	return 200, map[string]any{"ProvisionedConcurrencyConfigs": items, "NextMarker": next}, nil
}

func (s *Server) putConcurrency(r *http.Request, m []string, body []byte) (int, any, *apiError) {
	f, _, aerr := s.lookup(r, m[1])
	if aerr != nil {
		return 0, nil, aerr
	}
	var in struct {
		ReservedConcurrentExecutions *int32 `json:"ReservedConcurrentExecutions"`
	}
	if aerr := decode(body, &in); aerr != nil {
		return 0, nil, aerr
	}
	if in.ReservedConcurrentExecutions == nil || *in.ReservedConcurrentExecutions < 0 {
		return 0, nil, invalid("ReservedConcurrentExecutions must be 0 or more")
	}
	if *in.ReservedConcurrentExecutions > 900 {
		return 0, nil, invalid("Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].")
	}
	v := *in.ReservedConcurrentExecutions
	f.reserved = &v
	return 200, map[string]int32{"ReservedConcurrentExecutions": v}, nil
}

func (s *Server) deleteConcurrency(r *http.Request, m []string, _ []byte) (int, any, *apiError) {
	f, _, aerr := s.lookup(r, m[1])
	if aerr != nil {
		return 0, nil, aerr
	}
	f.reserved = nil
	return 204, nil, nil
}

func (s *Server) getConcurrency(r *http.Request, m []string, _ []byte) (int, any, *apiError) {
	f, _, aerr := s.lookup(r, m[1])
	if aerr != nil {
		return 0, nil, aerr
	}
	if f.reserved == nil {
		return 200, map[string]any{}, nil
	}
	return 200, map[string]int32{"ReservedConcurrentExecutions": *f.reserved}, nil
}

// urlConfig is a function URL configuration.
type urlConfig struct {
	FunctionUrl      string          `json:"FunctionUrl"`
	FunctionArn      string          `json:"FunctionArn"`
	AuthType         string          `json:"AuthType"`
	Cors             json.RawMessage `json:"Cors,omitempty"`
	CreationTime     string          `json:"CreationTime"`
	LastModifiedTime string          `json:"LastModifiedTime"`
	InvokeMode       string          `json:"InvokeMode,omitempty"`
}

type urlInput struct {
	AuthType   *string         `json:"AuthType"`
	Cors       json.RawMessage `json:"Cors"`
	InvokeMode *string         `json:"InvokeMode"`
}

func (s *Server) urlQualifier(f *function, qual string) *apiError {
	if qual == "" || qual == "$LATEST" {
		return nil
	}
	if isNumeric(qual) {
		return invalid("Function URL configs are not supported for published versions; use an alias")
	}
	if f.aliases[qual] == nil {
		return notFound("Function not found: %s:%s", f.arn, qual)
	}
	return nil
}

func (s *Server) createURL(r *http.Request, m []string, body []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, m[1])
	if aerr != nil {
		return 0, nil, aerr
	}
	var in urlInput
	if aerr := decode(body, &in); aerr != nil {
		return 0, nil, aerr
	}
	if aerr := s.urlQualifier(f, qual); aerr != nil {
		return 0, nil, aerr
	}
	if in.AuthType == nil || (*in.AuthType != "NONE" && *in.AuthType != "AWS_IAM") {
		return 0, nil, invalid("1 validation error detected: Value at 'authType' failed to satisfy constraint: Member must satisfy enum value set: [NONE, AWS_IAM]")
	}
	if f.urls[qual] != nil {
		return 0, nil, conflict("FunctionUrlConfig exists for this Lambda function")
	}
	arn := f.arn
	if qual != "" {
		arn += ":" + qual
	}
	now := nowStamp(time.Now())
	u := &urlConfig{FunctionUrl: "https://" + newHex(16) + ".lambda-url." + s.opts.Region + ".on.aws/", FunctionArn: arn,
		AuthType: *in.AuthType, Cors: in.Cors, CreationTime: now, LastModifiedTime: now, InvokeMode: "BUFFERED"}
	if in.InvokeMode != nil {
		u.InvokeMode = *in.InvokeMode
	}
	f.urls[qual] = u
	return 201, *u, nil
}

func (s *Server) getURL(r *http.Request, m []string, _ []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, m[1])
	if aerr != nil {
		return 0, nil, aerr
	}
	u := f.urls[qual]
	if u == nil {
		return 0, nil, notFound("The resource you requested does not exist.")
	}
	return 200, *u, nil
}

func (s *Server) updateURL(r *http.Request, m []string, body []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, m[1])
	if aerr != nil {
		return 0, nil, aerr
	}
	u := f.urls[qual]
	if u == nil {
		return 0, nil, notFound("The resource you requested does not exist.")
	}
	var in urlInput
	if aerr := decode(body, &in); aerr != nil {
		return 0, nil, aerr
	}
	if in.AuthType != nil {
		if *in.AuthType != "NONE" && *in.AuthType != "AWS_IAM" {
			return 0, nil, invalid("1 validation error detected: Value at 'authType' failed to satisfy constraint")
		}
		u.AuthType = *in.AuthType
	}
	if in.Cors != nil {
		u.Cors = in.Cors
	}
	if in.InvokeMode != nil {
		u.InvokeMode = *in.InvokeMode
	}
	u.LastModifiedTime = nowStamp(time.Now())
	return 200, *u, nil
}

func (s *Server) deleteURL(r *http.Request, m []string, _ []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, m[1])
	if aerr != nil {
		return 0, nil, aerr
	}
	if f.urls[qual] == nil {
		return 0, nil, notFound("The resource you requested does not exist.")
	}
	delete(f.urls, qual)
	return 204, nil, nil
}

// statement is one resource-policy statement.
type statement struct {
	Sid       string         `json:"Sid"`
	Effect    string         `json:"Effect"`
	Principal any            `json:"Principal"`
	Action    string         `json:"Action"`
	Resource  string         `json:"Resource"`
	Condition map[string]any `json:"Condition,omitempty"`
}

func (s *Server) addPermission(r *http.Request, m []string, body []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, m[1])
	if aerr != nil {
		return 0, nil, aerr
	}
	var in struct {
		StatementId           string  `json:"StatementId"`
		Action                string  `json:"Action"`
		Principal             string  `json:"Principal"`
		SourceArn             *string `json:"SourceArn"`
		SourceAccount         *string `json:"SourceAccount"`
		FunctionUrlAuthType   *string `json:"FunctionUrlAuthType"`
		InvokedViaFunctionUrl *bool   `json:"InvokedViaFunctionUrl"`
		RevisionId            *string `json:"RevisionId"`
	}
	if aerr := decode(body, &in); aerr != nil {
		return 0, nil, aerr
	}
	if qual == "$LATEST" {
		return 0, nil, invalid("We currently do not support adding policies for $LATEST.")
	}
	if qual != "" {
		if _, aerr := s.qualified(f, qual); aerr != nil {
			return 0, nil, aerr
		}
	}
	if in.StatementId == "" || in.Action == "" || in.Principal == "" {
		return 0, nil, invalid("StatementId, Action and Principal are required")
	}
	if in.RevisionId != nil && *in.RevisionId != f.policyRev[qual] {
		return 0, nil, badRevision()
	}
	for _, st := range f.policies[qual] {
		if st.Sid == in.StatementId {
			return 0, nil, conflict("The statement id (%s) provided already exists. Please provide a new statement id, or remove the existing statement.", in.StatementId)
		}
	}
	res := f.arn
	if qual != "" {
		res += ":" + qual
	}
	st := statement{Sid: in.StatementId, Effect: "Allow", Action: in.Action, Resource: res, Condition: map[string]any{}}
	if in.Principal == "*" {
		st.Principal = "*"
	} else if strings.HasSuffix(in.Principal, ".amazonaws.com") {
		st.Principal = map[string]string{"Service": in.Principal}
	} else {
		st.Principal = map[string]string{"AWS": in.Principal}
	}
	cond := func(op, key, val string) {
		m, _ := st.Condition[op].(map[string]string)
		if m == nil {
			m = map[string]string{}
			st.Condition[op] = m
		}
		m[key] = val
	}
	if in.SourceArn != nil {
		cond("ArnLike", "AWS:SourceArn", *in.SourceArn)
	}
	if in.SourceAccount != nil {
		cond("StringEquals", "AWS:SourceAccount", *in.SourceAccount)
	}
	if in.FunctionUrlAuthType != nil {
		cond("StringEquals", "lambda:FunctionUrlAuthType", *in.FunctionUrlAuthType)
	}
	if in.InvokedViaFunctionUrl != nil && *in.InvokedViaFunctionUrl {
		cond("Bool", "lambda:InvokedViaFunctionUrl", "true")
	}
	if len(st.Condition) == 0 {
		st.Condition = nil
	}
	f.policies[qual] = append(f.policies[qual], st)
	f.policyRev[qual] = newID()
	b, _ := json.Marshal(st)
	return 201, map[string]string{"Statement": string(b)}, nil
}

func (s *Server) getPolicy(r *http.Request, m []string, _ []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, m[1])
	if aerr != nil {
		return 0, nil, aerr
	}
	sts := f.policies[qual]
	if len(sts) == 0 {
		return 0, nil, notFound("The resource you requested does not exist.")
	}
	doc, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Id": "default", "Statement": sts})
	return 200, map[string]string{"Policy": string(doc), "RevisionId": f.policyRev[qual]}, nil
}

func (s *Server) removePermission(r *http.Request, m []string, _ []byte) (int, any, *apiError) {
	f, qual, aerr := s.lookup(r, m[1])
	if aerr != nil {
		return 0, nil, aerr
	}
	if rev := r.URL.Query().Get("RevisionId"); rev != "" && rev != f.policyRev[qual] {
		return 0, nil, badRevision()
	}
	sts := f.policies[qual]
	i := slices.IndexFunc(sts, func(st statement) bool { return st.Sid == m[2] })
	if i < 0 {
		return 0, nil, notFound("Statement %s is not found in resource policy.", m[2])
	}
	f.policies[qual] = slices.Delete(sts, i, i+1)
	f.policyRev[qual] = newID()
	return 204, nil, nil
}

// Policy returns the statements of function fn's policy on qualifier, as JSON.
func (s *Server) Policy(fn, qualifier string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fns[fn]
	if f == nil {
		return nil
	}
	var out []string
	for _, st := range f.policies[qualifier] {
		b, _ := json.Marshal(st)
		out = append(out, string(b))
	}
	return out
}

// PublicURLInvocable reports whether an anonymous caller could invoke the
// function URL on qualifier: AuthType NONE with both the
// lambda:InvokeFunctionUrl and the lambda:InvokeFunction
// (InvokedViaFunctionUrl) statements that Lambda requires since October 2025.
func (s *Server) PublicURLInvocable(fn, qualifier string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fns[fn]
	if f == nil || f.urls[qualifier] == nil || f.urls[qualifier].AuthType != "NONE" {
		return false
	}
	var urlOK, invokeOK bool
	for _, st := range f.policies[qualifier] {
		if st.Principal != "*" {
			continue
		}
		b, _ := json.Marshal(st.Condition)
		switch {
		case st.Action == "lambda:InvokeFunctionUrl" && strings.Contains(string(b), `"lambda:FunctionUrlAuthType":"NONE"`):
			urlOK = true
		case st.Action == "lambda:InvokeFunction" && strings.Contains(string(b), `"lambda:InvokedViaFunctionUrl":"true"`):
			invokeOK = true
		}
	}
	return urlOK && invokeOK
}

// HasPermission reports whether function fn's policy on qualifier lets
// principal invoke it from sourceArn (S3 checks this before accepting a
// notification configuration).
func (s *Server) HasPermission(fnArn, principal, sourceArn string) bool {
	name, qual, ok := splitName(fnArn)
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fns[name]
	if f == nil {
		return false
	}
	for _, st := range f.policies[qual] {
		p, _ := st.Principal.(map[string]string)
		if st.Action != "lambda:InvokeFunction" || p["Service"] != principal {
			continue
		}
		if c, _ := st.Condition["ArnLike"].(map[string]string); c != nil && c["AWS:SourceArn"] == sourceArn {
			return true
		}
	}
	return false
}

// esm is an EventSourceMappingConfiguration.
type esm struct {
	UUID                           string   `json:"UUID"`
	EventSourceMappingArn          string   `json:"EventSourceMappingArn"`
	EventSourceArn                 string   `json:"EventSourceArn"`
	FunctionArn                    string   `json:"FunctionArn"`
	BatchSize                      int32    `json:"BatchSize"`
	MaximumBatchingWindowInSeconds int32    `json:"MaximumBatchingWindowInSeconds"`
	StartingPosition               string   `json:"StartingPosition,omitempty"`
	State                          string   `json:"State"`
	StateTransitionReason          string   `json:"StateTransitionReason"`
	FunctionResponseTypes          []string `json:"FunctionResponseTypes,omitempty"`
	enabled                        bool
	settleAt                       time.Time
	tags                           map[string]string
}

func (e *esm) refresh(now time.Time) {
	if (e.State == "Creating" || e.State == "Updating" || e.State == "Enabling" || e.State == "Disabling") && !now.Before(e.settleAt) {
		if e.enabled {
			e.State = "Enabled"
		} else {
			e.State = "Disabled"
		}
		e.StateTransitionReason = "USER_INITIATED"
	}
}

func sourceKind(arn string) string {
	switch {
	case strings.HasPrefix(arn, "arn:aws:sqs:"):
		return "sqs"
	case strings.HasPrefix(arn, "arn:aws:kinesis:"):
		return "kinesis"
	case strings.HasPrefix(arn, "arn:aws:dynamodb:") && strings.Contains(arn, "/stream/"):
		return "dynamodb"
	}
	return ""
}

// resolveFunctionArn turns a FunctionName parameter into a (qualified) ARN.
func (s *Server) resolveFunctionArn(n string) (string, *apiError) {
	name, qual, ok := splitName(n)
	if !ok {
		return "", invalid("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint", n)
	}
	f := s.fns[name]
	if f == nil {
		return "", notFound("Function does not exist")
	}
	if qual != "" {
		if _, aerr := s.qualified(f, qual); aerr != nil {
			return "", aerr
		}
		return f.arn + ":" + qual, nil
	}
	return f.arn, nil
}

type esmInput struct {
	EventSourceArn                 *string           `json:"EventSourceArn"`
	FunctionName                   *string           `json:"FunctionName"`
	Enabled                        *bool             `json:"Enabled"`
	BatchSize                      *int32            `json:"BatchSize"`
	MaximumBatchingWindowInSeconds *int32            `json:"MaximumBatchingWindowInSeconds"`
	StartingPosition               *string           `json:"StartingPosition"`
	FunctionResponseTypes          []string          `json:"FunctionResponseTypes"`
	Tags                           map[string]string `json:"Tags"`
}

func checkBatch(kind string, batch, window int32, fifo bool) *apiError {
	maxBatch := int32(10000)
	if fifo {
		maxBatch = 10
	}
	if batch < 1 || batch > maxBatch {
		return invalid("BatchSize %d is out of range for %s (1 to %d)", batch, kind, maxBatch)
	}
	if window < 0 || window > 300 {
		return invalid("MaximumBatchingWindowInSeconds must be between 0 and 300")
	}
	if kind == "sqs" && batch > 10 && window < 1 {
		return invalid("Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10")
	}
	return nil
}

func (s *Server) createESM(r *http.Request, _ []string, body []byte) (int, any, *apiError) {
	var in esmInput
	if aerr := decode(body, &in); aerr != nil {
		return 0, nil, aerr
	}
	if in.EventSourceArn == nil || in.FunctionName == nil {
		return 0, nil, invalid("EventSourceArn and FunctionName are required")
	}
	kind := sourceKind(*in.EventSourceArn)
	if kind == "" {
		return 0, nil, invalid("Unrecognized event source, must be kinesis, dynamodb stream or sqs.")
	}
	fnArn, aerr := s.resolveFunctionArn(*in.FunctionName)
	if aerr != nil {
		return 0, nil, aerr
	}
	e := &esm{UUID: newID(), EventSourceArn: *in.EventSourceArn, FunctionArn: fnArn, State: "Creating",
		StateTransitionReason: "USER_INITIATED", enabled: true, tags: maps.Clone(in.Tags), FunctionResponseTypes: in.FunctionResponseTypes}
	e.EventSourceMappingArn = fmt.Sprintf("arn:aws:lambda:%s:%s:event-source-mapping:%s", s.opts.Region, s.opts.Account, e.UUID)
	if in.Enabled != nil {
		e.enabled = *in.Enabled
	}
	switch kind {
	case "sqs":
		e.BatchSize = 10
		if in.StartingPosition != nil {
			return 0, nil, invalid("StartingPosition is not valid for SQS event sources.")
		}
	default:
		e.BatchSize = 100
		if in.StartingPosition == nil {
			return 0, nil, invalid("1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: Member must not be null")
		}
		if *in.StartingPosition != "LATEST" && *in.StartingPosition != "TRIM_HORIZON" && !(kind == "kinesis" && *in.StartingPosition == "AT_TIMESTAMP") {
			return 0, nil, invalid("Unsupported starting position %s for %s", *in.StartingPosition, kind)
		}
		e.StartingPosition = *in.StartingPosition
	}
	if in.BatchSize != nil {
		e.BatchSize = *in.BatchSize
	}
	if in.MaximumBatchingWindowInSeconds != nil {
		e.MaximumBatchingWindowInSeconds = *in.MaximumBatchingWindowInSeconds
	}
	if aerr := checkBatch(kind, e.BatchSize, e.MaximumBatchingWindowInSeconds, strings.HasSuffix(e.EventSourceArn, ".fifo")); aerr != nil {
		return 0, nil, aerr
	}
	for _, other := range s.esms {
		if other.EventSourceArn == e.EventSourceArn && other.FunctionArn == e.FunctionArn {
			return 0, nil, conflict("An event source mapping with %s arn (\" %s \") and function (\" %s \") already exists. Please update or delete the existing mapping with UUID %s",
				strings.ToUpper(kind), e.EventSourceArn, e.FunctionArn, other.UUID)
		}
	}
	e.settleAt = time.Now().Add(s.opts.ESMDelay)
	s.esms[e.UUID] = e
	out := *e
	e.refresh(time.Now())
	return 202, out, nil
}

func (s *Server) esmByUUID(uuid string) (*esm, *apiError) {
	e := s.esms[uuid]
	if e == nil {
		return nil, notFound("The resource you requested does not exist.")
	}
	e.refresh(time.Now())
	return e, nil
}

func (s *Server) getESM(r *http.Request, m []string, _ []byte) (int, any, *apiError) {
	e, aerr := s.esmByUUID(m[1])
	if aerr != nil {
		return 0, nil, aerr
	}
	return 200, *e, nil
}

func (s *Server) listESMs(r *http.Request, _ []string, _ []byte) (int, any, *apiError) {
	q := r.URL.Query()
	var fnArn string
	if fn := q.Get("FunctionName"); fn != "" {
		arn, aerr := s.resolveFunctionArn(fn)
		if aerr != nil {
			return 0, nil, aerr
		}
		fnArn = arn
	}
	var all []esm
	for _, uuid := range slices.Sorted(maps.Keys(s.esms)) {
		e := s.esms[uuid]
		e.refresh(time.Now())
		if (fnArn != "" && e.FunctionArn != fnArn) || (q.Get("EventSourceArn") != "" && e.EventSourceArn != q.Get("EventSourceArn")) {
			continue
		}
		all = append(all, *e)
	}
	items, next := page(all, r)
	return 200, map[string]any{"EventSourceMappings": items, "NextMarker": next}, nil
}

func (s *Server) updateESM(r *http.Request, m []string, body []byte) (int, any, *apiError) {
	e, aerr := s.esmByUUID(m[1])
	if aerr != nil {
		return 0, nil, aerr
	}
	var in esmInput
	if aerr := decode(body, &in); aerr != nil {
		return 0, nil, aerr
	}
	if e.State != "Enabled" && e.State != "Disabled" {
		return 0, nil, errf(400, "ResourceInUseException", "Cannot update the event source mapping because it is in use (state %s).", e.State)
	}
	if in.EventSourceArn != nil || in.StartingPosition != nil {
		return 0, nil, invalid("EventSourceArn and StartingPosition cannot be updated")
	}
	batch, window := e.BatchSize, e.MaximumBatchingWindowInSeconds
	if in.BatchSize != nil {
		batch = *in.BatchSize
	}
	if in.MaximumBatchingWindowInSeconds != nil {
		window = *in.MaximumBatchingWindowInSeconds
	}
	if aerr := checkBatch(sourceKind(e.EventSourceArn), batch, window, strings.HasSuffix(e.EventSourceArn, ".fifo")); aerr != nil {
		return 0, nil, aerr
	}
	if in.FunctionName != nil {
		arn, aerr := s.resolveFunctionArn(*in.FunctionName)
		if aerr != nil {
			return 0, nil, aerr
		}
		e.FunctionArn = arn
	}
	if in.Enabled != nil {
		e.enabled = *in.Enabled
	}
	e.BatchSize, e.MaximumBatchingWindowInSeconds = batch, window
	e.State, e.settleAt = "Updating", time.Now().Add(s.opts.ESMDelay)
	out := *e
	e.refresh(time.Now())
	return 202, out, nil
}

func (s *Server) deleteESM(r *http.Request, m []string, _ []byte) (int, any, *apiError) {
	e, aerr := s.esmByUUID(m[1])
	if aerr != nil {
		return 0, nil, aerr
	}
	if e.State != "Enabled" && e.State != "Disabled" {
		return 0, nil, errf(400, "ResourceInUseException", "Cannot delete the event source mapping because it is in use (state %s).", e.State)
	}
	delete(s.esms, e.UUID)
	out := *e
	out.State = "Deleting"
	return 202, out, nil
}

// EventSourceMappings returns the mappings whose function ARN starts with
// fnArn, as "UUID source function batch" lines, for assertions.
func (s *Server) EventSourceMappings(fnArn string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, uuid := range slices.Sorted(maps.Keys(s.esms)) {
		e := s.esms[uuid]
		if strings.HasPrefix(e.FunctionArn, fnArn) {
			out = append(out, fmt.Sprintf("%s %s %s %d", e.UUID, e.EventSourceArn, e.FunctionArn, e.BatchSize))
		}
	}
	return out
}

// AddForeignEventSourceMapping adds a mapping updraft did not create.
func (s *Server) AddForeignEventSourceMapping(sourceArn, fnArn string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &esm{UUID: newID(), EventSourceArn: sourceArn, FunctionArn: fnArn, State: "Enabled", BatchSize: 10, enabled: true}
	e.EventSourceMappingArn = fmt.Sprintf("arn:aws:lambda:%s:%s:event-source-mapping:%s", s.opts.Region, s.opts.Account, e.UUID)
	s.esms[e.UUID] = e
	return e.UUID
}

// tagTarget resolves a taggable ARN to its tag map.
func (s *Server) tagTarget(arn string) (*map[string]string, *apiError) {
	if i := strings.Index(arn, ":event-source-mapping:"); i >= 0 {
		e := s.esms[arn[i+len(":event-source-mapping:"):]]
		if e == nil {
			return nil, notFound("The resource you requested does not exist.")
		}
		return &e.tags, nil
	}
	name, qual, ok := splitName(arn)
	if !ok || !strings.HasPrefix(arn, "arn:") {
		return nil, invalid("Invalid resource ARN %s", arn)
	}
	if qual != "" {
		return nil, invalid("Tags are not supported on qualified function ARNs")
	}
	f := s.fns[name]
	if f == nil {
		return nil, notFound("Function not found: %s", arn)
	}
	return &f.tags, nil
}

func (s *Server) tagResource(r *http.Request, m []string, body []byte) (int, any, *apiError) {
	tags, aerr := s.tagTarget(m[1])
	if aerr != nil {
		return 0, nil, aerr
	}
	var in struct {
		Tags map[string]string `json:"Tags"`
	}
	if aerr := decode(body, &in); aerr != nil {
		return 0, nil, aerr
	}
	if *tags == nil {
		*tags = map[string]string{}
	}
	if len(*tags)+len(in.Tags) > 50 {
		return 0, nil, invalid("A resource can have at most 50 tags")
	}
	maps.Copy(*tags, in.Tags)
	return 204, nil, nil
}

func (s *Server) untagResource(r *http.Request, m []string, _ []byte) (int, any, *apiError) {
	tags, aerr := s.tagTarget(m[1])
	if aerr != nil {
		return 0, nil, aerr
	}
	for _, k := range r.URL.Query()["tagKeys"] {
		delete(*tags, k)
	}
	return 204, nil, nil
}

func (s *Server) listTags(r *http.Request, m []string, _ []byte) (int, any, *apiError) {
	tags, aerr := s.tagTarget(m[1])
	if aerr != nil {
		return 0, nil, aerr
	}
	out := *tags
	if out == nil {
		out = map[string]string{}
	}
	return 200, map[string]any{"Tags": out}, nil
}

type invocationRecord struct {
	at        time.Time
	function  string
	version   string
	resource  string // "fn:qualifier" or "fn"
	failed    bool
	throttled bool
}

func (s *Server) invoke(w http.ResponseWriter, r *http.Request) {
	raw := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/2015-03-31/functions/"), "/invocations")
	payload, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	f, qual, aerr := s.lookup(r, raw)
	if aerr != nil {
		s.mu.Unlock()
		awswire.WriteError(w, aerr.status, aerr.typ, aerr.msg)
		return
	}
	ver := qual
	if a := f.aliases[qual]; a != nil {
		ver = a.FunctionVersion
		if a.RoutingConfig != nil {
			for k, wt := range a.RoutingConfig.AdditionalVersionWeights {
				if s.rnd.Float64() < wt {
					ver = k
				}
			}
		}
	}
	if ver == "" {
		ver = "$LATEST"
	}
	cfg, aerr := s.qualified(f, ver)
	if aerr == nil && cfg.State == "Pending" {
		aerr = conflict("The operation cannot be performed at this time. The function is currently in the following state: Pending")
	}
	if aerr != nil {
		s.mu.Unlock()
		awswire.WriteError(w, aerr.status, aerr.typ, aerr.msg)
		return
	}
	resource := f.name
	if qual != "" {
		resource += ":" + qual
	}
	handler := s.opts.Handler
	var env map[string]string
	if cfg.Environment != nil {
		env = maps.Clone(cfg.Environment.Variables)
	}
	s.mu.Unlock()

	out := payload
	var ferr error
	if handler != nil {
		out, ferr = handler(r.Context(), &Invocation{Function: f.name, Version: ver, Env: env, Payload: payload})
	}
	s.mu.Lock()
	s.invokes = append(s.invokes, invocationRecord{at: time.Now(), function: f.name, version: ver, resource: resource, failed: ferr != nil})
	s.mu.Unlock()
	w.Header().Set("X-Amz-Executed-Version", ver)
	w.Header().Set("Content-Type", "application/json")
	if ferr != nil {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		out, _ = json.Marshal(map[string]string{"errorMessage": ferr.Error(), "errorType": "errorString"})
	}
	w.WriteHeader(200)
	w.Write(out)
}

// RecordInvocations adds n invocations of function fn's version through
// resource ("fn:alias", "fn:version" or "fn"), of which errors failed and
// throttles were throttled, at time at (zero = now), to the metrics.
func (s *Server) RecordInvocations(fn, resource, version string, at time.Time, n, errors, throttles int) {
	if at.IsZero() {
		at = time.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range n {
		s.invokes = append(s.invokes, invocationRecord{at: at, function: fn, version: version, resource: resource, failed: i < errors})
	}
	for range throttles {
		s.invokes = append(s.invokes, invocationRecord{at: at, function: fn, version: version, resource: resource, throttled: true})
	}
}

// Datapoints serves AWS/Lambda metrics (Invocations, Errors, Throttles)
// for cloudwatchfake: the Sum per period of the invocations matching the
// dimensions (FunctionName, optionally Resource and ExecutedVersion),
// like CloudWatch's published Lambda metrics.
func (s *Server) Datapoints(namespace, metric string, dims map[string]string, start, end time.Time, period time.Duration) ([]time.Time, []float64) {
	if namespace != "AWS/Lambda" || period <= 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	buckets := map[int64]float64{}
	for _, rec := range s.invokes {
		if rec.at.Before(start) || !rec.at.Before(end) {
			continue
		}
		if fn, ok := dims["FunctionName"]; !ok || fn != rec.function {
			continue
		}
		if res, ok := dims["Resource"]; ok && res != rec.resource {
			continue
		}
		if v, ok := dims["ExecutedVersion"]; ok && v != rec.version {
			continue
		}
		var val float64
		switch metric {
		case "Invocations":
			if !rec.throttled {
				val = 1
			}
		case "Errors":
			if rec.failed {
				val = 1
			}
		case "Throttles":
			if rec.throttled {
				val = 1
			}
		default:
			continue
		}
		b := start.Add(rec.at.Sub(start) / period * period).Unix()
		buckets[b] += val
	}
	var ts []time.Time
	var vs []float64
	for _, b := range slices.Sorted(maps.Keys(buckets)) {
		ts = append(ts, time.Unix(b, 0).UTC())
		vs = append(vs, buckets[b])
	}
	return ts, vs
}
