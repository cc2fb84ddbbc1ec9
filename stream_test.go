package twine

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twinemux/twine/internal/calltest"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/frame"
	"github.com/twinemux/twine/mux"
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// The seed scenario: the server echoes one message and closes; the client
// reads the reply, and its next Read returns io.EOF at once.
func TestEchoThenCloseGivesEOF(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s, _, _ := newPair(t, nil, nil)
		go func() {
			st, err := s.AcceptStream(context.Background())
			if err != nil {
				return
			}
			buf := make([]byte, 64)
			n, _ := st.Read(buf)
			st.Write(buf[:n])
			st.Close()
		}()
		st, err := c.OpenStream(context.Background())
		require.NoError(t, err)
		_, err = st.Write([]byte("oecho"))
		require.NoError(t, err)
		reply := make([]byte, 5)
		_, err = io.ReadFull(st, reply)
		require.NoError(t, err)
		require.Equal(t, "oecho", string(reply))

		start := time.Now()
		n, err := st.Read(reply)
		require.Equal(t, 0, n)
		require.Equal(t, io.EOF, err, "the next Read after the peer's Close")
		require.Zero(t, time.Since(start), "io.EOF must come without waiting")
		n, err = st.Read(reply)
		require.Equal(t, io.EOF, err, "io.EOF again on later Reads (%d bytes)", n)
	})
}

// CloseWrite sends FIN after the data while the writer keeps reading.
func TestCloseWriteThenKeepReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s, _, _ := newPair(t, nil, nil)
		request := randomBytes(1 << 20)
		replyText := []byte("got it all")
		serverDone := make(chan error, 1)
		go func() {
			st, err := s.AcceptStream(context.Background())
			if err != nil {
				serverDone <- err
				return
			}
			got, err := io.ReadAll(st)
			if err == nil && !bytes.Equal(got, request) {
				err = errors.New("request corrupted")
			}
			if err == nil {
				_, err = st.Write(replyText)
			}
			st.Close()
			serverDone <- err
		}()
		cs, err := c.OpenStream(context.Background())
		require.NoError(t, err)
		n, err := cs.Write(request)
		require.NoError(t, err)
		require.Equal(t, len(request), n)
		require.NoError(t, cs.CloseWrite())
		_, err = cs.Write([]byte("x"))
		require.ErrorIs(t, err, net.ErrClosed, "Write after CloseWrite")

		reply, err := io.ReadAll(cs)
		require.NoError(t, err, "reading after CloseWrite")
		require.Equal(t, replyText, reply)
		require.NoError(t, <-serverDone)
	})
}

// CloseRead tells the peer: its blocked and later Writes fail at once, the
// data in flight is discarded, and its credit comes back to the session.
func TestCloseReadIsAnnounced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := &Config{InitialStreamWindow: 64 << 10, SessionWindow: 128 << 10}
		c, s, _, _ := newPair(t, cfg, cfg)
		cs, ss := openPair(t, c, s)

		w := calltest.Write(cs, randomBytes(1<<20))
		calltest.RequireBlocked(t, w, "a Write past the stream window")

		start := time.Now()
		require.NoError(t, ss.CloseRead())
		r := calltest.RequireDone(t, w, "the peer's blocked Write after CloseRead")
		require.Zero(t, time.Since(start), "the Write must fail within one round trip")
		requireStreamError(t, r.Err, mux.CodeNoError, true)
		require.Equal(t, 64<<10, r.N, "the Write sent exactly the stream window")

		_, err := cs.Write([]byte("more"))
		requireStreamError(t, err, mux.CodeNoError, true)
		_, err = ss.Read(make([]byte, 1))
		require.ErrorIs(t, err, net.ErrClosed, "Read after CloseRead")

		synctest.Wait()
		s.connRecvMu.Lock()
		received, consumed := s.connRecv.received, s.connRecv.consumed
		s.connRecvMu.Unlock()
		require.Equal(t, received, consumed, "discarded data must be credited back to the session window")

		// The session window is smaller than this transfer: it completes only
		// if the discarded stream's credit came back.
		cs2, ss2 := openPair(t, c, s)
		data := randomBytes(1 << 20)
		w2 := calltest.Write(cs2, data)
		got := make([]byte, len(data))
		_, err = io.ReadFull(ss2, got)
		require.NoError(t, err)
		require.Equal(t, data, got)
		require.NoError(t, calltest.RequireDone(t, w2, "the second stream's Write").Err)
	})
}

