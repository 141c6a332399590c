package localprovider

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/updraft-dev/updraft/provider/driver"
)

// The gateway speaks the part of the SQS JSON protocol (AWS JSON 1.0,
// X-Amz-Target: AmazonSQS.OPERATION, POST /) a producer needs, so code
// written with the AWS SDK's SQS client sends to local queues unchanged:
// point the client at the gateway (aws.Config BaseEndpoint, or
// AWS_ENDPOINT_URL_SQS=http://ADDR) with any credentials. Served:
// CreateQueue (VisibilityTimeout, MessageRetentionPeriod, RedrivePolicy,
// FifoQueue; a queue is created with QueueOptions), GetQueueUrl,
// SendMessage and SendMessageBatch (string and number attributes,
// delays, FIFO group and deduplication ids; MD5OfMessageBody is
// returned, which the SDK checks). Other operations are answered
// UnsupportedOperation. Queue URLs are http://ADDR/000000000000/NAME.

const sqsAccount = "000000000000"

type sqsError struct {
	status int
	typ    string // shape name, such as QueueDoesNotExist
	query  string // the legacy query error code
	msg    string
}

func (h *Host) sqsFail(w http.ResponseWriter, e *sqsError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	if e.query != "" {
		w.Header().Set("X-Amzn-Query-Error", e.query+";Sender")
	}
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.sqs#" + e.typ, "message": e.msg})
}

func sqsInvalid(msg string) *sqsError {
	return &sqsError{status: 400, typ: "InvalidParameterValue", query: "InvalidParameterValue", msg: msg}
}

// sqsErrorOf maps a local queue error to the SQS error a client expects.
func sqsErrorOf(err error) *sqsError {
	switch driver.CodeOf(err) {
	case driver.InvalidArgument:
		return sqsInvalid(err.Error())
	case driver.AlreadyExists:
		return &sqsError{status: 400, typ: "QueueNameExists", query: "QueueAlreadyExists", msg: err.Error()}
	case driver.ResourceExhausted:
		return &sqsError{status: 400, typ: "RequestThrottled", query: "RequestThrottled", msg: err.Error()}
	}
	return &sqsError{status: 500, typ: "InternalError", msg: err.Error()}
}

func (h *Host) serveSQS(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	if !ok {
		gatewayError(w, http.StatusBadRequest, "X-Amz-Target names no SQS operation (AmazonSQS.SendMessage, …): the gateway speaks only the SQS JSON protocol at /")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 10*maxQueueMessage+64<<10))
	if err != nil {
		h.sqsFail(w, &sqsError{status: 413, typ: "BatchRequestTooLong", query: "AWS.SimpleQueueService.BatchRequestTooLong", msg: "the request is over the 256 KiB limit of a message or a batch"})
		return
	}
	w.Header().Set("X-Amzn-Requestid", h.ids.next())
	var out any
	var e *sqsError
	switch op {
	case "GetQueueUrl":
		out, e = h.sqsGetQueueURL(r, body)
	case "CreateQueue":
		out, e = h.sqsCreateQueue(r, body)
	case "SendMessage":
		out, e = h.sqsSendMessage(r, body)
	case "SendMessageBatch":
		out, e = h.sqsSendMessageBatch(r, body)
	default:
		e = &sqsError{status: 400, typ: "UnsupportedOperation", query: "AWS.SimpleQueueService.UnsupportedOperation",
			msg: fmt.Sprintf("the local gateway does not serve SQS %s: it takes CreateQueue, GetQueueUrl, SendMessage and SendMessageBatch; use the Host API or the CLI for the rest", op)}
	}
	if e != nil {
		h.sqsFail(w, e)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	json.NewEncoder(w).Encode(out)
}

func (h *Host) queueURL(r *http.Request, name string) string {
	return "http://" + r.Host + "/" + sqsAccount + "/" + name
}

// queueFromURL is the queue a QueueUrl names (its last path element).
func queueFromURL(u string) (string, *sqsError) {
	name := u[strings.LastIndexByte(u, '/')+1:]
	if name == "" || validQueueName(name) != nil {
		return "", &sqsError{status: 400, typ: "QueueDoesNotExist", query: "AWS.SimpleQueueService.NonExistentQueue", msg: fmt.Sprintf("QueueUrl %q names no local queue: use the URL GetQueueUrl or CreateQueue returned", u)}
	}
	return name, nil
}

func decodeSQS(body []byte, v any) *sqsError {
	if err := json.Unmarshal(body, v); err != nil {
		return &sqsError{status: 400, typ: "InvalidRequest", query: "InvalidRequest", msg: "the request is not valid JSON for this operation: " + err.Error()}
	}
	return nil
}

