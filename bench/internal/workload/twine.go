package workload

import (
	"context"
	"net"

	"github.com/twinemux/twine"
)

// Twine runs twine sessions over loopback TCP. Config nil means defaults.
type Twine struct {
	Config *twine.Config
}

// Name returns "twine".
func (Twine) Name() string { return "twine" }

// Listen listens on 127.0.0.1; each accepted connection is a server session.
func (t Twine) Listen() (Listener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return &twineListener{l: l, cfg: t.Config}, nil
}

// Dial dials addr and starts a client session.
func (t Twine) Dial(addr string) (Session, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	s, err := twine.Client(c, t.Config)
	if err != nil {
		c.Close()
		return nil, err
	}
	return twineSession{s}, nil
}

type twineListener struct {
	l   net.Listener
	cfg *twine.Config
}

func (l *twineListener) Accept() (Session, error) {
	c, err := l.l.Accept()
	if err != nil {
		return nil, err
	}
	s, err := twine.Server(c, l.cfg)
	if err != nil {
		c.Close()
		return nil, err
	}
	return twineSession{s}, nil
}

func (l *twineListener) Addr() string { return l.l.Addr().String() }
func (l *twineListener) Close() error { return l.l.Close() }

type twineSession struct{ s *twine.Session }

func (s twineSession) Open() (Stream, error) {
	return s.s.OpenStream(context.Background())
}

func (s twineSession) Accept() (Stream, error) {
	return s.s.AcceptStream(context.Background())
}

func (s twineSession) Close() error { return s.s.Close() }
