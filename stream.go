package twine

import (
	"net"
	"time"

	"github.com/twinemux/twine/mux"
)

// Stream is one full-duplex stream of a [Session]: a send half and a receive
// half that close independently. It implements [mux.Stream] and so
// net.Conn. All methods are safe for concurrent use; concurrent Writes are
// serialised, each one's bytes contiguous on the stream.
type Stream struct {
	id   uint32
	sess *Session
	send sendHalf
	recv recvHalf

	finished bool // both halves terminal and the stream left the table; guarded by Session.mu
}

var _ mux.Stream = (*Stream)(nil)

func newStream(s *Session, id uint32, sendCredit, recvWindow uint32) *Stream {
	st := &Stream{id: id, sess: s}
	st.send.init(sendCredit, s.wakers)
	st.recv.init(recvWindow, time.Now())
	return st
}

// StreamID returns the stream's id: odd when the client opened it, even
// when the server did.
func (st *Stream) StreamID() uint32 { return st.id }

// Read reads buffered data into p, blocking until some arrives. After the
// peer's FIN and all data before it, it returns io.EOF. It fails with a
// *mux.StreamError after a reset, the session's error when the session
// ended, an error wrapping net.ErrClosed after CloseRead, and a
// *mux.DeadlineError when the read deadline passes.
func (st *Stream) Read(p []byte) (int, error) {
	h := &st.recv
	for {
		if h.deadline.passed() {
			return 0, &mux.DeadlineError{StreamID: uint64(st.id), Op: "read"}
		}
		n, inc, err := h.read(st.id, p, st.sess.tuneWindow)
		if n > 0 || err != nil {
			if n > 0 {
				st.sess.consumed(st.id, n, inc)
			}
			return n, err
		}
		if len(p) == 0 {
			return 0, nil
		}
		wake := h.wake.waitChannel(&h.mu)
		if wake == nil {
			continue // look again before the first wait
		}
		select {
		case <-wake:
		case <-h.deadline.done():
			return 0, &mux.DeadlineError{StreamID: uint64(st.id), Op: "read"}
		}
	}
}

// Write sends p, blocking until all of it was handed to the connection: it
// waits for flow-control credit from the peer. It returns n < len(p) only
// with an error: a *mux.StreamError after a reset or the peer's CloseRead,
// the session's error when the session ended, an error wrapping
// net.ErrClosed after CloseWrite, or a *mux.DeadlineError when the write
// deadline passes. Bytes not written when it returns an error are never
// sent.
func (st *Stream) Write(p []byte) (int, error) {
	h := &st.send
	if !h.beginWrite(h.deadline.done) {
		return 0, st.writeDeadlineError()
	}
	defer h.endWrite()

	h.mu.Lock()
	err := h.writeErrLocked(st.id)
	if err == nil && h.deadline.passed() {
		err = st.writeDeadlineError()
	}
	if err != nil || len(p) == 0 {
		h.mu.Unlock()
		return 0, err
	}
	h.startWrite(p)
	h.mu.Unlock()
	direct := len(p) >= directWriteMin
	if !direct {
		st.sess.schedule(st)
	}

	for {
		done, err := h.progress(st.id, len(p))
		if done {
			return len(p), nil
		}
		if err == nil && h.deadline.passed() {
			err = st.writeDeadlineError()
		}
		if err == nil {
			// A large Write sends its data itself when nobody else is
			// writing; else it waits for the writer to take it, or for
			// credit.
			if direct {
				if wrote, _ := st.sess.writeBatch(st); wrote {
					continue
				}
			}
			if err = st.waitWrite(); err == nil {
				continue
			}
		}
		n, inFlight := h.finishWrite()
		if inFlight {
			h.waitInFlight()
		}
		if n == len(p) {
			return n, nil // it all went out before the error
		}
		return n, err
	}
}

// waitWrite waits for the Write in progress to move on: its data taken by
// another writer, credit from the peer, or a change of state. It counts the
// time spent waiting for credit, and fails when the write deadline passes.
// It may return at once, when the caller must look again.
func (st *Stream) waitWrite() error {
	h := &st.send
	wake := h.wake.waitChannel(&h.mu)
	if wake == nil {
		return nil
	}
	if h.creditExhausted() || st.sess.connCreditExhausted() {
		defer func(since time.Time) {
			st.sess.stats.flowBlocked.Add(int64(time.Since(since)))
		}(time.Now())
	}
	select {
	case <-wake:
		return nil
	case <-h.deadline.done():
		return st.writeDeadlineError()
	}
}