// queueExists reports whether local queue name was created (by a send,
// a trigger, CreateQueue or the CLI).
func (h *Host) queueExists(name string) bool {
	_, err := os.Stat(filepath.Join(h.dir, "queues", name+".db"))
	return err == nil
}

func (h *Host) sqsGetQueueURL(r *http.Request, body []byte) (any, *sqsError) {
	var in struct{ QueueName string }
	if e := decodeSQS(body, &in); e != nil {
		return nil, e
	}
	if validQueueName(in.QueueName) != nil || !h.queueExists(in.QueueName) {
		return nil, &sqsError{status: 400, typ: "QueueDoesNotExist", query: "AWS.SimpleQueueService.NonExistentQueue",
			msg: fmt.Sprintf("queue %q does not exist in %s: create it (CreateQueue, Host.CreateQueue) or deploy a function with a queue trigger on it", in.QueueName, h.dir)}
	}
	return map[string]string{"QueueUrl": h.queueURL(r, in.QueueName)}, nil
}

func (h *Host) sqsCreateQueue(r *http.Request, body []byte) (any, *sqsError) {
	var in struct {
		QueueName  string
		Attributes map[string]string
	}
	if e := decodeSQS(body, &in); e != nil {
		return nil, e
	}
	opts, e := queueOptionsFromAttributes(in.QueueName, in.Attributes)
	if e != nil {
		return nil, e
	}
	if err := h.CreateQueue(r.Context(), in.QueueName, opts); err != nil {
		return nil, sqsErrorOf(err)
	}
	return map[string]string{"QueueUrl": h.queueURL(r, in.QueueName)}, nil
}

// queueOptionsFromAttributes reads CreateQueue's attributes.
func queueOptionsFromAttributes(name string, attrs map[string]string) (*QueueOptions, *sqsError) {
	o := &QueueOptions{MaxReceiveCount: -1} // SQS: no dead-letter queue unless a RedrivePolicy names one
	secs := func(k string) (time.Duration, *sqsError) {
		n, err := strconv.Atoi(attrs[k])
		if err != nil || n < 0 {
			return 0, sqsInvalid(fmt.Sprintf("attribute %s %q: give whole seconds", k, attrs[k]))
		}
		return time.Duration(n) * time.Second, nil
	}
	for k, v := range attrs {
		var e *sqsError
		switch k {
		case "VisibilityTimeout":
			o.VisibilityTimeout, e = secs(k)
		case "MessageRetentionPeriod":
			o.Retention, e = secs(k)
		case "FifoQueue":
			o.FIFO = v == "true"
		case "ContentBasedDeduplication", "DelaySeconds", "ReceiveMessageWaitTimeSeconds", "MaximumMessageSize",
			"SqsManagedSseEnabled", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "DeduplicationScope", "FifoThroughputLimit", "Policy":
			// Accepted and not modelled: local queues always deduplicate
			// FIFO sends by content when no id is given, and have no
			// queue-wide delay, size limit below 256 KiB, encryption or policy.
		case "RedrivePolicy":
			var rp struct {
				DeadLetterTargetArn string `json:"deadLetterTargetArn"`
				MaxReceiveCount     any    `json:"maxReceiveCount"`
			}
			if err := json.Unmarshal([]byte(v), &rp); err != nil || rp.DeadLetterTargetArn == "" {
				return nil, sqsInvalid(`RedrivePolicy: give {"deadLetterTargetArn":"arn:aws:sqs:REGION:ACCOUNT:NAME","maxReceiveCount":"5"}`)
			}
			n, err := strconv.Atoi(strings.Trim(fmt.Sprint(rp.MaxReceiveCount), `"`))
			if err != nil || n < 1 || n > 1000 {
				return nil, sqsInvalid("RedrivePolicy: maxReceiveCount must be 1 to 1000")
			}
			o.MaxReceiveCount, o.DeadLetterQueue = n, QueueName(rp.DeadLetterTargetArn)
		default:
			return nil, &sqsError{status: 400, typ: "InvalidAttributeName", query: "InvalidAttributeName", msg: fmt.Sprintf("unknown queue attribute %s", k)}
		}
		if e != nil {
			return nil, e
		}
	}
	return o, nil
}

type sqsAttribute struct {
	DataType    string
	StringValue *string
	BinaryValue []byte
}

type sqsEntry struct {
	ID                     string `json:"Id"`
	QueueURL               string `json:"QueueUrl"`
	MessageBody            *string
	DelaySeconds           int
	MessageAttributes      map[string]sqsAttribute
	MessageGroupID         string `json:"MessageGroupId"`
	MessageDeduplicationID string `json:"MessageDeduplicationId"`
}

