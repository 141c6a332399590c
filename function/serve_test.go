package function

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// postCE posts a CloudEvent sample to h, in structured mode (the file as
// it is) or binary mode (attributes as ce-* headers, data as the body).
func postCE(t *testing.T, h http.Handler, file string, binary bool, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	raw, err := os.ReadFile("testdata/gcf-events/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var req *http.Request
	if binary {
		var ev map[string]json.RawMessage
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		req = httptest.NewRequest("POST", "/", bytes.NewReader(ev["data"]))
		for k, v := range ev {
			if k == "data" {
				continue
			}
			var s string
			json.Unmarshal(v, &s)
			if k == "datacontenttype" {
				req.Header.Set("Content-Type", s)
				continue
			}
			req.Header.Set("Ce-"+k, s)
		}
	} else {
		req = httptest.NewRequest("POST", "/", bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/cloudevents+json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestCloudEventPubSub(t *testing.T) {
	for _, binary := range []bool{false, true} {
		var m Mux
		var got []Message
		var info Info
		fail := false
		m.Queue("jobs", func(ctx context.Context, b []Message) ([]string, error) {
			got, info = b, mustInfo(ctx)
			if fail {
				return []string{b[0].ID}, nil
			}
			return nil, nil
		})
		h := m.Handler(&HandlerOptions{Platform: GCP})
		w := postCE(t, h, "pubsub_text-cloudevent-input.json", binary, map[string]string{
			"Traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "Function-Execution-Id": "exec-1"})
		if w.Code != 200 {
			t.Fatalf("binary=%v: %d %s", binary, w.Code, w.Body)
		}
		want := []Message{{ID: "aaaaaa-1111-bbbb-2222-cccccccccccc", Body: []byte("test message 3"), Attributes: map[string]string{"attr1": "attr1-value"},
			Source: "projects/sample-project/topics/gcf-test", Time: time.Date(2020, 9, 29, 11, 32, 0, 123e6, time.UTC)}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("binary=%v:\n got %+v\nwant %+v", binary, got, want)
		}
		if info.Key != "jobs" || info.RequestID != "exec-1" || info.Trace.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || info.Platform != GCP {
			t.Errorf("info %+v", info)
		}
		// A failed message is a nack: Pub/Sub redelivers on a non-2xx status.
		fail = true
		if w := postCE(t, h, "pubsub_binary-cloudevent-input.json", binary, nil); w.Code != 500 {
			t.Errorf("failed message answered %d", w.Code)
		}
		if !bytes.Equal(got[0].Body, []byte{1, 2, 3, 4}) {
			t.Errorf("binary data %v", got[0].Body)
		}
	}
}

func mustInfo(ctx context.Context) Info {
	in, ok := FromContext(ctx)
	if !ok {
		panic("no Info in the handler's context")
	}
	return in
}

func TestCloudEventStorage(t *testing.T) {
	var m Mux
	var got Object
	m.Storage("uploads", func(_ context.Context, o Object) error { got = o; return nil })
	w := postCE(t, m.Handler(&HandlerOptions{Platform: GCP}), "storage-cloudevent-input.json", true, nil)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	want := Object{Bucket: "some-bucket", Key: "folder/Test.cs", Size: 352, Event: ObjectCreated, ETag: "CNHZkbuF/ugCEAE=", ContentType: "text/plain",
		Time: time.Date(2020, 9, 29, 11, 32, 0, 123e6, time.UTC)}
	if got != want {
		t.Errorf("\n got %+v\nwant %+v", got, want)
	}
	m2 := Mux{}
	m2.Storage("uploads", func(context.Context, Object) error { return errors.New("disk full") })
	if w := postCE(t, m2.Handler(&HandlerOptions{Platform: GCP}), "storage-cloudevent-input.json", false, nil); w.Code != 500 {
		t.Errorf("failure answered %d", w.Code)
	}
}

func TestCloudEventFirestore(t *testing.T) {
	var m Mux
	var got []Change
	m.Stream("docs", func(_ context.Context, b []Change) ([]string, error) { got = append(got, b...); return nil, nil })
	h := m.Handler(&HandlerOptions{Platform: GCP})
	for _, f := range []string{"firestore_simple-cloudevent-input.json", "firestore_complex-cloudevent-input.json"} {
		if w := postCE(t, h, f, false, nil); w.Code != 200 {
			t.Fatalf("%s: %d %s", f, w.Code, w.Body)
		}
	}
	simple, complex := got[0], got[1]
	if simple.Op != Modify || simple.Source != "gcf-test" || simple.Key["path"] != "gcf-test/2Vm2mI1d0wIaK2Waj5to" ||
		!reflect.DeepEqual(simple.Old, map[string]any{"another test": "asd", "count": json.Number("3"), "foo": "bar"}) ||
		!reflect.DeepEqual(simple.New, map[string]any{"another test": "asd", "count": json.Number("4"), "foo": "bar"}) {
		t.Errorf("simple %+v", simple)
	}
	if complex.Op != Insert || complex.Old != nil {
		t.Errorf("complex op %s old %v", complex.Op, complex.Old)
	}
	n := complex.New
	if !reflect.DeepEqual(n["arrayValue"], []any{json.Number("1"), json.Number("2")}) || n["booleanValue"] != true || n["doubleValue"] != 5.5 ||
		n["nullValue"] != nil || n["stringValue"] != "text" ||
		!reflect.DeepEqual(n["mapValue"], map[string]any{"field1": "x", "field2": []any{"x", json.Number("1")}}) ||
		!reflect.DeepEqual(n["geoPointValue"], map[string]any{"latitude": 51.4543, "longitude": -0.9781}) {
		t.Errorf("complex new %#v", n)
	}
	if _, ok := n["timestampValue"].(time.Time); !ok {
		t.Errorf("timestamp %T", n["timestampValue"])
	}
}

func TestCloudEventKeys(t *testing.T) {
	var m Mux
	var which string
	m.Queue("a", func(context.Context, []Message) ([]string, error) { which = "a"; return nil, nil })
	m.Queue("b", func(context.Context, []Message) ([]string, error) { which = "b"; return nil, nil })
	// Two queue handlers: the one named by UPDRAFT_EVENT_KEY.
	if w := postCE(t, m.Handler(&HandlerOptions{Platform: GCP, EventKey: "b"}), "pubsub_text-cloudevent-input.json", true, nil); w.Code != 200 || which != "b" {
		t.Errorf("%d, handler %q", w.Code, which)
	}
	// local:// names the trigger in the updraftkey extension, over the environment's.
	if w := postCE(t, m.Handler(&HandlerOptions{Platform: GCP, EventKey: "b"}), "pubsub_text-cloudevent-input.json", true, map[string]string{"Ce-Updraftkey": "a"}); w.Code != 200 || which != "a" {
		t.Errorf("with Ce-Updraftkey a: %d, handler %q", w.Code, which)
	}
	// Neither named: an error that says what to do.
	w := postCE(t, m.Handler(&HandlerOptions{Platform: GCP}), "pubsub_text-cloudevent-input.json", true, nil)
	if w.Code != 404 || !strings.Contains(w.Body.String(), "UPDRAFT_EVENT_KEY") {
		t.Errorf("%d %s", w.Code, w.Body)
	}
	// No handler of the kind.
	var m2 Mux
	m2.HTTP("web", http.NotFoundHandler())
	if w := postCE(t, m2.Handler(nil), "storage-cloudevent-input.json", true, nil); w.Code != 404 || !strings.Contains(w.Body.String(), "function.Storage") {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}

func TestCloudScheduler(t *testing.T) {
	var m Mux
	var got Tick
	m.Schedule("tick", func(_ context.Context, tk Tick) error { got = tk; return nil })
	m.HTTP("web", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("scheduler call reached the HTTP handler") }))
	req := httptest.NewRequest("POST", "/", strings.NewReader(`{"job":"x"}`))
	req.Header.Set("X-CloudScheduler", "true")
	req.Header.Set("X-CloudScheduler-JobName", "updraft-fn-tick")
	req.Header.Set("X-CloudScheduler-ScheduleTime", "2024-12-01T09:00:00Z")
	w := httptest.NewRecorder()
	m.Handler(&HandlerOptions{Platform: GCP}).ServeHTTP(w, req)
	if w.Code != 200 || got.Name != "updraft-fn-tick" || !got.Time.Equal(time.Date(2024, 12, 1, 9, 0, 0, 0, time.UTC)) || string(got.Payload) != `{"job":"x"}` {
		t.Errorf("%d %+v", w.Code, got)
	}
}

func TestHTTPRouting(t *testing.T) {
	var m Mux
	m.HTTP("web", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in := mustInfo(r.Context())
		w.Write([]byte(in.Key + " " + r.URL.Path + " " + in.RequestID))
	}))
	h := m.Handler(&HandlerOptions{Platform: Local})
	req := httptest.NewRequest("GET", "/x/y", nil)
	req.Header.Set("X-Request-Id", "rid")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Body.String() != "web /x/y rid" {
		t.Errorf("single handler: %q", w.Body)
	}
	m.HTTP("admin", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("admin")) }))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/admin/users", nil))
	if w.Body.String() != "admin" {
		t.Errorf("by first path element: %q", w.Body)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/other", nil))
	if w.Code != 404 {
		t.Errorf("no match: %d", w.Code)
	}
}

// Azure custom handler envelopes, as the Functions host POSTs them to
// /<function name> (the shapes Microsoft documents for custom handlers;
// Metadata values arrive JSON-encoded, some twice).
func TestAzureEnvelopes(t *testing.T) {
	var m Mux
	var msgs []Message
	var changes []Change
	var objs []Object
	var ticks []Tick
	var infos []Info
	failQueue := false
	m.HTTP("web", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("http " + r.URL.Path)) }))
	m.Queue("jobs", func(ctx context.Context, b []Message) ([]string, error) {
		msgs, infos = append(msgs, b...), append(infos, mustInfo(ctx))
		if failQueue {
			return []string{b[0].ID}, nil
		}
		return nil, nil
	})
	m.Stream("items", func(_ context.Context, b []Change) ([]string, error) {
		changes = append(changes, b...)
		return nil, nil
	})
	m.Storage("files", func(_ context.Context, o Object) error { objs = append(objs, o); return nil })
	m.Schedule("tick", func(_ context.Context, tk Tick) error { ticks = append(ticks, tk); return nil })
	h := m.Handler(&HandlerOptions{Platform: Azure})
	post := func(path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Azure-Functions-InvocationId", "inv-"+strings.Trim(path, "/"))
		req.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	// The queue shape of Microsoft's custom handler documentation.
	queue := `{"Data":{"msg":"{ message: \"Message sent\" }"},"Metadata":{"DequeueCount":1,"ExpirationTime":"2019-10-16T17:58:31+00:00",
	 "Id":"800ae4b3-bdd2-4c08-badd-f08e5a34b865","InsertionTime":"2019-10-09T17:58:31+00:00","NextVisibleTime":"2019-10-09T18:08:32+00:00",
	 "PopReceipt":"AgAAAAMAAAAAAAAAAzb4bNF+1QE=","sys":{"MethodName":"jobs","UtcNow":"2019-10-09T17:58:32.0Z","RandGuid":"x"}}}`
	w := post("/jobs", queue)
	if w.Code != 200 || w.Body.String() != `{"Outputs":{},"Logs":[],"ReturnValue":null}` {
		t.Errorf("queue: %d %s", w.Code, w.Body)
	}
	wantMsg := Message{ID: "800ae4b3-bdd2-4c08-badd-f08e5a34b865", Body: []byte(`{ message: "Message sent" }`), DeliveryCount: 1, Time: time.Date(2019, 10, 9, 17, 58, 31, 0, time.UTC)}
	if len(msgs) != 1 || !reflect.DeepEqual(msgs[0], wantMsg) {
		t.Errorf("message %+v, want %+v", msgs, wantMsg)
	}
	if infos[0].RequestID != "inv-jobs" || infos[0].Key != "jobs" || infos[0].Trace.TraceID != "0af7651916cd43dd8448eb211c80319c" || infos[0].Platform != Azure {
		t.Errorf("info %+v", infos[0])
	}
	failQueue = true
	if w := post("/jobs", queue); w.Code != 500 || !strings.Contains(w.Body.String(), "failed") {
		t.Errorf("failed message: %d %s (a non-2xx makes the host retry)", w.Code, w.Body)
	}

	cosmos := `{"Data":{"documents":"[{\"id\":\"i1\",\"name\":\"pen\",\"_lsn\":12,\"_ts\":1733043600},{\"id\":\"i2\",\"_lsn\":13,\"_ts\":1733043601}]"},"Metadata":{}}`
	if w := post("/items", cosmos); w.Code != 200 {
		t.Errorf("cosmos: %d %s", w.Code, w.Body)
	}
	if len(changes) != 2 || changes[0].Op != Upsert || changes[0].ID != "12" || changes[0].Key["id"] != "i1" || changes[0].New["name"] != "pen" ||
		!changes[0].Time.Equal(time.Unix(1733043600, 0)) {
		t.Errorf("changes %+v", changes)
	}

	blob := `{"Data":{"blob":"aGVsbG8="},"Metadata":{"BlobTrigger":"\"uploads/in/a.txt\"","Uri":"\"https://acct.blob.core.windows.net/uploads/in/a.txt\"",
	 "Properties":{"Length":5,"ContentType":"text/plain","ETag":"\"0x8DC\"","LastModified":"2024-12-01T09:00:00+00:00"},"name":"\"in/a.txt\""}}`
	if w := post("/files", blob); w.Code != 200 {
		t.Errorf("blob: %d %s", w.Code, w.Body)
	}
	wantObj := Object{Bucket: "uploads", Key: "in/a.txt", Size: 5, Event: ObjectCreated, ETag: "0x8DC", ContentType: "text/plain", Time: time.Date(2024, 12, 1, 9, 0, 0, 0, time.UTC)}
	if len(objs) != 1 || objs[0] != wantObj {
		t.Errorf("object %+v, want %+v", objs, wantObj)
	}

	timer := `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":"2024-12-01T08:55:00Z","Next":"2024-12-01T09:05:00Z"},"IsPastDue":false}},
	 "Metadata":{"sys":{"MethodName":"tick","UtcNow":"2024-12-01T09:00:00.0012Z","RandGuid":"y"}}}`
	if w := post("/tick", timer); w.Code != 200 {
		t.Errorf("timer: %d %s", w.Code, w.Body)
	}
	if len(ticks) != 1 || !ticks[0].Time.Equal(time.Date(2024, 12, 1, 9, 0, 0, 1200000, time.UTC)) || ticks[0].Name != "tick" {
		t.Errorf("ticks %+v", ticks)
	}

	// A forwarded HTTP request keeps its path and reaches the HTTP handler,
	// also when it is a POST.
	if w := post("/orders", `{"a":1}`); w.Body.String() != "http /orders" {
		t.Errorf("forwarded request: %d %s", w.Code, w.Body)
	}
	if w := post("/jobs", `not json`); w.Code != 400 {
		t.Errorf("bad envelope: %d", w.Code)
	}
}

