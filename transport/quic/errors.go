package quic

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strings"

	quicgo "github.com/quic-go/quic-go"

	"github.com/twinemux/twine/mux"
)

// Error is the error Dial, Listen and Accept return: what was being done,
// to which address, and why.
type Error struct {
	Op   string // "dial", "listen", "accept on"
	Addr string
	Err  error
}

func (e *Error) Error() string {
	return fmt.Sprintf("twine: quic %s %s: %s", e.Op, e.Addr, strings.TrimPrefix(e.Err.Error(), "twine: "))
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// errListenerClosed is what Accept returns once the listener is closed.
var errListenerClosed = fmt.Errorf("listener closed: %w", net.ErrClosed)

// resetFlag, set in a STOP_SENDING code, says that the sender reset its
// send side too: the receiver treats it as twine's RST for both halves.
const resetFlag quicgo.StreamErrorCode = 1 << 32

// muxCode returns the twine code a QUIC stream or application error code
// carries: its low 32 bits, without resetFlag. A code that does not fit is
// not twine's, and reads as a protocol error.
func muxCode(c uint64) mux.ErrorCode {
	c &^= uint64(resetFlag)
	if c > math.MaxUint32 {
		return mux.CodeProtocol
	}
	return mux.ErrorCode(c)
}

// sessionError translates why a QUIC connection ended into twine's error:
// never io.EOF, always matching net.ErrClosed.
func sessionError(err error) error {
	if appErr, ok := errors.AsType[*quicgo.ApplicationError](err); ok {
		return &mux.SessionError{Code: muxCode(uint64(appErr.ErrorCode)), Remote: appErr.Remote, Reason: appErr.ErrorMessage}
	}
	if _, ok := errors.AsType[*quicgo.IdleTimeoutError](err); ok {
		return mux.ErrPeerUnresponsive
	}
	if _, ok := errors.AsType[*quicgo.HandshakeTimeoutError](err); ok {
		return mux.ErrPeerUnresponsive
	}
	if tErr, ok := errors.AsType[*quicgo.TransportError](err); ok {
		return &mux.SessionError{Code: transportCode(tErr.ErrorCode), Remote: tErr.Remote, Err: err}
	}
	if _, ok := errors.AsType[*quicgo.StatelessResetError](err); ok {
		// The peer lost the connection's state, most likely by restarting.
		return &mux.SessionError{Code: mux.CodeInternal, Remote: true, Err: err}
	}
	// The transport was closed under the connection, or an error quic-go
	// does not name.
	return &mux.SessionError{Code: mux.CodeInternal, Err: err}
}

// transportCode maps a QUIC transport error code to the nearest twine code.
func transportCode(c quicgo.TransportErrorCode) mux.ErrorCode {
	switch c {
	case quicgo.NoError:
		return mux.CodeNoError
	case quicgo.InternalError:
		return mux.CodeInternal
	case quicgo.FlowControlError:
		return mux.CodeFlowControl
	case quicgo.StreamLimitError:
		return mux.CodeStreamLimit
	default:
		return mux.CodeProtocol
	}
}
