package quic

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twinemux/twine/internal/calltest"

	quicgo "github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine"
	"github.com/twinemux/twine/mux"
)

// proxiedPair returns a client and a server session whose packets pass
// through a UDP proxy that can stop forwarding.
func proxiedPair(t *testing.T, clientCfg, serverCfg *twine.Config) (c, s *Session, p *udpProxy) {
	t.Helper()
	ln := newListener(t, serverCfg)
	p = newUDPProxy(t, ln.Addr())
	c, s = dialAccept(t, ln, p.addr(), clientCfg)
	return c, s, p
}

// requireEcho checks that a stream round trip still works.
func requireEcho(t *testing.T, c, s *Session) {
	t.Helper()
	cs, ss := openPair(t, c, s)
	_, err := cs.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(ss, buf)
	require.NoError(t, err)
	_, err = ss.Write(buf)
	require.NoError(t, err)
	_, err = io.ReadFull(cs, buf)
	require.NoError(t, err)
	cs.Close()
	ss.Close()
}

func TestSilentPeerDetected(t *testing.T) {
	const peerTimeout = 500 * time.Millisecond
	cfg := &twine.Config{PeerTimeout: peerTimeout}
	c, s, p := proxiedPair(t, cfg, cfg)
	requireEcho(t, c, s)
	cs, ss := openPair(t, c, s)
	clientRead := calltest.ReadFull(cs, 1)
	serverRead := calltest.ReadFull(ss, 1)

	p.freeze()
	clientPing := goPing(c)
	serverPing := goPing(s)
	for _, side := range []struct {
		name      string
		sess      *Session
		read      <-chan calltest.Result
		ping      <-chan error
		lastHeard func() int64
	}{
		{"client", c, clientRead, clientPing, p.lastToClient.Load},
		{"server", s, serverRead, serverPing, p.lastToServer.Load},
	} {
		select {
		case <-side.sess.Done():
		case <-time.After(waitLong):
			t.Fatalf("%s: silent peer not detected", side.name)
		}
		silence := time.Since(time.Unix(0, side.lastHeard()))
		require.GreaterOrEqual(t, silence, peerTimeout, "%s: declared the peer dead early", side.name)
		require.Less(t, silence, peerTimeout+time.Second, "%s: detection took too long", side.name)

		err := side.sess.Err()
		require.ErrorIs(t, err, mux.ErrPeerUnresponsive, side.name)
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		require.True(t, ne.Timeout())
		require.ErrorIs(t, err, net.ErrClosed)

		r := await(t, side.read, side.name+" Read blocked when the peer went silent")
		require.ErrorIs(t, r.Err, mux.ErrPeerUnresponsive, side.name)
		require.NotErrorIs(t, r.Err, io.EOF)
		require.ErrorIs(t, await(t, side.ping, side.name+" Ping blocked when the peer went silent"), mux.ErrPeerUnresponsive, side.name)
		_, err = side.sess.OpenStream(context.Background())
		require.ErrorIs(t, err, mux.ErrPeerUnresponsive, side.name)
	}
}

// Sub-second peer timeouts, far below QUIC's 5 s floor for the peer's idle
// timeout, hold on an idle session: the PING datagram is answered at once,
// without QUIC's ACK delay. (50 ms works too on an idle machine; 200 ms
// keeps the test steady under -race on two busy cores.)
func TestIdleSessionStaysAlive(t *testing.T) {
	tests := []struct {
		name           string
		client, server *twine.Config
	}{
		{"both 200ms", &twine.Config{PeerTimeout: 200 * time.Millisecond}, &twine.Config{PeerTimeout: 200 * time.Millisecond}},
		{"server detection off", &twine.Config{PeerTimeout: 200 * time.Millisecond}, &twine.Config{PeerTimeout: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := newPair(t, tt.client, tt.server)
			select {
			case <-c.Done():
				t.Fatalf("client ended: %v", c.Err())
			case <-s.Done():
				t.Fatalf("server ended: %v", s.Err())
			case <-time.After(time.Second):
			}
			requireEcho(t, c, s)
		})
	}
}

// A peer that does not read is not dead: it still acknowledges packets.
func TestNonReadingPeerIsAlive(t *testing.T) {
	cfg := &twine.Config{PeerTimeout: 300 * time.Millisecond, InitialStreamWindow: 64 << 10, MaxStreamWindow: 64 << 10}
	c, s := newPair(t, cfg, cfg)
	cs, ss := openPair(t, c, s)
	pending := blockedWrite(t, cs, ss)
	select {
	case <-c.Done():
		t.Fatalf("client ended: %v", c.Err())
	case r := <-pending:
		t.Fatalf("Write returned (%d, %v) though the peer does not read", r.N, r.Err)
	case <-time.After(time.Second):
	}
	_, err := io.Copy(io.Discard, io.LimitReader(ss, 1<<20-1))
	require.NoError(t, err)
	require.NoError(t, await(t, pending, "Write once the peer reads").Err)
}

