package function

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// LambdaHandler is the handler Main gives aws-lambda-go on the Lambda
// Runtime API: it decodes each event, calls the handler registered for
// it and encodes the response Lambda expects. It implements
// lambda.Handler.
type LambdaHandler struct {
	mux      *Mux
	eventKey string
}

// NewLambdaHandler returns the Lambda handler serving m. eventKey is the
// trigger key events go to when the event does not say (see the package
// doc); "" means $UPDRAFT_EVENT_KEY.
func NewLambdaHandler(m *Mux, eventKey string) *LambdaHandler {
	if eventKey == "" {
		eventKey = os.Getenv("UPDRAFT_EVENT_KEY")
	}
	return &LambdaHandler{mux: m, eventKey: eventKey}
}

// lambdaProbe has just enough of every event shape to tell them apart.
type lambdaProbe struct {
	Records []struct {
		EventSource string `json:"eventSource"`
	} `json:"Records"`
	RawPath        *string `json:"rawPath"`
	RequestContext struct {
		HTTP *struct{} `json:"http"`
	} `json:"requestContext"`
	HTTPMethod string `json:"httpMethod"`
	DetailType string `json:"detail-type"`
	Source     string `json:"source"`
}

// Invoke handles one Lambda invocation. It implements lambda.Handler.
func (h *LambdaHandler) Invoke(ctx context.Context, payload []byte) (out []byte, err error) {
	in := Info{Platform: AWSLambda}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		in.RequestID = lc.AwsRequestID
	}
	in.XRay, _ = ctx.Value("x-amzn-trace-id").(string)
	if in.XRay == "" {
		in.XRay = os.Getenv("_X_AMZN_TRACE_ID")
	}
	in.Trace, _ = ParseXRay(in.XRay)
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("function: handler for %q panicked: %v", in.Key, p)
		}
	}()
	var probe lambdaProbe
	if err := json.Unmarshal(payload, &probe); err != nil {
		return nil, fmt.Errorf("function: the Lambda event is not a JSON object: %w", err)
	}
	src := ""
	if len(probe.Records) > 0 {
		src = probe.Records[0].EventSource
	}
	switch {
	case src == "aws:sqs":
		return h.sqs(ctx, in, payload)
	case src == "aws:dynamodb":
		return h.dynamo(ctx, in, payload)
	case src == "aws:kinesis":
		return h.kinesis(ctx, in, payload)
	case src == "aws:s3":
		return h.s3(ctx, in, payload)
	case src != "":
		return nil, fmt.Errorf("function: Lambda events from %s are not supported: use SQS, DynamoDB Streams, Kinesis, S3, EventBridge or HTTP", src)
	case probe.RawPath != nil || probe.RequestContext.HTTP != nil:
		return h.http(ctx, in, payload)
	case probe.HTTPMethod != "":
		return nil, errors.New("function: API Gateway REST (payload format 1.0) and ALB events are not supported: use a function URL or an HTTP API with payload format 2.0")
	case probe.DetailType == "Scheduled Event" || probe.Source == "aws.scheduler" || probe.Source == "aws.events":
		return h.scheduled(ctx, in, payload)
	}
	// A schedule's own payload (EventBridge Scheduler Input) has no shape
	// to recognise: it goes to the schedule handler if one is named.
	key, e, err := h.mux.resolve(KindSchedule, h.eventKey, "")
	if err != nil {
		return nil, fmt.Errorf("function: unrecognised Lambda event (not HTTP, SQS, DynamoDB, Kinesis, S3 or EventBridge): %w", err)
	}
	in.Key = key
	return nil, e.sched(NewContext(ctx, in), Tick{Time: time.Now().UTC(), Payload: append([]byte(nil), payload...)})
}

