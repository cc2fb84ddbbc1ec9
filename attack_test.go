package twine

import (
	"bytes"
	"io"
	"maps"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/frame"
	"github.com/twinemux/twine/mux"
)

// attackConfig is the victim's configuration in the attack tests: small
// budgets, so that every limit is reached with little traffic.
var attackConfig = Config{
	PeerTimeout:         10 * time.Second,
	InitialStreamWindow: 16 << 10,
	MaxStreamWindow:     64 << 10,
	SessionWindow:       256 << 10,
	// The whole budget granted from the start, as the attacks assume.
	InitialSessionWindow: 256 << 10,
	MaxFramePayload:      16 << 10,
	MaxIncomingStreams:   64,
	AcceptBacklog:        16,
}

// attackConfigWith returns attackConfig changed by f.
func attackConfigWith(f func(c *Config)) Config {
	c := attackConfig
	f(&c)
	return c
}

// Bounds the attack tests hold the victim to.
const (
	// recvSlackPerStream is the memory a stream may hold for unread data
	// beyond the bytes themselves: the spare room of its last buffer (at
	// most packChunk) and bookkeeping.
	recvSlackPerStream = packChunk + 1<<10
	// maxAllocsPerFrame bounds the allocations the victim makes for one
	// received frame: the work per byte stays bounded whatever the flood.
	maxAllocsPerFrame = 12
	// sliceHeader is the size of a []byte in a slice of buffers.
	sliceHeader = int(unsafe.Sizeof([]byte(nil)))
)

// attack is a raw peer abusing a session under test (the victim, a server),
// with a second, well-behaved session pair in the same bubble. It samples
// the victim's footprint to show that its memory stays bounded.
type attack struct {
	t      *testing.T
	cfg    Config
	victim *Session
	peer   *rawPeer
	good   [2]*Session // client and server

	heapBase  uint64 // once both pairs are running
	heapPeak  uint64
	peak      footprint
	allocPeak float64 // allocations per received frame, the most seen
}

// newAttack starts a victim with cfg and a raw peer that has done the
// handshake, announcing settings, and a well-behaved pair beside them.
// Call it inside a synctest bubble.
func newAttack(t *testing.T, cfg Config, settings ...frame.Setting) *attack {
	t.Helper()
	a := &attack{t: t, cfg: cfg}
	a.victim, a.peer = newRawPeer(t, &a.cfg, true)
	a.peer.handshake(settings...)
	a.good[0], a.good[1], _, _ = newPair(t, nil, nil)
	synctest.Wait()
	a.heapBase = liveHeap()
	t.Cleanup(a.report)
	return a
}

// footprint is what a session holds on the peer's behalf, by its own
// accounting.
type footprint struct {
	unread     int // payload received and not read
	recvMemory int // what holds it: buffer capacities and slice headers
	ctrlFrames int // control frames waiting to be written
	ctrlBytes  int // the capacity of their queue
	streams    int // live streams
	backlog    int // streams waiting for AcceptStream
	ready      int // streams waiting for the write loop
}

func measure(s *Session) footprint {
	var f footprint
	s.mu.Lock()
	f.streams, f.backlog = len(s.streams), len(s.acceptQ)
	for _, st := range s.streams {
		st.recv.mu.Lock()
		f.unread += st.recv.buffered
		f.recvMemory += sliceHeader * cap(st.recv.segs)
		for _, seg := range st.recv.segs[st.recv.head:] {
			f.recvMemory += cap(seg)
		}
		st.recv.mu.Unlock()
	}
	s.mu.Unlock()
	s.sendMu.Lock()
	f.ctrlFrames, f.ctrlBytes = s.sq.ctrlFrames, cap(s.sq.ctrl)
	f.ready = len(s.sq.ready) - s.sq.readyHead
	s.sendMu.Unlock()
	return f
}

func (f *footprint) takeMax(g footprint) {
	f.unread = max(f.unread, g.unread)
	f.recvMemory = max(f.recvMemory, g.recvMemory)
	f.ctrlFrames = max(f.ctrlFrames, g.ctrlFrames)
	f.ctrlBytes = max(f.ctrlBytes, g.ctrlBytes)
	f.streams = max(f.streams, g.streams)
	f.backlog = max(f.backlog, g.backlog)
	f.ready = max(f.ready, g.ready)
}

// liveHeap returns the bytes of live heap objects, after two collections
// so that pooled buffers nobody holds are freed.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// sample waits until the bubble is idle, then checks the victim's
// footprint against its limits and records the peaks.
func (a *attack) sample() {
	a.t.Helper()
	synctest.Wait()
	f := measure(a.victim)
	a.peak.takeMax(f)
	if heap := liveHeap(); heap > a.heapBase {
		a.heapPeak = max(a.heapPeak, heap-a.heapBase)
	}
	require.LessOrEqual(a.t, f.unread, int(a.cfg.SessionWindow), "unread data beyond the session window")
	recvBound := int(a.cfg.SessionWindow) + f.streams*recvSlackPerStream
	require.LessOrEqual(a.t, f.recvMemory, recvBound, "memory for %d unread bytes on %d streams", f.unread, f.streams)
	ctrlBound := maxQueuedControlFrames + 1 // the one that overflows
	if a.victim.IsClosed() {
		ctrlBound += 1 + int(a.cfg.MaxIncomingStreams) // GOAWAY, and a FIN per stream
	}
	require.LessOrEqual(a.t, f.ctrlFrames, ctrlBound, "control frames queued beyond the cap")
	require.LessOrEqual(a.t, f.streams, int(a.cfg.MaxIncomingStreams), "live streams beyond MaxIncomingStreams")
	require.LessOrEqual(a.t, f.backlog, int(a.cfg.AcceptBacklog), "streams waiting beyond AcceptBacklog")
}

