package memconn

import "sync"

// flow is one direction of a pipe: a bounded ring of bytes written by one end
// and read by the other, plus the state its reader and writer wait on.
//
// Every field is guarded by the pipe's mutex, which is also wake.L.
//
// The bytes in the ring are split in two: the oldest size-held bytes are
// deliverable, the newest held bytes were written while the writing end was
// frozen and are never delivered (see [Conn.Freeze]).
//
// State changes, each made once and never undone:
//
//	writerGone: the writing end closed; the reader drains the deliverable
//	            bytes, then gets io.EOF (or a reset error if reset is set).
//	readerGone: the reading end closed; buffered bytes are dropped and
//	            writes fail.
//	reset:      the writing end closed while frozen with held bytes; the held
//	            bytes were dropped and the reader gets a reset error instead
//	            of io.EOF.
type flow struct {
	wake sync.Cond // broadcast on any change a reader or writer may wait for

	buf  []byte // ring storage; len(buf) is the capacity
	head int    // index in buf of the oldest buffered byte
	size int    // buffered bytes, deliverable and held
	held int    // newest buffered bytes that are never delivered

	writing    bool // a Write owns the writing side (serializes Writes)
	writerGone bool
	readerGone bool
	reset      bool
}

// deliverable returns how many buffered bytes the reader may take.
func (f *flow) deliverable() int {
	return f.size - f.held
}

// push copies as much of p as fits into the ring and returns the count.
// With hold set, the copied bytes are held back from the reader.
func (f *flow) push(p []byte, hold bool) int {
	n := min(len(p), len(f.buf)-f.size)
	if n == 0 {
		return 0
	}
	tail := (f.head + f.size) % len(f.buf)
	k := copy(f.buf[tail:], p[:n])
	copy(f.buf, p[k:n]) // wrap around; n <= free space, so this stops short of head
	f.size += n
	if hold {
		f.held += n
	}
	return n
}

// pop moves up to len(p) deliverable bytes into p and returns the count.
func (f *flow) pop(p []byte) int {
	n := min(len(p), f.deliverable())
	if n == 0 {
		return 0
	}
	end := min(f.head+n, len(f.buf))
	k := copy(p, f.buf[f.head:end])
	copy(p[k:n], f.buf[:n-k])
	f.head = (f.head + n) % len(f.buf)
	f.size -= n
	if f.size == 0 {
		f.head = 0
	}
	return n
}

// dropHeld discards the held bytes and reports whether there were any.
func (f *flow) dropHeld() bool {
	dropped := f.held > 0
	f.size -= f.held
	f.held = 0
	if f.size == 0 {
		f.head = 0
	}
	return dropped
}

// dropAll discards every buffered byte.
func (f *flow) dropAll() {
	f.head, f.size, f.held = 0, 0, 0
}
