package muxtest

import (
	"testing"
	"time"

	"github.com/twinemux/twine/internal/calltest"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/mux"
)

// short is the deadline the tests wait for; long one they must not reach.
const (
	short = 50 * time.Millisecond
	long  = time.Hour
)

// deadlineSetter is SetReadDeadline, SetWriteDeadline or SetDeadline.
type deadlineSetter func(mux.Stream, time.Time) error

func testDeadlines(t *testing.T, newPair NewPair) {
	ops := []struct {
		name string
		set  deadlineSetter
		// block starts a call on st that blocks until the deadline: a Read
		// with nothing sent, or a Write beyond the window of a peer that
		// does not read.
		block func(st mux.Stream) <-chan calltest.Result
	}{
		{"Read", mux.Stream.SetReadDeadline, func(st mux.Stream) <-chan calltest.Result { return calltest.Read(st, 10) }},
		{"Write", mux.Stream.SetWriteDeadline, func(st mux.Stream) <-chan calltest.Result { return calltest.Write(st, randomBytes(4, blockingSize)) }},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			t.Parallel()
			// A deadline set while the call is blocked wakes it.
			t.Run("SetWhileBlocked", func(t *testing.T) {
				t.Parallel()
				st, peer := deadlinePair(t, newPair)
				call := op.block(st)
				requirePending(t, call, op.name+" with no deadline")
				start := time.Now()
				require.NoError(t, op.set(st, start.Add(short)))
				r := requireTimedOut(t, call, start, short, op.name+" with a 50ms deadline")
				requireUsable(t, st, peer, op.set, r.N)
			})
			// A deadline set before the call bounds it.
			t.Run("SetBefore", func(t *testing.T) {
				t.Parallel()
				st, peer := deadlinePair(t, newPair)
				start := time.Now()
				require.NoError(t, op.set(st, start.Add(short)))
				r := requireTimedOut(t, op.block(st), start, short, op.name+" with a 50ms deadline")
				requireUsable(t, st, peer, op.set, r.N)
			})
			// A later deadline replaces an earlier one, while the call
			// is blocked: shortened, then extended.
			t.Run("Shorten", func(t *testing.T) {
				t.Parallel()
				st, peer := deadlinePair(t, newPair)
				require.NoError(t, op.set(st, time.Now().Add(long)))
				call := op.block(st)
				requirePending(t, call, op.name+" with a deadline an hour away")
				start := time.Now()
				require.NoError(t, op.set(st, start.Add(short)))
				r := requireTimedOut(t, call, start, short, op.name+" with a deadline shortened to 50ms")
				requireUsable(t, st, peer, op.set, r.N)
			})
			t.Run("ExtendWhileBlocked", func(t *testing.T) {
				t.Parallel()
				st, peer := deadlinePair(t, newPair)
				// The first deadline is far enough away that the second is
				// surely set before it passes.
				start := time.Now()
				require.NoError(t, op.set(st, start.Add(500*time.Millisecond)))
				call := op.block(st)
				requirePending(t, call, op.name+" with a deadline 500ms away")
				const extended = 600 * time.Millisecond
				require.NoError(t, op.set(st, start.Add(extended)))
				r := requireTimedOut(t, call, start, extended, op.name+" with a deadline extended from 500ms to 600ms")
				requireUsable(t, st, peer, op.set, r.N)
			})
			// After a deadline passed, a new one applies to later calls.
			t.Run("ExtendAfterExpiry", func(t *testing.T) {
				t.Parallel()
				st, peer := deadlinePair(t, newPair)
				require.NoError(t, op.set(st, time.Now().Add(short)))
				r := await(t, op.block(st), op.name+" after its deadline")
				requireTimeout(t, r.Err, op.name+" after its deadline")
				sent := r.N
				start := time.Now()
				require.NoError(t, op.set(st, start.Add(2*short)))
				r = requireTimedOut(t, op.block(st), start, 2*short, op.name+" with a deadline renewed after expiry")
				requireUsable(t, st, peer, op.set, sent+r.N)
			})
			// A deadline in the past fails blocked and later calls at once.
			t.Run("Past", func(t *testing.T) {
				t.Parallel()
				st, peer := deadlinePair(t, newPair)
				call := op.block(st)
				requirePending(t, call, op.name+" with no deadline")
				require.NoError(t, op.set(st, time.Now().Add(-time.Second)))
				r := await(t, call, op.name+" after a deadline in the past")
				requireTimeout(t, r.Err, op.name+" blocked when a past deadline was set")
				sent := r.N
				r = await(t, op.block(st), op.name+" with a past deadline")
				requireTimeout(t, r.Err, op.name+" with a past deadline")
				require.Zero(t, r.N, op.name+" with a past deadline transfers nothing")
				requireUsable(t, st, peer, op.set, sent)
			})
			// The zero time disables a deadline that has not passed yet.
			t.Run("ZeroDisables", func(t *testing.T) {
				t.Parallel()
				st, peer := deadlinePair(t, newPair)
				require.NoError(t, op.set(st, time.Now().Add(200*time.Millisecond)))
				require.NoError(t, op.set(st, time.Time{}))
				call := op.block(st)
				requirePendingFor(t, call, 400*time.Millisecond, op.name+" after its deadline was disabled")
				finishBlocked(t, st, peer, call, op.name == "Write")
			})
		})
	}

	// Data that arrived is not returned once the read deadline passed, and
	// is not lost either: the next Read without a deadline returns it.
	t.Run("Read/PastWithDataBuffered", func(t *testing.T) {
		t.Parallel()
		st, peer := deadlinePair(t, newPair)
		msg := []byte("buffered")
		w := await(t, calltest.Write(peer, msg), "writing")
		require.NoError(t, w.Err)
		require.NoError(t, st.SetReadDeadline(time.Now().Add(-time.Second)))
		r := await(t, calltest.Read(st, 100), "Read with a past deadline")
		requireTimeout(t, r.Err, "Read with a past deadline, data buffered or not")
		require.Zero(t, r.N)
		require.NoError(t, st.SetReadDeadline(time.Time{}))
		r = await(t, calltest.ReadFull(st, len(msg)), "Read once the deadline is cleared")
		require.NoError(t, r.Err)
		require.Equal(t, msg, r.Data)
	})

	// SetDeadline sets both deadlines.
	t.Run("SetDeadline", func(t *testing.T) {
		t.Parallel()
		st, peer := deadlinePair(t, newPair)
		read := calltest.Read(st, 10)
		write := calltest.Write(st, randomBytes(5, blockingSize))
		requirePending(t, read, "Read with no deadline")
		requirePending(t, write, "Write beyond the window with no deadline")
		start := time.Now()
		require.NoError(t, st.SetDeadline(start.Add(short)))
		r := await(t, read, "Read after SetDeadline")
		requireTimeout(t, r.Err, "Read after SetDeadline")
		requireElapsed(t, start, r.At, short, "Read with SetDeadline 50ms")
		w := await(t, write, "Write after SetDeadline")
		requireTimeout(t, w.Err, "Write after SetDeadline")
		requireElapsed(t, start, w.At, short, "Write with SetDeadline 50ms")
		require.NoError(t, st.SetDeadline(time.Time{}))
		requireUsable(t, st, peer, mux.Stream.SetWriteDeadline, w.N)
	})
}

