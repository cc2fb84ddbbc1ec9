package workload

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// OpenClose measures short-lived streams, as an RPC per stream: an opener
// opens a stream, writes 1 byte, reads the server's 1-byte reply, and
// closes; the server accepts each stream in a loop and answers it from a
// goroutine of its own (as http.Serve does), then closes it. Several
// openers run at once; each [OpenClose.Op] hands one stream's work to the
// next free opener.
type OpenClose struct {
	pair    *Pair
	work    chan struct{}
	openers sync.WaitGroup
	server  sync.WaitGroup

	failed  atomic.Bool
	errOnce sync.Once
	err     error
}

// NewOpenClose starts the server's accept loop and the openers.
func NewOpenClose(t Transport, openers int) (*OpenClose, error) {
	p, err := NewPair(t)
	if err != nil {
		return nil, err
	}
	w := &OpenClose{pair: p, work: make(chan struct{})}
	w.server.Add(1)
	go w.accept()
	w.openers.Add(openers)
	for range openers {
		go w.open()
	}
	return w, nil
}

func (w *OpenClose) fail(err error) {
	w.errOnce.Do(func() { w.err = err })
	w.failed.Store(true)
}

func (w *OpenClose) open() {
	defer w.openers.Done()
	var b [1]byte
	for range w.work {
		if w.failed.Load() {
			continue
		}
		s, err := w.pair.Client.Open()
		if err != nil {
			w.fail(fmt.Errorf("open: %w", err))
			continue
		}
		if _, err := s.Write(b[:]); err != nil {
			w.fail(fmt.Errorf("write: %w", err))
		} else if _, err := io.ReadFull(s, b[:]); err != nil {
			w.fail(fmt.Errorf("read reply: %w", err))
		}
		s.Close()
	}
}

func (w *OpenClose) accept() {
	defer w.server.Done()
	for {
		s, err := w.pair.Server.Accept()
		if err != nil {
			return // the pair closed
		}
		w.server.Add(1)
		go func() {
			defer w.server.Done()
			defer s.Close()
			var b [1]byte
			if _, err := io.ReadFull(s, b[:]); err != nil {
				w.fail(fmt.Errorf("server read: %w", err))
				return
			}
			if _, err := s.Write(b[:]); err != nil {
				w.fail(fmt.Errorf("server write: %w", err))
			}
		}()
	}
}

// Op hands one open + 1 byte + close to the next free opener.
func (w *OpenClose) Op() {
	w.work <- struct{}{}
}

// Finish waits until every stream handed out by Op got its reply and was
// closed by its opener, and returns the first error. Call it once.
func (w *OpenClose) Finish() error {
	close(w.work)
	w.openers.Wait()
	if w.failed.Load() {
		return w.err
	}
	return nil
}

// Close tears the pair down.
func (w *OpenClose) Close() {
	w.pair.Close()
	w.server.Wait()
}
