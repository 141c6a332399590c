package localprovider

import (
	"errors"
	"io"
	"os"
	"sync"
	"time"
)

// maxFunctionLog is the size at which DIR/functions/NAME/function.log is
// renamed to function.log.1 (replacing it) and started afresh: a
// function's output takes at most twice this on disk.
const maxFunctionLog = 10 << 20

// logFile is a size-capped log file with one rotated predecessor.
type logFile struct {
	path  string
	limit int64
	f     *os.File
	size  int64
}

func openLog(path string, limit int64) (*logFile, error) {
	l := &logFile{path: path, limit: limit}
	return l, l.open()
}

func (l *logFile) open() error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, fi.Size()
	return nil
}

// Write appends p, rotating first when p would take the file over its
// limit. Output is cut between writes, not necessarily between lines.
func (l *logFile) Write(p []byte) (int, error) {
	if l.size > 0 && l.size+int64(len(p)) > l.limit {
		l.f.Close()
		os.Rename(l.path, l.path+".1")
		if err := l.open(); err != nil {
			return 0, err
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

// logPipe carries the output of a function's instances to its log file:
// every instance writes to the pipe's write end (a file descriptor, so
// no goroutine copies per instance), one goroutine per function copies
// to the file. A function that writes faster than the disk takes blocks
// on the pipe, as a function's stdout does anywhere.
type logPipe struct {
	w    *os.File // given to instances
	r    *os.File
	lw   *logFile
	done chan struct{}
	once sync.Once
}

func startLogPipe(lw *logFile, h *Host, name string) (*logPipe, error) {
	r, w, err := os.Pipe()
	if err != nil {
		lw.f.Close()
		return nil, err
	}
	p := &logPipe{w: w, r: r, lw: lw, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer h.recovered("function log", "function", name)
		buf := make([]byte, 64<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				lw.Write(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	return p, nil
}

// close ends the copy once the instances are gone. A process that
// escaped its instance may still hold the pipe: the copy then stops
// after a second regardless.
func (p *logPipe) close() {
	p.once.Do(func() {
		p.w.Close()
		if err := p.r.SetReadDeadline(time.Now().Add(time.Second)); err != nil && !errors.Is(err, os.ErrNoDeadline) {
			p.r.Close()
		}
		<-p.done
		p.r.Close()
		p.lw.f.Close()
	})
}

var _ io.Writer = (*logFile)(nil)
