package twine

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twinemux/twine/internal/calltest"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/frame"
	"github.com/twinemux/twine/mux"
)

// callResult is what a blocking session call run in a goroutine returned.
type callResult[T any] struct {
	v   T
	err error
}

// goCall runs f in a goroutine and delivers its result.
func goCall[T any](f func() (T, error)) <-chan callResult[T] {
	ch := make(chan callResult[T], 1)
	go func() {
		v, err := f()
		ch <- callResult[T]{v, err}
	}()
	return ch
}

func goOpen(s *Session, ctx context.Context) <-chan callResult[mux.Stream] {
	return goCall(func() (mux.Stream, error) { return s.OpenStream(ctx) })
}

func goAccept(s *Session, ctx context.Context) <-chan callResult[mux.Stream] {
	return goCall(func() (mux.Stream, error) { return s.AcceptStream(ctx) })
}

// requireSessionError asserts err is a *mux.SessionError with code and
// remote, which matches net.ErrClosed.
func requireSessionError(t *testing.T, err error, code mux.ErrorCode, remote bool) *mux.SessionError {
	t.Helper()
	var se *mux.SessionError
	require.ErrorAs(t, err, &se, "want a *mux.SessionError")
	require.Equal(t, code, se.Code, "code of %v", err)
	require.Equal(t, remote, se.Remote, "Remote of %v", err)
	require.ErrorIs(t, err, net.ErrClosed, "a session error matches net.ErrClosed")
	require.NotErrorIs(t, err, io.EOF, "a session error is never io.EOF")
	return se
}

// requireEcho sends msg from a to b and back, proving the stream works in
// both directions.
func requireEcho(t *testing.T, a, b net.Conn, msg string) {
	t.Helper()
	for _, dir := range [][2]net.Conn{{a, b}, {b, a}} {
		_, err := dir[0].Write([]byte(msg))
		require.NoError(t, err, "writing %q", msg)
		got := make([]byte, len(msg))
		_, err = io.ReadFull(dir[1], got)
		require.NoError(t, err, "reading %q", msg)
		require.Equal(t, msg, string(got))
	}
}

// The peer grants stream credit: OpenStream waits for it, until its ctx
// ends, without resetting anybody; a finished stream gives the slot back.
func TestStreamCreditBlocksOpenStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s, _, _ := newPair(t, nil, &Config{MaxIncomingStreams: 4, AcceptBacklog: 4})
		ctx := context.Background()
		var cs, ss [4]*Stream
		for i := range cs {
			cs[i], ss[i] = openPair(t, c, s)
		}

		pending := goOpen(c, ctx)
		calltest.RequireBlocked(t, pending, "a 5th OpenStream while 4 live streams use the peer's credit")

		start := time.Now()
		tctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		st, err := c.OpenStream(tctx)
		require.ErrorIs(t, err, context.DeadlineExceeded, "OpenStream without credit must fail when its ctx ends")
		require.Nil(t, st)
		require.Equal(t, time.Second, time.Since(start), "OpenStream must return exactly when its ctx ends")

		for i := range cs {
			requireEcho(t, cs[i], ss[i], fmt.Sprint(i))
		}
		require.Equal(t, 4, c.NumStreams(), "no stream was reset for the 5th")
		require.Equal(t, 4, s.NumStreams(), "no stream was reset for the 5th")
		calltest.RequireBlocked(t, pending, "the pending 5th OpenStream while the 4 streams live")

		require.NoError(t, cs[0].Close())
		require.NoError(t, ss[0].Close())
		r := calltest.RequireDone(t, pending, "the pending 5th OpenStream once one of the 4 streams finished")
		require.NoError(t, r.err)
		acc, err := s.AcceptStream(ctx)
		require.NoError(t, err)
		require.Equal(t, r.v.(*Stream).StreamID(), acc.(*Stream).StreamID())
		requireEcho(t, r.v, acc, "fifth")

		calltest.RequireBlocked(t, goOpen(c, ctx), "a 6th OpenStream while 4 streams live again")
	})
}

