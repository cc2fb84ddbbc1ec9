package twine

import (
	"io"

	pool "github.com/libp2p/go-buffer-pool"
)

const (
	// quietReadBuffer is the read loop's buffer while the connection is
	// quiet: an idle session holds no more.
	quietReadBuffer = 4 << 10
	// busyReadBuffer is the read loop's buffer while data streams in: one
	// read takes several frames.
	busyReadBuffer = 256 << 10
)

// connReader buffers the connection for the read loop. It reads in large
// chunks, into a pooled buffer, while data streams in, and goes back to a
// small buffer when a read finds little waiting. A read that
// wants at least a whole buffer goes straight into the caller's slice.
type connReader struct {
	src   io.Reader
	quiet [quietReadBuffer]byte
	buf   []byte // quiet[:], or a pooled busyReadBuffer
	r, w  int    // buf[r:w] is buffered
	busy  bool   // the last read took at least quietReadBuffer bytes
}

func newConnReader(src io.Reader) *connReader {
	c := &connReader{src: src}
	c.buf = c.quiet[:]
	return c
}

// Read reads buffered bytes into p, reading the connection once when there
// are none.
func (c *connReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.r == c.w {
		if len(p) >= len(c.buf) {
			return c.src.Read(p)
		}
		if err := c.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.buf[c.r:c.w])
	c.r += n
	return n, nil
}

// Discard skips the next n bytes.
func (c *connReader) Discard(n int) error {
	for n > 0 {
		if c.r == c.w {
			if err := c.fill(); err != nil {
				return err
			}
		}
		k := min(n, c.w-c.r)
		c.r += k
		n -= k
	}
	return nil
}

// fill reads the connection once into the empty buffer, choosing its size
// by how much the previous read took.
func (c *connReader) fill() error {
	c.r, c.w = 0, 0
	switch large := len(c.buf) == busyReadBuffer; {
	case c.busy && !large:
		c.buf = pool.Get(busyReadBuffer)
	case !c.busy && large:
		pool.Put(c.buf)
		c.buf = c.quiet[:]
	}
	n, err := c.src.Read(c.buf)
	c.w = n
	c.busy = n >= quietReadBuffer
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// release returns a pooled buffer; the reader must not be used after.
func (c *connReader) release() {
	if len(c.buf) == busyReadBuffer {
		pool.Put(c.buf)
	}
	c.buf = nil
}
