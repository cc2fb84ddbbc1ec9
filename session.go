package twine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twinemux/twine/frame"
	"github.com/twinemux/twine/mux"
)

// Session multiplexes streams over one net.Conn with twine's framing. Make
// one with [Client] on the dialing side and [Server] on the accepting side.
// It implements [mux.Session], and net.Listener so that http.Serve(session,
// handler) serves the peer's streams. All methods are safe for concurrent
// use.
//
// A session runs two goroutines, a read loop and a write loop, plus timers;
// none per stream. Both loops exit when the session ends, and Close waits
// for them.
//
// Lock order: mu, then sendMu, then a half's mu; connRecvMu and the
// keepalive's pingMu are leaves. Nothing holds a lock across connection I/O
// or a blocking channel operation.
type Session struct {
	conn     net.Conn
	cfg      Config
	client   bool
	vectored bool // conn supports writev through net.Buffers
	start    time.Time

	mu                sync.Mutex
	streams           map[uint32]*Stream // live streams
	nextLocalID       uint32
	localOpened       uint32        // streams we opened
	openCredit        uint32        // streams the peer lets us open, cumulative
	openWake          chan struct{} // closed when openCredit grows or a GOAWAY arrives
	peerInitialWindow uint32
	lastPeerID        uint32
	peerOpened        uint32 // streams the peer opened
	peerLive          uint32 // peer-opened streams not finished
	granted           uint32 // streams the peer may open, cumulative
	acceptQ           []*Stream
	acceptWake        chan struct{} // closed when a stream joins acceptQ
	drainWake         chan struct{} // closed when the last live stream finishes
	goingAway         bool          // we sent GOAWAY: refuse new peer streams
	remoteGoAway      *mux.SessionError
	closed            bool
	err               error
	done              chan struct{}

	sendMu    sync.Mutex
	sq        sendQueue
	writeWake chan struct{} // cap 1
	batch     batch         // the connection write being made; owned by the writer role (sq.writing)
	wakers    *sync.Pool    // token channels for the streams' Writes

	connRecvMu   sync.Mutex
	connRecv     recvWindow   // the session window we grant the peer
	windowGrowth atomic.Int64 // stream windows' growth beyond the initial, all streams

	ka    keepalive
	stats counters
	loops sync.WaitGroup
}

var (
	_ mux.Session  = (*Session)(nil)
	_ net.Listener = (*Session)(nil)
)

// Client starts the dialing side of a session over conn. It returns at once,
// without waiting for the peer; a peer that does not speak twine ends the
// session with an error naming what it sent. cfg may be nil for defaults;
// an invalid cfg is reported, naming each bad field, and conn is left open.
func Client(conn net.Conn, cfg *Config) (*Session, error) {
	return newSession(conn, cfg, true)
}

// Server starts the accepting side of a session over conn; see [Client].
func Server(conn net.Conn, cfg *Config) (*Session, error) {
	return newSession(conn, cfg, false)
}

func newSession(conn net.Conn, cfgIn *Config, client bool) (*Session, error) {
	cfg, err := cfgIn.Resolved()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	s := &Session{
		conn:        conn,
		cfg:         cfg,
		client:      client,
		start:       now,
		streams:     make(map[uint32]*Stream),
		nextLocalID: 2,
		granted:     min(cfg.MaxIncomingStreams, cfg.AcceptBacklog),
		openWake:    make(chan struct{}),
		acceptWake:  make(chan struct{}),
		drainWake:   make(chan struct{}),
		done:        make(chan struct{}),
		writeWake:   make(chan struct{}, 1),
		wakers:      newWakePool(),
		connRecv:    newRecvWindow(cfg.InitialSessionWindow, now),
	}
	if client {
		s.nextLocalID = 1
	}
	switch conn.(type) {
	case *net.TCPConn, *net.UnixConn:
		s.vectored = true
	}
	s.sq.ctrl = append(s.sq.ctrl, frame.Preface...)
	s.sq.ctrl = frame.AppendSettings(s.sq.ctrl, []frame.Setting{
		{ID: frame.SettingInitialStreamWindow, Value: cfg.InitialStreamWindow},
		{ID: frame.SettingMaxFramePayload, Value: cfg.MaxFramePayload},
		{ID: frame.SettingInitialStreamCredit, Value: s.granted},
		{ID: frame.SettingSessionWindow, Value: cfg.InitialSessionWindow},
	})
	s.sq.ctrlFrames = 1
	s.startKeepalive()
	s.loops.Add(2)
	go s.readLoop()
	go s.writeLoop()
	return s, nil
}

func (s *Session) isPeerID(id uint32) bool { return (id%2 == 1) != s.client }

// broadcast wakes every waiter on *ch and arms a fresh channel. The caller
// holds s.mu.
func broadcast(ch *chan struct{}) {
	close(*ch)
	*ch = make(chan struct{})
}

