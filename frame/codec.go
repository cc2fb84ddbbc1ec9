package frame

import (
	"encoding/binary"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/twinemux/twine/mux"
)

// SettingID identifies one entry of a SETTINGS frame.
type SettingID uint16

// The settings. A receiver ignores ids it does not know.
const (
	// SettingInitialStreamWindow is the receive window, in bytes, that each
	// new stream starts with on the sender's side; at most 1<<31-1.
	SettingInitialStreamWindow SettingID = 0x1
	// SettingMaxFramePayload is the largest frame payload the sender
	// accepts; from 1024 to MaxLength.
	SettingMaxFramePayload SettingID = 0x2
	// SettingInitialStreamCredit is the number of streams the receiver may
	// open before the sender's first STREAMS frame.
	SettingInitialStreamCredit SettingID = 0x3
	// SettingSessionWindow is the sender's session-wide receive window in
	// bytes; at most 1<<31-1.
	SettingSessionWindow SettingID = 0x4
)

// settingLen is the encoded length of one setting: u16 id, u32 value.
const settingLen = 6

// maxWindow is the largest window a setting may announce.
const maxWindow = 1<<31 - 1

// minMaxFramePayload is the smallest value allowed for SettingMaxFramePayload.
const minMaxFramePayload = 1024

// Setting is one entry of a SETTINGS frame.
type Setting struct {
	ID    SettingID
	Value uint32
}

// Frame is one decoded frame; which fields are meaningful depends on Type.
type Frame struct {
	Header
	Data         []byte        // DATA payload, aliasing the input buffer; nil if empty
	Increment    uint32        // WINDOW: the increment; STREAMS: the cumulative stream count
	Code         mux.ErrorCode // RST, STOP, GOAWAY
	LastStreamID uint32        // GOAWAY
	Reason       string        // GOAWAY
	Ping         [8]byte       // PING
	Settings     []Setting     // SETTINGS, in the order received, unknown ids left out
}

// ParsePayload decodes the payload of a frame whose header h passed
// [ParseHeader]; len(payload) must be h.Length. It checks the rules that
// need the payload, each broken one a [mux.CodeProtocol] *[mux.ProtocolError]:
// a WINDOW increment is not zero, a GOAWAY reason is valid UTF-8, a SETTINGS
// window is at most 1<<31-1 and its max frame payload is from 1024 to
// [MaxLength]. Unknown setting ids are left out of Frame.Settings. A frame of
// an unknown type decodes to Frame{Header: h} with no error. Frame.Data
// aliases payload.
//
// ParsePayload checks h's type rules again and that the payload has h.Length
// bytes, so it returns an error, never panics, if h did not come from
// ParseHeader.
func ParsePayload(h Header, payload []byte) (Frame, error) {
	if uint64(len(payload)) != uint64(h.Length) {
		return Frame{}, protocolError(h, mux.CodeFrameSize, "payload is %d bytes, the header says %d", len(payload), h.Length)
	}
	if err := checkHeader(h); err != nil {
		return Frame{}, err
	}
	return parsePayload(h, payload)
}

// Decode decodes one whole frame from the front of b and returns it with the
// number of bytes it took. If b is too short for the header or the payload it
// returns io.ErrUnexpectedEOF and n == 0 (more bytes are needed); any other
// error is a *[mux.ProtocolError] from [ParseHeader] or [ParsePayload], also
// with n == 0. Frame.Data aliases b. A frame of an unknown type decodes to
// Frame{Header: h}, and n covers its payload so that the caller can skip it.
func Decode(b []byte, maxPayload uint32) (f Frame, n int, err error) {
	if len(b) < HeaderLen {
		return Frame{}, 0, io.ErrUnexpectedEOF
	}
	h, err := ParseHeader(b, maxPayload)
	if err != nil {
		return Frame{}, 0, err
	}
	end := HeaderLen + int(h.Length)
	if len(b) < end {
		return Frame{}, 0, io.ErrUnexpectedEOF
	}
	f, err = parsePayload(h, b[HeaderLen:end])
	if err != nil {
		return Frame{}, 0, err
	}
	return f, end, nil
}

