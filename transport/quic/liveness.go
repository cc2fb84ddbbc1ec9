package quic

import (
	"sync"
	"time"

	"github.com/twinemux/twine/mux"
)

// Liveness datagrams (see the package doc).
const (
	datagramPing = 0x01
	datagramPong = 0x02
)

// liveness watches the connection's received-packet count on a timer. Its
// fields are guarded by mu.
type liveness struct {
	mu       sync.Mutex
	timer    *time.Timer // nil when detection is off
	period   time.Duration
	stopped  bool
	packets  uint64    // the received-packet count last seen
	lastSeen time.Time // when the count was last seen to grow
	lastPing time.Time
	ticks    sync.WaitGroup // a timer armed or its callback running
}

// startLiveness arms the liveness timer, unless detection is off.
func (s *Session) startLiveness() {
	if s.set.peerTimeout <= 0 {
		return
	}
	l := &s.live
	l.mu.Lock()
	defer l.mu.Unlock()
	l.period = max(s.set.peerTimeout/16, time.Millisecond)
	l.packets = s.conn.ConnectionStats().PacketsReceived
	l.lastSeen = time.Now()
	l.ticks.Add(1)
	l.timer = time.AfterFunc(l.period, s.checkLiveness)
}

// checkLiveness is the liveness timer's callback. It notes whether packets
// arrived since the last check, owes the peer a PING after KeepAliveInterval
// of silence (and again every KeepAliveInterval while it lasts), and ends
// the session after PeerTimeout of silence. The silence it measures starts
// no earlier than the last packet's arrival, so the verdict is never early,
// and at most one period late.
func (s *Session) checkLiveness() {
	defer s.live.ticks.Done()
	now := time.Now()
	packets := s.conn.ConnectionStats().PacketsReceived
	l := &s.live
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return
	}
	if packets != l.packets {
		l.packets, l.lastSeen = packets, now
	}
	silence := now.Sub(l.lastSeen)
	dead := silence >= s.set.peerTimeout
	ping := !dead && silence >= s.set.keepAlive && now.Sub(l.lastPing) >= s.set.keepAlive
	if ping {
		l.lastPing = now
	}
	if !dead {
		l.ticks.Add(1)
		l.timer.Reset(l.period)
	}
	l.mu.Unlock()

	if ping {
		owe(s.pingOwed)
	}
	if dead {
		s.closeWith(mux.ErrPeerUnresponsive, mux.CodePeerUnresponsive, "")
	}
}

// stopLiveness stops the liveness timer and waits for a running callback.
func (s *Session) stopLiveness() {
	l := &s.live
	l.mu.Lock()
	l.stopped = true
	if l.timer != nil && l.timer.Stop() {
		l.ticks.Done()
	}
	l.mu.Unlock()
	l.ticks.Wait()
}

func owe(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// recvLoop receives datagrams and has PINGs answered. It exits when the
// connection ends, then tears the session down.
func (s *Session) recvLoop() {
	defer s.loops.Done()
	defer s.teardown()
	ctx := s.conn.Context()
	for {
		b, err := s.conn.ReceiveDatagram(ctx)
		if err != nil {
			return
		}
		if len(b) > 0 && b[0] == datagramPing {
			owe(s.pongOwed)
		}
	}
}

// sendLoop sends the PINGs and PONGs owed, apart from the timer and the
// receive loop because sending blocks while quic-go's datagram queue is
// full. It exits when the connection ends.
func (s *Session) sendLoop() {
	defer s.loops.Done()
	done := s.conn.Context().Done()
	ping, pong := []byte{datagramPing}, []byte{datagramPong}
	for {
		var msg []byte
		select {
		case <-done:
			return
		case <-s.pongOwed:
			msg = pong
		case <-s.pingOwed:
			msg = ping
		}
		// An error means the connection ended, seen at the next select.
		_ = s.conn.SendDatagram(msg)
	}
}
