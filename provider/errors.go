package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/updraft-dev/updraft/provider/driver"
)

// ErrorCode classifies errors returned by a Function. See Code.
type ErrorCode = driver.ErrorCode

// The error codes. Their numbers are stable.
const (
	OK                 = driver.OK
	Unknown            = driver.Unknown
	NotFound           = driver.NotFound
	AlreadyExists      = driver.AlreadyExists
	InvalidArgument    = driver.InvalidArgument
	Internal           = driver.Internal
	Unimplemented      = driver.Unimplemented
	FailedPrecondition = driver.FailedPrecondition
	PermissionDenied   = driver.PermissionDenied
	ResourceExhausted  = driver.ResourceExhausted
	Canceled           = driver.Canceled
	DeadlineExceeded   = driver.DeadlineExceeded
)

// sentinel is the type of the Err* values: an error that is only a code.
type sentinel struct{ code ErrorCode }

func (s *sentinel) Error() string { return "updraft: " + s.code.String() }

// Sentinel errors, one per code, for errors.Is:
//
//	if errors.Is(err, provider.ErrNotFound) { … }
var (
	ErrNotFound           error = &sentinel{NotFound}
	ErrAlreadyExists      error = &sentinel{AlreadyExists}
	ErrInvalidArgument    error = &sentinel{InvalidArgument}
	ErrInternal           error = &sentinel{Internal}
	ErrUnimplemented      error = &sentinel{Unimplemented}
	ErrFailedPrecondition error = &sentinel{FailedPrecondition}
	ErrPermissionDenied   error = &sentinel{PermissionDenied}
	ErrResourceExhausted  error = &sentinel{ResourceExhausted}
	ErrCanceled           error = &sentinel{Canceled}
	ErrDeadlineExceeded   error = &sentinel{DeadlineExceeded}
	ErrUnknown            error = &sentinel{Unknown}
)

func sentinelFor(c ErrorCode) error {
	switch c {
	case NotFound:
		return ErrNotFound
	case AlreadyExists:
		return ErrAlreadyExists
	case InvalidArgument:
		return ErrInvalidArgument
	case Internal:
		return ErrInternal
	case Unimplemented:
		return ErrUnimplemented
	case FailedPrecondition:
		return ErrFailedPrecondition
	case PermissionDenied:
		return ErrPermissionDenied
	case ResourceExhausted:
		return ErrResourceExhausted
	case Canceled:
		return ErrCanceled
	case DeadlineExceeded:
		return ErrDeadlineExceeded
	}
	return ErrUnknown
}

// Error is the error type every Function method returns. It names the
// target and operation, carries a code, and unwraps to both the cause (so
// errors.As reaches a native SDK error) and the sentinel for its code (so
// errors.Is(err, ErrNotFound) works).
//
// Its text says each thing once:
//
//	updraft: TARGET: OP: CAUSE (CODE): HINT
//
// A cause that is itself an *Error for the same target (a package built on
// Function wrapping one) is printed without its target, and without its
// operation, code and hint when they are the same as the outer ones.
type Error struct {
	// Code classifies the error.
	Code ErrorCode
	// Target is the function's target (see Function.Target), Op the
	// operation ("Apply").
	Target, Op string
	// Hint, when set, says what to do next.
	Hint string
	err  error
}

// Error names the target, the operation, the cause and the code, then
// what to do next.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("updraft: ")
	if e.Target != "" {
		b.WriteString(e.Target)
		b.WriteString(": ")
	}
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString(e.Message())
	return b.String()
}

// Message is the error without its "updraft: TARGET: OP: " prefix: the
// cause, the code and what to do next. A caller that names the target and
// the step itself (deploy's TargetError) prints Message after them.
func (e *Error) Message() string {
	cause, innerCode, innerHint := "", ErrorCode(-1), ""
	if e.err != nil {
		cause = e.err.Error()
		var in *Error
		if errors.As(e.err, &in) && (in.Target == e.Target || in.Target == "") {
			if full := in.Error(); strings.Contains(cause, full) {
				short := in.Message()
				if in.Op != "" && in.Op != e.Op {
					short = in.Op + ": " + short
				}
				cause = strings.Replace(cause, full, short, 1)
				innerCode, innerHint = in.Code, in.Hint
			}
		}
	}
	msg := cause
	switch {
	case msg == "":
		msg = e.Code.String()
	case e.Code != innerCode:
		msg += " (" + e.Code.String() + ")"
	}
	if e.Hint != "" && e.Hint != innerHint {
		msg += ": " + e.Hint
	}
	return msg
}

// Unwrap returns the cause and the code's sentinel.
func (e *Error) Unwrap() []error {
	if e.err == nil {
		return []error{sentinelFor(e.Code)}
	}
	return []error{e.err, sentinelFor(e.Code)}
}

// Code returns the code of err: the code of the first *Error or
// driver-coded error in its chain, Canceled or DeadlineExceeded for
// context errors, OK for nil and Unknown otherwise.
func Code(err error) ErrorCode {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var s *sentinel
	if errors.As(err, &s) {
		return s.code
	}
	if c := driver.CodeOf(err); c != Unknown {
		return c
	}
	switch {
	case errors.Is(err, context.Canceled):
		return Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return DeadlineExceeded
	}
	return Unknown
}

// hints say what to do next for the codes where the answer is generic.
var hints = map[ErrorCode]string{
	FailedPrecondition: "the function changed since it was read or is busy; read it again and retry, or wait for the other deployment",
	ResourceExhausted:  "the cloud is throttling or a quota is reached; retry later or raise the quota",
	PermissionDenied:   "the credentials in use may not do this; check the role or service account",
}

// Errorf returns an *Error with code for target and op, for packages built
// on Function (deploy) that report their own failures with codes.
func Errorf(code ErrorCode, target, op, format string, args ...any) error {
	return &Error{Code: code, Target: target, Op: op, err: fmt.Errorf(format, args...)}
}
