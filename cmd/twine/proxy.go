package main

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// proxy forwards one TCP connection to a server, and can be frozen: it then
// forwards nothing in either direction but closes nothing, as a hung peer
// process or a black-holed path would.
type proxy struct {
	ln         net.Listener
	serverAddr string

	frozen     chan struct{} // closed by freeze
	freezeOnce sync.Once
	done       chan struct{} // closed by close
	closeOnce  sync.Once

	mu    sync.Mutex
	conns []net.Conn

	lastToClientNs atomic.Int64 // when the last bytes were handed to the client, Unix ns
	wg             sync.WaitGroup
}

func newProxy(serverAddr string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return &proxy{
		ln:         ln,
		serverAddr: serverAddr,
		frozen:     make(chan struct{}),
		done:       make(chan struct{}),
	}, nil
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// accept takes the client's connection, dials the server and starts
// forwarding both ways.
func (p *proxy) accept() error {
	client, err := p.ln.Accept()
	if err != nil {
		return err
	}
	p.track(client)
	server, err := net.Dial("tcp", p.serverAddr)
	if err != nil {
		return err
	}
	p.track(server)
	p.wg.Add(2)
	go p.forward(server, client, false)
	go p.forward(client, server, true)
	return nil
}

func (p *proxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

// forward copies src to dst until src fails, forwarding a clean EOF as a
// half-close. Once frozen it keeps reading src but drops what it reads, so
// that nothing reaches dst and nothing is closed. It exits when src fails
// or, frozen, when the proxy closes.
func (p *proxy) forward(dst, src net.Conn, toClient bool) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-p.frozen:
			<-p.done
			return
		default:
		}
		if n > 0 {
			if toClient {
				// Before the write, so that the client cannot have
				// received these bytes earlier than this time.
				p.lastToClientNs.Store(time.Now().UnixNano())
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			return
		}
	}
}

// freeze stops all forwarding, for good.
func (p *proxy) freeze() { p.freezeOnce.Do(func() { close(p.frozen) }) }

// lastToClient returns when bytes were last handed to the client.
func (p *proxy) lastToClient() time.Time { return time.Unix(0, p.lastToClientNs.Load()) }

// close closes the listener and both connections, and waits for the
// forwarding goroutines to exit.
func (p *proxy) close() {
	p.closeOnce.Do(func() {
		close(p.done)
		p.ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	})
	p.wg.Wait()
}
