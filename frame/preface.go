package frame

import (
	"bytes"
	"fmt"

	"github.com/twinemux/twine/mux"
)

// http1Methods are the request methods that identify an HTTP/1 client.
var http1Methods = []string{"GET ", "POST ", "PUT ", "HEAD ", "DELETE ", "OPTIONS ", "CONNECT ", "PATCH "}

// CheckPreface reports whether b, the first len(Preface) bytes received, is
// the [Preface]. If it is not, CheckPreface returns a *[mux.ProtocolError]
// with FrameType "preface" and code [mux.CodeProtocol], whose rule quotes
// what was received and names what it looks like, so that a peer speaking
// another protocol gets an understandable error, for example:
//
//	expected "twine/1\n", received "GET / HT" (an HTTP/1 request)
//
// It recognises HTTP/1 requests, the HTTP/2 preface, a TLS handshake, yamux
// and smux frame headers, and other twine versions.
func CheckPreface(b []byte) error {
	if string(b) == Preface {
		return nil
	}
	rule := fmt.Sprintf("expected %q, received %q", Preface, b)
	if kind := prefaceKind(b); kind != "" {
		rule += " (" + kind + ")"
	}
	return &mux.ProtocolError{FrameType: "preface", Rule: rule, Code: mux.CodeProtocol}
}

// prefaceKind names the protocol that b, the first bytes sent by a peer,
// looks like, or returns "" if it does not look like any known one.
func prefaceKind(b []byte) string {
	if bytes.HasPrefix(b, []byte("twine/")) {
		return "another twine protocol version"
	}
	if bytes.HasPrefix(b, []byte("PRI * HT")) {
		return "the HTTP/2 preface"
	}
	for _, m := range http1Methods {
		if bytes.HasPrefix(b, []byte(m)) {
			return "an HTTP/1 request"
		}
	}
	if len(b) < 2 {
		return ""
	}
	switch {
	case b[0] == 0x16 && b[1] == 0x03:
		return "a TLS handshake"
	case b[0] == 0 && b[1] <= 3:
		return "a yamux header"
	case (b[0] == 1 || b[0] == 2) && b[1] <= 3:
		return "an smux header"
	}
	return ""
}