func TestAzureEnvelopeCarriesInvocationLogs(t *testing.T) {
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(NewLogHandler(&buf, &LogOptions{Platform: Azure})))
	defer slog.SetDefault(prev)
	var m Mux
	m.Queue("jobs", func(ctx context.Context, b []Message) ([]string, error) {
		slog.InfoContext(ctx, "working", "id", b[0].ID)
		return nil, errors.New("no space")
	})
	req := httptest.NewRequest("POST", "/jobs", strings.NewReader(`{"Data":{"msg":"x"},"Metadata":{"Id":"q-9"}}`))
	req.Header.Set("X-Azure-Functions-InvocationId", "inv-9")
	w := httptest.NewRecorder()
	m.Handler(&HandlerOptions{Platform: Azure}).ServeHTTP(w, req)
	if w.Code != 500 || w.Body.String() != `{"Outputs":{},"Logs":["INFO: working id=q-9","ERROR: function: event handler failed err=no space"],"ReturnValue":null}` {
		t.Errorf("%d %s", w.Code, w.Body)
	}
	if !strings.Contains(buf.String(), `"invocationId":"inv-9"`) {
		t.Errorf("stdout records lack the invocation id: %s", buf.String())
	}
}

// firestorePB encodes a DocumentEventData as Firestore sends it by
// default (application/protobuf), with the field numbers of its proto.
func firestorePB(oldFields, newFields [][]byte) []byte {
	doc := func(fields [][]byte) []byte {
		var d []byte
		d = protowire.AppendTag(d, 1, protowire.BytesType)
		d = protowire.AppendString(d, "projects/p/databases/(default)/documents/users/u1")
		for _, f := range fields {
			d = protowire.AppendTag(d, 2, protowire.BytesType)
			d = protowire.AppendBytes(d, f)
		}
		return d
	}
	var b []byte
	if newFields != nil {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, doc(newFields))
	}
	if oldFields != nil {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, doc(oldFields))
	}
	return b
}

