package localprovider

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// The stream control endpoints:
//
//	POST /.updraft/streams/NAME   append the body's change (a JSON object
//	                              with op, key, old and new, or an array
//	                              of them) → {"sequenceNumbers":[…]}
//	GET  /.updraft/streams/NAME   the stream's StreamStats as JSON

// streamRoutes adds the stream control endpoints.
func (h *Host) streamRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /.updraft/streams/{name}", h.serveAppend)
	mux.HandleFunc("GET /.updraft/streams/{name}", h.serveStreamStats)
}

func (h *Host) serveAppend(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPayload+1))
	if err != nil {
		gatewayError(w, http.StatusRequestEntityTooLarge, "the changes are over the 6 MB limit: append them in several requests")
		return
	}
	changes, err := decodeChanges(body)
	if err != nil {
		gatewayError(w, http.StatusBadRequest, err.Error())
		return
	}
	seqs, err := h.AppendChanges(r.Context(), r.PathValue("name"), changes...)
	if err != nil {
		controlError(w, err)
		return
	}
	if seqs == nil {
		seqs = []string{}
	}
	writeJSON(w, http.StatusOK, map[string][]string{"sequenceNumbers": seqs})
}

// decodeChanges reads one change or an array of them; numbers stay
// decimal strings (json.Number), as DynamoDB keeps them.
func decodeChanges(body []byte) ([]StreamChange, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf(`the body is empty: send a change such as {"op":"insert","key":{"id":"1"},"new":{"id":"1"}}, or an array of them`)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var changes []StreamChange
	var err error
	if trimmed[0] == '[' {
		err = dec.Decode(&changes)
	} else {
		var c StreamChange
		err = dec.Decode(&c)
		changes = []StreamChange{c}
	}
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = fmt.Errorf("data after the first JSON value")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("the body is not a change or an array of changes (fields op, key, old, new): %v", err)
	}
	return changes, nil
}

func (h *Host) serveStreamStats(w http.ResponseWriter, r *http.Request) {
	st, err := h.StreamStats(r.Context(), r.PathValue("name"))
	if err != nil {
		controlError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}
