package quic

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	quicgo "github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
	"github.com/quic-go/quic-go/qlogwriter"
)

// arrivals is a connection's qlog trace, reduced to one fact: when the last
// packet arrived that quic-go decrypted and processed. quic-go records
// events from its own goroutines, so the time is kept in an atomic.
type arrivals struct {
	base time.Time    // when the trace was made, before any packet
	last atomic.Int64 // the last arrival, in nanoseconds after base
}

// traceArrivals is the Tracer of quic-go's Config when liveness is on.
func traceArrivals(context.Context, bool, quicgo.ConnectionID) qlogwriter.Trace {
	return &arrivals{base: time.Now()}
}

// AddProducer returns the trace itself: all producers share one time.
func (a *arrivals) AddProducer() qlogwriter.Recorder { return a }

// SupportsSchemas returns false: the trace keeps no events for anyone else.
func (a *arrivals) SupportsSchemas(string) bool { return false }

// RecordEvent notes the time of a received packet and ignores all else.
func (a *arrivals) RecordEvent(e qlogwriter.Event) {
	if _, ok := e.(qlog.PacketReceived); ok {
		a.last.Store(int64(time.Since(a.base)))
	}
}

// Close does nothing: there is nothing to flush.
func (a *arrivals) Close() error { return nil }

// lastArrival returns when the last packet arrived, or when the trace was
// made if none has.
func (a *arrivals) lastArrival() time.Time {
	return a.base.Add(time.Duration(a.last.Load()))
}

// liveness runs a session's keepalive PINGs and its verdict on a silent
// peer, on one timer armed for the next moment either is due. Its inputs
// and actions are functions, so that it can run on synctest's clock.
type liveness struct {
	peerTimeout time.Duration
	keepAlive   time.Duration
	lastArrival func() time.Time
	ping        func() // queues a keepalive PING; must not block
	dead        func() // ends the session

	mu       sync.Mutex
	timer    *time.Timer
	stopped  bool
	lastPing time.Time      // when the last keepalive PING was queued
	ticks    sync.WaitGroup // the timer armed or its callback running
}

// start arms the timer for the first moment something is due.
func (l *liveness) start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ticks.Add(1)
	l.timer = time.AfterFunc(l.untilDue(time.Now(), l.lastArrival()), l.check)
}

// pingAt returns when the next keepalive PING is due, given the last
// arrival: KeepAliveInterval after it, or after the last PING if that was
// later. The caller holds mu.
func (l *liveness) pingAt(last time.Time) time.Time {
	if l.lastPing.After(last) {
		return l.lastPing.Add(l.keepAlive)
	}
	return last.Add(l.keepAlive)
}

// untilDue returns how long after now the next PING or the verdict
// (PeerTimeout after the last arrival) is due. The caller holds mu.
func (l *liveness) untilDue(now, last time.Time) time.Duration {
	return min(last.Add(l.peerTimeout).Sub(now), l.pingAt(last).Sub(now))
}

// check is the timer's callback. It ends the session once nothing arrived
// for PeerTimeout, queues a PING once nothing arrived for
// KeepAliveInterval (and again every KeepAliveInterval while that lasts),
// and re-arms the timer for the next of these moments. The verdict compares
// the clock with the last arrival itself, so it is never early, and late
// only by the timer's and the scheduler's delay.
func (l *liveness) check() {
	defer l.ticks.Done()
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return
	}
	now, last := time.Now(), l.lastArrival()
	dead := now.Sub(last) >= l.peerTimeout
	ping := !dead && !now.Before(l.pingAt(last))
	if ping {
		l.lastPing = now
	}
	if !dead {
		l.ticks.Add(1)
		l.timer.Reset(l.untilDue(now, last))
	}
	l.mu.Unlock()

	if ping {
		l.ping()
	}
	if dead {
		l.dead()
	}
}

// stop stops the timer and waits for a callback in progress. It must
// follow start.
func (l *liveness) stop() {
	l.mu.Lock()
	l.stopped = true
	if l.timer.Stop() {
		l.ticks.Done()
	}
	l.mu.Unlock()
	l.ticks.Wait()
}
