package twine

import (
	"errors"
	"fmt"
	"io"
	"time"

	pool "github.com/libp2p/go-buffer-pool"

	"github.com/twinemux/twine/frame"
	"github.com/twinemux/twine/mux"
)

// maxControlPayload is the largest payload of a known control frame.
const maxControlPayload = 6 * frame.MaxSettings

// maxJunkFrames bounds the frames in a row that carry nothing: unknown
// types and empty DATA without flags. A peer that sends more ends the
// session; any DATA with payload resets the count.
const maxJunkFrames = 10000

// readLoop is the session's only reader of the connection. It parses and
// dispatches frames and never blocks on a stream. It exits when reading
// fails (the connection closed) or the peer breaks the protocol, ending the
// session.
func (s *Session) readLoop() {
	defer s.loops.Done()
	err := s.readFrames()
	var pe *mux.ProtocolError
	if errors.As(err, &pe) {
		s.shutdown(&mux.SessionError{Code: pe.Code, Err: pe}, pe.Code)
		return
	}
	s.shutdown(s.connLost(err, "read"), mux.CodeInternal)
}

// readFrames reads the preface, then frames until an error.
func (s *Session) readFrames() error {
	br := newConnReader(s.conn)
	defer br.release()
	var hdr [frame.HeaderLen]byte
	n, err := io.ReadFull(br, hdr[:len(frame.Preface)])
	if err != nil && n == 0 {
		return err
	}
	// A connection that closed within the preface still gets named.
	if err := frame.CheckPreface(hdr[:n]); err != nil {
		return err
	}
	var ctrl [maxControlPayload]byte
	junk := 0
	for first := true; ; first = false {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return err
		}
		h, err := frame.ParseHeader(hdr[:], s.cfg.MaxFramePayload)
		if err != nil {
			return err
		}
		s.markAlive()
		s.stats.framesReceived.Add(1)
		s.stats.bytesReceived.Add(uint64(frame.HeaderLen) + uint64(h.Length))
		if first != (h.Type == frame.TypeSettings) {
			rule := "SETTINGS must be the first frame, and only the first"
			return &mux.ProtocolError{FrameType: h.Type.String(), StreamID: uint64(h.StreamID), Rule: rule, Code: mux.CodeProtocol}
		}
		switch {
		case h.Type == frame.TypeData && h.Length > 0:
			junk = 0
		case !h.Type.Known(), h.Type == frame.TypeData && h.Flags == 0:
			if junk++; junk > maxJunkFrames {
				return protocolError(h, mux.CodeEnhanceYourCalm, "more than %d frames in a row without data", maxJunkFrames)
			}
		}
		switch {
		case h.Type == frame.TypeData:
			err = s.handleData(br, h)
		case !h.Type.Known():
			err = br.Discard(int(h.Length))
		default:
			payload := ctrl[:h.Length]
			if _, err = io.ReadFull(br, payload); err != nil {
				return err
			}
			var f frame.Frame
			if f, err = frame.ParsePayload(h, payload); err == nil {
				err = s.handleControl(f)
			}
		}
		if err != nil {
			return err
		}
		s.markAlive()
	}
}

func protocolError(h frame.Header, code mux.ErrorCode, format string, args ...any) error {
	return &mux.ProtocolError{FrameType: h.Type.String(), StreamID: uint64(h.StreamID), Rule: fmt.Sprintf(format, args...), Code: code}
}