// pbEntry is a map<string, Value> entry whose Value has field num.
func pbEntry(key string, value []byte) []byte {
	var e []byte
	e = protowire.AppendTag(e, 1, protowire.BytesType)
	e = protowire.AppendString(e, key)
	e = protowire.AppendTag(e, 2, protowire.BytesType)
	return protowire.AppendBytes(e, value)
}

func TestCloudEventFirestoreProtobuf(t *testing.T) {
	str := func(s string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, 17, protowire.BytesType), s)
	}
	i64 := func(n int64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), uint64(n))
	}
	dbl := protowire.AppendFixed64(protowire.AppendTag(nil, 3, protowire.Fixed64Type), math.Float64bits(2.5))
	boolean := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1)
	null := protowire.AppendVarint(protowire.AppendTag(nil, 11, protowire.VarintType), 0)
	ts := protowire.AppendBytes(protowire.AppendTag(nil, 10, protowire.BytesType),
		protowire.AppendVarint(protowire.AppendTag(protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1733043600), 2, protowire.VarintType), 5))
	arr := protowire.AppendBytes(protowire.AppendTag(nil, 9, protowire.BytesType),
		append(protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), i64(1)), protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), str("x"))...))
	mp := protowire.AppendBytes(protowire.AppendTag(nil, 6, protowire.BytesType),
		protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), pbEntry("inner", boolean)))
	geo := protowire.AppendBytes(protowire.AppendTag(nil, 8, protowire.BytesType),
		protowire.AppendFixed64(protowire.AppendTag(protowire.AppendFixed64(protowire.AppendTag(nil, 1, protowire.Fixed64Type), math.Float64bits(51.5)), 2, protowire.Fixed64Type), math.Float64bits(-0.1)))
	data := firestorePB([][]byte{pbEntry("name", str("ann")), pbEntry("visits", i64(3))},
		[][]byte{pbEntry("name", str("ann")), pbEntry("visits", i64(4)), pbEntry("score", dbl), pbEntry("ok", boolean), pbEntry("none", null),
			pbEntry("at", ts), pbEntry("list", arr), pbEntry("map", mp), pbEntry("where", geo)})

	var m Mux
	var got []Change
	m.Stream("users", func(_ context.Context, b []Change) ([]string, error) { got = b; return nil, nil })
	req := httptest.NewRequest("POST", "/", bytes.NewReader(data))
	for k, v := range map[string]string{"Ce-Specversion": "1.0", "Ce-Type": "google.cloud.firestore.document.v1.written", "Ce-Id": "e-1",
		"Ce-Source": "//firestore.googleapis.com/projects/p/databases/(default)", "Ce-Subject": "documents/users/u1", "Content-Type": "application/protobuf"} {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	m.Handler(&HandlerOptions{Platform: GCP}).ServeHTTP(w, req)
	if w.Code != 200 || len(got) != 1 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	c := got[0]
	wantNew := map[string]any{"name": "ann", "visits": json.Number("4"), "score": 2.5, "ok": true, "none": nil,
		"at": time.Unix(1733043600, 5).UTC(), "list": []any{json.Number("1"), "x"}, "map": map[string]any{"inner": true},
		"where": map[string]any{"latitude": 51.5, "longitude": -0.1}}
	if c.Op != Modify || c.Source != "users" || c.Key["path"] != "users/u1" || !reflect.DeepEqual(c.Old, map[string]any{"name": "ann", "visits": json.Number("3")}) ||
		!reflect.DeepEqual(c.New, wantNew) {
		t.Errorf("change %+v", c)
	}
	// A truncated message is refused, not half read.
	req = httptest.NewRequest("POST", "/", bytes.NewReader(data[:len(data)-3]))
	for k, v := range map[string]string{"Ce-Specversion": "1.0", "Ce-Type": "google.cloud.firestore.document.v1.written", "Ce-Id": "e-2",
		"Ce-Source": "//firestore.googleapis.com/projects/p/databases/(default)", "Content-Type": "application/protobuf"} {
		req.Header.Set(k, v)
	}
	w = httptest.NewRecorder()
	m.Handler(&HandlerOptions{Platform: GCP}).ServeHTTP(w, req)
	if w.Code == 200 {
		t.Error("truncated protobuf accepted")
	}
}
