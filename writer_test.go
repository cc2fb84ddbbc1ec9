package twine

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"
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
