// Package libp2ptwine runs twine as a go-libp2p stream multiplexer: a
// network.Multiplexer registered under the protocol id [ID]
// ("/twine/1.0.0"):
//
//	host, err := libp2p.New(libp2p.Muxer(libp2ptwine.ID, libp2ptwine.DefaultTransport))
//
// It lives in a module of its own so that users of twine alone never
// download go-libp2p.
//
// # Streams
//
// A libp2p stream is a twine stream: CloseWrite sends FIN, CloseRead tells
// the peer to stop sending (its pending and later writes fail with a reset
// error, as on go-libp2p's QUIC transport), Close does both, and
// Reset/ResetWithError abort both halves with a code the peer receives.
// Deadlines behave as net.Conn's.
//
// # Errors
//
// Errors keep their twine detail inside go-libp2p's types:
//
//   - a reset by either side, or for writes the peer's CloseRead, is a
//     *network.StreamError with the code and Remote of twine's
//     *mux.StreamError, which it wraps as TransportError; it matches
//     network.ErrReset and mux.ErrStreamReset;
//   - a closed or lost session is a *network.ConnError with the code and
//     Remote of twine's *mux.SessionError; it matches network.ErrReset and
//     net.ErrClosed;
//   - everything else is twine's own error unchanged: io.EOF only after the
//     peer's FIN, mux.ErrPeerUnresponsive when the peer went silent for
//     [twine.Config.PeerTimeout] (left unwrapped, as go-libp2p's QUIC
//     transport leaves its idle timeout), *mux.DeadlineError when a
//     deadline passed, errors wrapping net.ErrClosed after a local close.
//
// Codes pass through unchanged in both directions: network.StreamErrorCode
// and network.ConnErrorCode become mux.ErrorCode with the same number.
//
// # Memory
//
// twine has no hook for a resource manager, so the adapter reserves from
// the network.PeerScope given to NewConn the memory that twine's receive
// windows promise to the peer, and caps those windows to what the scope
// grants:
//
//   - when the connection starts, the session budget
//     ([twine.Config.SessionWindow], 32 MiB by default), which bounds both
//     the bytes buffered for all streams together and how far stream
//     windows may grow beyond their initial size. It is asked for at low
//     priority and halved until the scope grants it, down to
//     InitialStreamWindow, which is asked for at any utilisation; the
//     session runs with SessionWindow set to the amount granted. If even
//     that is refused, NewConn fails.
//   - for each stream, opened or accepted, its initial window
//     ([twine.Config.InitialStreamWindow], 256 KiB by default), from then
//     until its first Close or Reset. OpenStream fails when the scope
//     refuses; an accepted stream the scope refuses is reset with
//     network.StreamResourceLimitExceeded and AcceptStream waits for the
//     next one.
//
// Closing the connection releases whatever is still reserved, including
// the windows of streams never closed. With a nil scope nothing is
// reserved and the configured windows apply.
package libp2ptwine
