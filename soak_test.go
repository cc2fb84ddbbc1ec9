package twine

import (
	"context"
	"errors"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/mux"
)

// Soak sizes.
const (
	soakStreams     = 10000
	soakConcurrency = 64
	soakMaxBytes    = 32 << 10 // per direction of a stream
	// soakDefault is how long TestSoak runs unless TWINE_SOAK says otherwise.
	soakDefault = 5 * time.Second
)

// soakDuration is TestSoak's time bound: TWINE_SOAK (a time.Duration, such
// as TWINE_SOAK=60s for a long local run), or soakDefault.
func soakDuration(t *testing.T) time.Duration {
	env := os.Getenv("TWINE_SOAK")
	if env == "" {
		return soakDefault
	}
	d, err := time.ParseDuration(env)
	require.NoError(t, err, "TWINE_SOAK")
	return d
}

// halfRecord is what became of one direction of one soak stream: what its
// writer sent and what its reader got.
type halfRecord struct {
	written, read int
	wroteHash     uint64
	readHash      uint64
	writerRan     bool  // the application on the writing side saw the stream
	readerRan     bool  // and on the reading side
	reset         bool  // the writer reset the stream
	gotEOF        bool  // the reader saw io.EOF
	stopped       bool  // the reader chose to stop early
	readErr       error // what else ended the reading
}

// soakLedger collects the halves' records, keyed by stream id and
// direction (true: client to server).
type soakLedger struct {
	mu     sync.Mutex
	halves map[soakKey]*halfRecord
}

type soakKey struct {
	id       uint32
	toServer bool
}

func (l *soakLedger) update(k soakKey, f func(r *halfRecord)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.halves[k]
	if r == nil {
		r = &halfRecord{}
		l.halves[k] = r
	}
	f(r)
}

// soakWrite plays a writer: it sends random bytes in random pieces, and
// may meet a short deadline, reset the stream, or stop early. It records
// what Write reported sent.
func soakWrite(st *Stream, rng *rand.Rand, k soakKey, l *soakLedger) {
	data := make([]byte, rng.IntN(soakMaxBytes))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	h := fnv.New64a()
	behaviour := rng.IntN(10)
	if behaviour == 0 {
		st.SetWriteDeadline(time.Now().Add(time.Duration(rng.IntN(2000)) * time.Microsecond))
	}
	sent, reset := 0, false
	for sent < len(data) {
		if behaviour == 1 && sent > len(data)/2 {
			st.ResetWithError(mux.ErrorCode(0x100 + rng.IntN(16)))
			reset = true
			break
		}
		piece := data[sent:min(len(data), sent+1+rng.IntN(8<<10))]
		n, err := st.Write(piece)
		h.Write(piece[:n])
		sent += n
		if err != nil {
			break
		}
	}
	st.CloseWrite()
	l.update(k, func(r *halfRecord) {
		r.writerRan, r.written, r.wroteHash, r.reset = true, sent, h.Sum64(), reset
	})
}

// soakRead plays a reader: it reads to the end, and may meet a short
// deadline or stop reading early.
func soakRead(st *Stream, rng *rand.Rand, k soakKey, l *soakLedger) {
	h := fnv.New64a()
	behaviour := rng.IntN(10)
	if behaviour == 0 {
		st.SetReadDeadline(time.Now().Add(time.Duration(rng.IntN(2000)) * time.Microsecond))
	}
	limit := -1 // bytes to read before stopping; -1: read to the end
	if behaviour == 1 {
		limit = rng.IntN(soakMaxBytes)
	}
	buf := make([]byte, 1+rng.IntN(16<<10))
	read := 0
	var err error
	for err == nil && read != limit {
		want := len(buf)
		if limit >= 0 {
			want = min(want, limit-read)
		}
		var n int
		n, err = st.Read(buf[:want])
		h.Write(buf[:n])
		read += n
	}
	st.CloseRead()
	l.update(k, func(r *halfRecord) {
		r.readerRan, r.read, r.readHash = true, read, h.Sum64()
		r.gotEOF, r.stopped = err == io.EOF, err == nil
		if err != io.EOF {
			r.readErr = err
		}
	})
}

// serveSoakStream runs both halves of one stream on one side.
func serveSoakStream(st *Stream, seed uint64, client bool, l *soakLedger) {
	var wg sync.WaitGroup
	id := st.StreamID()
	side := uint64(0)
	if client {
		side = 1
	}
	wg.Go(func() {
		soakWrite(st, rand.New(rand.NewPCG(seed, uint64(id)<<2|side)), soakKey{id, client}, l)
	})
	wg.Go(func() {
		soakRead(st, rand.New(rand.NewPCG(seed, uint64(id)<<2|side|2)), soakKey{id, !client}, l)
	})
	wg.Wait()
	st.Close()
}

