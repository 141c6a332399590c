package localprovider

import (
	"fmt"
	"net/http"
	"runtime/debug"
)

// recovered is deferred by every goroutine the host starts: a panic in
// one of them is logged with its stack and ends only that goroutine's
// work, never the caller's process.
func (h *Host) recovered(what string, args ...any) {
	if v := recover(); v != nil {
		h.opts.Logger.Error(what+" panicked; its work was abandoned", append(args, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))...)
	}
}

// safeGateway answers a request whose handler panicked with 500, as an
// Internal error of that request alone. net/http would recover too, but
// by dropping the connection: the client would see EOF.
func (h *Host) safeGateway(w http.ResponseWriter, r *http.Request) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			panic(v)
		}
		h.opts.Logger.Error("gateway request panicked", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		w.Header()["Connection"] = []string{"close"}
		gatewayError(w, http.StatusInternalServerError, fmt.Sprintf("internal error in the local gateway: %v (Internal); the request may not have reached the function", v))
	}()
	h.serveGateway(w, r)
}