// AcceptBacklog below MaxIncomingStreams limits the streams waiting for
// AcceptStream: opening beyond it waits until the server accepts one.
func TestAcceptBacklogLimitsUnacceptedStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s, _, _ := newPair(t, nil, &Config{MaxIncomingStreams: 8, AcceptBacklog: 2})
		ctx := context.Background()
		for range 2 {
			_, err := c.OpenStream(ctx)
			require.NoError(t, err, "opening within the accept backlog")
		}
		for i := range 3 {
			pending := goOpen(c, ctx)
			calltest.RequireBlocked(t, pending, "an OpenStream while the peer's accept backlog of 2 is full")
			acc, err := s.AcceptStream(ctx)
			require.NoError(t, err)
			require.Equal(t, uint32(2*i+1), acc.(*Stream).StreamID(), "accepted in order")
			r := calltest.RequireDone(t, pending, "the pending OpenStream once the server accepted a stream")
			require.NoError(t, r.err)
		}
		require.Equal(t, 5, s.NumStreams(), "no stream was reset")
	})
}

// AcceptStream returns streams in the order the peer opened them; client
// ids are odd and increasing, server ids even.
func TestAcceptStreamInOpenOrder(t *testing.T) {
	const n = 50
	t.Run("sequential", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, s, _, _ := newPair(t, nil, nil)
			ctx := context.Background()
			var opened []uint32
			for i := range n {
				st, err := c.OpenStream(ctx)
				require.NoError(t, err)
				id := st.(*Stream).StreamID()
				require.Equal(t, uint32(2*i+1), id, "the client's %dth stream id", i)
				opened = append(opened, id)
			}
			for i := range n {
				st, err := s.AcceptStream(ctx)
				require.NoError(t, err)
				require.Equal(t, opened[i], st.(*Stream).StreamID(), "the %dth accepted stream", i)
			}
			for i := range 5 {
				st, err := s.OpenStream(ctx)
				require.NoError(t, err)
				require.Equal(t, uint32(2*i+2), st.(*Stream).StreamID(), "the server's %dth stream id", i)
				acc, err := c.AcceptStream(ctx)
				require.NoError(t, err)
				require.Equal(t, st.(*Stream).StreamID(), acc.(*Stream).StreamID())
			}
		})
	})
	t.Run("concurrent", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, s, _, _ := newPair(t, nil, nil)
			ctx := context.Background()
			var wg sync.WaitGroup
			ids := make([]uint32, n)
			for i := range n {
				wg.Go(func() {
					if st, err := c.OpenStream(ctx); err == nil {
						ids[i] = st.(*Stream).StreamID()
					}
				})
			}
			wg.Wait()
			opened := make(map[uint32]bool)
			for _, id := range ids {
				require.Equal(t, uint32(1), id%2, "client stream ids are odd: %v", ids)
				opened[id] = true
			}
			require.Len(t, opened, n, "each OpenStream got its own id: %v", ids)
			var last uint32
			for i := range n {
				st, err := s.AcceptStream(ctx)
				require.NoError(t, err)
				id := st.(*Stream).StreamID()
				require.True(t, opened[id], "accepted stream %d was opened", id)
				require.Greater(t, id, last, "streams are accepted in the order their ids were assigned (%dth)", i)
				last = id
			}
		})
	})
}

// OpenStream fails with a *mux.SessionError once the session is closed,
// by this side or by the peer.
func TestOpenStreamAfterClose(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, _, _, _ := newPair(t, nil, nil)
			require.NoError(t, c.Close())
			_, err := c.OpenStream(context.Background())
			requireSessionError(t, err, mux.CodeNoError, false)
			_, err = c.AcceptStream(context.Background())
			requireSessionError(t, err, mux.CodeNoError, false)
		})
	})
	t.Run("peer", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, s, _, _ := newPair(t, nil, nil)
			require.NoError(t, s.Close())
			synctest.Wait()
			_, err := c.OpenStream(context.Background())
			requireSessionError(t, err, mux.CodeNoError, true)
			require.True(t, c.IsClosed(), "the peer's close ends the session")
		})
	})
}