func (h *LambdaHandler) sqs(ctx context.Context, in Info, payload []byte) ([]byte, error) {
	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("function: decoding the SQS event: %w", err)
	}
	key, e, err := h.mux.resolve(KindQueue, h.eventKey, ev.Records[0].EventSourceARN)
	if err != nil {
		return nil, err
	}
	in.Key = key
	msgs := make([]Message, len(ev.Records))
	for i, r := range ev.Records {
		m := Message{ID: r.MessageId, Body: []byte(r.Body), Source: r.EventSourceARN}
		if len(r.MessageAttributes) > 0 {
			m.Attributes = make(map[string]string, len(r.MessageAttributes))
			for k, a := range r.MessageAttributes {
				if a.StringValue != nil {
					m.Attributes[k] = *a.StringValue
				} else if a.BinaryValue != nil {
					m.Attributes[k] = base64.StdEncoding.EncodeToString(a.BinaryValue)
				}
			}
		}
		if ms, err := strconv.ParseInt(r.Attributes["SentTimestamp"], 10, 64); err == nil {
			m.Time = time.UnixMilli(ms).UTC()
		}
		m.DeliveryCount, _ = strconv.Atoi(r.Attributes["ApproximateReceiveCount"])
		msgs[i] = m
	}
	failed, err := e.queue(NewContext(ctx, in), msgs)
	if err != nil {
		return nil, err
	}
	if err := checkFailed(failed, len(msgs), func(i int) string { return msgs[i].ID }); err != nil {
		return nil, err
	}
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, id := range failed {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
	}
	return json.Marshal(resp)
}

// checkFailed refuses IDs that are not in the batch: Lambda would fail the
// whole batch for them, silently.
func checkFailed(failed []string, n int, id func(int) string) error {
	if len(failed) == 0 {
		return nil
	}
	ids := make(map[string]bool, n)
	for i := range n {
		ids[id(i)] = true
	}
	for _, f := range failed {
		if !ids[f] {
			return fmt.Errorf("function: the handler reported %q failed, which is not the ID of a message of the batch", f)
		}
	}
	return nil
}

func (h *LambdaHandler) dynamo(ctx context.Context, in Info, payload []byte) ([]byte, error) {
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("function: decoding the DynamoDB Streams event: %w", err)
	}
	table := tableOf(ev.Records[0].EventSourceArn)
	key, e, err := h.mux.resolve(KindStream, h.eventKey, table)
	if err != nil {
		return nil, err
	}
	in.Key = key
	cs := make([]Change, len(ev.Records))
	for i, r := range ev.Records {
		c := Change{ID: r.Change.SequenceNumber, Source: tableOf(r.EventSourceArn), Time: r.Change.ApproximateCreationDateTime.UTC(),
			Key: dynamoMap(r.Change.Keys), Old: dynamoMap(r.Change.OldImage), New: dynamoMap(r.Change.NewImage)}
		switch r.EventName {
		case "INSERT":
			c.Op = Insert
		case "MODIFY":
			c.Op = Modify
		case "REMOVE":
			c.Op = Remove
		default:
			c.Op = Op(strings.ToLower(r.EventName))
		}
		cs[i] = c
	}
	failed, err := e.stream(NewContext(ctx, in), cs)
	if err != nil {
		return nil, err
	}
	if err := checkFailed(failed, len(cs), func(i int) string { return cs[i].ID }); err != nil {
		return nil, err
	}
	resp := events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{}}
	for _, id := range failed {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: id})
	}
	return json.Marshal(resp)
}

// tableOf is the table name of a DynamoDB stream ARN
// (arn:aws:dynamodb:R:A:table/T/stream/LABEL), or the ARN itself.
func tableOf(arn string) string {
	if _, rest, ok := strings.Cut(arn, ":table/"); ok {
		t, _, _ := strings.Cut(rest, "/")
		return t
	}
	return arn
}

func dynamoMap(m map[string]events.DynamoDBAttributeValue) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = dynamoValue(v)
	}
	return out
}

// dynamoValue converts an attribute value: numbers become json.Number
// (they are decimal strings of up to 38 digits), sets become slices.
func dynamoValue(v events.DynamoDBAttributeValue) any {
	switch v.DataType() {
	case events.DataTypeString:
		return v.String()
	case events.DataTypeNumber:
		return json.Number(v.Number())
	case events.DataTypeBoolean:
		return v.Boolean()
	case events.DataTypeBinary:
		return v.Binary()
	case events.DataTypeNull:
		return nil
	case events.DataTypeStringSet:
		return v.StringSet()
	case events.DataTypeBinarySet:
		return v.BinarySet()
	case events.DataTypeNumberSet:
		ns := v.NumberSet()
		out := make([]json.Number, len(ns))
		for i, n := range ns {
			out[i] = json.Number(n)
		}
		return out
	case events.DataTypeList:
		l := v.List()
		out := make([]any, len(l))
		for i, e := range l {
			out[i] = dynamoValue(e)
		}
		return out
	case events.DataTypeMap:
		return dynamoMap(v.Map())
	}
	return nil
}

