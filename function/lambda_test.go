package function

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// lambdaCtx is the context aws-lambda-go gives a handler: the request id
// and the X-Ray header of the invocation.
func lambdaCtx(reqID, xray string) context.Context {
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: reqID})
	//lint:ignore SA1029 aws-lambda-go stores the trace header under this string key
	return context.WithValue(ctx, "x-amzn-trace-id", xray)
}

const testXRay = "Root=1-6755a1b2-0f1e2d3c4b5a697887766554;Parent=1a2b3c4d5e6f7081;Sampled=1"

// An SQS batch as Lambda delivers it (the shape of aws-lambda-go's
// events/testdata/sqs-event.json, written for this test).
const sqsEvent = `{"Records":[
 {"messageId":"m-1","receiptHandle":"rh1","body":"resize","attributes":{"ApproximateReceiveCount":"1","SentTimestamp":"1733011200000"},
  "messageAttributes":{"tenant":{"stringValue":"acme","dataType":"String"},"blob":{"binaryValue":"AQI=","dataType":"Binary"}},
  "eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:eu-west-1:123456789012:jobs","awsRegion":"eu-west-1"},
 {"messageId":"m-2","receiptHandle":"rh2","body":"fail me","attributes":{"ApproximateReceiveCount":"3","SentTimestamp":"1733011201000"},
  "eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:eu-west-1:123456789012:jobs","awsRegion":"eu-west-1"}]}`

