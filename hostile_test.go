package twine

import (
	"bytes"
	"context"
	"io"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twinemux/twine/internal/calltest"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/frame"
	"github.com/twinemux/twine/mux"
)

// The attacks of issue 5, each played by a raw peer against a session with
// small budgets (attackConfig), beside a well-behaved pair that must keep
// working. The attack harness (attack_test.go) checks the victim's
// footprint after every step and logs its peaks.

// Requests that make the victim queue control frames, from a peer that
// never reads: the queue is capped, and the session ends with code 0x8.
// The peer, reading at last, finds what was queued, then the GOAWAY.
func TestControlFrameFloodEndsSession(t *testing.T) {
	cases := []struct {
		name    string
		cfg     Config
		request func(i uint32) []byte
		frames  int // per request
	}{
		{
			name:    "PING",
			cfg:     attackConfig,
			request: func(i uint32) []byte { return frame.AppendPing(nil, false, [8]byte{byte(i >> 8), byte(i)}) },
			frames:  1,
		},
		{
			// Every stream that finishes raises the peer's stream credit;
			// with 16 streams each raise is announced on its own.
			name: "open and reset",
			cfg:  attackConfigWith(func(c *Config) { c.MaxIncomingStreams = 16 }),
			request: func(i uint32) []byte {
				b := frame.AppendHeader(nil, frame.Header{Type: frame.TypeData, Flags: frame.FlagOpen, StreamID: 2*i + 1})
				return frame.AppendRST(b, 2*i+1, 8)
			},
			frames: 2,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := newAttack(t, tc.cfg)
				a.goodTransfer()
				const perRound = 4000
				var next uint32
				for round := 0; ; round++ {
					require.Less(t, round, 20, "the victim must end the session after %d requests", next)
					var b []byte
					for range perRound {
						b = append(b, tc.request(next)...)
						next++
					}
					a.flood(b, perRound*tc.frames)
					if a.victim.IsClosed() {
						break
					}
					a.goodTransfer()
				}
				a.requireEnded(mux.CodeEnhanceYourCalm, nil)
				a.goodTransfer()
			})
		})
	}
}

// Opening and resetting streams at line rate (the rapid-reset pattern of
// CVE-2023-44487), within the stream credit, from a peer that reads: legal,
// so the session stays up, but each stream costs a constant amount of work,
// none of them reaches the application, and nothing accumulates.
func TestRapidResetFloodCostsLittle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAttack(t, attackConfig)
		reader := a.readPeer()
		const perRound, rounds = 5000, 4
		next := uint32(1)
		sent := 0
		for range rounds {
			var b []byte
			for range perRound {
				b = frame.AppendHeader(b, frame.Header{Type: frame.TypeData, Flags: frame.FlagOpen, StreamID: next})
				b = frame.AppendRST(b, next, 8)
				next += 2
			}
			sent += len(b)
			a.flood(b, 2*perRound)
			require.False(t, a.victim.IsClosed(), "open+reset within the credit is legal: %v", a.victim.Err())
			require.Zero(t, a.victim.NumStreams(), "every reset stream is finished")
			a.goodTransfer()
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := a.victim.AcceptStream(ctx)
		require.ErrorIs(t, err, context.Canceled, "no reset stream is handed to the application")

		saw := reader.saw()
		require.GreaterOrEqual(t, int(saw.streamCredit), rounds*perRound, "the credit follows the finished streams")
		require.Less(t, saw.bytes, sent/4, "the victim's answers are a fraction of the flood")
	})
}

