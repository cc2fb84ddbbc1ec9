package frame_test

import (
	"encoding/binary"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/frame"
	"github.com/twinemux/twine/mux"
)

// validFrames holds a frame of every type, and variants, as Decode returns
// them (with Length set).
func validFrames() map[string]frame.Frame {
	hdr := func(typ frame.Type, flags frame.Flags, streamID, length uint32) frame.Header {
		return frame.Header{Length: length, Type: typ, Flags: flags, StreamID: streamID}
	}
	return map[string]frame.Frame{
		"DATA":          {Header: hdr(frame.TypeData, 0, 1, 5), Data: []byte("hello")},
		"DATA OPEN":     {Header: hdr(frame.TypeData, frame.FlagOpen, 3, 0)},
		"DATA FIN":      {Header: hdr(frame.TypeData, frame.FlagFIN, 2, 3), Data: []byte("end")},
		"DATA OPEN|FIN": {Header: hdr(frame.TypeData, frame.FlagOpen|frame.FlagFIN, 0xffffffff, 1), Data: []byte{0}},
		"WINDOW session": {
			Header: hdr(frame.TypeWindow, 0, 0, 4), Increment: 1 << 20,
		},
		"WINDOW stream": {Header: hdr(frame.TypeWindow, 0, 7, 4), Increment: 0xffffffff},
		"RST":           {Header: hdr(frame.TypeRST, 0, 5, 4), Code: mux.CodeFlowControl},
		"STOP":          {Header: hdr(frame.TypeStop, 0, 6, 4), Code: 0x1234},
		"PING":          {Header: hdr(frame.TypePing, 0, 0, 8), Ping: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}},
		"PING ACK":      {Header: hdr(frame.TypePing, frame.FlagACK, 0, 8), Ping: [8]byte{8, 7, 6, 5, 4, 3, 2, 1}},
		"GOAWAY":        {Header: hdr(frame.TypeGoAway, 0, 0, 8), LastStreamID: 41, Code: mux.CodeNoError},
		"GOAWAY reason": {
			Header: hdr(frame.TypeGoAway, 0, 0, uint32(8+len("dépassé"))), LastStreamID: 1 << 31, Code: mux.CodeProtocol, Reason: "dépassé",
		},
		"SETTINGS empty": {Header: hdr(frame.TypeSettings, 0, 0, 0)},
		"SETTINGS": {
			Header: hdr(frame.TypeSettings, 0, 0, 24),
			Settings: []frame.Setting{
				{ID: frame.SettingInitialStreamWindow, Value: 262144},
				{ID: frame.SettingMaxFramePayload, Value: 32768},
				{ID: frame.SettingInitialStreamCredit, Value: 256},
				{ID: frame.SettingSessionWindow, Value: 33554432},
			},
		},
		"SETTINGS limits": {
			Header: hdr(frame.TypeSettings, 0, 0, 30),
			Settings: []frame.Setting{
				{ID: frame.SettingInitialStreamWindow, Value: 1<<31 - 1},
				{ID: frame.SettingSessionWindow, Value: 0},
				{ID: frame.SettingMaxFramePayload, Value: 1024},
				{ID: frame.SettingMaxFramePayload, Value: frame.MaxLength},
				{ID: frame.SettingInitialStreamCredit, Value: 0xffffffff},
			},
		},
		"STREAMS":      {Header: hdr(frame.TypeStreams, 0, 0, 4), Increment: 256},
		"STREAMS zero": {Header: hdr(frame.TypeStreams, 0, 0, 4)},
	}
}

