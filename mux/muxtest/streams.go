package muxtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twinemux/twine/internal/calltest"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/mux"
)

func testEOF(t *testing.T, newPair NewPair) {
	// io.EOF comes after every byte written before CloseWrite, read in
	// small pieces while the writer is still writing, and then repeats.
	t.Run("DrainThenEOF", func(t *testing.T) {
		t.Parallel()
		p := newPair(t, Options{InitialStreamWindow: testWindow})
		cs, ss := openPair(t, p)
		data := randomBytes(3, 1<<20)
		writer := calltest.Go(func() calltest.Result {
			for rest := data; len(rest) > 0; {
				n, err := cs.Write(rest[:min(len(rest), 3000)])
				rest = rest[n:]
				if err != nil {
					return calltest.Result{Err: err}
				}
			}
			return calltest.Result{Err: cs.CloseWrite()}
		})
		reader := calltest.Go(func() calltest.Result {
			var got bytes.Buffer
			p := make([]byte, 777)
			for {
				n, err := ss.Read(p)
				got.Write(p[:n])
				if err != nil {
					return calltest.Result{Data: got.Bytes(), Err: err}
				}
			}
		})
		w := await(t, writer, "writing 1 MiB then CloseWrite")
		require.NoError(t, w.Err)
		r := await(t, reader, "reading 1 MiB to io.EOF")
		requireEOF(t, r.Err, "reading after the FIN")
		require.Equal(t, len(data), len(r.Data), "io.EOF only after every byte")
		require.Equal(t, hash(data), hash(r.Data))
		for range 2 {
			again := await(t, calltest.Read(ss, 10), "a Read after io.EOF")
			require.Zero(t, again.N)
			requireEOF(t, again.Err, "a Read after io.EOF")
		}
	})

	// A session that ends while a stream is open gives its readers the
	// session's error, never io.EOF: a truncated transfer must not look
	// complete.
	for _, local := range []bool{true, false} {
		name := "PeerSessionClosed"
		if local {
			name = "LocalSessionClosed"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t, Options{})
			cs, ss := openPair(t, p)
			idle, _ := openPair(t, p)
			msg := []byte("no FIN follows")
			w := await(t, calltest.Write(cs, msg), "writing")
			require.NoError(t, w.Err)
			pending := calltest.Read(idle, 10) // the client reads a stream with nothing sent
			requirePending(t, pending, "Read with nothing sent")

			// The server's session closes (locally for the server's reads),
			// or the client's (the server's peer).
			closer := p.Client
			if local {
				closer = p.Server
			}
			require.NoError(t, closer.Close())

			got := await(t, goReadAll(ss), "the server reading after the session closed")
			require.True(t, bytes.HasPrefix(msg, got.Data), "what was read is a prefix of what was sent")
			require.NotErrorIs(t, got.Err, io.EOF, "a session that ended is not a FIN (read %d of %d bytes)", len(got.Data), len(msg))
			require.ErrorIs(t, got.Err, net.ErrClosed, "the server reading after the session closed")
			r := await(t, pending, "the client's blocked Read after the session closed")
			require.NotErrorIs(t, r.Err, io.EOF, "the client's blocked Read after the session closed")
			require.ErrorIs(t, r.Err, net.ErrClosed, "the client's blocked Read after the session closed")
		})
	}
}

