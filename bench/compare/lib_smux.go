package main

import (
	"net"

	"github.com/xtaci/smux"

	"github.com/twinemux/twine/bench/internal/workload"
)

// smux has no stream limit.
var smuxLib = library{
	name:   "smux",
	module: "github.com/xtaci/smux",
	settings: "DefaultConfig(): Version 1, MaxFrameSize 32 KiB, MaxReceiveBuffer 4 MiB (per session), " +
		"MaxStreamBuffer 64 KiB (used by version 2 only), KeepAliveInterval 10 s, KeepAliveTimeout 30 s",
	transport: func(int) (workload.Transport, string) { return smuxTransport{}, "" },
}

type smuxTransport struct{}

func (smuxTransport) Name() string { return "smux" }

func (smuxTransport) Listen() (workload.Listener, error) {
	l, err := listenTCP()
	if err != nil {
		return nil, err
	}
	return &tcpMuxListener{l: l, server: func(c net.Conn) (workload.Session, error) {
		s, err := smux.Server(c, smux.DefaultConfig())
		return smuxSession{s}, err
	}}, nil
}

func (smuxTransport) Dial(addr string) (workload.Session, error) {
	return dialTCP(addr, func(c net.Conn) (workload.Session, error) {
		s, err := smux.Client(c, smux.DefaultConfig())
		return smuxSession{s}, err
	})
}

type smuxSession struct{ s *smux.Session }

func (s smuxSession) Open() (workload.Stream, error) {
	return s.s.OpenStream()
}

func (s smuxSession) Accept() (workload.Stream, error) {
	return s.s.AcceptStream()
}

func (s smuxSession) Close() error { return s.s.Close() }
