package twine

import (
	"net"
	"time"

	"github.com/twinemux/twine/frame"
	"github.com/twinemux/twine/mux"
)

const (
	// maxQueuedControlFrames bounds the control frames waiting to be sent;
	// a peer that makes us queue more (pings while never reading, say)
	// ends the session.
	maxQueuedControlFrames = 10000
	// maxBatchBytes bounds the DATA payload of one connection write, and so
	// how long a control frame can wait behind bulk data.
	maxBatchBytes = 128 << 10
	// maxBatchFrames bounds the DATA frames of one connection write.
	maxBatchFrames = 256
	// closeFlushTimeout bounds how long a closing session tries to flush its
	// last control frames (GOAWAY) before closing the connection.
	closeFlushTimeout = time.Second
)

// sendQueue is what waits to be written. Guarded by Session.sendMu.
type sendQueue struct {
	ctrl       []byte // encoded control frames, in order
	ctrlFrames int
	ready      []*Stream // streams with something to send, round-robin order
	readyHead  int
	connCredit sendCredit // the peer's session window
	maxPayload int        // the peer's max DATA payload
	closing    bool       // flush ctrl, then the write loop exits
	failed     bool       // a connection write failed: write nothing more
	closeTimer *time.Timer

	// writing is the writer role: whoever holds it (the write loop, or a
	// Write sending its own data) owns Session.batch and is the only one
	// writing to the connection.
	writing bool
}

// batch is one connection write: control frames first, then DATA frames
// whose payloads are the writers' own buffers.
type batch struct {
	scratch  []byte // control frames and DATA headers
	segs     []segment
	frames   int // control and DATA frames
	bufs     net.Buffers
	out      net.Buffers // bufs as consumed by WriteTo
	coalesce []byte      // the whole batch in one buffer, for conns without writev
}

// segment is a DATA frame: its header ends at scratch[end], its payload is
// a writer's buffer.
type segment struct {
	end     int
	payload []byte
	st      *Stream
	fin     bool
}

// queueControl appends one control frame with appendFrame, under sendMu, and
// wakes the write loop. It reports false if the control queue overflowed:
// the caller must end the session. Frames queued once the session is
// closing are dropped.
func (s *Session) queueControl(appendFrame func([]byte) []byte) bool {
	s.sendMu.Lock()
	if s.sq.closing {
		s.sendMu.Unlock()
		return true
	}
	s.sq.ctrl = appendFrame(s.sq.ctrl)
	s.sq.ctrlFrames++
	ok := s.sq.ctrlFrames <= maxQueuedControlFrames
	s.sendMu.Unlock()
	s.wakeWriter()
	return ok
}

// queue sends a control frame the peer's behaviour asked for, ending the
// session if the peer let too many pile up.
func (s *Session) queue(appendFrame func([]byte) []byte) {
	if !s.queueControl(appendFrame) {
		s.shutdown(&mux.SessionError{Code: mux.CodeEnhanceYourCalm, Reason: "too many control frames queued: the peer does not read"}, mux.CodeEnhanceYourCalm)
	}
}

func (s *Session) queueWindow(id, inc uint32) {
	s.queue(func(b []byte) []byte { return frame.AppendWindow(b, id, inc) })
}

func (s *Session) queueRST(id uint32, code mux.ErrorCode) {
	s.queue(func(b []byte) []byte { return frame.AppendRST(b, id, code) })
}

func (s *Session) queueStop(id uint32, code mux.ErrorCode) {
	s.queue(func(b []byte) []byte { return frame.AppendStop(b, id, code) })
}

func (s *Session) queuePing(ack bool, data [8]byte) {
	s.queue(func(b []byte) []byte { return frame.AppendPing(b, ack, data) })
}

func (s *Session) queueStreams(count uint32) {
	s.queue(func(b []byte) []byte { return frame.AppendStreams(b, count) })
}