// flood has the peer send b, which holds frames frames, then samples. It
// checks the allocations made per frame, which are the victim's as long as
// nothing else in the bubble runs.
func (a *attack) flood(b []byte, frames int) {
	a.t.Helper()
	before := mallocs()
	a.write(b)
	perFrame := float64(mallocs()-before) / float64(frames)
	a.allocPeak = max(a.allocPeak, perFrame)
	require.LessOrEqual(a.t, perFrame, float64(maxAllocsPerFrame), "allocations per received frame")
	a.sample()
}

// write has the peer send b and waits until the bubble is idle. A write
// error is allowed only once the victim has ended.
func (a *attack) write(b []byte) {
	a.t.Helper()
	_, err := a.peer.conn.Write(b)
	synctest.Wait()
	if err != nil {
		require.True(a.t, a.victim.IsClosed(), "the peer's write failed (%v) while the victim runs", err)
	}
}

// goodTransfer proves the well-behaved pair works: a new stream echoes
// 256 KiB intact.
func (a *attack) goodTransfer() {
	a.t.Helper()
	cs, ss := openPair(a.t, a.good[0], a.good[1])
	go func() {
		io.Copy(ss, ss)
		ss.Close()
	}()
	data := randomBytes(256 << 10)
	go func() {
		cs.Write(data)
		cs.CloseWrite()
	}()
	got, err := io.ReadAll(cs)
	require.NoError(a.t, err, "the well-behaved session's transfer")
	require.True(a.t, bytes.Equal(data, got), "the well-behaved session's data came back intact")
}

// requireEnded asserts the victim ended with code, and that the peer,
// reading whatever was queued for it, gets a GOAWAY with that code.
func (a *attack) requireEnded(code mux.ErrorCode, reader *peerReader) {
	a.t.Helper()
	a.sample()
	require.True(a.t, a.victim.IsClosed(), "the victim must end the session")
	se := requireSessionError(a.t, a.victim.Err(), code, false)
	require.True(a.t, se.Reason != "" || se.Err != nil, "the error says why: %v", se)
	if reader == nil {
		reader = a.readPeer()
	}
	<-reader.done
	goAway := reader.saw().goAway
	require.NotNil(a.t, goAway, "the peer is told with GOAWAY (it read until %v)", reader.err)
	require.Equal(a.t, code, goAway.Code, "GOAWAY code, reason %q", goAway.Reason)
	require.NotEmpty(a.t, goAway.Reason, "the GOAWAY says why")
}

// report logs the peaks, the figures SECURITY.md quotes.
func (a *attack) report() {
	p := a.peak
	a.t.Logf("peak: unread %d B, receive buffers %d B, control queue %d frames (%d B), streams %d, backlog %d, ready %d; live heap +%d KiB; allocations/frame %.2f",
		p.unread, p.recvMemory, p.ctrlFrames, p.ctrlBytes, p.streams, p.backlog, p.ready, a.heapPeak>>10, a.allocPeak)
}

// peerReader reads what the victim sends, as a peer that reads. It stops
// when the connection fails, and closes done.
type peerReader struct {
	done chan struct{}
	err  error // why it stopped; read it after done

	mu   sync.Mutex
	seen peerSaw
}

// peerSaw is what a peerReader has read so far.
type peerSaw struct {
	bytes         int
	counts        map[frame.Type]int
	dataBytes     int // DATA payload
	pingAcks      int
	sessionCredit uint64       // session WINDOW increments
	streamCredit  uint32       // the highest STREAMS count
	goAway        *frame.Frame // the last GOAWAY
}

// readPeer starts reading the victim's frames on the peer's side.
func (a *attack) readPeer() *peerReader {
	r := &peerReader{done: make(chan struct{}), seen: peerSaw{counts: make(map[frame.Type]int)}}
	go func() {
		defer close(r.done)
		r.err = r.run(a.peer)
	}()
	return r
}

// saw returns what the reader has read so far.
func (r *peerReader) saw() peerSaw {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.seen
	s.counts = maps.Clone(s.counts)
	return s
}

func (r *peerReader) run(p *rawPeer) error {
	var hdr [frame.HeaderLen]byte
	for {
		if _, err := io.ReadFull(p.br, hdr[:]); err != nil {
			return err
		}
		h, err := frame.ParseHeader(hdr[:], frame.MaxLength)
		if err != nil {
			return err
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(p.br, payload); err != nil {
			return err
		}
		f, err := frame.ParsePayload(h, payload)
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.seen.bytes += frame.HeaderLen + len(payload)
		r.seen.counts[f.Type]++
		switch {
		case f.Type == frame.TypePing && f.Flags&frame.FlagACK != 0:
			r.seen.pingAcks++
		case f.Type == frame.TypeData:
			r.seen.dataBytes += len(f.Data)
		case f.Type == frame.TypeWindow && f.StreamID == 0:
			r.seen.sessionCredit += uint64(f.Increment)
		case f.Type == frame.TypeStreams:
			r.seen.streamCredit = max(r.seen.streamCredit, f.Increment)
		case f.Type == frame.TypeGoAway:
			r.seen.goAway = &f
		}
		r.mu.Unlock()
	}
}

// frames encodes fs back to back.
func frames(fs ...frame.Frame) []byte {
	var b []byte
	for _, f := range fs {
		b = frame.Append(b, f)
	}
	return b
}

func dataFrame(id uint32, flags frame.Flags, data []byte) frame.Frame {
	return frame.Frame{Header: frame.Header{Type: frame.TypeData, Flags: flags, StreamID: id}, Data: data}
}
