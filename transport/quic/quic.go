package quic

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"

	quicgo "github.com/quic-go/quic-go"

	"github.com/twinemux/twine"
	"github.com/twinemux/twine/mux"
)

// Dial connects to addr over QUIC (a UDP socket of its own) with tlsConf,
// which Dial does not modify: its NextProtos is replaced by [NextProto], and
// an empty ServerName is taken from addr's host. It returns the client side
// of a twine session configured by cfg (nil for the defaults; an invalid cfg
// is reported naming each bad field). The handshake is bounded by ctx; once
// Dial returns, ctx no longer matters. Errors are *[Error]s naming addr; on
// error nothing is left open.
func Dial(ctx context.Context, addr string, tlsConf *tls.Config, cfg *twine.Config) (*Session, error) {
	fail := func(err error) (*Session, error) { return nil, &Error{Op: "dial", Addr: addr, Err: err} }
	if tlsConf == nil {
		return fail(errors.New("tls config is nil"))
	}
	set, err := newSettings(cfg)
	if err != nil {
		return fail(err)
	}
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return fail(err)
	}
	network := "udp6"
	if raddr.IP == nil || raddr.IP.To4() != nil {
		network = "udp4"
	}
	udp, err := net.ListenUDP(network, nil)
	if err != nil {
		return fail(err)
	}
	tr := &quicgo.Transport{Conn: udp}
	release := func(linger time.Duration) {
		if linger > 0 {
			time.Sleep(linger) // see Session.linger
		}
		tr.Close()
		udp.Close()
	}
	conn, err := tr.Dial(ctx, raddr, clientTLSConfig(tlsConf, addr), set.quic)
	if err != nil {
		release(0)
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			err = ctxErr
		}
		return fail(err)
	}
	return newSession(conn, set, release), nil
}

func clientTLSConfig(cfg *tls.Config, addr string) *tls.Config {
	c := cfg.Clone()
	c.NextProtos = []string{NextProto}
	if c.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		c.ServerName = host
	}
	return c
}

// Listener accepts QUIC connections on one UDP socket and yields a server
// [Session] for each. All its methods are safe for concurrent use.
//
// Sessions share the listener's socket: closing the listener stops
// accepting but keeps the sessions already accepted; the socket closes when
// the listener and all of them are closed.
type Listener struct {
	ln   *quicgo.Listener
	tr   *quicgo.Transport
	udp  *net.UDPConn
	set  settings
	addr string

	mu     sync.Mutex
	closed bool
	live   int // sessions accepted and not yet ended
}

// Listen listens for QUIC connections on the UDP address addr (for example
// "127.0.0.1:0" for any free port) with tlsConf, which must carry a
// certificate and is not modified (its NextProtos is replaced by
// [NextProto]). Accept starts server sessions configured by cfg (nil for the
// defaults; an invalid cfg is reported here, naming each bad field).
func Listen(addr string, tlsConf *tls.Config, cfg *twine.Config) (*Listener, error) {
	fail := func(err error) (*Listener, error) { return nil, &Error{Op: "listen", Addr: addr, Err: err} }
	if tlsConf == nil {
		return fail(errors.New("tls config is nil"))
	}
	set, err := newSettings(cfg)
	if err != nil {
		return fail(err)
	}
	uaddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return fail(err)
	}
	udp, err := net.ListenUDP("udp", uaddr)
	if err != nil {
		return fail(err)
	}
	tc := tlsConf.Clone()
	tc.NextProtos = []string{NextProto}
	tr := &quicgo.Transport{Conn: udp}
	ln, err := tr.Listen(tc, set.quic)
	if err != nil {
		tr.Close()
		udp.Close()
		return fail(err)
	}
	return &Listener{ln: ln, tr: tr, udp: udp, set: set, addr: udp.LocalAddr().String()}, nil
}

// Accept returns the next connection's server session, once its handshake
// completed. It blocks until one is ready, ctx ends, or the listener is
// closed, and then returns an *[Error] wrapping ctx's error or one matching
// net.ErrClosed.
func (l *Listener) Accept(ctx context.Context) (*Session, error) {
	conn, err := l.ln.Accept(ctx)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			err = ctxErr
		} else if errors.Is(err, quicgo.ErrServerClosed) {
			err = errListenerClosed
		}
		return nil, &Error{Op: "accept on", Addr: l.addr, Err: err}
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		conn.CloseWithError(quicgo.ApplicationErrorCode(mux.CodeNoError), "listener closed")
		return nil, &Error{Op: "accept on", Addr: l.addr, Err: errListenerClosed}
	}
	l.live++
	l.mu.Unlock()
	return newSession(conn, l.set, l.sessionEnded), nil
}

// Addr returns the UDP address the listener listens on.
func (l *Listener) Addr() net.Addr { return l.udp.LocalAddr() }

// Close stops accepting: pending and later Accepts fail with an error
// matching net.ErrClosed, and connections not yet accepted are closed.
// Sessions already accepted are not affected. Repeat calls are no-ops.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	l.ln.Close()
	// After Close, quic-go's Accept hands out what was queued, then fails.
	for {
		conn, err := l.ln.Accept(context.Background())
		if err != nil {
			break
		}
		conn.CloseWithError(quicgo.ApplicationErrorCode(mux.CodeNoError), "listener closed")
	}
	l.maybeCloseSocket(0)
	return nil
}

// sessionEnded is called once by each accepted session after it ended.
func (l *Listener) sessionEnded(linger time.Duration) {
	l.mu.Lock()
	l.live--
	l.mu.Unlock()
	l.maybeCloseSocket(linger)
}

// maybeCloseSocket closes the transport and its socket once the listener
// is closed and no accepted session is left, after linger (see
// Session.linger).
func (l *Listener) maybeCloseSocket(linger time.Duration) {
	l.mu.Lock()
	last := l.closed && l.live == 0
	if last {
		l.live = -1 // only once
	}
	l.mu.Unlock()
	if last {
		if linger > 0 {
			time.Sleep(linger)
		}
		l.tr.Close()
		l.udp.Close()
	}
}
