package localprovider

import "net/http"

// serveSQS answers the SQS JSON protocol.
func (h *Host) serveSQS(w http.ResponseWriter, r *http.Request) {
	gatewayError(w, http.StatusNotImplemented, "the SQS protocol is not served by this gateway yet")
}
