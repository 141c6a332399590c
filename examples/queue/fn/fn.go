// Package fn is the queue example's code: an HTTP route that enqueues
// jobs on an SQS queue with the AWS SDK, and the queue handler that does
// them. The same package is deployed twice, as the "api" function (an
// HTTP trigger) and the "worker" function (a queue trigger): a function
// serves the triggers its Spec gives it.
//
// Nothing here knows about local://. On Lambda the SDK finds the real
// queue with the execution role's credentials; on local:// the host
// points the SDK's SQS client at its gateway (AWS_ENDPOINT_URL_SQS),
// which speaks the SQS protocol to local queues, and gives a region and
// credentials as Lambda does.
package fn

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/updraft-dev/updraft/function"
)

func init() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /jobs", enqueue)
	function.HTTP("web", mux)
	function.Queue("jobs", work)
}

// queue is the SQS client and the jobs queue's URL, found once per
// instance.
var queue = sync.OnceValues(func() (*queueClient, error) {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		return nil, err
	}
	c := sqs.NewFromConfig(cfg)
	out, err := c.GetQueueUrl(context.Background(), &sqs.GetQueueUrlInput{QueueName: aws.String("jobs")})
	if err != nil {
		return nil, err
	}
	return &queueClient{c, aws.ToString(out.QueueUrl)}, nil
})

type queueClient struct {
	*sqs.Client
	url string
}

// enqueue sends the request body as a job and answers 202 with its id.
func enqueue(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil || len(body) == 0 {
		http.Error(w, "send the job in the body", http.StatusBadRequest)
		return
	}
	q, err := queue()
	if err != nil {
		http.Error(w, "the jobs queue is not reachable: "+err.Error(), http.StatusBadGateway)
		return
	}
	out, err := q.SendMessage(r.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(q.url), MessageBody: aws.String(string(body))})
	if err != nil {
		http.Error(w, "enqueueing the job: "+err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(map[string]string{"messageId": aws.ToString(out.MessageId)})
}

// work does a batch of jobs. A job it cannot do fails alone: the queue
// delivers it again, and after the queue's max receive count moves it to
// the dead-letter queue.
func work(ctx context.Context, batch []function.Message) ([]string, error) {
	var failed []string
	for _, m := range batch {
		if err := do(string(m.Body)); err != nil {
			slog.WarnContext(ctx, "job failed", "id", m.ID, "attempt", m.DeliveryCount, "err", err)
			failed = append(failed, m.ID)
			continue
		}
		slog.InfoContext(ctx, "job done", "id", m.ID, "job", string(m.Body))
	}
	return failed, nil
}

func do(job string) error {
	if strings.Contains(job, "poison") {
		return errors.New("this job can never succeed")
	}
	return nil
}
