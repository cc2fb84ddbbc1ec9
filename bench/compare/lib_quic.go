package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/twinemux/twine/bench/internal/workload"
)

// quicDefaultStreams is quic-go's default MaxIncomingStreams.
const quicDefaultStreams = 100

var quicLib = library{
	name:   "quic-go",
	module: "github.com/quic-go/quic-go",
	settings: "Config{} defaults over UDP loopback, TLS 1.3, self-signed ECDSA P-256 certificate (not verified): " +
		"InitialStreamReceiveWindow 512 KiB, MaxStreamReceiveWindow 6 MiB, InitialConnectionReceiveWindow 768 KiB, " +
		"MaxConnectionReceiveWindow 15 MiB, MaxIncomingStreams 100, MaxIdleTimeout 30 s, no keepalive; " +
		"UDP socket buffers as the OS allows",
	transport: func(streams int) (workload.Transport, string) {
		if streams <= quicDefaultStreams {
			return quicTransport{&quic.Config{}}, ""
		}
		return quicTransport{&quic.Config{MaxIncomingStreams: int64(streams)}},
			fmt.Sprintf("MaxIncomingStreams %d (default %d is below the workload's %d live streams)", streams, quicDefaultStreams, streams)
	},
}

const quicALPN = "twine-bench"

var (
	tlsOnce   sync.Once
	serverTLS *tls.Config
	clientTLS *tls.Config
	tlsErr    error
)

// makeTLS makes a self-signed certificate for 127.0.0.1 and the TLS
// configurations that serve it and accept it.
func makeTLS() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tlsErr = err
		return
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "twine-bench"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tlsErr = err
		return
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tlsErr = err
		return
	}
	serverTLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		NextProtos:   []string{quicALPN},
	}
	// The idle-memory peer is another process with another certificate:
	// the client skips verification (the handshake cost is the same).
	clientTLS = &tls.Config{InsecureSkipVerify: true, NextProtos: []string{quicALPN}}
}

type quicTransport struct{ cfg *quic.Config }

func (quicTransport) Name() string { return "quic-go" }

func (t quicTransport) Listen() (workload.Listener, error) {
	if tlsOnce.Do(makeTLS); tlsErr != nil {
		return nil, tlsErr
	}
	l, err := quic.ListenAddr("127.0.0.1:0", serverTLS, t.cfg)
	if err != nil {
		return nil, err
	}
	return quicListener{l}, nil
}

func (t quicTransport) Dial(addr string) (workload.Session, error) {
	if tlsOnce.Do(makeTLS); tlsErr != nil {
		return nil, tlsErr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := quic.DialAddr(ctx, addr, clientTLS, t.cfg)
	if err != nil {
		return nil, err
	}
	return quicSession{c}, nil
}

type quicListener struct{ l *quic.Listener }

func (l quicListener) Accept() (workload.Session, error) {
	c, err := l.l.Accept(context.Background())
	if err != nil {
		return nil, err
	}
	return quicSession{c}, nil
}

func (l quicListener) Addr() string { return l.l.Addr().String() }
func (l quicListener) Close() error { return l.l.Close() }

type quicSession struct{ c *quic.Conn }

func (s quicSession) Open() (workload.Stream, error) {
	st, err := s.c.OpenStreamSync(context.Background())
	if err != nil {
		return nil, err
	}
	return quicStream{st}, nil
}

func (s quicSession) Accept() (workload.Stream, error) {
	st, err := s.c.AcceptStream(context.Background())
	if err != nil {
		return nil, err
	}
	return quicStream{st}, nil
}

func (s quicSession) Close() error { return s.c.CloseWithError(0, "") }

// quicStream: quic-go's Close closes the send side only (it is
// CloseWrite); closing both directions also cancels reading.
type quicStream struct{ *quic.Stream }

func (s quicStream) CloseWrite() error { return s.Stream.Close() }

func (s quicStream) Close() error {
	s.Stream.CancelRead(0)
	return s.Stream.Close()
}