// Thousands of streams opened and closed between two sessions under random
// resets, deadlines and early CloseReads: every half whose reader saw io.EOF
// got exactly the bytes its writer reported written (same length, same
// hash); every other half ended with a typed error; and once all streams
// are done, nothing is left in either session. The run stops after
// soakStreams streams or soakDuration, whichever comes first.
func TestSoak(t *testing.T) {
	duration := soakDuration(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, up to %d streams or %v", seed, soakStreams, duration)
	heapBefore := liveHeap()
	c, s, _, _ := newPair(t, nil, nil)
	ledger := &soakLedger{halves: make(map[soakKey]*halfRecord)}

	var accepting, served sync.WaitGroup
	accepting.Go(func() {
		for {
			st, err := s.AcceptStream(context.Background())
			if err != nil {
				return
			}
			served.Go(func() { serveSoakStream(st.(*Stream), seed, false, ledger) })
		}
	})
	slots := make(chan struct{}, soakConcurrency)
	stop := time.Now().Add(duration)
	opened := 0
	for ; opened < soakStreams && time.Now().Before(stop); opened++ {
		slots <- struct{}{}
		st, err := c.OpenStream(context.Background())
		require.NoError(t, err)
		go func() {
			defer func() { <-slots }()
			serveSoakStream(st.(*Stream), seed, true, ledger)
		}()
	}
	for range soakConcurrency {
		slots <- struct{}{} // every client stream is done
	}
	for _, sess := range []*Session{c, s} {
		require.True(t, drained(sess, time.Minute), "streams still live a minute after both sides closed them")
	}
	// A stream the server accepted was live until served; now all are done.
	served.Wait()
	t.Logf("%d streams in %v", opened, time.Since(stop.Add(-duration)))

	for _, sess := range []*Session{c, s} {
		require.NoError(t, sess.Err(), "the sessions live through the soak")
	}
	checkSoakLedger(t, ledger, opened)
	ledger.halves = nil // the test's memory, not the sessions'
	for _, sess := range []*Session{c, s} {
		f := measure(sess)
		require.Zero(t, f.unread)
		require.Zero(t, f.recvMemory)
		require.Zero(t, f.ready)
		sess.connRecvMu.Lock()
		received, consumed := sess.connRecv.received, sess.connRecv.consumed
		sess.connRecvMu.Unlock()
		require.Equal(t, received, consumed, "every byte received was read or discarded and credited back")
		require.Zero(t, sess.windowGrowth.Load(), "the stream windows' growth was given back")
	}
	heapAfter := liveHeap()
	t.Logf("live heap before the sessions %d KiB, after the soak %d KiB", heapBefore>>10, heapAfter>>10)
	require.Less(t, heapAfter, heapBefore+4<<20, "memory returns to the baseline of two idle sessions")

	c.Close()
	s.Close()
	accepting.Wait()
}

// drained waits until s has no live stream, at most timeout.
func drained(s *Session, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		n, wake := len(s.streams), s.drainWake
		s.mu.Unlock()
		if n == 0 {
			return true
		}
		select {
		case <-wake:
		case <-deadline:
			return false
		}
	}
}

func checkSoakLedger(t *testing.T, l *soakLedger, opened int) {
	t.Helper()
	require.Len(t, l.halves, 2*opened, "every half of every stream reported")
	eofs := 0
	for k, r := range l.halves {
		var se *mux.StreamError
		var de *mux.DeadlineError
		switch {
		case !r.readerRan || !r.writerRan:
			// The server never saw the stream: the client reset it first.
			require.True(t, l.halves[soakKey{k.id, true}].reset, "stream %d: a half only one side saw", k.id)
			require.False(t, r.gotEOF, "stream %d: io.EOF on a stream reset before it was accepted", k.id)
		case r.gotEOF:
			eofs++
			require.False(t, r.reset, "stream %d: io.EOF after a reset", k.id)
			require.Equal(t, r.written, r.read, "stream %d: bytes read before io.EOF", k.id)
			require.Equal(t, r.wroteHash, r.readHash, "stream %d: the bytes read differ from those written", k.id)
		case r.stopped:
			require.LessOrEqual(t, r.read, r.written, "stream %d: read more than was written", k.id)
		case errors.As(r.readErr, &se), errors.As(r.readErr, &de):
			require.LessOrEqual(t, r.read, r.written, "stream %d: read more than was written", k.id)
		default:
			t.Fatalf("stream %d: a read ended with %T %v", k.id, r.readErr, r.readErr)
		}
	}
	t.Logf("%d of %d halves read to io.EOF", eofs, len(l.halves))
}
