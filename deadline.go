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
	expired chan struct{} // made on the first wait or set; closed once the deadline passed
}

// set applies t to pending and future waits. The zero time disables the
// deadline; a time in the past expires it at once.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() && !d.isClosed() {
		// The timer fired but its callback has not closed the channel
		// yet: the old deadline passed, so close it here.
		close(d.expired)
	}
	d.timer = nil
	if d.isClosed() {
		d.expired = nil // the next wait, or the new deadline, gets a fresh one
	}
	if t.IsZero() {
		return
	}
	if d.expired == nil {
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

// done returns a channel closed once the deadline has passed. Waiters
// blocked on it see deadlines set later.
func (d *deadline) done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.expired == nil {
		d.expired = make(chan struct{})
	}
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