// parsePayload decodes a payload whose header passed checkHeader and whose
// length is h.Length.
func parsePayload(h Header, p []byte) (Frame, error) {
	f := Frame{Header: h}
	switch h.Type {
	case TypeData:
		if len(p) > 0 {
			f.Data = p[:len(p):len(p)] // an append by the caller must not overwrite the next frame
		}
	case TypeWindow:
		f.Increment = binary.BigEndian.Uint32(p)
		if f.Increment == 0 {
			return Frame{}, protocolError(h, mux.CodeProtocol, "increment must not be zero")
		}
	case TypeStreams:
		f.Increment = binary.BigEndian.Uint32(p)
	case TypeRST, TypeStop:
		f.Code = mux.ErrorCode(binary.BigEndian.Uint32(p))
	case TypePing:
		f.Ping = [8]byte(p)
	case TypeGoAway:
		reason := p[8:]
		if !utf8.Valid(reason) {
			return Frame{}, protocolError(h, mux.CodeProtocol, "reason is not valid UTF-8")
		}
		f.LastStreamID = binary.BigEndian.Uint32(p)
		f.Code = mux.ErrorCode(binary.BigEndian.Uint32(p[4:]))
		f.Reason = string(reason)
	case TypeSettings:
		settings, err := parseSettings(h, p)
		if err != nil {
			return Frame{}, err
		}
		f.Settings = settings
	}
	return f, nil
}

// parseSettings decodes and checks the entries of a SETTINGS payload,
// leaving out unknown ids. It returns nil if no entry is known.
func parseSettings(h Header, p []byte) ([]Setting, error) {
	var settings []Setting
	for ; len(p) >= settingLen; p = p[settingLen:] {
		s := Setting{ID: SettingID(binary.BigEndian.Uint16(p)), Value: binary.BigEndian.Uint32(p[2:])}
		switch s.ID {
		case SettingInitialStreamWindow, SettingSessionWindow:
			if s.Value > maxWindow {
				return nil, protocolError(h, mux.CodeProtocol, "setting 0x%x: window %d exceeds the limit %d", uint16(s.ID), s.Value, maxWindow)
			}
		case SettingMaxFramePayload:
			if s.Value < minMaxFramePayload || s.Value > MaxLength {
				return nil, protocolError(h, mux.CodeProtocol, "setting 0x%x: max frame payload %d is outside [%d, %d]", uint16(s.ID), s.Value, minMaxFramePayload, MaxLength)
			}
		case SettingInitialStreamCredit:
		default:
			continue
		}
		if settings == nil {
			settings = make([]Setting, 0, len(p)/settingLen)
		}
		settings = append(settings, s)
	}
	return settings, nil
}

// Append appends the encoding of f to dst. The length is computed from the
// content: f.Length is ignored. Type, flags and stream id are written as
// given, without checking them. The GOAWAY reason is cut as by
// [AppendGoAway]; a frame of an unknown type is written with an empty
// payload. Append panics if f.Data is longer than [MaxLength].
func Append(dst []byte, f Frame) []byte {
	h := f.Header
	switch f.Type {
	case TypeData:
		h.Length = uint32(min(len(f.Data), MaxLength+1)) // AppendHeader panics on the excess
		return append(AppendHeader(dst, h), f.Data...)
	case TypeWindow, TypeStreams:
		return appendUint32Frame(dst, h, f.Increment)
	case TypeRST, TypeStop:
		return appendUint32Frame(dst, h, uint32(f.Code))
	case TypePing:
		return appendPing(dst, h, f.Ping)
	case TypeGoAway:
		return appendGoAway(dst, h, f.LastStreamID, f.Code, f.Reason)
	case TypeSettings:
		return appendSettings(dst, h, f.Settings)
	default:
		h.Length = 0
		return AppendHeader(dst, h)
	}
}