// Frames that change nothing and need no answer (an ACK for no PING,
// frames for a finished stream, a STREAMS count not above the current one,
// a repeated GOAWAY) cost a constant amount of work each: the victim
// answers none of them and keeps nothing.
func TestNoOpFrameFloodCostsLittle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAttack(t, attackConfig)
		reader := a.readPeer()
		// Stream 1 is opened and reset, so it is finished.
		a.write(frames(openFrame(1), frame.Frame{Header: frame.Header{Type: frame.TypeRST, StreamID: 1}, Code: 8}))
		noOps := frames(
			frame.Frame{Header: frame.Header{Type: frame.TypePing, Flags: frame.FlagACK}, Ping: [8]byte{0xff}},
			windowFrame(1, 1),
			frame.Frame{Header: frame.Header{Type: frame.TypeRST, StreamID: 1}, Code: 1},
			frame.Frame{Header: frame.Header{Type: frame.TypeStop, StreamID: 1}, Code: 1},
			dataFrame(1, frame.FlagFIN, nil),
			frame.Frame{Header: frame.Header{Type: frame.TypeStreams}, Increment: 1},
			frame.Frame{Header: frame.Header{Type: frame.TypeGoAway}, Reason: "not really"},
		)
		const perRound, rounds = 1500, 3
		before := reader.saw().bytes
		for range rounds {
			a.flood(bytes.Repeat(noOps, perRound), 7*perRound)
			require.False(t, a.victim.IsClosed(), "frames that change nothing are legal: %v", a.victim.Err())
			a.goodTransfer()
		}
		require.Equal(t, before, reader.saw().bytes, "the victim answered none of them")
		require.Zero(t, a.peak.streams)
		require.Zero(t, a.peak.ctrlFrames)
	})
}

// Frames that carry nothing (empty DATA without flags, unknown types) cost
// little each, but a peer sending nothing else is ended with code 0x8; DATA
// with payload resets the count.
func TestEmptyFrameFloodEndsSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAttack(t, attackConfig)
		reader := a.readPeer()
		a.write(frames(openFrame(1)))
		empty := frame.AppendHeader(nil, frame.Header{Type: frame.TypeData, StreamID: 1})
		unknown := frame.AppendHeader(nil, frame.Header{Type: 0x42, Length: 3, StreamID: 7})
		unknown = append(unknown, 1, 2, 3)
		junk := bytes.Repeat(append(empty, unknown...), maxJunkFrames/2)

		a.flood(junk, maxJunkFrames)
		require.False(t, a.victim.IsClosed(), "up to the limit is allowed: %v", a.victim.Err())
		a.goodTransfer()
		a.write(frames(dataFrame(1, 0, []byte("x"))))
		a.flood(junk, maxJunkFrames)
		require.False(t, a.victim.IsClosed(), "DATA with payload resets the count: %v", a.victim.Err())
		a.write(empty)
		a.requireEnded(mux.CodeEnhanceYourCalm, reader)
		var pe *mux.ProtocolError
		require.ErrorAs(t, a.victim.Err(), &pe)
		require.Equal(t, mux.CodeEnhanceYourCalm, pe.Code)
		a.goodTransfer()
	})
}

// A WINDOW of 0 is a protocol error, on the session and on a stream.
func TestZeroWindowIncrementEndsSession(t *testing.T) {
	for name, id := range map[string]uint32{"session": 0, "stream": 1} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := newAttack(t, attackConfig)
				zero := frame.AppendHeader(nil, frame.Header{Type: frame.TypeWindow, Length: 4, StreamID: id})
				a.write(append(frames(openFrame(1)), append(zero, 0, 0, 0, 0)...))
				a.requireEnded(mux.CodeProtocol, nil)
			})
		})
	}
}

// Streams opened and reset before AcceptStream never reach the
// application, and their slots come back at once.
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

// SETTINGS is sent once: a flood of them ends the session at the second;
// an oversized one is refused from its header.
func TestSettingsFloodEndsSession(t *testing.T) {
	settings := frame.AppendSettings(nil, []frame.Setting{{ID: frame.SettingInitialStreamWindow, Value: 1}})
	cases := []struct {
		name  string
		flood []byte
		code  mux.ErrorCode
	}{
		{"repeated", bytes.Repeat(settings, 1000), mux.CodeProtocol},
		{"more than 64 entries", frame.AppendSettings(nil, make([]frame.Setting, frame.MaxSettings+1)), mux.CodeFrameSize},
		{"length 2^24-1, header only", frame.AppendHeader(nil, frame.Header{Type: frame.TypeSettings, Length: frame.MaxLength}), mux.CodeFrameSize},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := newAttack(t, attackConfig)
				reader := a.readPeer()
				a.write(tc.flood)
				a.requireEnded(tc.code, reader)
				a.goodTransfer()
			})
		})
	}
}

