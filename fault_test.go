package twine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/frame"
	"github.com/twinemux/twine/internal/memconn"
	"github.com/twinemux/twine/mux"
)

// cutConn is one end of a connection that is lost once limit bytes have
// been written through it: those bytes arrive, then the end closes, in the
// middle of a frame or between two.
type cutConn struct {
	*memconn.Conn
	mu    sync.Mutex
	limit int
	cut   bool
}

func (c *cutConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(p) <= c.limit {
		c.limit -= len(p)
		return c.Conn.Write(p)
	}
	n, err := c.Conn.Write(p[:c.limit])
	c.limit -= n
	if err != nil {
		return n, err
	}
	c.cut = true
	c.Conn.Close()
	_, err = c.Conn.Write(p[n:])
	return n, err
}

func (c *cutConn) wasCut() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cut
}

// callRecord is what one call of the cut exchange returned.
type callRecord struct {
	call string
	want []byte // for a read: the whole message
	got  []byte // for a read: what it read
	err  error  // for a read: the error that ended it, io.EOF included
}

// readToEnd reads st until an error, and returns what it read with it.
func readToEnd(st mux.Stream) ([]byte, error) {
	var got []byte
	buf := make([]byte, 64)
	for {
		n, err := st.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return got, err
		}
	}
}

// cutExchange runs a short exchange between a client and a server whose
// connection is lost after limit bytes in one direction: the client sends
// a request and its FIN, the server reads it and answers, the client reads
// the answer; meanwhile an AcceptStream waits on the client. It returns
// every call's record, whether the cut happened, and the bytes each side
// wrote.
func cutExchange(t *testing.T, clientSide bool, limit int) (records []callRecord, cut bool, written [2]int64) {
	request, response := []byte("request: ping"), []byte("response: pong")
	ca, sa := memconn.Pipe(connBuffer)
	cutter := &cutConn{Conn: ca, limit: limit}
	var cc, sc net.Conn = cutter, sa
	if !clientSide {
		cutter.Conn = sa
		cc, sc = ca, cutter
	}
	cfg := &Config{PeerTimeout: -1} // only the lost connection may end the sessions
	c, err := Client(cc, cfg)
	require.NoError(t, err)
	s, err := Server(sc, cfg)
	require.NoError(t, err)

	var mu sync.Mutex
	record := func(r callRecord) {
		mu.Lock()
		records = append(records, r)
		mu.Unlock()
	}
	ctx := context.Background()
	var steps, pending sync.WaitGroup
	steps.Go(func() {
		st, err := c.OpenStream(ctx)
		record(callRecord{call: "client OpenStream", err: err})
		if err != nil {
			return
		}
		_, err = st.Write(request)
		record(callRecord{call: "client Write", err: err})
		st.CloseWrite()
		got, err := readToEnd(st)
		record(callRecord{call: "client Read", want: response, got: got, err: err})
	})
	steps.Go(func() {
		st, err := s.AcceptStream(ctx)
		record(callRecord{call: "server AcceptStream", err: err})
		if err != nil {
			return
		}
		got, err := readToEnd(st)
		record(callRecord{call: "server Read", want: request, got: got, err: err})
		_, err = st.Write(response)
		record(callRecord{call: "server Write", err: err})
		st.CloseWrite()
	})
	pending.Go(func() {
		_, err := c.AcceptStream(ctx)
		record(callRecord{call: "client AcceptStream", err: err})
	})

	requireReturns(t, &steps, "the exchange's calls")
	cut = cutter.wasCut()
	if cut {
		requireReturns(t, &pending, "the pending AcceptStream, after the connection was lost")
		synctest.Wait()
		for _, sess := range []*Session{c, s} {
			require.True(t, sess.IsClosed(), "a session ends when its connection is lost")
			requireTypedSessionError(t, sess.Err())
		}
	}
	written[0], _ = ca.Stats()
	written[1], _ = sa.Stats()
	c.Close()
	s.Close()
	pending.Wait()
	return records, cut, written
}

// requireReturns fails the test if wg's goroutines have not all returned
// after an hour of fake time with nothing else to do.
func requireReturns(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Hour):
		t.Fatalf("%s still blocked", what)
	}
}

