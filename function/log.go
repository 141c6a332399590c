package function

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
)

// LogOptions configure NewLogHandler. A nil *LogOptions means the defaults.
type LogOptions struct {
	// Platform selects the field names; "" means Local (generic names).
	Platform Platform
	// Project is the Google Cloud project for trace names; "" means
	// $GOOGLE_CLOUD_PROJECT, else $GCP_PROJECT.
	Project string
	// Level is the minimum level; nil means slog.LevelInfo.
	Level slog.Leveler
	// AddSource adds the caller's file and line.
	AddSource bool
}

// NewLogHandler returns a log/slog handler writing one JSON object per
// record to w, with the request id and trace of the context's Info in
// the platform's correlation fields:
//
//   - AWSLambda: timestamp, level, message, requestId, xray_trace_id
//     (the X-Ray root), as Lambda's JSON log format.
//   - GCP: time, severity (DEBUG, INFO, WARNING, ERROR), message,
//     logging.googleapis.com/trace ("projects/P/traces/T"),
//     logging.googleapis.com/spanId, logging.googleapis.com/trace_sampled
//     and the execution id in logging.googleapis.com/labels, as Cloud
//     Logging reads structured logs.
//   - Azure: time, level, msg, invocationId, operation_Id (the trace id)
//     and operation_ParentId (the span id), the names Application
//     Insights correlates on.
//   - Local: time, level, msg, request_id, trace_id, span_id.
//
// Every handler adds the trigger key as "trigger".
func NewLogHandler(w io.Writer, opts *LogOptions) slog.Handler {
	var o LogOptions
	if opts != nil {
		o = *opts
	}
	if o.Platform == "" {
		o.Platform = Local
	}
	if o.Project == "" {
		o.Project = os.Getenv("GOOGLE_CLOUD_PROJECT")
		if o.Project == "" {
			o.Project = os.Getenv("GCP_PROJECT")
		}
	}
	ho := &slog.HandlerOptions{Level: o.Level, AddSource: o.AddSource, ReplaceAttr: replacer(o.Platform)}
	base := slog.NewJSONHandler(w, ho)
	return &logHandler{base: base, inner: base, opts: o}
}

type logHandler struct {
	base  slog.Handler // the JSON handler with no attributes or groups
	inner slog.Handler // base with ops applied
	ops   []logOp
	opts  LogOptions
}

// logOp is a WithAttrs (group "") or WithGroup call, replayed after the
// correlation fields so that those stay at the top level.
type logOp struct {
	group string
	attrs []slog.Attr
}

func (h *logHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.inner = h.inner.WithAttrs(as)
	c.ops = append(h.ops[:len(h.ops):len(h.ops)], logOp{attrs: as})
	return &c
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.inner = h.inner.WithGroup(name)
	c.ops = append(h.ops[:len(h.ops):len(h.ops)], logOp{group: name})
	return &c
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	in, ok := FromContext(ctx)
	if !ok {
		return h.inner.Handle(ctx, r)
	}
	if c := invocationLogs(ctx); c != nil {
		line := r.Level.String() + ": " + r.Message
		r.Attrs(func(a slog.Attr) bool {
			line += " " + a.String()
			return true
		})
		c.add(line)
	}
	corr := h.correlation(in)
	if len(h.ops) == 0 {
		r = r.Clone()
		r.AddAttrs(corr...)
		return h.inner.Handle(ctx, r)
	}
	hh := h.base.WithAttrs(corr)
	for _, op := range h.ops {
		if op.group != "" {
			hh = hh.WithGroup(op.group)
		} else {
			hh = hh.WithAttrs(op.attrs)
		}
	}
	return hh.Handle(ctx, r)
}

func (h *logHandler) correlation(in Info) []slog.Attr {
	var as []slog.Attr
	add := func(k, v string) {
		if v != "" {
			as = append(as, slog.String(k, v))
		}
	}
	add("trigger", in.Key)
	switch h.opts.Platform {
	case AWSLambda:
		add("requestId", in.RequestID)
		root := ""
		if in.Trace.TraceID != "" {
			root = "1-" + in.Trace.TraceID[:8] + "-" + in.Trace.TraceID[8:]
		}
		add("xray_trace_id", root)
	case GCP:
		if in.Trace.TraceID != "" {
			if h.opts.Project != "" {
				add("logging.googleapis.com/trace", "projects/"+h.opts.Project+"/traces/"+in.Trace.TraceID)
			} else {
				add("trace_id", in.Trace.TraceID)
			}
			add("logging.googleapis.com/spanId", in.Trace.SpanID)
			as = append(as, slog.Bool("logging.googleapis.com/trace_sampled", in.Trace.Sampled))
		}
		if in.RequestID != "" {
			as = append(as, slog.Any("logging.googleapis.com/labels", map[string]string{"execution_id": in.RequestID}))
		}
	case Azure:
		add("invocationId", in.RequestID)
		add("operation_Id", in.Trace.TraceID)
		add("operation_ParentId", in.Trace.SpanID)
	default:
		add("request_id", in.RequestID)
		add("trace_id", in.Trace.TraceID)
		add("span_id", in.Trace.SpanID)
	}
	return as
}

func replacer(p Platform) func([]string, slog.Attr) slog.Attr {
	switch p {
	case AWSLambda:
		return func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 {
				switch a.Key {
				case slog.TimeKey:
					a.Key = "timestamp"
				case slog.MessageKey:
					a.Key = "message"
				}
			}
			return a
		}
	case GCP:
		return func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 {
				switch a.Key {
				case slog.MessageKey:
					a.Key = "message"
				case slog.LevelKey:
					a.Key = "severity"
					if l, ok := a.Value.Any().(slog.Level); ok {
						a.Value = slog.StringValue(gcpSeverity(l))
					}
				case slog.SourceKey:
					a.Key = "logging.googleapis.com/sourceLocation"
				}
			}
			return a
		}
	}
	return nil
}

func gcpSeverity(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	}
	return "DEBUG"
}

// logCollector gathers an Azure invocation's log messages for the Logs of
// its envelope response, which the host records with the invocation.
type logCollector struct {
	mu    sync.Mutex
	lines []string
}

type logsKey struct{}

func withInvocationLogs(ctx context.Context) (context.Context, *logCollector) {
	c := &logCollector{}
	return context.WithValue(ctx, logsKey{}, c), c
}

func invocationLogs(ctx context.Context) *logCollector {
	c, _ := ctx.Value(logsKey{}).(*logCollector)
	return c
}

// maxInvocationLogs bounds what one envelope response carries.
const maxInvocationLogs = 1000

func (c *logCollector) add(line string) {
	c.mu.Lock()
	if len(c.lines) < maxInvocationLogs {
		c.lines = append(c.lines, line)
	}
	c.mu.Unlock()
}

func (c *logCollector) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string{}, c.lines...)
}
