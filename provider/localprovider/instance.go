package localprovider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// maxPayload is Lambda's synchronous request and response payload limit.
const maxPayload = 6 << 20

// instance is one function process: one request at a time, as on Lambda.
type instance struct {
	fr          *fnRuntime
	rp          *revPool
	cmd         *exec.Cmd
	pid         int
	provisioned bool
	started     time.Time
	initDur     time.Duration

	// Runtime API endpoint of this instance.
	ln          net.Listener
	conns       connSet
	readTimeout time.Duration // of one request; 0 = rapiReadTimeout
	// port is $PORT for HTTP-protocol functions; base its URL.
	port int
	base string

	proto     atomic.Int32
	work      chan *invocation
	cur       atomic.Pointer[invocation]
	readyc    chan struct{}
	readyOnce sync.Once
	initErrc  chan string
	dead      chan struct{}
	exitErr   error
	reason    atomic.Pointer[string] // why it was killed
	// polled is set while the instance waits in /next for work; parked
	// while it must poll before it is released (see releaseOnNext).
	polled, parked atomic.Bool

	// guarded by fr.mu
	lastUsed  time.Time
	isReady   bool
	slotGiven bool
}

// invocation is one request handed to a Runtime API instance.
type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	arn      string
	trace    string
	done     chan invResult
	finished atomic.Bool
}

type invResult struct {
	payload []byte
	errType string // "" on success
}

func (inv *invocation) finish(r invResult) bool {
	if !inv.finished.CompareAndSwap(false, true) {
		return false
	}
	inv.done <- r
	return true
}

