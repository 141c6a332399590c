package function

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// HandlerOptions configure Mux.Handler. A nil *HandlerOptions means the
// defaults.
type HandlerOptions struct {
	// Platform says whose conventions the requests follow; "" means Azure
	// when FUNCTIONS_CUSTOMHANDLER_PORT is set, else GCP when K_SERVICE
	// is (and AWS_LAMBDA_RUNTIME_API is not, which means local://), else
	// Local.
	Platform Platform
	// EventKey is the trigger key of events that do not name theirs; ""
	// means $UPDRAFT_EVENT_KEY.
	EventKey string
}

// Handler returns the http.Handler serving DefaultMux: what the Cloud
// Functions root package registers with functions-framework-go, and what
// Main serves on $PORT and on the Azure custom-handler port.
func Handler() http.Handler { return DefaultMux.Handler(nil) }

// Handler returns an http.Handler serving m. It answers:
//
//   - CloudEvents (binary or structured mode): Pub/Sub messages, Cloud
//     Storage object events and Firestore document events, for the handler
//     of the event's kind (see the package doc for which key);
//   - Cloud Scheduler calls (X-CloudScheduler header), for a schedule
//     handler;
//   - Azure invocation envelopes POSTed at /KEY for the non-HTTP handler
//     KEY (on the Azure platform, or with an X-Azure-Functions-InvocationId
//     header); an HTTP route named like a non-HTTP trigger key is
//     therefore not reachable with POST there;
//   - anything else, for the HTTP handler.
func (m *Mux) Handler(opts *HandlerOptions) http.Handler {
	s := &server{mux: m}
	if opts != nil {
		s.platform, s.eventKey = opts.Platform, opts.EventKey
	}
	if s.platform == "" {
		switch {
		case os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT") != "":
			s.platform = Azure
		case os.Getenv("K_SERVICE") != "" && os.Getenv("AWS_LAMBDA_RUNTIME_API") == "":
			s.platform = GCP
		default:
			s.platform = Local
		}
	}
	if s.eventKey == "" {
		s.eventKey = os.Getenv("UPDRAFT_EVENT_KEY")
	}
	return s
}