func testResetCodes(t *testing.T, newPair NewPair) {
	codes := []mux.ErrorCode{0, 0x100, 0x1234, 0xFFFFFFFF}
	for _, byServer := range []bool{false, true} {
		name := "client"
		if byServer {
			name = "server"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t, Options{})
			for _, code := range codes {
				t.Run(fmt.Sprintf("%#x", uint32(code)), func(t *testing.T) {
					cs, ss := openPair(t, p)
					local, peer := cs, ss
					if byServer {
						local, peer = ss, cs
					}
					peerRead := calltest.Read(peer, 10)
					localRead := calltest.Read(local, 10)
					requirePending(t, peerRead, "the peer's Read with nothing sent")
					requirePending(t, localRead, "the local Read with nothing sent")
					require.NoError(t, local.ResetWithError(code))

					lr := await(t, localRead, "the local blocked Read after the reset")
					requireStreamError(t, lr.Err, code, false, "the local blocked Read")
					pr := await(t, peerRead, "the peer's blocked Read after the reset")
					requireStreamError(t, pr.Err, code, true, "the peer's blocked Read")
					var le, pe *mux.StreamError
					require.True(t, errors.As(lr.Err, &le) && errors.As(pr.Err, &pe))
					require.Equal(t, le.StreamID, pe.StreamID, "both sides name the same stream")

					pw := await(t, calltest.Write(peer, []byte("x")), "the peer's Write after the reset")
					requireStreamError(t, pw.Err, code, true, "the peer's Write after the reset")
					lw := await(t, calltest.Write(local, []byte("x")), "the local Write after the reset")
					requireStreamError(t, lw.Err, code, false, "the local Write after the reset")

					// A second reset, with another code, changes nothing.
					require.NoError(t, local.ResetWithError(code^0x1000))
					require.NoError(t, peer.ResetWithError(code^0x2000))
					lr = await(t, calltest.Read(local, 10), "the local Read after a second reset")
					requireStreamError(t, lr.Err, code, false, "the local Read after a second reset")
					pr = await(t, calltest.Read(peer, 10), "the peer's Read after its own reset")
					requireStreamError(t, pr.Err, code, true, "the peer's Read after resetting a reset stream")
				})
			}
		})
	}
}

// Streams are accepted in the order they were opened, before anything is
// written on them.
func testAcceptOrder(t *testing.T, newPair NewPair) {
	const n = 20
	for _, fromServer := range []bool{false, true} {
		name := "client"
		if fromServer {
			name = "server"
		}
		t.Run("from="+name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t, Options{})
			from, to := p.Client, p.Server
			if fromServer {
				from, to = p.Server, p.Client
			}
			ctx := boundCtx(t)
			opened := make([]mux.Stream, n)
			for i := range opened {
				var err error
				opened[i], err = from.OpenStream(ctx)
				require.NoError(t, err, "OpenStream %d", i)
			}
			accepted := make([]mux.Stream, n)
			for i := range accepted {
				var err error
				accepted[i], err = to.AcceptStream(ctx)
				require.NoError(t, err, "AcceptStream %d: a stream is accepted before anything is written on it", i)
			}
			for i, st := range opened {
				_, err := st.Write([]byte{byte(i)})
				require.NoError(t, err)
			}
			for i, st := range accepted {
				r := await(t, calltest.ReadFull(st, 1), "reading an accepted stream")
				require.NoError(t, r.Err)
				require.Equal(t, byte(i), r.Data[0], "the %dth accepted stream is the %dth opened", i, i)
			}
		})
	}
}

// AcceptStream returns when its context ends, with the context's error.
func testAcceptContext(t *testing.T, newPair NewPair) {
	p := newPair(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Server.AcceptStream(ctx)
	require.ErrorIs(t, err, context.Canceled, "AcceptStream with a canceled context")

	const wait = 50 * time.Millisecond
	ctx, cancel = context.WithTimeout(context.Background(), wait)
	defer cancel()
	start := time.Now()
	_, err = p.Client.AcceptStream(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "AcceptStream with a context that times out")
	requireElapsed(t, start, time.Now(), wait, "AcceptStream with a 50ms context")

	cs, ss := openPair(t, p)
	requireEcho(t, cs, ss, "still working")
}

// Many streams at once, each echoing random data of random size.
func testManyStreams(t *testing.T, newPair NewPair) {
	n := 1000
	if testing.Short() {
		n = 200
	}
	cpuHeavy.Lock()
	defer cpuHeavy.Unlock()
	p := newPair(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), bulkBound)
	defer cancel()
	deadline, _ := ctx.Deadline()

	// The server echoes every stream it accepts, then closes it.
	var echoes sync.WaitGroup
	serverErrs := make(chan error, n+1)
	echoes.Go(func() {
		for range n {
			st, err := p.Server.AcceptStream(ctx)
			if err != nil {
				serverErrs <- fmt.Errorf("AcceptStream: %w", err)
				return
			}
			echoes.Go(func() {
				st.SetDeadline(deadline)
				defer st.Close()
				if _, err := io.Copy(st, st); err != nil {
					serverErrs <- fmt.Errorf("echoing: %w", err)
					return
				}
				if err := st.CloseWrite(); err != nil {
					serverErrs <- fmt.Errorf("CloseWrite after echoing: %w", err)
				}
			})
		}
	})

	clientErrs := make(chan error, n)
	var clients sync.WaitGroup
	for i := range n {
		clients.Go(func() { clientErrs <- echoOne(ctx, p.Client, uint64(i)) })
	}
	clients.Wait()
	close(clientErrs)
	failed := 0
	for err := range clientErrs {
		if err != nil {
			if failed < 5 {
				t.Errorf("stream: %v", err)
			}
			failed++
		}
	}
	require.Zero(t, failed, "of %d streams, %d failed", n, failed)
	echoes.Wait()
	close(serverErrs)
	for err := range serverErrs {
		t.Errorf("server: %v", err)
	}
}