// start launches a process for rp. The caller waits with waitInit.
func (fr *fnRuntime) start(rp *revPool, provisioned bool) (*instance, error) {
	if fr.h.isClosed() {
		return nil, errors.New("the local host is closed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("no loopback port for the Runtime API: %w", err)
	}
	in := &instance{fr: fr, rp: rp, provisioned: provisioned, ln: ln,
		work: make(chan *invocation, 1), readyc: make(chan struct{}), initErrc: make(chan string, 1), dead: make(chan struct{})}
	proto := rp.proto.Load()
	env := make([]string, 0, len(rp.env)+6)
	env = append(env, rp.env...)
	env = append(env, "AWS_LAMBDA_RUNTIME_API="+ln.Addr().String())
	if provisioned {
		env = append(env, "AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency")
	} else {
		env = append(env, "AWS_LAMBDA_INITIALIZATION_TYPE=on-demand")
	}
	if proto != protoLambda {
		port, err := freePort()
		if err != nil {
			ln.Close()
			return nil, err
		}
		in.port = port
		in.base = "http://127.0.0.1:" + strconv.Itoa(port)
		p := strconv.Itoa(port)
		env = append(env, "PORT="+p, "FUNCTIONS_CUSTOMHANDLER_PORT="+p)
	}
	out := fr.output()
	in.started = time.Now()
	fr.h.procs.Add(1)
	go func() {
		defer fr.h.procs.Done()
		defer fr.h.recovered("runtime API", "function", fr.name)
		in.serveRuntimeAPI()
	}()
	if err := fr.h.startProcess(in, exec.Cmd{Path: rp.exe, Args: []string{rp.exe}, Dir: rp.dir, Env: env, Stdout: out, Stderr: out}); err != nil {
		in.closeRuntimeAPI()
		return nil, fmt.Errorf("starting %s: %w (is the bundle built for %s with an executable %s?)", rp.exe, err, "this machine", entrypointName(rp.exe))
	}
	in.pid = in.cmd.Process.Pid
	fr.mu.Lock()
	fr.insts[in] = struct{}{}
	stopped := fr.stopped
	fr.mu.Unlock()
	fr.h.procs.Add(1)
	go func() {
		defer fr.h.procs.Done()
		defer fr.h.recovered("instance watch", "function", fr.name)
		err := in.cmd.Wait()
		killGroup(in.pid) // the function's own children, if any
		in.exitErr = err
		close(in.dead)
		in.closeRuntimeAPI()
		fr.gone(in)
	}()
	if stopped {
		in.kill("the host is closing")
	}
	if proto != protoLambda {
		go func() {
			defer fr.h.recovered("instance start", "function", fr.name)
			in.dialLoop()
		}()
	}
	fr.h.opts.Logger.Debug("instance started", "function", fr.name, "revision", rp.id, "pid", in.pid, "provisioned", provisioned)
	return in, nil
}

// startProcess starts in's process as cmd at the host's isolation level,
// falling back to weaker levels when the system refuses namespaces (no
// privilege, user namespaces disabled, a seccomp profile).
func (h *Host) startProcess(in *instance, cmd exec.Cmd) error {
	for {
		level := h.isolation.Load()
		c := cmd
		c.SysProcAttr = procAttr(level)
		err := c.Start()
		if err == nil {
			in.cmd = &c
			return nil
		}
		var errno syscall.Errno
		if level == isolateGroup || !errors.As(err, &errno) || (errno != syscall.EPERM && errno != syscall.EINVAL && errno != syscall.ENOSPC && errno != syscall.ENOSYS && errno != syscall.EACCES) {
			return err
		}
		weaker := weakerIsolation(level)
		if h.isolation.CompareAndSwap(level, weaker) {
			h.opts.Logger.Warn("instances cannot get their own namespaces here; falling back", "err", err, "level", weaker)
		}
	}
}

func entrypointName(exe string) string {
	if i := strings.LastIndexAny(exe, `/\`); i >= 0 {
		return exe[i+1:]
	}
	return exe
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("no loopback port for $PORT: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port, nil
}

func (in *instance) isDead() bool {
	select {
	case <-in.dead:
		return true
	default:
		return false
	}
}

// kill kills the instance's process group, recording why.
func (in *instance) kill(why string) {
	if in.isDead() {
		return
	}
	in.reason.CompareAndSwap(nil, &why)
	killGroup(in.pid)
}

// markReady records the protocol the instance speaks, at its first sign
// of life.
func (in *instance) markReady(proto int32) {
	in.readyOnce.Do(func() {
		in.initDur = time.Since(in.started)
		in.proto.Store(proto)
		in.rp.proto.CompareAndSwap(protoUnknown, proto)
		close(in.readyc)
	})
}

// dialLoop detects an HTTP-protocol function: ready once $PORT accepts.
func (in *instance) dialLoop() {
	d := 100 * time.Microsecond
	addr := "127.0.0.1:" + strconv.Itoa(in.port)
	for {
		select {
		case <-in.readyc:
			return
		case <-in.dead:
			return
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			in.markReady(protoHTTP)
			return
		}
		time.Sleep(d)
		d = min(d*2, 5*time.Millisecond)
	}
}

// waitInit waits until the instance is ready to take a request.
func (in *instance) waitInit(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	name, rev := in.fr.name, in.rp.id
	select {
	case <-in.readyc:
		return nil
	case msg := <-in.initErrc:
		return &initError{msg: fmt.Sprintf("function %s revision %s failed to initialise (Runtime.InitError): %s", name, rev, msg)}
	case <-in.dead:
		return &initError{msg: fmt.Sprintf("function %s revision %s exited during init (%v)%s: check its log in %s", name, rev, in.exitErr, in.why(), in.fr.logHint())}
	case <-t.C:
		return &initError{msg: fmt.Sprintf("function %s revision %s did not poll the Runtime API (AWS_LAMBDA_RUNTIME_API) nor listen on $PORT within %s", name, rev, timeout)}
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (in *instance) why() string {
	if r := in.reason.Load(); r != nil {
		return ": killed because " + *r
	}
	return ""
}

func (fr *fnRuntime) logHint() string {
	if fr.log != nil {
		return fr.log.lw.path
	}
	return "the function output"
}

var errTooLarge = errors.New("payload too large")

// readBody reads r's body up to limit bytes.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errTooLarge
	}
	var buf []byte
	if r.ContentLength > 0 {
		buf = make([]byte, 0, r.ContentLength)
	} else {
		buf = make([]byte, 0, 512)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