func TestLambdaSQSReportsBatchItemFailures(t *testing.T) {
	var m Mux
	var got []Message
	var info Info
	m.Queue("jobs", func(ctx context.Context, batch []Message) ([]string, error) {
		got = batch
		info, _ = FromContext(ctx)
		var failed []string
		for _, msg := range batch {
			if strings.Contains(string(msg.Body), "fail") {
				failed = append(failed, msg.ID)
			}
		}
		return failed, nil
	})
	out, err := NewLambdaHandler(&m, "").Invoke(lambdaCtx("req-1", testXRay), []byte(sqsEvent))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"batchItemFailures":[{"itemIdentifier":"m-2"}]}` {
		t.Errorf("response %s", out)
	}
	want := []Message{
		{ID: "m-1", Body: []byte("resize"), Attributes: map[string]string{"tenant": "acme", "blob": "AQI="}, Source: "arn:aws:sqs:eu-west-1:123456789012:jobs",
			Time: time.UnixMilli(1733011200000).UTC(), DeliveryCount: 1},
		{ID: "m-2", Body: []byte("fail me"), Source: "arn:aws:sqs:eu-west-1:123456789012:jobs", Time: time.UnixMilli(1733011201000).UTC(), DeliveryCount: 3},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("messages\n got %+v\nwant %+v", got, want)
	}
	wantInfo := Info{Platform: AWSLambda, Key: "jobs", RequestID: "req-1", XRay: testXRay,
		Trace: TraceContext{TraceID: "6755a1b20f1e2d3c4b5a697887766554", SpanID: "1a2b3c4d5e6f7081", Sampled: true}}
	if info != wantInfo {
		t.Errorf("info %+v, want %+v", info, wantInfo)
	}
}

func TestLambdaSQSWholeBatchFailure(t *testing.T) {
	var m Mux
	m.Queue("jobs", func(context.Context, []Message) ([]string, error) { return nil, errors.New("database down") })
	if _, err := NewLambdaHandler(&m, "").Invoke(lambdaCtx("r", ""), []byte(sqsEvent)); err == nil || !strings.Contains(err.Error(), "database down") {
		t.Errorf("err = %v, want the handler's error (Lambda retries the whole batch)", err)
	}
	var m2 Mux
	m2.Queue("jobs", func(context.Context, []Message) ([]string, error) { return []string{"nope"}, nil })
	if _, err := NewLambdaHandler(&m2, "").Invoke(lambdaCtx("r", ""), []byte(sqsEvent)); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("err = %v, want an unknown-ID error", err)
	}
	var m3 Mux
	m3.Queue("jobs", func(context.Context, []Message) ([]string, error) { panic("boom") })
	if _, err := NewLambdaHandler(&m3, "").Invoke(lambdaCtx("r", ""), []byte(sqsEvent)); err == nil || !strings.Contains(err.Error(), "panicked: boom") {
		t.Errorf("err = %v, want the panic as an error", err)
	}
}

// DynamoDB Streams records (the shape of events/testdata/dynamodb-event.json).
const dynamoEvent = `{"Records":[
 {"eventID":"e1","eventName":"INSERT","eventSource":"aws:dynamodb","awsRegion":"eu-west-1",
  "dynamodb":{"ApproximateCreationDateTime":1733011200,"Keys":{"id":{"S":"o-1"}},
   "NewImage":{"id":{"S":"o-1"},"total":{"N":"12.50"},"paid":{"BOOL":false},"tags":{"SS":["a","b"]},"raw":{"B":"AAE="},
    "lines":{"L":[{"M":{"sku":{"S":"x"},"qty":{"N":"2"}}}]},"note":{"NULL":true}},
   "SequenceNumber":"100","SizeBytes":40,"StreamViewType":"NEW_AND_OLD_IMAGES"},
  "eventSourceARN":"arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2024-12-01T00:00:00.000"},
 {"eventID":"e2","eventName":"MODIFY","eventSource":"aws:dynamodb","awsRegion":"eu-west-1",
  "dynamodb":{"ApproximateCreationDateTime":1733011201,"Keys":{"id":{"S":"o-1"}},
   "OldImage":{"id":{"S":"o-1"},"paid":{"BOOL":false}},"NewImage":{"id":{"S":"o-1"},"paid":{"BOOL":true}},
   "SequenceNumber":"200","SizeBytes":20,"StreamViewType":"NEW_AND_OLD_IMAGES"},
  "eventSourceARN":"arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2024-12-01T00:00:00.000"},
 {"eventID":"e3","eventName":"REMOVE","eventSource":"aws:dynamodb","awsRegion":"eu-west-1",
  "dynamodb":{"ApproximateCreationDateTime":1733011202,"Keys":{"id":{"S":"o-1"}},"OldImage":{"id":{"S":"o-1"},"paid":{"BOOL":true}},
   "SequenceNumber":"300","SizeBytes":10,"StreamViewType":"NEW_AND_OLD_IMAGES"},
  "eventSourceARN":"arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2024-12-01T00:00:00.000"}]}`

func TestLambdaDynamoDBChanges(t *testing.T) {
	var m Mux
	var got []Change
	m.Stream("orders", func(_ context.Context, batch []Change) ([]string, error) {
		got = batch
		return []string{"300"}, nil
	})
	m.Stream("audit", func(context.Context, []Change) ([]string, error) { t.Error("wrong handler"); return nil, nil })
	out, err := NewLambdaHandler(&m, "").Invoke(lambdaCtx("r", ""), []byte(dynamoEvent))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"batchItemFailures":[{"itemIdentifier":"300"}]}` {
		t.Errorf("response %s", out)
	}
	if len(got) != 3 {
		t.Fatalf("got %d changes", len(got))
	}
	ins, mod, rem := got[0], got[1], got[2]
	if ins.Op != Insert || mod.Op != Modify || rem.Op != Remove {
		t.Errorf("ops %s %s %s", ins.Op, mod.Op, rem.Op)
	}
	wantNew := map[string]any{"id": "o-1", "total": json.Number("12.50"), "paid": false, "tags": []string{"a", "b"}, "raw": []byte{0, 1},
		"lines": []any{map[string]any{"sku": "x", "qty": json.Number("2")}}, "note": nil}
	if !reflect.DeepEqual(ins.New, wantNew) || ins.Old != nil {
		t.Errorf("insert images old %v new %v", ins.Old, ins.New)
	}
	if !reflect.DeepEqual(mod.Old, map[string]any{"id": "o-1", "paid": false}) || !reflect.DeepEqual(mod.New, map[string]any{"id": "o-1", "paid": true}) {
		t.Errorf("modify images old %v new %v", mod.Old, mod.New)
	}
	if rem.New != nil || rem.Old == nil || !reflect.DeepEqual(rem.Key, map[string]any{"id": "o-1"}) || rem.ID != "300" || rem.Source != "orders" {
		t.Errorf("remove %+v", rem)
	}
	if !ins.Time.Equal(time.Unix(1733011200, 0)) {
		t.Errorf("time %v", ins.Time)
	}
}

