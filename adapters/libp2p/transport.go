package libp2ptwine

import (
	"fmt"
	"net"
	"sync"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/twinemux/twine"
)

// ID is the protocol id under which go-libp2p negotiates twine.
const ID = "/twine/1.0.0"

// DefaultTransport runs sessions with twine's default Config.
var DefaultTransport = &Transport{}

// Transport is a network.Multiplexer that runs a twine session over each
// connection go-libp2p hands it. Register it with
// libp2p.Muxer(ID, transport).
type Transport struct {
	// Config tunes every session; the zero value means twine's defaults.
	// Its windows are capped by what the connection's peer scope grants
	// (see the package doc). NewConn reports an invalid Config.
	Config twine.Config
}

var _ network.Multiplexer = (*Transport)(nil)

// NewConn starts a twine session over nc: the server side if isServer,
// the client side otherwise. It returns at once, without waiting for the
// peer. scope may be nil; otherwise the session's receive windows are
// reserved from it and capped to what it grants, and NewConn fails, leaving
// nc open, if it grants less than one stream window.
func (t *Transport) NewConn(nc net.Conn, isServer bool, scope network.PeerScope) (network.MuxedConn, error) {
	cfg, err := t.Config.Resolved()
	if err != nil {
		return nil, err
	}
	mem := &memory{scope: scope}
	if scope != nil {
		granted, err := reserveBudget(scope, cfg.SessionWindow, cfg.InitialStreamWindow)
		if err != nil {
			return nil, fmt.Errorf("twine: reserving the session's receive budget of at least %d bytes: %w", cfg.InitialStreamWindow, err)
		}
		cfg.SessionWindow = granted
		cfg.InitialSessionWindow = min(cfg.InitialSessionWindow, granted)
		mem.reserved = int(granted)
	}

	start := twine.Client
	if isServer {
		start = twine.Server
	}
	sess, err := start(nc, &cfg)
	if err != nil {
		mem.releaseAll()
		return nil, err
	}
	return &conn{sess: sess, mem: mem, streamWindow: int(cfg.InitialStreamWindow)}, nil
}

// reserveBudget reserves the session's receive budget from scope: want
// bytes at low priority, halved until granted; at minimum, least bytes at
// any utilisation. It returns the amount reserved.
func reserveBudget(scope network.PeerScope, want, least uint32) (uint32, error) {
	for n := want; n > least; n /= 2 {
		if scope.ReserveMemory(int(n), network.ReservationPriorityLow) == nil {
			return n, nil
		}
	}
	if err := scope.ReserveMemory(int(least), network.ReservationPriorityAlways); err != nil {
		return 0, err
	}
	return least, nil
}

// memory keeps account of what a connection reserved from its peer scope,
// so that closing the connection releases all of it exactly once.
type memory struct {
	scope network.PeerScope // nil: no accounting

	mu       sync.Mutex
	reserved int
	closed   bool // everything was released; later calls do nothing
}

// reserve reserves n bytes for a stream window at any utilisation. After
// the connection closed it reserves nothing and succeeds: the session
// refuses the stream anyway.
func (m *memory) reserve(n int) error {
	if m.scope == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	if err := m.scope.ReserveMemory(n, network.ReservationPriorityAlways); err != nil {
		return err
	}
	m.reserved += n
	return nil
}

// release gives back n bytes that reserve took, unless releaseAll already
// did.
func (m *memory) release(n int) {
	if m.scope == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.reserved -= n
	m.scope.ReleaseMemory(n)
}

// releaseAll gives back everything still reserved. Repeat calls do nothing.
func (m *memory) releaseAll() {
	if m.scope == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.closed = true
	if m.reserved > 0 {
		m.scope.ReleaseMemory(m.reserved)
	}
	m.reserved = 0
}