// CloseWithError reaches the peer: its blocked AcceptStream returns the
// code with Remote set; both sides report the code and are done.
func TestCloseWithErrorReachesPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s, _, _ := newPair(t, nil, nil)
		ctx := context.Background()
		remoteAccept := goAccept(s, ctx)
		localAccept := goAccept(c, ctx)
		calltest.RequireBlocked(t, remoteAccept, "AcceptStream with nothing opened")

		start := time.Now()
		require.NoError(t, c.CloseWithError(77))
		r := calltest.RequireDone(t, remoteAccept, "the peer's AcceptStream after CloseWithError")
		require.Zero(t, time.Since(start), "the close must reach the peer without waiting")
		requireSessionError(t, r.err, 77, true)
		r = calltest.RequireDone(t, localAccept, "the local AcceptStream after CloseWithError")
		requireSessionError(t, r.err, 77, false)

		requireSessionError(t, c.Err(), 77, false)
		requireSessionError(t, s.Err(), 77, true)
		for name, sess := range map[string]*Session{"local": c, "peer": s} {
			require.True(t, sess.IsClosed(), "%s IsClosed", name)
			select {
			case <-sess.Done():
			default:
				t.Fatalf("%s Done() is not closed", name)
			}
		}
	})
}

// Closing the session wakes every blocked call at once with an error that
// matches net.ErrClosed.
func TestCloseWakesEveryBlockedCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s, _, sc := newPair(t, nil, &Config{MaxIncomingStreams: 1, AcceptBacklog: 1, InitialStreamWindow: 16 << 10})
		ctx := context.Background()
		cs, _ := openPair(t, c, s)
		read := calltest.ReadFull(cs, 1)
		write := calltest.Write(cs, randomBytes(1<<20))
		accept := goAccept(c, ctx)
		open := goOpen(c, ctx)
		synctest.Wait()
		sc.Freeze() // the peer answers no PING
		ping := goCall(func() (time.Duration, error) { return c.Ping(ctx) })
		calltest.RequireBlocked(t, read, "Read with nothing sent")
		calltest.RequireBlocked(t, write, "Write beyond the stream window")
		calltest.RequireBlocked(t, accept, "AcceptStream with nothing opened")
		calltest.RequireBlocked(t, open, "OpenStream without stream credit")
		calltest.RequireBlocked(t, ping, "Ping to a frozen peer")

		start := time.Now()
		require.NoError(t, c.Close())
		synctest.Wait()
		require.Zero(t, time.Since(start), "Close and the wake-ups must not wait")
		errs := map[string]error{
			"Read":         calltest.RequireDone(t, read, "Read after Close").Err,
			"Write":        calltest.RequireDone(t, write, "Write after Close").Err,
			"AcceptStream": calltest.RequireDone(t, accept, "AcceptStream after Close").err,
			"OpenStream":   calltest.RequireDone(t, open, "OpenStream after Close").err,
			"Ping":         calltest.RequireDone(t, ping, "Ping after Close").err,
		}
		for call, err := range errs {
			require.ErrorIs(t, err, net.ErrClosed, "%s after Close", call)
			requireSessionError(t, err, mux.CodeNoError, false)
		}
	})
}

// GoAway refuses new streams, lets the open ones finish, then closes the
// session; a ctx that ends first cuts the wait short.
func TestGoAway(t *testing.T) {
	t.Run("waits for open streams", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, s, _, _ := newPair(t, nil, nil)
			ctx := context.Background()
			cs, ss := openPair(t, c, s)
			goAway := goCall(func() (struct{}, error) { return struct{}{}, s.GoAway(ctx) })
			calltest.RequireBlocked(t, goAway, "GoAway while a stream is open")

			_, err := c.OpenStream(ctx)
			requireSessionError(t, err, mux.CodeNoError, true)

			requireEcho(t, cs, ss, "still working")
			calltest.RequireBlocked(t, goAway, "GoAway while a stream is open")
			require.False(t, s.IsClosed(), "the session lives while a stream is open")
			require.False(t, c.IsClosed(), "the peer's session lives while a stream is open")

			require.NoError(t, cs.Close())
			require.NoError(t, ss.Close())
			r := calltest.RequireDone(t, goAway, "GoAway once the last stream finished")
			require.NoError(t, r.err)
			require.True(t, s.IsClosed(), "GoAway closes the session")
			synctest.Wait()
			require.True(t, c.IsClosed(), "the peer's session ends too")
		})
	})
	t.Run("ctx ends first", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			c, s, _, _ := newPair(t, nil, nil)
			cs, _ := openPair(t, c, s)
			read := calltest.ReadFull(cs, 1)
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err := s.GoAway(ctx)
			require.ErrorIs(t, err, context.DeadlineExceeded, "GoAway whose ctx ended before the streams finished")
			require.Equal(t, 2*time.Second, time.Since(start), "GoAway must return when its ctx ends")
			require.True(t, s.IsClosed(), "GoAway closes the session even when ctx ends first")
			r := calltest.RequireDone(t, read, "the peer's Read after GoAway gave up")
			requireSessionError(t, r.Err, mux.CodeNoError, true)
		})
	})
}

