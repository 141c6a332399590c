package function_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/updraft-dev/updraft/function"
)

// A function package registers its handlers by trigger key in init; here
// a Mux of its own stands in for DefaultMux, and one SQS batch is fed
// through the Lambda entry as the Runtime API would deliver it.
func Example() {
	var m function.Mux
	m.HTTP("web", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello") }))
	m.Queue("jobs", func(ctx context.Context, batch []function.Message) ([]string, error) {
		var failed []string
		for _, msg := range batch {
			if strings.HasPrefix(string(msg.Body), "bad") {
				failed = append(failed, msg.ID) // delivered again, alone
			}
		}
		return failed, nil
	})
	event := `{"Records":[
	  {"messageId":"1","body":"resize","eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:eu-west-1:123456789012:jobs"},
	  {"messageId":"2","body":"bad input","eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:eu-west-1:123456789012:jobs"}]}`
	resp, err := function.NewLambdaHandler(&m, "").Invoke(context.Background(), []byte(event))
	fmt.Println(string(resp), err)
	// Output:
	// {"batchItemFailures":[{"itemIdentifier":"2"}]} <nil>
}
