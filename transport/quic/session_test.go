package quic

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twinemux/twine/internal/calltest"

	quicgo "github.com/quic-go/quic-go"
	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine"
	"github.com/twinemux/twine/mux"
)

func TestSessionCloseWithError(t *testing.T) {
	const code mux.ErrorCode = 0x1234
	c, s := newPair(t, nil, nil)
	cs, ss := openPair(t, c, s)
	clientRead := calltest.ReadFull(cs, 1)
	serverRead := calltest.ReadFull(ss, 1)
	serverAccept := make(chan error, 1)
	go func() {
		_, err := s.AcceptStream(context.Background())
		serverAccept <- err
	}()

	require.Nil(t, c.Err())
	require.False(t, c.IsClosed())
	require.NoError(t, c.CloseWithError(code))
	require.True(t, c.IsClosed())
	requireSessionError(t, c.Err(), code, false)
	requireSessionError(t, await(t, clientRead, "client Read").Err, code, false)

	select {
	case <-s.Done():
	case <-time.After(waitLong):
		t.Fatal("the server session did not end")
	}
	requireSessionError(t, s.Err(), code, true)
	requireSessionError(t, await(t, serverRead, "server Read").Err, code, true)
	select {
	case err := <-serverAccept:
		requireSessionError(t, err, code, true)
	case <-time.After(waitLong):
		t.Fatal("AcceptStream still blocked")
	}

	_, err := ss.Write([]byte("x"))
	requireSessionError(t, err, code, true)
	_, err = c.OpenStream(context.Background())
	requireSessionError(t, err, code, false)
	_, err = s.AcceptStream(context.Background())
	requireSessionError(t, err, code, true)
	require.NoError(t, c.Close(), "repeat close is a no-op")
	requireSessionError(t, c.Err(), code, false)
}

// A stream whose FIN was read keeps reporting io.EOF after the session
// ended; one still open reports the session's error, never io.EOF.
func TestSessionDeathIsNeverEOF(t *testing.T) {
	c, s := newPair(t, nil, nil)
	cs, ss := openPair(t, c, s)
	_, err := cs.Write([]byte("partial"))
	require.NoError(t, err)
	_, err = io.ReadFull(ss, make([]byte, 7))
	require.NoError(t, err)
	require.NoError(t, c.Close())
	_, err = io.ReadAll(ss)
	requireSessionError(t, err, mux.CodeNoError, true)
}

func TestOpenStreamWaitsForCredit(t *testing.T) {
	two := &twine.Config{MaxIncomingStreams: 2}
	c, s := newPair(t, nil, two)
	cs1, ss1 := openPair(t, c, s)
	openPair(t, c, s)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err := c.OpenStream(ctx)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "a third stream is beyond the server's credit")

	ctx, cancel = context.WithCancel(context.Background())
	opened := make(chan error, 1)
	go func() {
		_, err := c.OpenStream(ctx)
		opened <- err
	}()
	// Both sides close a stream; its credit comes back, nobody is reset.
	require.NoError(t, cs1.Close())
	require.NoError(t, ss1.Close())
	select {
	case err := <-opened:
		require.NoError(t, err)
	case <-time.After(waitLong):
		t.Fatal("OpenStream still waits after a stream finished")
	}
	cancel()
}

func TestStreamContexts(t *testing.T) {
	c, s := newPair(t, nil, &twine.Config{MaxIncomingStreams: 1})
	t.Run("AcceptStream", func(t *testing.T) {
		requireHonoursCancel(t, "AcceptStream", func(ctx context.Context) error {
			_, err := s.AcceptStream(ctx)
			return err
		})
	})
	t.Run("OpenStream", func(t *testing.T) {
		openPair(t, c, s) // the only credit
		requireHonoursCancel(t, "OpenStream", func(ctx context.Context) error {
			_, err := c.OpenStream(ctx)
			return err
		})
	})
}

func TestListenerAcceptContext(t *testing.T) {
	ln := newListener(t, nil)
	err := requireHonoursCancel(t, "Accept", func(ctx context.Context) error {
		_, err := ln.Accept(ctx)
		return err
	})
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, ln.Addr().String(), e.Addr)
}

