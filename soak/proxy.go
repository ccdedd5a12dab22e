package soak

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// proxy is a TCP splice between the gateways and the current simulator. It
// gives the gateways one stable address across simulator restarts (the
// simulator comes back on a new port and the proxy is re-pointed), and it
// can cut a gateway's TCP connection without a close frame: the abrupt
// loss a crashed host or a dead NAT produces, which both sides see as 1006.
type proxy struct {
	ln net.Listener
	// tap returns the writers that see a gateway's bytes in each direction
	// before they are forwarded (nil: not tapped).
	tap func(gatewayID string) (up, down io.Writer)

	mu       sync.Mutex
	upstream string
	conns    map[*proxyConn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

type proxyConn struct {
	gatewayID string
	down, up  net.Conn
	once      sync.Once
}

func (pc *proxyConn) close(abrupt bool) {
	pc.once.Do(func() {
		if abrupt {
			// RST instead of FIN: nothing queued is delivered.
			for _, c := range []net.Conn{pc.down, pc.up} {
				if tc, ok := c.(*net.TCPConn); ok {
					tc.SetLinger(0)
				}
			}
		}
		pc.down.Close()
		pc.up.Close()
	})
}

func newProxy(upstream string, tap func(gatewayID string) (up, down io.Writer)) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, tap: tap, upstream: upstream, conns: map[*proxyConn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// URL is the connector base URL gateways are given.
func (p *proxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) setUpstream(addr string) {
	p.mu.Lock()
	p.upstream = addr
	p.mu.Unlock()
}

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.handle(c)
	}
}

// handle reads the first request head to learn which gateway is calling
// (from its token, unverified: this is a test tool), then splices bytes
// both ways.
func (p *proxy) handle(down net.Conn) {
	defer p.wg.Done()
	var raw bytes.Buffer
	down.SetReadDeadline(time.Now().Add(5 * time.Second))
	req, err := http.ReadRequest(bufio.NewReader(io.TeeReader(down, &raw)))
	if err != nil {
		down.Close()
		return
	}
	down.SetReadDeadline(time.Time{})
	gw := ""
	if tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok {
		if c, _, err := contract.ParseToken(tok); err == nil {
			gw = c.GatewayID
		}
	}
	p.mu.Lock()
	addr := p.upstream
	p.mu.Unlock()
	up, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		down.Close() // the gateway sees a failed dial and backs off
		return
	}
	// Everything read so far is the request head (a gateway sends nothing
	// else before the 101), so forward it verbatim.
	if _, err := up.Write(raw.Bytes()); err != nil {
		down.Close()
		up.Close()
		return
	}
	pc := &proxyConn{gatewayID: gw, down: down, up: up}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		pc.close(true)
		return
	}
	p.conns[pc] = struct{}{}
	p.mu.Unlock()
	var fromGW, fromConn io.Reader = down, up
	if p.tap != nil {
		if tu, td := p.tap(gw); tu != nil {
			// The taps see bytes before they are forwarded, so the gateway
			// ledger records an ack before the connector can act on it,
			// and a frame before the gateway can.
			fromGW, fromConn = io.TeeReader(down, tu), io.TeeReader(up, td)
		}
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, fromGW); done <- struct{}{} }()
	go func() { io.Copy(down, fromConn); done <- struct{}{} }()
	<-done
	pc.close(false)
	<-done
	p.mu.Lock()
	delete(p.conns, pc)
	p.mu.Unlock()
}

// cut drops every TCP connection of a gateway abruptly and reports how
// many it cut.
func (p *proxy) cut(gatewayID string) int {
	p.mu.Lock()
	var victims []*proxyConn
	for pc := range p.conns {
		if pc.gatewayID == gatewayID {
			victims = append(victims, pc)
		}
	}
	p.mu.Unlock()
	for _, pc := range victims {
		pc.close(true)
	}
	return len(victims)
}

func (p *proxy) Close() {
	p.mu.Lock()
	p.closed = true
	all := make([]*proxyConn, 0, len(p.conns))
	for pc := range p.conns {
		all = append(all, pc)
	}
	p.mu.Unlock()
	p.ln.Close()
	for _, pc := range all {
		pc.close(true)
	}
	p.wg.Wait()
}
