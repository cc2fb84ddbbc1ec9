package muxtest

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/twinemux/twine/internal/calltest"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/mux"
)

// testNetConn checks a stream against net.Conn's contract, in the spirit of
// golang.org/x/net/nettest.TestConn. Deadlines are checked by Deadlines.
func testNetConn(t *testing.T, newPair NewPair) {
	tests := []struct {
		name string
		run  func(t *testing.T, p Pair)
	}{
		{"BasicIO", testBasicIO},
		{"PingPong", testPingPong},
		{"ConcurrentMethods", testConcurrentMethods},
		{"CloseUnblocksPending", testCloseUnblocksPending},
		{"RepeatCloses", testRepeatCloses},
		{"ZeroLength", testZeroLength},
		{"Addrs", testAddrs},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newPair(t, Options{InitialStreamWindow: testWindow}))
		})
	}
}

// Data written in pieces of random sizes arrives intact, read in pieces of
// other sizes, both ways at once.
func testBasicIO(t *testing.T, p Pair) {
	cs, ss := openPair(t, p)
	const size = 1 << 20
	var sent [2][]byte
	var calls [4]<-chan calltest.Result
	for i, dir := range [][2]mux.Stream{{cs, ss}, {ss, cs}} {
		data := randomBytes(uint64(10+i), size)
		sent[i] = data
		rng := rand.New(rand.NewPCG(uint64(i), 3))
		sizes := make([]int, 0, 64)
		for n := 0; n < size; {
			k := min(size-n, 1+rng.IntN(32<<10))
			sizes = append(sizes, k)
			n += k
		}
		calls[2*i] = calltest.Go(func() calltest.Result {
			rest := data
			for _, k := range sizes {
				n, err := dir[0].Write(rest[:k])
				if err != nil || n != k {
					return calltest.Result{N: n, Err: err}
				}
				rest = rest[k:]
			}
			return calltest.Result{Err: dir[0].CloseWrite()}
		})
		calls[2*i+1] = calltest.Go(func() calltest.Result {
			var buf bytes.Buffer
			p := make([]byte, 1+rng.IntN(8<<10))
			for {
				n, err := dir[1].Read(p)
				buf.Write(p[:n])
				if err != nil {
					return calltest.Result{Data: buf.Bytes(), Err: err}
				}
			}
		})
	}
	for i := range 2 {
		w := await(t, calls[2*i], "writing 1 MiB in pieces")
		require.NoError(t, w.Err)
		r := await(t, calls[2*i+1], "reading 1 MiB in pieces")
		requireEOF(t, r.Err, "reading after the FIN")
		require.Equal(t, hash(sent[i]), hash(r.Data), "the data arrives intact")
	}
}

// Small messages go back and forth, each waiting for the other.
func testPingPong(t *testing.T, p Pair) {
	cs, ss := openPair(t, p)
	const rounds = 200
	pong := calltest.Go(func() calltest.Result {
		var b [8]byte
		for range rounds {
			if _, err := io.ReadFull(ss, b[:]); err != nil {
				return calltest.Result{Err: err}
			}
			binary.BigEndian.PutUint64(b[:], binary.BigEndian.Uint64(b[:])+1)
			if _, err := ss.Write(b[:]); err != nil {
				return calltest.Result{Err: err}
			}
		}
		return calltest.Result{}
	})
	ping := calltest.Go(func() calltest.Result {
		var b [8]byte
		for i := range uint64(rounds) {
			binary.BigEndian.PutUint64(b[:], 2*i)
			if _, err := cs.Write(b[:]); err != nil {
				return calltest.Result{Err: err}
			}
			if _, err := io.ReadFull(cs, b[:]); err != nil {
				return calltest.Result{Err: err}
			}
			if got := binary.BigEndian.Uint64(b[:]); got != 2*i+1 {
				return calltest.Result{Err: io.ErrUnexpectedEOF, N: int(got)}
			}
		}
		return calltest.Result{}
	})
	r := await(t, ping, "ping")
	require.NoError(t, r.Err, "ping (got %d)", r.N)
	r = await(t, pong, "pong")
	require.NoError(t, r.Err, "pong")
}

