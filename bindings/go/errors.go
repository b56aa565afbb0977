package pekonode

/*
#include <stdlib.h>
#include "pekonode.h"
*/
import "C"

import (
	"errors"
	"unsafe"
)

// Status is a peko_status code returned by the C library. It implements error so that it can
// be used as a target for errors.Is:
//
//	if errors.Is(err, pekonode.StatusState) { ... }
type Status uint32

// The library's status codes (PEKO_OK, PEKO_ERR_*).
const (
	StatusOK             Status = C.PEKO_OK
	StatusNullArg        Status = C.PEKO_ERR_NULL_ARG
	StatusInvalidArg     Status = C.PEKO_ERR_INVALID_ARG
	StatusState          Status = C.PEKO_ERR_STATE
	StatusIO             Status = C.PEKO_ERR_IO
	StatusBufferTooSmall Status = C.PEKO_ERR_BUFFER_TOO_SMALL
	StatusTooLarge       Status = C.PEKO_ERR_TOO_LARGE
	StatusPanic          Status = C.PEKO_ERR_PANIC
	StatusTimeout        Status = C.PEKO_ERR_TIMEOUT
)

// String is the library's description of the code (peko_status_str).
func (s Status) String() string {
	return C.GoString(C.peko_status_str(C.peko_status(s)))
}

// Error makes a Status usable as an errors.Is target.
func (s Status) Error() string { return "pekonode: " + s.String() }

// ErrClosed is wrapped by the error of every call made on a Node after Close.
var ErrClosed = errors.New("pekonode: node is closed")

// Error is the error returned by every failing call: the operation, the library's status code
// and the message peko_last_error gave for that call (fetched on the same OS thread).
//
// errors.Is(err, StatusX) matches the status code; errors.Is(err, ErrClosed) matches calls on
// a closed Node; a Leave that ran out of its context's deadline also matches
// context.DeadlineExceeded.
type Error struct {
	Op     string // the call that failed, e.g. "join"
	Status Status // the status code
	Msg    string // the library's message (peko_last_error); may be empty
	err    error  // a wrapped cause (ErrClosed, context.DeadlineExceeded), or nil
}

func (e *Error) Error() string {
	s := "pekonode: " + e.Op + ": " + e.Status.String()
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// Is reports whether target is the Status of e.
func (e *Error) Is(target error) bool {
	s, ok := target.(Status)
	return ok && s == e.Status
}

// Unwrap returns the wrapped cause, if any.
func (e *Error) Unwrap() error { return e.err }

// check turns a status into an *Error. It must run on the OS thread that made the failing
// call (the caller holds runtime.LockOSThread), because peko_last_error is per thread.
func check(op string, st C.peko_status) error {
	if st == C.PEKO_OK {
		return nil
	}
	return &Error{Op: op, Status: Status(st), Msg: lastError()}
}

// lastError copies this OS thread's last library error message.
func lastError() string {
	n := C.peko_last_error(nil, 0)
	if n == 0 {
		return ""
	}
	buf := make([]byte, int(n)+1)
	got := C.peko_last_error((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	if got < n {
		n = got
	}
	return string(buf[:n])
}

func invalidArg(op, msg string) error {
	return &Error{Op: op, Status: StatusInvalidArg, Msg: msg}
}

func closedError(op string) error {
	return &Error{Op: op, Status: StatusState, Msg: "the node is closed", err: ErrClosed}
}
