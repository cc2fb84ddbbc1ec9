package workload

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// Aggregate is N streams of one session transferring at once: in each
// round ([Aggregate.Op]) every stream sends the same number of bytes, and
// the round ends when every receiver has read them all. Each stream has a
// writer and a reader goroutine, as an application would.
type Aggregate struct {
	pair      *Pair
	cs, ss    []Stream
	perStream int

	cur     *round
	quit    chan struct{}
	writers sync.WaitGroup // the current round's writers
	readers sync.WaitGroup // the current round's readers
	exited  sync.WaitGroup // all goroutines
	finish  []time.Duration

	errOnce sync.Once
	err     error
}

// round is one round's start signal; the next round's is linked before
// this one starts, so a goroutine done with a round waits on the next.
type round struct {
	start chan struct{}
	t0    time.Time
	next  *round
}

// NewAggregate opens n streams, each sending perStream bytes per round in
// writes of at most chunk bytes.
func NewAggregate(t Transport, n, perStream, chunk int) (*Aggregate, error) {
	p, err := NewPair(t)
	if err != nil {
		return nil, err
	}
	cs, ss, err := p.OpenMany(n)
	if err != nil {
		p.Close()
		return nil, err
	}
	w := &Aggregate{
		pair: p, cs: cs, ss: ss, perStream: perStream,
		cur:    &round{start: make(chan struct{})},
		quit:   make(chan struct{}),
		finish: make([]time.Duration, n),
	}
	chunk = min(chunk, perStream)
	w.exited.Add(2 * n)
	for i := range n {
		go w.write(cs[i], chunk, w.cur)
		go w.read(i, ss[i], chunk, w.cur)
	}
	return w, nil
}

func (w *Aggregate) fail(err error) {
	w.errOnce.Do(func() { w.err = err })
}

func (w *Aggregate) write(s Stream, chunk int, r *round) {
	defer w.exited.Done()
	buf := make([]byte, chunk)
	for {
		select {
		case <-r.start:
		case <-w.quit:
			return
		}
		for left := w.perStream; left > 0; {
			n, err := s.Write(buf[:min(chunk, left)])
			left -= n
			if err != nil {
				w.fail(fmt.Errorf("write: %w", err))
				break
			}
		}
		w.writers.Done()
		r = r.next
	}
}

func (w *Aggregate) read(i int, s Stream, chunk int, r *round) {
	defer w.exited.Done()
	buf := make([]byte, max(chunk, ReadBufferSize))
	for {
		select {
		case <-r.start:
		case <-w.quit:
			return
		}
		for left := w.perStream; left > 0; {
			n, err := s.Read(buf[:min(len(buf), left)])
			left -= n
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				w.fail(fmt.Errorf("read: %w", err))
				break
			}
		}
		w.finish[i] = time.Since(r.t0)
		w.readers.Done()
		r = r.next
	}
}

// Op runs one round and returns its fairness: the slowest stream's finish
// time over the fastest's, from the round's start (1 is perfectly fair).
func (w *Aggregate) Op() (fairness float64, err error) {
	n := len(w.cs)
	w.writers.Add(n)
	w.readers.Add(n)
	r := w.cur
	r.next = &round{start: make(chan struct{})}
	w.cur = r.next
	r.t0 = time.Now()
	close(r.start)
	w.readers.Wait()
	w.writers.Wait()
	if w.err != nil {
		return 0, w.err
	}
	return float64(slices.Max(w.finish)) / float64(max(slices.Min(w.finish), 1)), nil
}

// Bytes is how many bytes one round carries.
func (w *Aggregate) Bytes() int64 { return int64(len(w.cs)) * int64(w.perStream) }

// Close tears the pair down.
func (w *Aggregate) Close() {
	close(w.quit)
	w.pair.Close() // ends any Read or Write in progress
	w.exited.Wait()
	CloseAll(w.cs)
	CloseAll(w.ss)
}