func (h *LambdaHandler) kinesis(ctx context.Context, in Info, payload []byte) ([]byte, error) {
	var ev events.KinesisEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("function: decoding the Kinesis event: %w", err)
	}
	key, e, err := h.mux.resolve(KindStream, h.eventKey, ev.Records[0].EventSourceArn)
	if err != nil {
		return nil, err
	}
	in.Key = key
	cs := make([]Change, len(ev.Records))
	for i, r := range ev.Records {
		cs[i] = Change{ID: r.Kinesis.SequenceNumber, Op: Insert, Source: r.EventSourceArn,
			Key: map[string]any{"partitionKey": r.Kinesis.PartitionKey}, Data: r.Kinesis.Data,
			Time: r.Kinesis.ApproximateArrivalTimestamp.UTC()}
	}
	failed, err := e.stream(NewContext(ctx, in), cs)
	if err != nil {
		return nil, err
	}
	if err := checkFailed(failed, len(cs), func(i int) string { return cs[i].ID }); err != nil {
		return nil, err
	}
	resp := events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{}}
	for _, id := range failed {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: id})
	}
	return json.Marshal(resp)
}

func (h *LambdaHandler) s3(ctx context.Context, in Info, payload []byte) ([]byte, error) {
	var ev events.S3Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("function: decoding the S3 event: %w", err)
	}
	key, e, err := h.mux.resolve(KindStorage, h.eventKey, ev.Records[0].S3.ConfigurationID)
	if err != nil {
		return nil, err
	}
	in.Key = key
	ctx = NewContext(ctx, in)
	for _, r := range ev.Records {
		o := Object{Bucket: r.S3.Bucket.Name, Key: r.S3.Object.URLDecodedKey, Size: r.S3.Object.Size, ETag: r.S3.Object.ETag, Time: r.EventTime.UTC()}
		if o.Key == "" {
			o.Key = r.S3.Object.Key
		}
		switch {
		case strings.HasPrefix(r.EventName, "ObjectCreated:"):
			o.Event = ObjectCreated
		case strings.HasPrefix(r.EventName, "ObjectRemoved:"):
			o.Event = ObjectDeleted
		default:
			continue // restores, replication, lifecycle: not portable events
		}
		if err := e.storage(ctx, o); err != nil {
			return nil, err
		}
	}
	return []byte("null"), nil
}

func (h *LambdaHandler) scheduled(ctx context.Context, in Info, payload []byte) ([]byte, error) {
	var ev events.EventBridgeEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("function: decoding the EventBridge event: %w", err)
	}
	name := ""
	if len(ev.Resources) > 0 {
		name = ev.Resources[0]
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			name = name[i+1:]
		}
	}
	key, e, err := h.mux.resolve(KindSchedule, h.eventKey, name)
	if err != nil {
		return nil, err
	}
	in.Key = key
	if in.RequestID == "" {
		in.RequestID = ev.ID
	}
	t := Tick{Time: ev.Time.UTC(), Name: name}
	if t.Time.IsZero() {
		t.Time = time.Now().UTC()
	}
	return []byte("null"), e.sched(NewContext(ctx, in), t)
}

func (h *LambdaHandler) http(ctx context.Context, in Info, payload []byte) ([]byte, error) {
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("function: decoding the HTTP event: %w", err)
	}
	req, err := requestFromLambda(ctx, &ev)
	if err != nil {
		return nil, err
	}
	if !in.Trace.IsValid() {
		in.Trace = traceFromHeader(req.Header)
	}
	key, hh, err := h.mux.httpHandler(req.URL.Path)
	if err != nil {
		return json.Marshal(events.LambdaFunctionURLResponse{StatusCode: http.StatusNotFound, Body: err.Error(),
			Headers: map[string]string{"Content-Type": "text/plain; charset=utf-8"}})
	}
	in.Key = key
	req = req.WithContext(NewContext(ctx, in))
	var w bufferedResponse
	serveRecovered(&w, req, hh, key)
	return json.Marshal(w.lambdaResponse())
}

