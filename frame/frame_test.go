package frame_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/frame"
	"github.com/twinemux/twine/mux"
)

// testMaxPayload is the receiver's limit used by the tests.
const testMaxPayload = 1 << 14

func TestTypeString(t *testing.T) {
	names := map[frame.Type]string{
		frame.TypeData:     "DATA",
		frame.TypeWindow:   "WINDOW",
		frame.TypeRST:      "RST",
		frame.TypeStop:     "STOP",
		frame.TypePing:     "PING",
		frame.TypeGoAway:   "GOAWAY",
		frame.TypeSettings: "SETTINGS",
		frame.TypeStreams:  "STREAMS",
		0x8:                "frame 0x8",
		0x9:                "frame 0x9",
		0xff:               "frame 0xff",
	}
	for typ, name := range names {
		require.Equal(t, name, typ.String())
		require.Equal(t, typ <= frame.TypeStreams, typ.Known(), "Known for %v", typ)
	}
}

func TestAppendHeaderLayout(t *testing.T) {
	h := frame.Header{Length: 0x010203, Type: 0x14, Flags: 0x05, StreamID: 0x06070809}
	got := frame.AppendHeader([]byte{0xaa}, h)
	require.Equal(t, []byte{0xaa, 0x01, 0x02, 0x03, 0x14, 0x05, 0x06, 0x07, 0x08, 0x09}, got,
		"the header is length(24) type(8) flags(8) stream id(32), big-endian, appended to dst")

	back, err := frame.ParseHeader(got[1:], frame.MaxLength)
	require.NoError(t, err)
	require.Equal(t, h, back)

	largest := frame.Header{Length: frame.MaxLength, Type: frame.TypeData, StreamID: 0xffffffff}
	back, err = frame.ParseHeader(frame.AppendHeader(nil, largest), frame.MaxLength)
	require.NoError(t, err)
	require.Equal(t, largest, back)
}

func TestAppendHeaderPanicsOnLongLength(t *testing.T) {
	require.Panics(t, func() { frame.AppendHeader(nil, frame.Header{Length: frame.MaxLength + 1}) })
}

