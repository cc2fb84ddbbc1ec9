package quic

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"

	"github.com/twinemux/twine/internal/calltest"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/mux"
)

func TestEcho(t *testing.T) {
	c, s := newPair(t, nil, nil)
	cs, ss := openPair(t, c, s)
	go func() {
		io.Copy(ss, ss)
		ss.CloseWrite()
	}()
	msg := []byte("hello over quic")
	_, err := cs.Write(msg)
	require.NoError(t, err)
	require.NoError(t, cs.CloseWrite())
	got, err := io.ReadAll(cs)
	require.NoError(t, err, "ReadAll stops at io.EOF")
	require.Equal(t, msg, got)
	n, err := cs.Read(make([]byte, 1))
	require.Equal(t, 0, n)
	require.Equal(t, io.EOF, err, "io.EOF again after the end")
}

func TestAcceptBeforeAnyWrite(t *testing.T) {
	c, s := newPair(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	st, err := c.OpenStream(ctx)
	require.NoError(t, err)
	acc, err := s.AcceptStream(ctx)
	require.NoError(t, err, "the stream header makes an unwritten stream visible")
	require.Equal(t, st.(*Stream).StreamID(), acc.(*Stream).StreamID())
}

func TestAcceptOrder(t *testing.T) {
	c, s := newPair(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	var opened []int64
	for range 10 {
		st, err := c.OpenStream(ctx)
		require.NoError(t, err)
		opened = append(opened, st.(*Stream).StreamID())
	}
	for i := range 10 {
		acc, err := s.AcceptStream(ctx)
		require.NoError(t, err)
		require.Equal(t, opened[i], acc.(*Stream).StreamID(), "stream %d accepted out of order", i)
	}
}

func TestServerOpens(t *testing.T) {
	c, s := newPair(t, nil, nil)
	ss, cs := openPair(t, s, c)
	_, err := ss.Write([]byte("x"))
	require.NoError(t, err)
	require.NoError(t, ss.Close())
	got, err := io.ReadAll(cs)
	require.NoError(t, err)
	require.Equal(t, "x", string(got))
}

// A Read returns data or an error, never both: the FIN that comes with the
// last bytes is reported by the next Read.
func TestReadReturnsDataThenEOF(t *testing.T) {
	c, s := newPair(t, nil, nil)
	cs, ss := openPair(t, c, s)
	_, err := cs.Write([]byte("abc"))
	require.NoError(t, err)
	require.NoError(t, cs.CloseWrite())
	got := make([]byte, 0, 3)
	buf := make([]byte, 10)
	for len(got) < 3 {
		n, err := ss.Read(buf)
		require.NoError(t, err)
		got = append(got, buf[:n]...)
	}
	require.Equal(t, "abc", string(got))
	n, err := ss.Read(buf)
	require.Equal(t, 0, n)
	require.Equal(t, io.EOF, err)
}

func TestCloseWrite(t *testing.T) {
	c, s := newPair(t, smallWindows, smallWindows)
	cs, ss := openPair(t, c, s)

	t.Run("pending Write fails and FIN follows", func(t *testing.T) {
		pending := blockedWrite(t, cs, ss)
		require.NoError(t, cs.CloseWrite())
		r := await(t, pending, "Write in progress at CloseWrite")
		require.ErrorIs(t, r.Err, net.ErrClosed)
		require.Less(t, r.N, 1<<20)
		rest, err := io.ReadAll(ss)
		require.NoError(t, err, "the peer reads what was taken, then io.EOF")
		require.Equal(t, r.N, 1+len(rest), "the peer gets exactly the bytes the Write reported")
	})

	t.Run("later Write fails", func(t *testing.T) {
		n, err := cs.Write([]byte("late"))
		require.Equal(t, 0, n)
		require.ErrorIs(t, err, net.ErrClosed)
		require.NotErrorIs(t, err, mux.ErrStreamReset)
		require.NoError(t, cs.CloseWrite(), "repeat CloseWrite is a no-op")
	})

	t.Run("reading is unaffected", func(t *testing.T) {
		_, err := ss.Write([]byte("reply"))
		require.NoError(t, err)
		require.NoError(t, ss.CloseWrite())
		got, err := io.ReadAll(cs)
		require.NoError(t, err)
		require.Equal(t, "reply", string(got))
	})
}

func TestCloseRead(t *testing.T) {
	c, s := newPair(t, smallWindows, smallWindows)

	t.Run("pending Read fails", func(t *testing.T) {
		_, ss := openPair(t, c, s)
		pending := calltest.ReadFull(ss, 1)
		require.NoError(t, ss.CloseRead())
		r := await(t, pending, "Read in progress at CloseRead")
		require.ErrorIs(t, r.Err, net.ErrClosed)
		require.NotErrorIs(t, r.Err, io.EOF)
		require.NoError(t, ss.CloseRead(), "repeat CloseRead is a no-op")
	})

	t.Run("the peer's Writes fail", func(t *testing.T) {
		cs, ss := openPair(t, c, s)
		pendingWrite := blockedWrite(t, cs, ss)
		require.NoError(t, ss.CloseRead())
		_, err := ss.Read(make([]byte, 1))
		require.ErrorIs(t, err, net.ErrClosed, "later Read, with data buffered before CloseRead")

		r := await(t, pendingWrite, "the peer's Write in progress at CloseRead")
		requireStreamError(t, r.Err, mux.CodeNoError, true)
		_, err = cs.Write([]byte("x"))
		requireStreamError(t, err, mux.CodeNoError, true)

		// The other direction still works.
		_, err = ss.Write([]byte("still"))
		require.NoError(t, err)
		require.NoError(t, ss.CloseWrite())
		got, err := io.ReadAll(cs)
		require.NoError(t, err)
		require.Equal(t, "still", string(got))
	})
}

// CloseRead after the FIN was read still makes later Reads fail with
// net.ErrClosed, as the framed back end does.
func TestCloseReadAfterEOF(t *testing.T) {
	c, s := newPair(t, nil, nil)
	cs, ss := openPair(t, c, s)
	require.NoError(t, cs.CloseWrite())
	_, err := ss.Read(make([]byte, 1))
	require.Equal(t, io.EOF, err)
	require.NoError(t, ss.CloseRead())
	_, err = ss.Read(make([]byte, 1))
	require.ErrorIs(t, err, net.ErrClosed)
}

func TestClose(t *testing.T) {
	c, s := newPair(t, smallWindows, smallWindows)
	cs, ss := openPair(t, c, s)

	_, err := cs.Write([]byte("before close"))
	require.NoError(t, err)
	pendingRead := calltest.ReadFull(cs, 1)
	require.NoError(t, cs.Close())
	r := await(t, pendingRead, "Read in progress at Close")
	require.ErrorIs(t, r.Err, net.ErrClosed)
	_, err = cs.Write([]byte("x"))
	require.ErrorIs(t, err, net.ErrClosed)

	got, err := io.ReadAll(ss)
	require.NoError(t, err, "the peer reads the data, then io.EOF")
	require.Equal(t, "before close", string(got))
	// STOP_SENDING follows the FIN, and may arrive after the peer read it.
	require.Eventually(t, func() bool {
		_, err = ss.Write([]byte("x"))
		return err != nil
	}, waitLong, time.Millisecond)
	requireStreamError(t, err, mux.CodeNoError, true)
	require.NoError(t, cs.Close(), "repeat Close is a no-op")
}

func TestCloseWakesPendingWrite(t *testing.T) {
	c, s := newPair(t, smallWindows, smallWindows)
	cs, ss := openPair(t, c, s)
	pending := blockedWrite(t, cs, ss)
	require.NoError(t, cs.Close())
	r := await(t, pending, "Write in progress at Close")
	require.ErrorIs(t, r.Err, net.ErrClosed)
}

func TestReset(t *testing.T) {
	const code mux.ErrorCode = 0x4242
	c, s := newPair(t, smallWindows, smallWindows)

	t.Run("pending Writes on both sides", func(t *testing.T) {
		cs, ss := openPair(t, c, s)
		localWrite := blockedWrite(t, cs, ss)
		peerWrite := blockedWrite(t, ss, cs)
		require.NoError(t, cs.ResetWithError(code))
		requireStreamError(t, await(t, localWrite, "local Write").Err, code, false)
		requireStreamError(t, await(t, peerWrite, "peer Write").Err, code, true)

		_, err := cs.Write([]byte("x"))
		requireStreamError(t, err, code, false)
		_, err = cs.Read(make([]byte, 1))
		requireStreamError(t, err, code, false)
		_, err = ss.Write([]byte("x"))
		requireStreamError(t, err, code, true)
		_, err = ss.Read(make([]byte, 1))
		requireStreamError(t, err, code, true) // buffered data is discarded
	})

	t.Run("pending Reads on both sides", func(t *testing.T) {
		cs, ss := openPair(t, c, s)
		localRead := calltest.ReadFull(cs, 1)
		peerRead := calltest.ReadFull(ss, 1)
		require.NoError(t, cs.ResetWithError(code))
		requireStreamError(t, await(t, localRead, "local Read").Err, code, false)
		requireStreamError(t, await(t, peerRead, "peer Read").Err, code, true)
		require.NoError(t, cs.Reset(), "repeat reset is a no-op")
		_, err := cs.Read(make([]byte, 1))
		requireStreamError(t, err, code, false)
	})
}

// A peer's reset aborts both halves at once, even if the application
// never touches the stream, so the stream's credit comes back.
func TestPeerResetReturnsCredit(t *testing.T) {
	one := *smallWindows
	one.MaxIncomingStreams = 1
	c, s := newPair(t, nil, &one)
	cs, _ := openPair(t, c, s)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err := c.OpenStream(ctx)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "the server granted one stream")

	require.NoError(t, cs.ResetWithError(9))
	ctx, cancel = context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	_, err = c.OpenStream(ctx)
	require.NoError(t, err, "the reset stream's credit comes back without the server application")
}

// After CloseWrite, a reset leaves the peer the data and FIN already sent,
// as twine's RST leaves a receive half whose FIN arrived; the peer's Writes
// fail with the code.
func TestResetAfterCloseWrite(t *testing.T) {
	c, s := newPair(t, nil, nil)
	cs, ss := openPair(t, c, s)
	_, err := cs.Write([]byte("complete"))
	require.NoError(t, err)
	require.NoError(t, cs.CloseWrite())
	require.NoError(t, cs.ResetWithError(5))

	got, err := io.ReadAll(ss)
	require.NoError(t, err)
	require.Equal(t, "complete", string(got))
	require.Eventually(t, func() bool {
		_, err = ss.Write([]byte("x"))
		return err != nil
	}, waitLong, time.Millisecond)
	requireStreamError(t, err, 5, true)
}

// A stream the peer reset before it was accepted never reaches the
// application.
func TestResetBeforeAcceptIsSkipped(t *testing.T) {
	c, s := newPair(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	marker, smarker := openPair(t, c, s)

	doomed, err := c.OpenStream(ctx)
	require.NoError(t, err)
	require.NoError(t, doomed.ResetWithError(3))
	// The reset went out before this, and loopback does not reorder.
	_, err = marker.Write([]byte("m"))
	require.NoError(t, err)
	_, err = io.ReadFull(smarker, make([]byte, 1))
	require.NoError(t, err)

	next, err := c.OpenStream(ctx)
	require.NoError(t, err)
	acc, err := s.AcceptStream(ctx)
	require.NoError(t, err)
	require.Equal(t, next.(*Stream).StreamID(), acc.(*Stream).StreamID(), "the reset stream was skipped")
}

func TestDeadlines(t *testing.T) {
	c, s := newPair(t, smallWindows, smallWindows)
	cs, ss := openPair(t, c, s)

	requireDeadline := func(err error, op string) {
		t.Helper()
		var de *mux.DeadlineError
		require.ErrorAs(t, err, &de)
		require.Equal(t, op, de.Op)
		require.Equal(t, uint64(cs.StreamID()), de.StreamID)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		require.True(t, ne.Timeout())
	}

	t.Run("past deadline wakes a pending Read", func(t *testing.T) {
		pending := calltest.ReadFull(cs, 1)
		requireStillBlocked(t, pending, "Read without data")
		require.NoError(t, cs.SetReadDeadline(aLongTimeAgo))
		requireDeadline(await(t, pending, "Read at a past deadline").Err, "read")
		_, err := cs.Read(make([]byte, 1))
		requireDeadline(err, "read")
	})

	t.Run("a future deadline expires", func(t *testing.T) {
		require.NoError(t, cs.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
		start := time.Now()
		_, err := cs.Read(make([]byte, 1))
		requireDeadline(err, "read")
		require.GreaterOrEqual(t, time.Since(start), 40*time.Millisecond)
	})

	t.Run("extending and clearing", func(t *testing.T) {
		require.NoError(t, cs.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
		pending := calltest.ReadFull(cs, 1)
		require.NoError(t, cs.SetReadDeadline(time.Now().Add(time.Hour)))
		requireStillBlocked(t, pending, "Read after the deadline was extended")
		require.NoError(t, cs.SetReadDeadline(time.Time{}))
		_, err := ss.Write([]byte("x"))
		require.NoError(t, err)
		r := await(t, pending, "Read with data")
		require.NoError(t, r.Err)
	})

	t.Run("write deadline", func(t *testing.T) {
		pending := blockedWrite(t, cs, ss)
		require.NoError(t, cs.SetWriteDeadline(time.Now().Add(20*time.Millisecond)))
		r := await(t, pending, "Write at its deadline")
		requireDeadline(r.Err, "write")
		require.Less(t, r.N, 1<<20)
		require.NoError(t, cs.SetWriteDeadline(time.Time{}))
		_, err := cs.Write([]byte("x"))
		require.NoError(t, err, "a cleared deadline lets Writes through")
	})
}

// Many concurrent streams, each echoing random data verified by hash.
func TestManyStreams(t *testing.T) {
	c, s := newPair(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	go func() {
		for {
			st, err := s.AcceptStream(ctx)
			if err != nil {
				return
			}
			go func() {
				io.Copy(st, st)
				st.Close()
			}()
		}
	}()
	const streams = 200
	errs := make(chan error, streams)
	for i := range streams {
		go func() {
			errs <- func() error {
				st, err := c.OpenStream(ctx)
				if err != nil {
					return err
				}
				defer st.Close()
				data := make([]byte, rand.IntN(64<<10))
				for j := range data {
					data[j] = byte(i + j)
				}
				go func() {
					st.Write(data)
					st.CloseWrite()
				}()
				got, err := io.ReadAll(st)
				if err != nil {
					return err
				}
				if sha256.Sum256(got) != sha256.Sum256(data) {
					return io.ErrShortBuffer
				}
				return nil
			}()
		}()
	}
	for range streams {
		require.NoError(t, <-errs)
	}
}

// Both directions at once, beyond every initial window.
func TestLargeTransfer(t *testing.T) {
	c, s := newPair(t, nil, nil)
	cs, ss := openPair(t, c, s)
	const size = 16 << 20
	data := bytes.Repeat([]byte("twine-quic"), size/10)
	send := func(st *Stream) <-chan calltest.Result {
		return calltest.Go(func() calltest.Result {
			n, err := st.Write(data)
			if err == nil {
				err = st.CloseWrite()
			}
			return calltest.Result{N: n, Err: err}
		})
	}
	c2s, s2c := send(cs), send(ss)
	gotS, err := io.ReadAll(ss)
	require.NoError(t, err)
	gotC, err := io.ReadAll(cs)
	require.NoError(t, err)
	require.NoError(t, await(t, c2s, "client Write").Err)
	require.NoError(t, await(t, s2c, "server Write").Err)
	require.True(t, bytes.Equal(data, gotS), "client to server")
	require.True(t, bytes.Equal(data, gotC), "server to client")
}

// quic-go may answer a Read after the peer's reset with io.EOF once it has
// returned the reset error: the reset stands for every later Read. A FIN
// read without a reset is still io.EOF.
func TestPeerResetStandsAfterQuicGoSaysEOF(t *testing.T) {
	st := &Stream{id: 4, recvState: recvPeerReset, recvCode: 7, resetRead: true}
	require.Equal(t, &mux.StreamError{StreamID: 4, Code: 7, Remote: true}, st.readErr(io.EOF))
	require.Equal(t, io.EOF, (&Stream{id: 4}).readErr(io.EOF))
}
