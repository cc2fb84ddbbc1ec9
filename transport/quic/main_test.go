package quic

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

	"github.com/twinemux/twine/internal/calltest"

	"github.com/twinemux/twine/internal/testcert"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/twinemux/twine"
	"github.com/twinemux/twine/mux"
)

// TestMain fails the package if any goroutine outlives the tests: every
// session's goroutines, quic-go's included, must exit once it is closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitLong bounds every wait for something that must happen; it is far
// above what any of it takes on a loaded machine.
const waitLong = 10 * time.Second

var (
	certOnce  sync.Once
	serverTLS *tls.Config
	clientTLS *tls.Config
)

// testTLS returns a server and a client tls.Config sharing a self-signed
// ECDSA certificate for 127.0.0.1, made once per test binary.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	certOnce.Do(func() {
		var err error
		if serverTLS, clientTLS, err = testcert.Configs(); err != nil {
			panic(err)
		}
	})
	return serverTLS, clientTLS
}

// newListener listens on a free loopback port, closed at the end of the
// test.
func newListener(t *testing.T, cfg *twine.Config) *Listener {
	t.Helper()
	stls, _ := testTLS(t)
	ln, err := Listen("127.0.0.1:0", stls, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dialAccept dials addr and accepts the server side on ln; both sessions
// are closed at the end of the test.
func dialAccept(t *testing.T, ln *Listener, addr string, clientCfg *twine.Config) (c, s *Session) {
	t.Helper()
	_, ctls := testTLS(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	type accepted struct {
		s   *Session
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		s, err := ln.Accept(ctx)
		ch <- accepted{s, err}
	}()
	c, err := Dial(ctx, addr, ctls, clientCfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	a := <-ch
	require.NoError(t, a.err)
	t.Cleanup(func() { a.s.Close() })
	return c, a.s
}

// newPair returns a connected client and server session over loopback UDP.
func newPair(t *testing.T, clientCfg, serverCfg *twine.Config) (c, s *Session) {
	t.Helper()
	ln := newListener(t, serverCfg)
	return dialAccept(t, ln, ln.Addr().String(), clientCfg)
}

// openPair opens a stream on c and accepts it on s.
func openPair(t *testing.T, c, s *Session) (cs, ss *Stream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	st, err := c.OpenStream(ctx)
	require.NoError(t, err)
	acc, err := s.AcceptStream(ctx)
	require.NoError(t, err)
	return st.(*Stream), acc.(*Stream)
}

// goPing runs sess.Ping without a deadline in a goroutine.
func goPing(sess *Session) <-chan error {
	ch := make(chan error, 1)
	go func() {
		_, err := sess.Ping(context.Background())
		ch <- err
	}()
	return ch
}

// await returns the call's result, failing the test if it takes longer
// than waitLong.
func await[R any](t *testing.T, ch <-chan R, what string) R {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitLong):
		t.Fatalf("%s: still blocked after %v", what, waitLong)
		var zero R
		return zero
	}
}

// requireStillBlocked asserts that the call has not returned after a
// short while: a bounded check that something does not happen.
func requireStillBlocked[R any](t *testing.T, ch <-chan R, what string) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s: returned %+v instead of blocking", what, r)
	case <-time.After(100 * time.Millisecond):
	}
}

// requireStreamError asserts err is a *mux.StreamError with code and remote.
func requireStreamError(t *testing.T, err error, code mux.ErrorCode, remote bool) {
	t.Helper()
	var se *mux.StreamError
	require.ErrorAs(t, err, &se)
	require.Equal(t, code, se.Code, "code of %v", err)
	require.Equal(t, remote, se.Remote, "Remote of %v", err)
	require.ErrorIs(t, err, mux.ErrStreamReset)
	require.NotErrorIs(t, err, io.EOF)
}

// requireSessionError asserts err is a *mux.SessionError with code and
// remote, matching net.ErrClosed and never io.EOF.
func requireSessionError(t *testing.T, err error, code mux.ErrorCode, remote bool) {
	t.Helper()
	var se *mux.SessionError
	require.ErrorAs(t, err, &se)
	require.Equal(t, code, se.Code, "code of %v", err)
	require.Equal(t, remote, se.Remote, "Remote of %v", err)
	require.ErrorIs(t, err, net.ErrClosed)
	require.NotErrorIs(t, err, io.EOF)
}

// smallWindows caps stream windows at 64 KiB, so that a 1 MiB Write blocks
// until the peer reads.
var smallWindows = &twine.Config{InitialStreamWindow: 64 << 10, MaxStreamWindow: 64 << 10}

// blockedWrite starts a 1 MiB Write on w, which the peer's 64 KiB window
// (see smallWindows) cannot take, and returns once the peer r has read its
// first byte: the Write is then in progress, blocked for credit.
func blockedWrite(t *testing.T, w, r *Stream) <-chan calltest.Result {
	t.Helper()
	ch := calltest.Write(w, make([]byte, 1<<20))
	_, err := io.ReadFull(r, make([]byte, 1))
	require.NoError(t, err)
	return ch
}

// udpProxy forwards UDP datagrams between one client and a server, until
// frozen: then it drops everything in both directions, like a peer whose
// process or network stopped.
type udpProxy struct {
	front  *net.UDPConn // the client sends here
	back   *net.UDPConn // connected to the server
	client atomic.Pointer[net.UDPAddr]
	frozen atomic.Bool
	wg     sync.WaitGroup

	// When the last datagram was forwarded to each side, in UnixNano.
	lastToServer, lastToClient atomic.Int64
}

func newUDPProxy(t *testing.T, server net.Addr) *udpProxy {
	t.Helper()
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	back, err := net.DialUDP("udp", nil, server.(*net.UDPAddr))
	require.NoError(t, err)
	p := &udpProxy{front: front, back: back}
	p.wg.Add(2)
	go p.forward()
	go p.backward()
	t.Cleanup(p.close)
	return p
}

func (p *udpProxy) addr() string { return p.front.LocalAddr().String() }

func (p *udpProxy) freeze() { p.frozen.Store(true) }

// thaw forwards datagrams again.
func (p *udpProxy) thaw() { p.frozen.Store(false) }

func (p *udpProxy) forward() {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := p.front.ReadFromUDP(buf)
		if err != nil {
			return
		}
		p.client.Store(from)
		if !p.frozen.Load() {
			p.lastToServer.Store(time.Now().UnixNano())
			p.back.Write(buf[:n])
		}
	}
}

func (p *udpProxy) backward() {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := p.back.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. ICMP port unreachable once the server is gone
		}
		if to := p.client.Load(); to != nil && !p.frozen.Load() {
			p.lastToClient.Store(time.Now().UnixNano())
			p.front.WriteToUDP(buf[:n], to)
		}
	}
}

func (p *udpProxy) close() {
	p.front.Close()
	p.back.Close()
	p.wg.Wait()
}
