package main

import (
	"net"

	"github.com/hashicorp/yamux"

	"github.com/twinemux/twine/bench/internal/workload"
)

// hashicorp/yamux has no stream limit; AcceptBacklog only bounds streams
// not yet accepted, and the workloads accept as they go.
var yamuxLib = library{
	name:   "yamux",
	module: "github.com/hashicorp/yamux",
	settings: "DefaultConfig(): AcceptBacklog 256, MaxStreamWindowSize 256 KiB, keepalive 30 s, " +
		"ConnectionWriteTimeout 10 s, StreamOpenTimeout 75 s, StreamCloseTimeout 5 min, LogOutput stderr",
	transport: func(int) (workload.Transport, string) { return yamuxTransport{}, "" },
}

type yamuxTransport struct{}

func (yamuxTransport) Name() string { return "yamux" }

func (yamuxTransport) Listen() (workload.Listener, error) {
	l, err := listenTCP()
	if err != nil {
		return nil, err
	}
	return &tcpMuxListener{l: l, server: func(c net.Conn) (workload.Session, error) {
		s, err := yamux.Server(c, yamux.DefaultConfig())
		return yamuxSession{s}, err
	}}, nil
}

func (yamuxTransport) Dial(addr string) (workload.Session, error) {
	return dialTCP(addr, func(c net.Conn) (workload.Session, error) {
		s, err := yamux.Client(c, yamux.DefaultConfig())
		return yamuxSession{s}, err
	})
}

type yamuxSession struct{ s *yamux.Session }

func (s yamuxSession) Open() (workload.Stream, error) {
	st, err := s.s.OpenStream()
	if err != nil {
		return nil, err
	}
	return yamuxStream{st}, nil
}

func (s yamuxSession) Accept() (workload.Stream, error) {
	st, err := s.s.AcceptStream()
	if err != nil {
		return nil, err
	}
	return yamuxStream{st}, nil
}

func (s yamuxSession) Close() error { return s.s.Close() }

// yamuxStream: hashicorp/yamux's Close is a half-close (it sends FIN and
// reading goes on), so it serves as CloseWrite too; the stream is released
// once both sides closed.
type yamuxStream struct{ *yamux.Stream }

func (s yamuxStream) CloseWrite() error { return s.Stream.Close() }
