package twine

import "sync"

// waker wakes the goroutine waiting on a stream half. Its token channel is
// taken when someone first has to wait, so a stream nobody waits on carries
// none. The half's mutex guards it.
type waker struct {
	ch   chan struct{} // cap 1
	pool *sync.Pool    // where the channel comes from and goes back, if set
}

// newWakePool makes a pool of token channels, for one session: channels are
// not shared between sessions (nor so between synctest bubbles).
func newWakePool() *sync.Pool {
	return &sync.Pool{New: func() any { return make(chan struct{}, 1) }}
}

// channelLocked returns the channel to wait on, and whether it was just
// made. A caller that got a new channel must check its condition again
// before waiting: a signal sent before the channel existed was lost.
func (w *waker) channelLocked() (ch <-chan struct{}, made bool) {
	if w.ch == nil {
		if w.pool != nil {
			w.ch = w.pool.Get().(chan struct{})
		} else {
			w.ch = make(chan struct{}, 1)
		}
		return w.ch, true
	}
	return w.ch, false
}

// releaseLocked gives the channel back to the pool, emptied. Only for a
// waker with a pool and one waiter at most, once it no longer waits.
func (w *waker) releaseLocked() {
	if w.ch == nil {
		return
	}
	select {
	case <-w.ch:
	default:
	}
	w.pool.Put(w.ch)
	w.ch = nil
}

// signalLocked wakes the waiter, or the next one to wait.
func (w *waker) signalLocked() {
	select {
	case w.ch <- struct{}{}:
	default: // a token is already there, or nobody ever waited (nil channel)
	}
}

// waitChannel returns, under mu (the half's mutex), the channel to wait
// on, or nil when it was just made: the caller must look again first.
func (w *waker) waitChannel(mu *sync.Mutex) <-chan struct{} {
	mu.Lock()
	defer mu.Unlock()
	if ch, made := w.channelLocked(); !made {
		return ch
	}
	return nil
}
