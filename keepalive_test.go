package twine

import (
	"context"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/frame"
	"github.com/twinemux/twine/mux"
)

// timedResult is a blocked call's result and when it returned.
type timedResult struct {
	err     error
	elapsed time.Duration
}

// goTimed runs call in a goroutine and reports its error and how long after
// start it returned.
func goTimed(start time.Time, call func() error) <-chan timedResult {
	ch := make(chan timedResult, 1)
	go func() {
		err := call()
		ch <- timedResult{err, time.Since(start)}
	}()
	return ch
}

// A peer that goes silent (nothing delivered, nothing read, the connection
// left open) is declared unresponsive within PeerTimeout plus 10%, and
// every blocked call returns mux.ErrPeerUnresponsive.
func TestSilentPeerIsDetected(t *testing.T) {
	for _, timeout := range []time.Duration{50 * time.Millisecond, 500 * time.Millisecond, 10 * time.Minute} {
		t.Run(timeout.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := &Config{PeerTimeout: timeout, InitialStreamWindow: 16 << 10}
				// A frozen process runs no timers: the frozen side's own
				// detection is off.
				c, s, _, sc := newPair(t, cfg, &Config{PeerTimeout: -1})
				readSt, _ := openPair(t, c, s)
				writeSt, _ := openPair(t, c, s)
				synctest.Wait()

				start := time.Now()
				sc.Freeze()
				calls := map[string]<-chan timedResult{
					"Read": goTimed(start, func() error {
						_, err := readSt.Read(make([]byte, 1))
						return err
					}),
					"Write": goTimed(start, func() error {
						_, err := writeSt.Write(randomBytes(1 << 20))
						return err
					}),
					"AcceptStream": goTimed(start, func() error {
						_, err := c.AcceptStream(context.Background())
						return err
					}),
				}
				time.Sleep(2 * timeout)
				for name, ch := range calls {
					r := <-ch
					require.ErrorIs(t, r.err, mux.ErrPeerUnresponsive, name)
					require.LessOrEqual(t, r.elapsed, timeout+timeout/10, "%s returned too late", name)
					require.GreaterOrEqual(t, r.elapsed, timeout, "%s returned before PeerTimeout", name)
				}
				require.ErrorIs(t, c.Err(), mux.ErrPeerUnresponsive)
				var netErr interface{ Timeout() bool }
				require.ErrorAs(t, c.Err(), &netErr)
				require.True(t, netErr.Timeout(), "ErrPeerUnresponsive is a timeout")
			})
		})
	}
}

// An idle, healthy peer answers PINGs, so the session stays up.
func TestIdleHealthySessionStaysUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := &Config{PeerTimeout: 100 * time.Millisecond}
		c, s, _, _ := newPair(t, cfg, cfg)
		time.Sleep(time.Hour)
		require.False(t, c.IsClosed(), "client ended: %v", c.Err())
		require.False(t, s.IsClosed(), "server ended: %v", s.Err())

		cs, ss := openPair(t, c, s)
		_, err := cs.Write([]byte("still here"))
		require.NoError(t, err)
		require.NoError(t, cs.CloseWrite())
		got, err := io.ReadAll(ss)
		require.NoError(t, err)
		require.Equal(t, "still here", string(got))
	})
}

// A peer that keeps sending but never reads stalls our writes; that too is
// detected within PeerTimeout of the stall.
func TestWriteStallIsDetected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 500 * time.Millisecond
		s, peer := newRawPeer(t, &Config{PeerTimeout: timeout}, false)
		peer.handshake(
			frame.Setting{ID: frame.SettingInitialStreamCredit, Value: 1},
			frame.Setting{ID: frame.SettingInitialStreamWindow, Value: 1 << 30},
			frame.Setting{ID: frame.SettingSessionWindow, Value: 1 << 30},
		)
		// The peer stays chatty: a PING every 10 ms, so it is never silent.
		go func() {
			for {
				peer.conn.Write(frame.AppendPing(nil, false, [8]byte{}))
				select {
				case <-s.Done():
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
		st, err := s.OpenStream(context.Background())
		require.NoError(t, err)
		start := time.Now()
		_, err = st.Write(randomBytes(64 << 20))
		require.ErrorIs(t, err, mux.ErrPeerUnresponsive)
		require.LessOrEqual(t, time.Since(start), timeout+timeout/10)
	})
}

// Session.Ping measures a round trip; the smoothed RTT follows the samples.
func TestPingUpdatesRTT(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _, _, _ := newPair(t, nil, nil)
		time.Sleep(time.Second)
		rtt, err := c.Ping(context.Background())
		require.NoError(t, err)
		require.Zero(t, rtt, "the in-memory connection has no latency")
		require.Equal(t, int64(time.Second), c.ka.lastSample.Load(), "the sample was taken now")
	})
}

func TestSmoothedRTT(t *testing.T) {
	var k keepalive
	k.updateRTT(80*time.Millisecond, time.Second)
	require.Equal(t, 80*time.Millisecond, k.smoothedRTT(), "the first sample is taken as is")
	k.updateRTT(160*time.Millisecond, 2*time.Second)
	require.Equal(t, 90*time.Millisecond, k.smoothedRTT(), "later samples weigh 1/8")
	require.Equal(t, int64(2*time.Second), k.lastSample.Load())
}

// Window auto-tuning uses the smallest recent RTT sample: samples inflated
// by queueing behind bulk data do not count, until the minimum is too old.
func TestRecentMinRTT(t *testing.T) {
	var k keepalive
	require.Zero(t, k.recentMinRTT())
	k.updateRTT(50*time.Millisecond, time.Second)
	k.updateRTT(400*time.Millisecond, 2*time.Second)
	require.Equal(t, 50*time.Millisecond, k.recentMinRTT(), "a larger sample does not replace a recent minimum")
	k.updateRTT(30*time.Millisecond, 3*time.Second)
	require.Equal(t, 30*time.Millisecond, k.recentMinRTT(), "a smaller one does")
	k.updateRTT(200*time.Millisecond, 3*time.Second+minRTTLifetime)
	require.Equal(t, 30*time.Millisecond, k.recentMinRTT(), "the minimum stands for minRTTLifetime")
	k.updateRTT(200*time.Millisecond, 3*time.Second+minRTTLifetime+time.Millisecond)
	require.Equal(t, 200*time.Millisecond, k.recentMinRTT(), "then the path's delay grew: the newer sample replaces it")
}

// The session's first PING measures the peer's start-up, not the path: it
// is no RTT sample, so it cannot size the windows. Later PINGs are.
func TestStartupPingIsNoRTTSample(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _, _, _ := newPair(t, nil, nil)
		synctest.Wait() // the first PING is answered
		require.Zero(t, c.ka.samples.Load())
		_, err := c.Ping(context.Background())
		require.NoError(t, err)
		require.Equal(t, int64(1), c.ka.samples.Load())
	})
}
