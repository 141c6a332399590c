package localprovider

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/updraft-dev/updraft/provider/driver"
)

// The record log: every host appends its invocation records to
// DIR/functions/NAME/records.jsonl, one JSON object a line, so another
// process (the CLI's status and logs) can read them. Lines are buffered
// and written every 50 ms by one write(2) on an O_APPEND descriptor, so
// lines of several hosts never interleave. When the file passes
// maxRecordLog bytes the writer renames it to records.1.jsonl (replacing
// the previous one) under a lock file: at most twice maxRecordLog bytes
// are kept, and writers reopen the new file.

// maxRecordLog is the size at which the record log rotates.
const maxRecordLog = 8 << 20

// maxPendingLog bounds the lines buffered between writes; beyond it (the
// disk is failing) the oldest are dropped.
const maxPendingLog = 4 << 20

// recordLog is a function's record log writer in this host.
type recordLog struct {
	path    string // "" = not written
	host    string
	pending []byte // guarded by recorder.mu
	spare   []byte
	f       *os.File // guarded by recorder.flushMu
}

// wireRecord is one line of the record log.
type wireRecord struct {
	Host       string `json:"host"`
	RequestID  string `json:"requestId"`
	Start      int64  `json:"start"` // Unix nanoseconds
	Revision   string `json:"revision"`
	Route      string `json:"route"`
	Status     Status `json:"status"`
	HTTPStatus int    `json:"http"`
	Duration   int64  `json:"duration"` // nanoseconds
	ColdStart  bool   `json:"cold"`
	Init       int64  `json:"init"`   // nanoseconds
	Billed     int64  `json:"billed"` // nanoseconds
	MemoryMB   int    `json:"memoryMB"`
	Trigger    string `json:"trigger,omitempty"`
}

func (w *wireRecord) invocation() Invocation {
	return Invocation{Host: w.Host, RequestID: w.RequestID, Start: time.Unix(0, w.Start), Revision: w.Revision, Route: w.Route,
		Status: w.Status, HTTPStatus: w.HTTPStatus, Duration: time.Duration(w.Duration), ColdStart: w.ColdStart,
		InitDuration: time.Duration(w.Init), BilledDuration: time.Duration(w.Billed), MemoryMB: w.MemoryMB, Trigger: w.Trigger}
}

// append adds inv's line to the pending buffer. Called with recorder.mu.
func (l *recordLog) append(inv *Invocation) {
	if l.path == "" {
		return
	}
	if len(l.pending) > maxPendingLog {
		if i := bytes.IndexByte(l.pending[len(l.pending)/2:], '\n'); i >= 0 {
			l.pending = l.pending[:copy(l.pending, l.pending[len(l.pending)/2+i+1:])]
		}
	}
	b := l.pending
	b = append(b, `{"host":`...)
	b = appendJSONString(b, l.host)
	b = append(b, `,"requestId":`...)
	b = appendJSONString(b, inv.RequestID)
	b = append(b, `,"start":`...)
	b = strconv.AppendInt(b, inv.Start.UnixNano(), 10)
	b = append(b, `,"revision":`...)
	b = appendJSONString(b, inv.Revision)
	b = append(b, `,"route":`...)
	b = appendJSONString(b, inv.Route)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, string(inv.Status))
	b = append(b, `,"http":`...)
	b = strconv.AppendInt(b, int64(inv.HTTPStatus), 10)
	b = append(b, `,"duration":`...)
	b = strconv.AppendInt(b, int64(inv.Duration), 10)
	b = append(b, `,"cold":`...)
	b = strconv.AppendBool(b, inv.ColdStart)
	b = append(b, `,"init":`...)
	b = strconv.AppendInt(b, int64(inv.InitDuration), 10)
	b = append(b, `,"billed":`...)
	b = strconv.AppendInt(b, int64(inv.BilledDuration), 10)
	b = append(b, `,"memoryMB":`...)
	b = strconv.AppendInt(b, int64(inv.MemoryMB), 10)
	if inv.Trigger != "" {
		b = append(b, `,"trigger":`...)
		b = appendJSONString(b, inv.Trigger)
	}
	l.pending = append(b, "}\n"...)
}

