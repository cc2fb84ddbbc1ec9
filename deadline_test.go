package twine

import (
	"io"
	"net"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twinemux/twine/internal/calltest"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/mux"
)

// deadlineWindow is the stream window of the deadline tests: a Write of
// more than this to a peer that does not read blocks for flow control.
const deadlineWindow = 16 << 10

// deadlinePair returns a connected stream pair whose Writes block after
// deadlineWindow unread bytes.
func deadlinePair(t *testing.T) (cs, ss *Stream) {
	t.Helper()
	cfg := &Config{InitialStreamWindow: deadlineWindow}
	c, s, _, _ := newPair(t, cfg, cfg)
	return openPair(t, c, s)
}

// requireDeadlineError asserts err is what net.Conn returns when a
// deadline passes: a *mux.DeadlineError naming the stream and the
// operation, wrapping os.ErrDeadlineExceeded, a net.Error with Timeout.
func requireDeadlineError(t *testing.T, err error, st *Stream, op string) {
	t.Helper()
	var de *mux.DeadlineError
	require.ErrorAs(t, err, &de, "a %s past its deadline must fail with a *mux.DeadlineError", op)
	require.Equal(t, uint64(st.StreamID()), de.StreamID, "the stream id in %v", err)
	require.Equal(t, op, de.Op, "the operation in %v", err)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "a deadline error wraps os.ErrDeadlineExceeded")
	var ne net.Error
	require.ErrorAs(t, err, &ne, "a deadline error is a net.Error")
	require.True(t, ne.Timeout(), "Timeout() of %v", err)
}

// deadlineOp is Read or Write, as the deadline tests drive them: start
// begins a call that blocks (nothing to read; a Write beyond the stream
// window to a peer that does not read), set sets the op's own deadline.
type deadlineOp struct {
	name  string // "read" or "write"
	start func(st *Stream) <-chan calltest.Result
	set   func(st *Stream, t time.Time) error
}

var deadlineOps = []deadlineOp{
	{
		name:  "read",
		start: func(st *Stream) <-chan calltest.Result { return calltest.ReadFull(st, 1) },
		set:   (*Stream).SetReadDeadline,
	},
	{
		name:  "write",
		start: func(st *Stream) <-chan calltest.Result { return calltest.Write(st, randomBytes(1<<20)) },
		set:   (*Stream).SetWriteDeadline,
	},
	{
		name:  "read via SetDeadline",
		start: func(st *Stream) <-chan calltest.Result { return calltest.ReadFull(st, 1) },
		set:   (*Stream).SetDeadline,
	},
	{
		name:  "write via SetDeadline",
		start: func(st *Stream) <-chan calltest.Result { return calltest.Write(st, randomBytes(1<<20)) },
		set:   (*Stream).SetDeadline,
	},
}

// op is the operation name in the deadline error: "read" or "write".
func (o deadlineOp) op() string {
	if o.name[0] == 'r' {
		return "read"
	}
	return "write"
}

// wantN is how many bytes a blocked call of o reports when its deadline
// passes: a Write sent exactly the stream window before it blocked.
func (o deadlineOp) wantN() int {
	if o.op() == "write" {
		return deadlineWindow
	}
	return 0
}

// requireTimedOut waits for the call of o behind ch and asserts that it
// failed with the deadline error exactly at after start, reporting n bytes.
func (o deadlineOp) requireTimedOut(t *testing.T, cs *Stream, ch <-chan calltest.Result, start time.Time, at time.Duration, n int, why string) {
	t.Helper()
	r, elapsed := awaitResult(t, ch, start, at+time.Minute, why)
	require.Equal(t, at, elapsed, "%s: when the deadline error came", why)
	requireDeadlineError(t, r.Err, cs, o.op())
	require.Equal(t, n, r.N, "%s: bytes reported", why)
}

// A deadline set while a call is blocked, where none was set before,
// wakes it exactly when it passes; one in the past wakes it at once. This is
// how a server cancels a blocked Read (SetReadDeadline(time.Now())).
func TestDeadlineSetWhileBlockedWithNoneBefore(t *testing.T) {
	testDeadlineSetWhileBlocked(t, false)
}

// A deadline set while a call is blocked replaces the earlier one: the call
// wakes exactly at the new deadline, or at once if it is in the past.
func TestDeadlineSetWhileBlockedReplacesEarlierOne(t *testing.T) {
	testDeadlineSetWhileBlocked(t, true)
}

