package memconn

import (
	"sync"
	"time"
)

// deadline is the state of one Set…Deadline setting of one end.
//
// Every field is guarded by the pipe's mutex. Each set arms at most one
// timer; waiting calls only look at expired, so there is no timer per wait.
// A timer that fires after a later set or stop finds a newer generation and
// does nothing, so Stop failing (the callback already running) is harmless.
type deadline struct {
	timer   *time.Timer // pending expiry, or nil
	gen     uint64      // bumped by every set and stop
	expired bool        // the deadline has passed; calls fail at once
}

// set makes t the deadline: the zero time disables it, a time not after now
// expires it at once, a later time arms a timer that expires it then.
// Whenever the deadline expires, wake is broadcast so blocked calls return.
// The caller holds wake.L.
func (d *deadline) set(t time.Time, wake *sync.Cond) {
	d.stop()
	d.expired = false
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		d.expired = true
		wake.Broadcast()
		return
	}
	gen := d.gen
	d.timer = time.AfterFunc(dur, func() {
		wake.L.Lock()
		defer wake.L.Unlock()
		if d.gen != gen {
			return // superseded by a later set or stop
		}
		d.timer = nil
		d.expired = true
		wake.Broadcast()
	})
}

// stop cancels a pending timer without changing expired.
// The caller holds the pipe's mutex.
func (d *deadline) stop() {
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}
