package twine

import (
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	pool "github.com/libp2p/go-buffer-pool"
)

// recvState is the state of a stream's receive half.
//
//	recvOpen ──FIN received──▶ recvFinReceived (buffered data stays readable, then io.EOF)
//	recvOpen, recvFinReceived ──CloseRead──▶ recvClosed
//	recvOpen ──RST received, session ended──▶ recvAborted
//	recvOpen, recvFinReceived ──local reset──▶ recvAborted
//
// Every state but recvOpen is terminal: no more data will be buffered.
type recvState uint8

const (
	recvOpen        recvState = iota // data arrives
	recvFinReceived                  // the peer's FIN arrived
	recvClosed                       // CloseRead: data is discarded
	recvAborted                      // reset, or the session ended
)

// recvHalf is a stream's receiving direction. Its fields are guarded by mu.
type recvHalf struct {
	mu    sync.Mutex
	state recvState
	err   error // why reads fail, in recvAborted

	// Received, unread payload in pooled buffers: segs[head][off:] is the
	// next unread byte.
	segs     [][]byte
	head     int
	off      int
	buffered int

	window   recvWindow
	wake     waker // the Read in progress: data, or a change of state
	deadline deadline
}

func (h *recvHalf) init(window uint32, now time.Time) {
	h.window = newRecvWindow(window, now)
}

func (h *recvHalf) terminal() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state != recvOpen
}

// admit accounts a DATA payload of n bytes about to be read from the
// connection. It reports whether the payload fits the stream window
// (fits) and whether it should be buffered (keep) or discarded.
func (h *recvHalf) admit(n uint32) (fits, keep bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != recvOpen {
		return true, false
	}
	return h.window.receive(n), true
}

// deliver buffers a payload admitted earlier (buf may be nil when empty)
// and applies FIN. It returns how many bytes it discarded instead, because
// the half stopped receiving in the meantime; buf then goes back to the
// pool.
func (h *recvHalf) deliver(buf []byte, fin bool) (discarded int) {
	h.mu.Lock()
	if h.state != recvOpen {
		h.mu.Unlock()
		if buf != nil {
			pool.Put(buf)
		}
		return len(buf)
	}
	if len(buf) > 0 {
		h.storeLocked(buf)
		h.buffered += len(buf)
	}
	if fin {
		h.state = recvFinReceived
	}
	h.wake.signalLocked()
	h.mu.Unlock()
	return 0
}

// packChunk is the largest buffer that small or oddly sized payloads are
// packed into, and so about the most memory a stream holds beyond its
// unread bytes.
const packChunk = 4 << 10

// storeLocked appends a payload, in a pooled buffer it takes over, to the
// unread data. It fills the spare room of the last buffer first, so that a
// stream of small frames costs about its bytes, not a buffer each. A
// payload that fills its own buffer (bulk DATA) is kept as it is, without
// a copy.
func (h *recvHalf) storeLocked(buf []byte) {
	p := buf
	var lastCap int
	if n := len(h.segs); n > h.head {
		last := h.segs[n-1]
		k := copy(last[len(last):cap(last)], p)
		h.segs[n-1] = last[:len(last)+k]
		p, lastCap = p[k:], cap(last)
	}
	// Buffers grow geometrically from the last one, up to packChunk, so
	// that many small payloads take few buffers.
	want := max(len(p), min(packChunk, 2*lastCap))
	if len(p) == len(buf) && cap(buf) >= want && cap(buf)-len(buf) <= packChunk {
		h.segs = append(h.segs, buf)
		return
	}
	for len(p) > 0 {
		chunk := pool.Get(min(want, packChunk))
		k := copy(chunk, p)
		h.segs = append(h.segs, chunk[:k])
		p, want = p[k:], packChunk
	}
	pool.Put(buf)
}

// read copies buffered data into p. It returns the bytes read, the stream
// WINDOW increment now due (0 if none), and the error that ends reading
// when nothing is buffered: io.EOF after FIN, or the half's error. With
// nothing buffered and no error, the caller waits.
func (h *recvHalf) read(id uint32, p []byte, tune func(w *recvWindow)) (n int, inc uint32, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.buffered > 0 && (h.state == recvOpen || h.state == recvFinReceived) {
		n = h.copyOut(p)
		if h.window.consumeDue(n) && h.state == recvOpen {
			tune(&h.window)
			inc = h.window.advance()
		}
		return n, inc, nil
	}
	switch h.state {
	case recvFinReceived:
		return 0, 0, io.EOF
	case recvClosed:
		return 0, 0, fmt.Errorf("twine: stream %d: read after CloseRead: %w", id, net.ErrClosed)
	case recvAborted:
		return 0, 0, h.err
	}
	return 0, 0, nil
}

// copyOut moves buffered bytes into p, returning fully read buffers to the
// pool.
func (h *recvHalf) copyOut(p []byte) int {
	n := 0
	for n < len(p) && h.head < len(h.segs) {
		seg := h.segs[h.head]
		c := copy(p[n:], seg[h.off:])
		n += c
		h.off += c
		if h.off == len(seg) {
			pool.Put(seg)
			h.segs[h.head] = nil
			h.head++
			h.off = 0
		}
	}
	if h.head == len(h.segs) {
		h.segs, h.head = h.segs[:0], 0
	}
	h.buffered -= n
	return n
}

// dropLocked discards buffered data and returns how much it freed.
func (h *recvHalf) dropLocked() int {
	freed := h.buffered
	for i := h.head; i < len(h.segs); i++ {
		pool.Put(h.segs[i])
	}
	h.segs, h.head, h.off, h.buffered = nil, 0, 0, 0
	return freed
}

// closeRead moves to recvClosed, discarding buffered data. It reports
// whether the peer must be told with STOP (it was still sending) and how
// many bytes were freed.
func (h *recvHalf) closeRead() (sendStop bool, freed int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch h.state {
	case recvOpen:
		sendStop = true
	case recvFinReceived:
	default:
		return false, 0
	}
	h.state = recvClosed
	freed = h.dropLocked()
	h.wake.signalLocked()
	return sendStop, freed
}

// abort moves the half to recvAborted with err, discarding buffered data.
// A half whose FIN arrived keeps its complete data unless afterFIN is set
// (a local reset). It reports whether the half was still receiving and how
// many bytes were freed.
func (h *recvHalf) abort(err error, afterFIN bool) (wasOpen bool, freed int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.state == recvOpen:
		wasOpen = true
	case h.state == recvFinReceived && afterFIN:
	default:
		return false, 0
	}
	h.state, h.err = recvAborted, err
	freed = h.dropLocked()
	h.wake.signalLocked()
	return wasOpen, freed
}