func testDeadlineSetWhileBlocked(t *testing.T, earlier bool) {
	const wait = 3 * time.Second
	for _, o := range deadlineOps {
		// setup returns a stream whose call o has started and is blocked.
		setup := func(t *testing.T) (cs *Stream, ch <-chan calltest.Result, start time.Time) {
			cs, _ = deadlinePair(t)
			start = time.Now()
			if earlier {
				require.NoError(t, o.set(cs, start.Add(time.Hour)))
			}
			ch = o.start(cs)
			calltest.RequireBlocked(t, ch, "the "+o.op()+" before any deadline passed")
			return cs, ch, start
		}
		t.Run(o.name+"/future", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cs, ch, start := setup(t)
				require.NoError(t, o.set(cs, start.Add(wait)))
				calltest.RequireBlocked(t, ch, "the "+o.op()+" before its new deadline")
				o.requireTimedOut(t, cs, ch, start, wait, o.wantN(), "the "+o.op()+" whose deadline was set while it blocked")
			})
		})
		t.Run(o.name+"/past", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cs, ch, start := setup(t)
				require.NoError(t, o.set(cs, start.Add(-time.Second)))
				o.requireTimedOut(t, cs, ch, start, 0, o.wantN(), "the "+o.op()+" whose deadline was set in the past while it blocked")
			})
		})
	}
}

// A deadline set before the call applies to it: the call blocks until the
// deadline, then fails.
func TestDeadlineSetBeforeCall(t *testing.T) {
	for _, o := range deadlineOps {
		t.Run(o.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cs, _ := deadlinePair(t)
				start := time.Now()
				require.NoError(t, o.set(cs, start.Add(time.Second)))
				ch := o.start(cs)
				calltest.RequireBlocked(t, ch, "the "+o.op()+" before its deadline")
				o.requireTimedOut(t, cs, ch, start, time.Second, o.wantN(), "the "+o.op()+" with a deadline")
			})
		})
	}
}

// A deadline already in the past makes a call fail at once, without
// blocking: a Write sends nothing, even when it has credit to send all.
func TestDeadlineInThePastFailsAtOnce(t *testing.T) {
	for _, o := range deadlineOps {
		t.Run(o.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cs, ss := deadlinePair(t)
				start := time.Now()
				require.NoError(t, o.set(cs, start.Add(-time.Second)))
				o.requireTimedOut(t, cs, o.start(cs), start, 0, 0, "the "+o.op()+" with a past deadline")

				// A small Write that needs no credit still fails.
				if o.op() == "write" {
					n, err := cs.Write([]byte("never sent"))
					requireDeadlineError(t, err, cs, "write")
					require.Zero(t, n)
					require.NoError(t, cs.CloseWrite())
					got, err := io.ReadAll(ss)
					require.NoError(t, err)
					require.Empty(t, got, "the peer must receive nothing from Writes past their deadline")
				}
			})
		})
	}
}

// As with net.Conn, a Read whose deadline has passed fails even when data is
// buffered; the data stays for the next Read once the deadline is lifted.
func TestReadDeadlinePassedWithDataBuffered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cs, ss := deadlinePair(t)
		_, err := ss.Write([]byte("buffered"))
		require.NoError(t, err)
		synctest.Wait()
		require.NoError(t, cs.SetReadDeadline(time.Now().Add(-time.Second)))
		buf := make([]byte, 16)
		n, err := cs.Read(buf)
		require.Error(t, err, "a Read past its deadline must fail even with data buffered (read %q)", buf[:n])
		requireDeadlineError(t, err, cs, "read")
		require.Zero(t, n)

		require.NoError(t, cs.SetReadDeadline(time.Time{}))
		n, err = cs.Read(buf)
		require.NoError(t, err)
		require.Equal(t, "buffered", string(buf[:n]), "the data must still be there after the deadline is lifted")
	})
}

// The zero time disables a deadline: a call blocked with a deadline that is
// then reset to zero stays blocked past the old deadline, and a deadline
// that already passed no longer fails new calls once reset to zero.
func TestDeadlineZeroDisables(t *testing.T) {
	for _, o := range deadlineOps {
		t.Run(o.name+"/pending", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cs, _ := deadlinePair(t)
				require.NoError(t, o.set(cs, time.Now().Add(time.Second)))
				ch := o.start(cs)
				calltest.RequireBlocked(t, ch, "the "+o.op()+" before its deadline")
				require.NoError(t, o.set(cs, time.Time{}))
				time.Sleep(time.Minute)
				calltest.RequireBlocked(t, ch, "the "+o.op()+" whose deadline was reset to zero, a minute after the old one")
			})
		})
		t.Run(o.name+"/after expiry", func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cs, _ := deadlinePair(t)
				start := time.Now()
				require.NoError(t, o.set(cs, start.Add(time.Second)))
				r, _ := awaitResult(t, o.start(cs), start, time.Minute, "the first "+o.op())
				requireDeadlineError(t, r.Err, cs, o.op())
				require.NoError(t, o.set(cs, time.Time{}))
				ch := o.start(cs)
				time.Sleep(time.Minute)
				calltest.RequireBlocked(t, ch, "a "+o.op()+" after the expired deadline was reset to zero")
			})
		})
	}
}

// After a deadline passed, later calls fail at once until the deadline is
// extended; then they block again, until the new deadline.
func TestDeadlineExtendedAfterExpiry(t *testing.T) {
	for _, o := range deadlineOps {
		t.Run(o.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cs, _ := deadlinePair(t)
				start := time.Now()
				require.NoError(t, o.set(cs, start.Add(time.Second)))
				o.requireTimedOut(t, cs, o.start(cs), start, time.Second, o.wantN(), "the first "+o.op())

				start = time.Now()
				o.requireTimedOut(t, cs, o.start(cs), start, 0, 0, "a "+o.op()+" after the deadline passed")

				require.NoError(t, o.set(cs, start.Add(2*time.Second)))
				ch := o.start(cs)
				calltest.RequireBlocked(t, ch, "a "+o.op()+" after the deadline was extended")
				o.requireTimedOut(t, cs, ch, start, 2*time.Second, 0, "a "+o.op()+" after the deadline was extended")
			})
		})
	}
}

