package twine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/twinemux/twine"
	"github.com/twinemux/twine/internal/testcert"
	"github.com/twinemux/twine/mux"
	twinequic "github.com/twinemux/twine/transport/quic"
	"github.com/twinemux/twine/transport/tcp"
)

// An echo server and its client over TCP: a session on each connection, a
// stream for each request.
func Example_echo() {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()

	// The server: one session per connection, one goroutine per stream.
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		sess, err := twine.Server(conn, nil) // nil Config: the defaults
		if err != nil {
			return
		}
		defer sess.Close()
		for {
			st, err := sess.AcceptStream(ctx)
			if err != nil {
				return // the session ended
			}
			go func() {
				defer st.Close()
				io.Copy(st, st) // echo until the client's FIN
			}()
		}
	}()

	// The client: many streams on one connection.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	sess, err := twine.Client(conn, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer sess.Close()
	for _, msg := range []string{"hello", "twine"} {
		st, err := sess.OpenStream(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if _, err := io.WriteString(st, msg); err != nil {
			log.Fatal(err)
		}
		reply := make([]byte, len(msg))
		if _, err := io.ReadFull(st, reply); err != nil {
			log.Fatal(err)
		}
		st.Close()
		fmt.Printf("stream %d: %s\n", st.(*twine.Stream).StreamID(), reply)
	}
	// Output:
	// stream 1: hello
	// stream 3: twine
}

