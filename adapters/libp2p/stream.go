package libp2ptwine

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/twinemux/twine/mux"
)

// stream is a network.MuxedStream over a twine stream. Its window's
// reservation is released by the first Close or Reset.
type stream struct {
	st   mux.Stream
	conn *conn

	releaseOnce sync.Once
}

var _ network.MuxedStream = (*stream)(nil)

func (s *stream) Read(p []byte) (int, error) {
	n, err := s.st.Read(p)
	return n, convertError(err)
}

func (s *stream) Write(p []byte) (int, error) {
	n, err := s.st.Write(p)
	return n, convertError(err)
}

// Close sends FIN after the written data and stops reading (the peer's
// writes fail), then releases the stream's memory reservation.
func (s *stream) Close() error {
	err := s.st.Close()
	s.release()
	return convertError(err)
}

// CloseWrite sends FIN after the written data; reading goes on.
func (s *stream) CloseWrite() error { return convertError(s.st.CloseWrite()) }

// CloseRead discards unread data and tells the peer to stop sending;
// writing goes on.
func (s *stream) CloseRead() error { return convertError(s.st.CloseRead()) }

// Reset aborts both halves with code 0; see ResetWithError.
func (s *stream) Reset() error { return s.ResetWithError(network.StreamNoError) }

// ResetWithError aborts both halves, sending code to the peer, then
// releases the stream's memory reservation.
func (s *stream) ResetWithError(code network.StreamErrorCode) error {
	err := s.st.ResetWithError(mux.ErrorCode(code))
	s.release()
	return convertError(err)
}

// SetDeadline sets the read and write deadlines, as net.Conn does.
func (s *stream) SetDeadline(t time.Time) error { return s.st.SetDeadline(t) }

// SetReadDeadline sets the read deadline, as net.Conn does.
func (s *stream) SetReadDeadline(t time.Time) error { return s.st.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline, as net.Conn does.
func (s *stream) SetWriteDeadline(t time.Time) error { return s.st.SetWriteDeadline(t) }

func (s *stream) release() {
	s.releaseOnce.Do(func() { s.conn.mem.release(s.conn.streamWindow) })
}