// handleData checks a DATA frame against the stream and session windows
// before reading its payload into a pooled buffer owned by the stream.
func (s *Session) handleData(br *connReader, h frame.Header) error {
	var st *Stream
	if h.Flags&frame.FlagOpen != 0 {
		var err error
		if st, err = s.acceptNew(h); err != nil {
			return err
		}
	} else if st = s.lookup(h); st == nil && !s.existed(h.StreamID) {
		return protocolError(h, mux.CodeProtocol, "stream was never opened")
	}
	if !s.admitConn(h.Length) {
		return protocolError(h, mux.CodeFlowControl, "%d bytes exceed the session window", h.Length)
	}
	keep := false
	if st != nil {
		var fits bool
		if fits, keep = st.recv.admit(h.Length); !fits {
			return protocolError(h, mux.CodeFlowControl, "%d bytes exceed the stream window", h.Length)
		}
	}
	if !keep {
		// A finished, refused or no longer reading stream: discard, and
		// give the session credit back at once.
		if err := br.Discard(int(h.Length)); err != nil {
			return err
		}
		s.consumed(h.StreamID, int(h.Length), 0)
		return nil
	}
	var buf []byte
	if h.Length > 0 {
		buf = pool.Get(int(h.Length))
		if _, err := io.ReadFull(br, buf); err != nil {
			pool.Put(buf)
			return err
		}
	}
	fin := h.Flags&frame.FlagFIN != 0
	if discarded := st.recv.deliver(buf, fin); discarded > 0 {
		s.consumed(h.StreamID, discarded, 0)
	}
	if fin {
		s.maybeFinish(st)
	}
	return nil
}

// acceptNew registers a stream the peer opens with DATA|OPEN, checking its
// id and the stream credit granted to the peer. It returns nil (and no
// error) for a stream refused because the session is going away.
func (s *Session) acceptNew(h frame.Header) (*Stream, error) {
	id := h.StreamID
	s.mu.Lock()
	switch {
	case !s.isPeerID(id):
		s.mu.Unlock()
		return nil, protocolError(h, mux.CodeProtocol, "the peer may not open a stream with this id's parity")
	case id <= s.lastPeerID:
		last := s.lastPeerID
		s.mu.Unlock()
		return nil, protocolError(h, mux.CodeProtocol, "new stream id is not above the last one, %d", last)
	case s.peerOpened >= s.granted:
		granted := s.granted
		s.mu.Unlock()
		return nil, protocolError(h, mux.CodeStreamLimit, "the peer opened more streams than the %d granted", granted)
	}
	s.lastPeerID = id
	s.peerOpened++
	if s.goingAway || s.closed {
		refuse := !s.closed
		s.mu.Unlock()
		if refuse {
			s.queueRST(id, mux.CodeRefusedStream)
		}
		return nil, nil
	}
	st := newStream(s, id, s.peerInitialWindow, s.cfg.InitialStreamWindow)
	s.streams[id] = st
	s.peerLive++
	s.acceptQ = append(s.acceptQ, st)
	broadcast(&s.acceptWake)
	s.mu.Unlock()
	return st, nil
}

// lookup returns the live stream h is for, or nil.
func (s *Session) lookup(h frame.Header) *Stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[h.StreamID]
}

// existed reports whether a stream with this id was ever opened.
func (s *Session) existed(id uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isPeerID(id) {
		return id <= s.lastPeerID
	}
	return id < s.nextLocalID
}

// lookupExisting returns the live stream of a control frame, nil for one
// that finished (the frame is then ignored), and an error for a stream
// that never existed.
func (s *Session) lookupExisting(h frame.Header) (*Stream, error) {
	if st := s.lookup(h); st != nil {
		return st, nil
	}
	if !s.existed(h.StreamID) {
		return nil, protocolError(h, mux.CodeProtocol, "stream was never opened")
	}
	return nil, nil
}