func TestAppendDecodeRoundTrip(t *testing.T) {
	for name, want := range validFrames() {
		t.Run(name, func(t *testing.T) {
			in := want
			in.Length = 12345 // ignored by Append
			enc := frame.Append([]byte("prefix"), in)
			require.Equal(t, "prefix", string(enc[:6]), "Append appends")
			enc = enc[6:]
			require.Len(t, enc, frame.HeaderLen+int(want.Length))

			got, n, err := frame.Decode(enc, testMaxPayload)
			require.NoError(t, err)
			require.Equal(t, len(enc), n)
			require.Equal(t, want, got)

			// Trailing bytes belong to the next frame.
			got, n, err = frame.Decode(append(enc, 0xff, 0xff), testMaxPayload)
			require.NoError(t, err)
			require.Equal(t, len(enc), n)
			require.Equal(t, want, got)

			// ParsePayload agrees with Decode.
			h, err := frame.ParseHeader(enc, testMaxPayload)
			require.NoError(t, err)
			got, err = frame.ParsePayload(h, enc[frame.HeaderLen:])
			require.NoError(t, err)
			require.Equal(t, want, got)
		})
	}
}

func TestAppenders(t *testing.T) {
	frames := validFrames()
	tests := []struct {
		name string
		got  []byte
	}{
		{"WINDOW session", frame.AppendWindow(nil, 0, 1<<20)},
		{"WINDOW stream", frame.AppendWindow(nil, 7, 0xffffffff)},
		{"RST", frame.AppendRST(nil, 5, mux.CodeFlowControl)},
		{"STOP", frame.AppendStop(nil, 6, 0x1234)},
		{"PING", frame.AppendPing(nil, false, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})},
		{"PING ACK", frame.AppendPing(nil, true, [8]byte{8, 7, 6, 5, 4, 3, 2, 1})},
		{"GOAWAY", frame.AppendGoAway(nil, 41, mux.CodeNoError, "")},
		{"GOAWAY reason", frame.AppendGoAway(nil, 1<<31, mux.CodeProtocol, "dépassé")},
		{"SETTINGS empty", frame.AppendSettings(nil, nil)},
		{"SETTINGS", frame.AppendSettings(nil, frames["SETTINGS"].Settings)},
		{"SETTINGS limits", frame.AppendSettings(nil, frames["SETTINGS limits"].Settings)},
		{"STREAMS", frame.AppendStreams(nil, 256)},
		{"STREAMS zero", frame.AppendStreams(nil, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := frames[tt.name]
			require.Equal(t, frame.Append(nil, want), tt.got, "the appender encodes as Append does")
			got, n, err := frame.Decode(tt.got, testMaxPayload)
			require.NoError(t, err)
			require.Equal(t, len(tt.got), n)
			require.Equal(t, want, got)
		})
	}
}

func TestEncodingBytes(t *testing.T) {
	require.Equal(t,
		[]byte{0, 0, 4, 0x1, 0, 0, 0, 0, 7, 0, 1, 0, 0},
		frame.AppendWindow(nil, 7, 1<<16))
	require.Equal(t,
		[]byte{0, 0, 11, 0x5, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 1, 'b', 'y', 'e'},
		frame.AppendGoAway(nil, 9, mux.CodeProtocol, "bye"))
	require.Equal(t,
		[]byte{0, 0, 6, 0x6, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0x80, 0},
		frame.AppendSettings(nil, []frame.Setting{{ID: frame.SettingMaxFramePayload, Value: 32768}}))
	require.Equal(t,
		[]byte{0, 0, 2, 0x0, 0x3, 0, 0, 0, 1, 'h', 'i'},
		frame.Append(nil, frame.Frame{Header: frame.Header{Type: frame.TypeData, Flags: frame.FlagOpen | frame.FlagFIN, StreamID: 1}, Data: []byte("hi")}))
}

func TestDecodeTruncated(t *testing.T) {
	for name, f := range validFrames() {
		enc := frame.Append(nil, f)
		for i := range len(enc) {
			got, n, err := frame.Decode(enc[:i], testMaxPayload)
			require.ErrorIs(t, err, io.ErrUnexpectedEOF, "%s cut to %d bytes", name, i)
			require.Zero(t, n)
			require.Zero(t, got)
		}
	}
}

func TestDecodeChecksHeaderBeforePayload(t *testing.T) {
	// A 1 MiB DATA header is refused at once, without waiting for its payload.
	h := frame.AppendHeader(nil, frame.Header{Length: 1 << 20, Type: frame.TypeData, StreamID: 1})
	_, n, err := frame.Decode(h, testMaxPayload)
	var pe *mux.ProtocolError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, mux.CodeFrameSize, pe.Code)
	require.Zero(t, n)
}

func TestDecodeSkipsUnknownTypes(t *testing.T) {
	h := frame.Header{Length: 3, Type: 0x42, Flags: 0xff, StreamID: 9}
	enc := append(frame.AppendHeader(nil, h), 1, 2, 3, 0xee)
	got, n, err := frame.Decode(enc, testMaxPayload)
	require.NoError(t, err)
	require.Equal(t, frame.HeaderLen+3, n, "n covers the payload, so that the caller can skip it")
	require.Equal(t, frame.Frame{Header: h}, got)

	h.Length = 0
	require.Equal(t, frame.AppendHeader(nil, h), frame.Append(nil, got), "Append writes an unknown type with an empty payload")
}

func TestDecodeDataAliasesInput(t *testing.T) {
	enc := frame.Append(nil, frame.Frame{Header: frame.Header{Type: frame.TypeData, StreamID: 1}, Data: []byte("abcd")})
	enc = append(enc, frame.AppendWindow(nil, 1, 4)...)
	f, n, err := frame.Decode(enc, testMaxPayload)
	require.NoError(t, err)
	require.Same(t, &enc[frame.HeaderLen], &f.Data[0], "DATA is not copied")
	require.Equal(t, len(f.Data), cap(f.Data), "appending to Data must not overwrite the next frame")

	next, _, err := frame.Decode(enc[n:], testMaxPayload)
	require.NoError(t, err)
	require.Equal(t, uint32(4), next.Increment)
}

func TestNoAllocations(t *testing.T) {
	dataFrame := frame.Append(nil, frame.Frame{Header: frame.Header{Type: frame.TypeData, StreamID: 1}, Data: make([]byte, 4096)})
	controls := [][]byte{
		frame.AppendWindow(nil, 1, 1),
		frame.AppendRST(nil, 1, 1),
		frame.AppendPing(nil, true, [8]byte{}),
		frame.AppendGoAway(nil, 1, 0, ""),
		frame.AppendStreams(nil, 1),
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := frame.Decode(dataFrame, testMaxPayload); err != nil {
			t.Fatal(err)
		}
		for _, c := range controls {
			if _, _, err := frame.Decode(c, testMaxPayload); err != nil {
				t.Fatal(err)
			}
		}
	})
	require.Zero(t, allocs, "decoding DATA and fixed-size control frames")

	buf := make([]byte, 0, 1024)
	settings := []frame.Setting{{ID: frame.SettingInitialStreamWindow, Value: 1 << 20}}
	allocs = testing.AllocsPerRun(100, func() {
		b := frame.AppendWindow(buf, 1, 1)
		b = frame.AppendRST(b, 1, 1)
		b = frame.AppendStop(b, 1, 1)
		b = frame.AppendPing(b, false, [8]byte{})
		b = frame.AppendGoAway(b, 1, 0, "shutting down")
		b = frame.AppendSettings(b, settings)
		b = frame.AppendStreams(b, 1)
		frame.AppendHeader(b, frame.Header{Length: 10, Type: frame.TypeData, StreamID: 1})
	})
	require.Zero(t, allocs, "appending into a buffer with room")
}

