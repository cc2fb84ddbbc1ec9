package twine

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twinemux/twine/mux"
)

const (
	// rttSampleInterval is how old the last RTT sample may grow before a
	// window update asks for a fresh one with a PING.
	rttSampleInterval = time.Second
	// minRTTLifetime is how long the minimum RTT sample stands before a
	// newer, larger sample replaces it, so that a path whose delay grew is
	// seen within this time.
	minRTTLifetime = 10 * time.Second
	// eagerRTTSamples is how many samples window updates ask for without
	// waiting rttSampleInterval, so that the minimum is known early.
	eagerRTTSamples = 4
	// startupPing is the id of the PING sent as the session starts.
	startupPing = 1
)

// keepalive holds the session's liveness state: when a frame last arrived,
// the PINGs in flight, and the round-trip times they measure.
type keepalive struct {
	lastRecv   atomic.Int64 // nanoseconds since session start
	srtt       atomic.Int64 // nanoseconds; 0 before the first sample
	lastSample atomic.Int64 // nanoseconds since session start

	// The smallest recent RTT sample, and when it was taken: the path's
	// delay without the queueing that bulk transfers add to samples.
	minRTT   atomic.Int64 // nanoseconds; 0 before the first sample
	minRTTAt atomic.Int64 // nanoseconds since session start
	samples  atomic.Int64 // RTT samples taken

	pingMu   sync.Mutex
	timer    *time.Timer // nil when detection is off; guarded by Session.mu
	nextID   uint64
	inFlight map[uint64]pingWait // guarded by pingMu
	// internalOut is the PING sent by keepalive or RTT sampling still in
	// flight, if any (0: none); guarded by pingMu.
	internalOut uint64
}

type pingWait struct {
	sent time.Duration      // since session start
	done chan time.Duration // nil for internal pings
}

func (s *Session) sinceStart() time.Duration { return time.Since(s.start) }

// markAlive records that a frame arrived.
func (s *Session) markAlive() { s.ka.lastRecv.Store(int64(s.sinceStart())) }

// startKeepalive arms the liveness timer, and sends the first PING. Its
// round trip includes the peer's start-up, so it is no RTT sample.
func (s *Session) startKeepalive() {
	s.sendInternalPing()
	if s.cfg.PeerTimeout > 0 {
		s.ka.timer = time.AfterFunc(s.cfg.KeepAliveInterval, s.checkAlive)
	}
}

// checkAlive runs on the liveness timer: it ends the session once the peer
// was silent for PeerTimeout, sends a PING once it was silent for
// KeepAliveInterval, and re-arms the timer for the next of those moments.
func (s *Session) checkAlive() {
	silent := s.sinceStart() - time.Duration(s.ka.lastRecv.Load())
	if silent >= s.cfg.PeerTimeout {
		s.shutdown(mux.ErrPeerUnresponsive, mux.CodePeerUnresponsive)
		return
	}
	next := s.cfg.KeepAliveInterval - silent
	if silent >= s.cfg.KeepAliveInterval {
		s.sendInternalPing()
		next = s.cfg.PeerTimeout - silent
	}
	s.mu.Lock()
	if !s.closed {
		s.ka.timer.Reset(next)
	}
	s.mu.Unlock()
}

// stop stops the liveness timer. The caller holds Session.mu.
func (k *keepalive) stop() {
	if k.timer != nil {
		k.timer.Stop()
	}
}

// sendInternalPing sends a keepalive or RTT PING, unless one is in flight.
func (s *Session) sendInternalPing() {
	s.ka.pingMu.Lock()
	if s.ka.internalOut != 0 {
		s.ka.pingMu.Unlock()
		return
	}
	data := s.ka.registerLocked(s.sinceStart(), nil)
	s.ka.internalOut = binary.BigEndian.Uint64(data[:])
	s.ka.pingMu.Unlock()
	s.queuePing(false, data)
}

// maybeSampleRTT sends an RTT PING when the last sample is getting old, or
// while there are few.
func (s *Session) maybeSampleRTT() {
	if s.ka.samples.Load() < eagerRTTSamples || s.sinceStart()-time.Duration(s.ka.lastSample.Load()) >= rttSampleInterval {
		s.sendInternalPing()
	}
}

// register records a PING about to be sent and returns its payload.
func (k *keepalive) register(now time.Duration, done chan time.Duration) [8]byte {
	k.pingMu.Lock()
	defer k.pingMu.Unlock()
	return k.registerLocked(now, done)
}

func (k *keepalive) registerLocked(now time.Duration, done chan time.Duration) [8]byte {
	if k.inFlight == nil {
		k.inFlight = make(map[uint64]pingWait)
	}
	k.nextID++
	k.inFlight[k.nextID] = pingWait{sent: now, done: done}
	var data [8]byte
	binary.BigEndian.PutUint64(data[:], k.nextID)
	return data
}

// unregister forgets a PING whose caller stopped waiting.
func (k *keepalive) unregister(data [8]byte) {
	k.pingMu.Lock()
	defer k.pingMu.Unlock()
	delete(k.inFlight, binary.BigEndian.Uint64(data[:]))
}

// handlePingAck completes the PING the ACK answers and updates the smoothed
// RTT. An ACK for no PING of ours is ignored.
func (s *Session) handlePingAck(data [8]byte) {
	id := binary.BigEndian.Uint64(data[:])
	now := s.sinceStart()
	s.ka.pingMu.Lock()
	w, ok := s.ka.inFlight[id]
	delete(s.ka.inFlight, id)
	if id == s.ka.internalOut {
		s.ka.internalOut = 0
	}
	s.ka.pingMu.Unlock()
	if !ok {
		return
	}
	rtt := now - w.sent
	if id != startupPing {
		s.ka.updateRTT(rtt, now)
	}
	if w.done != nil {
		w.done <- rtt // buffered, and sent to once
	}
}

// updateRTT takes an RTT sample. It runs on the read loop only.
func (k *keepalive) updateRTT(sample, now time.Duration) {
	k.samples.Add(1)
	k.lastSample.Store(int64(now))
	if m := time.Duration(k.minRTT.Load()); m == 0 || sample <= m || now-time.Duration(k.minRTTAt.Load()) > minRTTLifetime {
		k.minRTT.Store(int64(sample))
		k.minRTTAt.Store(int64(now))
	}
	old := time.Duration(k.srtt.Load())
	if old == 0 {
		k.srtt.Store(int64(sample))
		return
	}
	k.srtt.Store(int64(old - old/8 + sample/8))
}

func (k *keepalive) smoothedRTT() time.Duration { return time.Duration(k.srtt.Load()) }

// recentMinRTT returns the smallest RTT sample of about the last
// minRTTLifetime, 0 before the first.
func (k *keepalive) recentMinRTT() time.Duration { return time.Duration(k.minRTT.Load()) }
