package libp2ptwine_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	libp2ptwine "github.com/twinemux/twine/adapters/libp2p"
)

// Two go-libp2p hosts on loopback TCP with twine as their only stream
// multiplexer: one sends a request on a stream and half-closes it, the
// other reads it to the end and answers.
func Example() {
	ctx := context.Background()
	newHost := func(listen ...string) host.Host {
		h, err := libp2p.New(
			libp2p.Muxer(libp2ptwine.ID, libp2ptwine.DefaultTransport),
			libp2p.Transport(tcp.NewTCPTransport),
			libp2p.ListenAddrStrings(listen...),
		)
		if err != nil {
			log.Fatal(err)
		}
		return h
	}
	server := newHost("/ip4/127.0.0.1/tcp/0")
	defer server.Close()
	client := newHost() // no listen address: it only dials
	defer client.Close()

	server.SetStreamHandler("/shout/1.0.0", func(s network.Stream) {
		defer s.Close()
		req, err := io.ReadAll(s) // until the client's CloseWrite
		if err != nil {
			s.Reset()
			return
		}
		s.Write(bytes.ToUpper(req))
	})

	if err := client.Connect(ctx, peer.AddrInfo{ID: server.ID(), Addrs: server.Addrs()}); err != nil {
		log.Fatal(err)
	}
	s, err := client.NewStream(ctx, server.ID(), "/shout/1.0.0")
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Write([]byte("hello over twine")); err != nil {
		log.Fatal(err)
	}
	if err := s.CloseWrite(); err != nil { // FIN: the server's ReadAll returns
		log.Fatal(err)
	}
	reply, err := io.ReadAll(s) // until the server's Close
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("muxer:", s.Conn().ConnState().StreamMultiplexer)
	fmt.Println("reply:", string(reply))
	// Output:
	// muxer: /twine/1.0.0
	// reply: HELLO OVER TWINE
}