// queueOpenLocked announces a new local stream with an empty DATA|OPEN
// frame. The caller holds s.mu, so OPEN frames leave in id order.
func (s *Session) queueOpenLocked(id uint32) {
	s.queueControl(func(b []byte) []byte {
		return frame.AppendHeader(b, frame.Header{Type: frame.TypeData, Flags: frame.FlagOpen, StreamID: id})
	})
}

func (s *Session) wakeWriter() {
	select {
	case s.writeWake <- struct{}{}:
	default:
	}
}

// schedule puts st in the round-robin of streams with something to send,
// and wakes the write loop.
func (s *Session) schedule(st *Stream) {
	s.sendMu.Lock()
	s.enqueueLocked(st)
	s.sendMu.Unlock()
	s.wakeWriter()
}

func (s *Session) enqueueLocked(st *Stream) {
	if !st.send.queued && !s.sq.closing {
		st.send.queued = true
		s.sq.ready = append(s.sq.ready, st)
	}
}

// connCreditExhausted reports whether the peer's session window is used up.
func (s *Session) connCreditExhausted() bool {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.sq.connCredit.avail == 0
}

// addConnCredit applies a session WINDOW increment; false on overflow.
func (s *Session) addConnCredit(inc uint32) bool {
	s.sendMu.Lock()
	ok := s.sq.connCredit.add(inc)
	s.sendMu.Unlock()
	s.wakeWriter()
	return ok
}

// writeLoop writes what is queued whenever no Write does it itself. It
// exits after a failed connection write, or once the session is closing and
// its last control frames are flushed; it then closes the connection, which
// ends the read loop.
func (s *Session) writeLoop() {
	defer s.loops.Done()
	for {
		wrote, over := s.writeBatch(nil)
		if over {
			break
		}
		if !wrote {
			<-s.writeWake
		}
	}
	s.sendMu.Lock()
	if s.sq.closeTimer != nil {
		s.sq.closeTimer.Stop()
	}
	s.sendMu.Unlock()
	s.conn.Close()
}

// writeBatch makes one connection write of what is queued, if it can take
// the writer role. A Write calls it with its stream, which it queues first:
// when nothing else is queued, the Write then sends its own data without a
// hand-off to the write loop. The write loop calls it with nil.
// It reports whether it wrote, and whether writing is over for the session
// (closing with nothing left to flush, or a failed write).
func (s *Session) writeBatch(own *Stream) (wrote, over bool) {
	b := &s.batch
	s.sendMu.Lock()
	if own != nil {
		// Only a lone sender writes for itself: with other frames queued,
		// the write loop serves everyone in turn.
		others := len(s.sq.ctrl) > 0 || s.sq.readyHead < len(s.sq.ready)
		s.enqueueLocked(own)
		if others {
			s.sendMu.Unlock()
			s.wakeWriter()
			return false, false
		}
	}
	if s.sq.writing {
		s.sendMu.Unlock()
		return false, false
	}
	closing := s.fillLocked(b)
	if len(b.scratch) == 0 {
		s.sendMu.Unlock()
		return false, closing
	}
	s.sq.writing = true
	s.sendMu.Unlock()

	err := s.flush(b)
	s.completeBatch(b)

	s.sendMu.Lock()
	s.sq.writing = false
	s.sq.failed = s.sq.failed || err != nil
	// What was queued meanwhile is the write loop's to send, and a
	// closing session's write loop must see it can exit. (The write loop
	// itself goes round again after a write.)
	pending := own != nil && (len(s.sq.ctrl) > 0 || s.sq.readyHead < len(s.sq.ready) || s.sq.closing)
	s.sendMu.Unlock()
	if err != nil {
		s.shutdown(s.connLost(err, "write"), mux.CodeInternal)
	}
	if pending {
		s.wakeWriter()
	}
	return true, err != nil
}

