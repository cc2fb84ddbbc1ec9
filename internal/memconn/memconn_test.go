package memconn_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twinemux/twine/internal/calltest"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/twinemux/twine/internal/memconn"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newPipe returns a pipe whose ends are closed when the test ends, which
// inside a bubble is before synctest.Test waits for the bubble's goroutines.
func newPipe(t *testing.T, bufSize int) (*memconn.Conn, *memconn.Conn) {
	t.Helper()
	a, b := memconn.Pipe(bufSize)
	t.Cleanup(func() {
		_ = a.Close()
		_ = b.Close()
	})
	return a, b
}

// requireTimeout checks that err is a deadline error as package net reports it.
func requireTimeout(t *testing.T, err error, op string) {
	t.Helper()
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout(), "a deadline error reports Timeout")
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, op, oe.Op)
	require.Equal(t, "memconn", oe.Net)
}

func TestAddr(t *testing.T) {
	a, b := memconn.Pipe(1)
	require.Equal(t, "memconn", a.LocalAddr().Network())
	require.Equal(t, "memconn:a", a.LocalAddr().String())
	require.Equal(t, "memconn:b", a.RemoteAddr().String())
	require.Equal(t, "memconn:b", b.LocalAddr().String())
	require.Equal(t, "memconn:a", b.RemoteAddr().String())
	require.Equal(t, memconn.Addr("memconn:a"), a.LocalAddr())
}

func TestPipePanicsOnBadSize(t *testing.T) {
	require.Panics(t, func() { memconn.Pipe(0) })
}

// TestTransfer sends random data both ways at once, in random chunk sizes,
// and checks that each side receives exactly what the other sent.
func TestTransfer(t *testing.T) {
	for _, tt := range []struct {
		name    string
		bufSize int
		size    int
	}{
		{"buf=1", 1, 32 << 10},
		{"buf=7", 7, 256 << 10},
		{"buf=4KiB", 4 << 10, 1 << 20},
		{"buf=larger than data", 2 << 20, 1 << 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := newPipe(t, tt.bufSize)
				rng := rand.New(rand.NewPCG(1, uint64(tt.bufSize)))
				dataA := randBytes(rng, tt.size)
				dataB := randBytes(rng, tt.size)

				var wg sync.WaitGroup
				var sumAtA, sumAtB [sha256.Size]byte
				wg.Go(func() { writeChunks(t, a, dataA, rand.New(rand.NewPCG(2, 0))) })
				wg.Go(func() { writeChunks(t, b, dataB, rand.New(rand.NewPCG(3, 0))) })
				wg.Go(func() { sumAtB = readChunks(t, b, tt.size, rand.New(rand.NewPCG(4, 0))) })
				wg.Go(func() { sumAtA = readChunks(t, a, tt.size, rand.New(rand.NewPCG(5, 0))) })
				wg.Wait()

				require.Equal(t, sha256.Sum256(dataA), sumAtB, "b received what a sent")
				require.Equal(t, sha256.Sum256(dataB), sumAtA, "a received what b sent")
				for _, c := range []*memconn.Conn{a, b} {
					written, read := c.Stats()
					require.EqualValues(t, tt.size, written, "%v wrote", c.LocalAddr())
					require.EqualValues(t, tt.size, read, "%v read", c.LocalAddr())
				}

				require.NoError(t, a.Close())
				n, err := b.Read(make([]byte, 1))
				require.Zero(t, n)
				require.Equal(t, io.EOF, err, "nothing left after a's close: EOF")
			})
		})
	}
}

func randBytes(rng *rand.Rand, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	return p
}

func writeChunks(t *testing.T, c net.Conn, data []byte, rng *rand.Rand) {
	for len(data) > 0 {
		k := min(len(data), 1+rng.IntN(10000))
		n, err := c.Write(data[:k])
		if err != nil || n != k {
			t.Errorf("Write(%d bytes) = %d, %v", k, n, err)
			return
		}
		data = data[k:]
	}
}

func readChunks(t *testing.T, c net.Conn, total int, rng *rand.Rand) [sha256.Size]byte {
	h := sha256.New()
	buf := make([]byte, 10000)
	for total > 0 {
		n, err := c.Read(buf[:min(total, 1+rng.IntN(len(buf)))])
		if err != nil {
			t.Errorf("Read with %d bytes left: %v", total, err)
			break
		}
		h.Write(buf[:n])
		total -= n
	}
	return [sha256.Size]byte(h.Sum(nil))
}

func TestReadReturnsWhatIsBuffered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newPipe(t, 16)
		n, err := a.Write([]byte("hello"))
		require.NoError(t, err)
		require.Equal(t, 5, n)

		p := make([]byte, 3)
		n, err = b.Read(p)
		require.NoError(t, err)
		require.Equal(t, "hel", string(p[:n]), "Read fills p")

		p = make([]byte, 10)
		n, err = b.Read(p)
		require.NoError(t, err)
		require.Equal(t, "lo", string(p[:n]), "Read returns what is buffered without waiting for more")
	})
}

func TestReadBlocksWhileEmpty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newPipe(t, 16)
		read := calltest.Read(b, 10)
		calltest.RequireBlocked(t, read, "Read with nothing buffered")

		_, err := a.Write([]byte("hi"))
		require.NoError(t, err)
		r := calltest.RequireDone(t, read, "Read after the peer wrote")
		require.NoError(t, r.Err)
		require.Equal(t, "hi", string(r.Data))
	})
}

func TestEmptyReadAndWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newPipe(t, 4)
		n, err := b.Read(nil)
		require.NoError(t, err, "an empty Read does not block")
		require.Zero(t, n)

		_, err = a.Write([]byte("full"))
		require.NoError(t, err)
		n, err = a.Write(nil)
		require.NoError(t, err, "an empty Write does not block on a full buffer")
		require.Zero(t, n)
	})
}

func TestWriteBlocksWhileBufferFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newPipe(t, 8)
		n, err := a.Write([]byte("01234567"))
		require.NoError(t, err, "a Write that fits the buffer does not block")
		require.Equal(t, 8, n)

		write := calltest.Write(a, []byte("abcde"))
		calltest.RequireBlocked(t, write, "Write into a full buffer")
		written, _ := a.Stats()
		require.EqualValues(t, 8, written, "nothing more accepted while full")

		p := make([]byte, 3)
		_, err = io.ReadFull(b, p)
		require.NoError(t, err)
		calltest.RequireBlocked(t, write, "Write with 3 of 5 bytes accepted")
		written, _ = a.Stats()
		require.EqualValues(t, 11, written, "the Write took the room the Read made")

		p = make([]byte, 8)
		_, err = io.ReadFull(b, p)
		require.NoError(t, err)
		require.Equal(t, "34567abc", string(p))
		r := calltest.RequireDone(t, write, "Write after the peer made room")
		require.NoError(t, r.Err)
		require.Equal(t, 5, r.N)

		p = make([]byte, 2)
		_, err = io.ReadFull(b, p)
		require.NoError(t, err)
		require.Equal(t, "de", string(p))
	})
}

func TestConcurrentWritesDoNotInterleave(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newPipe(t, 10)
		const size = 1000
		writes := []<-chan calltest.Result{
			calltest.Write(a, bytes.Repeat([]byte("x"), size)),
			calltest.Write(a, bytes.Repeat([]byte("y"), size)),
			calltest.Write(a, bytes.Repeat([]byte("z"), size)),
		}
		got := make([]byte, 3*size)
		_, err := io.ReadFull(b, got)
		require.NoError(t, err)
		for _, w := range writes {
			r := calltest.RequireDone(t, w, "Write after its bytes were read")
			require.NoError(t, r.Err)
		}
		for i := 0; i < len(got); i += size {
			require.Equal(t, bytes.Repeat(got[i:i+1], size), got[i:i+size], "bytes of one Write are contiguous")
		}
	})
}

func TestConcurrentReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newPipe(t, 64)
		reads := []<-chan calltest.Result{calltest.Read(b, 4), calltest.Read(b, 4), calltest.Read(b, 4)}
		calltest.RequireBlocked(t, reads[0], "Read with nothing buffered")
		_, err := a.Write([]byte("0123456789ab"))
		require.NoError(t, err)
		var all []byte
		for _, r := range reads {
			res := calltest.RequireDone(t, r, "Read after data arrived")
			require.NoError(t, res.Err)
			all = append(all, res.Data...)
		}
		require.ElementsMatch(t, []byte("0123456789ab"), all, "each byte is read once")
	})
}

func TestPeerClose(t *testing.T) {
	t.Run("read drains then EOF", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := newPipe(t, 16)
			_, err := a.Write([]byte("hello"))
			require.NoError(t, err)
			require.NoError(t, a.Close())

			p := make([]byte, 16)
			n, err := b.Read(p)
			require.NoError(t, err, "bytes written before Close are delivered")
			require.Equal(t, "hello", string(p[:n]))
			for range 2 {
				n, err = b.Read(p)
				require.Zero(t, n)
				require.Equal(t, io.EOF, err, "EOF once drained, every time")
			}
		})
	})
	t.Run("pending read gets EOF", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := newPipe(t, 16)
			read := calltest.Read(b, 16)
			calltest.RequireBlocked(t, read, "Read with nothing buffered")
			require.NoError(t, a.Close())
			r := calltest.RequireDone(t, read, "Read after the peer closed")
			require.Equal(t, io.EOF, r.Err)
		})
	})
	t.Run("write fails", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := newPipe(t, 16)
			require.NoError(t, b.Close())
			n, err := a.Write([]byte("x"))
			require.Zero(t, n)
			require.ErrorIs(t, err, io.ErrClosedPipe)
			var oe *net.OpError
			require.ErrorAs(t, err, &oe)
			require.Equal(t, "write", oe.Op)
			require.NotErrorIs(t, err, net.ErrClosed, "a's own end is still open")
		})
	})
	t.Run("pending write fails with bytes accepted", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := newPipe(t, 4)
			write := calltest.Write(a, []byte("0123456789"))
			calltest.RequireBlocked(t, write, "Write larger than the buffer")
			require.NoError(t, b.Close())
			r := calltest.RequireDone(t, write, "Write after the peer closed")
			require.Equal(t, 4, r.N, "n counts the bytes accepted before the close")
			require.ErrorIs(t, r.Err, io.ErrClosedPipe)
		})
	})
}

func TestLocalClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newPipe(t, 4)
		_, err := a.Write([]byte("full"))
		require.NoError(t, err)
		read := calltest.Read(a, 4)
		write := calltest.Write(a, []byte("more"))
		calltest.RequireBlocked(t, read, "Read with nothing buffered")
		calltest.RequireBlocked(t, write, "Write into a full buffer")

		require.NoError(t, a.Close())
		r := calltest.RequireDone(t, read, "pending Read after Close")
		require.ErrorIs(t, r.Err, net.ErrClosed)
		r = calltest.RequireDone(t, write, "pending Write after Close")
		require.ErrorIs(t, r.Err, net.ErrClosed)
		require.Zero(t, r.N)

		_, err = a.Read(make([]byte, 1))
		require.ErrorIs(t, err, net.ErrClosed)
		var oe *net.OpError
		require.ErrorAs(t, err, &oe)
		require.Equal(t, "read", oe.Op)
		_, err = a.Write([]byte("x"))
		require.ErrorIs(t, err, net.ErrClosed)
		require.ErrorIs(t, a.Close(), net.ErrClosed, "second Close reports the end is closed")
		require.ErrorIs(t, a.SetDeadline(time.Now()), net.ErrClosed)
		require.ErrorIs(t, a.SetReadDeadline(time.Now()), net.ErrClosed)
		require.ErrorIs(t, a.SetWriteDeadline(time.Now()), net.ErrClosed)

		p := make([]byte, 8)
		n, err := b.Read(p)
		require.NoError(t, err)
		require.Equal(t, "full", string(p[:n]), "the peer still reads what a wrote")
		_, err = b.Read(p)
		require.Equal(t, io.EOF, err)
	})
}

func TestCloseFromManyGoroutines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newPipe(t, 8)
		var wg sync.WaitGroup
		for _, c := range []*memconn.Conn{a, b} {
			wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
			wg.Go(func() {
				for {
					if _, err := c.Write([]byte("data")); err != nil {
						return
					}
				}
			})
			wg.Go(func() { _ = c.SetDeadline(time.Now().Add(time.Hour)) })
		}
		for range 100 {
			runtime.Gosched() // let the copies run before closing under them
		}
		var closes sync.WaitGroup
		var closeErrs [4]error
		for i := range closeErrs {
			closes.Go(func() { closeErrs[i] = []*memconn.Conn{a, b}[i%2].Close() })
		}
		closes.Wait()
		wg.Wait()
		var nils int
		for _, err := range closeErrs {
			if err == nil {
				nils++
			} else {
				require.ErrorIs(t, err, net.ErrClosed)
			}
		}
		require.Equal(t, 2, nils, "exactly one Close per end succeeds")
	})
}

func TestReadDeadline(t *testing.T) {
	t.Run("pending", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			_, b := newPipe(t, 4)
			start := time.Now()
			require.NoError(t, b.SetReadDeadline(start.Add(time.Second)))
			r := <-calltest.Read(b, 4)
			requireTimeout(t, r.Err, "read")
			require.Equal(t, time.Second, r.At.Sub(start), "Read returns exactly at the deadline")
		})
	})
	t.Run("set while blocked", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			_, b := newPipe(t, 4)
			start := time.Now()
			read := calltest.Read(b, 4)
			time.Sleep(time.Second)
			calltest.RequireBlocked(t, read, "Read without a deadline")
			require.NoError(t, b.SetReadDeadline(time.Now().Add(time.Second)))
			r := <-read
			requireTimeout(t, r.Err, "read")
			require.Equal(t, 2*time.Second, r.At.Sub(start), "a new deadline applies to a pending Read")
		})
	})
	t.Run("future call after expiry", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := newPipe(t, 4)
			require.NoError(t, b.SetReadDeadline(time.Now().Add(time.Second)))
			time.Sleep(2 * time.Second)
			_, err := a.Write([]byte("data"))
			require.NoError(t, err)
			_, err = b.Read(make([]byte, 4))
			requireTimeout(t, err, "read")
			_, err = b.Read(nil)
			requireTimeout(t, err, "read")
		})
	})
	t.Run("extend before expiry", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			_, b := newPipe(t, 4)
			start := time.Now()
			require.NoError(t, b.SetReadDeadline(start.Add(time.Second)))
			read := calltest.Read(b, 4)
			time.Sleep(500 * time.Millisecond)
			require.NoError(t, b.SetReadDeadline(start.Add(3*time.Second)))
			time.Sleep(time.Second)
			calltest.RequireBlocked(t, read, "Read past the replaced deadline")
			r := <-read
			requireTimeout(t, r.Err, "read")
			require.Equal(t, 3*time.Second, r.At.Sub(start), "Read returns at the extended deadline")
		})
	})
	t.Run("extend after expiry", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := newPipe(t, 4)
			require.NoError(t, b.SetReadDeadline(time.Now().Add(time.Second)))
			time.Sleep(time.Second)
			_, err := b.Read(make([]byte, 4))
			requireTimeout(t, err, "read")

			require.NoError(t, b.SetReadDeadline(time.Now().Add(time.Second)))
			read := calltest.Read(b, 4)
			calltest.RequireBlocked(t, read, "Read after the deadline was extended")
			_, err = a.Write([]byte("ok"))
			require.NoError(t, err)
			r := calltest.RequireDone(t, read, "Read after the peer wrote")
			require.NoError(t, r.Err)
			require.Equal(t, "ok", string(r.Data))
		})
	})
	t.Run("past wakes at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			_, b := newPipe(t, 4)
			start := time.Now()
			read := calltest.Read(b, 4)
			calltest.RequireBlocked(t, read, "Read without a deadline")
			require.NoError(t, b.SetReadDeadline(start.Add(-time.Second)))
			r := calltest.RequireDone(t, read, "Read after a past deadline")
			requireTimeout(t, r.Err, "read")
			require.Equal(t, start, r.At, "no fake time passed")
		})
	})
	t.Run("now counts as past", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			_, b := newPipe(t, 4)
			require.NoError(t, b.SetReadDeadline(time.Now()))
			_, err := b.Read(make([]byte, 4))
			requireTimeout(t, err, "read")
		})
	})
	t.Run("zero disables", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := newPipe(t, 4)
			require.NoError(t, b.SetReadDeadline(time.Now().Add(time.Second)))
			read := calltest.Read(b, 4)
			require.NoError(t, b.SetReadDeadline(time.Time{}))
			time.Sleep(time.Hour)
			calltest.RequireBlocked(t, read, "Read after the deadline was cleared")
			_, err := a.Write([]byte("ok"))
			require.NoError(t, err)
			r := calltest.RequireDone(t, read, "Read after the peer wrote")
			require.NoError(t, r.Err)

			require.NoError(t, b.SetReadDeadline(time.Now().Add(-time.Second)))
			require.NoError(t, b.SetReadDeadline(time.Time{}))
			read = calltest.Read(b, 4)
			calltest.RequireBlocked(t, read, "Read after an expired deadline was cleared")
		})
	})
	t.Run("does not affect writes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := newPipe(t, 4)
			require.NoError(t, a.SetReadDeadline(time.Now()))
			_, err := a.Write([]byte("ok"))
			require.NoError(t, err)
			require.NoError(t, b.SetWriteDeadline(time.Now()))
			_, err = a.Read(nil)
			requireTimeout(t, err, "read")
			p := make([]byte, 4)
			n, err := b.Read(p)
			require.NoError(t, err, "b's write deadline does not affect its reads")
			require.Equal(t, "ok", string(p[:n]))
		})
	})
}

func TestWriteDeadline(t *testing.T) {
	t.Run("pending write reports bytes accepted", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := newPipe(t, 4)
			start := time.Now()
			require.NoError(t, a.SetWriteDeadline(start.Add(time.Second)))
			r := <-calltest.Write(a, []byte("0123456789"))
			requireTimeout(t, r.Err, "write")
			require.Equal(t, 4, r.N, "a timed-out Write reports what it buffered")
			require.Equal(t, time.Second, r.At.Sub(start), "Write returns exactly at the deadline")

			p := make([]byte, 8)
			n, err := b.Read(p)
			require.NoError(t, err)
			require.Equal(t, "0123", string(p[:n]), "the accepted bytes are delivered")
		})
	})
	t.Run("waiting for another write", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, _ := newPipe(t, 4)
			first := calltest.Write(a, []byte("0123456789"))
			calltest.RequireBlocked(t, first, "Write larger than the buffer")
			second := calltest.Write(a, []byte("x"))
			calltest.RequireBlocked(t, second, "Write behind a blocked Write")
			require.NoError(t, a.SetWriteDeadline(time.Now()))
			r := calltest.RequireDone(t, first, "first Write after a past deadline")
			requireTimeout(t, r.Err, "write")
			require.Equal(t, 4, r.N)
			r = calltest.RequireDone(t, second, "second Write after a past deadline")
			requireTimeout(t, r.Err, "write")
			require.Zero(t, r.N)
		})
	})
	t.Run("extend after expiry", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := newPipe(t, 4)
			require.NoError(t, a.SetWriteDeadline(time.Now().Add(-time.Second)))
			_, err := a.Write([]byte("x"))
			requireTimeout(t, err, "write")
			require.NoError(t, a.SetWriteDeadline(time.Now().Add(time.Second)))
			n, err := a.Write([]byte("x"))
			require.NoError(t, err)
			require.Equal(t, 1, n)
			_, err = b.Read(make([]byte, 1))
			require.NoError(t, err)
		})
	})
}

func TestSetDeadlineSetsBoth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, _ := newPipe(t, 1)
		start := time.Now()
		_, err := a.Write([]byte("x"))
		require.NoError(t, err)
		require.NoError(t, a.SetDeadline(start.Add(time.Second)))
		read, write := calltest.Read(a, 1), calltest.Write(a, []byte("y"))
		r := <-read
		requireTimeout(t, r.Err, "read")
		require.Equal(t, time.Second, r.At.Sub(start))
		r = <-write
		requireTimeout(t, r.Err, "write")
		require.Equal(t, time.Second, r.At.Sub(start))

		require.NoError(t, a.SetDeadline(time.Time{}))
		calltest.RequireBlocked(t, calltest.Read(a, 1), "Read after SetDeadline(zero)")
	})
}

func TestFreeze(t *testing.T) {
	t.Run("nothing delivered, writes block when full", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := newPipe(t, 4)
			_, err := b.Write([]byte("pre"))
			require.NoError(t, err)
			b.Freeze()

			n, err := b.Write([]byte("z"))
			require.NoError(t, err, "a frozen end's Write is accepted while there is room")
			require.Equal(t, 1, n)
			frozenWrite := calltest.Write(b, []byte("more"))
			calltest.RequireBlocked(t, frozenWrite, "frozen end's Write into a full buffer")

			p := make([]byte, 8)
			n, err = a.Read(p)
			require.NoError(t, err)
			require.Equal(t, "pre", string(p[:n]), "bytes written before Freeze are delivered")
			aRead := calltest.Read(a, 8)
			calltest.RequireBlocked(t, aRead, "peer's Read of bytes written while frozen")

			_, err = a.Write([]byte("0123"))
			require.NoError(t, err, "the peer's Write fills the buffer")
			aWrite := calltest.Write(a, []byte("4"))
			calltest.RequireBlocked(t, aWrite, "peer's Write into a full buffer")
			bRead := calltest.Read(b, 8)
			calltest.RequireBlocked(t, bRead, "frozen end's Read with bytes buffered")

			time.Sleep(time.Hour)
			calltest.RequireBlocked(t, aRead, "peer's Read an hour later")
			calltest.RequireBlocked(t, aWrite, "peer's Write an hour later")
			calltest.RequireBlocked(t, bRead, "frozen end's Read an hour later")
			calltest.RequireBlocked(t, frozenWrite, "frozen end's Write an hour later")
			aWritten, aReadN := a.Stats()
			require.EqualValues(t, 4, aWritten)
			require.EqualValues(t, 3, aReadN)
			bWritten, bReadN := b.Stats()
			require.EqualValues(t, 7, bWritten, "pre, z and the mor that fit once a read pre: Stats count bytes accepted while frozen")
			require.Zero(t, bReadN)

			require.NoError(t, b.Close())
			r := calltest.RequireDone(t, aRead, "peer's Read after the frozen end closed")
			require.ErrorIs(t, r.Err, syscall.ECONNRESET, "bytes written while frozen were lost")
			require.Empty(t, r.Data)
			r = calltest.RequireDone(t, aWrite, "peer's Write after the frozen end closed")
			require.ErrorIs(t, r.Err, io.ErrClosedPipe)
			r = calltest.RequireDone(t, bRead, "frozen end's Read after its Close")
			require.ErrorIs(t, r.Err, net.ErrClosed)
			r = calltest.RequireDone(t, frozenWrite, "frozen end's Write after its Close")
			require.ErrorIs(t, r.Err, net.ErrClosed)
		})
	})
	t.Run("peer close wakes peer calls only", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := newPipe(t, 4)
			b.Freeze()
			aRead := calltest.Read(a, 8)
			bRead := calltest.Read(b, 8)
			calltest.RequireBlocked(t, aRead, "peer's Read")
			require.NoError(t, a.Close())
			r := calltest.RequireDone(t, aRead, "peer's Read after its own Close")
			require.ErrorIs(t, r.Err, net.ErrClosed)
			calltest.RequireBlocked(t, bRead, "frozen end's Read does not see the peer's close")
			_, err := b.Write([]byte("x"))
			require.ErrorIs(t, err, io.ErrClosedPipe, "frozen end's Write fails once the peer closed")
			require.NoError(t, b.Close())
			r = calltest.RequireDone(t, bRead, "frozen end's Read after its Close")
			require.ErrorIs(t, r.Err, net.ErrClosed)
		})
	})
	t.Run("close without lost bytes gives EOF", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := newPipe(t, 4)
			_, err := b.Write([]byte("ab"))
			require.NoError(t, err)
			b.Freeze()
			b.Freeze()
			require.NoError(t, b.Close())
			p := make([]byte, 4)
			n, err := a.Read(p)
			require.NoError(t, err)
			require.Equal(t, "ab", string(p[:n]))
			_, err = a.Read(p)
			require.Equal(t, io.EOF, err)
		})
	})
	t.Run("deadlines still apply", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := newPipe(t, 4)
			_, err := a.Write([]byte("data"))
			require.NoError(t, err)
			b.Freeze()
			start := time.Now()
			require.NoError(t, b.SetReadDeadline(start.Add(time.Second)))
			r := <-calltest.Read(b, 4)
			requireTimeout(t, r.Err, "read")
			require.Equal(t, time.Second, r.At.Sub(start))
		})
	})
	t.Run("after close does nothing", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := newPipe(t, 4)
			_, err := b.Write([]byte("ab"))
			require.NoError(t, err)
			require.NoError(t, b.Close())
			b.Freeze()
			p := make([]byte, 4)
			n, err := a.Read(p)
			require.NoError(t, err)
			require.Equal(t, "ab", string(p[:n]))
		})
	})
}

func TestErrorsAreNetErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newPipe(t, 4)
		require.NoError(t, b.Close())
		_, err := a.Write([]byte("x"))
		var oe *net.OpError
		require.ErrorAs(t, err, &oe)
		require.Equal(t, memconn.Addr("memconn:a"), oe.Source)
		require.Equal(t, memconn.Addr("memconn:b"), oe.Addr)
		require.False(t, oe.Timeout())
		require.False(t, errors.Is(err, os.ErrDeadlineExceeded))
	})
}