func TestLambdaKinesisRecords(t *testing.T) {
	data := base64.StdEncoding.EncodeToString([]byte(`{"click":1}`))
	ev := `{"Records":[{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":"user-7","sequenceNumber":"4955","data":"` + data + `","approximateArrivalTimestamp":1733011200.5},
	 "eventSource":"aws:kinesis","eventVersion":"1.0","eventID":"shardId-000:4955","eventName":"aws:kinesis:record",
	 "eventSourceARN":"arn:aws:kinesis:eu-west-1:123456789012:stream/clicks","awsRegion":"eu-west-1"}]}`
	var m Mux
	var got []Change
	m.Stream("clicks", func(_ context.Context, b []Change) ([]string, error) { got = b; return []string{"4955"}, nil })
	out, err := NewLambdaHandler(&m, "").Invoke(lambdaCtx("r", ""), []byte(ev))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"batchItemFailures":[{"itemIdentifier":"4955"}]}` {
		t.Errorf("response %s", out)
	}
	if len(got) != 1 || string(got[0].Data) != `{"click":1}` || got[0].Key["partitionKey"] != "user-7" || got[0].Op != Insert {
		t.Errorf("changes %+v", got)
	}
}

func TestLambdaS3Objects(t *testing.T) {
	ev := `{"Records":[
	 {"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"eu-west-1","eventTime":"2024-12-01T00:00:00.000Z","eventName":"ObjectCreated:Put",
	  "s3":{"s3SchemaVersion":"1.0","configurationId":"updraft-photos-live-uploads","bucket":{"name":"photos","arn":"arn:aws:s3:::photos"},
	   "object":{"key":"in/Happy+Face%21.jpg","size":1024,"eTag":"abc","sequencer":"01"}}},
	 {"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"eu-west-1","eventTime":"2024-12-01T00:00:01.000Z","eventName":"ObjectRemoved:Delete",
	  "s3":{"s3SchemaVersion":"1.0","configurationId":"updraft-photos-live-uploads","bucket":{"name":"photos","arn":"arn:aws:s3:::photos"},
	   "object":{"key":"old.jpg","sequencer":"02"}}}]}`
	var m Mux
	var got []Object
	m.Storage("uploads", func(_ context.Context, o Object) error { got = append(got, o); return nil })
	m.Storage("backups", func(context.Context, Object) error { t.Error("wrong handler"); return nil })
	if _, err := NewLambdaHandler(&m, "").Invoke(lambdaCtx("r", ""), []byte(ev)); err != nil {
		t.Fatal(err)
	}
	want := []Object{
		{Bucket: "photos", Key: "in/Happy Face!.jpg", Size: 1024, Event: ObjectCreated, ETag: "abc", Time: time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC)},
		{Bucket: "photos", Key: "old.jpg", Event: ObjectDeleted, Time: time.Date(2024, 12, 1, 0, 0, 1, 0, time.UTC)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("objects\n got %+v\nwant %+v", got, want)
	}
}

func TestLambdaScheduledEvent(t *testing.T) {
	ev := `{"version":"0","id":"ev-1","detail-type":"Scheduled Event","source":"aws.scheduler","account":"123456789012","time":"2024-12-01T09:00:00Z",
	 "region":"eu-west-1","resources":["arn:aws:scheduler:eu-west-1:123456789012:schedule/default/updraft-tick-1a2b3c4d"],"detail":"{}"}`
	var m Mux
	var got Tick
	var info Info
	m.Schedule("tick", func(ctx context.Context, tk Tick) error { got = tk; info, _ = FromContext(ctx); return nil })
	var nightly []byte
	m.Schedule("nightly", func(_ context.Context, tk Tick) error { nightly = tk.Payload; return nil })
	if _, err := NewLambdaHandler(&m, "").Invoke(lambdaCtx("req-9", ""), []byte(ev)); err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(time.Date(2024, 12, 1, 9, 0, 0, 0, time.UTC)) || got.Name != "updraft-tick-1a2b3c4d" || info.Key != "tick" {
		t.Errorf("tick %+v, info %+v", got, info)
	}
	// A schedule's own payload goes to the schedule handler named by UPDRAFT_EVENT_KEY.
	if _, err := NewLambdaHandler(&m, "nightly").Invoke(lambdaCtx("r", ""), []byte(`{"report":"daily"}`)); err != nil || string(nightly) != `{"report":"daily"}` {
		t.Errorf("payload %q, err %v", nightly, err)
	}
}

// A function URL request (the shape of events/testdata/lambda-urls-request.json).
const urlEvent = `{"version":"2.0","rawPath":"/orders/42","rawQueryString":"a=1&a=2&b=x","cookies":["s=abc","t=def"],
 "headers":{"content-type":"application/json","x-custom":"v","host":"abc.lambda-url.eu-west-1.on.aws"},
 "queryStringParameters":{"a":"1,2","b":"x"},
 "requestContext":{"accountId":"123456789012","apiId":"abc","domainName":"abc.lambda-url.eu-west-1.on.aws","domainPrefix":"abc",
  "http":{"method":"PUT","path":"/orders/42","protocol":"HTTP/1.1","sourceIp":"203.0.113.9","userAgent":"curl/8"},
  "requestId":"req-url","routeKey":"$default","stage":"$default","time":"01/Dec/2024:00:00:00 +0000","timeEpoch":1733011200000},
 "body":"eyJxdHkiOjJ9","isBase64Encoded":true}`

func TestLambdaHTTPRequestAndResponse(t *testing.T) {
	var m Mux
	m.HTTP("web", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		in, _ := FromContext(r.Context())
		c, _ := r.Cookie("t")
		if r.Method != "PUT" || r.URL.Path != "/orders/42" || r.URL.Query()["a"][1] != "2" || string(body) != `{"qty":2}` ||
			r.Header.Get("X-Custom") != "v" || c == nil || c.Value != "def" || r.Host != "abc.lambda-url.eu-west-1.on.aws" ||
			in.RequestID != "req-url-lambda" || in.Trace.TraceID != "6755a1b20f1e2d3c4b5a697887766554" || in.Key != "web" {
			t.Errorf("request %s %s %q %v cookie %v host %s info %+v", r.Method, r.URL, body, r.Header, c, r.Host, in)
		}
		http.SetCookie(w, &http.Cookie{Name: "k", Value: "v"})
		w.Header().Set("Content-Type", "image/png")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte{0x89, 'P', 'N', 'G'})
	}))
	out, err := NewLambdaHandler(&m, "").Invoke(lambdaCtx("req-url-lambda", testXRay), []byte(urlEvent))
	if err != nil {
		t.Fatal(err)
	}
	var resp events.LambdaFunctionURLResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	want := events.LambdaFunctionURLResponse{StatusCode: 201, Headers: map[string]string{"Content-Type": "image/png"},
		Body: base64.StdEncoding.EncodeToString([]byte{0x89, 'P', 'N', 'G'}), IsBase64Encoded: true, Cookies: []string{"k=v"}}
	if !reflect.DeepEqual(resp, want) {
		t.Errorf("response\n got %+v\nwant %+v", resp, want)
	}

	// A handler panic is a 500, not a crashed runtime.
	var m2 Mux
	m2.HTTP("web", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	out, err = NewLambdaHandler(&m2, "").Invoke(lambdaCtx("r", ""), []byte(urlEvent))
	if err != nil || !strings.Contains(string(out), `"statusCode":500`) {
		t.Errorf("panic: %s, %v", out, err)
	}
}

func TestLambdaUnknownEvent(t *testing.T) {
	var m Mux
	m.HTTP("web", http.NotFoundHandler())
	for _, ev := range []string{`{"Records":[{"eventSource":"aws:sns"}]}`, `{"httpMethod":"GET","path":"/"}`, `{"what":1}`, `[1]`} {
		if _, err := NewLambdaHandler(&m, "").Invoke(lambdaCtx("r", ""), []byte(ev)); err == nil {
			t.Errorf("%s: no error", ev)
		}
	}
}