type server struct {
	mux      *Mux
	platform Platform
	eventKey string
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in := Info{Platform: s.platform, Trace: traceFromHeader(r.Header)}
	for _, h := range []string{"X-Azure-Functions-Invocationid", "Function-Execution-Id", "X-Request-Id", "X-Cloud-Trace-Context"} {
		if v := r.Header.Get(h); v != "" {
			in.RequestID = v
			if h == "X-Cloud-Trace-Context" {
				in.RequestID, _, _ = strings.Cut(v, "/")
			}
			break
		}
	}
	if r.Method == http.MethodPost {
		if key := strings.Trim(r.URL.Path, "/"); key != "" && !strings.Contains(key, "/") &&
			(s.platform == Azure || r.Header.Get("X-Azure-Functions-Invocationid") != "") {
			if e, ok := s.mux.get(key); ok && e.kind != KindHTTP {
				in.Key = key
				s.azure(w, r, in, e)
				return
			}
		}
		if r.Header.Get("Ce-Specversion") != "" || strings.HasPrefix(r.Header.Get("Content-Type"), "application/cloudevents") {
			s.cloudEvent(w, r, in)
			return
		}
	}
	if r.Header.Get("X-Cloudscheduler") != "" && len(s.mux.Keys(KindSchedule)) > 0 {
		s.cloudScheduler(w, r, in)
		return
	}
	key, h, err := s.mux.httpHandler(r.URL.Path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	in.Key = key
	serveRecovered(w, r.WithContext(NewContext(r.Context(), in)), h, key)
}

// run calls fn, turning a panic into an error.
func run(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return fn()
}

func logError(ctx context.Context, msg, key string, err error) {
	if _, ok := FromContext(ctx); ok {
		slog.Default().ErrorContext(ctx, msg, "err", err)
		return
	}
	slog.Default().ErrorContext(ctx, msg, "trigger", key, "err", err)
}

// fail answers a failed event: a 500 makes Pub/Sub, Eventarc and Cloud
// Scheduler deliver it again.
func fail(w http.ResponseWriter, ctx context.Context, key string, err error) {
	logError(ctx, "function: event handler failed", key, err)
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

func (s *server) cloudScheduler(w http.ResponseWriter, r *http.Request, in Info) {
	name := r.Header.Get("X-Cloudscheduler-Jobname")
	key, e, err := s.mux.resolve(KindSchedule, s.eventKey, name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	in.Key = key
	ctx := NewContext(r.Context(), in)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	t := Tick{Time: time.Now().UTC(), Name: name}
	if len(body) > 0 {
		t.Payload = body
	}
	if st, err := time.Parse(time.RFC3339, r.Header.Get("X-Cloudscheduler-Scheduletime")); err == nil {
		t.Time = st.UTC()
	}
	if err := run(func() error { return e.sched(ctx, t) }); err != nil {
		fail(w, ctx, key, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// CloudEvent types handled.
const (
	cePubSub         = "google.cloud.pubsub.topic.v1.messagePublished"
	ceStoragePrefix  = "google.cloud.storage.object.v1."
	ceFirestorePrefx = "google.cloud.firestore.document.v1."
)

func (s *server) cloudEvent(w http.ResponseWriter, r *http.Request, in Info) {
	ev, err := binding.ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
	if err != nil {
		http.Error(w, "function: not a CloudEvent: "+err.Error(), http.StatusBadRequest)
		return
	}
	if in.RequestID == "" {
		in.RequestID = ev.ID()
	}
	if tp, ok := ev.Extensions()["traceparent"].(string); ok && !in.Trace.IsValid() {
		in.Trace, _ = ParseTraceparent(tp)
	}
	typ := ev.Type()
	var kind Kind
	var call func(context.Context, entry) error
	var source string
	switch {
	case typ == cePubSub:
		kind, source = KindQueue, ev.Source()
		msg, err := pubsubMessage(ev)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		call = func(ctx context.Context, e entry) error {
			failed, err := e.queue(ctx, []Message{msg})
			if err == nil && len(failed) > 0 {
				err = fmt.Errorf("message %s failed", msg.ID)
			}
			return err
		}
	case strings.HasPrefix(typ, ceStoragePrefix):
		kind = KindStorage
		obj, ok, err := storageObject(ev)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if !ok { // archived, metadataUpdated: not portable events
			w.WriteHeader(http.StatusOK)
			return
		}
		source = obj.Bucket
		call = func(ctx context.Context, e entry) error { return e.storage(ctx, obj) }
	case strings.HasPrefix(typ, ceFirestorePrefx):
		kind = KindStream
		c, err := firestoreChange(ev)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnsupportedMediaType)
			return
		}
		source = c.Source
		call = func(ctx context.Context, e entry) error {
			failed, err := e.stream(ctx, []Change{c})
			if err == nil && len(failed) > 0 {
				err = fmt.Errorf("change %s failed", c.ID)
			}
			return err
		}
	default:
		http.Error(w, fmt.Sprintf("function: CloudEvents of type %s are not supported: use Pub/Sub, Cloud Storage or Firestore (JSON) events", typ), http.StatusBadRequest)
		return
	}
	eventKey := s.eventKey
	if k, ok := ev.Extensions()["updraftkey"].(string); ok && k != "" {
		// local:// names the trigger of the events it delivers.
		eventKey = k
	}
	key, e, err := s.mux.resolve(kind, eventKey, source)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	in.Key = key
	ctx := NewContext(r.Context(), in)
	if err := run(func() error { return call(ctx, e) }); err != nil {
		fail(w, ctx, key, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func pubsubMessage(ev *event.Event) (Message, error) {
	var d struct {
		Subscription string `json:"subscription"`
		Message      struct {
			Data        []byte            `json:"data"`
			Attributes  map[string]string `json:"attributes"`
			MessageID   string            `json:"messageId"`
			PublishTime time.Time         `json:"publishTime"`
		} `json:"message"`
		DeliveryAttempt int `json:"deliveryAttempt"`
	}
	if err := json.Unmarshal(ev.Data(), &d); err != nil {
		return Message{}, fmt.Errorf("function: decoding the Pub/Sub message: %w", err)
	}
	id := d.Message.MessageID
	if id == "" {
		id = ev.ID()
	}
	t := d.Message.PublishTime
	if t.IsZero() {
		t = ev.Time()
	}
	return Message{ID: id, Body: d.Message.Data, Attributes: d.Message.Attributes, Source: topicOf(ev.Source()),
		Time: t.UTC(), DeliveryCount: d.DeliveryAttempt}, nil
}

// topicOf is "projects/P/topics/T" of a Pub/Sub event source.
func topicOf(src string) string {
	if _, rest, ok := strings.Cut(src, "pubsub.googleapis.com/"); ok {
		return rest
	}
	return src
}

func storageObject(ev *event.Event) (Object, bool, error) {
	var d struct {
		Bucket      string    `json:"bucket"`
		Name        string    `json:"name"`
		Size        string    `json:"size"`
		ETag        string    `json:"etag"`
		ContentType string    `json:"contentType"`
		Updated     time.Time `json:"updated"`
	}
	if err := json.Unmarshal(ev.Data(), &d); err != nil {
		return Object{}, false, fmt.Errorf("function: decoding the Cloud Storage event: %w", err)
	}
	o := Object{Bucket: d.Bucket, Key: d.Name, ETag: d.ETag, ContentType: d.ContentType, Time: ev.Time().UTC()}
	o.Size, _ = strconv.ParseInt(d.Size, 10, 64)
	switch strings.TrimPrefix(ev.Type(), ceStoragePrefix) {
	case "finalized":
		o.Event = ObjectCreated
	case "deleted":
		o.Event = ObjectDeleted
	default:
		return o, false, nil
	}
	return o, true, nil
}

// firestoreValue is a Firestore Value in its JSON form.
type firestoreValue struct {
	NullValue      *json.RawMessage `json:"nullValue"`
	BooleanValue   *bool            `json:"booleanValue"`
	IntegerValue   *string          `json:"integerValue"`
	DoubleValue    *float64         `json:"doubleValue"`
	TimestampValue *time.Time       `json:"timestampValue"`
	StringValue    *string          `json:"stringValue"`
	BytesValue     []byte           `json:"bytesValue"`
	ReferenceValue *string          `json:"referenceValue"`
	GeoPointValue  *struct {
		Latitude  float64 `json:"latitude"`
		Longitude float64 `json:"longitude"`
	} `json:"geoPointValue"`
	ArrayValue *struct {
		Values []firestoreValue `json:"values"`
	} `json:"arrayValue"`
	MapValue *struct {
		Fields map[string]firestoreValue `json:"fields"`
	} `json:"mapValue"`
}

type firestoreDoc struct {
	Name   string                    `json:"name"`
	Fields map[string]firestoreValue `json:"fields"`
}

func (v firestoreValue) plain() any {
	switch {
	case v.BooleanValue != nil:
		return *v.BooleanValue
	case v.IntegerValue != nil:
		return json.Number(*v.IntegerValue)
	case v.DoubleValue != nil:
		return *v.DoubleValue
	case v.TimestampValue != nil:
		return *v.TimestampValue
	case v.StringValue != nil:
		return *v.StringValue
	case v.BytesValue != nil:
		return v.BytesValue
	case v.ReferenceValue != nil:
		return *v.ReferenceValue
	case v.GeoPointValue != nil:
		return map[string]any{"latitude": v.GeoPointValue.Latitude, "longitude": v.GeoPointValue.Longitude}
	case v.ArrayValue != nil:
		out := make([]any, len(v.ArrayValue.Values))
		for i, e := range v.ArrayValue.Values {
			out[i] = e.plain()
		}
		return out
	case v.MapValue != nil:
		return firestoreFields(v.MapValue.Fields)
	}
	return nil
}

func firestoreFields(f map[string]firestoreValue) map[string]any {
	out := make(map[string]any, len(f))
	for k, v := range f {
		out[k] = v.plain()
	}
	return out
}

func firestoreChange(ev *event.Event) (Change, error) {
	path := strings.TrimPrefix(ev.Subject(), "documents/")
	c := Change{ID: ev.ID(), Time: ev.Time().UTC(), Key: map[string]any{"path": path}}
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		c.Source = path[:i]
	}
	switch ct := ev.DataMediaType(); ct {
	case "application/protobuf", "application/x-protobuf":
		var err error
		if c.Old, c.New, err = firestoreProtoDocs(ev.Data()); err != nil {
			return Change{}, err
		}
	case "", "application/json":
		var d struct {
			OldValue *firestoreDoc `json:"oldValue"`
			Value    *firestoreDoc `json:"value"`
		}
		if err := json.Unmarshal(ev.Data(), &d); err != nil {
			return Change{}, fmt.Errorf("function: decoding the Firestore event: %w", err)
		}
		if d.OldValue != nil && d.OldValue.Name != "" {
			c.Old = firestoreFields(d.OldValue.Fields)
		}
		if d.Value != nil && d.Value.Name != "" {
			c.New = firestoreFields(d.Value.Fields)
		}
	default:
		return Change{}, fmt.Errorf("function: Firestore event data in %s is not supported: use application/protobuf or application/json", ct)
	}
	switch {
	case c.Old == nil && c.New != nil:
		c.Op = Insert
	case c.Old != nil && c.New == nil:
		c.Op = Remove
	default:
		c.Op = Modify
	}
	return c, nil
}

// The Azure custom handler envelope.

type azureRequest struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

type azureResponse struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// binding returns the input binding named name, or the only one.
func (a *azureRequest) binding(name string) json.RawMessage {
	if v, ok := a.Data[name]; ok {
		return v
	}
	if len(a.Data) == 1 {
		for _, v := range a.Data {
			return v
		}
	}
	return nil
}

// meta returns a metadata value as a string; the host JSON-encodes some
// values twice ("\"id\"").
func (a *azureRequest) meta(name string) string {
	raw, ok := a.Metadata[name]
	if !ok {
		return ""
	}
	return unquote(raw)
}

func unquote(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	switch x := v.(type) {
	case string:
		var inner string
		if strings.HasPrefix(x, `"`) && json.Unmarshal([]byte(x), &inner) == nil {
			return inner
		}
		return x
	case nil:
		return ""
	}
	return strings.TrimSpace(string(raw))
}

// bindingBytes is the content of a binding: a JSON string's text, or the
// JSON itself.
func bindingBytes(raw json.RawMessage) []byte {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []byte(s)
	}
	return bytes.TrimSpace(raw)
}

func (s *server) azure(w http.ResponseWriter, r *http.Request, in Info, e entry) {
	var req azureRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeAzure(w, http.StatusBadRequest, nil, "function: the invocation is not an Azure custom handler envelope: "+err.Error())
		return
	}
	ctx, logs := withInvocationLogs(NewContext(r.Context(), in))
	err := run(func() error { return s.azureCall(ctx, &req, e) })
	if err != nil {
		logError(ctx, "function: event handler failed", in.Key, err)
		writeAzure(w, http.StatusInternalServerError, logs.all(), err.Error())
		return
	}
	writeAzure(w, http.StatusOK, logs.all(), "")
}

// writeAzure answers an envelope: Logs are the invocation's log messages,
// which the host records with it; a non-2xx status makes it retry.
func writeAzure(w http.ResponseWriter, code int, logs []string, errMsg string) {
	resp := azureResponse{Outputs: map[string]any{}, Logs: logs}
	if resp.Logs == nil {
		resp.Logs = []string{}
	}
	if errMsg != "" && len(resp.Logs) == 0 {
		resp.Logs = append(resp.Logs, errMsg)
	}
	b, _ := json.Marshal(resp)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

func azureTime(s string) time.Time {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999", "01/02/2006 15:04:05 -07:00", "1/2/2006 3:04:05 PM -07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func (s *server) azureCall(ctx context.Context, req *azureRequest, e entry) error {
	switch e.kind {
	case KindQueue:
		return azureQueue(ctx, req, e.queue)
	case KindStream:
		return azureCosmos(ctx, req, e.stream)
	case KindSchedule:
		return azureTimer(ctx, req, e.sched)
	case KindStorage:
		return azureBlob(ctx, req, e.storage)
	}
	return fmt.Errorf("function: %s handlers are not invoked through envelopes", e.kind)
}

func azureQueue(ctx context.Context, req *azureRequest, fn QueueFunc) error {
	raw := req.binding("msg")
	if raw == nil {
		return errors.New("function: the queue invocation has no msg binding")
	}
	m := Message{Body: bindingBytes(raw), ID: req.meta("Id")}
	if m.ID == "" {
		m.ID = req.meta("MessageId")
	}
	dc := req.meta("DequeueCount")
	if dc == "" {
		dc = req.meta("DeliveryCount")
	}
	m.DeliveryCount, _ = strconv.Atoi(dc)
	m.Time = azureTime(req.meta("InsertionTime"))
	if m.Time.IsZero() {
		m.Time = azureTime(req.meta("EnqueuedTimeUtc"))
	}
	for _, name := range []string{"ApplicationProperties", "UserProperties"} {
		var props map[string]any
		if raw, ok := req.Metadata[name]; ok && json.Unmarshal(raw, &props) == nil && len(props) > 0 {
			m.Attributes = map[string]string{}
			for k, v := range props {
				m.Attributes[k] = fmt.Sprint(v)
			}
			break
		}
	}
	failed, err := fn(ctx, []Message{m})
	if err == nil && len(failed) > 0 {
		err = fmt.Errorf("message %s failed", m.ID)
	}
	return err
}

func azureCosmos(ctx context.Context, req *azureRequest, fn StreamFunc) error {
	raw := req.binding("documents")
	if raw == nil {
		return errors.New("function: the Cosmos DB invocation has no documents binding")
	}
	var docs []map[string]any
	if err := json.Unmarshal(bindingBytes(raw), &docs); err != nil {
		return fmt.Errorf("function: decoding the Cosmos DB documents: %w", err)
	}
	cs := make([]Change, len(docs))
	for i, d := range docs {
		id, _ := d["id"].(string)
		c := Change{ID: id, Op: Upsert, Key: map[string]any{"id": id}, New: d}
		if lsn, ok := d["_lsn"].(float64); ok {
			c.ID = strconv.FormatFloat(lsn, 'f', -1, 64)
		}
		if ts, ok := d["_ts"].(float64); ok {
			c.Time = time.Unix(int64(ts), 0).UTC()
		}
		cs[i] = c
	}
	failed, err := fn(ctx, cs)
	if err == nil && len(failed) > 0 {
		err = fmt.Errorf("changes %v failed: the Cosmos DB trigger retries the whole batch", failed)
	}
	return err
}

func azureTimer(ctx context.Context, req *azureRequest, fn ScheduleFunc) error {
	t := Tick{Time: time.Now().UTC()}
	var sys struct {
		UtcNow string `json:"UtcNow"`
	}
	if raw, ok := req.Metadata["sys"]; ok && json.Unmarshal(raw, &sys) == nil {
		if st := azureTime(sys.UtcNow); !st.IsZero() {
			t.Time = st
		}
	}
	if in, ok := FromContext(ctx); ok {
		t.Name = in.Key
	}
	return fn(ctx, t)
}

func azureBlob(ctx context.Context, req *azureRequest, fn StorageFunc) error {
	raw := req.binding("blob")
	path := req.meta("BlobTrigger")
	o := Object{Event: ObjectCreated}
	o.Bucket, o.Key, _ = strings.Cut(path, "/")
	var props struct {
		Length       int64  `json:"Length"`
		ContentType  string `json:"ContentType"`
		ETag         string `json:"ETag"`
		LastModified string `json:"LastModified"`
	}
	if p, ok := req.Metadata["Properties"]; ok {
		json.Unmarshal(p, &props)
	}
	o.Size, o.ContentType, o.ETag = props.Length, props.ContentType, strings.Trim(props.ETag, `"`)
	o.Time = azureTime(props.LastModified)
	if o.Size == 0 && raw != nil {
		o.Size = int64(len(bindingBytes(raw)))
	}
	if o.Key == "" {
		return fmt.Errorf("function: the blob invocation's BlobTrigger metadata %q is not container/name", path)
	}
	return fn(ctx, o)
}
