// Package frame is twine's wire codec: the connection preface, the 9-byte
// frame header, and the payload of each frame type. It does no I/O.
//
// # Decoding
//
// Decoding is defensive: [ParseHeader] checks a header against every rule
// that can be checked before the payload is read (above all the length, so
// that a receiver never buffers more than its limit), and [ParsePayload]
// checks the rest. Every broken rule is reported as a *[mux.ProtocolError]
// naming the frame type, the stream id and the rule, with the code the
// session must close with. No decoder panics on any input, and DATA payloads
// alias the input buffer instead of being copied.
//
// # Encoding
//
// Encoders append to a caller's buffer: [Append] for any [Frame], and one
// appender per control frame ([AppendWindow], [AppendPing], …) for the hot
// path, which allocates nothing when dst has room. DATA frames are written as
// [AppendHeader] followed by the caller's own bytes, so a vectored write can
// send the payload without copying it.
//
// SPEC.md at the root of the repository is the normative description of the
// wire format implemented here.
package frame

import (
	"encoding/binary"
	"fmt"

	"github.com/twinemux/twine/mux"
)

// Preface is the 8 bytes each side sends first, before its SETTINGS frame.
const Preface = "twine/1\n"

// HeaderLen is the length of a frame header in bytes.
const HeaderLen = 9

// MaxLength is the largest payload length a header can carry (24 bits).
const MaxLength = 1<<24 - 1

// MaxReasonLen is the most bytes of reason a GOAWAY frame may carry.
const MaxReasonLen = 256

// MaxSettings is the most entries a SETTINGS frame may carry.
const MaxSettings = 64

// Type is a frame type, the fourth byte of the header.
type Type uint8

// The frame types.
const (
	TypeData     Type = 0x0 // stream data; OPEN and FIN flags
	TypeWindow   Type = 0x1 // flow-control credit for a stream or the session
	TypeRST      Type = 0x2 // aborts both halves of a stream
	TypeStop     Type = 0x3 // asks the peer to stop sending on a stream
	TypePing     Type = 0x4 // liveness and round-trip probe; ACK flag
	TypeGoAway   Type = 0x5 // the session is closing
	TypeSettings Type = 0x6 // the sender's parameters, sent once
	TypeStreams  Type = 0x7 // cumulative stream-count credit
)

var typeNames = [...]string{
	TypeData:     "DATA",
	TypeWindow:   "WINDOW",
	TypeRST:      "RST",
	TypeStop:     "STOP",
	TypePing:     "PING",
	TypeGoAway:   "GOAWAY",
	TypeSettings: "SETTINGS",
	TypeStreams:  "STREAMS",
}

// String returns the type's name, such as "DATA", or "frame 0x9" for a type
// this package does not know.
func (t Type) String() string {
	if t.Known() {
		return typeNames[t]
	}
	return fmt.Sprintf("frame 0x%x", uint8(t))
}

// Known reports whether t is one of the types defined by this package.
// Frames of other types are to be skipped by the receiver.
func (t Type) Known() bool {
	return int(t) < len(typeNames)
}

// Flags is a frame's flag byte; the meaning of each bit depends on the type.
type Flags uint8

// The flags. Bits not defined for a frame's type must be zero.
const (
	FlagOpen Flags = 0x1 // DATA: the first frame of a new stream
	FlagFIN  Flags = 0x2 // DATA: the last frame of the sender's half
	FlagACK  Flags = 0x1 // PING: an answer echoing the PING's data
)

// Header is a decoded frame header.
type Header struct {
	Length   uint32 // payload length, at most MaxLength
	Type     Type
	Flags    Flags
	StreamID uint32 // 0 for the session
}

// AppendHeader appends the 9-byte big-endian encoding of h to dst:
// length (24 bits), type (8), flags (8), stream id (32). It panics if
// h.Length exceeds [MaxLength], since such a header cannot be encoded
// without corrupting the stream.
func AppendHeader(dst []byte, h Header) []byte {
	if h.Length > MaxLength {
		panic(fmt.Sprintf("frame: length %d exceeds the maximum %d", h.Length, MaxLength))
	}
	dst = append(dst, byte(h.Length>>16), byte(h.Length>>8), byte(h.Length), byte(h.Type), byte(h.Flags))
	return binary.BigEndian.AppendUint32(dst, h.StreamID)
}