// deadlinePair returns the client's side of a fresh stream and the server's,
// with a window small enough for writes to block.
func deadlinePair(t *testing.T, newPair NewPair) (st, peer mux.Stream) {
	p := newPair(t, Options{InitialStreamWindow: testWindow})
	return openPair(t, p)
}

// requireUsable checks, after a deadline error on st, that st still works
// once the deadline is cleared: sent is how many bytes timed-out Writes on
// st reported; the peer receives exactly those, then what st sends next,
// and st reads what the peer sends.
func requireUsable(t *testing.T, st, peer mux.Stream, clear deadlineSetter, sent int) {
	t.Helper()
	require.NoError(t, clear(st, time.Time{}))
	if sent > 0 {
		r := await(t, calltest.ReadFull(peer, sent), "the peer reading what timed-out writes reported")
		require.NoError(t, r.Err)
	}
	requireEcho(t, st, peer, "after the deadline")
	require.NoError(t, st.CloseWrite())
	r := await(t, goReadAll(peer), "the peer reading after CloseWrite")
	requireEOF(t, r.Err, "the peer reading after CloseWrite")
	require.Empty(t, r.Data, "a timed-out Write sends only the bytes it reported")
}

// finishBlocked lets a blocked call complete: for a Read the peer writes,
// for a Write the peer reads.
func finishBlocked(t *testing.T, st, peer mux.Stream, call <-chan calltest.Result, write bool) {
	t.Helper()
	if write {
		r := await(t, calltest.ReadFull(peer, blockingSize), "the peer reading the blocked Write")
		require.NoError(t, r.Err)
		w := await(t, call, "the Write once the peer reads")
		require.NoError(t, w.Err)
		require.Equal(t, blockingSize, w.N)
		return
	}
	w := await(t, calltest.Write(peer, []byte("x")), "the peer writing")
	require.NoError(t, w.Err)
	r := await(t, call, "the Read once the peer writes")
	require.NoError(t, r.Err)
	require.Equal(t, []byte("x"), r.Data)
}
