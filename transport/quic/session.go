package quic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/twinemux/twine/mux"
)

// streamHeader is the byte the opener writes first on every stream.
const streamHeader = 0x00

// header is what OpenStream writes; quic-go copies it.
var header = []byte{streamHeader}

// aLongTimeAgo is a deadline in the past, to wake a blocked quic-go call.
var aLongTimeAgo = time.Unix(1, 0)

// Session is one side of a twine session over a QUIC connection. It
// implements [mux.Session]; all its methods are safe for concurrent use.
// Make one with [Dial] or [Listener.Accept].
type Session struct {
	conn *quicgo.Conn
	set  settings
	// release closes what the connection ran on; it is called once, after
	// the connection ended, with how long a closed connection's
	// CONNECTION_CLOSE should stay around to be sent again (see linger).
	release func(linger time.Duration)

	mu   sync.Mutex
	err  error         // why the session ended; set first by whoever ended it
	done chan struct{} // closed when err is set

	// acceptLock (cap 1) serialises AcceptStream. pending is a stream taken
	// from quic-go whose header a cancelled AcceptStream did not finish
	// reading; the next AcceptStream continues with it. Guarded by
	// acceptLock.
	acceptLock chan struct{}
	pending    *quicgo.Stream

	sendQueue chan datagram // PINGs and PONGs for the send loop
	pings     pings
	live      *liveness      // nil when detection is off
	loops     sync.WaitGroup // the receive and send loops
}

var _ mux.Session = (*Session)(nil)

func newSession(conn *quicgo.Conn, set settings, release func(linger time.Duration)) *Session {
	s := &Session{
		conn:       conn,
		set:        set,
		release:    release,
		done:       make(chan struct{}),
		acceptLock: make(chan struct{}, 1),
		sendQueue:  make(chan datagram, sendQueueLen),
	}
	if set.peerTimeout > 0 {
		s.live = &liveness{
			peerTimeout: set.peerTimeout,
			keepAlive:   set.keepAlive,
			lastArrival: conn.QlogTrace().(*arrivals).lastArrival,
			ping:        func() { s.queueDatagram(newDatagram(datagramPing, keepAliveID)) },
			dead:        func() { s.closeWith(mux.ErrPeerUnresponsive, mux.CodePeerUnresponsive, "") },
		}
		s.live.start() // before the receive loop, whose teardown stops it
	}
	s.loops.Add(2)
	go s.recvLoop()
	go s.sendLoop()
	return s
}

// OpenStream opens a new stream and queues its header, so that the peer's
// AcceptStream returns it even before anything is written. It blocks while
// the peer has granted no credit for another stream (QUIC's MAX_STREAMS),
// until ctx ends (returning ctx's error) or the session ends (returning the
// session's error).
func (s *Session) OpenStream(ctx context.Context) (mux.Stream, error) {
	qs, err := s.conn.OpenStreamSync(ctx)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return nil, ctxErr
		}
		return nil, s.endErr(err)
	}
	// A fresh stream takes a one-byte Write into its buffer at once.
	if _, err := qs.Write(header); err != nil {
		qs.CancelWrite(0)
		qs.CancelRead(0)
		return nil, s.endErr(err)
	}
	return newStream(s, qs), nil
}

// AcceptStream returns the next stream the peer opened, in the order it
// opened them, once its header has arrived. A stream the peer reset before
// it was accepted is skipped. It blocks until a stream arrives, ctx ends
// (returning ctx's error) or the session ends (returning the session's
// error).
func (s *Session) AcceptStream(ctx context.Context) (mux.Stream, error) {
	select {
	case s.acceptLock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.Done():
		return nil, s.Err()
	}
	defer func() { <-s.acceptLock }()
	for {
		qs := s.pending
		s.pending = nil
		if qs == nil {
			var err error
			if qs, err = s.conn.AcceptStream(ctx); err != nil {
				if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
					return nil, ctxErr
				}
				return nil, s.endErr(err)
			}
		}
		st, err := s.admit(ctx, qs)
		if st != nil || err != nil {
			return st, err
		}
	}
}

// admit reads the header of a peer-opened stream. It returns the stream
// ready for the application, or nil and nil for a stream the peer already
// reset (dropped), or an error: ctx's (the stream stays pending) or the
// session's.
func (s *Session) admit(ctx context.Context, qs *quicgo.Stream) (*Stream, error) {
	var hdr [1]byte
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		qs.SetReadDeadline(aLongTimeAgo)
		close(fired)
	})
	n, err := qs.Read(hdr[:])
	if !stop() {
		<-fired // the deadline was set, or is being set: undo it only after
	}
	qs.SetReadDeadline(time.Time{})

	if n == 1 {
		if hdr[0] != streamHeader {
			return nil, s.protocolError(qs, fmt.Sprintf("stream must start with header byte 0x%02x, got 0x%02x", streamHeader, hdr[0]))
		}
		if peerReset(qs) {
			s.drop(qs)
			return nil, nil
		}
		return newStream(s, qs), nil
	}
	if qErr, ok := errors.AsType[*quicgo.StreamError](err); ok && qErr.Remote {
		s.drop(qs)
		return nil, nil
	}
	switch {
	case errors.Is(err, io.EOF):
		return nil, s.protocolError(qs, "stream ended before its header byte")
	case ctx.Err() != nil && (err == nil || errors.Is(err, os.ErrDeadlineExceeded)):
		s.pending = qs
		return nil, ctx.Err()
	case err == nil:
		// quic-go returns data or an error; not expected.
		return nil, s.protocolError(qs, "stream header read returned nothing")
	}
	return nil, s.endErr(err)
}

