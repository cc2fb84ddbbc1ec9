// Package tcp runs twine sessions over TCP, optionally with TLS.
//
// [Dial] connects and starts the client side of a session; [Listen] returns
// a [Listener] whose [Listener.Accept] yields server sides. TCP_NODELAY is
// on for every connection: twine coalesces frames itself, so Nagle's
// algorithm would only add latency to its control frames.
//
// # Errors
//
// Every error names the address it concerns, for example
//
//	twine: dial tcp 127.0.0.1:1: connect: connection refused
//	twine: tls handshake with 127.0.0.1:4433: remote error: tls: bad certificate
//
// and wraps the underlying error, so errors.Is and errors.As see through it.
//
// # Goroutines
//
// A [Listener] runs one goroutine that accepts TCP connections, and with TLS
// one more per connection while its handshake runs. [Listener.Close] stops
// them all and waits for them; [Listener.Accept] itself starts none, so a
// call abandoned when its context ends leaves nothing behind.
package tcp

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/twinemux/twine"
)

// DefaultHandshakeTimeout bounds a server-side TLS handshake unless
// [WithHandshakeTimeout] says otherwise.
const DefaultHandshakeTimeout = 10 * time.Second

// Option changes how [Dial] or [Listen] set up connections.
type Option func(*options)

type options struct {
	tls              *tls.Config
	handshakeTimeout time.Duration
}

func collect(opts []Option) options {
	o := options{handshakeTimeout: DefaultHandshakeTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithTLS makes Dial and Listen run TLS over the TCP connection, with cfg,
// before the twine session starts. For Dial, an empty cfg.ServerName is
// taken from the address's host, as tls.Dial does; for Listen, cfg must
// carry a certificate. cfg is not modified.
func WithTLS(cfg *tls.Config) Option {
	return func(o *options) { o.tls = cfg }
}

// WithHandshakeTimeout bounds each TLS handshake a [Listener] runs for an
// incoming connection; a client that does not complete it in time is
// disconnected. The default is [DefaultHandshakeTimeout]. It does not apply
// to Dial, whose handshake is bounded by its context.
func WithHandshakeTimeout(d time.Duration) Option {
	return func(o *options) { o.handshakeTimeout = d }
}

// Dial connects to addr over TCP with TCP_NODELAY on, runs the TLS handshake
// if [WithTLS] is given, and starts the client side of a twine session with
// cfg (nil for the defaults). Connecting and the handshake are bounded by
// ctx; once Dial returns, ctx no longer matters. On error nothing is left
// open.
func Dial(ctx context.Context, addr string, cfg *twine.Config, opts ...Option) (*twine.Session, error) {
	o := collect(opts)
	if err := cfg.Validate(); err != nil {
		return nil, &Error{Op: "dial", Addr: addr, Err: err}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		// A *net.OpError already says "dial tcp <addr>: ...".
		return nil, &Error{Err: err}
	}
	setNoDelay(conn)
	if o.tls != nil {
		tc := tls.Client(conn, clientTLSConfig(o.tls, addr))
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, &Error{Op: "tls handshake with", Addr: addr, Err: err}
		}
		conn = tc
	}
	sess, err := twine.Client(conn, cfg)
	if err != nil {
		conn.Close()
		return nil, &Error{Op: "dial", Addr: addr, Err: err}
	}
	return sess, nil
}

// clientTLSConfig returns cfg, or a copy with ServerName taken from addr
// when cfg has none and does not skip verification.
func clientTLSConfig(cfg *tls.Config, addr string) *tls.Config {
	if cfg.ServerName != "" || cfg.InsecureSkipVerify {
		return cfg
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	c := cfg.Clone()
	c.ServerName = host
	return c
}

func setNoDelay(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		// Go turns it on by default; say so explicitly. The call fails only
		// on a closed socket, which the session will report.
		_ = tc.SetNoDelay(true)
	}
}

// Error is the error Dial, Listen and Accept return: what was being done,
// to which address, and why.
type Error struct {
	Op   string // "dial", "listen", "accept from", "tls handshake with"; empty when Err names both
	Addr string
	Err  error
}

func (e *Error) Error() string {
	cause := strings.TrimPrefix(e.Err.Error(), "twine: ")
	if e.Op == "" {
		return "twine: " + cause
	}
	return fmt.Sprintf("twine: %s %s: %s", e.Op, e.Addr, cause)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }
