package twine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twinemux/twine/internal/calltest"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/mux"
)

// Many streams writing small messages at once hand the writer role back and
// forth between their Writes and the write loop. A Write that finds the
// role taken must still see its data sent, intact: with keepalive off
// nothing else would wake the write loop, and the bubble would deadlock.
func TestConcurrentWritersNeverStall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		off := &Config{PeerTimeout: -1}
		c, s, _, _ := newPair(t, off, off)
		const streams, messages = 16, 500
		var wg sync.WaitGroup
		for i := range streams {
			cs, ss := openPair(t, c, s)
			seed := uint64(i)
			want := make(chan [32]byte, 1)
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(seed, 1))
				h := sha256.New()
				for range messages {
					msg := make([]byte, 1+rng.IntN(200))
					for j := range msg {
						msg[j] = byte(rng.Uint32())
					}
					h.Write(msg)
					_, err := cs.Write(msg)
					require.NoError(t, err)
				}
				require.NoError(t, cs.CloseWrite())
				want <- [32]byte(h.Sum(nil))
			})
			wg.Go(func() {
				h := sha256.New()
				_, err := io.Copy(h, ss)
				require.NoError(t, err)
				require.Equal(t, <-want, [32]byte(h.Sum(nil)))
			})
		}
		wg.Wait()
		_, err := c.Ping(context.Background())
		require.NoError(t, err)
	})
}

// Writes on one stream take turns: the next Write goes once the one in
// progress ends, its bytes after the first Write's; a Write waiting for its
// turn honours the write deadline and sends nothing.
func TestWritesTakeTurns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s, _, _ := newPair(t, nil, &Config{InitialStreamWindow: 1 << 10})
		cs, ss := openPair(t, c, s)
		a, b := bytes.Repeat([]byte("a"), 3<<10), bytes.Repeat([]byte("b"), 10)
		first := calltest.Write(cs, a) // blocks on the 1 KiB window
		calltest.RequireBlocked(t, first, "the window is 1 KiB")
		second := calltest.Write(cs, b)
		calltest.RequireBlocked(t, second, "the first Write is in progress")
		got, err := io.ReadAll(io.LimitReader(ss, int64(len(a)+len(b))))
		require.NoError(t, err)
		require.Equal(t, append(a, b...), got)
		require.NoError(t, (<-first).Err)
		require.NoError(t, (<-second).Err)

		// The deadline ends the Write in progress after what the window
		// let through, and the one waiting for its turn with nothing.
		first = calltest.Write(cs, a)
		calltest.RequireBlocked(t, first, "the window is 1 KiB")
		late := calltest.Write(cs, b)
		calltest.RequireBlocked(t, late, "the first Write is in progress")
		require.NoError(t, cs.SetWriteDeadline(time.Now().Add(time.Second)))
		var de *mux.DeadlineError
		res := <-first
		require.ErrorAs(t, res.Err, &de)
		require.Positive(t, res.N, "the credit left was used")
		require.LessOrEqual(t, res.N, 1<<10)
		sent := res.N
		res = <-late
		require.Zero(t, res.N)
		require.ErrorAs(t, res.Err, &de)
		got, err = io.ReadAll(io.LimitReader(ss, int64(sent)))
		require.NoError(t, err)
		require.Equal(t, a[:sent], got)
		require.NoError(t, cs.SetWriteDeadline(time.Time{}))
		_, err = cs.Write([]byte("c"))
		require.NoError(t, err)
		got = make([]byte, 1)
		_, err = io.ReadFull(ss, got)
		require.NoError(t, err)
		require.Equal(t, "c", string(got), "nothing of the late Write was sent")
	})
}

// Streams with nothing to send ahead of one with data and credit must not
// stop the write loop from serving it.
func TestFillServesStreamBehindIdleOnes(t *testing.T) {
	s := &Session{}
	s.sq.maxPayload = 1 << 10
	s.sq.connCredit.avail = 1 << 20
	idle1 := newStream(s, 1, 0, 1<<10)
	idle2 := newStream(s, 3, 0, 1<<10)
	busy := newStream(s, 5, 1<<10, 1<<10)
	for _, st := range []*Stream{idle1, idle2, busy} {
		st.send.startWrite(make([]byte, 100))
		s.enqueueLocked(st)
	}
	var b batch
	s.fillLocked(&b)
	require.Len(t, b.segs, 1, "the stream with data and credit gets its frame")
	require.Equal(t, uint32(5), b.segs[0].st.id)
}