// message converts an entry to a QueueMessage and its attribute types.
func (e *sqsEntry) message() (QueueMessage, map[string]string, *sqsError) {
	if e.MessageBody == nil {
		return QueueMessage{}, nil, &sqsError{status: 400, typ: "MissingParameter", query: "MissingParameter", msg: "MessageBody is required"}
	}
	m := QueueMessage{Body: []byte(*e.MessageBody), GroupID: e.MessageGroupID, DeduplicationID: e.MessageDeduplicationID,
		Delay: time.Duration(e.DelaySeconds) * time.Second}
	var types map[string]string
	for k, a := range e.MessageAttributes {
		base, _, _ := strings.Cut(a.DataType, ".")
		switch {
		case (base == "String" || base == "Number") && a.StringValue != nil:
		case base == "Binary":
			return m, nil, sqsInvalid(fmt.Sprintf("message attribute %s: binary attributes are not kept by local queues: send it as a String", k))
		default:
			return m, nil, sqsInvalid(fmt.Sprintf("message attribute %s: DataType %q with a StringValue is required", k, a.DataType))
		}
		if m.Attributes == nil {
			m.Attributes = map[string]string{}
		}
		m.Attributes[k] = *a.StringValue
		if a.DataType != "String" {
			if types == nil {
				types = map[string]string{}
			}
			types[k] = a.DataType
		}
	}
	return m, types, nil
}

func bodyMD5(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (h *Host) sqsSendMessage(r *http.Request, body []byte) (any, *sqsError) {
	var in sqsEntry
	if e := decodeSQS(body, &in); e != nil {
		return nil, e
	}
	name, e := queueFromURL(in.QueueURL)
	if e != nil {
		return nil, e
	}
	m, types, e := in.message()
	if e != nil {
		return nil, e
	}
	sent, err := h.sendTyped(r.Context(), name, []QueueMessage{m}, []map[string]string{types})
	if err != nil {
		return nil, sqsErrorOf(err)
	}
	out := map[string]string{"MessageId": sent[0].id, "MD5OfMessageBody": bodyMD5(*in.MessageBody)}
	if sent[0].seq != 0 && m.GroupID != "" {
		out["SequenceNumber"] = strconv.FormatUint(sent[0].seq, 10)
	}
	return out, nil
}

func (h *Host) sqsSendMessageBatch(r *http.Request, body []byte) (any, *sqsError) {
	var in struct {
		QueueURL string `json:"QueueUrl"`
		Entries  []sqsEntry
	}
	if e := decodeSQS(body, &in); e != nil {
		return nil, e
	}
	name, e := queueFromURL(in.QueueURL)
	if e != nil {
		return nil, e
	}
	switch {
	case len(in.Entries) == 0:
		return nil, &sqsError{status: 400, typ: "EmptyBatchRequest", query: "AWS.SimpleQueueService.EmptyBatchRequest", msg: "the batch has no entries"}
	case len(in.Entries) > 10:
		return nil, &sqsError{status: 400, typ: "TooManyEntriesInBatchRequest", query: "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", msg: fmt.Sprintf("%d entries: a batch takes at most 10", len(in.Entries))}
	}
	type failed struct {
		ID          string `json:"Id"`
		SenderFault bool
		Code        string
		Message     string
	}
	type ok struct {
		ID               string `json:"Id"`
		MessageID        string `json:"MessageId"`
		MD5OfMessageBody string
		SequenceNumber   string `json:",omitempty"`
	}
	out := struct {
		Successful []ok
		Failed     []failed
	}{Successful: []ok{}, Failed: []failed{}}
	seen := map[string]bool{}
	var msgs []QueueMessage
	var types []map[string]string
	var entries []*sqsEntry
	for i := range in.Entries {
		en := &in.Entries[i]
		if seen[en.ID] {
			return nil, &sqsError{status: 400, typ: "BatchEntryIdsNotDistinct", query: "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", msg: fmt.Sprintf("entry id %q is used twice", en.ID)}
		}
		seen[en.ID] = true
		m, ty, e := en.message()
		if e == nil {
			if err := validateMessage(name, strings.HasSuffix(name, ".fifo"), &m); err != nil {
				e = sqsInvalid(err.Error())
			}
		}
		if e != nil {
			out.Failed = append(out.Failed, failed{ID: en.ID, SenderFault: true, Code: e.typ, Message: e.msg})
			continue
		}
		msgs, types, entries = append(msgs, m), append(types, ty), append(entries, en)
	}
	if len(msgs) > 0 {
		sent, err := h.sendTyped(r.Context(), name, msgs, types)
		if err != nil {
			return nil, sqsErrorOf(err)
		}
		for i, en := range entries {
			o := ok{ID: en.ID, MessageID: sent[i].id, MD5OfMessageBody: bodyMD5(*en.MessageBody)}
			if en.MessageGroupID != "" {
				o.SequenceNumber = strconv.FormatUint(sent[i].seq, 10)
			}
			out.Successful = append(out.Successful, o)
		}
	}
	return out, nil
}
