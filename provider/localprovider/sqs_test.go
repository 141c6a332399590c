package localprovider

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/updraft-dev/updraft/trigger"
)

// sqsClient is the AWS SDK's SQS client pointed at h's gateway, as a
// producer's code would be with AWS_ENDPOINT_URL_SQS.
func sqsClient(h *Host) *sqs.Client {
	return sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + h.Addr()),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

// TestSQSProtocol: the real SQS client creates a queue with a redrive
// policy, finds it, and sends single and batched messages that a queue
// trigger delivers, with their attributes' types.
func TestSQSProtocol(t *testing.T) {
	dir := t.TempDir()
	h := newHost(t, &Options{Dir: dir})
	ctx := context.Background()
	c := sqsClient(h)

	_, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("tasks")})
	var missing *types.QueueDoesNotExist
	if !errors.As(err, &missing) {
		t.Fatalf("GetQueueUrl of a queue never created: err = %v, want QueueDoesNotExist", err)
	}
	cq, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("tasks"), Attributes: map[string]string{
		"VisibilityTimeout": "1",
		"RedrivePolicy":     `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:tasks-failed","maxReceiveCount":"2"}`,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("tasks"), Attributes: map[string]string{"VisibilityTimeout": "9"}}); err == nil {
		t.Fatal("CreateQueue with other attributes than the existing queue's succeeded")
	}
	got, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("tasks")})
	if err != nil || aws.ToString(got.QueueUrl) != aws.ToString(cq.QueueUrl) || !strings.HasSuffix(*got.QueueUrl, "/000000000000/tasks") {
		t.Fatalf("GetQueueUrl = %v, %v; CreateQueue gave %v", got, err, aws.ToString(cq.QueueUrl))
	}
	url := got.QueueUrl

	// The SDK checks MD5OfMessageBody: a wrong one fails the call.
	sent, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String("one"),
		MessageAttributes: map[string]types.MessageAttributeValue{"n": {DataType: aws.String("Number"), StringValue: aws.String("42")}}})
	if err != nil || aws.ToString(sent.MessageId) == "" {
		t.Fatalf("SendMessage = %v, %v", sent, err)
	}
	batch, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: url, Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("two")},
		{Id: aws.String("b"), MessageBody: aws.String("fail-three")},
		{Id: aws.String("c"), MessageBody: aws.String("four"), MessageGroupId: aws.String("g")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(batch.Successful) != 2 || len(batch.Failed) != 1 || aws.ToString(batch.Failed[0].Id) != "c" || !batch.Failed[0].SenderFault {
		t.Fatalf("SendMessageBatch = %+v successful, %+v failed: the entry with a group id on a standard queue fails alone", batch.Successful, batch.Failed)
	}
	_, err = c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url})
	var api smithy.APIError
	if !errors.As(err, &api) || !strings.HasSuffix(api.ErrorCode(), "UnsupportedOperation") {
		t.Fatalf("ReceiveMessage: err = %v, want UnsupportedOperation", err)
	}

	log := filepath.Join(dir, "events.log")
	deploy(t, h, "tasks", consumerSpec(log, false, trigger.Queue{Key: "jobs", Source: "arn:aws:sqs:us-east-1:000000000000:tasks"}))
	waitEvents(t, log, 30*time.Second, "three messages delivered", func(evs []eventLine) bool {
		return countBy(evs, "one") == 1 && countBy(evs, "two") == 1 && countBy(evs, "fail-three") == 2
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		dlq, err := h.PeekMessages(ctx, "tasks-failed", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(dlq) == 1 && string(dlq[0].Body) == "fail-three" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the redrive policy's queue holds %+v", dlq)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSQSEventShape: a Runtime API function gets the SQS event Lambda
// sends, attributes and all.
func TestSQSEventShape(t *testing.T) {
	msgs := []*storedMessage{{ID: "m1", Body: []byte("hi"), Seq: 7, Receives: 2, Sent: time.UnixMilli(1700000000000), FirstRecv: time.UnixMilli(1700000001000),
		Receipt: "tok", Attributes: map[string]string{"n": "42", "s": "x"}, AttrTypes: map[string]string{"n": "Number"}}}
	got := string(sqsEvent("jobs", msgs))
	for _, want := range []string{`"messageId":"m1"`, `"receiptHandle":"7.tok"`, `"body":"hi"`, `"md5OfBody":"49f68a5c8493ec2c0bf489821c21fc3b"`,
		`"ApproximateReceiveCount":"2"`, `"SentTimestamp":"1700000000000"`, `"ApproximateFirstReceiveTimestamp":"1700000001000"`,
		`"n":{"stringValue":"42","stringListValues":null,"binaryListValues":null,"dataType":"Number"}`, `"dataType":"String"`,
		`"eventSourceARN":"arn:aws:sqs:local:000000000000:jobs"`, `"eventSource":"aws:sqs"`} {
		if !strings.Contains(got, want) {
			t.Errorf("SQS event lacks %s:\n%s", want, got)
		}
	}
}
