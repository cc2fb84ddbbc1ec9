package libp2ptwine

import (
	"errors"
	"net"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"
)

// newPair returns the client and server ends of tr's sessions over a
// loopback TCP connection, each with its scope (nil for none). Both are
// closed when the test ends.
func newPair(t *testing.T, tr *Transport, clientScope, serverScope network.PeerScope) (client, server network.MuxedConn) {
	t.Helper()
	clientConn, serverConn := tcpConns(t)
	client, err := tr.NewConn(clientConn, false, clientScope)
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	server, err = tr.NewConn(serverConn, true, serverScope)
	require.NoError(t, err)
	t.Cleanup(func() { server.Close() })
	return client, server
}

// tcpConns returns both ends of a loopback TCP connection, closed when the
// test ends.
func tcpConns(t *testing.T) (dialed, accepted net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		ch <- result{c, err}
	}()
	dialed, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { dialed.Close() })
	r := <-ch
	require.NoError(t, r.err)
	t.Cleanup(func() { r.conn.Close() })
	return dialed, r.conn
}

// reservation is one ReserveMemory call a recordingScope granted or refused.
type reservation struct {
	size    int
	prio    uint8
	granted bool
}

// recordingScope is a network.PeerScope that records every reservation,
// refuses those its refuse function picks, and fails the test if more
// memory is released than is reserved.
type recordingScope struct {
	t      *testing.T
	refuse func(size int, prio uint8) bool // nil: grant everything

	mu       sync.Mutex
	reserved int
	calls    []reservation
}

var _ network.PeerScope = (*recordingScope)(nil)

func newScope(t *testing.T, refuse func(size int, prio uint8) bool) *recordingScope {
	return &recordingScope{t: t, refuse: refuse}
}

func (s *recordingScope) ReserveMemory(size int, prio uint8) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	granted := s.refuse == nil || !s.refuse(size, prio)
	s.calls = append(s.calls, reservation{size, prio, granted})
	if !granted {
		return network.ErrResourceLimitExceeded
	}
	s.reserved += size
	return nil
}

func (s *recordingScope) ReleaseMemory(size int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if size > s.reserved {
		s.t.Errorf("released %d bytes with only %d reserved", size, s.reserved)
	}
	s.reserved -= size
}

// Reserved returns the bytes currently reserved.
func (s *recordingScope) Reserved() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reserved
}

// Calls returns every ReserveMemory call so far.
func (s *recordingScope) Calls() []reservation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]reservation(nil), s.calls...)
}

func (s *recordingScope) Stat() network.ScopeStat {
	return network.ScopeStat{Memory: int64(s.Reserved())}
}

func (s *recordingScope) BeginSpan() (network.ResourceScopeSpan, error) {
	return nil, errors.New("recordingScope: spans are not used by the adapter")
}

func (s *recordingScope) Peer() peer.ID { return "" }
