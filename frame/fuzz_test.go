package frame_test

import (
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/twinemux/twine/frame"
	"github.com/twinemux/twine/mux"
)

// fuzzMaxPayload is the receiver's limit in FuzzDecode.
const fuzzMaxPayload = 1 << 16

func FuzzDecode(f *testing.F) {
	for _, fr := range validFrames() {
		f.Add(frame.Append(nil, fr))
	}
	malformed := [][]byte{
		nil,
		[]byte(frame.Preface),
		frame.AppendHeader(nil, frame.Header{Length: fuzzMaxPayload + 1, Type: frame.TypeData, StreamID: 1}),
		frame.AppendHeader(nil, frame.Header{Length: 0, Type: frame.TypeData, Flags: 0x4, StreamID: 1}),
		frame.AppendHeader(nil, frame.Header{Length: 0, Type: frame.TypeData}),
		append(frame.AppendHeader(nil, frame.Header{Length: 4, Type: frame.TypeWindow, StreamID: 1}), 0, 0, 0, 0),
		append(frame.AppendHeader(nil, frame.Header{Length: 4, Type: 0x9, Flags: 0x3, StreamID: 5}), "junk"...),
		append(frame.AppendHeader(nil, frame.Header{Length: 12, Type: frame.TypeSettings}), 0, 0x9, 0, 0, 0, 1, 0, 0x3, 0, 0, 1, 0),
		append(frame.AppendHeader(nil, frame.Header{Length: 6, Type: frame.TypeSettings}), 0, 0x2, 0, 0, 0, 1),
		append(frame.AppendHeader(nil, frame.Header{Length: 9, Type: frame.TypeGoAway}), 0, 0, 0, 1, 0, 0, 0, 0, 0xff),
		frame.AppendPing(nil, false, [8]byte{})[:12],
	}
	for _, b := range malformed {
		f.Add(b)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		fr, n, err := frame.Decode(data, fuzzMaxPayload)
		if err != nil {
			require.Zero(t, n)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				var pe *mux.ProtocolError
				require.ErrorAs(t, err, &pe, "a decoding error is io.ErrUnexpectedEOF or a protocol error")
				require.Contains(t, []mux.ErrorCode{mux.CodeProtocol, mux.CodeFrameSize}, pe.Code)
			}
			return
		}
		require.Equal(t, frame.HeaderLen+int(fr.Length), n)
		if len(fr.Data) > 0 {
			require.Same(t, &data[frame.HeaderLen], &fr.Data[0], "DATA aliases the input")
		}

		enc := frame.Append(nil, fr)
		again, m, err := frame.Decode(enc, fuzzMaxPayload)
		require.NoError(t, err, "a decoded frame re-encodes to a valid one")
		require.Equal(t, len(enc), m)

		// Decoding drops the payload of unknown types and the entries of
		// SETTINGS with unknown ids; all else is kept, so that everything
		// else re-encodes to the very bytes decoded.
		lossy := !fr.Type.Known() || fr.Type == frame.TypeSettings && 6*len(fr.Settings) != int(fr.Length)
		if !lossy {
			require.Equal(t, data[:n], enc)
			require.Equal(t, fr, again)
			return
		}
		want := fr
		want.Length = again.Length
		require.Equal(t, want, again, "the re-encoded frame decodes to the same values")
	})
}
