package twine

import "time"

// recvWindow is the receive side of one flow-controlled byte stream (a
// stream, or the whole session): how much the peer may send, how much has
// arrived and how much the application has consumed. Offsets are cumulative
// byte counts. It is pure arithmetic; its owner provides the locking.
type recvWindow struct {
	size     uint64 // current window size
	limit    uint64 // the peer may send up to this offset
	received uint64 // bytes arrived so far
	consumed uint64 // bytes read or discarded so far

	// Auto-tuning epoch: when it began and how much was consumed then.
	epochStart    time.Time
	epochConsumed uint64
}

func newRecvWindow(size uint32, now time.Time) recvWindow {
	return recvWindow{size: uint64(size), limit: uint64(size), epochStart: now}
}

// receive accounts n arriving bytes; it reports false, changing nothing, if
// they exceed the window.
func (w *recvWindow) receive(n uint32) bool {
	if w.received+uint64(n) > w.limit {
		return false
	}
	w.received += uint64(n)
	return true
}

// consumeDue accounts n bytes read or discarded. It reports whether an
// increment is due: half the window or more is consumed and unannounced.
func (w *recvWindow) consumeDue(n int) bool {
	w.consumed += uint64(n)
	return w.consumed+w.size-w.limit >= w.size/2
}

// advance moves the limit to consumed+size and returns the increment.
func (w *recvWindow) advance() uint32 {
	inc := w.consumed + w.size - w.limit
	w.limit += inc
	return uint32(inc)
}

// autoTune doubles the window, up to maxSize and within what grow allows,
// when the current auto-tuning epoch consumed a large part of the window
// within a few round trips: the window, not the reader, limits throughput.
// An epoch lasts until more than half the window was consumed. Call it just
// before announcing an increment. grow is asked for the extra bytes and
// reports whether the session budget grants them.
func (w *recvWindow) autoTune(now time.Time, rtt time.Duration, maxSize uint64, grow func(extra uint64) bool) {
	used := w.consumed - w.epochConsumed
	if used <= w.size/2 {
		return // too little to judge yet: the epoch goes on
	}
	if rtt > 0 && w.size < maxSize {
		// A window consumed within two round trips (scaled by the
		// fraction used) limits throughput: the reader takes more than
		// half of what one window per round trip allows. (quic-go grows
		// at four round trips; on a fast path that doubles the queue
		// ahead of other streams' data for no throughput.)
		fraction := float64(used) / float64(w.size)
		if now.Sub(w.epochStart) < time.Duration(2*fraction*float64(rtt)) {
			newSize := min(2*w.size, maxSize)
			if grow(newSize - w.size) {
				w.size = newSize
			}
		}
	}
	w.epochStart = now
	w.epochConsumed = w.consumed
}

// sendCredit is what the peer allows us to send beyond what we already sent.
// It is pure arithmetic; its owner provides the locking.
type sendCredit struct {
	avail uint64
}

// add grants inc more bytes. It reports false, changing nothing, if the
// total would exceed the largest window the protocol allows.
func (c *sendCredit) add(inc uint32) bool {
	if c.avail+uint64(inc) > maxWindow {
		return false
	}
	c.avail += uint64(inc)
	return true
}

// take removes up to n bytes of credit and returns how many it removed.
func (c *sendCredit) take(n int) int {
	n = int(min(uint64(n), c.avail))
	c.avail -= uint64(n)
	return n
}