// OpenStream opens a new stream; the peer's AcceptStream returns it even
// before anything is written. It blocks while the peer has granted no
// credit for another stream, until ctx ends (returning ctx's error) or the
// session ends (returning the session's error). After the peer's GOAWAY it
// fails with the peer's *mux.SessionError.
func (s *Session) OpenStream(ctx context.Context) (mux.Stream, error) {
	for {
		s.mu.Lock()
		switch {
		case s.closed:
			err := s.err
			s.mu.Unlock()
			return nil, err
		case s.remoteGoAway != nil:
			err := s.remoteGoAway
			s.mu.Unlock()
			return nil, err
		case s.nextLocalID > math.MaxUint32-2:
			s.mu.Unlock()
			return nil, errors.New("twine: stream ids exhausted")
		case s.localOpened < s.openCredit:
			id := s.nextLocalID
			s.nextLocalID += 2
			s.localOpened++
			st := newStream(s, id, s.peerInitialWindow, s.cfg.InitialStreamWindow)
			s.streams[id] = st
			s.queueOpenLocked(id)
			s.mu.Unlock()
			return st, nil
		}
		wake := s.openWake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-s.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// AcceptStream returns the next stream the peer opened, in the order it
// opened them. It blocks until one arrives, ctx ends (returning ctx's
// error) or the session ends (returning the session's error).
func (s *Session) AcceptStream(ctx context.Context) (mux.Stream, error) {
	for {
		s.mu.Lock()
		if s.closed {
			err := s.err
			s.mu.Unlock()
			return nil, err
		}
		if len(s.acceptQ) > 0 {
			st := s.acceptQ[0]
			s.acceptQ[0] = nil
			s.acceptQ = s.acceptQ[1:]
			grant := s.grantLocked()
			s.mu.Unlock()
			if grant > 0 {
				s.queueStreams(grant)
			}
			return st, nil
		}
		wake := s.acceptWake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-s.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Accept waits for the next stream the peer opens, as net.Listener's Accept.
func (s *Session) Accept() (net.Conn, error) {
	return s.AcceptStream(context.Background())
}

// Addr returns the connection's local address, as net.Listener's Addr.
func (s *Session) Addr() net.Addr { return s.LocalAddr() }

// LocalAddr returns the connection's local address.
func (s *Session) LocalAddr() net.Addr { return s.conn.LocalAddr() }

// RemoteAddr returns the connection's remote address.
func (s *Session) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// NumStreams returns how many streams are live: opened by either side and
// not yet finished in both directions.
func (s *Session) NumStreams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

// grantLocked recomputes the stream credit granted to the peer, from the
// live peer streams and the accept backlog. It returns the new cumulative
// grant to announce, or 0. Small raises are batched while the peer has
// credit left. The caller holds s.mu.
func (s *Session) grantLocked() uint32 {
	room := min(int64(s.cfg.MaxIncomingStreams)-int64(s.peerLive), int64(s.cfg.AcceptBacklog)-int64(len(s.acceptQ)))
	target := int64(s.peerOpened) + max(room, 0)
	if target <= int64(s.granted) {
		return 0
	}
	batch := max(int64(s.cfg.MaxIncomingStreams)/16, 1)
	if target-int64(s.granted) < batch && s.peerOpened < s.granted {
		return 0
	}
	s.granted = uint32(min(target, math.MaxUint32))
	return s.granted
}

// maybeFinish releases st once both its halves are terminal: it leaves the
// stream table, and a peer stream's slot is granted again.
func (s *Session) maybeFinish(st *Stream) {
	if !st.send.terminal() || !st.recv.terminal() {
		return
	}
	s.mu.Lock()
	if st.finished || s.streams[st.id] != st {
		s.mu.Unlock()
		return
	}
	st.finished = true
	delete(s.streams, st.id)
	var grant uint32
	if s.isPeerID(st.id) {
		s.peerLive--
		grant = s.grantLocked()
	}
	if len(s.streams) == 0 {
		broadcast(&s.drainWake)
	}
	s.mu.Unlock()
	st.recv.mu.Lock()
	growth := st.recv.window.size - uint64(s.cfg.InitialStreamWindow)
	st.recv.mu.Unlock()
	s.windowGrowth.Add(-int64(growth))
	if grant > 0 {
		s.queueStreams(grant)
	}
}

// tuneWindow auto-tunes a stream window about to be announced, within the
// session budget, by the recent minimum RTT: the path's delay, not the
// queueing that large windows themselves cause. It is called with the
// stream's receive lock held.
func (s *Session) tuneWindow(w *recvWindow) {
	w.autoTune(time.Now(), s.ka.recentMinRTT(), uint64(s.cfg.MaxStreamWindow), func(extra uint64) bool {
		if s.windowGrowth.Add(int64(extra)) > int64(s.cfg.SessionWindow) {
			s.windowGrowth.Add(-int64(extra))
			return false
		}
		return true
	})
}

// IsClosed reports whether the session has ended.
func (s *Session) IsClosed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Done returns a channel closed when the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended, or nil while it runs: a
// *mux.SessionError for a close by either side or a lost connection (with
// a *mux.ProtocolError inside for a peer that broke the protocol), or
// mux.ErrPeerUnresponsive.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close closes the session with code 0; see [Session.CloseWithError].
func (s *Session) Close() error { return s.CloseWithError(mux.CodeNoError) }

// CloseWithError sends GOAWAY with code, then closes the connection. Every
// pending and later call on the session and its streams fails with a
// *mux.SessionError{Code: code}; the peer's fail with the same code and
// Remote set, except that a stream closed for writing (CloseWrite, Close)
// first gets its FIN, so the peer still reads it complete, then io.EOF. It
// waits at most about a second to flush, then for the session's goroutines
// to exit. Repeat calls are no-ops.
func (s *Session) CloseWithError(code mux.ErrorCode) error {
	s.shutdown(&mux.SessionError{Code: code}, code)
	s.loops.Wait()
	return nil
}

// GoAway shuts the session down gracefully: it tells the peer with GOAWAY
// that no new streams will be accepted (later ones are refused), waits for
// the live streams to finish or ctx to end, then closes the session. It
// returns ctx's error if ctx ended first.
func (s *Session) GoAway(ctx context.Context) error {
	s.mu.Lock()
	s.goingAway = true
	last := s.lastPeerID
	s.mu.Unlock()
	s.queue(func(b []byte) []byte { return frame.AppendGoAway(b, last, mux.CodeNoError, "going away") })

	var err error
	for {
		s.mu.Lock()
		if len(s.streams) == 0 || s.closed {
			s.mu.Unlock()
			break
		}
		wake := s.drainWake
		s.mu.Unlock()
		select {
		case <-wake:
			continue
		case <-s.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		break
	}
	s.Close()
	return err
}

// Ping sends a PING and returns the round-trip time when its ACK arrives.
// It blocks until then, ctx ends or the session ends.
func (s *Session) Ping(ctx context.Context) (time.Duration, error) {
	ch := make(chan time.Duration, 1)
	id := s.ka.register(s.sinceStart(), ch)
	s.queuePing(false, id)
	select {
	case rtt := <-ch:
		return rtt, nil
	case <-ctx.Done():
		s.ka.unregister(id)
		return 0, ctx.Err()
	case <-s.done:
		s.ka.unregister(id)
		return 0, s.Err()
	}
}

// shutdown ends the session with err, once: it fails every live stream's
// halves, wakes every waiter, and has the write loop flush a GOAWAY with
// code then close the connection. It does not wait for the loops.
func (s *Session) shutdown(err error, code mux.ErrorCode) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.err = err
	streams := make([]*Stream, 0, len(s.streams))
	for _, st := range s.streams {
		streams = append(streams, st)
	}
	last := s.lastPeerID
	s.ka.stop()
	s.mu.Unlock()

	var fins []uint32 // streams whose FIN goes out before GOAWAY
	for _, st := range streams {
		if st.send.endWithSession(err) {
			fins = append(fins, st.id)
		}
		st.send.signal()
		st.recv.abort(err, false)
	}
	close(s.done)

	reason := ""
	if se, ok := err.(*mux.SessionError); ok {
		reason = se.Reason
		if se.Err != nil {
			reason = strings.TrimPrefix(se.Err.Error(), "twine: ")
		}
	}
	s.sendMu.Lock()
	for _, id := range fins {
		s.sq.ctrl = frame.AppendHeader(s.sq.ctrl, frame.Header{Type: frame.TypeData, Flags: frame.FlagFIN, StreamID: id})
	}
	s.sq.ctrl = frame.AppendGoAway(s.sq.ctrl, last, code, reason)
	s.sq.ctrlFrames += len(fins) + 1
	s.sq.closing = true
	flush := closeFlushTimeout
	if err == mux.ErrPeerUnresponsive {
		flush = 0 // nobody is reading
	}
	s.sq.closeTimer = time.AfterFunc(flush, func() { s.conn.Close() })
	s.sendMu.Unlock()
	s.wakeWriter()
	s.event(EventSessionEnded, 0, err)
}

// connLost translates a failed connection read or write into the session's
// error: the peer's GOAWAY if one arrived, a stall as
// mux.ErrPeerUnresponsive, and otherwise a *mux.SessionError that never
// matches io.EOF.
func (s *Session) connLost(err error, op string) error {
	s.mu.Lock()
	goAway := s.remoteGoAway
	s.mu.Unlock()
	if goAway != nil {
		return goAway
	}
	if errors.Is(err, os.ErrDeadlineExceeded) && s.cfg.PeerTimeout > 0 {
		return mux.ErrPeerUnresponsive
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return &mux.SessionError{Remote: true, Reason: fmt.Sprintf("connection %s failed without GOAWAY", op), Err: err}
}