// With detection off, a silent peer is never declared dead.
func TestDetectionOff(t *testing.T) {
	cfg := &twine.Config{PeerTimeout: -1}
	c, s, p := proxiedPair(t, cfg, cfg)
	require.Nil(t, c.live, "no liveness timer")
	p.freeze()
	select {
	case <-c.Done():
		t.Fatalf("client ended: %v", c.Err())
	case <-s.Done():
		t.Fatalf("server ended: %v", s.Err())
	case <-time.After(300 * time.Millisecond):
	}
}

// liveClock drives a liveness on synctest's clock: the test says when
// packets arrive, and reads when PINGs were queued and the verdict came,
// in time since the start.
type liveClock struct {
	start time.Time
	mu    sync.Mutex
	last  time.Time
	pings []time.Duration
	dead  []time.Duration
}

func newLiveClock(peerTimeout, keepAlive time.Duration) (*liveClock, *liveness) {
	c := &liveClock{start: time.Now(), last: time.Now()}
	l := &liveness{
		peerTimeout: peerTimeout,
		keepAlive:   keepAlive,
		lastArrival: func() time.Time {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.last
		},
		ping: func() { c.note(&c.pings) },
		dead: func() { c.note(&c.dead) },
	}
	return c, l
}

func (c *liveClock) note(at *[]time.Duration) {
	c.mu.Lock()
	*at = append(*at, time.Since(c.start))
	c.mu.Unlock()
}

// arriveAt sleeps until d after the start, then records a packet's arrival.
func (c *liveClock) arriveAt(d time.Duration) {
	time.Sleep(time.Until(c.start.Add(d)))
	c.mu.Lock()
	c.last = time.Now()
	c.mu.Unlock()
}

// The verdict comes exactly PeerTimeout after the last arrival, never a
// timer period later; PINGs go out KeepAliveInterval after it and every
// KeepAliveInterval after that.
func TestLivenessTimer(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name     string
		arrivals []time.Duration
		pings    []time.Duration
		dead     time.Duration
	}{
		{"silent from the start", nil, []time.Duration{300 * ms, 600 * ms, 900 * ms}, 1000 * ms},
		{"silent after arrivals", []time.Duration{100 * ms, 250 * ms}, []time.Duration{550 * ms, 850 * ms, 1150 * ms}, 1250 * ms},
		{"arrival just before the verdict", []time.Duration{250 * ms, 1249 * ms}, []time.Duration{550 * ms, 850 * ms, 1150 * ms, 1549 * ms, 1849 * ms, 2149 * ms}, 2249 * ms},
		{"arrival just after a PING", []time.Duration{301 * ms}, []time.Duration{300 * ms, 601 * ms, 901 * ms, 1201 * ms}, 1301 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c, l := newLiveClock(time.Second, 300*ms)
				l.start()
				defer l.stop()
				for _, at := range tt.arrivals {
					c.arriveAt(at)
				}
				time.Sleep(5 * time.Second)
				synctest.Wait()
				c.mu.Lock()
				defer c.mu.Unlock()
				require.Equal(t, tt.pings, c.pings, "PINGs")
				require.Equal(t, []time.Duration{tt.dead}, c.dead, "the verdict, once")
			})
		})
	}
}

func TestLivenessStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, l := newLiveClock(time.Second, 300*time.Millisecond)
		l.start()
		time.Sleep(500 * time.Millisecond)
		l.stop()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		c.mu.Lock()
		defer c.mu.Unlock()
		require.Equal(t, []time.Duration{300 * time.Millisecond}, c.pings, "no PING after stop")
		require.Empty(t, c.dead, "no verdict after stop")
	})
}

// Only a packet quic-go received and processed counts as an arrival.
func TestArrivals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := traceArrivals(context.Background(), true, quicgo.ConnectionID{}).(*arrivals)
		start := time.Now()
		rec := a.AddProducer()
		require.Equal(t, start, a.lastArrival(), "before any packet: when the trace was made")
		time.Sleep(10 * time.Millisecond)
		rec.RecordEvent(qlog.PacketReceived{})
		require.Equal(t, start.Add(10*time.Millisecond), a.lastArrival())
		time.Sleep(10 * time.Millisecond)
		rec.RecordEvent(qlog.PacketSent{})
		rec.RecordEvent(qlog.PacketDropped{})
		require.Equal(t, start.Add(10*time.Millisecond), a.lastArrival(), "sent and dropped packets do not count")
		require.NoError(t, rec.Close())
	})
}
