package quic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/twinemux/twine/mux"
)

// sendState is what this package knows of a stream's send half, on top of
// quic-go's own state.
//
//	sendOpen ──CloseWrite──▶ sendClosed (FIN queued once no Write is in progress)
//	sendOpen ──Reset──▶ sendReset
//	sendOpen ──the peer's STOP_SENDING seen──▶ sendStopped
//	sendOpen ──the peer's reset seen──▶ sendPeerReset
//
// Every state but sendOpen is terminal. The peer's reset is seen when a
// Read returns its RESET_STREAM, or a Write or the send-side callback its
// STOP_SENDING with resetFlag, whichever comes first: twine's RST aborts
// both halves at once, while QUIC delivers the two frames one by one.
type sendState uint8

const (
	sendOpen      sendState = iota
	sendClosed              // Writes fail with net.ErrClosed
	sendReset               // Writes fail with the local reset's StreamError
	sendStopped             // Writes fail with quic-go's error from the peer's STOP_SENDING
	sendPeerReset           // Writes fail with the peer's reset's StreamError
)

// recvState is what this package knows of a stream's receive half.
//
//	recvOpen ──CloseRead──▶ recvClosed
//	recvOpen ──Reset──▶ recvReset
//	recvOpen ──the peer's reset seen──▶ recvPeerReset
//
// Every state but recvOpen is terminal. The first event this package sees
// on a half decides its error: after a local reset, the peer's answers
// (which may overtake the local frames still in quic-go) change nothing.
type recvState uint8

const (
	recvOpen      recvState = iota
	recvClosed              // Reads fail with net.ErrClosed
	recvReset               // Reads fail with the local reset's StreamError
	recvPeerReset           // Reads fail with the peer's reset's StreamError
)

// Stream is one full-duplex stream of a [Session], a QUIC bidirectional
// stream. It implements [mux.Stream] and so net.Conn. All methods are safe
// for concurrent use; concurrent Reads, and concurrent Writes, are
// serialised.
type Stream struct {
	qs   *quicgo.Stream
	sess *Session
	id   uint64

	// stopWatch unregisters the callback that notices the peer's
	// STOP_SENDING.
	stopWatch func() bool

	sendMu    sync.Mutex
	sendState sendState
	sendCode  mux.ErrorCode // in sendReset and sendPeerReset
	writers   int           // Writes inside quic-go
	finQueued bool          // quic-go's Close was called

	recvMu    sync.Mutex
	recvState recvState
	recvCode  mux.ErrorCode // in recvReset and recvPeerReset
	resetRead bool          // a Read returned the peer's reset: it stands, though quic-go says io.EOF later
}

var _ mux.Stream = (*Stream)(nil)

func newStream(s *Session, qs *quicgo.Stream) *Stream {
	st := &Stream{qs: qs, sess: s, id: uint64(qs.StreamID())}
	st.stopWatch = context.AfterFunc(qs.Context(), st.sendCancelled)
	return st
}

// StreamID returns the QUIC stream id.
func (st *Stream) StreamID() int64 { return int64(st.qs.StreamID()) }

// Read reads data into p, blocking until some arrives. After the peer's FIN
// and all data before it, it returns io.EOF. It returns data or an error,
// never both. It fails with a *mux.StreamError after a reset by either side,
// the session's error when the session ended, an error wrapping
// net.ErrClosed after CloseRead, and a *mux.DeadlineError when the read
// deadline passes.
func (st *Stream) Read(p []byte) (int, error) {
	n, err := st.qs.Read(p)
	if n > 0 || err == nil {
		// quic-go may return an error with the last data; it returns the
		// error again on the next Read.
		return n, nil
	}
	return 0, st.readErr(err)
}

func (st *Stream) readErr(err error) error {
	st.recvMu.Lock()
	state, resetCode, resetRead := st.recvState, st.recvCode, st.resetRead
	st.recvMu.Unlock()
	if qErr, ok := errors.AsType[*quicgo.StreamError](err); ok {
		code := muxCode(uint64(qErr.ErrorCode))
		switch {
		case state == recvReset:
			return &mux.StreamError{StreamID: st.id, Code: resetCode}
		case qErr.Remote:
			// The peer's RESET_STREAM: in this package's wire format only
			// its Reset sends one.
			st.abortByPeer(code)
			st.recvMu.Lock()
			st.resetRead = true
			st.recvMu.Unlock()
			return &mux.StreamError{StreamID: st.id, Code: code, Remote: true}
		case state == recvClosed:
			return st.closedReadErr()
		case state == recvPeerReset:
			return &mux.StreamError{StreamID: st.id, Code: resetCode, Remote: true}
		}
		return &mux.StreamError{StreamID: st.id, Code: code}
	}
	if err == io.EOF {
		// The FIN was read before the local close or reset; or quic-go,
		// having returned the peer's reset once, reports the stream's end
		// as io.EOF: the reset stands.
		switch state {
		case recvClosed:
			return st.closedReadErr()
		case recvReset:
			return &mux.StreamError{StreamID: st.id, Code: resetCode}
		}
		if resetRead {
			return &mux.StreamError{StreamID: st.id, Code: resetCode, Remote: true}
		}
		return io.EOF
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &mux.DeadlineError{StreamID: st.id, Op: "read"}
	}
	return st.sess.endErr(err)
}