// discard drops the pending lines. Called with recorder.mu.
func (l *recordLog) discard() { l.pending = l.pending[:0] }

// flush writes the pending lines to the record log.
func (r *recorder) flush() {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	buf := r.log.pending
	r.log.pending = r.log.spare[:0]
	r.mu.Unlock()
	if len(buf) > 0 {
		r.log.write(buf)
	}
	r.mu.Lock()
	r.log.spare = buf[:0]
	r.mu.Unlock()
}

// closeLog flushes and closes the record log.
func (r *recorder) closeLog() {
	r.flush()
	r.flushMu.Lock()
	if r.log.f != nil {
		r.log.f.Close()
		r.log.f = nil
	}
	r.flushMu.Unlock()
}

// write appends b to the log file, reopening it when another process
// rotated it, and rotates it when it is over maxRecordLog. Records of a
// function whose directory is gone (deleted) are dropped.
func (l *recordLog) write(b []byte) {
	cur, statErr := os.Stat(l.path)
	if l.f != nil {
		if mine, err := l.f.Stat(); statErr != nil || err != nil || !os.SameFile(cur, mine) {
			l.f.Close()
			l.f = nil
		}
	}
	if l.f == nil {
		if _, err := os.Stat(filepath.Dir(l.path)); err != nil {
			return
		}
		f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return
		}
		l.f = f
	}
	if _, err := l.f.Write(b); err != nil {
		return
	}
	if fi, err := l.f.Stat(); err == nil && fi.Size() > maxRecordLog {
		l.rotate()
	}
}

// rotate renames the log to records.1.jsonl, once among the processes
// that may find it full at the same time.
func (l *recordLog) rotate() {
	unlock, err := lockFile(filepath.Join(filepath.Dir(l.path), ".records.lock"))
	if err != nil {
		return
	}
	defer unlock()
	cur, err := os.Stat(l.path)
	mine, merr := l.f.Stat()
	if err == nil && merr == nil && os.SameFile(cur, mine) && cur.Size() > maxRecordLog {
		os.Rename(l.path, rotatedLog(l.path))
	}
	l.f.Close()
	l.f = nil
}

func rotatedLog(p string) string {
	return p[:len(p)-len(".jsonl")] + ".1.jsonl"
}

// recordLogPath is function name's record log in state directory dir.
func recordLogPath(dir, name string) string {
	return filepath.Join(dir, "functions", name, "records.jsonl")
}

// ReadInvocations reads function name's invocation records from the
// record log of state directory dir, as every host on it wrote them
// (DIR/functions/NAME/records.jsonl and the rotated records.1.jsonl),
// selected by q (nil for all), oldest file first. A host writes its
// records every 50 ms, so the last moments may be missing; the log keeps
// up to 16 MB (about 70,000 records) per function. It works while no
// host runs, from any process.
func ReadInvocations(dir, name string, q *RecordQuery) ([]Invocation, error) {
	if !nameRE.MatchString(name) {
		return nil, driver.NewError(driver.InvalidArgument, fmt.Sprintf("%q is not a function name: use 1 to 64 letters, digits, '-' and '_'", name))
	}
	if q == nil {
		q = &RecordQuery{}
	}
	var out []Invocation
	err := scanRecordLog(recordLogPath(dir, name), "", func(w *wireRecord) {
		if inv := w.invocation(); match(&inv, q.Route, q.Revision, q.Since, q.Until) {
			out = append(out, inv)
		}
	})
	return out, err
}

// scanRecordLog calls fn for every well-formed line of the log at p and
// its rotated predecessor, skipping lines written by host skip without
// decoding them.
func scanRecordLog(p, skip string, fn func(*wireRecord)) error {
	var prefix []byte
	if skip != "" {
		prefix = append(appendJSONString([]byte(`{"host":`), skip), ',')
	}
	for _, name := range []string{rotatedLog(p), p} {
		f, err := os.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return driver.NewError(driver.Internal, fmt.Sprintf("reading invocation records: %v", err))
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if prefix != nil && bytes.HasPrefix(line, prefix) {
				continue
			}
			var w wireRecord
			if json.Unmarshal(line, &w) == nil {
				fn(&w)
			}
		}
		f.Close()
	}
	return nil
}
