package twine

import (
	"sync/atomic"
	"time"
)

// Stats is a snapshot of a session's counters, from [Session.Stats].
type Stats struct {
	// SmoothedRTT is the moving average of the round trips measured by
	// PINGs; MinRTT the smallest of about the last 10 s, which window
	// auto-tuning uses. Both are 0 before the first measurement.
	SmoothedRTT time.Duration
	MinRTT      time.Duration

	// Bytes and frames written to and read from the connection, headers
	// included.
	BytesSent, BytesReceived   uint64
	FramesSent, FramesReceived uint64

	// OpenStreams is the number of streams not yet finished.
	OpenStreams int

	// SessionWindow is the session-wide window granted to the peer: the
	// most it may have sent and we not yet read. SessionCredit is what the
	// peer's session window lets us send now.
	SessionWindow uint64
	SessionCredit uint64
	// StreamWindowGrowth is how far auto-tuning grew the stream receive
	// windows beyond their initial size, all live streams together.
	StreamWindowGrowth uint64

	// FlowControlBlocked is the total time Writes spent waiting for window
	// credit from the peer, all streams together.
	FlowControlBlocked time.Duration

	// SinceLastReceived is how long ago the last frame arrived.
	SinceLastReceived time.Duration
}

// counters are the session's traffic counters.
type counters struct {
	bytesSent, bytesReceived   atomic.Uint64
	framesSent, framesReceived atomic.Uint64
	flowBlocked                atomic.Int64 // nanoseconds
}

// Stats returns a snapshot of the session's counters. It is cheap, and safe
// to call at any time, also after the session ended.
func (s *Session) Stats() Stats {
	st := Stats{
		SmoothedRTT:        s.ka.smoothedRTT(),
		MinRTT:             s.ka.recentMinRTT(),
		BytesSent:          s.stats.bytesSent.Load(),
		BytesReceived:      s.stats.bytesReceived.Load(),
		FramesSent:         s.stats.framesSent.Load(),
		FramesReceived:     s.stats.framesReceived.Load(),
		StreamWindowGrowth: uint64(max(s.windowGrowth.Load(), 0)),
		FlowControlBlocked: time.Duration(s.stats.flowBlocked.Load()),
		SinceLastReceived:  s.sinceStart() - time.Duration(s.ka.lastRecv.Load()),
	}
	s.mu.Lock()
	st.OpenStreams = len(s.streams)
	s.mu.Unlock()
	s.sendMu.Lock()
	st.SessionCredit = s.sq.connCredit.avail
	s.sendMu.Unlock()
	s.connRecvMu.Lock()
	st.SessionWindow = s.connRecv.size
	s.connRecvMu.Unlock()
	return st
}

// EventKind says what an [Event] reports.
type EventKind uint8

// The events a session reports to [Config.OnEvent].
const (
	// EventSessionEnded: the session ended; Err says why.
	EventSessionEnded EventKind = iota + 1
	// EventGoAwayReceived: the peer sent GOAWAY; Err carries its code and
	// reason.
	EventGoAwayReceived
	// EventStreamReset: the peer reset stream StreamID; Err carries the
	// code.
	EventStreamReset
	// EventStreamStopped: the peer stopped reading stream StreamID
	// (CloseRead); Err carries the code.
	EventStreamStopped
)

var eventNames = [...]string{
	EventSessionEnded:   "session ended",
	EventGoAwayReceived: "GOAWAY received",
	EventStreamReset:    "stream reset by the peer",
	EventStreamStopped:  "stream stopped by the peer",
}

func (k EventKind) String() string {
	if int(k) < len(eventNames) && eventNames[k] != "" {
		return eventNames[k]
	}
	return "unknown event"
}

// Event is something that happened to a session, reported to
// [Config.OnEvent].
type Event struct {
	Kind     EventKind
	StreamID uint32 // for stream events
	Err      error  // a *mux.SessionError, *mux.StreamError or mux.ErrPeerUnresponsive
}

// event reports e to the configured hook, if any.
func (s *Session) event(kind EventKind, id uint32, err error) {
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(Event{Kind: kind, StreamID: id, Err: err})
	}
}
