// Package workload holds the benchmark workloads shared by the go test
// benchmarks in package bench and the comparison program in bench/compare,
// so that every library is measured by the same code.
//
// A workload runs over a [Transport]: a way to make a pair of connected
// sessions whose streams are plain byte streams. Raw TCP is a transport too:
// its "session" opens a new TCP connection per stream, which is the baseline
// a multiplexer is measured against.
//
// Each workload is set up once (untimed), then driven one operation at a
// time by a harness (testing.B's Loop, or the comparison program's timed
// runs), then drained and closed.
package workload

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// Stream is what a workload needs of a stream.
type Stream interface {
	io.ReadWriteCloser // Close releases both directions
	// CloseWrite sends FIN after the data written; the peer reads io.EOF.
	// It returns errors.ErrUnsupported where the library has no half-close.
	CloseWrite() error
}

// Session opens and accepts streams over one connection.
type Session interface {
	// Open opens a stream. Some libraries (QUIC) announce a stream only
	// with its first byte, so workloads write before the peer accepts.
	Open() (Stream, error)
	Accept() (Stream, error)
	Close() error
}

// Listener accepts sessions.
type Listener interface {
	Accept() (Session, error)
	Addr() string
	Close() error
}

// Transport makes sessions over loopback.
type Transport interface {
	Name() string
	Listen() (Listener, error)
	Dial(addr string) (Session, error)
}

// Pair is a connected client and server session, and their listener.
type Pair struct {
	Client, Server Session
	l              Listener
	closeOnce      sync.Once
}

// NewPair listens on loopback, dials, and returns both ends.
func NewPair(t Transport) (*Pair, error) {
	l, err := t.Listen()
	if err != nil {
		return nil, fmt.Errorf("%s: listen: %w", t.Name(), err)
	}
	type accepted struct {
		s   Session
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		s, err := l.Accept()
		ch <- accepted{s, err}
	}()
	c, err := t.Dial(l.Addr())
	if err != nil {
		l.Close()
		<-ch
		return nil, fmt.Errorf("%s: dial: %w", t.Name(), err)
	}
	a := <-ch
	if a.err != nil {
		c.Close()
		l.Close()
		return nil, fmt.Errorf("%s: accept session: %w", t.Name(), a.err)
	}
	return &Pair{Client: c, Server: a.s, l: l}, nil
}

// Close closes both sessions and the listener. Repeat calls are no-ops.
func (p *Pair) Close() {
	p.closeOnce.Do(func() {
		p.Client.Close()
		p.Server.Close()
		p.l.Close()
	})
}

// OpenTagged opens a stream on p.Client whose first byte is tag, and
// accepts it on p.Server, consuming the tag.
func (p *Pair) OpenTagged(tag byte) (client, server Stream, err error) {
	cs, err := p.Client.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("open: %w", err)
	}
	if _, err := cs.Write([]byte{tag}); err != nil {
		cs.Close()
		return nil, nil, fmt.Errorf("write tag: %w", err)
	}
	ss, err := p.Server.Accept()
	if err != nil {
		cs.Close()
		return nil, nil, fmt.Errorf("accept: %w", err)
	}
	var got [1]byte
	if _, err := io.ReadFull(ss, got[:]); err != nil || got[0] != tag {
		cs.Close()
		ss.Close()
		return nil, nil, fmt.Errorf("read tag %q: got %q, %v", tag, got[0], err)
	}
	return cs, ss, nil
}

// OpenMany opens n streams on p.Client and accepts them on p.Server
// concurrently (some libraries block an opener until the peer accepts).
// Each stream carries one tag byte, consumed by the acceptor. The i-th
// client stream need not be the i-th server stream.
func (p *Pair) OpenMany(n int) (client, server []Stream, err error) {
	return OpenMany(p.Client, p.Server, n)
}

// OpenMany opens n streams on opener and accepts them on acceptor; see
// [Pair.OpenMany].
func OpenMany(opener, acceptor Session, n int) (opened, accepted []Stream, err error) {
	acceptErr := make(chan error, 1)
	accepted = make([]Stream, 0, n)
	go func() {
		var tag [1]byte
		for range n {
			s, err := acceptor.Accept()
			if err != nil {
				acceptErr <- fmt.Errorf("accept stream %d: %w", len(accepted), err)
				return
			}
			accepted = append(accepted, s)
			if _, err := io.ReadFull(s, tag[:]); err != nil {
				acceptErr <- fmt.Errorf("read tag of stream %d: %w", len(accepted), err)
				return
			}
		}
		acceptErr <- nil
	}()
	opened, err = OpenN(opener, n)
	if err != nil {
		// The acceptor waits for streams that will not come: closing the
		// sessions is the caller's job, which unblocks it.
		return opened, nil, err
	}
	if err := <-acceptErr; err != nil {
		return opened, accepted, err
	}
	return opened, accepted, nil
}

