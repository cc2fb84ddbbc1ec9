package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/twinemux/twine"
	"github.com/twinemux/twine/internal/testcert"
	"github.com/twinemux/twine/mux"
	"github.com/twinemux/twine/transport/quic"
	"github.com/twinemux/twine/transport/tcp"
)

// transport is one of twine's back ends as the commands use it: the same
// mux.Session and mux.Stream behind either.
type transport struct {
	name string // "tcp" or "quic", as -transport spells it
	// listen listens on addr and returns server sessions with the default
	// Config.
	listen func(addr string) (*listener, error)
	// dial connects to addr and returns the client side of a session with
	// cfg (nil for the defaults).
	dial func(ctx context.Context, addr string, cfg *twine.Config) (mux.Session, error)
	// newProxy starts a freezable proxy to serverAddr for this transport's
	// packets (see proxy).
	newProxy func(serverAddr string) (*proxy, error)
}

// listener is a tcp.Listener or a quic.Listener.
type listener struct {
	network string // the transport's name
	addr    net.Addr
	accept  func(ctx context.Context) (mux.Session, error)
	close   func() error
}

// tcpTransport is twine's own framing over TCP.
var tcpTransport = transport{
	name: "tcp",
	listen: func(addr string) (*listener, error) {
		ln, err := tcp.Listen(addr, nil)
		if err != nil {
			return nil, err
		}
		return &listener{network: "tcp", addr: ln.Addr(), accept: asMux(ln.Accept), close: ln.Close}, nil
	},
	dial: func(ctx context.Context, addr string, cfg *twine.Config) (mux.Session, error) {
		return asMux(func(ctx context.Context) (*twine.Session, error) { return tcp.Dial(ctx, addr, cfg) })(ctx)
	},
	newProxy: newTCPProxy,
}

// quicTransport is twine over QUIC's native streams. A listener presents
// serverTLS's certificate; a client checks the server's against clientTLS.
func quicTransport(serverTLS, clientTLS *tls.Config) transport {
	return transport{
		name: "quic",
		listen: func(addr string) (*listener, error) {
			ln, err := quic.Listen(addr, serverTLS, nil)
			if err != nil {
				return nil, err
			}
			return &listener{network: "quic", addr: ln.Addr(), accept: asMux(ln.Accept), close: ln.Close}, nil
		},
		dial: func(ctx context.Context, addr string, cfg *twine.Config) (mux.Session, error) {
			return asMux(func(ctx context.Context) (*quic.Session, error) { return quic.Dial(ctx, addr, clientTLS, cfg) })(ctx)
		},
		newProxy: newUDPProxy,
	}
}

// loopbackTransports returns both transports, QUIC with a fresh self-signed
// certificate for 127.0.0.1 that its clients trust.
func loopbackTransports() ([]transport, error) {
	serverTLS, clientTLS, err := testcert.Configs()
	if err != nil {
		return nil, fmt.Errorf("making a TLS certificate for QUIC: %w", err)
	}
	return []transport{tcpTransport, quicTransport(serverTLS, clientTLS)}, nil
}

// asMux turns a function returning a concrete session into one returning a
// mux.Session, nil on error (not a typed nil in a non-nil interface).
func asMux[S mux.Session](f func(context.Context) (S, error)) func(context.Context) (mux.Session, error) {
	return func(ctx context.Context) (mux.Session, error) {
		s, err := f(ctx)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}