// SetDeadline sets both deadlines at once: a blocked Read and a blocked
// Write both fail at it, and zero lifts both.
func TestSetDeadlineSetsBoth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cs, _ := deadlinePair(t)
		start := time.Now()
		require.NoError(t, cs.SetDeadline(start.Add(time.Second)))
		read, write := calltest.ReadFull(cs, 1), calltest.Write(cs, randomBytes(1<<20))
		rr, elapsed := awaitResult(t, read, start, time.Minute, "Read")
		require.Equal(t, time.Second, elapsed, "the Read must fail at the deadline SetDeadline set")
		requireDeadlineError(t, rr.Err, cs, "read")
		wr, elapsed := awaitResult(t, write, start, time.Minute, "Write")
		require.Equal(t, time.Second, elapsed, "the Write must fail at the deadline SetDeadline set")
		requireDeadlineError(t, wr.Err, cs, "write")

		require.NoError(t, cs.SetDeadline(time.Time{}))
		read, write = calltest.ReadFull(cs, 1), calltest.Write(cs, randomBytes(1<<20))
		time.Sleep(time.Minute)
		calltest.RequireBlocked(t, read, "a Read after SetDeadline(zero)")
		calltest.RequireBlocked(t, write, "a Write after SetDeadline(zero)")
	})
}

// A Write that times out reports how many bytes it sent; exactly those
// reach the peer and the rest is never sent, even when credit comes back.
func TestWriteDeadlineSendsOnlyWhatItReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cs, ss := deadlinePair(t)
		data := randomBytes(1 << 20)
		require.NoError(t, cs.SetWriteDeadline(time.Now().Add(time.Second)))
		n, err := cs.Write(data)
		requireDeadlineError(t, err, cs, "write")
		require.Positive(t, n, "the Write sent a window's worth before it blocked")
		require.Less(t, n, len(data))

		got := make([]byte, n)
		_, err = io.ReadFull(ss, got)
		require.NoError(t, err)
		require.Equal(t, data[:n], got, "the peer reads the n bytes the Write reported")

		// Reading returned the stream's credit: a Write that kept its
		// unsent bytes would now send them.
		more := calltest.ReadFull(ss, 1)
		time.Sleep(time.Minute)
		calltest.RequireBlocked(t, more, "a Read after the n bytes: nothing more may arrive")
		require.NoError(t, cs.CloseWrite())
		r := calltest.RequireDone(t, more, "a Read after the writer's CloseWrite")
		require.Equal(t, io.EOF, r.Err, "after the n bytes the peer must see FIN, not more data (read %d bytes)", r.N)
	})
}

// After a deadline error the stream keeps working once the deadline is
// lifted: a Read gets data written later, a Write completes when the peer
// reads.
func TestStreamWorksAfterDeadlineError(t *testing.T) {
	t.Run("read", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			cs, ss := deadlinePair(t)
			require.NoError(t, cs.SetReadDeadline(time.Now().Add(time.Second)))
			_, err := cs.Read(make([]byte, 1))
			requireDeadlineError(t, err, cs, "read")

			require.NoError(t, cs.SetReadDeadline(time.Now().Add(time.Minute)))
			read := calltest.ReadFull(cs, 5)
			calltest.RequireBlocked(t, read, "a Read after the deadline was extended")
			_, err = ss.Write([]byte("later"))
			require.NoError(t, err)
			r := calltest.RequireDone(t, read, "a Read after data arrived")
			require.NoError(t, r.Err, "the Read after the deadline was extended")
			require.Equal(t, 5, r.N)
		})
	})
	t.Run("write", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			cs, ss := deadlinePair(t)
			first := randomBytes(1 << 20)
			require.NoError(t, cs.SetWriteDeadline(time.Now().Add(time.Second)))
			n, err := cs.Write(first)
			requireDeadlineError(t, err, cs, "write")

			require.NoError(t, cs.SetWriteDeadline(time.Time{}))
			second := randomBytes(100 << 10)
			write := calltest.Write(cs, second)
			calltest.RequireBlocked(t, write, "a Write while the peer has not read")
			got := make([]byte, n+len(second))
			_, err = io.ReadFull(ss, got)
			require.NoError(t, err, "the peer reads the timed-out Write's bytes, then the next Write's")
			require.Equal(t, first[:n], got[:n], "the timed-out Write's n bytes")
			require.Equal(t, second, got[n:], "the next Write's bytes follow at once")
			r := calltest.RequireDone(t, write, "the Write after the peer read")
			require.NoError(t, r.Err)
			require.Equal(t, len(second), r.N)
		})
	})
}