// ResetWithError aborts both halves; each side sees the code, Remote set on
// the peer. Blocked calls on either side are woken.
func TestResetWithErrorBothSides(t *testing.T) {
	for _, blockedOnPeer := range []bool{true, false} {
		name := map[bool]string{true: "peer calls blocked", false: "local calls blocked"}[blockedOnPeer]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := &Config{InitialStreamWindow: 16 << 10}
				c, s, _, _ := newPair(t, cfg, cfg)
				cs, ss := openPair(t, c, s)
				blocked := net.Conn(ss)
				if !blockedOnPeer {
					blocked = cs
				}
				read := calltest.ReadFull(blocked, 1)
				write := calltest.Write(blocked, randomBytes(1<<20))
				calltest.RequireBlocked(t, read, "a Read with nothing sent")
				calltest.RequireBlocked(t, write, "a Write past the window")

				require.NoError(t, cs.ResetWithError(42))
				requireStreamError(t, calltest.RequireDone(t, read, "the blocked Read").Err, 42, blockedOnPeer)
				requireStreamError(t, calltest.RequireDone(t, write, "the blocked Write").Err, 42, blockedOnPeer)
				for st, remote := range map[*Stream]bool{ss: true, cs: false} {
					_, err := st.Write([]byte("x"))
					requireStreamError(t, err, 42, remote)
					_, err = st.Read(make([]byte, 1))
					requireStreamError(t, err, 42, remote)
				}
				require.NoError(t, cs.ResetWithError(7), "a second reset is a no-op")
				_, err := cs.Write([]byte("x"))
				requireStreamError(t, err, 42, false)

				synctest.Wait()
				require.Zero(t, c.NumStreams(), "the reset stream is finished locally")
				require.Zero(t, s.NumStreams(), "the reset stream is finished on the peer")
			})
		})
	}
}

// A session that ends without the peer's FIN never makes Read return io.EOF.
func TestSessionDeathIsNeverEOF(t *testing.T) {
	t.Run("connection closed", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, s, cc, _ := newPair(t, nil, nil)
			cs, _ := openPair(t, c, s)
			r := calltest.ReadFull(cs, 1)
			calltest.RequireBlocked(t, r, "Read")
			cc.Close()
			err := calltest.RequireDone(t, r, "Read after the connection closed").Err
			require.NotErrorIs(t, err, io.EOF)
			var se *mux.SessionError
			require.ErrorAs(t, err, &se)
			require.ErrorIs(t, err, net.ErrClosed)
			require.Equal(t, err, c.Err())
		})
	})
	t.Run("protocol error", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s, peer := newRawPeer(t, nil, true)
			peer.handshake()
			peer.write(frame.Frame{Header: frame.Header{Type: frame.TypeData, Flags: frame.FlagOpen, StreamID: 1}})
			st, err := s.AcceptStream(context.Background())
			require.NoError(t, err)
			r := calltest.ReadFull(st, 1)
			calltest.RequireBlocked(t, r, "Read")
			// Stream 3 was never opened.
			peer.write(frame.Frame{Header: frame.Header{Type: frame.TypeData, StreamID: 3}, Data: []byte("x")})
			err = calltest.RequireDone(t, r, "Read after a protocol error").Err
			require.NotErrorIs(t, err, io.EOF)
			var pe *mux.ProtocolError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, mux.CodeProtocol, pe.Code)
			require.Equal(t, uint64(3), pe.StreamID)
			goAway := peer.want(frame.TypeGoAway, "the session tells the peer why it ends")
			require.Equal(t, mux.CodeProtocol, goAway.Code)
		})
	})
	t.Run("peer unresponsive", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			cfg := &Config{PeerTimeout: time.Second}
			c, s, _, sc := newPair(t, cfg, nil)
			cs, _ := openPair(t, c, s)
			r := calltest.ReadFull(cs, 1)
			sc.Freeze()
			time.Sleep(2 * time.Second)
			err := calltest.RequireDone(t, r, "Read after the peer went silent").Err
			require.NotErrorIs(t, err, io.EOF)
			require.ErrorIs(t, err, mux.ErrPeerUnresponsive)
		})
	})
	t.Run("data and FIN before the end stay readable", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, s, cc, _ := newPair(t, nil, nil)
			cs, ss := openPair(t, c, s)
			_, err := ss.Write([]byte("last words"))
			require.NoError(t, err)
			require.NoError(t, ss.CloseWrite())
			synctest.Wait()
			cc.Close()
			synctest.Wait()
			got, err := io.ReadAll(cs)
			require.NoError(t, err, "the FIN arrived, so io.EOF is the truth")
			require.Equal(t, "last words", string(got))
		})
	})
}

// Close and reset calls are idempotent and safe after the session ended.
func TestCloseCallsAreIdempotent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s, _, _ := newPair(t, nil, nil)
		cs, _ := openPair(t, c, s)
		for range 2 {
			require.NoError(t, cs.CloseWrite())
			require.NoError(t, cs.CloseRead())
			require.NoError(t, cs.Close())
			require.NoError(t, cs.Reset())
		}
		require.NoError(t, c.Close())
		require.NoError(t, c.Close())
		require.NoError(t, cs.Close())
		require.NoError(t, cs.ResetWithError(3))
	})
}