func TestAppendGoAwayReason(t *testing.T) {
	long := strings.Repeat("a", frame.MaxReasonLen)
	tests := []struct {
		name, reason, want string
	}{
		{"short", "bye", "bye"},
		{"exactly the limit", long, long},
		{"over the limit", long + "bcd", long},
		{"cut before a split character", long[1:] + "é", long[1:]},
		{"multi-byte character at the end", long[2:] + "é", long[2:] + "é"},
		{"four-byte character split", long[2:] + "😀", long[2:]},
		{"invalid UTF-8 replaced", "a\xffb", "a\uFFFDb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := frame.AppendGoAway(nil, 3, mux.CodeInternal, tt.reason)
			f, _, err := frame.Decode(enc, testMaxPayload)
			require.NoError(t, err)
			require.Equal(t, tt.want, f.Reason)
			require.True(t, utf8.ValidString(f.Reason))
			require.LessOrEqual(t, len(f.Reason), frame.MaxReasonLen)
		})
	}
}

func TestAppendPanicsOnOverlongData(t *testing.T) {
	f := frame.Frame{Header: frame.Header{Type: frame.TypeData, StreamID: 1}, Data: make([]byte, frame.MaxLength+1)}
	require.Panics(t, func() { frame.Append(nil, f) })
}

func TestParsePayload(t *testing.T) {
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	setting := func(id frame.SettingID, v uint32) []byte {
		return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, uint16(id)), v)
	}
	concat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	header := func(typ frame.Type, streamID uint32, payload []byte) frame.Header {
		return frame.Header{Length: uint32(len(payload)), Type: typ, StreamID: streamID}
	}
	goAway := func(reason string) []byte { return concat(u32(1), u32(0), []byte(reason)) }
	const (
		initWin = frame.SettingInitialStreamWindow
		maxPay  = frame.SettingMaxFramePayload
		credit  = frame.SettingInitialStreamCredit
		sessWin = frame.SettingSessionWindow
	)

	tests := []struct {
		name    string
		typ     frame.Type
		payload []byte
		want    frame.Frame // compared without its Header; ignored if rule is set
		code    mux.ErrorCode
		rule    string
	}{
		{name: "WINDOW increment 1", typ: frame.TypeWindow, payload: u32(1), want: frame.Frame{Increment: 1}},
		{name: "WINDOW increment 0", typ: frame.TypeWindow, payload: u32(0), code: mux.CodeProtocol, rule: "increment must not be zero"},
		{name: "GOAWAY UTF-8 reason", typ: frame.TypeGoAway, payload: goAway("日本"), want: frame.Frame{LastStreamID: 1, Reason: "日本"}},
		{name: "GOAWAY invalid reason", typ: frame.TypeGoAway, payload: goAway("ok\xc3"), code: mux.CodeProtocol, rule: "reason is not valid UTF-8"},
		{
			name: "SETTINGS windows at the limit", typ: frame.TypeSettings,
			payload: concat(setting(initWin, 1<<31-1), setting(sessWin, 1<<31-1)),
			want:    frame.Frame{Settings: []frame.Setting{{ID: initWin, Value: 1<<31 - 1}, {ID: sessWin, Value: 1<<31 - 1}}},
		},
		{
			name: "SETTINGS initial stream window too big", typ: frame.TypeSettings, payload: setting(initWin, 1<<31),
			code: mux.CodeProtocol, rule: "setting 0x1: window 2147483648 exceeds the limit 2147483647",
		},
		{
			name: "SETTINGS session window too big", typ: frame.TypeSettings, payload: concat(setting(credit, 1), setting(sessWin, 0xffffffff)),
			code: mux.CodeProtocol, rule: "setting 0x4: window 4294967295 exceeds the limit 2147483647",
		},
		{
			name: "SETTINGS max frame payload bounds", typ: frame.TypeSettings,
			payload: concat(setting(maxPay, 1024), setting(maxPay, frame.MaxLength)),
			want:    frame.Frame{Settings: []frame.Setting{{ID: maxPay, Value: 1024}, {ID: maxPay, Value: frame.MaxLength}}},
		},
		{
			name: "SETTINGS max frame payload too small", typ: frame.TypeSettings, payload: setting(maxPay, 1023),
			code: mux.CodeProtocol, rule: "setting 0x2: max frame payload 1023 is outside [1024, 16777215]",
		},
		{
			name: "SETTINGS max frame payload too big", typ: frame.TypeSettings, payload: setting(maxPay, frame.MaxLength+1),
			code: mux.CodeProtocol, rule: "setting 0x2: max frame payload 16777216 is outside [1024, 16777215]",
		},
		{
			name: "SETTINGS any stream credit", typ: frame.TypeSettings, payload: concat(setting(credit, 0), setting(credit, 0xffffffff)),
			want: frame.Frame{Settings: []frame.Setting{{ID: credit, Value: 0}, {ID: credit, Value: 0xffffffff}}},
		},
		{
			name: "SETTINGS unknown ids skipped", typ: frame.TypeSettings,
			payload: concat(setting(0, 1), setting(credit, 7), setting(0x5, 0xffffffff), setting(0xffff, 0)),
			want:    frame.Frame{Settings: []frame.Setting{{ID: credit, Value: 7}}},
		},
		{name: "SETTINGS only unknown ids", typ: frame.TypeSettings, payload: setting(0x99, 1), want: frame.Frame{}},
		{name: "unknown type", typ: 0x8, payload: []byte("whatever"), want: frame.Frame{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := header(tt.typ, 0, tt.payload)
			_, err := frame.ParseHeader(frame.AppendHeader(nil, h), frame.MaxLength)
			require.NoError(t, err, "the header is valid")

			got, err := frame.ParsePayload(h, tt.payload)
			if tt.rule != "" {
				require.Equal(t, &mux.ProtocolError{FrameType: tt.typ.String(), Rule: tt.rule, Code: tt.code}, err)
				require.Zero(t, got)
				return
			}
			require.NoError(t, err)
			want := tt.want
			want.Header = h
			require.Equal(t, want, got)
		})
	}
}