// Ping measures a round trip; to a frozen peer it blocks until ctx ends.
func TestPing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s, _, sc := newPair(t, nil, nil)
		ctx := context.Background()
		for name, sess := range map[string]*Session{"client": c, "server": s} {
			rtt, err := sess.Ping(ctx)
			require.NoError(t, err, "%s Ping", name)
			require.GreaterOrEqual(t, rtt, time.Duration(0), "%s Ping RTT", name)
		}

		sc.Freeze()
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ping := goCall(func() (time.Duration, error) { return c.Ping(pctx) })
		calltest.RequireBlocked(t, ping, "Ping to a frozen peer")
		r, elapsed := awaitResult(t, ping, start, time.Minute, "Ping to a frozen peer")
		require.ErrorIs(t, r.err, context.DeadlineExceeded, "Ping to a frozen peer ends with its ctx")
		require.Equal(t, 5*time.Second, elapsed, "Ping must return when its ctx ends")
		require.False(t, c.IsClosed(), "a Ping giving up does not end the session")
	})
}

// A Session is a net.Listener of the peer's streams.
func TestSessionIsListener(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s, _, sc := newPair(t, nil, nil)
		var l net.Listener = s
		require.Equal(t, s.LocalAddr(), l.Addr())
		require.Equal(t, sc.LocalAddr(), l.Addr(), "the listener's address is the connection's")

		cs, err := c.OpenStream(context.Background())
		require.NoError(t, err)
		conn, err := l.Accept()
		require.NoError(t, err)
		require.Equal(t, cs.(*Stream).StreamID(), conn.(*Stream).StreamID(), "Accept returns the peer's stream")
		requireEcho(t, cs, conn, "via Accept")

		accept := goCall(l.Accept)
		calltest.RequireBlocked(t, accept, "Accept with nothing opened")
		require.NoError(t, l.Close())
		r := calltest.RequireDone(t, accept, "Accept after the listener's Close")
		require.ErrorIs(t, r.err, net.ErrClosed, "Accept after Close, as net.Listener")
	})
}

// readSessionStart reads what the session under test sends first: the
// preface and its SETTINGS.
func (p *rawPeer) readSessionStart() {
	p.t.Helper()
	pre := make([]byte, len(frame.Preface))
	_, err := io.ReadFull(p.br, pre)
	require.NoError(p.t, err)
	require.Equal(p.t, frame.Preface, string(pre))
	require.Equal(p.t, frame.TypeSettings, p.read().Type, "the session's first frame")
}

