// Package calltest runs blocking calls, such as a Read or a Write, in their
// own goroutines for tests, hands back what each returned and when, and
// checks inside a synctest bubble whether they are still blocked.
package calltest

import (
	"io"
	"testing"
	"testing/synctest"
	"time"
)

// Result is what a call returned, and when it returned.
type Result struct {
	N    int
	Data []byte // the bytes a read returned
	Err  error
	At   time.Time
}

// Go runs f in a new goroutine; the channel yields its result, stamped
// with the time f returned.
func Go(f func() Result) <-chan Result {
	ch := make(chan Result, 1)
	go func() {
		r := f()
		r.At = time.Now()
		ch <- r
	}()
	return ch
}

// Read runs one Read of up to size bytes.
func Read(r io.Reader, size int) <-chan Result {
	return Go(func() Result {
		buf := make([]byte, size)
		n, err := r.Read(buf)
		return Result{N: n, Data: buf[:n], Err: err}
	})
}

// ReadFull reads exactly size bytes, or until an error.
func ReadFull(r io.Reader, size int) <-chan Result {
	return Go(func() Result {
		buf := make([]byte, size)
		n, err := io.ReadFull(r, buf)
		return Result{N: n, Data: buf[:n], Err: err}
	})
}

// Write runs one Write of p.
func Write(w io.Writer, p []byte) <-chan Result {
	return Go(func() Result {
		n, err := w.Write(p)
		return Result{N: n, Err: err}
	})
}

// RequireBlocked asserts, once every goroutine of the synctest bubble is
// idle, that the call behind ch has not returned.
func RequireBlocked[R any](t *testing.T, ch <-chan R, why string) {
	t.Helper()
	synctest.Wait()
	select {
	case r := <-ch:
		t.Fatalf("%s: returned %+v instead of blocking", why, r)
	default:
	}
}

// RequireDone asserts, once every goroutine of the synctest bubble is
// idle, that the call behind ch returned, and returns its result.
func RequireDone[R any](t *testing.T, ch <-chan R, why string) R {
	t.Helper()
	synctest.Wait()
	select {
	case r := <-ch:
		return r
	default:
		t.Fatalf("%s: still blocked", why)
		var zero R
		return zero
	}
}
