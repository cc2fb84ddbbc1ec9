package tcp_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twinemux/twine/internal/testcert"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/twinemux/twine"
	"github.com/twinemux/twine/mux"
	"github.com/twinemux/twine/transport/tcp"
)

// TestMain fails the package if a goroutine outlives the tests: a Listener
// must join its goroutines on Close, and Accept must start none.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// bound is how long any call here may take when it is expected to return.
const bound = 5 * time.Second

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	t.Cleanup(cancel)
	return ctx
}

func listen(t *testing.T, cfg *twine.Config, opts ...tcp.Option) *tcp.Listener {
	t.Helper()
	l, err := tcp.Listen("127.0.0.1:0", cfg, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

// connect dials l and accepts the connection's session on it.
func connect(t *testing.T, l *tcp.Listener, opts ...tcp.Option) (client, server *twine.Session) {
	t.Helper()
	ctx := testCtx(t)
	client, err := tcp.Dial(ctx, l.Addr().String(), nil, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	server, err = l.Accept(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { server.Close() })
	return client, server
}

// requireEcho opens a stream on a, accepts it on b, and sends a message
// each way.
func requireEcho(t *testing.T, a, b *twine.Session) {
	t.Helper()
	ctx := testCtx(t)
	as, err := a.OpenStream(ctx)
	require.NoError(t, err)
	bs, err := b.AcceptStream(ctx)
	require.NoError(t, err)
	for _, dir := range [][2]mux.Stream{{as, bs}, {bs, as}} {
		msg := []byte("hello from " + dir[0].LocalAddr().String())
		_, err := dir[0].Write(msg)
		require.NoError(t, err)
		got := make([]byte, len(msg))
		_, err = io.ReadFull(dir[1], got)
		require.NoError(t, err)
		require.Equal(t, msg, got)
	}
	require.NoError(t, as.Close())
	require.NoError(t, bs.Close())
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestDialListenAccept(t *testing.T) {
	l := listen(t, &twine.Config{PeerTimeout: 5 * time.Second})
	client, server := connect(t, l)
	requireEcho(t, client, server)
	requireEcho(t, server, client)
	require.Equal(t, l.Addr().String(), client.RemoteAddr().String())
	require.Equal(t, client.LocalAddr().String(), server.RemoteAddr().String())

	// A second connection on the same listener is a separate session.
	client2, server2 := connect(t, l)
	requireEcho(t, client2, server2)
	require.NotEqual(t, client.LocalAddr().String(), client2.LocalAddr().String())
}

// Sessions returned by Accept outlive the listener.
func TestListenerCloseKeepsSessions(t *testing.T) {
	l := listen(t, nil)
	client, server := connect(t, l)
	require.NoError(t, l.Close())
	requireEcho(t, client, server)
	require.NoError(t, l.Close(), "a second Close returns the first one's result")
}

// Accept returns when its ctx ends, with ctx's error, and the listener
// keeps working; goleak checks that the abandoned call left nothing behind.
func TestAcceptContext(t *testing.T) {
	l := listen(t, nil)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := l.Accept(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Contains(t, err.Error(), l.Addr().String(), "the error names the address")

	const wait = 50 * time.Millisecond
	ctx, cancel = context.WithTimeout(context.Background(), wait)
	defer cancel()
	start := time.Now()
	_, err = l.Accept(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.GreaterOrEqual(t, time.Since(start), wait)
	require.Less(t, time.Since(start), bound)

	client, server := connect(t, l)
	requireEcho(t, client, server)
}

// Close wakes a pending Accept with an error matching net.ErrClosed, and
// later Accepts fail the same way.
func TestCloseWakesAccept(t *testing.T) {
	l := listen(t, nil)
	errc := make(chan error, 1)
	go func() {
		_, err := l.Accept(context.Background())
		errc <- err
	}()
	require.NoError(t, l.Close())
	select {
	case err := <-errc:
		require.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(bound):
		t.Fatal("Accept still blocked after Close")
	}
	_, err := l.Accept(context.Background())
	require.ErrorIs(t, err, net.ErrClosed)
	require.Contains(t, err.Error(), l.Addr().String())
}

// A connection the listener took from the kernel but nobody accepted is
// closed by Close: the client's session ends instead of hanging.
func TestCloseDropsUnacceptedConnections(t *testing.T) {
	l := listen(t, nil)
	client, err := tcp.Dial(testCtx(t), l.Addr().String(), &twine.Config{PeerTimeout: -1})
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	require.NoError(t, l.Close())
	select {
	case <-client.Done():
		require.ErrorIs(t, client.Err(), net.ErrClosed)
	case <-time.After(bound):
		t.Fatal("the client session outlived the listener that never accepted it")
	}
}

func TestDialContext(t *testing.T) {
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := tcp.Dial(ctx, freeAddr(t), nil)
		require.ErrorIs(t, err, context.Canceled)
	})
	// A TLS handshake with a server that never answers is bounded by ctx.
	t.Run("tls handshake", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				accepted <- c
			}
			close(accepted)
		}()
		_, clientTLS := selfSigned(t)
		const wait = 50 * time.Millisecond
		start := time.Now() // before the deadline is set, so that it cannot pass early
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_, err = tcp.Dial(ctx, ln.Addr().String(), nil, tcp.WithTLS(clientTLS))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.GreaterOrEqual(t, time.Since(start), wait)
		require.Less(t, time.Since(start), bound)
		require.Equal(t, "twine: tls handshake with "+ln.Addr().String()+": context deadline exceeded", err.Error())
		if c := <-accepted; c != nil {
			c.Close()
		}
	})
}

// Errors start with "twine: ", name the address and wrap the cause.
func TestErrorsNameTheAddress(t *testing.T) {
	t.Run("dial refused", func(t *testing.T) {
		addr := freeAddr(t)
		_, err := tcp.Dial(testCtx(t), addr, nil)
		require.ErrorIs(t, err, syscall.ECONNREFUSED)
		require.Equal(t, "twine: dial tcp "+addr+": connect: connection refused", err.Error())
		var opErr *net.OpError
		require.ErrorAs(t, err, &opErr)
	})
	t.Run("dial bad config", func(t *testing.T) {
		addr := freeAddr(t)
		_, err := tcp.Dial(testCtx(t), addr, &twine.Config{PeerTimeout: time.Millisecond})
		require.Error(t, err)
		require.True(t, strings.HasPrefix(err.Error(), "twine: dial "+addr+": config: PeerTimeout"), err.Error())
	})
	t.Run("listen in use", func(t *testing.T) {
		l := listen(t, nil)
		addr := l.Addr().String()
		_, err := tcp.Listen(addr, nil)
		require.ErrorIs(t, err, syscall.EADDRINUSE)
		require.Equal(t, "twine: listen tcp "+addr+": bind: address already in use", err.Error())
	})
	t.Run("listen bad config", func(t *testing.T) {
		_, err := tcp.Listen("127.0.0.1:0", &twine.Config{InitialStreamWindow: 1})
		require.Error(t, err)
		require.True(t, strings.HasPrefix(err.Error(), "twine: listen 127.0.0.1:0: config: InitialStreamWindow"), err.Error())
	})
	t.Run("listen tls without certificate", func(t *testing.T) {
		_, err := tcp.Listen("127.0.0.1:0", nil, tcp.WithTLS(&tls.Config{}))
		require.EqualError(t, err, "twine: listen 127.0.0.1:0: tls config has no certificate")
	})
	t.Run("listen bad handshake timeout", func(t *testing.T) {
		_, err := tcp.Listen("127.0.0.1:0", nil, tcp.WithHandshakeTimeout(0))
		require.EqualError(t, err, "twine: listen 127.0.0.1:0: handshake timeout 0s is not positive")
	})
}

func TestTLS(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	l := listen(t, nil, tcp.WithTLS(serverTLS))

	// The server name is taken from the address: the certificate is for
	// 127.0.0.1.
	client, server := connect(t, l, tcp.WithTLS(clientTLS))
	requireEcho(t, client, server)
	require.Empty(t, clientTLS.ServerName, "Dial must not modify the caller's tls.Config")

	// A client that does not trust the certificate fails its Dial, naming
	// the address; the server drops that connection and keeps accepting.
	_, err := tcp.Dial(testCtx(t), l.Addr().String(), nil, tcp.WithTLS(&tls.Config{}))
	var unknown x509.UnknownAuthorityError
	require.ErrorAs(t, err, &unknown)
	require.True(t, strings.HasPrefix(err.Error(), "twine: tls handshake with "+l.Addr().String()+": "), err.Error())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = l.Accept(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "a failed handshake is not handed to Accept")

	client2, server2 := connect(t, l, tcp.WithTLS(clientTLS))
	requireEcho(t, client2, server2)

	// A plain twine client cannot talk to the TLS listener.
	plain, err := tcp.Dial(testCtx(t), l.Addr().String(), &twine.Config{PeerTimeout: -1})
	require.NoError(t, err, "the plain client does not wait for the server")
	defer plain.Close()
	select {
	case <-plain.Done():
		require.ErrorIs(t, plain.Err(), net.ErrClosed)
	case <-time.After(bound):
		t.Fatal("a plain client of a TLS listener was not disconnected")
	}
}

// A client that connects and never completes the TLS handshake is
// disconnected after the handshake timeout.
func TestHandshakeTimeout(t *testing.T) {
	serverTLS, _ := selfSigned(t)
	const timeout = 100 * time.Millisecond
	l := listen(t, nil, tcp.WithTLS(serverTLS), tcp.WithHandshakeTimeout(timeout))
	start := time.Now()
	conn, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetReadDeadline(start.Add(bound)))
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the server must close the connection within %v: %v", bound, err)
	require.Error(t, err)
	require.GreaterOrEqual(t, time.Since(start), timeout)
}