// A peer that does not speak twine gets a clear error naming what it sent,
// at once, and so does the application.
func TestNonTwinePeer(t *testing.T) {
	cases := []struct {
		name  string
		sent  []byte
		names string // what the error must say the peer looks like
	}{
		{"random bytes", randomBytes(64), ""},
		{"HTTP/1 request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "HTTP"},
		{"yamux client", []byte{0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0}, "yamux"},
		{"TLS ClientHello", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}, "TLS"},
		{"another twine version", []byte("twine/2\n"), "twine/2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, peer := newRawPeer(t, nil, true)
				accept := goAccept(s, context.Background())
				calltest.RequireBlocked(t, accept, "AcceptStream before the peer sent anything")
				start := time.Now()
				peer.writeRaw(tc.sent)
				r := calltest.RequireDone(t, accept, "AcceptStream after the peer sent "+tc.name)
				require.Zero(t, time.Since(start), "the error must come without waiting")
				se := requireSessionError(t, r.err, mux.CodeProtocol, false)
				var pe *mux.ProtocolError
				require.ErrorAs(t, r.err, &pe, "the session error must carry the *mux.ProtocolError")
				received := fmt.Sprintf("%q", tc.sent[:len(frame.Preface)])
				require.Contains(t, pe.Rule, received, "the rule must quote what was received")
				require.Contains(t, pe.Rule, tc.names, "the rule must name what the peer looks like")
				require.Contains(t, r.err.Error(), tc.names, "the error string must name what the peer looks like")
				require.Equal(t, se, s.Err())

				peer.readSessionStart()
				goAway := peer.want(frame.TypeGoAway, "the session tells the peer why it ends")
				require.Equal(t, mux.CodeProtocol, goAway.Code)
				require.Contains(t, goAway.Reason, tc.names, "the GOAWAY reason names what the peer sent")
			})
		})
	}
	t.Run("closes after 3 bytes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s, peer := newRawPeer(t, nil, true)
			accept := goAccept(s, context.Background())
			peer.writeRaw([]byte(frame.Preface[:3]))
			calltest.RequireBlocked(t, accept, "AcceptStream after 3 bytes of preface")
			require.NoError(t, peer.conn.Close())
			r := calltest.RequireDone(t, accept, "AcceptStream after the peer closed")
			var se *mux.SessionError
			require.ErrorAs(t, r.err, &se, "a peer that hangs up mid-preface ends the session with a *mux.SessionError")
			require.ErrorIs(t, r.err, net.ErrClosed)
			require.NotErrorIs(t, r.err, io.EOF, "a truncated preface is not a clean end of stream")
			require.Contains(t, r.err.Error(), fmt.Sprintf("%q", frame.Preface[:3]),
				"the error must quote exactly the 3 bytes received, nothing the peer did not send")
		})
	})
	t.Run("sends nothing", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			const timeout = time.Second
			s, _ := newRawPeer(t, &Config{PeerTimeout: timeout}, true)
			start := time.Now()
			r, elapsed := awaitResult(t, goAccept(s, context.Background()), start, time.Minute, "AcceptStream from a silent peer")
			require.ErrorIs(t, r.err, mux.ErrPeerUnresponsive)
			require.ErrorIs(t, s.Err(), mux.ErrPeerUnresponsive)
			require.GreaterOrEqual(t, elapsed, timeout, "a silent peer is declared unresponsive after PeerTimeout, not before")
			require.LessOrEqual(t, elapsed, timeout+10*time.Millisecond, "a silent peer is declared unresponsive right after PeerTimeout")
		})
	})
}

func openFrame(id uint32) frame.Frame {
	return frame.Frame{Header: frame.Header{Type: frame.TypeData, Flags: frame.FlagOpen, StreamID: id}}
}

func windowFrame(id, inc uint32) frame.Frame {
	return frame.Frame{Header: frame.Header{Type: frame.TypeWindow, StreamID: id}, Increment: inc}
}

