package twine

import (
	"context"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twinemux/twine/internal/calltest"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/frame"
	"github.com/twinemux/twine/mux"
)

func TestRecvWindowAnnouncesAtHalf(t *testing.T) {
	w := newRecvWindow(100, time.Time{})
	require.True(t, w.receive(100))
	require.False(t, w.receive(1), "one byte past the window")
	require.False(t, w.consumeDue(49), "49 of 100 consumed: not yet half")
	require.True(t, w.consumeDue(1), "half consumed")
	require.Equal(t, uint32(50), w.advance())
	require.Equal(t, uint64(150), w.limit)
	require.True(t, w.receive(50))
	require.False(t, w.receive(1))
}

func TestRecvWindowAutoTune(t *testing.T) {
	start := time.Unix(1000, 0)
	const rtt = 10 * time.Millisecond
	always := func(uint64) bool { return true }
	tests := []struct {
		name     string
		consumed uint64
		elapsed  time.Duration
		rtt      time.Duration
		maxSize  uint64
		grow     func(uint64) bool
		want     uint64
	}{
		{"whole window in one RTT doubles", 100, rtt, rtt, 1000, always, 200},
		{"growth stops at the maximum", 100, rtt, rtt, 150, always, 150},
		{"a slow reader keeps the window", 100, 10 * rtt, rtt, 1000, always, 100},
		{"half the window in 2 RTTs is still fast", 60, rtt, rtt, 1000, always, 200},
		{"no RTT sample yet keeps the window", 100, 0, 0, 1000, always, 100},
		{"the session budget can refuse", 100, rtt, rtt, 1000, func(uint64) bool { return false }, 100},
		{"half the window is too little to judge", 50, rtt, rtt, 1000, always, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newRecvWindow(100, start)
			w.consumed = tt.consumed
			w.autoTune(start.Add(tt.elapsed), tt.rtt, tt.maxSize, tt.grow)
			require.Equal(t, tt.want, w.size)
			if tt.consumed <= 50 {
				require.Equal(t, start, w.epochStart, "the epoch goes on")
				require.Zero(t, w.epochConsumed)
				return
			}
			require.Equal(t, start.Add(tt.elapsed), w.epochStart, "a new epoch starts")
			require.Equal(t, tt.consumed, w.epochConsumed)
		})
	}
}

func TestSendCreditOverflow(t *testing.T) {
	var c sendCredit
	require.True(t, c.add(maxWindow))
	require.False(t, c.add(1), "past 2^31-1")
	require.Equal(t, 10, c.take(10))
	require.True(t, c.add(10))
	c = sendCredit{avail: 5}
	require.Equal(t, 5, c.take(10), "take is capped by what is available")
	require.Zero(t, c.avail)
}

// A reader that never reads blocks its writer after the stream window,
// while other streams on the session keep going.
func TestStreamWindowBlocksOnlyThatStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := &Config{InitialStreamWindow: 64 << 10, SessionWindow: 1 << 20}
		c, s, _, _ := newPair(t, cfg, cfg)
		stuck, stuckPeer := openPair(t, c, s)
		w := calltest.Write(stuck, randomBytes(1<<20))
		calltest.RequireBlocked(t, w, "a Write past the window of a stream nobody reads")
		stuckPeer.recv.mu.Lock()
		buffered := stuckPeer.recv.buffered
		stuckPeer.recv.mu.Unlock()
		require.Equal(t, 64<<10, buffered, "exactly the window is buffered")

		// Eight times the session window on another stream: it flows.
		cs, ss := openPair(t, c, s)
		data := randomBytes(8 << 20)
		w2 := calltest.Write(cs, data)
		got := make([]byte, len(data))
		_, err := io.ReadFull(ss, got)
		require.NoError(t, err)
		require.Equal(t, data, got)
		require.NoError(t, calltest.RequireDone(t, w2, "the other stream's Write").Err)
		calltest.RequireBlocked(t, w, "the first Write, still")

		// Reading the stuck stream releases its writer.
		rest := make([]byte, 1<<20)
		_, err = io.ReadFull(stuckPeer, rest)
		require.NoError(t, err)
		require.NoError(t, calltest.RequireDone(t, w, "the first Write once read").Err)
	})
}

