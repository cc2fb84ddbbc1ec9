package workload

import (
	"fmt"
	"io"
)

// WriteRead is one established stream on which each [WriteRead.Op] writes
// a buffer and then reads it back on the other side, in the calling
// goroutine: what a Write and a Read cost, allocations included. The
// buffer must fit the library's initial window (Write must not wait for
// the Read).
type WriteRead struct {
	pair   *Pair
	cs, ss Stream
	wbuf   []byte
	rbuf   []byte
}

// NewWriteRead sets up a stream for Write+Read of size bytes.
func NewWriteRead(t Transport, size int) (*WriteRead, error) {
	p, err := NewPair(t)
	if err != nil {
		return nil, err
	}
	cs, ss, err := p.OpenTagged('w')
	if err != nil {
		p.Close()
		return nil, err
	}
	return &WriteRead{pair: p, cs: cs, ss: ss, wbuf: make([]byte, size), rbuf: make([]byte, size)}, nil
}

// Op writes size bytes on the client stream and reads them on the server's.
func (w *WriteRead) Op() error {
	if _, err := w.cs.Write(w.wbuf); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if _, err := io.ReadFull(w.ss, w.rbuf); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	return nil
}

// Close tears the pair down.
func (w *WriteRead) Close() {
	w.pair.Close()
	w.cs.Close()
	w.ss.Close()
}
