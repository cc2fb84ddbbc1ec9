package main

import (
	"context"
	"fmt"
	"net"

	yamux "github.com/libp2p/go-yamux/v5"

	"github.com/twinemux/twine/bench/internal/workload"
)

// goYamuxDefaultStreams is go-yamux's default MaxIncomingStreams.
const goYamuxDefaultStreams = 1000

var goYamuxLib = library{
	name:   "go-yamux",
	module: "github.com/libp2p/go-yamux/v5",
	settings: "DefaultConfig(), no memory manager: AcceptBacklog 256, MaxIncomingStreams 1000, InitialStreamWindowSize 256 KiB, " +
		"MaxStreamWindowSize 16 MiB, MaxMessageSize 64 KiB, ReadBufSize 4 KiB, WriteCoalesceDelay 100 µs, keepalive 30 s, LogOutput stderr",
	transport: func(streams int) (workload.Transport, string) {
		cfg := yamux.DefaultConfig()
		if streams <= goYamuxDefaultStreams {
			return goYamuxTransport{cfg}, ""
		}
		cfg.MaxIncomingStreams = uint32(streams)
		return goYamuxTransport{cfg}, fmt.Sprintf("MaxIncomingStreams %d (default %d is below the workload's %d live streams)", streams, goYamuxDefaultStreams, streams)
	},
}

type goYamuxTransport struct{ cfg *yamux.Config }

func (goYamuxTransport) Name() string { return "go-yamux" }

func (t goYamuxTransport) Listen() (workload.Listener, error) {
	l, err := listenTCP()
	if err != nil {
		return nil, err
	}
	return &tcpMuxListener{l: l, server: func(c net.Conn) (workload.Session, error) {
		s, err := yamux.Server(c, t.cfg, nil)
		return goYamuxSession{s}, err
	}}, nil
}

func (t goYamuxTransport) Dial(addr string) (workload.Session, error) {
	return dialTCP(addr, func(c net.Conn) (workload.Session, error) {
		s, err := yamux.Client(c, t.cfg, nil)
		return goYamuxSession{s}, err
	})
}

type goYamuxSession struct{ s *yamux.Session }

func (s goYamuxSession) Open() (workload.Stream, error) {
	return s.s.OpenStream(context.Background())
}

func (s goYamuxSession) Accept() (workload.Stream, error) {
	return s.s.AcceptStream()
}

func (s goYamuxSession) Close() error { return s.s.Close() }