// A peer that breaks a protocol rule ends the session: the peer reads a
// GOAWAY with the matching code, and the session's error is a
// *mux.SessionError carrying a *mux.ProtocolError.
func TestProtocolErrorsEndSession(t *testing.T) {
	settings := frame.Frame{Header: frame.Header{Type: frame.TypeSettings}}
	cases := []struct {
		name      string
		cfg       *Config
		noHello   bool // send the preface but no SETTINGS first
		send      func(p *rawPeer)
		code      mux.ErrorCode
		frameType string
		streamID  uint64
	}{
		{
			name: "second SETTINGS",
			send: func(p *rawPeer) { p.write(settings) },
			code: mux.CodeProtocol, frameType: "SETTINGS",
		},
		{
			name: "new stream with the server's parity",
			send: func(p *rawPeer) { p.write(openFrame(2)) },
			code: mux.CodeProtocol, frameType: "DATA", streamID: 2,
		},
		{
			name: "new stream id repeated",
			send: func(p *rawPeer) { p.write(openFrame(3)); p.write(openFrame(3)) },
			code: mux.CodeProtocol, frameType: "DATA", streamID: 3,
		},
		{
			name: "new stream id below the last",
			send: func(p *rawPeer) { p.write(openFrame(5)); p.write(openFrame(3)) },
			code: mux.CodeProtocol, frameType: "DATA", streamID: 3,
		},
		{
			name: "more streams than the initial credit",
			cfg:  &Config{MaxIncomingStreams: 2, AcceptBacklog: 2},
			send: func(p *rawPeer) { p.write(openFrame(1)); p.write(openFrame(3)); p.write(openFrame(5)) },
			code: mux.CodeStreamLimit, frameType: "DATA", streamID: 5,
		},
		{
			name: "WINDOW for a never-opened peer stream",
			send: func(p *rawPeer) { p.write(windowFrame(5, 100)) },
			code: mux.CodeProtocol, frameType: "WINDOW", streamID: 5,
		},
		{
			name: "WINDOW for a never-opened local stream",
			send: func(p *rawPeer) { p.write(windowFrame(2, 100)) },
			code: mux.CodeProtocol, frameType: "WINDOW", streamID: 2,
		},
		{
			name: "session WINDOW overflowing 2^31-1",
			send: func(p *rawPeer) { p.write(windowFrame(0, math.MaxInt32)) },
			code: mux.CodeFlowControl, frameType: "WINDOW",
		},
		{
			name: "stream WINDOW overflowing 2^31-1",
			send: func(p *rawPeer) { p.write(openFrame(1)); p.write(windowFrame(1, math.MaxInt32)) },
			code: mux.CodeFlowControl, frameType: "WINDOW", streamID: 1,
		},
		{
			name: "DATA beyond the stream window",
			cfg:  &Config{InitialStreamWindow: 16 << 10},
			send: func(p *rawPeer) {
				p.write(openFrame(1))
				p.write(frame.Frame{Header: frame.Header{Type: frame.TypeData, StreamID: 1}, Data: make([]byte, 16<<10+1)})
			},
			code: mux.CodeFlowControl, frameType: "DATA", streamID: 1,
		},
		{
			// Only the header is sent: the length is checked before the
			// payload is read.
			name: "DATA longer than MaxFramePayload",
			send: func(p *rawPeer) {
				p.writeRaw(frame.AppendHeader(nil, frame.Header{Length: defaultMaxFramePayload + 1, Type: frame.TypeData, Flags: frame.FlagOpen, StreamID: 1}))
			},
			code: mux.CodeFrameSize, frameType: "DATA", streamID: 1,
		},
		{
			name: "unknown frame longer than MaxFramePayload",
			send: func(p *rawPeer) {
				p.writeRaw(frame.AppendHeader(nil, frame.Header{Length: frame.MaxLength, Type: 0x42}))
			},
			code: mux.CodeFrameSize, frameType: frame.Type(0x42).String(),
		},
		{
			name:    "first frame not SETTINGS",
			noHello: true,
			send: func(p *rawPeer) {
				p.writeRaw([]byte(frame.Preface))
				p.write(frame.Frame{Header: frame.Header{Type: frame.TypePing}})
			},
			code: mux.CodeProtocol, frameType: "PING",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, peer := newRawPeer(t, tc.cfg, true)
				if tc.noHello {
					tc.send(peer)
					peer.readSessionStart()
				} else {
					peer.handshake()
					tc.send(peer)
				}
				goAway := peer.want(frame.TypeGoAway, "the session ends with GOAWAY")
				require.Equal(t, tc.code, goAway.Code, "the GOAWAY code (reason %q)", goAway.Reason)
				require.NotEmpty(t, goAway.Reason, "the GOAWAY says which rule was broken")

				synctest.Wait()
				require.True(t, s.IsClosed(), "a protocol error ends the session")
				se := requireSessionError(t, s.Err(), tc.code, false)
				var pe *mux.ProtocolError
				require.ErrorAs(t, se, &pe, "the session error carries the *mux.ProtocolError")
				require.Equal(t, tc.code, pe.Code, "the protocol error's code: %v", pe)
				require.Equal(t, tc.frameType, pe.FrameType, "the frame type named: %v", pe)
				require.Equal(t, tc.streamID, pe.StreamID, "the stream id named: %v", pe)
				require.NotEmpty(t, pe.Rule)
			})
		})
	}
}