// OpenN opens n streams on s and writes one tag byte on each.
func OpenN(s Session, n int) ([]Stream, error) {
	streams := make([]Stream, 0, n)
	tag := []byte{'o'}
	for i := range n {
		st, err := s.Open()
		if err != nil {
			return streams, fmt.Errorf("open stream %d: %w", i, err)
		}
		streams = append(streams, st)
		if _, err := st.Write(tag); err != nil {
			return streams, fmt.Errorf("write tag of stream %d: %w", i, err)
		}
	}
	return streams, nil
}

// AcceptN accepts n streams on s and reads each one's tag byte.
func AcceptN(s Session, n int) ([]Stream, error) {
	streams := make([]Stream, 0, n)
	var tag [1]byte
	for i := range n {
		st, err := s.Accept()
		if err != nil {
			return streams, fmt.Errorf("accept stream %d: %w", i, err)
		}
		streams = append(streams, st)
		if _, err := io.ReadFull(st, tag[:]); err != nil {
			return streams, fmt.Errorf("read tag of stream %d: %w", i, err)
		}
	}
	return streams, nil
}

// CloseAll closes every stream.
func CloseAll(streams []Stream) {
	for _, s := range streams {
		s.Close()
	}
}

// TCP is the raw TCP baseline: each stream is its own loopback TCP
// connection, so N streams are N connections.
type TCP struct{}

// Name returns "raw".
func (TCP) Name() string { return "raw" }

// Listen listens on 127.0.0.1.
func (TCP) Listen() (Listener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return &tcpListener{l: l}, nil
}

// Dial returns a session whose Open dials addr.
func (TCP) Dial(addr string) (Session, error) { return newTCPSession(addr, nil), nil }

type tcpListener struct {
	l      net.Listener
	handed bool
}

// Accept hands out the one server session, whose Accept accepts
// connections.
func (l *tcpListener) Accept() (Session, error) {
	if l.handed {
		return nil, errors.New("raw tcp: one session per listener")
	}
	l.handed = true
	return newTCPSession("", l.l), nil
}

func (l *tcpListener) Addr() string { return l.l.Addr().String() }
func (l *tcpListener) Close() error { return l.l.Close() }

// tcpSession is raw TCP's "session": the client side dials a connection per
// stream, the server side accepts them. Like a multiplexer's session, its
// Close ends every stream still open.
type tcpSession struct {
	addr string       // client side
	l    net.Listener // server side

	mu     sync.Mutex
	conns  map[*tcpStream]struct{}
	closed bool
}

func newTCPSession(addr string, l net.Listener) *tcpSession {
	return &tcpSession{addr: addr, l: l, conns: map[*tcpStream]struct{}{}}
}

// tcpStream is one connection of a tcpSession.
type tcpStream struct {
	*net.TCPConn
	sess *tcpSession
}

func (s *tcpStream) Close() error {
	s.sess.mu.Lock()
	delete(s.sess.conns, s)
	s.sess.mu.Unlock()
	return s.TCPConn.Close()
}

func (s *tcpSession) track(c net.Conn) (Stream, error) {
	st := &tcpStream{TCPConn: c.(*net.TCPConn), sess: s}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	s.conns[st] = struct{}{}
	return st, nil
}

func (s *tcpSession) Open() (Stream, error) {
	if s.l != nil {
		return nil, errors.New("raw tcp: the server side only accepts")
	}
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		return nil, err
	}
	return s.track(c)
}

func (s *tcpSession) Accept() (Stream, error) {
	if s.l == nil {
		return nil, errors.New("raw tcp: the client side only opens")
	}
	c, err := s.l.Accept()
	if err != nil {
		return nil, err
	}
	return s.track(c)
}

// Close closes every connection still open; the listener is closed by
// [Pair.Close].
func (s *tcpSession) Close() error {
	s.mu.Lock()
	s.closed = true
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for c := range conns {
		c.TCPConn.Close()
	}
	return nil
}
