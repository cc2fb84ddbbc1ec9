// Package memconn provides an in-memory, buffered, full-duplex [net.Conn]
// pair for tests. It behaves like the two ends of a TCP connection on
// loopback, and it works inside [testing/synctest] bubbles.
//
// # Behaviour
//
// [Pipe] returns two connected ends, a and b. Each direction has its own
// buffer of a fixed size, like a kernel socket buffer: [Conn.Write] copies
// into the buffer and blocks only while it is full; [Conn.Read] returns what
// is buffered and blocks only while nothing is. Bytes arrive in order,
// without loss or duplication. Closing one end lets the other read what was
// already written, then io.EOF; writes towards a closed end fail.
//
// Deadlines behave as documented for [net.Conn]: they apply to pending and
// future calls, the zero time disables them, a time in the past wakes blocked
// calls at once, an expired deadline can be extended, and a timed-out call
// returns a [*net.OpError] wrapping [os.ErrDeadlineExceeded] whose Timeout
// method reports true.
//
// # Fault injection
//
// [Conn.Freeze] makes one end behave like a process that stopped running
// while its kernel keeps the socket open, to test how the other end detects
// an unresponsive peer. Calls blocked by a freeze are durably blocked, so in
// a bubble the fake clock jumps straight to the next timer, such as the
// other end's keepalive timeout. [Conn.Stats] reports the bytes each end
// wrote and read.
//
// # Use with testing/synctest
//
// Every blocking call waits on a [sync.Cond], which durably blocks a
// goroutine in a bubble, and deadlines use [time.AfterFunc], so they follow
// the bubble's fake clock. There are no background goroutines. Create the
// pipe, set its deadlines and call its methods from inside the bubble:
// waking a goroutine that is blocked inside a bubble from outside it is a
// fatal error. Close both ends before the bubble's function returns (for
// example with t.Cleanup), or calls still blocked on them, notably on a
// frozen end, make synctest.Test report a deadlock.
//
// # Concurrency
//
// All methods of a [Conn] may be called from any goroutine at any time.
// Concurrent Reads are served one after another, and so are concurrent
// Writes: the bytes of one Write are never interleaved with those of another.
package memconn

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// network is the name returned by [Addr.Network].
const network = "memconn"

// Addr is the address of one end of a pipe: "memconn:a" for the first end
// returned by [Pipe], "memconn:b" for the second.
type Addr string

// Network returns "memconn".
func (a Addr) Network() string { return network }

// String returns the address itself, "memconn:a" or "memconn:b".
func (a Addr) String() string { return string(a) }

// addrs holds the address of each end, indexed by [Conn.side].
var addrs = [2]Addr{"memconn:a", "memconn:b"}

// errWait tells a blocking method that its try helper cannot complete yet.
// It never leaves the package.
var errWait = errors.New("memconn: would block")

// pipe is the state shared by the two ends of a connection.
//
// A single mutex guards all of it, both ends and both flows, so there is no
// lock order to get wrong; each flow's wake condition uses it as its locker.
type pipe struct {
	mu    sync.Mutex
	ends  [2]Conn
	flows [2]flow // flows[i] carries the bytes written by ends[i]
}

// Conn is one end of an in-memory connection created by [Pipe]. It
// implements [net.Conn]. A Conn must not be copied.
type Conn struct {
	pipe *pipe
	side int // index of this end in pipe.ends: 0 for a, 1 for b

	// Guarded by pipe.mu.
	closed        bool
	frozen        bool
	readDeadline  deadline
	writeDeadline deadline
	written       int64 // bytes accepted by Write
	read          int64 // bytes returned by Read
}

var _ net.Conn = (*Conn)(nil)

// Pipe returns the two ends of a new connection. The first is at address
// "memconn:a", the second at "memconn:b"; each end's RemoteAddr is the
// other's LocalAddr.
//
// Each direction buffers up to bufSize bytes, like a kernel socket buffer:
// Write copies into the buffer and blocks only while it is full. Pipe panics
// if bufSize is less than 1.
func Pipe(bufSize int) (*Conn, *Conn) {
	if bufSize < 1 {
		panic("memconn: Pipe with bufSize < 1")
	}
	p := new(pipe)
	for i := range p.ends {
		p.ends[i].pipe = p
		p.ends[i].side = i
		p.flows[i].wake.L = &p.mu
		p.flows[i].buf = make([]byte, bufSize)
	}
	return &p.ends[0], &p.ends[1]
}