// Every method may be called concurrently with every other; the race
// detector checks the stream's locking.
func testConcurrentMethods(t *testing.T, p Pair) {
	cs, ss := openPair(t, p)
	echo := calltest.Go(func() calltest.Result {
		_, err := io.Copy(ss, ss)
		return calltest.Result{Err: err}
	})
	require.NoError(t, cs.SetDeadline(time.Now().Add(200*time.Millisecond)))

	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			p := make([]byte, 1024)
			for {
				if _, err := cs.Read(p); err != nil {
					return
				}
			}
		})
		wg.Go(func() {
			p := make([]byte, 1024)
			for {
				if _, err := cs.Write(p); err != nil {
					return
				}
			}
		})
		wg.Go(func() {
			at := time.Now().Add(200 * time.Millisecond)
			cs.SetDeadline(at)
			cs.SetReadDeadline(at)
			cs.SetWriteDeadline(at)
		})
		wg.Go(func() {
			_ = cs.LocalAddr().String() + cs.RemoteAddr().String()
		})
	}
	done := calltest.Go(func() calltest.Result { wg.Wait(); return calltest.Result{} })
	await(t, done, "Reads and Writes ending at their deadline")
	require.NoError(t, cs.Close())
	// The echo ends: it reads the FIN, or its writes fail once the
	// client's CloseRead reaches it.
	await(t, echo, "the peer's echo once the stream closed")
	require.NoError(t, ss.Close())
}

// Close wakes a blocked Read and a blocked Write.
func testCloseUnblocksPending(t *testing.T, p Pair) {
	cs, _ := openPair(t, p)
	read := calltest.Read(cs, 10)
	write := calltest.Write(cs, randomBytes(8, blockingSize))
	requirePending(t, read, "Read with nothing sent")
	requirePending(t, write, "Write beyond the window")
	require.NoError(t, cs.Close())
	r := await(t, read, "a Read blocked at Close")
	requireClosedError(t, r.Err, "a Read blocked at Close")
	r = await(t, write, "a Write blocked at Close")
	requireClosedError(t, r.Err, "a Write blocked at Close")
	require.Less(t, r.N, blockingSize)
}

// Repeat close calls are no-ops: no error, and the peer sees one FIN.
func testRepeatCloses(t *testing.T, p Pair) {
	cs, ss := openPair(t, p)
	msg := []byte("before the FIN")
	_, err := cs.Write(msg)
	require.NoError(t, err)
	require.NoError(t, cs.CloseWrite())
	require.NoError(t, cs.CloseWrite(), "a second CloseWrite")
	require.NoError(t, cs.CloseRead())
	require.NoError(t, cs.CloseRead(), "a second CloseRead")
	require.NoError(t, cs.Close(), "Close after CloseWrite and CloseRead")
	require.NoError(t, cs.Close(), "a second Close")
	r := await(t, goReadAll(ss), "the peer reading")
	requireEOF(t, r.Err, "the peer reading after repeated closes")
	require.Equal(t, msg, r.Data)
	r = await(t, goWriteUntilError(ss), "the peer writing after repeated closes")
	requireStreamError(t, r.Err, mux.CodeNoError, true, "the peer writing after repeated closes")
}

// Empty reads and writes return at once and send nothing.
func testZeroLength(t *testing.T, p Pair) {
	cs, ss := openPair(t, p)
	read := calltest.ReadFull(ss, 1)
	for _, b := range [][]byte{nil, {}} {
		w := await(t, calltest.Write(cs, b), "an empty Write")
		require.NoError(t, w.Err, "an empty Write")
		require.Zero(t, w.N)
	}
	requirePending(t, read, "the peer's Read after empty writes: they send nothing")
	r := await(t, calltest.Read(cs, 0), "an empty Read with nothing buffered")
	require.NoError(t, r.Err, "an empty Read")
	require.Zero(t, r.N)
	_, err := cs.Write([]byte("x"))
	require.NoError(t, err)
	r = await(t, read, "the peer's Read")
	require.NoError(t, r.Err)
	require.Equal(t, []byte("x"), r.Data)
}

// Streams report their session's addresses.
func testAddrs(t *testing.T, p Pair) {
	cs, ss := openPair(t, p)
	for _, side := range []struct {
		name string
		s    mux.Session
		st   mux.Stream
	}{{"client", p.Client, cs}, {"server", p.Server, ss}} {
		require.NotNil(t, side.s.LocalAddr(), "the %s session's LocalAddr", side.name)
		require.NotNil(t, side.s.RemoteAddr(), "the %s session's RemoteAddr", side.name)
		require.NotNil(t, side.st.LocalAddr(), "the %s stream's LocalAddr", side.name)
		require.NotNil(t, side.st.RemoteAddr(), "the %s stream's RemoteAddr", side.name)
		require.NotEmpty(t, side.st.LocalAddr().Network())
		require.Equal(t, side.s.LocalAddr().String(), side.st.LocalAddr().String(), "the %s stream's LocalAddr is its session's", side.name)
		require.Equal(t, side.s.RemoteAddr().String(), side.st.RemoteAddr().String(), "the %s stream's RemoteAddr is its session's", side.name)
	}
}
