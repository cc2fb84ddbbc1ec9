package muxtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twinemux/twine/internal/calltest"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/mux"
)

const (
	// bound is how long a call that must return may take. Generous: the
	// suite runs under the race detector, over real networks.
	bound = 5 * time.Second
	// bulkBound bounds the bulk tests (many streams, large transfers).
	bulkBound = 2 * time.Minute
	// pendingCheck is how long a call must not return to count as blocked.
	pendingCheck = 20 * time.Millisecond
	// testWindow is the stream window asked for where writes must block.
	testWindow = 64 << 10
	// blockingSize is a Write size sure to block on a testWindow window
	// while the peer does not read.
	blockingSize = 1 << 20
)

// cpuHeavy keeps the bulk tests, which load every CPU, from running at
// the same time as the tests whose outcome depends on prompt scheduling:
// a healthy peer must get its PING answered within the peer timeout, and
// under the race detector thousands of runnable goroutines can delay that
// by hundreds of milliseconds. Bulk tests hold it exclusively, the others
// shared. It is shared by every Run in the test binary.
var cpuHeavy sync.RWMutex

// goReadAll reads until an error (io.EOF included, unlike io.ReadAll).
func goReadAll(st mux.Stream) <-chan calltest.Result {
	return calltest.Go(func() calltest.Result {
		var buf bytes.Buffer
		p := make([]byte, 32<<10)
		for {
			n, err := st.Read(p)
			buf.Write(p[:n])
			if err != nil {
				return calltest.Result{N: buf.Len(), Data: buf.Bytes(), Err: err}
			}
		}
	})
}

// goWriteUntilError writes small chunks until a Write fails, for at most
// bound; it reports the failing Write's error, or nil if none failed.
func goWriteUntilError(st mux.Stream) <-chan calltest.Result {
	return calltest.Go(func() calltest.Result {
		chunk := make([]byte, 1024)
		total := 0
		for start := time.Now(); time.Since(start) < bound; {
			n, err := st.Write(chunk)
			total += n
			if err != nil {
				return calltest.Result{N: total, Err: err}
			}
		}
		return calltest.Result{N: total}
	})
}

// await waits for a call that must return.
func await(t *testing.T, ch <-chan calltest.Result, what string) calltest.Result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(bound):
		t.Fatalf("%s: still blocked after %v", what, bound)
		return calltest.Result{}
	}
}

// awaitFor is await with a longer bound, for bulk transfers.
func awaitFor(t *testing.T, ch <-chan calltest.Result, d time.Duration, what string) calltest.Result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(d):
		t.Fatalf("%s: still blocked after %v", what, d)
		return calltest.Result{}
	}
}

// requirePending asserts that a call has not returned within pendingCheck.
func requirePending(t *testing.T, ch <-chan calltest.Result, what string) {
	t.Helper()
	requirePendingFor(t, ch, pendingCheck, what)
}

func requirePendingFor(t *testing.T, ch <-chan calltest.Result, d time.Duration, what string) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s: returned (%d, %v) instead of blocking", what, r.N, r.Err)
	case <-time.After(d):
	}
}

// boundCtx returns a context that ends after bound, or with the test.
func boundCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	t.Cleanup(cancel)
	return ctx
}

// hello is written on each new stream before it is accepted, so that back
// ends announcing a stream only with its first byte still pass the tests
// that are not about that (AcceptOrder is).
const hello = 'h'

// openStream opens a stream on from and accepts it on to.
func openStream(t *testing.T, from, to mux.Session) (opened, accepted mux.Stream) {
	t.Helper()
	ctx := boundCtx(t)
	opened, err := from.OpenStream(ctx)
	require.NoError(t, err, "OpenStream")
	_, err = opened.Write([]byte{hello})
	require.NoError(t, err, "writing the first byte of a new stream")
	accepted, err = to.AcceptStream(ctx)
	require.NoError(t, err, "AcceptStream")
	r := await(t, calltest.ReadFull(accepted, 1), "reading the first byte of a new stream")
	require.NoError(t, r.Err, "reading the first byte of a new stream")
	require.Equal(t, []byte{hello}, r.Data, "the first byte of a new stream")
	return opened, accepted
}

// openPair opens a stream from the client and accepts it on the server.
func openPair(t *testing.T, p Pair) (client, server mux.Stream) {
	t.Helper()
	return openStream(t, p.Client, p.Server)
}

