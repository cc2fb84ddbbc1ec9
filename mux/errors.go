package mux

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// ErrorCode is a uint32 error code carried on the wire by stream resets,
// stop requests and session closes. Codes below 0x100 are reserved for
// twine's own session codes (the Code* constants); applications use the rest
// freely for their own meanings.
type ErrorCode uint32

// twine's own codes.
const (
	CodeNoError          ErrorCode = 0x0 // graceful close, or a reset without a reason
	CodeProtocol         ErrorCode = 0x1 // the peer broke a rule of the wire protocol
	CodeInternal         ErrorCode = 0x2 // a local failure unrelated to the peer
	CodeFlowControl      ErrorCode = 0x3 // the peer sent more than its window allowed
	CodeStreamLimit      ErrorCode = 0x4 // the peer opened more streams than granted
	CodeFrameSize        ErrorCode = 0x5 // a frame's length broke the limit
	CodePeerUnresponsive ErrorCode = 0x6 // nothing arrived for the peer timeout
	CodeRefusedStream    ErrorCode = 0x7 // the stream arrived after GOAWAY and was not processed
	CodeEnhanceYourCalm  ErrorCode = 0x8 // the peer made us queue too many control frames
)

var codeNames = map[ErrorCode]string{
	CodeNoError:          "no error",
	CodeProtocol:         "protocol error",
	CodeInternal:         "internal error",
	CodeFlowControl:      "flow-control error",
	CodeStreamLimit:      "stream-limit error",
	CodeFrameSize:        "frame-size error",
	CodePeerUnresponsive: "peer unresponsive",
	CodeRefusedStream:    "refused stream",
	CodeEnhanceYourCalm:  "control-frame flood",
}

// String names twine's own codes and prints others as hexadecimal.
func (c ErrorCode) String() string {
	if name, ok := codeNames[c]; ok {
		return name
	}
	return fmt.Sprintf("code 0x%x", uint32(c))
}

// ErrStreamReset matches (with errors.Is) every *StreamError.
var ErrStreamReset = errors.New("twine: stream reset")

// StreamError reports that a stream was aborted: reset by either side, or,
// for writes, stopped by the peer's CloseRead.
type StreamError struct {
	StreamID uint64 // wide enough for every back end's ids (QUIC's are 62-bit)
	Code     ErrorCode
	// Remote is true when the peer aborted the stream, false when this side did.
	Remote bool
}

func (e *StreamError) Error() string {
	who := "locally"
	if e.Remote {
		who = "by peer"
	}
	return fmt.Sprintf("twine: stream %d aborted %s (%v)", e.StreamID, who, e.Code)
}

// Is reports whether target is [ErrStreamReset], or a *StreamError with the
// same fields.
func (e *StreamError) Is(target error) bool {
	if target == ErrStreamReset {
		return true
	}
	t, ok := target.(*StreamError)
	return ok && *t == *e
}

// SessionError reports that a session ended by a close, by either side, or
// because its connection was lost. It matches net.ErrClosed.
type SessionError struct {
	Code ErrorCode
	// Remote is true when the peer closed the session or the connection.
	Remote bool
	// Reason is a short human-readable explanation, possibly empty.
	Reason string
	// Err is the underlying cause, if any: a *ProtocolError, or the
	// connection's own error.
	Err error
}

func (e *SessionError) Error() string {
	who := "locally"
	if e.Remote {
		who = "by peer"
	}
	msg := fmt.Sprintf("twine: session closed %s (%v)", who, e.Code)
	if e.Code == CodeNoError && e.Err != nil {
		// No GOAWAY said why: the cause does; "(no error)" would read
		// as a graceful close.
		msg = "twine: session closed " + who
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Err != nil {
		msg += ": " + strings.TrimPrefix(e.Err.Error(), "twine: ")
	}
	return msg
}

// Unwrap returns net.ErrClosed and the underlying cause, if any.
func (e *SessionError) Unwrap() []error {
	if e.Err == nil {
		return []error{net.ErrClosed}
	}
	return []error{net.ErrClosed, e.Err}
}

// ProtocolError reports a frame from the peer that broke a rule of the wire
// protocol. The session that received it ends with Code, sent to the peer.
type ProtocolError struct {
	FrameType string // "DATA", "WINDOW", …, or "frame 0x9" for an unknown type
	StreamID  uint64
	Rule      string // the rule broken, e.g. "increment must not be zero"
	Code      ErrorCode
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("twine: protocol error: %s frame on stream %d: %s", e.FrameType, e.StreamID, e.Rule)
}

// ErrPeerUnresponsive ends a session whose peer sent nothing for the peer
// timeout, or accepted no bytes for that long while frames waited. It is a
// net.Error whose Timeout is true, and it matches net.ErrClosed and
// os.ErrDeadlineExceeded.
var ErrPeerUnresponsive error = peerUnresponsiveError{}

type peerUnresponsiveError struct{}

func (peerUnresponsiveError) Error() string   { return "twine: peer unresponsive" }
func (peerUnresponsiveError) Timeout() bool   { return true }
func (peerUnresponsiveError) Temporary() bool { return false }
func (peerUnresponsiveError) Unwrap() []error {
	return []error{net.ErrClosed, os.ErrDeadlineExceeded}
}

// DeadlineError reports that a stream's read or write deadline passed. It is
// a net.Error whose Timeout is true and it wraps os.ErrDeadlineExceeded.
type DeadlineError struct {
	StreamID uint64
	Op       string // "read" or "write"
}

func (e *DeadlineError) Error() string {
	return fmt.Sprintf("twine: stream %d: %s deadline exceeded", e.StreamID, e.Op)
}

// Timeout reports true.
func (e *DeadlineError) Timeout() bool { return true }

// Temporary reports true, as os.ErrDeadlineExceeded does.
func (e *DeadlineError) Temporary() bool { return true }

// Unwrap returns os.ErrDeadlineExceeded.
func (e *DeadlineError) Unwrap() error { return os.ErrDeadlineExceeded }

var (
	_ net.Error = ErrPeerUnresponsive.(net.Error)
	_ net.Error = (*DeadlineError)(nil)
)