// Close interrupts handshakes in progress instead of waiting for their
// timeout, and joins their goroutines.
func TestCloseInterruptsHandshakes(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	started := make(chan struct{}, 1)
	serverTLS.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		started <- struct{}{}
		return nil, nil
	}
	l, err := tcp.Listen("127.0.0.1:0", nil, tcp.WithTLS(serverTLS), tcp.WithHandshakeTimeout(time.Hour))
	require.NoError(t, err)

	// The client stalls once it has the server's certificate, so the
	// server's handshake waits for the client's Finished.
	release := make(chan struct{})
	clientTLS.ServerName = "127.0.0.1"
	clientTLS.VerifyConnection = func(tls.ConnectionState) error {
		<-release
		return nil
	}
	conn, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	tc := tls.Client(conn, clientTLS)
	handshake := make(chan error, 1)
	go func() { handshake <- tc.Handshake() }()
	select {
	case <-started:
	case <-time.After(bound):
		t.Fatal("the listener did not start the handshake")
	}

	start := time.Now()
	require.NoError(t, l.Close())
	require.Less(t, time.Since(start), bound, "Close waited for a stalled handshake")
	close(release)
	select {
	case err := <-handshake:
		if err != nil {
			return // the client saw the server close mid-handshake
		}
	case <-time.After(bound):
		t.Fatal("the client handshake did not end")
	}
	// With TLS 1.3 the client finishes without hearing from the server
	// again; its first read then finds the connection closed.
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(bound)))
	_, err = tc.Read(make([]byte, 1))
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the listener must have closed the connection: %v", err)
	require.Error(t, err)
}

// selfSigned returns a server config with a fresh self-signed certificate
// for 127.0.0.1, ::1 and localhost, and a client config trusting it.
func selfSigned(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	server, client, err := testcert.Configs()
	require.NoError(t, err)
	return server, client
}
