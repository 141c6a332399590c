package lambdafake

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Event source mappings: SQS, Kinesis and DynamoDB Streams.

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
	// MaximumRetryAttempts and BisectBatchOnFunctionError are reported
	// for stream sources only (-1 and false by default), as Lambda does.
	MaximumRetryAttempts       *int32 `json:"MaximumRetryAttempts,omitempty"`
	BisectBatchOnFunctionError *bool  `json:"BisectBatchOnFunctionError,omitempty"`
	enabled                    bool
	settleAt                   time.Time
	tags                       map[string]string
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
	MaximumRetryAttempts           *int32            `json:"MaximumRetryAttempts"`
	BisectBatchOnFunctionError     *bool             `json:"BisectBatchOnFunctionError"`
	Tags                           map[string]string `json:"Tags"`
}

// checkFailureHandling validates the error-handling parameters of in for
// a source of kind: the model's constraints (FunctionResponseTypes holds
// at most one value, ReportBatchItemFailures; MaximumRetryAttempts is -1
// to 10000) come back as ValidationException, and the stream-only
// parameters on an SQS source as InvalidParameterValueException.
func checkFailureHandling(kind string, in *esmInput) *apiError {
	if len(in.FunctionResponseTypes) > 1 {
		return errf(400, "ValidationException", "1 validation error detected: Value '%v' at 'functionResponseTypes' failed to satisfy constraint: Member must have length less than or equal to 1", in.FunctionResponseTypes)
	}
	for _, t := range in.FunctionResponseTypes {
		if t != "ReportBatchItemFailures" {
			return errf(400, "ValidationException", "1 validation error detected: Value '[%s]' at 'functionResponseTypes' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [ReportBatchItemFailures]]", t)
		}
	}
	if r := in.MaximumRetryAttempts; r != nil && (*r < -1 || *r > 10000) {
		bound := "less than or equal to 10000"
		if *r < -1 {
			bound = "greater than or equal to -1"
		}
		return errf(400, "ValidationException", "1 validation error detected: Value '%d' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value %s", *r, bound)
	}
	if kind == "sqs" {
		if in.MaximumRetryAttempts != nil {
			return invalid("Unsupported MaximumRetryAttempts parameter for SQS event source.")
		}
		if in.BisectBatchOnFunctionError != nil {
			return invalid("Unsupported BisectBatchOnFunctionError parameter for SQS event source.")
		}
	}
	return nil
}

// setFailureHandling copies the error-handling parameters in carries.
func (e *esm) setFailureHandling(in *esmInput) {
	if in.FunctionResponseTypes != nil {
		e.FunctionResponseTypes = slices.Clone(in.FunctionResponseTypes)
	}
	if in.MaximumRetryAttempts != nil {
		e.MaximumRetryAttempts = new(*in.MaximumRetryAttempts)
	}
	if in.BisectBatchOnFunctionError != nil {
		e.BisectBatchOnFunctionError = new(*in.BisectBatchOnFunctionError)
	}
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

func (s *Server) createESM(r *http.Request, body []byte) (int, any, *apiError) {
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
		StateTransitionReason: "USER_INITIATED", enabled: true, tags: maps.Clone(in.Tags)}
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
		e.MaximumRetryAttempts, e.BisectBatchOnFunctionError = new(int32(-1)), new(false)
	}
	if aerr := checkFailureHandling(kind, &in); aerr != nil {
		return 0, nil, aerr
	}
	e.setFailureHandling(&in)
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
	e.settleAt = s.until(s.opts.ESMDelay)
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

func (s *Server) getESM(r *http.Request, _ []byte) (int, any, *apiError) {
	e, aerr := s.esmByUUID(r.PathValue("uuid"))
	if aerr != nil {
		return 0, nil, aerr
	}
	if s.opts.SettleOnRead {
		e.settleAt = time.Time{}
		e.refresh(time.Now())
	}
	return 200, *e, nil
}

func (s *Server) listESMs(r *http.Request, _ []byte) (int, any, *apiError) {
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

func (s *Server) updateESM(r *http.Request, body []byte) (int, any, *apiError) {
	e, aerr := s.esmByUUID(r.PathValue("uuid"))
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
	if aerr := checkFailureHandling(sourceKind(e.EventSourceArn), &in); aerr != nil {
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
	e.setFailureHandling(&in)
	e.State, e.settleAt = "Updating", s.until(s.opts.ESMDelay)
	out := *e
	e.refresh(time.Now())
	return 202, out, nil
}

func (s *Server) deleteESM(r *http.Request, _ []byte) (int, any, *apiError) {
	e, aerr := s.esmByUUID(r.PathValue("uuid"))
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
