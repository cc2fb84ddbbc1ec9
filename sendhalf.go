package twine

import (
	"fmt"
	"net"
	"sync"

	"github.com/twinemux/twine/frame"
)

// sendState is the state of a stream's send half.
//
//	sendOpen ──CloseWrite──▶ sendClosing ──FIN taken by the writer, or the session ended──▶ sendFinSent
//	sendOpen, sendClosing ──STOP received──▶ sendStopped
//	sendOpen ──session ended──▶ sendAborted
//	sendOpen, sendClosing ──RST sent or received──▶ sendAborted
//
// sendFinSent, sendStopped and sendAborted are terminal.
type sendState uint8

const (
	sendOpen    sendState = iota // Write allowed
	sendClosing                  // CloseWrite called; FIN owed to the peer
	sendFinSent                  // FIN handed to the connection
	sendStopped                  // the peer's CloseRead: writes fail
	sendAborted                  // reset, or the session ended: writes fail
)

// sendHalf is a stream's sending direction. Its fields are guarded by mu.
type sendHalf struct {
	mu     sync.Mutex
	state  sendState
	err    error      // why writes fail, in sendStopped and sendAborted
	credit sendCredit // the peer's stream window

	// The Write in progress: pending is the part of its buffer the write
	// loop has not taken yet, taken how much it took, inFlight how many
	// taken chunks are still inside a connection write.
	pending  []byte
	taken    int
	inFlight int

	queued   bool  // in the write loop's ready list; guarded by Session.sendMu
	writing  bool  // a Write is in progress: Writes take turns
	turn     waker // the Writes waiting for their turn
	wake     waker // the Write in progress (its only waiter): progress, or a change of state
	deadline deadline
}

func (h *sendHalf) init(credit uint32, wakers *sync.Pool) {
	h.credit.avail = uint64(credit)
	h.wake.pool = wakers
}

// beginWrite waits for the Writes before this one to finish, or for done
// to close (it then reports false).
func (h *sendHalf) beginWrite(done func() <-chan struct{}) bool {
	h.mu.Lock()
	for h.writing {
		ch, made := h.turn.channelLocked()
		h.mu.Unlock()
		if !made {
			select {
			case <-ch:
			case <-done():
				return false
			}
		}
		h.mu.Lock()
	}
	h.writing = true
	h.mu.Unlock()
	return true
}

// endWrite lets the next Write go. The Write in progress was wake's only
// waiter: its channel goes back to the pool, so an idle stream holds none.
func (h *sendHalf) endWrite() {
	h.mu.Lock()
	h.writing = false
	h.wake.releaseLocked()
	h.turn.signalLocked()
	h.mu.Unlock()
}

// signal wakes the Write in progress.
func (h *sendHalf) signal() {
	h.mu.Lock()
	h.wake.signalLocked()
	h.mu.Unlock()
}

func (h *sendHalf) terminal() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state >= sendFinSent
}

// writeErrLocked returns why a Write cannot proceed, or nil.
func (h *sendHalf) writeErrLocked(id uint32) error {
	switch h.state {
	case sendOpen:
		return nil
	case sendStopped, sendAborted:
		return h.err
	default:
		return fmt.Errorf("twine: stream %d: write after CloseWrite: %w", id, net.ErrClosed)
	}
}

// startWrite offers p to the writer.
func (h *sendHalf) startWrite(p []byte) {
	h.pending, h.taken = p, 0
}

// take hands the write loop its next frame: a chunk of the pending Write of
// at most maxLen bytes and at most connCredit (the session window), or a
// FIN. It reports the frame's flags, whether there is a frame (ok), and
// whether the stream still has something to send with credit (more).
func (h *sendHalf) take(maxLen int, connCredit uint64) (chunk []byte, flags frame.Flags, ok, more bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case len(h.pending) > 0 && h.credit.avail > 0:
		if connCredit == 0 {
			return nil, 0, false, true
		}
		n := h.credit.take(int(min(uint64(min(len(h.pending), maxLen)), connCredit)))
		chunk, h.pending = h.pending[:n], h.pending[n:]
		h.taken += n
		h.inFlight++
		return chunk, 0, true, len(h.pending) > 0 && h.credit.avail > 0
	case h.state == sendClosing:
		h.state = sendFinSent
		return nil, frame.FlagFIN, true, false
	}
	return nil, 0, false, false
}

// chunkWritten is called by the write loop once a taken chunk went out; it
// wakes the Write once none of its chunks is in flight.
func (h *sendHalf) chunkWritten() {
	h.mu.Lock()
	h.inFlight--
	if h.inFlight == 0 {
		h.wake.signalLocked()
	}
	h.mu.Unlock()
}

// creditExhausted reports whether the Write in progress waits for the
// peer's stream window.
func (h *sendHalf) creditExhausted() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.pending) > 0 && h.credit.avail == 0
}

// addCredit applies a WINDOW increment. It reports false on overflow, and
// whether the write loop can now take pending data.
func (h *sendHalf) addCredit(inc uint32) (ok, ready bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.credit.add(inc) {
		return false, false
	}
	return true, len(h.pending) > 0
}

// closeWrite moves sendOpen to sendClosing, dropping the untaken part of a
// Write in progress. It reports whether a FIN must now be scheduled.
func (h *sendHalf) closeWrite() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != sendOpen {
		return false
	}
	h.state = sendClosing
	h.pending = nil
	return true
}

// abort moves a non-terminal half to to (sendStopped or sendAborted) with
// err, dropping unsent data. It reports whether the half was not yet
// terminal.
func (h *sendHalf) abort(to sendState, err error) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state >= sendFinSent {
		return false
	}
	h.state, h.err = to, err
	h.pending = nil
	return true
}

// endWithSession ends the half when the session ends with err: a half
// that owes the peer a FIN moves to sendFinSent, and the caller sends that
// FIN before GOAWAY (it reports true); an open one aborts with err.
func (h *sendHalf) endWithSession(err error) (owesFIN bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch h.state {
	case sendClosing:
		h.state = sendFinSent
		return true
	case sendOpen:
		h.state, h.err = sendAborted, err
		h.pending = nil
	}
	return false
}

// finishWrite ends the Write in progress, whatever the reason: untaken data
// is dropped. It reports how much was taken and whether chunks are still in
// flight (the caller must then wait, since they reference its buffer).
func (h *sendHalf) finishWrite() (n int, inFlight bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pending = nil
	return h.taken, h.inFlight > 0
}

// progress reports the state of the Write in progress of total bytes:
// done once all of it was taken and went out, whatever happened to the half
// since; otherwise the error that ends it, if any.
func (h *sendHalf) progress(id uint32, total int) (done bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.taken == total {
		return h.inFlight == 0, nil
	}
	return false, h.writeErrLocked(id)
}

// waitInFlight blocks until no taken chunk is inside a connection write.
// The wait is bounded: connection writes end within the peer timeout, and
// when the session ends.
func (h *sendHalf) waitInFlight() {
	for {
		h.mu.Lock()
		if h.inFlight == 0 {
			h.mu.Unlock()
			return
		}
		ch, made := h.wake.channelLocked()
		h.mu.Unlock()
		if !made {
			<-ch
		}
	}
}