func (st *Stream) closedReadErr() error {
	return fmt.Errorf("twine: stream %d: read after CloseRead: %w", st.id, net.ErrClosed)
}

// Write sends p, blocking until quic-go has taken all of it: it waits for
// flow-control credit from the peer. It returns n < len(p) only with an
// error: a *mux.StreamError after a reset by either side or the peer's
// CloseRead, the session's error when the session ended, an error wrapping
// net.ErrClosed after CloseWrite (also for a Write in progress), or a
// *mux.DeadlineError when the write deadline passes. Bytes not written when
// it returns an error are never sent.
func (st *Stream) Write(p []byte) (int, error) {
	st.sendMu.Lock()
	switch st.sendState {
	case sendClosed:
		st.sendMu.Unlock()
		return 0, st.closedWriteErr()
	case sendReset, sendPeerReset:
		err := st.sendErrLocked()
		st.sendMu.Unlock()
		return 0, err
	}
	st.writers++
	st.sendMu.Unlock()

	n, err := st.qs.Write(p)

	st.sendMu.Lock()
	st.writers--
	state := st.sendState
	fin := state == sendClosed && st.writers == 0 && !st.finQueued
	if fin {
		st.finQueued = true
	}
	var stateErr error
	if err != nil && state != sendOpen && state != sendStopped {
		stateErr = st.sendErrLocked()
	}
	st.sendMu.Unlock()
	if fin {
		st.qs.Close()
	}
	switch {
	case err == nil:
		return n, nil
	case stateErr != nil:
		return n, stateErr
	}
	return n, st.writeErr(err)
}

// sendErrLocked returns why Writes fail in a terminal state this package
// decides: sendClosed, sendReset or sendPeerReset. The caller holds sendMu.
func (st *Stream) sendErrLocked() error {
	switch st.sendState {
	case sendClosed:
		return st.closedWriteErr()
	case sendPeerReset:
		return &mux.StreamError{StreamID: st.id, Code: st.sendCode, Remote: true}
	}
	return &mux.StreamError{StreamID: st.id, Code: st.sendCode}
}

func (st *Stream) writeErr(err error) error {
	if qErr, ok := errors.AsType[*quicgo.StreamError](err); ok {
		code := muxCode(uint64(qErr.ErrorCode))
		if qErr.Remote && qErr.ErrorCode&resetFlag != 0 {
			st.abortByPeer(code)
		}
		return &mux.StreamError{StreamID: st.id, Code: code, Remote: qErr.Remote}
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &mux.DeadlineError{StreamID: st.id, Op: "write"}
	}
	if errors.Is(err, quicgo.ErrStreamClosed) {
		return st.closedWriteErr()
	}
	return st.sess.endErr(err)
}

func (st *Stream) closedWriteErr() error {
	return fmt.Errorf("twine: stream %d: write after CloseWrite: %w", st.id, net.ErrClosed)
}

// CloseWrite sends FIN after the bytes already written; the peer reads
// them, then io.EOF. A Write in progress fails, its unsent bytes dropped,
// and later Writes fail with an error wrapping net.ErrClosed. Reading is
// unaffected. It never blocks and repeat calls are no-ops.
func (st *Stream) CloseWrite() error {
	st.sendMu.Lock()
	if st.sendState != sendOpen {
		st.sendMu.Unlock()
		return nil
	}
	st.sendState = sendClosed
	fin := st.writers == 0
	if fin {
		st.finQueued = true
	} else {
		// Wake the Write in progress; it queues the FIN when it leaves.
		// quic-go's Close must not run concurrently with its Write.
		st.qs.SetWriteDeadline(aLongTimeAgo)
	}
	st.sendMu.Unlock()
	st.stopWatch()
	if fin {
		st.qs.Close()
	}
	return nil
}

// CloseRead discards buffered and later data and tells the peer with
// STOP_SENDING (code 0), whose pending and later Writes fail with a
// *mux.StreamError with Remote set. A Read in progress and later Reads fail
// with an error wrapping net.ErrClosed. It never blocks and repeat calls are
// no-ops.
func (st *Stream) CloseRead() error {
	st.recvMu.Lock()
	if st.recvState != recvOpen {
		st.recvMu.Unlock()
		return nil
	}
	st.recvState = recvClosed
	st.recvMu.Unlock()
	st.qs.CancelRead(0)
	return nil
}

// Close closes both halves, like net.Conn: CloseWrite and CloseRead.
// Pending Reads and Writes fail; the peer reads the data written before
// Close, then io.EOF, and its writes fail. It never blocks and repeat calls
// are no-ops.
func (st *Stream) Close() error {
	st.CloseWrite()
	return st.CloseRead()
}