// directWriteMin is the smallest Write that makes its own connection write
// when nobody else is writing. Bulk writers gain from skipping the hand-off
// to the write loop; small messages do not, and leaving them to the write
// loop keeps their latency low (measured in bench/compare: 64 B ping-pong
// p50 24 µs through the write loop, 36 µs written directly).
const directWriteMin = 8 << 10

func (st *Stream) writeDeadlineError() error {
	return &mux.DeadlineError{StreamID: uint64(st.id), Op: "write"}
}

// CloseWrite sends FIN after the bytes already written; the peer reads
// them, then io.EOF. A Write in progress fails, its unsent bytes dropped,
// and later Writes fail with an error wrapping net.ErrClosed. Reading is
// unaffected. It never blocks and repeat calls are no-ops.
func (st *Stream) CloseWrite() error {
	if st.send.closeWrite() {
		st.send.signal()
		st.sess.schedule(st)
	}
	return nil
}

// CloseRead discards buffered and later data and tells the peer with STOP,
// whose pending and later Writes fail with a *mux.StreamError with Remote
// set. A Read in progress and later Reads fail with an error wrapping
// net.ErrClosed. It never blocks and repeat calls are no-ops.
func (st *Stream) CloseRead() error {
	sendStop, freed := st.recv.closeRead()
	st.sess.consumed(st.id, freed, 0)
	if sendStop {
		st.sess.queueStop(st.id, mux.CodeNoError)
	}
	st.sess.maybeFinish(st)
	return nil
}

// Close closes both halves, like net.Conn: CloseRead and CloseWrite. Pending
// Reads and Writes fail; the peer reads the data written before Close, then
// io.EOF, and its writes fail. It never blocks and repeat calls are no-ops.
func (st *Stream) Close() error {
	st.CloseWrite()
	return st.CloseRead()
}

// Reset aborts both halves with code 0; see [Stream.ResetWithError].
func (st *Stream) Reset() error {
	return st.ResetWithError(mux.CodeNoError)
}

// ResetWithError aborts both halves: unsent data is dropped, and pending and
// later Reads and Writes fail with a *mux.StreamError{Code: code} with
// Remote unset. The peer's pending and later calls fail with a
// *mux.StreamError carrying code with Remote set. It never blocks; calls
// after the first, or after the stream ended, are no-ops.
func (st *Stream) ResetWithError(code mux.ErrorCode) error {
	err := &mux.StreamError{StreamID: uint64(st.id), Code: code}
	sendWasOpen := st.send.abort(sendAborted, err)
	recvWasOpen, freed := st.recv.abort(err, true)
	st.sess.consumed(st.id, freed, 0)
	if sendWasOpen || recvWasOpen {
		st.send.signal()
		st.sess.queueRST(st.id, code)
	}
	st.sess.maybeFinish(st)
	return nil
}

// SetDeadline sets both the read and the write deadline, as net.Conn does.
func (st *Stream) SetDeadline(t time.Time) error {
	st.recv.deadline.set(t)
	st.send.deadline.set(t)
	return nil
}

// SetReadDeadline sets the deadline for pending and future Reads, as
// net.Conn does: the zero time disables it, and a time in the past makes
// blocked Reads return at once with a *mux.DeadlineError.
func (st *Stream) SetReadDeadline(t time.Time) error {
	st.recv.deadline.set(t)
	return nil
}

// SetWriteDeadline sets the deadline for pending and future Writes, as
// net.Conn does. A Write that times out may have sent part of its buffer,
// and reports how much. If part of its buffer is inside a connection write
// at that moment, it returns when that write completes, which the peer
// timeout bounds.
func (st *Stream) SetWriteDeadline(t time.Time) error {
	st.send.deadline.set(t)
	return nil
}

// LocalAddr returns the session connection's local address.
func (st *Stream) LocalAddr() net.Addr { return st.sess.conn.LocalAddr() }

// RemoteAddr returns the session connection's remote address.
func (st *Stream) RemoteAddr() net.Addr { return st.sess.conn.RemoteAddr() }