// requireHonoursCancel runs call with a context it then cancels, asserts
// that the call returns context.Canceled, and returns its error.
func requireHonoursCancel(t *testing.T, what string, call func(ctx context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := calltest.Go(func() calltest.Result { return calltest.Result{Err: call(ctx)} })
	cancel()
	err := await(t, done, what+" after its context was canceled").Err
	require.ErrorIs(t, err, context.Canceled, what)
	return err
}

// A server that never answers: Dial waits until its context ends.
func TestDialContext(t *testing.T) {
	silent, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer silent.Close()
	_, ctls := testTLS(t)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Dial(ctx, silent.LocalAddr().String(), ctls, nil)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		require.Contains(t, err.Error(), silent.LocalAddr().String())
	case <-time.After(waitLong):
		t.Fatal("Dial ignores its context")
	}

	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = Dial(ctx, silent.LocalAddr().String(), ctls, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestListenerCloseKeepsSessions(t *testing.T) {
	ln := newListener(t, nil)
	c, s := dialAccept(t, ln, ln.Addr().String(), nil)
	require.NoError(t, ln.Close())
	_, err := ln.Accept(context.Background())
	require.ErrorIs(t, err, net.ErrClosed)

	cs, ss := openPair(t, c, s)
	_, err = cs.Write([]byte("alive"))
	require.NoError(t, err)
	require.NoError(t, cs.CloseWrite())
	got, err := io.ReadAll(ss)
	require.NoError(t, err)
	require.Equal(t, "alive", string(got))
}

func TestListenerCloseWakesAccept(t *testing.T) {
	ln := newListener(t, nil)
	done := make(chan error, 1)
	go func() {
		_, err := ln.Accept(context.Background())
		done <- err
	}()
	require.NoError(t, ln.Close())
	select {
	case err := <-done:
		require.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(waitLong):
		t.Fatal("Close did not wake Accept")
	}
	require.NoError(t, ln.Close(), "repeat Close is a no-op")
}

func TestInvalidConfig(t *testing.T) {
	stls, ctls := testTLS(t)
	bad := &twine.Config{PeerTimeout: time.Millisecond, InitialStreamWindow: 10}
	_, err := Listen("127.0.0.1:0", stls, bad)
	require.ErrorContains(t, err, "PeerTimeout")
	require.ErrorContains(t, err, "InitialStreamWindow")
	_, err = Dial(context.Background(), "127.0.0.1:1", ctls, bad)
	require.ErrorContains(t, err, "PeerTimeout")
	_, err = Dial(context.Background(), "127.0.0.1:1", nil, nil)
	require.ErrorContains(t, err, "tls")
}

func TestConfigMapping(t *testing.T) {
	set, err := newSettings(nil)
	require.NoError(t, err)
	require.Equal(t, 30*time.Second, set.peerTimeout)
	require.Equal(t, 10*time.Second, set.keepAlive)
	require.Equal(t, uint64(256<<10), set.quic.InitialStreamReceiveWindow)
	require.Equal(t, uint64(16<<20), set.quic.MaxStreamReceiveWindow)
	require.Equal(t, uint64(1<<20), set.quic.InitialConnectionReceiveWindow)
	require.Equal(t, uint64(32<<20), set.quic.MaxConnectionReceiveWindow)
	require.Equal(t, int64(1024), set.quic.MaxIncomingStreams)
	require.Equal(t, quicIdleTimeout, set.quic.MaxIdleTimeout)
	require.Zero(t, set.quic.KeepAlivePeriod, "PINGs are this package's")
	require.True(t, set.quic.EnableDatagrams)
	require.NotNil(t, set.quic.Tracer, "liveness watches arrivals through the qlog tracer")

	set, err = newSettings(&twine.Config{PeerTimeout: -1, InitialStreamWindow: 32 << 20})
	require.NoError(t, err)
	require.Zero(t, set.peerTimeout, "negative turns detection off")
	require.Nil(t, set.quic.Tracer, "no tracing without detection")
	require.Equal(t, uint64(32<<20), set.quic.MaxStreamReceiveWindow, "at least the initial window")
	require.Equal(t, uint64(32<<20), set.quic.InitialConnectionReceiveWindow)

	set, err = newSettings(&twine.Config{PeerTimeout: 600 * time.Millisecond, KeepAliveInterval: 100 * time.Millisecond})
	require.NoError(t, err)
	require.Equal(t, 600*time.Millisecond, set.peerTimeout)
	require.Equal(t, 100*time.Millisecond, set.keepAlive)
}

func TestErrorTranslation(t *testing.T) {
	tests := []struct {
		name string
		in   error
		want error
	}{
		{"remote close", &quicgo.ApplicationError{ErrorCode: 7, Remote: true, ErrorMessage: "bye"}, &mux.SessionError{Code: 7, Remote: true, Reason: "bye"}},
		{"local close", &quicgo.ApplicationError{ErrorCode: 0}, &mux.SessionError{Code: 0}},
		{"code beyond 32 bits", &quicgo.ApplicationError{ErrorCode: 1 << 40, Remote: true}, &mux.SessionError{Code: mux.CodeProtocol, Remote: true}},
		{"idle timeout", &quicgo.IdleTimeoutError{}, mux.ErrPeerUnresponsive},
		{"handshake timeout", &quicgo.HandshakeTimeoutError{}, mux.ErrPeerUnresponsive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, sessionError(tt.in))
		})
	}

	t.Run("transport error", func(t *testing.T) {
		in := &quicgo.TransportError{ErrorCode: quicgo.FlowControlError, Remote: true}
		var se *mux.SessionError
		require.ErrorAs(t, sessionError(in), &se)
		require.Equal(t, mux.CodeFlowControl, se.Code)
		require.True(t, se.Remote)
		require.ErrorIs(t, se, net.ErrClosed)
		var te *quicgo.TransportError
		require.ErrorAs(t, se, &te, "the QUIC error is inside")
	})

	require.Equal(t, mux.ErrorCode(5), muxCode(5|uint64(resetFlag)), "resetFlag is not part of the code")
	require.Equal(t, mux.CodeProtocol, muxCode(1<<33))
}