// A request and its response on one stream, each ended by its sender's
// CloseWrite: the reader sees io.EOF after the last byte, while the other
// direction stays open.
func ExampleStream_CloseWrite() {
	ctx := context.Background()
	c1, c2 := net.Pipe() // any net.Conn pair: TCP, TLS, a unix socket
	server, err := twine.Server(c1, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	client, err := twine.Client(c2, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	go func() {
		st, err := server.AcceptStream(ctx)
		if err != nil {
			return
		}
		defer st.Close()
		req, err := io.ReadAll(st) // up to the client's FIN
		if err != nil {
			st.Reset() // the client sees a *mux.StreamError, not a short reply
			return
		}
		fmt.Fprintf(st, "%d words", len(strings.Fields(string(req))))
		st.CloseWrite() // FIN: the response is complete
	}()

	st, err := client.OpenStream(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	io.WriteString(st, "a request of unknown length, ")
	io.WriteString(st, "sent in pieces")
	st.CloseWrite() // FIN: the request is complete; st can still read

	resp, err := io.ReadAll(st) // io.EOF only after the server's CloseWrite
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(resp))
	// Output:
	// 8 words
}

// Serving HTTP over a session: a Session is a net.Listener of the peer's
// streams, and the client's http.Transport dials by opening a stream, so
// every HTTP connection is a stream of one TCP connection.
func ExampleSession_Accept() {
	c1, c2 := net.Pipe()
	server, err := twine.Server(c1, nil)
	if err != nil {
		log.Fatal(err)
	}
	client, err := twine.Client(c2, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	served := make(chan error, 1)
	go func() {
		served <- http.Serve(server, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello from %s", r.URL.Path)
		}))
	}()

	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return client.OpenStream(ctx) // a mux.Stream is a net.Conn
		},
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	for _, path := range []string{"/a", "/b"} {
		resp, err := hc.Get("http://twine" + path) // the host name is not used
		if err != nil {
			log.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(resp.Status, string(body))
	}

	server.Close() // http.Serve returns: its listener is closed
	fmt.Println("served:", errors.Is(<-served, net.ErrClosed))
	// Output:
	// 200 OK hello from /a
	// 200 OK hello from /b
	// served: true
}

// The same application code over TCP and over QUIC: it is written against
// mux.Session and mux.Stream, and only the set-up differs.
func Example_transports() {
	ctx := context.Background()

	// serve and ask are the application; they do not know the transport.
	serve := func(sess mux.Session) {
		defer sess.Close()
		st, err := sess.AcceptStream(ctx)
		if err != nil {
			return
		}
		defer st.Close()
		name, _ := io.ReadAll(st)
		fmt.Fprintf(st, "hello, %s", name)
		st.CloseWrite()
		// Let the client hang up first: closing a QUIC session does not
		// flush what is still in flight.
		<-sess.Done()
	}
	ask := func(sess mux.Session, name string) string {
		st, err := sess.OpenStream(ctx)
		if err != nil {
			log.Fatal(err)
		}
		defer st.Close()
		io.WriteString(st, name)
		st.CloseWrite()
		reply, err := io.ReadAll(st)
		if err != nil {
			log.Fatal(err)
		}
		return string(reply)
	}

	// TCP: twine's own framing.
	tl, err := tcp.Listen("127.0.0.1:0", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer tl.Close()
	go func() {
		if sess, err := tl.Accept(ctx); err == nil {
			serve(sess)
		}
	}()
	tc, err := tcp.Dial(ctx, tl.Addr().String(), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("tcp: ", ask(tc, "tcp"))
	tc.Close()

	// QUIC: QUIC's native streams, with TLS. testcert makes a self-signed
	// certificate for 127.0.0.1; use your own.
	serverTLS, clientTLS, err := testcert.Configs()
	if err != nil {
		log.Fatal(err)
	}
	ql, err := twinequic.Listen("127.0.0.1:0", serverTLS, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ql.Close()
	go func() {
		if sess, err := ql.Accept(ctx); err == nil {
			serve(sess)
		}
	}()
	qc, err := twinequic.Dial(ctx, ql.Addr().String(), clientTLS, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("quic:", ask(qc, "quic"))
	qc.Close()
	// Output:
	// tcp:  hello, tcp
	// quic: hello, quic
}

// Code written for hashicorp/yamux, ported: the comments name the yamux
// call each line replaces. README.md's migration guide has the full table,
// for go-yamux and smux too.
func Example_migratingFromYamux() {
	c1, c2 := net.Pipe()
	go func() {
		// yamux.Server(conn, nil)
		sess, err := twine.Server(c1, nil)
		if err != nil {
			return
		}
		defer sess.Close()
		for {
			// sess.Accept() works unchanged: a twine Session is a
			// net.Listener too, so http.Serve(sess, h) does as well.
			conn, err := sess.Accept()
			if err != nil {
				return // the client closed the session
			}
			go func() {
				defer conn.Close()
				io.Copy(conn, conn)
			}()
		}
	}()

	// cfg := yamux.DefaultConfig()
	// cfg.KeepAliveInterval = 10 * time.Second
	// cfg.ConnectionWriteTimeout = 5 * time.Second
	// cfg.MaxStreamWindowSize = 1 << 20
	// cfg.LogOutput = io.Discard
	cfg := &twine.Config{
		// One bound for a dead peer, whether it stopped answering or
		// stopped reading: nothing received for PeerTimeout ends the
		// session with mux.ErrPeerUnresponsive. PINGs go out after
		// KeepAliveInterval of silence (default PeerTimeout/3).
		PeerTimeout:     15 * time.Second,
		MaxStreamWindow: 1 << 20,
		// No logger: twine reports through errors, never logs.
	}
	// yamux.Client(conn, cfg)
	sess, err := twine.Client(c2, cfg)
	if err != nil {
		log.Fatal(err)
	}
	// sess.Close()
	defer sess.Close()

	// sess.OpenStream(), bounded by StreamOpenTimeout: here by a context.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := sess.OpenStream(ctx)
	if err != nil {
		log.Fatal(err)
	}
	io.WriteString(st, "ping")
	// st.Close() in yamux sends FIN and keeps reading: that is CloseWrite.
	// twine's Close closes both directions, like net.Conn's.
	st.CloseWrite()
	reply, err := io.ReadAll(st)
	// yamux's Read returns io.EOF when the session dies, so a truncated
	// reply looks complete; twine returns io.EOF only after the peer's FIN
	// (ReadAll: err == nil), else a typed error from package mux.
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", reply)
	st.Close()

	// sess.Ping(), bounded by ConnectionWriteTimeout: here by the context.
	rtt, err := sess.Ping(ctx)
	fmt.Println("ping:", err == nil && rtt > 0)
	// Output:
	// ping
	// ping: true
}
