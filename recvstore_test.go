package twine

import (
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	pool "github.com/libp2p/go-buffer-pool"
	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/frame"
)

// DATA frames of one byte, or of a size just above a power of two, filling
// the windows: the memory that holds them stays within the session window
// plus a small constant per stream, not a rounded-up buffer per frame.
func TestSmallDataFramesStayWithinBudget(t *testing.T) {
	for name, size := range map[string]int{"1 byte": 1, "4 KiB + 1": 4<<10 + 1} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := newAttack(t, attackConfig)
				a.readPeer()
				window := int(attackConfig.InitialStreamWindow)
				payload := make([]byte, size)
				for i := range attackConfig.AcceptBacklog {
					id := 2*i + 1
					b := frames(openFrame(id))
					n := 0
					for ; n+size <= window; n += size {
						b = frame.Append(b, dataFrame(id, 0, payload))
					}
					a.flood(b, 1+n/size)
				}
			})
		})
	}
}

// Payloads of every kind of size come back out in order, byte for byte,
// whatever the reads; bulk payloads that fill their buffer are kept without
// a copy, and the buffers waste at most packChunk.
func TestRecvStorePacksInOrder(t *testing.T) {
	var h recvHalf
	h.init(1<<30, time.Now())
	rng := rand.New(rand.NewPCG(1, 2))
	var want []byte
	for i := range 2000 {
		size := []int{1, 3, 100, packChunk - 1, packChunk + 1, 32 << 10, 1 + rng.IntN(40<<10)}[rng.IntN(7)]
		buf := pool.Get(size)
		for j := range buf {
			buf[j] = byte(rng.Uint32())
		}
		want = append(want, buf...)
		if size == 32<<10 {
			h.mu.Lock()
			before := len(h.segs)
			full := len(h.segs) == h.head || len(h.segs[len(h.segs)-1]) == cap(h.segs[len(h.segs)-1])
			h.mu.Unlock()
			require.Zero(t, h.deliver(buf, false))
			if full {
				h.mu.Lock()
				require.Len(t, h.segs, before+1)
				require.Equal(t, &buf[0], &h.segs[len(h.segs)-1][0], "a full bulk buffer is kept as it is")
				h.mu.Unlock()
			}
		} else {
			require.Zero(t, h.deliver(buf, false))
		}
		h.mu.Lock()
		spare := 0
		for _, seg := range h.segs[h.head:] {
			spare += cap(seg) - len(seg)
		}
		h.mu.Unlock()
		require.LessOrEqual(t, spare, packChunk, "only the last buffer has room to spare, at most packChunk")
		if i%3 == 0 { // read some now and then, in odd sizes
			p := make([]byte, rng.IntN(50<<10))
			n, _, err := h.read(1, p, func(*recvWindow) {})
			require.NoError(t, err)
			require.Equal(t, want[:n], p[:n])
			want = want[n:]
		}
	}
	rest := make([]byte, len(want))
	n, _, err := h.read(1, rest, func(*recvWindow) {})
	require.NoError(t, err)
	require.Equal(t, len(want), n)
	require.Equal(t, want, rest)
}
