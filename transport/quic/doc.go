// Package quic runs twine sessions over QUIC, using QUIC's native streams
// (github.com/quic-go/quic-go) behind the [mux.Session] and [mux.Stream]
// interfaces, with the same semantics as twine's framed back end.
//
// Import it under another name to keep it apart from quic-go:
//
//	import twinequic "github.com/twinemux/twine/transport/quic"
//
//	sess, err := twinequic.Dial(ctx, "example.com:4433", tlsConf, nil)
//
// [Dial] returns the client side of a session; [Listen] returns a
// [Listener] whose [Listener.Accept] yields server sides. Both set the ALPN
// protocol [NextProto] on a copy of the caller's tls.Config; a peer that
// does not offer it fails the handshake.
//
// # Semantics
//
// A [Stream] behaves exactly like a framed twine stream (see package mux):
//
//   - CloseWrite sends FIN after the written data (quic-go's Close); a Write
//     in progress fails and later Writes fail with an error wrapping
//     net.ErrClosed.
//   - CloseRead discards the receive side (CancelRead, code 0); the peer's
//     pending and later Writes fail with a *mux.StreamError{Code: 0,
//     Remote: true}, and later local Reads with an error wrapping
//     net.ErrClosed.
//   - Close is CloseWrite plus CloseRead, like net.Conn.
//   - Reset and ResetWithError abort both halves (CancelWrite and
//     CancelRead with the code): local calls fail with a *mux.StreamError
//     with Remote unset, the peer's Reads and Writes with the same code and
//     Remote set.
//   - io.EOF means the peer's FIN arrived and every byte before it was read;
//     nothing else returns it. A Read returns data or an error, never both.
//   - Deadlines are net.Conn's; a timed-out call returns a
//     *mux.DeadlineError.
//
// quic-go's errors are translated: *quic.StreamError to *mux.StreamError,
// a connection closed by either side (*quic.ApplicationError) to
// *mux.SessionError{Code, Remote, Reason}, QUIC transport errors to a
// *mux.SessionError with the nearest twine code and the QUIC error inside,
// and an idle or handshake timeout to [mux.ErrPeerUnresponsive].
//
// # Config
//
// A *twine.Config (nil for the defaults) is validated and resolved by
// twine's own rules ([twine.Config.Resolved]), and mapped onto quic-go:
//
//	PeerTimeout          this package's liveness (below); zero 30 s, negative off
//	KeepAliveInterval    this package's PINGs; zero PeerTimeout/3
//	InitialStreamWindow  InitialStreamReceiveWindow (default 256 KiB)
//	MaxStreamWindow      MaxStreamReceiveWindow (default 16 MiB)
//	InitialSessionWindow InitialConnectionReceiveWindow (default 1 MiB)
//	SessionWindow        MaxConnectionReceiveWindow (default 32 MiB)
//	MaxIncomingStreams   MaxIncomingStreams (default 1024)
//	MaxFramePayload      unused: QUIC sizes its own packets
//	AcceptBacklog        unused: streams wait in quic-go until accepted, within MaxIncomingStreams
//
// # Liveness
//
// quic-go's idle timeout cannot give twine's PeerTimeout: it is the minimum
// of both sides' values (the peer's raised to at least 5 s), its timer
// restarts when a packet is sent after a silence (so detection may take up
// to twice the timeout), it is never below three probe timeouts, its
// keep-alive PING is answered only after the peer's ACK delay (25 ms), and
// it closes the connection silently. So this package advertises a
// practically infinite QUIC idle timeout and runs liveness itself:
//
//   - quic-go reports every packet it decrypted and processed to a qlog
//     tracer; the session's tracer keeps only the time of the last one.
//     Packets that fail to decrypt, as a spoofer's would, do not count.
//   - One timer is armed for the next moment something is due. After
//     KeepAliveInterval of silence, and again every KeepAliveInterval
//     while it lasts, the session sends a PING in a QUIC DATAGRAM; the peer
//     answers with a PONG datagram at once. quic-go packs datagrams ahead
//     of stream data. Any packet counts as proof of life, so a busy peer is
//     never pinged.
//   - After PeerTimeout of silence the session closes the connection with
//     [mux.CodePeerUnresponsive] and ends with [mux.ErrPeerUnresponsive];
//     every blocked call returns it. Detection takes PeerTimeout after the
//     last packet's arrival, plus the timer's and the scheduler's delay (a
//     millisecond or two), and is never early.
//
// The tracer has a cost: quic-go builds a qlog event for every packet sent
// and received, about a fifth more CPU per byte in a bulk transfer over
// loopback. With detection off (a negative PeerTimeout) there is no tracer.
//
// [Session.Ping] sends its own PINGs, with ids, on the same datagrams and
// measures the round trip to the PONG; it sends another PING if no PONG
// comes within three probe timeouts, since datagrams may be lost.
//
// Each side applies its own PeerTimeout, whatever the peer's, as with the
// framed back end. A peer that stops reading a stream is not dead: it
// still acknowledges packets.
//
// # Wire format
//
// Beyond QUIC (RFC 9000) with DATAGRAM frames (RFC 9221) on ALPN
// "twine-quic/1", the adapter adds three small things:
//
//   - Stream header: the opener of a stream writes one byte, 0x00, as the
//     stream's first byte; OpenStream returns after queueing it. A QUIC
//     stream is invisible to the peer until a frame for it arrives, so the
//     header is what makes the peer's AcceptStream return at once, even
//     before anything is written. The accepting side reads and checks the
//     header before AcceptStream returns the stream; any other first byte,
//     or a FIN before it, is a protocol error that closes the connection
//     with [mux.CodeProtocol].
//   - Reset flag: Reset and ResetWithError(code) send RESET_STREAM(code)
//     if the send side was still open, and STOP_SENDING if the receive side
//     was, with code | 1<<32 when RESET_STREAM went too (code alone
//     otherwise). twine's RST aborts both of the receiver's halves at once;
//     QUIC delivers the two frames one by one. So the receiver applies the
//     reset to both halves as soon as it meets either: a Read that returns
//     RESET_STREAM (only a reset sends one; quic-go's automatic answer to
//     STOP_SENDING goes to a receive side already closed), or STOP_SENDING
//     with bit 32 set, met by a Write or by the callback that watches the
//     send side. The stream is then finished (and its stream credit returned)
//     without the application touching it, and a stream reset before it was
//     accepted never reaches AcceptStream. Error codes travel in the low 32
//     bits; a code above 2^32-1 without that meaning reads as
//     [mux.CodeProtocol].
//   - Liveness datagrams: nine bytes, a type (0x01 PING or 0x02 PONG) and
//     an opaque 8-byte id; a PING is answered with a PONG carrying the
//     same id. Other datagrams are ignored.
//
// Session close codes travel in CONNECTION_CLOSE (application error code
// and reason).
//
// # Differences from the framed back end
//
// QUIC decides some things itself; they are documented here rather than
// hidden:
//
//   - Session close does not flush: CloseWithError sends CONNECTION_CLOSE at
//     once, and stream data not yet delivered is lost (the framed back end
//     flushes for up to a second); the peer gets the session's error, never
//     a false io.EOF. Wait for the peer's EOF or reply before closing the
//     session when delivery matters. There is no GOAWAY. The closing side
//     keeps its socket for three probe timeouts (at least 20 ms, at most
//     2 s) so that quic-go can send CONNECTION_CLOSE again if the first was
//     lost; Close returns after that.
//   - Stream credit is QUIC's MAX_STREAMS, raised when quic-go considers a
//     peer-opened stream complete: its send side has been acknowledged (FIN
//     or reset) and its receive side has been read to io.EOF or to an
//     error, or closed with CloseRead, Close or Reset. The framed back end
//     also counts a FIN that arrived but was not read yet. A stream the peer
//     reset (see Reset flag) needs nothing from the application.
//   - A peer's reset that arrives after this side's CloseWrite still aborts
//     this side's receive half (QUIC's RESET_STREAM), but its stream credit
//     returns only once the application reads the error or closes the
//     stream.
//
// # Goroutines
//
// Besides quic-go's own, a session runs two goroutines: one receives
// datagrams, answers PINGs and hands PONGs to Ping, one sends PINGs and
// PONGs (so that a full datagram queue never blocks a timer or Ping); plus
// the liveness timer. A stream
// adds none while it lives; when the peer stops its send side, a
// short-lived callback records it. All exit when the session ends, and
// Close waits for them.
package quic