// peerReset reports whether the peer reset qs, as far as its STOP_SENDING
// with resetFlag has arrived.
func peerReset(qs *quicgo.Stream) bool {
	qErr, ok := context.Cause(qs.Context()).(*quicgo.StreamError)
	return ok && qErr.Remote && qErr.ErrorCode&resetFlag != 0
}

// drop finishes a stream the peer reset before it was accepted, so that
// quic-go can release it and grant its credit again.
func (s *Session) drop(qs *quicgo.Stream) {
	qs.CancelWrite(0)
	qs.CancelRead(0)
}

// protocolError ends the session because the peer broke this package's
// wire format on qs, and returns the session's error.
func (s *Session) protocolError(qs *quicgo.Stream, rule string) error {
	perr := &mux.ProtocolError{FrameType: "stream header", StreamID: uint64(qs.StreamID()), Rule: rule, Code: mux.CodeProtocol}
	s.drop(qs)
	s.closeWith(&mux.SessionError{Code: mux.CodeProtocol, Err: perr}, mux.CodeProtocol, strings.TrimPrefix(perr.Error(), "twine: "))
	return s.Err()
}

// IsClosed reports whether the session has ended.
func (s *Session) IsClosed() bool {
	select {
	case <-s.Done():
		return true
	default:
		return false
	}
}

// Done returns a channel closed when the session has ended: when it was
// closed, or the connection ended, or the moment a call failed because of
// either.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended, or nil while it runs: a
// *mux.SessionError for a close by either side or a lost connection, or
// mux.ErrPeerUnresponsive.
func (s *Session) Err() error {
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if ctx := s.conn.Context(); ctx.Err() != nil {
		return s.endErr(context.Cause(ctx))
	}
	return nil
}

// endErr returns the session's error, given the error a quic-go call
// returned because the connection ended: the error recorded by whoever
// ended the session, or else err translated.
func (s *Session) endErr(err error) error {
	return s.end(sessionError(err))
}

// end records err as the session's error, unless one is recorded, and
// returns the one recorded.
func (s *Session) end(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
		close(s.done)
	}
	return s.err
}

// Close closes the session with code 0; see [Session.CloseWithError].
func (s *Session) Close() error { return s.CloseWithError(mux.CodeNoError) }

// CloseWithError closes the QUIC connection with code as its application
// error code. Every pending and later call on the session and its streams
// fails with a *mux.SessionError{Code: code}; the peer's fail with the same
// code and Remote set. Stream data not yet delivered is not flushed. It
// returns once the session's goroutines have exited and, for the last user
// of a socket, once the socket closed, which waits three probe timeouts
// (20 ms to 2 s) so that a lost CONNECTION_CLOSE can be sent again. Repeat
// calls are no-ops.
func (s *Session) CloseWithError(code mux.ErrorCode) error {
	s.closeWith(&mux.SessionError{Code: code}, code, "")
	s.loops.Wait()
	return nil
}

// closeWith ends the session with err, unless it already ended, and closes
// the connection with code and reason.
func (s *Session) closeWith(err error, code mux.ErrorCode, reason string) {
	if ctx := s.conn.Context(); ctx.Err() != nil {
		err = sessionError(context.Cause(ctx)) // it ended first
	}
	s.end(err)
	s.conn.CloseWithError(quicgo.ApplicationErrorCode(code), reason)
}

// LocalAddr returns the local address of the QUIC connection.
func (s *Session) LocalAddr() net.Addr { return s.conn.LocalAddr() }

// RemoteAddr returns the remote address of the QUIC connection.
func (s *Session) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// teardown runs once the connection ended: it stops the liveness timer and
// releases what the connection ran on.
func (s *Session) teardown() {
	ctx := s.conn.Context()
	<-ctx.Done()
	s.endErr(context.Cause(ctx))
	if s.live != nil {
		s.live.stop()
	}
	if s.release != nil {
		s.release(s.linger(context.Cause(ctx)))
	}
}

// linger returns how long the socket should stay open after the connection
// ended with cause. After a local close, quic-go sends CONNECTION_CLOSE
// once, and again (for three probe timeouts) whenever a packet of the
// connection arrives; if the socket closed at once, a lost CONNECTION_CLOSE
// would leave the peer waiting for its own PeerTimeout. After a remote
// close, or when the peer is unresponsive, nothing is worth waiting for.
func (s *Session) linger(cause error) time.Duration {
	appErr, ok := errors.AsType[*quicgo.ApplicationError](cause)
	if !ok || appErr.Remote || s.Err() == mux.ErrPeerUnresponsive {
		return 0
	}
	return s.probeWait()
}
