package main

import (
	"net"

	"github.com/twinemux/twine/bench/internal/workload"
)

// library is one contender: how to make its transport for a workload that
// keeps up to streams streams live at once, and what settings that uses.
type library struct {
	name   string
	module string // the Go module measured, for its version
	// transport returns the library's transport for a workload of streams
	// live streams, with defaults unless a default makes the workload
	// impossible; then override says what was changed and why.
	transport func(streams int) (t workload.Transport, override string)
	// settings describes the defaults in use.
	settings string
}

// listenTCP listens on loopback for the TCP-based muxers.
func listenTCP() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// tcpMuxListener accepts TCP connections and starts a server session on
// each.
type tcpMuxListener struct {
	l      net.Listener
	server func(net.Conn) (workload.Session, error)
}

func (l *tcpMuxListener) Accept() (workload.Session, error) {
	c, err := l.l.Accept()
	if err != nil {
		return nil, err
	}
	s, err := l.server(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

func (l *tcpMuxListener) Addr() string { return l.l.Addr().String() }
func (l *tcpMuxListener) Close() error { return l.l.Close() }

// dialTCP dials addr and starts a client session on the connection.
func dialTCP(addr string, client func(net.Conn) (workload.Session, error)) (workload.Session, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	s, err := client(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}