// Frames for a stream that has finished are ignored, and DATA for it is
// credited back to the session window.
func TestFramesForFinishedStreamIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, peer := newRawPeer(t, nil, true)
		peer.handshake()
		peer.write(openFrame(1))
		st, err := s.AcceptStream(context.Background())
		require.NoError(t, err)
		require.NoError(t, st.(*Stream).ResetWithError(9))
		rst := peer.want(frame.TypeRST, "the local reset")
		require.Equal(t, uint32(1), rst.StreamID)
		require.Equal(t, mux.ErrorCode(9), rst.Code)
		peer.write(frame.Frame{Header: frame.Header{Type: frame.TypeRST, StreamID: 1}, Code: 3})
		synctest.Wait()
		require.Zero(t, s.NumStreams(), "the stream reset by both sides is finished")

		const late = 20 << 10
		peer.write(frame.Frame{Header: frame.Header{Type: frame.TypeData, StreamID: 1}, Data: randomBytes(late)})
		peer.write(frame.Frame{Header: frame.Header{Type: frame.TypeData, Flags: frame.FlagFIN, StreamID: 1}, Data: randomBytes(late)})
		peer.write(windowFrame(1, 100))
		peer.write(frame.Frame{Header: frame.Header{Type: frame.TypeStop, StreamID: 1}, Code: 4})
		peer.write(frame.Frame{Header: frame.Header{Type: frame.TypeRST, StreamID: 1}, Code: 5})

		// The session is alive: it answers a PING sent after those frames.
		var data [8]byte
		binary.BigEndian.PutUint64(data[:], 0xfeedface)
		peer.write(frame.Frame{Header: frame.Header{Type: frame.TypePing}, Ping: data})
		for {
			f := peer.read()
			require.Contains(t, []frame.Type{frame.TypePing, frame.TypeWindow}, f.Type,
				"the session sent %v instead of answering the PING", f.Type)
			if f.Type == frame.TypePing && f.Flags&frame.FlagACK != 0 && f.Ping == data {
				break
			}
		}
		require.False(t, s.IsClosed(), "frames for a finished stream must not end the session: %v", s.Err())
		require.NoError(t, s.Err())

		s.connRecvMu.Lock()
		received, consumed := s.connRecv.received, s.connRecv.consumed
		s.connRecvMu.Unlock()
		require.Equal(t, uint64(2*late), received, "the late DATA counts against the session window")
		require.Equal(t, received, consumed, "the late DATA must be credited back to the session window")
	})
}

// Closing a stream and then at once the session still delivers the stream
// complete: its FIN goes out before GOAWAY. A stream still open for
// writing fails on both sides with the session's error instead.
func TestSessionCloseSendsOwedFINs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s, _, _ := newPair(t, nil, nil)
		closed, closedPeer := openPair(t, c, s)
		open, openPeer := openPair(t, c, s)
		_, err := closed.Write([]byte("pong"))
		require.NoError(t, err)
		_, err = open.Write([]byte("cut"))
		require.NoError(t, err)
		require.NoError(t, closed.Close())
		require.NoError(t, c.Close())

		got, err := io.ReadAll(closedPeer)
		require.NoError(t, err, "FIN arrived before GOAWAY: the stream ends with io.EOF")
		require.Equal(t, "pong", string(got))

		_, err = io.ReadAll(openPeer)
		var se *mux.SessionError
		require.ErrorAs(t, err, &se, "no FIN: the session's error, never io.EOF")
		require.True(t, se.Remote)
		_, err = open.Write([]byte("x"))
		require.ErrorAs(t, err, &se)
		require.False(t, se.Remote)
	})
}