// AppendWindow appends a WINDOW frame granting increment more bytes on
// streamID, or on the session if streamID is 0.
func AppendWindow(dst []byte, streamID, increment uint32) []byte {
	return appendUint32Frame(dst, Header{Type: TypeWindow, StreamID: streamID}, increment)
}

// AppendRST appends an RST frame aborting both halves of streamID with code.
func AppendRST(dst []byte, streamID uint32, code mux.ErrorCode) []byte {
	return appendUint32Frame(dst, Header{Type: TypeRST, StreamID: streamID}, uint32(code))
}

// AppendStop appends a STOP frame asking the peer to stop sending on
// streamID, with code.
func AppendStop(dst []byte, streamID uint32, code mux.ErrorCode) []byte {
	return appendUint32Frame(dst, Header{Type: TypeStop, StreamID: streamID}, uint32(code))
}

// AppendPing appends a PING frame carrying data, with the ACK flag if ack.
func AppendPing(dst []byte, ack bool, data [8]byte) []byte {
	h := Header{Type: TypePing}
	if ack {
		h.Flags = FlagACK
	}
	return appendPing(dst, h, data)
}

// AppendGoAway appends a GOAWAY frame. The reason is cut to at most
// [MaxReasonLen] bytes at a UTF-8 character boundary; if it is not valid
// UTF-8, its invalid bytes are first replaced by U+FFFD, so that the peer
// always receives a valid frame.
func AppendGoAway(dst []byte, lastStreamID uint32, code mux.ErrorCode, reason string) []byte {
	return appendGoAway(dst, Header{Type: TypeGoAway}, lastStreamID, code, reason)
}

// AppendSettings appends a SETTINGS frame carrying settings in order.
func AppendSettings(dst []byte, settings []Setting) []byte {
	return appendSettings(dst, Header{Type: TypeSettings}, settings)
}

// AppendStreams appends a STREAMS frame allowing the peer to open count
// streams in all, counted from the start of the session.
func AppendStreams(dst []byte, count uint32) []byte {
	return appendUint32Frame(dst, Header{Type: TypeStreams}, count)
}

// appendUint32Frame appends a frame with header h whose payload is v.
func appendUint32Frame(dst []byte, h Header, v uint32) []byte {
	h.Length = 4
	return binary.BigEndian.AppendUint32(AppendHeader(dst, h), v)
}

func appendPing(dst []byte, h Header, data [8]byte) []byte {
	h.Length = 8
	return append(AppendHeader(dst, h), data[:]...)
}

func appendGoAway(dst []byte, h Header, lastStreamID uint32, code mux.ErrorCode, reason string) []byte {
	reason = cutReason(reason)
	h.Length = uint32(8 + len(reason))
	dst = AppendHeader(dst, h)
	dst = binary.BigEndian.AppendUint32(dst, lastStreamID)
	dst = binary.BigEndian.AppendUint32(dst, uint32(code))
	return append(dst, reason...)
}

func appendSettings(dst []byte, h Header, settings []Setting) []byte {
	h.Length = uint32(min(settingLen*len(settings), MaxLength+1)) // AppendHeader panics on the excess
	dst = AppendHeader(dst, h)
	for _, s := range settings {
		dst = binary.BigEndian.AppendUint16(dst, uint16(s.ID))
		dst = binary.BigEndian.AppendUint32(dst, s.Value)
	}
	return dst
}

// cutReason makes reason valid UTF-8 and cuts it to at most MaxReasonLen
// bytes without splitting a character. It allocates only for invalid UTF-8.
func cutReason(reason string) string {
	if !utf8.ValidString(reason) {
		reason = strings.ToValidUTF8(reason, string(utf8.RuneError))
	}
	if len(reason) <= MaxReasonLen {
		return reason
	}
	end := MaxReasonLen
	for !utf8.RuneStart(reason[end]) {
		end--
	}
	return reason[:end]
}
