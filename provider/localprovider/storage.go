package localprovider

import (
	"context"

	"github.com/updraft-dev/updraft/trigger"
)

func (fr *fnRuntime) runStorage(ctx context.Context, s trigger.Storage, route string) {
	fr.h.opts.Logger.Warn("storage triggers are not delivered on local:// yet", "function", fr.name, "trigger", s.Key)
}