// Read reads up to len(p) bytes that the peer wrote, returning as soon as
// any are available; it blocks while none are.
//
// Once the peer has closed and every byte it wrote has been read, Read
// returns 0, io.EOF. If the peer closed while frozen and bytes it wrote
// while frozen were dropped, Read instead returns an error wrapping
// [syscall.ECONNRESET] once the bytes written before the freeze are read.
//
// After this end's [Conn.Close], Read returns an error wrapping
// [net.ErrClosed]. When the read deadline has passed, Read returns an error
// wrapping [os.ErrDeadlineExceeded], even if bytes are available. While this
// end is frozen, Read delivers nothing and blocks until one of these two
// happens. A Read with an empty p does not block: it returns 0 and one of
// these two errors, or nil.
func (c *Conn) Read(p []byte) (int, error) {
	c.pipe.mu.Lock()
	defer c.pipe.mu.Unlock()
	f := c.recvFlow()
	for {
		n, err := c.tryRead(f, p)
		if err != errWait {
			return n, err
		}
		f.wake.Wait()
	}
}

// tryRead is Read without blocking: it returns errWait when Read must wait
// for a change to f or to this end. The caller holds pipe.mu.
func (c *Conn) tryRead(f *flow, p []byte) (int, error) {
	switch {
	case c.closed:
		return 0, c.opError("read", net.ErrClosed)
	case c.readDeadline.expired:
		return 0, c.opError("read", os.ErrDeadlineExceeded)
	case len(p) == 0:
		return 0, nil
	case c.frozen:
		return 0, errWait
	case f.deliverable() > 0:
		n := f.pop(p)
		c.read += int64(n)
		f.wake.Broadcast() // a writer may wait for room
		return n, nil
	case f.reset:
		return 0, c.opError("read", syscall.ECONNRESET)
	case f.writerGone:
		return 0, io.EOF
	default:
		return 0, errWait
	}
}

// Write writes all of p, blocking while the buffer towards the peer is full,
// and returns len(p), nil once the last byte is buffered. Otherwise it
// returns the number of bytes it buffered, which may be more than zero, and
// an error:
//   - wrapping [net.ErrClosed] after this end's [Conn.Close];
//   - wrapping [os.ErrDeadlineExceeded] when the write deadline has passed;
//   - wrapping [io.ErrClosedPipe] once the peer has closed, like EPIPE on a
//     socket; bytes the peer had not read are dropped.
//
// Write copies p and does not keep it. While this end is frozen, Write
// still buffers bytes, but they are never delivered (see [Conn.Freeze]).
// Concurrent Writes run one after another.
func (c *Conn) Write(p []byte) (int, error) {
	c.pipe.mu.Lock()
	defer c.pipe.mu.Unlock()
	f := c.sendFlow()
	for f.writing {
		if err := c.writeErr(f); err != nil {
			return 0, err
		}
		f.wake.Wait()
	}
	f.writing = true
	defer func() {
		f.writing = false
		f.wake.Broadcast() // another Write may wait for its turn
	}()
	var n int
	for {
		k, err := c.tryWrite(f, p[n:])
		n += k
		if err != errWait {
			return n, err
		}
		f.wake.Wait()
	}
}

// tryWrite buffers as much of p as fits without blocking. It returns
// errWait when the rest must wait for room. The caller holds pipe.mu.
func (c *Conn) tryWrite(f *flow, p []byte) (int, error) {
	if err := c.writeErr(f); err != nil {
		return 0, err
	}
	n := f.push(p, c.frozen)
	if n > 0 {
		c.written += int64(n)
		f.wake.Broadcast() // the reader may wait for bytes
	}
	if n < len(p) {
		return n, errWait
	}
	return n, nil
}

// writeErr returns the error that stops a Write on f now, or nil.
// The caller holds pipe.mu.
func (c *Conn) writeErr(f *flow) error {
	switch {
	case c.closed:
		return c.opError("write", net.ErrClosed)
	case c.writeDeadline.expired:
		return c.opError("write", os.ErrDeadlineExceeded)
	case f.readerGone:
		return c.opError("write", io.ErrClosedPipe)
	default:
		return nil
	}
}