// requireEcho sends a message each way on a stream and checks it arrives.
func requireEcho(t *testing.T, a, b mux.Stream, msg string) {
	t.Helper()
	for _, dir := range [][2]mux.Stream{{a, b}, {b, a}} {
		read := calltest.ReadFull(dir[1], len(msg))
		w := await(t, calltest.Write(dir[0], []byte(msg)), "writing "+msg)
		require.NoError(t, w.Err, "writing %q", msg)
		r := await(t, read, "reading "+msg)
		require.NoError(t, r.Err, "reading %q", msg)
		require.Equal(t, msg, string(r.Data))
	}
}

// randomBytes returns n bytes from a seeded generator.
func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	rng.Read(b)
	return b
}

func hash(b []byte) [sha256.Size]byte { return sha256.Sum256(b) }

// requireStreamError asserts that err is a *mux.StreamError with code and
// remote, matching mux.ErrStreamReset, and not io.EOF.
func requireStreamError(t *testing.T, err error, code mux.ErrorCode, remote bool, what string) {
	t.Helper()
	var se *mux.StreamError
	require.ErrorAs(t, err, &se, "%s: want *mux.StreamError{Code: %v, Remote: %v}", what, code, remote)
	require.Equal(t, code, se.Code, "%s: Code of %v", what, err)
	require.Equal(t, remote, se.Remote, "%s: Remote of %v", what, err)
	require.ErrorIs(t, err, mux.ErrStreamReset, "%s: a *mux.StreamError matches mux.ErrStreamReset", what)
	require.NotErrorIs(t, err, io.EOF, "%s", what)
}

// requireClosedError asserts that err wraps net.ErrClosed and is neither a
// reset, io.EOF nor a timeout: what calls on a locally closed half get.
func requireClosedError(t *testing.T, err error, what string) {
	t.Helper()
	require.ErrorIs(t, err, net.ErrClosed, "%s: want an error wrapping net.ErrClosed", what)
	require.NotErrorIs(t, err, mux.ErrStreamReset, "%s", what)
	require.NotErrorIs(t, err, io.EOF, "%s", what)
	require.NotErrorIs(t, err, os.ErrDeadlineExceeded, "%s", what)
}

// requireEOF asserts that err is io.EOF itself, as io.Reader requires.
func requireEOF(t *testing.T, err error, what string) {
	t.Helper()
	require.Equal(t, io.EOF, err, "%s: want io.EOF", what)
}

// requireSessionError asserts that err is a *mux.SessionError with code and
// remote, matching net.ErrClosed.
func requireSessionError(t *testing.T, err error, code mux.ErrorCode, remote bool, what string) {
	t.Helper()
	var se *mux.SessionError
	require.ErrorAs(t, err, &se, "%s: want *mux.SessionError{Code: %v, Remote: %v}", what, code, remote)
	require.Equal(t, code, se.Code, "%s: Code of %v", what, err)
	require.Equal(t, remote, se.Remote, "%s: Remote of %v", what, err)
	require.ErrorIs(t, err, net.ErrClosed, "%s: a session error matches net.ErrClosed", what)
	require.NotErrorIs(t, err, io.EOF, "%s", what)
	require.NotErrorIs(t, err, mux.ErrStreamReset, "%s", what)
}

// requireTimeout asserts that err is a deadline error: it matches
// os.ErrDeadlineExceeded and is a net.Error whose Timeout is true.
func requireTimeout(t *testing.T, err error, what string) {
	t.Helper()
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "%s: want a deadline error", what)
	var ne net.Error
	require.True(t, errors.As(err, &ne), "%s: %v is not a net.Error", what, err)
	require.True(t, ne.Timeout(), "%s: Timeout() of %v", what, err)
	require.NotErrorIs(t, err, io.EOF, "%s", what)
	require.NotErrorIs(t, err, net.ErrClosed, "%s: a deadline does not close the stream", what)
}

// requireElapsed asserts that a call that started at start and returned at
// end took at least min and less than min plus bound.
func requireElapsed(t *testing.T, start, end time.Time, min time.Duration, what string) {
	t.Helper()
	took := end.Sub(start)
	require.GreaterOrEqual(t, took, min, "%s returned too early", what)
	require.Less(t, took, min+bound, "%s returned too late", what)
}

// requireTimedOut waits for the call behind ch and asserts that it failed
// with a deadline error, at least after and less than after plus bound
// since start. It returns the call's result.
func requireTimedOut(t *testing.T, ch <-chan calltest.Result, start time.Time, after time.Duration, what string) calltest.Result {
	t.Helper()
	r := await(t, ch, what)
	requireTimeout(t, r.Err, what)
	requireElapsed(t, start, r.At, after, what)
	return r
}