// ParseHeader decodes the header in b[:HeaderLen] and checks every rule that
// can be checked before the payload is read. First, for every type, known or
// not, a length above maxPayload is a [mux.CodeFrameSize] error. Then, for
// the known types:
//
//	type      stream id   flags      length
//	DATA      != 0        OPEN|FIN   any
//	WINDOW    any         none       4
//	RST       != 0        none       4
//	STOP      != 0        none       4
//	PING      0           ACK        8
//	GOAWAY    0           none       8 to 8+MaxReasonLen
//	SETTINGS  0           none       a multiple of 6, at most 6*MaxSettings
//	STREAMS   0           none       4
//
// A wrong length is a [mux.CodeFrameSize] error; an unknown flag bit or a
// wrong stream id is a [mux.CodeProtocol] error. Frames of unknown types
// pass with only the length check, to be skipped by the caller. Every error
// is a *[mux.ProtocolError]; a b shorter than [HeaderLen] is one too.
func ParseHeader(b []byte, maxPayload uint32) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, &mux.ProtocolError{
			FrameType: "header",
			Rule:      fmt.Sprintf("header is %d bytes, needs %d", len(b), HeaderLen),
			Code:      mux.CodeFrameSize,
		}
	}
	h := Header{
		Length:   uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]),
		Type:     Type(b[3]),
		Flags:    Flags(b[4]),
		StreamID: binary.BigEndian.Uint32(b[5:9]),
	}
	if h.Length > maxPayload {
		return Header{}, protocolError(h, mux.CodeFrameSize, "length %d exceeds the limit %d", h.Length, maxPayload)
	}
	if err := checkHeader(h); err != nil {
		return Header{}, err
	}
	return h, nil
}

// streamRule says which stream ids a frame type may be sent on.
type streamRule uint8

const (
	anyStream   streamRule = iota // 0 for the session, or a stream
	needsStream                   // a stream, never 0
	onSession                     // 0 only
)

// headerRule is what a header of one known type must satisfy.
type headerRule struct {
	stream         streamRule
	flags          Flags  // the flag bits defined for the type
	minLen, maxLen uint32 // payload length bounds, inclusive
	unit           uint32 // if not 0, the length is a multiple of it
}

var headerRules = [...]headerRule{
	TypeData:     {stream: needsStream, flags: FlagOpen | FlagFIN, maxLen: MaxLength},
	TypeWindow:   {stream: anyStream, minLen: 4, maxLen: 4},
	TypeRST:      {stream: needsStream, minLen: 4, maxLen: 4},
	TypeStop:     {stream: needsStream, minLen: 4, maxLen: 4},
	TypePing:     {stream: onSession, flags: FlagACK, minLen: 8, maxLen: 8},
	TypeGoAway:   {stream: onSession, minLen: 8, maxLen: 8 + MaxReasonLen},
	TypeSettings: {stream: onSession, maxLen: settingLen * MaxSettings, unit: settingLen},
	TypeStreams:  {stream: onSession, minLen: 4, maxLen: 4},
}

// checkHeader checks h against the rules of its type, all but the receiver's
// length limit. Headers of unknown types always pass.
func checkHeader(h Header) error {
	if !h.Type.Known() {
		return nil
	}
	r := headerRules[h.Type]
	switch {
	case r.stream == needsStream && h.StreamID == 0:
		return protocolError(h, mux.CodeProtocol, "needs a stream id")
	case r.stream == onSession && h.StreamID != 0:
		return protocolError(h, mux.CodeProtocol, "must be on stream 0")
	}
	if unknown := h.Flags &^ r.flags; unknown != 0 {
		return protocolError(h, mux.CodeProtocol, "unknown flags 0x%x", uint8(unknown))
	}
	switch {
	case r.minLen == r.maxLen && h.Length != r.minLen:
		return protocolError(h, mux.CodeFrameSize, "length %d, must be %d", h.Length, r.minLen)
	case h.Length < r.minLen:
		return protocolError(h, mux.CodeFrameSize, "length %d is below the minimum %d", h.Length, r.minLen)
	case h.Length > r.maxLen:
		return protocolError(h, mux.CodeFrameSize, "length %d exceeds the limit %d", h.Length, r.maxLen)
	case r.unit != 0 && h.Length%r.unit != 0:
		return protocolError(h, mux.CodeFrameSize, "length %d is not a multiple of %d", h.Length, r.unit)
	}
	return nil
}

// protocolError returns a *mux.ProtocolError for a frame with header h.
func protocolError(h Header, code mux.ErrorCode, format string, args ...any) error {
	return &mux.ProtocolError{
		FrameType: h.Type.String(),
		StreamID:  uint64(h.StreamID),
		Rule:      fmt.Sprintf(format, args...),
		Code:      code,
	}
}
