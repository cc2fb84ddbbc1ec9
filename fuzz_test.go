package twine

import (
	"context"
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/frame"
	"github.com/twinemux/twine/mux"
)

// fuzzConfig keeps the limits small, so that inputs reach them.
var fuzzConfig = Config{
	PeerTimeout:         time.Second,
	InitialStreamWindow: 4 << 10,
	MaxStreamWindow:     16 << 10,
	SessionWindow:       16 << 10,
	MaxFramePayload:     4 << 10,
	MaxIncomingStreams:  8,
	AcceptBacklog:       4,
}

// seedExchange is a plausible peer's side of a session: handshake, a
// stream with data and FIN, windows, pings, a reset and a GOAWAY.
func seedExchange() []byte {
	b := []byte(frame.Preface)
	b = frame.AppendSettings(b, []frame.Setting{{ID: frame.SettingInitialStreamWindow, Value: 1 << 16}})
	b = frame.AppendHeader(b, frame.Header{Type: frame.TypeData, Flags: frame.FlagOpen, StreamID: 1})
	b = frame.Append(b, frame.Frame{Header: frame.Header{Type: frame.TypeData, StreamID: 1}, Data: []byte("hello")})
	b = frame.AppendHeader(b, frame.Header{Type: frame.TypeData, Flags: frame.FlagFIN, StreamID: 1})
	b = frame.AppendWindow(b, 0, 1<<10)
	b = frame.AppendWindow(b, 1, 1<<10)
	b = frame.AppendPing(b, false, [8]byte{1})
	b = frame.AppendHeader(b, frame.Header{Type: frame.TypeData, Flags: frame.FlagOpen, StreamID: 3})
	b = frame.AppendStop(b, 3, 9)
	b = frame.AppendRST(b, 3, 7)
	b = frame.AppendStreams(b, 5)
	return frame.AppendGoAway(b, 0, mux.CodeNoError, "bye")
}

// FuzzSession feeds arbitrary bytes as the peer's side of a live session,
// whose application accepts streams, reads them and answers. Whatever the
// input: no panic, buffered memory within the session window, and the
// session either alive or ended with a typed error. The synctest bubble
// fails the input if any goroutine is left blocked after Close.
func FuzzSession(f *testing.F) {
	seed := seedExchange()
	f.Add(seed)
	f.Add(seed[:len(frame.Preface)+20])
	f.Add([]byte(frame.Preface))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, input []byte) {
		synctest.Test(t, func(t *testing.T) {
			cfg := fuzzConfig
			s, peer := newRawPeer(t, &cfg, true)
			go io.Copy(io.Discard, peer.conn) // the peer reads whatever we send
			go serveFuzzStreams(s)

			peer.writeRaw(input)
			synctest.Wait()
			require.LessOrEqual(t, bufferedBytes(s), int(cfg.SessionWindow), "buffered beyond the session window")
			if s.IsClosed() {
				requireTypedSessionError(t, s.Err())
			}
			// Whatever state it is in, the session ends cleanly.
			peer.conn.Close()
			synctest.Wait()
			require.True(t, s.IsClosed(), "the session ends when its connection closes")
			requireTypedSessionError(t, s.Err())
		})
	})
}

// serveFuzzStreams plays a busy application: it accepts streams, reads a
// little, writes a reply and closes or resets them.
func serveFuzzStreams(s *Session) {
	ctx := context.Background()
	for i := 0; ; i++ {
		st, err := s.AcceptStream(ctx)
		if err != nil {
			return
		}
		go func() {
			buf := make([]byte, 512)
			st.Read(buf)
			st.Write([]byte("reply"))
			if i%2 == 0 {
				st.Close()
			} else {
				st.Reset()
			}
		}()
	}
}

func requireTypedSessionError(t *testing.T, err error) {
	t.Helper()
	var se *mux.SessionError
	if errors.Is(err, mux.ErrPeerUnresponsive) || errors.As(err, &se) {
		require.NotErrorIs(t, err, io.EOF, "a session's end is never io.EOF")
		return
	}
	t.Fatalf("the session ended with %T %v, not a typed error", err, err)
}