// Close closes this end and wakes every call blocked on either end. It
// returns nil the first time; later calls do nothing and return an error
// wrapping [net.ErrClosed], as closing a socket twice does.
//
// Afterwards this end's calls fail with errors wrapping [net.ErrClosed].
// The peer reads the bytes this end wrote, then io.EOF (see [Conn.Read] for
// a frozen end); bytes the peer wrote that this end had not read are
// dropped, and the peer's pending and later Writes fail.
func (c *Conn) Close() error {
	c.pipe.mu.Lock()
	defer c.pipe.mu.Unlock()
	if c.closed {
		return c.opError("close", net.ErrClosed)
	}
	c.closed = true
	c.readDeadline.stop()
	c.writeDeadline.stop()

	out, in := c.sendFlow(), c.recvFlow()
	out.writerGone = true
	if out.dropHeld() {
		out.reset = true
	}
	in.readerGone = true
	in.dropAll()
	out.wake.Broadcast()
	in.wake.Broadcast()
	return nil
}

// Freeze makes this end behave from now on like a process that stopped
// running while its kernel keeps the socket open:
//   - bytes this end writes are buffered (its Write blocks once the buffer
//     is full) but never delivered; bytes it wrote before Freeze still are;
//   - this end's Read blocks and delivers nothing, even if bytes are
//     buffered, so the peer's Writes fill the buffer, then block.
//
// Nothing is closed and the peer observes no error. Deadlines still apply,
// and [Conn.Close] of either end still wakes every blocked call. Freeze
// cannot be undone; calling it again, or after Close, does nothing.
func (c *Conn) Freeze() {
	c.pipe.mu.Lock()
	defer c.pipe.mu.Unlock()
	if !c.closed {
		c.frozen = true
	}
}

// Stats returns the number of bytes this end has written into the
// connection (accepted by Write, whether or not they were delivered) and
// the number it has read from it (returned by Read).
func (c *Conn) Stats() (written, read int64) {
	c.pipe.mu.Lock()
	defer c.pipe.mu.Unlock()
	return c.written, c.read
}

// LocalAddr returns the address of this end, "memconn:a" or "memconn:b".
func (c *Conn) LocalAddr() net.Addr { return addrs[c.side] }

// RemoteAddr returns the address of the peer, "memconn:b" or "memconn:a".
func (c *Conn) RemoteAddr() net.Addr { return addrs[1-c.side] }

// SetDeadline sets both the read and the write deadline, as
// [Conn.SetReadDeadline] and [Conn.SetWriteDeadline] do.
func (c *Conn) SetDeadline(t time.Time) error { return c.setDeadlines(t, true, true) }

// SetReadDeadline sets the time after which pending and future Reads fail
// with an error wrapping [os.ErrDeadlineExceeded]. The zero time disables
// the deadline; a time not after now makes blocked Reads return at once. A
// later call replaces the deadline, even one that has expired. It returns an
// error wrapping [net.ErrClosed] after [Conn.Close], and nil otherwise.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.setDeadlines(t, true, false) }

// SetWriteDeadline sets the time after which pending and future Writes fail
// with an error wrapping [os.ErrDeadlineExceeded]; a Write that times out
// may have buffered some bytes and reports how many. The zero time disables
// the deadline; a time not after now makes blocked Writes return at once. A
// later call replaces the deadline, even one that has expired. It returns an
// error wrapping [net.ErrClosed] after [Conn.Close], and nil otherwise.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.setDeadlines(t, false, true) }

func (c *Conn) setDeadlines(t time.Time, read, write bool) error {
	c.pipe.mu.Lock()
	defer c.pipe.mu.Unlock()
	if c.closed {
		return c.opError("set", net.ErrClosed)
	}
	if read {
		c.readDeadline.set(t, &c.recvFlow().wake)
	}
	if write {
		c.writeDeadline.set(t, &c.sendFlow().wake)
	}
	return nil
}

// sendFlow returns the flow carrying the bytes this end writes.
func (c *Conn) sendFlow() *flow { return &c.pipe.flows[c.side] }

// recvFlow returns the flow carrying the bytes this end reads.
func (c *Conn) recvFlow() *flow { return &c.pipe.flows[1-c.side] }

// opError wraps err the way package net reports errors of operation op.
func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: network, Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