func TestParseHeader(t *testing.T) {
	type hdr = frame.Header
	const (
		data     = frame.TypeData
		window   = frame.TypeWindow
		rst      = frame.TypeRST
		stop     = frame.TypeStop
		ping     = frame.TypePing
		goAway   = frame.TypeGoAway
		settings = frame.TypeSettings
		streams  = frame.TypeStreams
	)
	tests := []struct {
		name string
		h    frame.Header
		code mux.ErrorCode // of the expected error; unused if rule is empty
		rule string        // the expected error's rule; empty if the header is valid
	}{
		// The receiver's limit comes first, for every type.
		{"DATA at the limit", hdr{Length: testMaxPayload, Type: data, StreamID: 1}, 0, ""},
		{"DATA over the limit", hdr{Length: testMaxPayload + 1, Type: data, StreamID: 1}, mux.CodeFrameSize, "length 16385 exceeds the limit 16384"},
		{"limit before stream id", hdr{Length: testMaxPayload + 1, Type: data}, mux.CodeFrameSize, "length 16385 exceeds the limit 16384"},
		{"limit before flags", hdr{Length: frame.MaxLength, Type: ping, Flags: 0xff, StreamID: 3}, mux.CodeFrameSize, "length 16777215 exceeds the limit 16384"},
		{"unknown type over the limit", hdr{Length: testMaxPayload + 1, Type: 0x8}, mux.CodeFrameSize, "length 16385 exceeds the limit 16384"},

		{"DATA", hdr{Length: 100, Type: data, StreamID: 1}, 0, ""},
		{"DATA empty", hdr{Type: data, StreamID: 2}, 0, ""},
		{"DATA OPEN", hdr{Type: data, Flags: frame.FlagOpen, StreamID: 3}, 0, ""},
		{"DATA FIN", hdr{Length: 1, Type: data, Flags: frame.FlagFIN, StreamID: 0xffffffff}, 0, ""},
		{"DATA OPEN|FIN", hdr{Length: 5, Type: data, Flags: frame.FlagOpen | frame.FlagFIN, StreamID: 5}, 0, ""},
		{"DATA on stream 0", hdr{Length: 5, Type: data}, mux.CodeProtocol, "needs a stream id"},
		{"DATA flag 0x4", hdr{Type: data, Flags: 0x4, StreamID: 1}, mux.CodeProtocol, "unknown flags 0x4"},
		{"DATA all flags", hdr{Type: data, Flags: 0xff, StreamID: 1}, mux.CodeProtocol, "unknown flags 0xfc"},

		{"WINDOW session", hdr{Length: 4, Type: window}, 0, ""},
		{"WINDOW stream", hdr{Length: 4, Type: window, StreamID: 9}, 0, ""},
		{"WINDOW flags", hdr{Length: 4, Type: window, Flags: 0x1}, mux.CodeProtocol, "unknown flags 0x1"},
		{"WINDOW short", hdr{Length: 3, Type: window}, mux.CodeFrameSize, "length 3, must be 4"},
		{"WINDOW long", hdr{Length: 5, Type: window, StreamID: 1}, mux.CodeFrameSize, "length 5, must be 4"},

		{"RST", hdr{Length: 4, Type: rst, StreamID: 1}, 0, ""},
		{"RST on stream 0", hdr{Length: 4, Type: rst}, mux.CodeProtocol, "needs a stream id"},
		{"RST flags", hdr{Length: 4, Type: rst, Flags: 0x80, StreamID: 1}, mux.CodeProtocol, "unknown flags 0x80"},
		{"RST short", hdr{Length: 0, Type: rst, StreamID: 1}, mux.CodeFrameSize, "length 0, must be 4"},
		{"RST long", hdr{Length: 8, Type: rst, StreamID: 1}, mux.CodeFrameSize, "length 8, must be 4"},

		{"STOP", hdr{Length: 4, Type: stop, StreamID: 2}, 0, ""},
		{"STOP on stream 0", hdr{Length: 4, Type: stop}, mux.CodeProtocol, "needs a stream id"},
		{"STOP flags", hdr{Length: 4, Type: stop, Flags: 0x2, StreamID: 2}, mux.CodeProtocol, "unknown flags 0x2"},
		{"STOP short", hdr{Length: 2, Type: stop, StreamID: 2}, mux.CodeFrameSize, "length 2, must be 4"},
		{"STOP long", hdr{Length: 5, Type: stop, StreamID: 2}, mux.CodeFrameSize, "length 5, must be 4"},

		{"PING", hdr{Length: 8, Type: ping}, 0, ""},
		{"PING ACK", hdr{Length: 8, Type: ping, Flags: frame.FlagACK}, 0, ""},
		{"PING on a stream", hdr{Length: 8, Type: ping, StreamID: 1}, mux.CodeProtocol, "must be on stream 0"},
		{"PING flag 0x2", hdr{Length: 8, Type: ping, Flags: 0x3}, mux.CodeProtocol, "unknown flags 0x2"},
		{"PING short", hdr{Length: 7, Type: ping}, mux.CodeFrameSize, "length 7, must be 8"},
		{"PING long", hdr{Length: 9, Type: ping}, mux.CodeFrameSize, "length 9, must be 8"},

		{"GOAWAY without reason", hdr{Length: 8, Type: goAway}, 0, ""},
		{"GOAWAY longest reason", hdr{Length: 8 + frame.MaxReasonLen, Type: goAway}, 0, ""},
		{"GOAWAY on a stream", hdr{Length: 8, Type: goAway, StreamID: 4}, mux.CodeProtocol, "must be on stream 0"},
		{"GOAWAY flags", hdr{Length: 8, Type: goAway, Flags: 0x1}, mux.CodeProtocol, "unknown flags 0x1"},
		{"GOAWAY short", hdr{Length: 7, Type: goAway}, mux.CodeFrameSize, "length 7 is below the minimum 8"},
		{"GOAWAY reason too long", hdr{Length: 9 + frame.MaxReasonLen, Type: goAway}, mux.CodeFrameSize, "length 265 exceeds the limit 264"},

		{"SETTINGS empty", hdr{Type: settings}, 0, ""},
		{"SETTINGS one", hdr{Length: 6, Type: settings}, 0, ""},
		{"SETTINGS most", hdr{Length: 6 * frame.MaxSettings, Type: settings}, 0, ""},
		{"SETTINGS on a stream", hdr{Length: 6, Type: settings, StreamID: 1}, mux.CodeProtocol, "must be on stream 0"},
		{"SETTINGS flags", hdr{Length: 6, Type: settings, Flags: 0x1}, mux.CodeProtocol, "unknown flags 0x1"},
		{"SETTINGS partial entry", hdr{Length: 7, Type: settings}, mux.CodeFrameSize, "length 7 is not a multiple of 6"},
		{"SETTINGS too many", hdr{Length: 6 * (frame.MaxSettings + 1), Type: settings}, mux.CodeFrameSize, "length 390 exceeds the limit 384"},

		{"STREAMS", hdr{Length: 4, Type: streams}, 0, ""},
		{"STREAMS on a stream", hdr{Length: 4, Type: streams, StreamID: 1}, mux.CodeProtocol, "must be on stream 0"},
		{"STREAMS flags", hdr{Length: 4, Type: streams, Flags: 0x4}, mux.CodeProtocol, "unknown flags 0x4"},
		{"STREAMS long", hdr{Length: 6, Type: streams}, mux.CodeFrameSize, "length 6, must be 4"},

		{"unknown type, anything goes", hdr{Length: 100, Type: 0x8, Flags: 0xff, StreamID: 7}, 0, ""},
		{"unknown type on stream 0", hdr{Type: 0xff}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := frame.ParseHeader(frame.AppendHeader(nil, tt.h), testMaxPayload)
			if tt.rule == "" {
				require.NoError(t, err)
				require.Equal(t, tt.h, got)
				return
			}
			want := &mux.ProtocolError{FrameType: tt.h.Type.String(), StreamID: uint64(tt.h.StreamID), Rule: tt.rule, Code: tt.code}
			require.Equal(t, want, err)
			require.Zero(t, got, "a rejected header is returned zero")
		})
	}
}

func TestParseHeaderShortInput(t *testing.T) {
	valid := frame.AppendHeader(nil, frame.Header{Length: 4, Type: frame.TypeWindow})
	for n := range frame.HeaderLen {
		_, err := frame.ParseHeader(valid[:n], testMaxPayload)
		var pe *mux.ProtocolError
		require.ErrorAs(t, err, &pe, "a %d-byte header", n)
		require.Equal(t, "header", pe.FrameType)
	}
	_, err := frame.ParseHeader(nil, testMaxPayload)
	require.Error(t, err)
}
