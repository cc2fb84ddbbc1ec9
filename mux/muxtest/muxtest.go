// Package muxtest is the conformance suite for [mux.Session] and
// [mux.Stream] back ends: twine's own framing over any net.Conn, twine over
// QUIC, or any other stream multiplexer that wants to offer the same
// semantics.
//
// A back end provides a [NewPair] function that connects a client and a
// server session, and calls [Run] from a test:
//
//	func TestConformance(t *testing.T) {
//		muxtest.Run(t, func(t *testing.T, opts muxtest.Options) muxtest.Pair {
//			client, server := connect(t, opts) // your back end
//			t.Cleanup(func() { client.Close(); server.Close() })
//			return muxtest.Pair{Client: client, Server: server, FreezeServer: freeze}
//		})
//	}
//
// The suite uses only the mux interfaces and real time, so it runs over real
// networks. It never sleeps to synchronise: it waits for results, and its
// timing checks are bounds (a deadline of 50 ms must fire no earlier than
// 50 ms and within a few seconds). A call counts as blocked when it has not
// returned 20 ms after it started; a correct back end passes whatever the
// scheduling, because every check holds whether or not such a call had
// really started to wait.
package muxtest

import (
	"testing"
	"time"

	"github.com/twinemux/twine/mux"
)

// Pair is a connected client/server pair of sessions from one back end.
type Pair struct {
	Client, Server mux.Session

	// FreezeServer makes the server side go silent as a frozen process
	// would: nothing it sends reaches the client any more, it reads
	// nothing, the connection stays open. Bytes it sent before the call may
	// still arrive. The server's own timers may keep running, but nothing
	// they do (closing the connection included) may reach the client.
	// Required.
	FreezeServer func()
}

// Options are the settings the suite asks a back end for; zero fields mean
// the back end's defaults.
type Options struct {
	// PeerTimeout is how long the peer may be silent before it is declared
	// unresponsive, for the client and the server.
	PeerTimeout time.Duration

	// MaxIncomingStreams is how many streams the peer may have open at
	// once, on the client and the server: the peer's next OpenStream waits.
	MaxIncomingStreams uint32

	// InitialStreamWindow is how many bytes may be sent on a stream before
	// its reader reads, for the client and the server. The suite asks for
	// 64 KiB where it needs writes to block; it must not grow while nobody
	// reads.
	InitialStreamWindow uint32
}

// NewPair makes a fresh, connected pair for one test, with opts. It must
// register cleanup with t.Cleanup that closes both sessions (and anything
// else it started, so that no goroutine outlives the test). The suite calls
// it from parallel subtests, so it must be safe for concurrent use.
type NewPair func(t *testing.T, opts Options) Pair

// Run runs every conformance test as a subtest of t, most of them in
// parallel. Each test makes its own pairs with newPair.
//
// The tests, by subtest name (each states the exact outcome it expects in
// its failure messages):
//
//   - HalfClose/<action>/by=<client|server>/<local|peer>/<Read|Write>/<blocked|later>:
//     the half-close matrix. Each of CloseWrite, CloseRead, Close, Reset and
//     ResetWithError(0x4242) is called on a stream by the client or the
//     server, and its effect is checked on a Read and on a Write, on the
//     same side (local) and on the other (peer), for a call already
//     blocked when the action happens and for one made after it reached
//     that side. The expected outcomes are the table in halfclose.go:
//     io.EOF only after the FIN and the data before it; local calls after
//     a local close fail with an error wrapping net.ErrClosed; the peer's
//     writes after CloseRead fail with *mux.StreamError{Code: 0, Remote:
//     true}; a reset fails calls with *mux.StreamError{Code: code} with
//     Remote false locally and true on the peer; a Write that fails sends
//     exactly the bytes it reports; every other call works as if nothing
//     had happened.
//   - EOF/DrainThenEOF, EOF/LocalSessionClosed, EOF/PeerSessionClosed:
//     io.EOF comes only after the FIN and every byte before it, and
//     repeats; a session that ends mid-stream never gives io.EOF.
//   - ResetCodes/<client|server>/<code>: reset codes 0, 0x100, 0x1234 and
//     0xFFFFFFFF travel both ways; the second reset of a stream changes
//     nothing.
//   - Deadlines/...: read and write deadlines set while a call is blocked,
//     set before it, shortened, extended (before and after expiry), in the
//     past, and disabled with the zero time, and SetDeadline setting both;
//     errors match os.ErrDeadlineExceeded and are net.Error with Timeout;
//     a timed-out Write sends exactly what it reports; the stream works
//     after a deadline error.
//   - SessionClose/by=<client|server>/<Close|CloseWithError(0x1234)>: the
//     peer sees *mux.SessionError{Code, Remote: true}, the closer Remote
//     false; every pending Read, Write, AcceptStream and OpenStream on both
//     sides returns, all matching net.ErrClosed; later calls fail the same
//     way; repeat closes change nothing.
//   - AcceptOrder: AcceptStream returns streams in the order they were
//     opened, before anything was written on them.
//   - AcceptContext: AcceptStream returns when its context ends.
//   - ManyStreams: 1000 concurrent streams (200 with -short), each echoing
//     0 to 64 KiB of random data, verified by SHA-256.
//   - LargeTransfer: 64 MiB (16 MiB with -short) each way at once on one
//     stream, verified by SHA-256.
//   - StreamCredit: with MaxIncomingStreams 4, a 5th OpenStream waits (a
//     context ending fails it with context.DeadlineExceeded), no stream is
//     reset, and the waiting open succeeds once a stream finishes.
//   - SilentPeer: with PeerTimeout 500 ms, once the server freezes, the
//     client's blocked Read, Write and AcceptStream fail with
//     mux.ErrPeerUnresponsive, no sooner than the timeout after the server
//     last sent something and within the timeout plus 2 s of the freeze.
//   - IdleSessionStaysAlive: with PeerTimeout 1 s, a session idle for
//     two timeouts is not declared dead.
//   - NetConn/...: a stream as a net.Conn: BasicIO, PingPong,
//     ConcurrentMethods (under the race detector), CloseUnblocksPending,
//     RepeatCloses, ZeroLength, Addrs.
func Run(t *testing.T, newPair NewPair) {
	groups := []struct {
		name string
		run  func(*testing.T, NewPair)
	}{
		{"HalfClose", testHalfClose},
		{"EOF", testEOF},
		{"ResetCodes", testResetCodes},
		{"Deadlines", testDeadlines},
		{"SessionClose", testSessionClose},
		{"AcceptOrder", testAcceptOrder},
		{"AcceptContext", testAcceptContext},
		{"ManyStreams", testManyStreams},
		{"LargeTransfer", testLargeTransfer},
		{"StreamCredit", testStreamCredit},
		{"SilentPeer", testSilentPeer},
		{"IdleSessionStaysAlive", testIdleSessionStaysAlive},
		{"NetConn", testNetConn},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			g.run(t, newPair)
		})
	}
}
