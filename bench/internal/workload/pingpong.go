package workload

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// PingPong measures round trips of a small message on one stream: each
// [PingPong.Op] writes the message and reads the peer's echo of it. With
// bulk load, another stream of the same session (for raw TCP, another
// connection) carries a client-to-server bulk transfer meanwhile, in the
// same direction as the pings.
type PingPong struct {
	pair   *Pair
	cs, ss Stream
	msg    []byte
	reply  []byte
	Hist   Histogram

	bulk      bool
	bc, bs    Stream
	bulkStop  atomic.Bool
	bulkBytes atomic.Int64
	bulkStart int64
	bulkT0    time.Time
	loops     sync.WaitGroup
	echoErr   atomic.Pointer[error]
	bulkErr   atomic.Pointer[error]
	closeOnce sync.Once
}

// NewPingPong sets up the echo stream for messages of size bytes, and with
// bulk the loaded stream, already transferring.
func NewPingPong(t Transport, size int, bulk bool) (*PingPong, error) {
	p, err := NewPair(t)
	if err != nil {
		return nil, err
	}
	cs, ss, err := p.OpenTagged('p')
	if err != nil {
		p.Close()
		return nil, err
	}
	w := &PingPong{pair: p, cs: cs, ss: ss, msg: make([]byte, size), reply: make([]byte, size), bulk: bulk}
	w.loops.Add(1)
	go w.echo(size)
	if bulk {
		if w.bc, w.bs, err = p.OpenTagged('b'); err != nil {
			w.Close()
			return nil, err
		}
		w.loops.Add(2)
		go w.bulkWrite()
		go w.bulkRead()
	}
	return w, nil
}

func (w *PingPong) echo(size int) {
	defer w.loops.Done()
	buf := make([]byte, size)
	for {
		if _, err := io.ReadFull(w.ss, buf); err != nil {
			if err != io.EOF {
				w.echoErr.Store(&err)
			}
			return
		}
		if _, err := w.ss.Write(buf); err != nil {
			w.echoErr.Store(&err)
			return
		}
	}
}

func (w *PingPong) bulkWrite() {
	defer w.loops.Done()
	buf := make([]byte, 32<<10)
	for !w.bulkStop.Load() {
		if _, err := w.bc.Write(buf); err != nil {
			if !w.bulkStop.Load() {
				w.bulkErr.Store(&err)
			}
			return
		}
	}
}

func (w *PingPong) bulkRead() {
	defer w.loops.Done()
	buf := make([]byte, ReadBufferSize)
	for {
		n, err := w.bs.Read(buf)
		w.bulkBytes.Add(int64(n))
		if err != nil {
			return
		}
	}
}

// Start marks the beginning of the measured period: it clears the
// histogram and the bulk transfer's byte count.
func (w *PingPong) Start() {
	w.Hist.Reset()
	w.bulkStart = w.bulkBytes.Load()
	w.bulkT0 = time.Now()
}

// Op does one round trip and records its duration.
func (w *PingPong) Op() error {
	t0 := time.Now()
	if _, err := w.cs.Write(w.msg); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	if _, err := io.ReadFull(w.cs, w.reply); err != nil {
		if p := w.echoErr.Load(); p != nil {
			err = *p
		}
		return fmt.Errorf("pong: %w", err)
	}
	w.Hist.Record(time.Since(t0))
	return nil
}

// BulkRate returns the bulk transfer's rate, in bytes per second, since
// Start; 0 without bulk load. It fails if the bulk transfer failed.
func (w *PingPong) BulkRate() (float64, error) {
	if !w.bulk {
		return 0, nil
	}
	if p := w.bulkErr.Load(); p != nil {
		return 0, fmt.Errorf("bulk: %w", *p)
	}
	return float64(w.bulkBytes.Load()-w.bulkStart) / time.Since(w.bulkT0).Seconds(), nil
}

// Close stops the bulk transfer and tears the pair down.
func (w *PingPong) Close() {
	w.closeOnce.Do(func() {
		// Streams are closed only once no goroutine uses them: some
		// libraries (quic-go) do not allow Close during a Write.
		w.bulkStop.Store(true)
		w.pair.Close() // ends any Read or Write in progress
		w.loops.Wait()
		for _, s := range []Stream{w.cs, w.ss, w.bc, w.bs} {
			if s != nil {
				s.Close()
			}
		}
	})
}
