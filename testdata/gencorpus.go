//go:build ignore

// gencorpus records real exchanges between a twine client and server and
// writes them as fuzzing seed corpora: the bytes the client sent, whole, for
// FuzzSession (testdata/fuzz/FuzzSession), and each distinct frame either
// side sent for FuzzDecode (frame/testdata/fuzz/FuzzDecode). Run it from the
// repository root:
//
//	go run ./testdata/gencorpus.go
//
// TestFuzzSessionCorpus and frame's TestFuzzDecodeCorpus check what it
// wrote.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/twinemux/twine"
	"github.com/twinemux/twine/frame"
	"github.com/twinemux/twine/internal/memconn"
	"github.com/twinemux/twine/mux"
)

// serverConfig is FuzzSession's fuzzConfig, so that the recorded client
// keeps to the limits the fuzzed session enforces.
var serverConfig = twine.Config{
	PeerTimeout:         time.Second,
	InitialStreamWindow: 4 << 10,
	MaxStreamWindow:     16 << 10,
	SessionWindow:       16 << 10,
	MaxFramePayload:     4 << 10,
	MaxIncomingStreams:  8,
	AcceptBacklog:       4,
}

// recordingConn keeps a copy of every byte written through it.
type recordingConn struct {
	net.Conn
	mu      sync.Mutex
	written bytes.Buffer
}

func (c *recordingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.written.Write(p[:n])
	c.mu.Unlock()
	return n, err
}

func (c *recordingConn) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.written.Bytes())
}

// scenario is what the client does (it may drive the server session too);
// the server's application echoes each stream it accepts, or does what
// serve says.
type scenario struct {
	name      string
	clientCfg *twine.Config
	client    func(ctx context.Context, c, s *twine.Session) error
	serve     func(st mux.Stream)
}

func echo(st mux.Stream) {
	io.Copy(st, st)
	st.Close()
}

// roundTrip writes msg on a new stream and half-closes, while it reads the
// reply.
func roundTrip(ctx context.Context, c *twine.Session, msg []byte) error {
	st, err := c.OpenStream(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	read := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(st)
		read <- err
	}()
	if _, err := st.Write(msg); err != nil {
		return err
	}
	st.CloseWrite()
	return <-read
}

var scenarios = []scenario{
	{name: "echo", client: func(ctx context.Context, c, _ *twine.Session) error {
		return roundTrip(ctx, c, []byte("hello, twine"))
	}},
	{
		// More than the windows both ways, so that each side sends WINDOW.
		name:      "bulk",
		clientCfg: &twine.Config{InitialStreamWindow: 4 << 10, SessionWindow: 16 << 10},
		client: func(ctx context.Context, c, _ *twine.Session) error {
			return roundTrip(ctx, c, bytes.Repeat([]byte("0123456789abcdef"), 2<<10))
		},
	},
	{name: "many-streams", client: func(ctx context.Context, c, _ *twine.Session) error {
		for i := range 10 {
			if err := roundTrip(ctx, c, fmt.Appendf(nil, "stream %d", i)); err != nil {
				return err
			}
		}
		return nil
	}},
	{name: "reset", client: func(ctx context.Context, c, _ *twine.Session) error {
		st, err := c.OpenStream(ctx)
		if err != nil {
			return err
		}
		st.Write([]byte("never mind"))
		return st.(*twine.Stream).ResetWithError(0x1234)
	}},
	{
		name: "stop",
		client: func(ctx context.Context, c, _ *twine.Session) error {
			st, err := c.OpenStream(ctx)
			if err != nil {
				return err
			}
			st.Write([]byte("are you listening?"))
			st.CloseRead() // STOP: the server's writes fail
			st.CloseWrite()
			return nil
		},
		serve: func(st mux.Stream) {
			io.ReadAll(st)
			st.Write([]byte("unheard"))
			st.Close()
		},
	},
	{name: "ping", client: func(ctx context.Context, c, _ *twine.Session) error {
		_, err := c.Ping(ctx)
		return err
	}},
	{name: "goaway", client: func(ctx context.Context, c, _ *twine.Session) error {
		if err := roundTrip(ctx, c, []byte("last request")); err != nil {
			return err
		}
		return c.GoAway(ctx)
	}},
	{
		// The server opens streams; the client, granting one stream at a
		// time, raises the credit with STREAMS as they finish.
		name:      "server-opens",
		clientCfg: &twine.Config{MaxIncomingStreams: 1, AcceptBacklog: 1},
		client: func(ctx context.Context, c, s *twine.Session) error {
			for i := range 3 {
				st, err := s.OpenStream(ctx)
				if err != nil {
					return err
				}
				st.Write(fmt.Appendf(nil, "from the server, %d", i))
				st.CloseWrite()
				in, err := c.AcceptStream(ctx)
				if err != nil {
					return err
				}
				if _, err := io.ReadAll(in); err != nil {
					return err
				}
				in.Close()
				st.Close()
			}
			return nil
		},
	},
}

// record runs sc and returns the bytes each side wrote.
func record(sc scenario) (client, server []byte, err error) {
	ca, sa := memconn.Pipe(256 << 10)
	cc, scc := &recordingConn{Conn: ca}, &recordingConn{Conn: sa}
	c, err := twine.Client(cc, sc.clientCfg)
	if err != nil {
		return nil, nil, err
	}
	cfg := serverConfig
	s, err := twine.Server(scc, &cfg)
	if err != nil {
		return nil, nil, err
	}
	serve := sc.serve
	if serve == nil {
		serve = echo
	}
	go func() {
		for {
			st, err := s.AcceptStream(context.Background())
			if err != nil {
				return
			}
			go serve(st)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = sc.client(ctx, c, s)
	c.Close()
	s.Close()
	return cc.bytes(), scc.bytes(), err
}

// writeSeed writes b as a corpus file of dir in the `go test fuzz v1` format.
func writeSeed(dir, name string, b []byte) {
	content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		log.Fatal(err)
	}
}

// splitFrames returns the frames of b, which starts with the preface.
func splitFrames(b []byte) [][]byte {
	var out [][]byte
	for b = b[len(frame.Preface):]; len(b) > 0; {
		_, n, err := frame.Decode(b, frame.MaxLength)
		if err != nil {
			log.Fatalf("a recorded frame does not decode: %v", err)
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

func main() {
	sessionDir := filepath.Join("testdata", "fuzz", "FuzzSession")
	decodeDir := filepath.Join("frame", "testdata", "fuzz", "FuzzDecode")
	for _, dir := range []string{sessionDir, decodeDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			log.Fatal(err)
		}
	}
	// One FuzzDecode seed per shape of frame: type, flags, session or
	// stream, length.
	seen := make(map[frame.Header]bool)
	for _, sc := range scenarios {
		client, server, err := record(sc)
		if err != nil {
			log.Fatalf("%s: %v", sc.name, err)
		}
		writeSeed(sessionDir, "recorded-"+sc.name, client)
		for _, f := range append(splitFrames(client), splitFrames(server)...) {
			h, _ := frame.ParseHeader(f, frame.MaxLength)
			h.StreamID = min(h.StreamID, 1)
			if seen[h] {
				continue
			}
			seen[h] = true
			sum := sha256.Sum256(f)
			writeSeed(decodeDir, fmt.Sprintf("recorded-%x", sum[:8]), f)
		}
	}
	log.Printf("wrote %d FuzzSession seeds and %d FuzzDecode seeds", len(scenarios), len(seen))
}
