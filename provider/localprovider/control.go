package localprovider

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/updraft-dev/updraft/provider/driver"
)

// The gateway's control endpoints live under /.updraft/, a path no
// function name can take (names have no '.'):
//
//	POST /.updraft/queues/NAME        send the body as one message
//	GET  /.updraft/queues/NAME        the queue's QueueStats as JSON
//	GET  /.updraft/queues/NAME/peek   its messages, without receiving them
//	POST /.updraft/streams/NAME       append a JSON change, or an array of them
//	GET  /.updraft/streams/NAME       the stream's StreamStats as JSON
//
// A POST to / with an X-Amz-Target header is the SQS JSON protocol (see
// sqs.go).
const controlPrefix = "/.updraft/"

func (h *Host) serveControl(w http.ResponseWriter, r *http.Request) {
	h.controlOnce.Do(func() { h.control = h.controlMux() })
	h.control.ServeHTTP(w, r)
}

// controlMux routes the control endpoints; built once per host.
func (h *Host) controlMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /.updraft/queues/{name}", h.serveSend)
	mux.HandleFunc("GET /.updraft/queues/{name}", h.serveQueueStats)
	mux.HandleFunc("GET /.updraft/queues/{name}/peek", h.servePeek)
	h.streamRoutes(mux)
	mux.HandleFunc("POST /{$}", h.serveSQS)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		gatewayError(w, http.StatusNotFound, fmt.Sprintf("no control endpoint %s %s: use POST or GET %squeues/NAME or %sstreams/NAME", r.Method, r.URL.Path, controlPrefix, controlPrefix))
	})
	return mux
}

// controlError answers err with the HTTP status of its code.
func controlError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch driver.CodeOf(err) {
	case driver.InvalidArgument:
		code = http.StatusBadRequest
	case driver.NotFound:
		code = http.StatusNotFound
	case driver.AlreadyExists, driver.FailedPrecondition:
		code = http.StatusConflict
	case driver.ResourceExhausted:
		code = http.StatusServiceUnavailable
	}
	gatewayError(w, code, err.Error())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// serveSend sends the request body as one message. Query parameters:
// group (MessageGroupId), dedup (MessageDeduplicationId), delay
// (seconds or a Go duration); headers X-Updraft-Attr-NAME become string
// attributes.
func (h *Host) serveSend(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxQueueMessage+1))
	if err != nil {
		gatewayError(w, http.StatusRequestEntityTooLarge, "the message is over the 256 KiB limit")
		return
	}
	q := r.URL.Query()
	m := QueueMessage{Body: body, GroupID: q.Get("group"), DeduplicationID: q.Get("dedup")}
	if d := q.Get("delay"); d != "" {
		if m.Delay, err = parseDelay(d); err != nil {
			gatewayError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	for k, vs := range r.Header {
		if name, ok := strings.CutPrefix(k, "X-Updraft-Attr-"); ok && len(vs) > 0 {
			if m.Attributes == nil {
				m.Attributes = map[string]string{}
			}
			m.Attributes[name] = vs[0]
		}
	}
	ids, err := h.SendMessages(r.Context(), r.PathValue("name"), m)
	if err != nil {
		controlError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"messageId": ids[0]})
}

func parseDelay(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("delay %q: give seconds or a duration such as 30s", s)
	}
	return d, nil
}

func (h *Host) serveQueueStats(w http.ResponseWriter, r *http.Request) {
	st, err := h.QueueStats(r.Context(), r.PathValue("name"))
	if err != nil {
		controlError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (h *Host) servePeek(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("max"))
	if n <= 0 {
		n = 10
	}
	msgs, err := h.PeekMessages(r.Context(), r.PathValue("name"), n)
	if err != nil {
		controlError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, msgs)
}
