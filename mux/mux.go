// Package mux defines what every twine back end offers: the [Session] and
// [Stream] interfaces, and the one home of twine's public error types and
// error codes.
//
// An application written against these interfaces runs unchanged over
// twine's own framing (package twine, over any net.Conn) and over QUIC's
// native streams.
//
// # Streams have two halves
//
// A stream's send half and receive half close independently:
//
//   - [Stream.CloseWrite] sends FIN after all written data; the peer reads the
//     data, then io.EOF. The local side may keep reading.
//   - [Stream.CloseRead] discards buffered and later data and tells the peer,
//     whose pending and later writes fail with a *[StreamError] with Remote set.
//   - Close does both, like net.Conn.
//   - [Stream.Reset] and [Stream.ResetWithError] abort both halves; both sides
//     see a *[StreamError] carrying the code.
//
// io.EOF means one thing only: the peer's FIN arrived and every byte before it
// was read. A session that ends for any other reason returns its own error.
package mux

import (
	"context"
	"net"
	"time"
)

// Stream is one full-duplex, half-closable byte stream of a [Session].
//
// A Stream is a net.Conn: Read and Write may be called concurrently with each
// other and with any close or deadline method, and deadlines behave exactly as
// net.Conn's do.
type Stream interface {
	net.Conn

	// CloseWrite sends FIN after every byte already written. Later writes
	// fail with an error wrapping net.ErrClosed; reading is unaffected.
	// It never blocks on the peer and repeat calls are no-ops.
	CloseWrite() error

	// CloseRead discards buffered and later-arriving data and tells the
	// peer, whose pending and later writes fail with a *StreamError with
	// Remote set. Later reads fail with an error wrapping net.ErrClosed.
	// It never blocks on the peer and repeat calls are no-ops.
	CloseRead() error

	// Reset aborts both halves with code 0; see ResetWithError.
	Reset() error

	// ResetWithError aborts both halves: unsent data is dropped, pending and
	// later local calls fail with a *StreamError with Remote unset, and the
	// peer's pending and later calls fail with a *StreamError carrying code
	// with Remote set. Calls after the first are no-ops.
	ResetWithError(code ErrorCode) error
}

// Session multiplexes streams over one connection.
type Session interface {
	// OpenStream opens a new stream. It blocks while the peer has not
	// granted credit for another stream, until ctx ends or the session
	// ends; it never opens a stream the peer would have to refuse.
	OpenStream(ctx context.Context) (Stream, error)

	// AcceptStream returns the next stream opened by the peer, in the
	// order the peer opened them. It blocks until one arrives, ctx ends or
	// the session ends.
	AcceptStream(ctx context.Context) (Stream, error)

	// Close closes the session with code 0; see CloseWithError.
	Close() error

	// CloseWithError tells the peer code, then closes the connection.
	// Every pending call on every stream fails with a *SessionError. It
	// waits only a bounded time to flush, and repeat calls are no-ops.
	CloseWithError(code ErrorCode) error

	// IsClosed reports whether the session has ended.
	IsClosed() bool

	// Done is closed when the session has ended.
	Done() <-chan struct{}

	// Err returns why the session ended, or nil while it is running.
	Err() error

	// Ping measures a round trip to the peer. It fails with the session's
	// error if the session ends first, and with ctx's error if ctx ends.
	Ping(ctx context.Context) (time.Duration, error)

	// LocalAddr returns the local address of the underlying connection.
	LocalAddr() net.Addr

	// RemoteAddr returns the remote address of the underlying connection.
	RemoteAddr() net.Addr
}
