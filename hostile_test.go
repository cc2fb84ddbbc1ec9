package twine

import (
	"context"
	"io"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/frame"
	"github.com/twinemux/twine/mux"
)

// Frames that carry nothing cost little each, but a peer sending nothing
// else is ended; DATA with payload resets the count.
func TestEmptyFrameFloodEndsSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, peer := newRawPeer(t, nil, true)
		peer.handshake()
		go io.Copy(io.Discard, peer.br)
		peer.write(frame.Frame{Header: frame.Header{Type: frame.TypeData, Flags: frame.FlagOpen, StreamID: 1}})
		empty := frame.AppendHeader(nil, frame.Header{Type: frame.TypeData, StreamID: 1})
		unknown := frame.AppendHeader(nil, frame.Header{Type: 0x42, Length: 3, StreamID: 7})
		unknown = append(unknown, 1, 2, 3)
		flood := func(n int) {
			var b []byte
			for i := range n {
				if i%2 == 0 {
					b = append(b, empty...)
				} else {
					b = append(b, unknown...)
				}
			}
			peer.writeRaw(b)
			synctest.Wait()
		}
		flood(maxJunkFrames)
		require.False(t, s.IsClosed(), "up to the limit is allowed: %v", s.Err())
		peer.write(frame.Frame{Header: frame.Header{Type: frame.TypeData, StreamID: 1}, Data: []byte("x")})
		flood(maxJunkFrames)
		require.False(t, s.IsClosed(), "DATA with payload resets the count: %v", s.Err())
		flood(1)
		require.True(t, s.IsClosed())
		var pe *mux.ProtocolError
		require.ErrorAs(t, s.Err(), &pe)
		require.Equal(t, mux.CodeEnhanceYourCalm, pe.Code)
	})
}

// Streams the peer opens and resets before they are accepted never reach
// the application, and their slots come back at once (the rapid-reset
// pattern of CVE-2023-44487 costs us one table insert and delete each).
func TestRapidResetNeverReachesTheApplication(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := &Config{MaxIncomingStreams: 16, AcceptBacklog: 4}
		s, peer := newRawPeer(t, cfg, true)
		peer.handshake()
		go io.Copy(io.Discard, peer.br)
		var b []byte
		const streams = 5000
		for i := range uint32(streams) {
			id := 2*i + 1
			b = frame.AppendHeader(b, frame.Header{Type: frame.TypeData, Flags: frame.FlagOpen, StreamID: id})
			b = frame.AppendRST(b, id, 8)
		}
		peer.writeRaw(b)
		synctest.Wait()
		require.False(t, s.IsClosed(), "open+reset within the credit is legal: %v", s.Err())
		require.Zero(t, s.NumStreams())

		ctx, cancel := context.WithCancel(context.Background())
		accepted := make(chan error, 1)
		go func() {
			_, err := s.AcceptStream(ctx)
			accepted <- err
		}()
		synctest.Wait()
		cancel()
		require.ErrorIs(t, <-accepted, context.Canceled, "no reset stream is handed to the application")

		// A real stream after the flood is accepted normally.
		last := uint32(2*streams + 1)
		peer.write(frame.Frame{Header: frame.Header{Type: frame.TypeData, Flags: frame.FlagOpen, StreamID: last}, Data: []byte("hi")})
		st, err := s.AcceptStream(context.Background())
		require.NoError(t, err)
		require.Equal(t, last, st.(*Stream).StreamID())
	})
}