// A peer opening streams the application does not accept can fill the
// accept backlog, each stream's window full, and no more: the memory is
// the session window; the next stream is a stream-limit error.
func TestStreamFloodBeyondCreditEndsSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newAttack(t, attackConfig)
		reader := a.readPeer()
		full := make([]byte, attackConfig.InitialStreamWindow)
		var b []byte
		for i := range attackConfig.AcceptBacklog {
			b = frame.Append(b, dataFrame(2*i+1, frame.FlagOpen, full))
		}
		a.flood(b, int(attackConfig.AcceptBacklog))
		require.False(t, a.victim.IsClosed(), "streams within the credit are legal: %v", a.victim.Err())
		require.Equal(t, int(attackConfig.SessionWindow), a.peak.unread, "the backlog's windows are the whole budget")
		a.goodTransfer()

		a.write(frames(openFrame(2*attackConfig.AcceptBacklog + 1)))
		a.requireEnded(mux.CodeStreamLimit, reader)
		a.goodTransfer()
	})
}

// Stream ids: the peer's must have its parity and increase; frames for ids
// it never opened are protocol errors. The highest id is usable once.
func TestStreamIDAbuseEndsSession(t *testing.T) {
	cases := []struct {
		name string
		send []byte
	}{
		{"the victim's parity", frames(openFrame(2))},
		{"id not above the last", frames(openFrame(7), openFrame(5))},
		{"the highest id, then another", frames(openFrame(math.MaxUint32), openFrame(1))},
		{"DATA without OPEN above the last id", frames(openFrame(1), dataFrame(3, 0, []byte("x")))},
		{"RST for a stream never opened", frames(frame.Frame{Header: frame.Header{Type: frame.TypeRST, StreamID: 9}})},
		{"STOP for a stream never opened", frames(frame.Frame{Header: frame.Header{Type: frame.TypeStop, StreamID: 4}})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := newAttack(t, attackConfig)
				reader := a.readPeer()
				a.write(tc.send)
				a.requireEnded(mux.CodeProtocol, reader)
			})
		})
	}
}

// Window abuse: increments that add up past 2^31-1, and DATA past what was
// granted, end the session with a flow-control error before any of the
// excess is buffered.
func TestWindowOverflowEndsSession(t *testing.T) {
	cases := []struct {
		name string
		send func(a *attack)
	}{
		{"session increments adding up past 2^31-1", func(a *attack) {
			a.write(bytes.Repeat(frame.AppendWindow(nil, 0, 1<<26), 32))
		}},
		{"stream increments adding up past 2^31-1", func(a *attack) {
			a.write(append(frames(openFrame(1)), bytes.Repeat(frame.AppendWindow(nil, 1, 1<<26), 32)...))
		}},
		{"DATA past a window update", func(a *attack) {
			window := int(attackConfig.InitialStreamWindow)
			a.write(frames(dataFrame(1, frame.FlagOpen, make([]byte, window))))
			st, err := a.victim.AcceptStream(context.Background())
			require.NoError(a.t, err)
			_, err = io.ReadFull(st, make([]byte, window/2))
			require.NoError(a.t, err)
			a.write(frames(dataFrame(1, 0, make([]byte, window/2))))
			a.sample()
			require.False(a.t, a.victim.IsClosed(), "the update granted exactly this: %v", a.victim.Err())
			a.write(frames(dataFrame(1, 0, []byte{1})))
		}},
		{"DATA past the session window on a stream past its FIN", func(a *attack) {
			// Unread data fills the session window: stream 1 up to its FIN,
			// and more streams. Then even DATA that would be discarded is
			// beyond it.
			full := make([]byte, attackConfig.InitialStreamWindow)
			b := frames(dataFrame(1, frame.FlagOpen|frame.FlagFIN, full))
			for i := range attackConfig.SessionWindow/attackConfig.InitialStreamWindow - 1 {
				b = frame.Append(b, dataFrame(2*i+3, frame.FlagOpen, full))
			}
			a.write(b)
			a.sample()
			require.False(a.t, a.victim.IsClosed(), "exactly the session window: %v", a.victim.Err())
			a.write(frames(dataFrame(1, 0, []byte{1})))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := newAttack(t, attackConfig)
				tc.send(a)
				a.sample()
				a.requireEnded(mux.CodeFlowControl, nil)
			})
		})
	}
}