func TestParsePayloadBadInput(t *testing.T) {
	// ParsePayload returns errors, never panics, for headers that did not
	// pass ParseHeader or payloads that do not match them.
	tests := []struct {
		name    string
		h       frame.Header
		payload []byte
		code    mux.ErrorCode
		rule    string
	}{
		{"payload shorter than the header says", frame.Header{Length: 8, Type: frame.TypePing}, make([]byte, 4), mux.CodeFrameSize, "payload is 4 bytes, the header says 8"},
		{"payload longer than the header says", frame.Header{Length: 4, Type: frame.TypeWindow}, make([]byte, 5), mux.CodeFrameSize, "payload is 5 bytes, the header says 4"},
		{"unknown type, wrong length", frame.Header{Length: 1, Type: 0x10}, nil, mux.CodeFrameSize, "payload is 0 bytes, the header says 1"},
		{"PING too short", frame.Header{Length: 3, Type: frame.TypePing}, make([]byte, 3), mux.CodeFrameSize, "length 3, must be 8"},
		{"GOAWAY too short", frame.Header{Length: 2, Type: frame.TypeGoAway}, make([]byte, 2), mux.CodeFrameSize, "length 2 is below the minimum 8"},
		{"DATA on stream 0", frame.Header{Length: 1, Type: frame.TypeData}, make([]byte, 1), mux.CodeProtocol, "needs a stream id"},
		{"DATA longer than MaxLength", frame.Header{Length: frame.MaxLength + 1, Type: frame.TypeData, StreamID: 1}, make([]byte, frame.MaxLength+1), mux.CodeFrameSize, "length 16777216 exceeds the limit 16777215"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := frame.ParsePayload(tt.h, tt.payload)
			want := &mux.ProtocolError{FrameType: tt.h.Type.String(), StreamID: uint64(tt.h.StreamID), Rule: tt.rule, Code: tt.code}
			require.Equal(t, want, err)
			require.Zero(t, got)
		})
	}
}