// fillLocked takes the queued control frames, then DATA frames
// round-robin, into b. It reports whether the session is closing (then it
// takes no DATA). After a failed write it takes nothing.
func (s *Session) fillLocked(b *batch) (closing bool) {
	b.scratch, b.segs, b.frames = b.scratch[:0], b.segs[:0], 0
	q := &s.sq
	if !q.failed {
		b.scratch = append(b.scratch, q.ctrl...)
		b.frames = q.ctrlFrames
	}
	q.ctrl, q.ctrlFrames = q.ctrl[:0], 0
	if q.closing || q.failed {
		return true
	}
	budget := maxBatchBytes
	idle := 0 // streams popped in a row that gave no frame and went back in the list
	for q.readyHead < len(q.ready) && budget > 0 && len(b.segs) < maxBatchFrames && idle < len(q.ready)-q.readyHead {
		st := q.ready[q.readyHead]
		q.ready[q.readyHead] = nil
		q.readyHead++
		chunk, flags, ok, more := st.send.take(q.maxPayload, q.connCredit.avail)
		if ok {
			idle = 0
			q.connCredit.take(len(chunk))
			budget -= len(chunk)
			b.scratch = frame.AppendHeader(b.scratch, frame.Header{
				Length: uint32(len(chunk)), Type: frame.TypeData, Flags: flags, StreamID: st.id,
			})
			b.segs = append(b.segs, segment{end: len(b.scratch), payload: chunk, st: st, fin: flags&frame.FlagFIN != 0})
			b.frames++
		} else if more {
			idle++ // back in the list without a frame: count it to stop cycling
		}
		if more {
			q.ready = append(q.ready, st)
		} else {
			st.send.queued = false
		}
	}
	if q.readyHead == len(q.ready) {
		q.ready, q.readyHead = q.ready[:0], 0
	} else if q.readyHead > len(q.ready)/2 {
		n := copy(q.ready, q.ready[q.readyHead:])
		clear(q.ready[n:])
		q.ready, q.readyHead = q.ready[:n], 0
	}
	return false
}

// flush writes b to the connection in one write: vectored where the
// connection supports it, else copied into one buffer.
func (s *Session) flush(b *batch) error {
	if s.cfg.PeerTimeout > 0 {
		// A connection that accepts nothing for PeerTimeout means a
		// stalled peer.
		s.conn.SetWriteDeadline(time.Now().Add(s.cfg.PeerTimeout))
	}
	if !s.vectored {
		b.coalesce = b.coalesce[:0]
		prev := 0
		for _, sg := range b.segs {
			b.coalesce = append(b.coalesce, b.scratch[prev:sg.end]...)
			b.coalesce = append(b.coalesce, sg.payload...)
			prev = sg.end
		}
		b.coalesce = append(b.coalesce, b.scratch[prev:]...)
		n, err := s.conn.Write(b.coalesce)
		s.countSent(b, int64(n), err)
		return err
	}
	b.bufs = b.bufs[:0]
	prev := 0
	for _, sg := range b.segs {
		b.bufs = append(b.bufs, b.scratch[prev:sg.end])
		if len(sg.payload) > 0 {
			b.bufs = append(b.bufs, sg.payload)
		}
		prev = sg.end
	}
	if prev < len(b.scratch) {
		b.bufs = append(b.bufs, b.scratch[prev:])
	}
	b.out = b.bufs
	n, err := b.out.WriteTo(s.conn)
	s.countSent(b, n, err)
	return err
}

func (s *Session) countSent(b *batch, n int64, err error) {
	s.stats.bytesSent.Add(uint64(n))
	if err == nil {
		s.stats.framesSent.Add(uint64(b.frames))
	}
}

// completeBatch releases the writers' buffers of a written batch, and
// finishes streams whose FIN went out.
func (s *Session) completeBatch(b *batch) {
	for i, sg := range b.segs {
		if len(sg.payload) > 0 {
			sg.st.send.chunkWritten()
		}
		if sg.fin {
			s.maybeFinish(sg.st)
		}
		b.segs[i] = segment{}
	}
	clear(b.bufs)
}