// A QUIC peer on twine's ALPN that breaks the stream header ends the
// session with a protocol error naming the rule.
func TestBadStreamHeader(t *testing.T) {
	ln := newListener(t, nil)
	_, ctls := testTLS(t)
	tc := ctls.Clone()
	tc.NextProtos = []string{NextProto}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()

	raw, err := quicgo.DialAddr(ctx, ln.Addr().String(), tc, &quicgo.Config{EnableDatagrams: true})
	require.NoError(t, err)
	defer raw.CloseWithError(0, "")
	s, err := ln.Accept(ctx)
	require.NoError(t, err)
	defer s.Close()

	qs, err := raw.OpenStream()
	require.NoError(t, err)
	_, err = qs.Write([]byte{0x55})
	require.NoError(t, err)

	_, err = s.AcceptStream(ctx)
	requireSessionError(t, err, mux.CodeProtocol, false)
	var pe *mux.ProtocolError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, uint64(qs.StreamID()), pe.StreamID)
	require.Contains(t, pe.Rule, "0x55")

	<-raw.Context().Done()
	var appErr *quicgo.ApplicationError
	require.ErrorAs(t, context.Cause(raw.Context()), &appErr)
	require.Equal(t, quicgo.ApplicationErrorCode(mux.CodeProtocol), appErr.ErrorCode)
}

// A client without twine's ALPN fails the handshake.
func TestWrongALPN(t *testing.T) {
	ln := newListener(t, nil)
	_, ctls := testTLS(t)
	tc := ctls.Clone()
	tc.NextProtos = []string{"h3"}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	_, err := quicgo.DialAddr(ctx, ln.Addr().String(), tc, nil)
	require.Error(t, err)
	var te *quicgo.TransportError
	require.True(t, errors.As(err, &te), "a TLS alert, got %v", err)
}

// Dial and Listen leave the caller's tls.Config alone.
func TestTLSConfigNotModified(t *testing.T) {
	ln := newListener(t, nil)
	dialAccept(t, ln, ln.Addr().String(), nil)
	stls, ctls := testTLS(t)
	require.Empty(t, ctls.NextProtos)
	require.Empty(t, ctls.ServerName)
	require.Empty(t, stls.NextProtos)
}

// Session close does not flush (documented): the peer may miss data still
// in flight, but it never mistakes the cut for a FIN. It reads everything
// and io.EOF, or gets the session's error.
func TestCloseDoesNotFakeEOF(t *testing.T) {
	c, s := newPair(t, nil, nil)
	cs, ss := openPair(t, c, s)
	data := make([]byte, 4<<20)
	go func() {
		cs.Write(data)
		cs.CloseWrite()
		c.Close()
	}()
	got, err := io.ReadAll(ss)
	if err == nil {
		require.Len(t, got, len(data), "io.EOF only after every byte")
		return
	}
	requireSessionError(t, err, mux.CodeNoError, true)
	require.LessOrEqual(t, len(got), len(data), "the FIN may be what was lost")
}

// A peer-opened stream whose FIN arrived keeps its stream credit until the
// application reads io.EOF or closes the stream (documented: quic-go counts
// a stream as complete only then).
func TestUnreadFINKeepsCredit(t *testing.T) {
	c, s := newPair(t, nil, &twine.Config{MaxIncomingStreams: 1})
	cs, ss := openPair(t, c, s)
	_, err := cs.Write([]byte("done"))
	require.NoError(t, err)
	require.NoError(t, cs.Close())

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = c.OpenStream(ctx)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "the FIN arrived, but the server has not read it")

	got, err := io.ReadAll(ss)
	require.NoError(t, err)
	require.Equal(t, "done", string(got))
	ctx, cancel = context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	_, err = c.OpenStream(ctx)
	require.NoError(t, err, "reading io.EOF completes the stream")
}