// echoOne opens a stream, writes 0 to 64 KiB of random data while reading
// the echo, and checks the echo's SHA-256.
func echoOne(ctx context.Context, s mux.Session, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 1))
	data := randomBytes(seed, rng.IntN(64<<10+1))
	st, err := s.OpenStream(ctx)
	if err != nil {
		return fmt.Errorf("OpenStream: %w", err)
	}
	defer st.Close()
	deadline, _ := ctx.Deadline()
	st.SetDeadline(deadline)
	werr := make(chan error, 1)
	go func() {
		for rest := data; len(rest) > 0; {
			n, err := st.Write(rest[:min(len(rest), 1+rng.IntN(16<<10))])
			rest = rest[n:]
			if err != nil {
				werr <- fmt.Errorf("write: %w", err)
				return
			}
		}
		werr <- st.CloseWrite()
	}()
	h := sha256.New()
	n, err := io.Copy(h, st)
	if err != nil {
		return fmt.Errorf("reading the echo of %d bytes after %d: %w", len(data), n, err)
	}
	if err := <-werr; err != nil {
		return err
	}
	if n != int64(len(data)) || [sha256.Size]byte(h.Sum(nil)) != hash(data) {
		return fmt.Errorf("the echo of %d bytes came back as %d different bytes", len(data), n)
	}
	return nil
}

// A large transfer each way at once on one stream.
func testLargeTransfer(t *testing.T, newPair NewPair) {
	size := 64 << 20
	if testing.Short() {
		size = 16 << 20
	}
	cpuHeavy.Lock()
	defer cpuHeavy.Unlock()
	p := newPair(t, Options{})
	cs, ss := openPair(t, p)
	deadline := time.Now().Add(bulkBound)
	cs.SetDeadline(deadline)
	ss.SetDeadline(deadline)

	type sums struct{ sent, received [sha256.Size]byte }
	var got [2]sums
	var errs [4]error
	var wg sync.WaitGroup
	for i, dir := range [][2]mux.Stream{{cs, ss}, {ss, cs}} {
		wg.Go(func() { got[i].sent, errs[2*i] = sendPattern(dir[0], size, uint64(i)) })
		wg.Go(func() {
			h := sha256.New()
			n, err := io.Copy(h, dir[1])
			got[i].received = [sha256.Size]byte(h.Sum(nil))
			if err == nil && n != int64(size) {
				err = fmt.Errorf("received %d bytes, want %d", n, size)
			}
			errs[2*i+1] = err
		})
	}
	done := calltest.Go(func() calltest.Result { wg.Wait(); return calltest.Result{} })
	awaitFor(t, done, bulkBound+bound, "the large transfer")
	for i, err := range errs {
		dir := [2]string{"client to server", "server to client"}[i/2]
		op := [2]string{"sending", "receiving"}[i%2]
		require.NoError(t, err, "%s %s", op, dir)
	}
	require.Equal(t, got[0].sent, got[0].received, "client to server: SHA-256 of what was received")
	require.Equal(t, got[1].sent, got[1].received, "server to client: SHA-256 of what was received")
}

// sendPattern writes size bytes of pseudo-random data in chunks of varied
// sizes, then CloseWrite, and returns their SHA-256.
func sendPattern(st mux.Stream, size int, seed uint64) ([sha256.Size]byte, error) {
	const block = 1 << 20
	src := randomBytes(seed, block+64<<10)
	rng := rand.New(rand.NewPCG(seed, 2))
	h := sha256.New()
	for sent := 0; sent < size; {
		off := rng.IntN(block)
		chunk := src[off : off+min(size-sent, 1+rng.IntN(64<<10))]
		h.Write(chunk)
		n, err := st.Write(chunk)
		sent += n
		if err != nil {
			return [sha256.Size]byte{}, fmt.Errorf("write after %d bytes: %w", sent, err)
		}
	}
	return [sha256.Size]byte(h.Sum(nil)), st.CloseWrite()
}