// A length field is checked before anything else is read or allocated: the
// largest length a header can carry, on a header alone, ends the session
// with a frame-size error whatever the type.
func TestHugeLengthEndsSessionFromTheHeader(t *testing.T) {
	types := []frame.Type{frame.TypeData, frame.TypeWindow, frame.TypeRST, frame.TypeStop, frame.TypePing,
		frame.TypeGoAway, frame.TypeSettings, frame.TypeStreams, 0x42}
	for _, typ := range types {
		t.Run(typ.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := newAttack(t, attackConfig)
				var id uint32
				if typ == frame.TypeData || typ == frame.TypeRST || typ == frame.TypeStop {
					id = 1
				}
				a.write(frame.AppendHeader(nil, frame.Header{Type: typ, Length: frame.MaxLength, StreamID: id}))
				a.requireEnded(mux.CodeFrameSize, nil)
			})
		})
	}
}

// With the largest frames allowed, a huge DATA frame beyond the window is
// refused from its header, and a huge frame of an unknown type is skipped
// without being buffered.
func TestHugeFramesWithinTheFrameLimit(t *testing.T) {
	cfg := attackConfig
	cfg.MaxFramePayload = frame.MaxLength
	t.Run("DATA beyond the window", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a := newAttack(t, cfg)
			a.write(frame.AppendHeader(nil, frame.Header{Type: frame.TypeData, Flags: frame.FlagOpen, Length: frame.MaxLength, StreamID: 1}))
			a.requireEnded(mux.CodeFlowControl, nil)
		})
	})
	t.Run("unknown type", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a := newAttack(t, cfg)
			reader := a.readPeer()
			huge := frame.AppendHeader(nil, frame.Header{Type: 0x42, Length: frame.MaxLength})
			a.write(append(huge, make([]byte, frame.MaxLength)...))
			a.write(frame.AppendPing(nil, false, [8]byte{42}))
			a.sample()
			require.False(t, a.victim.IsClosed(), "an unknown frame within the limit is skipped: %v", a.victim.Err())
			require.Equal(t, 1, reader.saw().pingAcks, "the PING after it is answered")
			require.Less(t, a.heapPeak, uint64(4<<20), "the unknown payload was not buffered")
		})
	})
}

