package main

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// proxy sits between one client and a server on loopback and forwards
// everything both ways until frozen: it then forwards nothing but closes
// nothing, as a hung peer process or a black-holed path would. newTCPProxy
// forwards a TCP connection, newUDPProxy the datagrams of a QUIC one.
type proxy struct {
	addr string // where the client connects

	frozen     chan struct{} // closed by freeze
	freezeOnce sync.Once
	closeOnce  sync.Once

	mu      sync.Mutex
	closers []io.Closer // the sockets, closed by close

	lastToClientNs atomic.Int64 // when bytes were last handed to the client, Unix ns
	wg             sync.WaitGroup
}

func newProxyBase(front io.Closer, addr string) *proxy {
	return &proxy{addr: addr, frozen: make(chan struct{}), closers: []io.Closer{front}}
}

// track adds c to what close closes. It reports false, having closed c,
// when the proxy is already closed.
func (p *proxy) track(c io.Closer) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closers == nil {
		c.Close()
		return false
	}
	p.closers = append(p.closers, c)
	return true
}

// isFrozen reports whether freeze was called.
func (p *proxy) isFrozen() bool {
	select {
	case <-p.frozen:
		return true
	default:
		return false
	}
}

// toClient notes that bytes are about to be handed to the client: called
// before the write, the client cannot have received them earlier.
func (p *proxy) toClient() { p.lastToClientNs.Store(time.Now().UnixNano()) }

// freeze stops all forwarding, for good.
func (p *proxy) freeze() { p.freezeOnce.Do(func() { close(p.frozen) }) }

// lastToClient returns when bytes were last handed to the client.
func (p *proxy) lastToClient() time.Time { return time.Unix(0, p.lastToClientNs.Load()) }

// close closes every socket, which ends the forwarding goroutines, and
// waits for them. It may be called more than once.
func (p *proxy) close() {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		closers := p.closers
		p.closers = nil
		p.mu.Unlock()
		for _, c := range closers {
			c.Close()
		}
	})
	p.wg.Wait()
}

// newTCPProxy starts a proxy that accepts TCP connections and forwards each
// to serverAddr.
func newTCPProxy(serverAddr string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := newProxyBase(ln, ln.Addr().String())
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil || !p.track(client) {
				return // closed
			}
			server, err := net.Dial("tcp", serverAddr)
			if err != nil || !p.track(server) {
				client.Close()
				continue
			}
			p.wg.Add(2)
			go p.forwardTCP(server, client, false)
			go p.forwardTCP(client, server, true)
		}
	}()
	return p, nil
}

// forwardTCP copies src to dst until src fails, forwarding a clean EOF as
// a half-close. Once frozen it stops reading, so that nothing reaches dst
// and nothing is closed; it exits when the proxy closes src.
func (p *proxy) forwardTCP(dst, src net.Conn, toClient bool) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if p.isFrozen() {
			io.Copy(io.Discard, src) // until close
			return
		}
		if n > 0 {
			if toClient {
				p.toClient()
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

// newUDPProxy starts a proxy that relays datagrams between the first
// client that sends one and serverAddr.
func newUDPProxy(serverAddr string) (*proxy, error) {
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	p := newProxyBase(front, front.LocalAddr().String())
	raddr, err := net.ResolveUDPAddr("udp", serverAddr)
	if err != nil {
		p.close()
		return nil, err
	}
	back, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		p.close()
		return nil, err
	}
	p.track(back)
	var client atomic.Pointer[net.UDPAddr]
	p.wg.Add(2)
	go p.relayUDP(func(b []byte) (int, error) {
		n, from, err := front.ReadFromUDP(b)
		if err == nil {
			client.CompareAndSwap(nil, from)
		}
		return n, err
	}, back.Write, false)
	go p.relayUDP(back.Read, func(b []byte) (int, error) {
		to := client.Load()
		if to == nil {
			return 0, nil
		}
		return front.WriteToUDP(b, to)
	}, true)
	return p, nil
}

// relayUDP passes each datagram read to write, or drops it once frozen. It
// exits when the proxy closes the sockets.
func (p *proxy) relayUDP(read, write func([]byte) (int, error), toClient bool) {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := read(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil || p.isFrozen() {
			continue // an ICMP error once a side is gone, say; or frozen
		}
		if toClient {
			p.toClient()
		}
		write(buf[:n])
	}
}