// Reset aborts both halves with code 0; see [Stream.ResetWithError].
func (st *Stream) Reset() error { return st.ResetWithError(mux.CodeNoError) }

// ResetWithError aborts both halves: unsent data is dropped, and pending and
// later Reads and Writes fail with a *mux.StreamError{Code: code} with
// Remote unset. The peer's pending and later calls fail with a
// *mux.StreamError carrying code with Remote set. A half already closed, or
// aborted by the peer, keeps its state. It never blocks; calls after the
// first are no-ops.
func (st *Stream) ResetWithError(code mux.ErrorCode) error {
	st.sendMu.Lock()
	// A STOP_SENDING quic-go already took counts as first, even if
	// sendCancelled has not run yet.
	sendWasOpen := st.sendState == sendOpen && !stoppedByPeer(st.qs)
	if sendWasOpen {
		st.sendState, st.sendCode = sendReset, code
	}
	st.sendMu.Unlock()
	st.recvMu.Lock()
	recvWasOpen := st.recvState == recvOpen
	if recvWasOpen {
		st.recvState, st.recvCode = recvReset, code
	}
	st.recvMu.Unlock()

	qCode := quicgo.StreamErrorCode(code)
	if sendWasOpen {
		st.stopWatch()
		st.qs.CancelWrite(qCode)
	}
	if recvWasOpen {
		stopCode := qCode
		if sendWasOpen {
			stopCode |= resetFlag
		}
		st.qs.CancelRead(stopCode)
	}
	return nil
}

// stoppedByPeer reports whether quic-go's send side of qs was stopped by the
// peer's STOP_SENDING.
func stoppedByPeer(qs *quicgo.Stream) bool {
	qErr, ok := context.Cause(qs.Context()).(*quicgo.StreamError)
	return ok && qErr.Remote
}

// sendCancelled runs, in a goroutine of its own, when quic-go's send side
// of the stream ends: by FIN, by reset, by the session's end, or by the
// peer's STOP_SENDING. Only the last matters here: it records that the peer
// stopped the send half and releases quic-go's send half (so that the
// stream can complete without a Write); with resetFlag, the peer reset the
// stream, which aborts the receive half too.
func (st *Stream) sendCancelled() {
	qErr, ok := context.Cause(st.qs.Context()).(*quicgo.StreamError)
	if !ok || !qErr.Remote {
		return
	}
	if qErr.ErrorCode&resetFlag != 0 {
		st.abortByPeer(muxCode(uint64(qErr.ErrorCode)))
		return
	}
	st.sendMu.Lock()
	if st.sendState == sendOpen {
		st.sendState = sendStopped
	}
	st.sendMu.Unlock()
	st.qs.CancelWrite(qErr.ErrorCode) // the peer's code stays the Writes' error
}

// abortByPeer applies the peer's reset with code to both halves, as twine's
// RST does: the halves still open fail with a *mux.StreamError{Code: code,
// Remote: true} from now on, and quic-go's halves are released so that the
// stream completes without the application. It is idempotent.
func (st *Stream) abortByPeer(code mux.ErrorCode) {
	st.sendMu.Lock()
	sendWasOpen := st.sendState == sendOpen
	if sendWasOpen {
		st.sendState, st.sendCode = sendPeerReset, code
	}
	st.sendMu.Unlock()
	st.recvMu.Lock()
	recvWasOpen := st.recvState == recvOpen
	if recvWasOpen {
		st.recvState, st.recvCode = recvPeerReset, code
	}
	st.recvMu.Unlock()
	if sendWasOpen {
		st.qs.CancelWrite(quicgo.StreamErrorCode(code))
	}
	if recvWasOpen {
		st.qs.CancelRead(quicgo.StreamErrorCode(code))
	}
}

// SetDeadline sets both the read and the write deadline, as net.Conn does.
func (st *Stream) SetDeadline(t time.Time) error {
	st.SetReadDeadline(t)
	return st.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline for pending and future Reads, as
// net.Conn does: the zero time disables it, and a time in the past makes
// blocked Reads return at once with a *mux.DeadlineError.
func (st *Stream) SetReadDeadline(t time.Time) error {
	return st.qs.SetReadDeadline(t)
}

// SetWriteDeadline sets the deadline for pending and future Writes, as
// net.Conn does. A Write that times out may have sent part of its buffer,
// and reports how much.
func (st *Stream) SetWriteDeadline(t time.Time) error {
	st.sendMu.Lock()
	defer st.sendMu.Unlock()
	if st.sendState == sendClosed {
		return nil // Writes fail anyway; keep waking the one in progress
	}
	return st.qs.SetWriteDeadline(t)
}

// LocalAddr returns the session's local address.
func (st *Stream) LocalAddr() net.Addr { return st.sess.LocalAddr() }

// RemoteAddr returns the session's remote address.
func (st *Stream) RemoteAddr() net.Addr { return st.sess.RemoteAddr() }