// requestFromLambda rebuilds the HTTP request of a function URL or HTTP
// API (payload format 2.0) event.
func requestFromLambda(ctx context.Context, ev *events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	method := ev.RequestContext.HTTP.Method
	if method == "" {
		method = http.MethodGet
	}
	p := ev.RawPath
	if p == "" {
		p = ev.RequestContext.HTTP.Path
	}
	if p == "" {
		p = "/"
	}
	q := ev.RawQueryString
	if q == "" && len(ev.QueryStringParameters) > 0 {
		v := url.Values{}
		for k, s := range ev.QueryStringParameters {
			v.Set(k, s)
		}
		q = v.Encode()
	}
	target := p
	if q != "" {
		target += "?" + q
	}
	var body []byte
	if ev.Body != "" {
		if ev.IsBase64Encoded {
			var err error
			if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
				return nil, fmt.Errorf("function: the HTTP event's base64 body does not decode: %w", err)
			}
		} else {
			body = []byte(ev.Body)
		}
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, fmt.Errorf("function: the HTTP event's path %q: %w", target, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, "", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("function: the HTTP event's method %q: %w", method, err)
	}
	req.URL = u
	req.RequestURI = target
	req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/1.1", 1, 1
	if pr := ev.RequestContext.HTTP.Protocol; pr != "" {
		if maj, min, ok := http.ParseHTTPVersion(pr); ok {
			req.Proto, req.ProtoMajor, req.ProtoMinor = pr, maj, min
		}
	}
	for k, v := range ev.Headers {
		req.Header.Set(k, v)
	}
	if len(ev.Cookies) > 0 {
		req.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	req.Host = req.Header.Get("Host")
	if req.Host == "" {
		req.Host = ev.RequestContext.DomainName
	}
	req.ContentLength = int64(len(body))
	if ip := ev.RequestContext.HTTP.SourceIP; ip != "" {
		req.RemoteAddr = ip + ":0"
	}
	return req, nil
}

// bufferedResponse is an http.ResponseWriter keeping the whole response,
// for clouds that take it as one value (Lambda, Azure envelopes).
type bufferedResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *bufferedResponse) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

func (w *bufferedResponse) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *bufferedResponse) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.body.Write(b)
}

func (w *bufferedResponse) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

func (w *bufferedResponse) lambdaResponse() events.LambdaFunctionURLResponse {
	h := w.Header()
	body := w.body.Bytes()
	if h.Get("Content-Type") == "" && len(body) > 0 {
		h.Set("Content-Type", http.DetectContentType(body))
	}
	r := events.LambdaFunctionURLResponse{StatusCode: w.status(), Headers: map[string]string{}}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range h {
			if !yield(k) {
				return
			}
		}
	}) {
		if k == "Set-Cookie" {
			r.Cookies = append(r.Cookies, h[k]...)
			continue
		}
		r.Headers[k] = strings.Join(h[k], ",")
	}
	if isText(h.Get("Content-Type")) && utf8.Valid(body) {
		r.Body = string(body)
	} else {
		r.Body = base64.StdEncoding.EncodeToString(body)
		r.IsBase64Encoded = true
	}
	return r
}

// isText reports whether a content type is sent as text.
func isText(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"), strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	switch mt {
	case "application/json", "application/xml", "application/javascript", "application/x-www-form-urlencoded":
		return true
	}
	return false
}

// serveRecovered serves r with h, answering 500 if h panics.
func serveRecovered(w http.ResponseWriter, r *http.Request, h http.Handler, key string) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			logError(r.Context(), "function: HTTP handler panicked", key, fmt.Errorf("%v", p))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	h.ServeHTTP(w, r)
}

// httpHandler picks the HTTP handler for a path: the only one, or the one
// named by the path's first element.
func (m *Mux) httpHandler(path string) (string, http.Handler, error) {
	keys := m.Keys(KindHTTP)
	switch len(keys) {
	case 0:
		return "", nil, errors.New("no HTTP handler is registered: register one with function.HTTP")
	case 1:
		e, _ := m.get(keys[0])
		return keys[0], e.http, nil
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if e, ok := m.get(first); ok && e.kind == KindHTTP {
		return first, e.http, nil
	}
	return "", nil, fmt.Errorf("%s matches none of the HTTP handlers %v: with several, the first path element names the key", path, keys)
}
