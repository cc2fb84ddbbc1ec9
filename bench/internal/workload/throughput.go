package workload

import (
	"fmt"
	"math"
	"sync"
)

// ReadBufferSize is the buffer receivers read into, as io.Copy's.
const ReadBufferSize = 32 << 10

// Throughput is one stream carrying a bulk transfer: each [Throughput.Op]
// writes one buffer of the chosen size; a receiver goroutine reads and
// discards with [ReadBufferSize] reads.
type Throughput struct {
	pair   *Pair
	cs, ss Stream
	buf    []byte
	sent   int64

	mu       sync.Mutex
	cond     sync.Cond
	received int64
	target   int64
	err      error
	done     chan struct{} // the receiver exited
}

// NewThroughput sets up a session pair and one stream for writes of size
// bytes.
func NewThroughput(t Transport, size int) (*Throughput, error) {
	p, err := NewPair(t)
	if err != nil {
		return nil, err
	}
	cs, ss, err := p.OpenTagged('t')
	if err != nil {
		p.Close()
		return nil, err
	}
	w := &Throughput{pair: p, cs: cs, ss: ss, buf: make([]byte, size), target: math.MaxInt64, done: make(chan struct{})}
	w.cond.L = &w.mu
	go w.receive()
	return w, nil
}

func (w *Throughput) receive() {
	defer close(w.done)
	buf := make([]byte, ReadBufferSize)
	for {
		n, err := w.ss.Read(buf)
		w.mu.Lock()
		w.received += int64(n)
		if err != nil && w.err == nil {
			w.err = err
		}
		wake := w.received >= w.target || err != nil
		w.mu.Unlock()
		if wake {
			w.cond.Broadcast()
		}
		if err != nil {
			return
		}
	}
}

// Op writes one buffer.
func (w *Throughput) Op() error {
	n, err := w.cs.Write(w.buf)
	w.sent += int64(n)
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// Drain waits until the receiver has read everything written so far.
func (w *Throughput) Drain() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.target = w.sent
	for w.received < w.target && w.err == nil {
		w.cond.Wait()
	}
	w.target = math.MaxInt64
	if w.received < w.sent {
		return fmt.Errorf("received %d of %d bytes: %w", w.received, w.sent, w.err)
	}
	return nil
}

// Close tears the pair down.
func (w *Throughput) Close() {
	w.pair.Close() // ends the receiver's Read
	<-w.done
	w.cs.Close()
	w.ss.Close()
}