// A hostile peer that ignores the stream window ends the session with a
// flow-control error instead of making us buffer more.
func TestDataBeyondStreamWindowIsAnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := &Config{InitialStreamWindow: 16 << 10}
		s, peer := newRawPeer(t, cfg, true)
		peer.handshake()
		peer.write(frame.Frame{Header: frame.Header{Type: frame.TypeData, Flags: frame.FlagOpen, StreamID: 1}})
		chunk := make([]byte, 8<<10)
		for range 2 {
			peer.write(frame.Frame{Header: frame.Header{Type: frame.TypeData, StreamID: 1}, Data: chunk})
		}
		synctest.Wait()
		require.False(t, s.IsClosed(), "exactly the window is allowed: %v", s.Err())
		peer.write(frame.Frame{Header: frame.Header{Type: frame.TypeData, StreamID: 1}, Data: []byte{1}})
		synctest.Wait()
		requireFlowControlError(t, s, peer)
	})
}

// Streams each within their window but together beyond the session budget:
// the session refuses to buffer more than SessionWindow.
func TestSessionBudgetBoundsBufferedMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const budget = 64 << 10
		cfg := &Config{InitialStreamWindow: 16 << 10, SessionWindow: budget}
		s, peer := newRawPeer(t, cfg, true)
		peer.handshake()
		chunk := make([]byte, 16<<10)
		for i := range uint32(budget / len(chunk)) {
			peer.write(frame.Frame{Header: frame.Header{Type: frame.TypeData, Flags: frame.FlagOpen, StreamID: 2*i + 1}, Data: chunk})
		}
		synctest.Wait()
		require.False(t, s.IsClosed(), "exactly the budget is allowed: %v", s.Err())
		require.Equal(t, budget, bufferedBytes(s), "the budget is buffered, unread")

		peer.write(frame.Frame{Header: frame.Header{Type: frame.TypeData, Flags: frame.FlagOpen, StreamID: 99}, Data: []byte{1}})
		synctest.Wait()
		requireFlowControlError(t, s, peer)
	})
}

// bufferedBytes sums the unread bytes of every live stream.
func bufferedBytes(s *Session) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := 0
	for _, st := range s.streams {
		st.recv.mu.Lock()
		total += st.recv.buffered
		st.recv.mu.Unlock()
	}
	return total
}

func requireFlowControlError(t *testing.T, s *Session, peer *rawPeer) {
	t.Helper()
	require.True(t, s.IsClosed())
	var pe *mux.ProtocolError
	require.ErrorAs(t, s.Err(), &pe)
	require.Equal(t, mux.CodeFlowControl, pe.Code)
	_, err := s.AcceptStream(context.Background())
	require.ErrorAs(t, err, &pe, "pending and later calls get the error")
	goAway := peer.want(frame.TypeGoAway, "the peer is told")
	require.Equal(t, mux.CodeFlowControl, goAway.Code)
}

// The session window starts at four stream windows and grows when the
// reader consumes it within a few round trips, up to SessionWindow and no
// further.
func TestSessionWindowAutoTunes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const budget = 1 << 20
		c, s, _, _ := newPair(t, nil, &Config{InitialStreamWindow: 64 << 10, SessionWindow: budget})
		synctest.Wait()
		// A path with a 10 ms round trip, sampled enough that window
		// updates ask for no more (on the in-memory connection they would
		// measure 0): fake time stands still while the data moves, so each
		// window is consumed well within it.
		s.ka.minRTT.Store(int64(10 * time.Millisecond))
		s.ka.samples.Store(eagerRTTSamples)
		require.Equal(t, uint64(256<<10), s.Stats().SessionWindow)

		var wg sync.WaitGroup
		for range 4 {
			cs, ss := openPair(t, c, s)
			wg.Go(func() {
				_, err := cs.Write(make([]byte, 4<<20))
				require.NoError(t, err)
				require.NoError(t, cs.CloseWrite())
			})
			wg.Go(func() {
				n, err := io.Copy(io.Discard, ss)
				require.NoError(t, err)
				require.Equal(t, int64(4<<20), n)
			})
		}
		wg.Wait()
		require.Equal(t, uint64(budget), s.Stats().SessionWindow, "grown to the budget, not beyond")
		// All read, but up to half a window is credited back only later.
		require.GreaterOrEqual(t, c.Stats().SessionCredit, uint64(budget/2), "the peer was granted the larger window")
	})
}
