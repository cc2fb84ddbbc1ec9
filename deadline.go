package twine

import (
	"sync"
	"time"
)

// deadline is one half's deadline, as in net.Conn: a channel that is closed
// once the deadline passes. One timer is armed per set call, none per wait.
type deadline struct {
	mu      sync.Mutex
	timer   *time.Timer
	expired chan struct{} // nil while no deadline is set: blocks forever
}

// set applies t to pending and future waits. The zero time disables the
// deadline; a time in the past expires it at once.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		// The timer fired, or is firing: its channel is closed or about to
		// be, so later waits need a fresh one.
		d.expired = nil
	}
	d.timer = nil
	if t.IsZero() {
		if d.isClosed() {
			d.expired = nil
		}
		return
	}
	if d.expired == nil || d.isClosed() {
		d.expired = make(chan struct{})
	}
	wait := time.Until(t)
	if wait <= 0 {
		close(d.expired)
		return
	}
	ch := d.expired
	d.timer = time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.expired == ch && !d.isClosed() {
			close(ch)
		}
	})
}

// done returns a channel closed once the deadline has passed; nil (never
// ready) while none is set.
func (d *deadline) done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expired
}

// passed reports whether the deadline has passed.
func (d *deadline) passed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.isClosed()
}

func (d *deadline) isClosed() bool {
	if d.expired == nil {
		return false
	}
	select {
	case <-d.expired:
		return true
	default:
		return false
	}
}