// A connection lost at any byte of a short exchange, in either direction:
// every call returns, with a typed error or having done its work; a Read
// returns io.EOF only with the whole message, and what it returned before
// an error is a prefix of the message; both sessions end, and no goroutine
// is left (the synctest bubble would not finish otherwise).
func TestConnectionLostAtEveryByte(t *testing.T) {
	var total [2]int64
	synctest.Test(t, func(t *testing.T) {
		records, cut, written := cutExchange(t, true, 1<<30)
		require.False(t, cut)
		for _, r := range records {
			if r.want != nil {
				require.Equal(t, r.want, r.got, r.call)
				require.ErrorIs(t, r.err, io.EOF, r.call)
			} else if r.call != "client AcceptStream" {
				require.NoError(t, r.err, r.call)
			}
		}
		total = written
	})
	t.Logf("the exchange: %d bytes from the client, %d from the server", total[0], total[1])
	for i, dir := range []string{"client to server", "server to client"} {
		t.Run(dir, func(t *testing.T) {
			cuts := 0
			for limit := range int(total[i]) + 1 {
				synctest.Test(t, func(t *testing.T) {
					records, cut, _ := cutExchange(t, i == 0, limit)
					if cut {
						cuts++
					}
					for _, r := range records {
						requireHonestResult(t, r, fmt.Sprintf("cut after %d bytes: %s", limit, r.call))
					}
				})
				if t.Failed() {
					return
				}
			}
			require.GreaterOrEqual(t, cuts, int(total[i])*9/10, "nearly every limit falls within the exchange")
		})
	}
}

func requireHonestResult(t *testing.T, r callRecord, why string) {
	t.Helper()
	if r.want != nil {
		require.True(t, bytes.HasPrefix(r.want, r.got), "%s: read %q, not a prefix of %q", why, r.got, r.want)
		if r.err == io.EOF {
			require.Equal(t, r.want, r.got, "%s: io.EOF before the whole message", why)
			return
		}
	}
	if r.err == nil {
		return
	}
	require.NotErrorIs(t, r.err, io.EOF, "%s: %v", why, r.err)
	var se *mux.SessionError
	var ste *mux.StreamError
	if !errors.As(r.err, &se) && !errors.As(r.err, &ste) {
		t.Fatalf("%s: %T %v is not a typed error", why, r.err, r.err)
	}
}

// A frame that stops arriving part way (slowloris: part of a header, a
// header alone, or a payload trickling in a byte at a time) ends the
// session with mux.ErrPeerUnresponsive PeerTimeout after the last whole
// frame: a frame counts as proof of life only once it is whole.
func TestStalledFrameEndsSession(t *testing.T) {
	header := frame.AppendHeader(nil, frame.Header{Type: frame.TypeData, Length: attackConfig.MaxFramePayload, StreamID: 1})
	cases := []struct {
		name    string
		sent    []byte
		trickle bool // then a byte every PeerTimeout/4
	}{
		{"part of a header", header[:5], false},
		{"a header", header, false},
		{"a header and part of the payload", append(header, make([]byte, 100)...), false},
		{"a payload trickling in", header, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := newAttack(t, attackConfig)
				a.readPeer()
				a.write(frames(openFrame(1)))
				st, err := a.victim.AcceptStream(context.Background())
				require.NoError(t, err)
				read := goCall(func() (int, error) { return st.Read(make([]byte, 1)) })
				start := time.Now()
				a.write(tc.sent)
				if tc.trickle {
					go func() {
						for {
							select {
							case <-a.victim.Done():
								return
							case <-time.After(attackConfig.PeerTimeout / 4):
								a.peer.conn.Write([]byte{1})
							}
						}
					}()
				}
				r, elapsed := awaitResult(t, read, start, time.Minute, "a Read while a frame stalls")
				require.ErrorIs(t, r.err, mux.ErrPeerUnresponsive)
				require.ErrorIs(t, a.victim.Err(), mux.ErrPeerUnresponsive)
				require.GreaterOrEqual(t, elapsed, attackConfig.PeerTimeout)
				require.LessOrEqual(t, elapsed, attackConfig.PeerTimeout+attackConfig.PeerTimeout/10)
				a.sample()
				require.Zero(t, a.peak.unread, "nothing of the stalled frame was delivered")
				a.goodTransfer()
			})
		})
	}
}

// A frame that stalls part way for less than PeerTimeout, then completes,
// is delivered intact, and the session lives on.
func TestShortStallWithinFrameIsTolerated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAttack(t, attackConfig)
		reader := a.readPeer()
		payload := randomBytes(int(attackConfig.MaxFramePayload))
		whole := frames(dataFrame(1, frame.FlagOpen, payload))
		a.write(whole[:len(whole)/2])
		time.Sleep(attackConfig.PeerTimeout * 9 / 10)
		a.write(whole[len(whole)/2:])
		st, err := a.victim.AcceptStream(context.Background())
		require.NoError(t, err)
		got := make([]byte, len(payload))
		_, err = io.ReadFull(st, got)
		require.NoError(t, err)
		require.Equal(t, payload, got)

		a.write(frame.AppendPing(nil, false, [8]byte{7}))
		require.False(t, a.victim.IsClosed(), "a stall shorter than PeerTimeout is no verdict: %v", a.victim.Err())
		require.Equal(t, 1, reader.saw().pingAcks, "the session answers PINGs")
	})
}
