package localprovider

import (
	"context"
	"net/http"

	"github.com/updraft-dev/updraft/trigger"
)

func (fr *fnRuntime) runStream(ctx context.Context, s trigger.Stream, route string) {
	fr.h.opts.Logger.Warn("stream triggers are not delivered on local:// yet", "function", fr.name, "trigger", s.Key)
}

// streamRoutes adds the stream control endpoints.
func (h *Host) streamRoutes(mux *http.ServeMux) {}
