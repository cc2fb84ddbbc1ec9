package libp2ptwine

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/twinemux/twine"
	"github.com/twinemux/twine/mux"
)

// conn is a network.MuxedConn over a twine session.
type conn struct {
	sess         *twine.Session
	mem          *memory
	streamWindow int // bytes reserved per stream: the initial stream window
}

var _ network.MuxedConn = (*conn)(nil)

// Close closes the session with code 0 and the connection under it, then
// releases all memory reserved for it.
func (c *conn) Close() error {
	return c.CloseWithError(network.ConnNoError)
}

// CloseWithError closes the session, sending code to the peer, and the
// connection under it, then releases all memory reserved for it. It waits
// at most about a second to flush. Repeat calls are no-ops.
func (c *conn) CloseWithError(code network.ConnErrorCode) error {
	err := c.sess.CloseWithError(mux.ErrorCode(code))
	c.mem.releaseAll()
	return err
}

// IsClosed reports whether the session has ended.
func (c *conn) IsClosed() bool { return c.sess.IsClosed() }

// OpenStream reserves a stream window from the peer scope, then opens a
// stream. It blocks while the peer grants no credit for another stream,
// until ctx ends or the session ends.
func (c *conn) OpenStream(ctx context.Context) (network.MuxedStream, error) {
	if err := c.mem.reserve(c.streamWindow); err != nil {
		return nil, fmt.Errorf("twine: reserving a stream window of %d bytes: %w", c.streamWindow, err)
	}
	st, err := c.sess.OpenStream(ctx)
	if err != nil {
		c.mem.release(c.streamWindow)
		return nil, convertError(err)
	}
	return c.newStream(st), nil
}

// AcceptStream returns the next stream the peer opened whose window the
// peer scope grants; it resets the others with
// network.StreamResourceLimitExceeded. It blocks until one arrives or the
// session ends.
func (c *conn) AcceptStream() (network.MuxedStream, error) {
	for {
		st, err := c.sess.AcceptStream(context.Background())
		if err != nil {
			return nil, convertError(err)
		}
		if err := c.mem.reserve(c.streamWindow); err != nil {
			st.ResetWithError(mux.ErrorCode(network.StreamResourceLimitExceeded))
			continue
		}
		return c.newStream(st), nil
	}
}

// As sets *target to the twine session if target is a **twine.Session.
func (c *conn) As(target any) bool {
	t, ok := target.(**twine.Session)
	if ok {
		*t = c.sess
	}
	return ok
}

func (c *conn) newStream(st mux.Stream) *stream {
	return &stream{st: st, conn: c}
}
