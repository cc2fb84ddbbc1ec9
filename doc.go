// Package twine multiplexes many independent, full-duplex streams over one
// net.Conn (TCP, TLS, a unix socket, a pipe), with streams that close each
// direction on its own, a keepalive that detects a silent peer within a
// bound you choose, and flow control that bounds memory.
//
// # Sessions
//
// [Client] and [Server] start a [Session] over a connection the caller
// dialed or accepted. Either side opens streams with [Session.OpenStream]
// and accepts the peer's with [Session.AcceptStream]; a Session is also a
// net.Listener of its peer's streams.
//
// # Streams
//
// A [Stream] is a net.Conn whose two halves close independently:
// [Stream.CloseWrite] sends FIN (the peer reads io.EOF after the data),
// [Stream.CloseRead] stops reading and makes the peer's writes fail,
// [Stream.Close] does both, and [Stream.ResetWithError] aborts both with a
// code both sides see. io.EOF means only that the peer's FIN arrived and
// all data before it was read; any other end is a typed error from package
// mux.
//
// # Liveness
//
// When nothing arrives from the peer for [Config.PeerTimeout], or the
// connection accepts no bytes for that long, the session ends with
// mux.ErrPeerUnresponsive and every blocked call returns it. PINGs sent
// after [Config.KeepAliveInterval] of silence keep an idle, healthy session
// alive.
//
// # Flow control
//
// Each stream has a receive window that starts at
// [Config.InitialStreamWindow] and grows up to [Config.MaxStreamWindow]
// when the reader consumes it within a couple of round trips; the
// session-wide window starts at [Config.InitialSessionWindow] and grows the
// same way up to [Config.SessionWindow], which caps what all streams
// together may buffer. A writer blocks while the peer's window is
// full; a peer that ignores windows ends the session with a flow-control
// error.
//
// The wire format is described in SPEC.md.
package twine