// handleControl applies a control frame.
func (s *Session) handleControl(f frame.Frame) error {
	switch f.Type {
	case frame.TypeWindow:
		return s.handleWindow(f)
	case frame.TypeRST, frame.TypeStop:
		st, err := s.lookupExisting(f.Header)
		if st == nil {
			return err
		}
		serr := &mux.StreamError{StreamID: uint64(f.StreamID), Code: f.Code, Remote: true}
		if f.Type == frame.TypeRST {
			st.send.abort(sendAborted, serr)
			_, freed := st.recv.abort(serr, false)
			s.consumed(st.id, freed, 0)
			s.dropUnaccepted(st)
			s.event(EventStreamReset, st.id, serr)
		} else {
			st.send.abort(sendStopped, serr)
			s.event(EventStreamStopped, st.id, serr)
		}
		st.send.signal()
		s.maybeFinish(st)
	case frame.TypePing:
		if f.Flags&frame.FlagACK != 0 {
			s.handlePingAck(f.Ping)
		} else {
			s.queuePing(true, f.Ping)
		}
	case frame.TypeGoAway:
		s.mu.Lock()
		goAway := &mux.SessionError{Code: f.Code, Remote: true, Reason: f.Reason}
		s.remoteGoAway = goAway
		broadcast(&s.openWake)
		s.mu.Unlock()
		s.event(EventGoAwayReceived, 0, goAway)
	case frame.TypeSettings:
		s.applySettings(f.Settings)
	case frame.TypeStreams:
		s.mu.Lock()
		if f.Increment > s.openCredit {
			s.openCredit = f.Increment
			broadcast(&s.openWake)
		}
		s.mu.Unlock()
	}
	return nil
}

func (s *Session) handleWindow(f frame.Frame) error {
	if f.StreamID == 0 {
		if !s.addConnCredit(f.Increment) {
			return protocolError(f.Header, mux.CodeFlowControl, "increment %d overflows the session window", f.Increment)
		}
		return nil
	}
	st, err := s.lookupExisting(f.Header)
	if st == nil {
		return err
	}
	ok, ready := st.send.addCredit(f.Increment)
	if !ok {
		return protocolError(f.Header, mux.CodeFlowControl, "increment %d overflows the stream window", f.Increment)
	}
	if ready {
		s.schedule(st)
	}
	return nil
}

// applySettings takes the peer's one SETTINGS frame; absent settings keep
// the protocol's defaults.
func (s *Session) applySettings(settings []frame.Setting) {
	initialWindow := uint32(defaultInitialStreamWindow)
	maxPayload := uint32(defaultMaxFramePayload)
	credit := uint32(defaultAcceptBacklog)
	connWindow := uint32(defaultSessionWindow)
	for _, st := range settings {
		switch st.ID {
		case frame.SettingInitialStreamWindow:
			initialWindow = st.Value
		case frame.SettingMaxFramePayload:
			maxPayload = st.Value
		case frame.SettingInitialStreamCredit:
			credit = st.Value
		case frame.SettingSessionWindow:
			connWindow = st.Value
		}
	}
	s.sendMu.Lock()
	s.sq.maxPayload = int(maxPayload)
	s.sq.connCredit.avail = uint64(connWindow)
	s.sendMu.Unlock()
	s.mu.Lock()
	s.peerInitialWindow = initialWindow
	s.openCredit = max(s.openCredit, credit)
	broadcast(&s.openWake)
	s.mu.Unlock()
	s.wakeWriter()
}

// admitConn accounts n arriving DATA bytes against the session window.
func (s *Session) admitConn(n uint32) bool {
	s.connRecvMu.Lock()
	defer s.connRecvMu.Unlock()
	return s.connRecv.receive(n)
}

// consumed returns n bytes read or discarded on stream id to the session
// window, and sends the WINDOW updates due: inc for the stream, and the
// session's own.
func (s *Session) consumed(id uint32, n int, inc uint32) {
	if inc > 0 {
		s.queueWindow(id, inc)
		s.maybeSampleRTT()
	}
	if n == 0 {
		return
	}
	s.connRecvMu.Lock()
	var connInc uint32
	if s.connRecv.consumeDue(n) {
		s.connRecv.autoTune(time.Now(), s.ka.recentMinRTT(), uint64(s.cfg.SessionWindow), func(uint64) bool { return true })
		connInc = s.connRecv.advance()
	}
	s.connRecvMu.Unlock()
	if connInc > 0 {
		s.queueWindow(0, connInc)
	}
}

// dropUnaccepted takes a stream the peer reset out of the accept queue: the
// application never sees it, so opening and resetting streams at line rate
// costs it nothing.
func (s *Session) dropUnaccepted(st *Stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, q := range s.acceptQ {
		if q == st {
			s.acceptQ = append(s.acceptQ[:i], s.acceptQ[i+1:]...)
			return
		}
	}
}
