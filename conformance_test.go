package twine_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twinemux/twine/internal/testcert"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine"
	"github.com/twinemux/twine/internal/memconn"
	"github.com/twinemux/twine/mux"
	"github.com/twinemux/twine/mux/muxtest"
	"github.com/twinemux/twine/transport/tcp"
)

var _ mux.Session = (*twine.Session)(nil)

// TestConformance runs the conformance suite on the framed back end over
// an in-memory connection, over loopback TCP, and over TLS on loopback TCP.
func TestConformance(t *testing.T) {
	t.Run("memconn", func(t *testing.T) {
		t.Parallel()
		muxtest.Run(t, memconnPair)
	})
	t.Run("tcp", func(t *testing.T) {
		t.Parallel()
		muxtest.Run(t, func(t *testing.T, opts muxtest.Options) muxtest.Pair {
			return tcpPair(t, opts, nil, nil)
		})
	})
	t.Run("tls", func(t *testing.T) {
		t.Parallel()
		server, client := testCerts(t)
		muxtest.Run(t, func(t *testing.T, opts muxtest.Options) muxtest.Pair {
			return tcpPair(t, opts, server, client)
		})
	})
}

// config maps the suite's options onto a twine Config; zero stays zero,
// the default.
func config(opts muxtest.Options) *twine.Config {
	return &twine.Config{
		PeerTimeout:         opts.PeerTimeout,
		MaxIncomingStreams:  opts.MaxIncomingStreams,
		InitialStreamWindow: opts.InitialStreamWindow,
	}
}

// memBuffer is the in-memory connection's buffer each way, like a
// loopback socket's.
const memBuffer = 256 << 10

// memconnPair runs a client and a server session over an in-memory
// connection. FreezeServer freezes the server's end.
func memconnPair(t *testing.T, opts muxtest.Options) muxtest.Pair {
	cc, sc := memconn.Pipe(memBuffer)
	server := &freezableConn{Conn: sc}
	c, err := twine.Client(cc, config(opts))
	require.NoError(t, err)
	s, err := twine.Server(server, config(opts))
	require.NoError(t, err)
	t.Cleanup(func() {
		c.Close()
		s.Close()
		cc.Close()
		sc.Close()
	})
	return muxtest.Pair{Client: c, Server: s, FreezeServer: server.freeze}
}

// freezableConn is the server's end of an in-memory connection, which the
// suite may freeze. A frozen process cannot close its socket either: once
// frozen, Close only wakes the server session's own blocked calls, with a
// deadline in the past, and the client sees nothing. So the server's own
// PeerTimeout may fire while it is frozen, as it would once a real frozen
// process resumed, without the client noticing. The real close happens at
// the end of the test.
type freezableConn struct {
	*memconn.Conn
	frozen atomic.Bool
	closed atomic.Bool // a Close while frozen
}

func (c *freezableConn) freeze() {
	c.frozen.Store(true)
	c.Conn.Freeze()
}

func (c *freezableConn) Close() error {
	if !c.frozen.Load() {
		return c.Conn.Close()
	}
	if c.closed.Swap(true) {
		return net.ErrClosed
	}
	return c.Conn.SetDeadline(time.Unix(1, 0))
}

func (c *freezableConn) SetDeadline(t time.Time) error {
	if c.closed.Load() {
		return nil
	}
	return c.Conn.SetDeadline(t)
}

func (c *freezableConn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *freezableConn) SetWriteDeadline(t time.Time) error {
	if c.closed.Load() {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

// tcpPair runs a client and a server session over loopback TCP, with TLS
// when serverTLS and clientTLS are given, through a proxy that
// FreezeServer freezes.
func tcpPair(t *testing.T, opts muxtest.Options, serverTLS, clientTLS *tls.Config) muxtest.Pair {
	var serverOpts, clientOpts []tcp.Option
	if serverTLS != nil {
		serverOpts = append(serverOpts, tcp.WithTLS(serverTLS))
		clientOpts = append(clientOpts, tcp.WithTLS(clientTLS))
	}
	l, err := tcp.Listen("127.0.0.1:0", config(opts), serverOpts...)
	require.NoError(t, err)
	defer l.Close()
	px := startProxy(t, l.Addr().String())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := tcp.Dial(ctx, px.addr(), config(opts), clientOpts...)
	require.NoError(t, err)
	s, err := l.Accept(ctx)
	if err != nil {
		c.Close()
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		px.close() // first, so that neither session waits to flush to a frozen peer
		c.Close()
		s.Close()
	})
	return muxtest.Pair{Client: c, Server: s, FreezeServer: px.freeze}
}

// proxy forwards one TCP connection to a target. Frozen, it stops
// forwarding both ways, reading nothing more and closing nothing, as a
// frozen server process would.
type proxy struct {
	ln     net.Listener
	target string

	frozen atomic.Bool
	done   chan struct{} // closed by close

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	px := &proxy{ln: ln, target: target, done: make(chan struct{})}
	px.wg.Go(px.accept)
	return px
}

func (px *proxy) addr() string { return px.ln.Addr().String() }

// accept takes the one client connection, dials the target and starts
// forwarding.
func (px *proxy) accept() {
	client, err := px.ln.Accept()
	if err != nil {
		return
	}
	px.track(client)
	server, err := net.Dial("tcp", px.target)
	if err != nil {
		client.Close()
		return
	}
	px.track(server)
	px.wg.Go(func() { px.forward(client.(*net.TCPConn), server.(*net.TCPConn)) })
	px.wg.Go(func() { px.forward(server.(*net.TCPConn), client.(*net.TCPConn)) })
}

func (px *proxy) track(c net.Conn) {
	px.mu.Lock()
	defer px.mu.Unlock()
	select {
	case <-px.done:
		c.Close()
	default:
		px.conns = append(px.conns, c)
	}
}

// forward copies src to dst. A clean EOF becomes a half-close of dst, a
// failure a close. Once frozen, it drops what it reads and stops until the
// proxy closes.
func (px *proxy) forward(dst, src *net.TCPConn) {
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if px.frozen.Load() {
			<-px.done
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				src.Close()
				return
			}
		}
		switch {
		case errors.Is(err, io.EOF):
			dst.CloseWrite()
			return
		case err != nil:
			dst.Close()
			return
		}
	}
}

func (px *proxy) freeze() { px.frozen.Store(true) }

// close closes the proxy's connections and waits for its goroutines.
func (px *proxy) close() {
	px.mu.Lock()
	select {
	case <-px.done:
	default:
		close(px.done)
	}
	for _, c := range px.conns {
		c.Close()
	}
	px.mu.Unlock()
	px.ln.Close()
	px.wg.Wait()
}

func testCerts(t *testing.T) (server, client *tls.Config) {
	server, client, err := testcert.Configs()
	require.NoError(t, err)
	return server, client
}
