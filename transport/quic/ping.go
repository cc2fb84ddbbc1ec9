package quic

import (
	"context"
	"encoding/binary"
	"sync"
	"time"
)

// Liveness datagrams (see the package doc): a type byte and an 8-byte id,
// which the PONG echoes.
const (
	datagramPing = 0x01
	datagramPong = 0x02
	datagramSize = 9
)

// keepAliveID is the id of the keepalive PINGs, which nobody waits on; the
// PINGs of Ping calls count from 1.
const keepAliveID = 0

// datagram is a liveness datagram: its type byte, then its id.
type datagram [datagramSize]byte

func newDatagram(typ byte, id uint64) datagram {
	var d datagram
	d[0] = typ
	binary.BigEndian.PutUint64(d[1:], id)
	return d
}

// sendQueueLen bounds the datagrams waiting for the send loop; more are
// dropped, as the network may drop them.
const sendQueueLen = 32

// pings holds the PINGs that Ping calls wait on, by id.
type pings struct {
	mu      sync.Mutex
	lastID  uint64
	waiting map[uint64]pingWait
}

type pingWait struct {
	sent time.Time
	done chan<- time.Duration // cap 1
}

// add records a PING about to be sent for done and returns its id.
func (p *pings) add(done chan<- time.Duration) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waiting == nil {
		p.waiting = make(map[uint64]pingWait)
	}
	p.lastID++
	p.waiting[p.lastID] = pingWait{sent: time.Now(), done: done}
	return p.lastID
}

// answer hands the round-trip time to whoever waits on the PING id, if
// anyone does and nothing was handed to them yet.
func (p *pings) answer(id uint64) {
	now := time.Now()
	p.mu.Lock()
	w, ok := p.waiting[id]
	p.mu.Unlock()
	if !ok {
		return
	}
	select {
	case w.done <- now.Sub(w.sent):
	default:
	}
}

// forget drops the PINGs a returning Ping call sent.
func (p *pings) forget(ids []uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		delete(p.waiting, id)
	}
}

// Ping sends a PING datagram and returns the round-trip time when the
// peer's PONG arrives. Datagrams may be lost, so while none arrives it
// sends another PING after three probe timeouts (20 ms to 2 s, doubling
// each time) and returns the round trip of the first PING answered. It
// blocks until then, until ctx ends (returning ctx's error), or until the
// session ends (returning the session's error).
func (s *Session) Ping(ctx context.Context) (time.Duration, error) {
	done := make(chan time.Duration, 1)
	var ids []uint64
	defer func() { s.pings.forget(ids) }()
	wait := s.probeWait()
	retry := time.NewTimer(wait)
	defer retry.Stop()
	for {
		id := s.pings.add(done)
		ids = append(ids, id)
		s.queueDatagram(newDatagram(datagramPing, id))
		select {
		case rtt := <-done:
			return rtt, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-s.Done():
			return 0, s.Err()
		case <-retry.C:
			wait = min(2*wait, maxProbeWait)
			retry.Reset(wait)
		}
	}
}

// Bounds of probeWait.
const (
	minProbeWait = 20 * time.Millisecond
	maxProbeWait = 2 * time.Second
)

// probeWait returns three probe timeouts of the connection (RFC 9002's,
// without the peer's ACK delay), from 20 ms to 2 s: long enough for a
// packet that was not lost to be answered.
func (s *Session) probeWait() time.Duration {
	stats := s.conn.ConnectionStats()
	pto := stats.SmoothedRTT + max(4*stats.MeanDeviation, time.Millisecond)
	return min(max(3*pto, minProbeWait), maxProbeWait)
}

// queueDatagram queues d for the send loop, or drops it when the queue is
// full.
func (s *Session) queueDatagram(d datagram) {
	select {
	case s.sendQueue <- d:
	default:
	}
}

// recvLoop receives datagrams: it has PINGs answered and hands PONGs to
// the Ping calls waiting on them. Other datagrams are ignored. It exits
// when the connection ends, then tears the session down.
func (s *Session) recvLoop() {
	defer s.loops.Done()
	defer s.teardown()
	ctx := s.conn.Context()
	for {
		b, err := s.conn.ReceiveDatagram(ctx)
		if err != nil {
			return
		}
		if len(b) != datagramSize {
			continue
		}
		switch b[0] {
		case datagramPing:
			pong := datagram(b)
			pong[0] = datagramPong
			s.queueDatagram(pong)
		case datagramPong:
			s.pings.answer(binary.BigEndian.Uint64(b[1:]))
		}
	}
}

// sendLoop sends the queued datagrams, apart from the timer, Ping and the
// receive loop because sending blocks while quic-go's datagram queue is
// full. It exits when the connection ends.
func (s *Session) sendLoop() {
	defer s.loops.Done()
	done := s.conn.Context().Done()
	for {
		select {
		case <-done:
			return
		case d := <-s.sendQueue:
			// An error means the connection ended, seen at the next select.
			_ = s.conn.SendDatagram(d[:])
		}
	}
}