// A peer that opens thousands of streams, sends on them and never grants
// window: the victim's writers block within their windows, nothing queues
// for the write loop, and their deadlines end them with exactly the
// granted bytes sent. The session itself is healthy.
func TestZeroWindowHoldBlocksWritersWithinWindows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const streams, window = 2000, 1 << 10
		cfg := attackConfig
		cfg.MaxIncomingStreams = streams
		cfg.AcceptBacklog = 256
		a := newAttack(t, cfg, frame.Setting{ID: frame.SettingInitialStreamWindow, Value: window})
		reader := a.readPeer()

		writes := make(chan calltest.Result, streams)
		go func() {
			for {
				st, err := a.victim.AcceptStream(context.Background())
				if err != nil {
					return
				}
				go func() {
					st.SetWriteDeadline(time.Now().Add(5 * time.Second))
					if _, err := io.ReadFull(st, make([]byte, window)); err != nil {
						writes <- calltest.Result{Err: err}
						return
					}
					n, err := st.Write(make([]byte, 4*window))
					writes <- calltest.Result{N: n, Err: err}
				}()
			}
		}()

		// The peer keeps within the stream credit and the session window
		// it is granted.
		chunk := make([]byte, window)
		for opened := uint32(0); opened < streams; {
			saw := reader.saw()
			credit := min(max(saw.streamCredit, cfg.AcceptBacklog), streams)
			room := (uint64(cfg.SessionWindow) + saw.sessionCredit - uint64(opened)*window) / window
			require.Greater(t, min(uint64(credit-opened), room), uint64(0), "the victim grants more as the streams are accepted and read")
			var b []byte
			for end := opened + min(credit-opened, uint32(room)); opened < end; opened++ {
				b = frame.Append(b, dataFrame(2*opened+1, frame.FlagOpen, chunk))
			}
			a.write(b)
			a.sample()
		}
		require.Equal(t, streams, a.victim.NumStreams())
		require.Zero(t, len(writes), "every writer is blocked")
		require.Equal(t, streams*window, reader.saw().dataBytes, "each writer sent its window")
		a.goodTransfer()

		time.Sleep(5 * time.Second)
		for range streams {
			r := <-writes
			require.Equal(t, window, r.N, "a timed-out Write reports the bytes sent")
			var de *mux.DeadlineError
			require.ErrorAs(t, r.Err, &de)
		}
		require.False(t, a.victim.IsClosed(), "a peer that does not read is not a dead peer: %v", a.victim.Err())
		require.Equal(t, streams*window, reader.saw().dataBytes, "nothing beyond the windows was sent")
		a.sample()
	})
}

// DATA after the peer's FIN, after our STOP, after our RST or after the
// peer's own RST is discarded, never reaches the application, and is
// credited back to the session window, so the peer can keep going.
func TestDataAfterEndOfStreamIsDiscarded(t *testing.T) {
	cases := []struct {
		name string
		end  func(a *attack, st *Stream) // ends the stream's receiving
	}{
		{"after FIN", func(a *attack, st *Stream) {
			a.write(frames(dataFrame(1, frame.FlagFIN, []byte("end"))))
		}},
		{"after STOP", func(a *attack, st *Stream) { require.NoError(a.t, st.CloseRead()) }},
		{"after our RST", func(a *attack, st *Stream) { require.NoError(a.t, st.ResetWithError(5)) }},
		{"after the peer's RST", func(a *attack, st *Stream) {
			a.write(frames(frame.Frame{Header: frame.Header{Type: frame.TypeRST, StreamID: 1}, Code: 5}))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a := newAttack(t, attackConfig)
				reader := a.readPeer()
				a.write(frames(dataFrame(1, frame.FlagOpen, []byte("data"))))
				acc, err := a.victim.AcceptStream(context.Background())
				require.NoError(t, err)
				st := acc.(*Stream)
				tc.end(a, st)

				// Twice the session window, well past the stream window.
				late := make([]byte, attackConfig.MaxFramePayload)
				var b []byte
				for range 2 * attackConfig.SessionWindow / attackConfig.MaxFramePayload {
					b = frame.Append(b, dataFrame(1, 0, late))
				}
				for half := range 2 {
					a.flood(b[half*len(b)/2:(half+1)*len(b)/2], len(b)/2/(frame.HeaderLen+len(late)))
				}
				require.False(t, a.victim.IsClosed(), "late DATA is legal: %v", a.victim.Err())
				require.LessOrEqual(t, a.peak.unread, len("dataend"), "none of the late DATA is kept")
				require.GreaterOrEqual(t, reader.saw().sessionCredit, uint64(attackConfig.SessionWindow), "the late DATA is credited back")

				got, err := io.ReadAll(st)
				if tc.name == "after FIN" {
					require.NoError(t, err)
					require.Equal(t, "dataend", string(got), "the data before FIN, then io.EOF")
				} else {
					require.Error(t, err)
					require.NotErrorIs(t, err, io.EOF)
				}
				a.goodTransfer()
			})
		})
	}
}
