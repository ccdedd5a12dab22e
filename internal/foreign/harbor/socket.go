package harbor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/clock"
)

// conn is one authenticated WebSocket of a gateway.
type conn struct {
	s    *Server
	id   uint64
	ws   *websocket.Conn
	gw   *gateway
	inst *instance
	ctx  context.Context
	stop context.CancelFunc
	done chan struct{} // closed when the socket is gone

	// Guarded by s.mu.
	described   []string // platforms answered with a descriptor, in order
	sawHello    bool
	closing     bool // a close was decided; no more frames are acted on
	gone        bool
	idleCount   int
	idled       bool
	sent        map[string]bool // buffer entries replayed on this socket
	timers      []clock.Timer
	openedAt    time.Time
	handshakeAt time.Time

	// The write queue, guarded by qmu (taken inside s.mu, never around it).
	qmu    sync.Mutex
	q      []outItem
	signal chan struct{}
}

type outItem struct {
	frame  []byte
	close  bool
	code   websocket.StatusCode
	reason string
}

func (c *conn) handshaked() bool { return len(c.described) > 0 }

func (c *conn) hasDescribed(p string) bool {
	for _, x := range c.described {
		if x == p {
			return true
		}
	}
	return false
}

// defaultPlatform is the platform untagged outbound goes to (OUT-013): the
// first descriptor's.
func (c *conn) defaultPlatform() string {
	if len(c.described) == 0 {
		return ""
	}
	if c.s.dev == DevLatestDefault {
		return c.described[len(c.described)-1]
	}
	return c.described[0]
}

// serveRelay upgrades /relay. Every upgrade completes; a refused token is
// answered with close 4401 before any frame is read or written (AUTH-010,
// AUTH-011).
func (s *Server) serveRelay(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // a gateway sends no Origin; any that does is not a browser we guard
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		s.log.Info("upgrade failed", "err", err, "remote", r.RemoteAddr)
		return
	}
	ws.SetReadLimit(-1) // harbor enforces the 1 MiB frame limit itself, per line (TRN-009)
	g, reason := s.authenticate(bearer(r.Header.Get("Authorization")))
	if g == nil {
		s.log.Info("token refused", "reason", reason, "remote", r.RemoteAddr)
		closeBounded(ws, 4401, reason)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		closeBounded(ws, websocket.StatusGoingAway, "shutting down")
		return
	}
	if s.refusing {
		s.mu.Unlock()
		s.log.Info("connection refused by fault", "gateway", g.id)
		closeBounded(ws, websocket.StatusTryAgainLater, "harbor is not taking connections right now")
		return
	}
	c := &conn{s: s, id: s.nextSeq(), ws: ws, gw: g, inst: s.instanceOf(g), done: make(chan struct{}),
		sent: map[string]bool{}, signal: make(chan struct{}, 1), openedAt: s.clk.Now()}
	c.ctx, c.stop = context.WithCancel(s.ctx)
	reject := false
	for _, o := range c.inst.conns {
		if o.closing {
			continue
		}
		switch s.opts.DuplicatePolicy {
		case "replace":
			s.closeConnLocked(o, 4409, "replaced")
		case "reject":
			reject = true
		}
	}
	if reject {
		s.mu.Unlock()
		s.log.Info("second socket rejected", "gateway", g.id)
		closeBounded(ws, 4409, "duplicate")
		return
	}
	s.conns[c] = struct{}{}
	c.inst.conns = append(c.inst.conns, c)
	c.timers = append(c.timers, s.clk.AfterFunc(s.opts.HelloTimeout, func() { s.helloDeadline(c) }))
	s.wg.Add(2)
	s.mu.Unlock()
	s.log.Info("socket open", "conn", c.id, "gateway", g.id, "instance", g.instance)

	go c.writer()
	if s.opts.PingInterval > 0 {
		s.wg.Add(1)
		go c.keepalive()
	}
	go c.reader()
}

// closeBounded closes ws with a close handshake bounded in time.
func closeBounded(ws *websocket.Conn, code websocket.StatusCode, reason string) {
	done := make(chan struct{})
	go func() {
		_ = ws.Close(code, reason)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(closeWriteTimeout):
		ws.CloseNow()
		<-done
	}
}

// helloDeadline closes a socket that has not said a fronted hello in time:
// 1008 "no hello" when it said nothing (HS-017), "platform not fronted"
// when it only named platforms harbor does not front for it (HS-014).
func (s *Server) helloDeadline(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.gone || c.closing || c.handshaked() {
		return
	}
	if c.sawHello {
		s.closeConnLocked(c, websocket.StatusPolicyViolation, "platform not fronted")
	} else {
		s.closeConnLocked(c, websocket.StatusPolicyViolation, "no hello")
	}
}

// enqueue queues a frame for c; s.mu must be held. A socket whose queue is
// full (a gateway that stopped reading) is closed 1013 and the frame is
// reported as not sent.
func (c *conn) enqueue(frame []byte) bool {
	if c.closing || c.gone {
		return false
	}
	c.qmu.Lock()
	full := len(c.q) >= maxQueuedFrames
	if !full {
		c.q = append(c.q, outItem{frame: frame})
	}
	c.qmu.Unlock()
	if full {
		c.s.log.Warn("send queue full", "conn", c.id)
		c.s.closeConnLocked(c, websocket.StatusTryAgainLater, "gateway is not reading")
		return false
	}
	c.wake()
	return true
}

func (c *conn) wake() {
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// closeConnLocked decides to close c: frames queued before are written
// first, then the close. s.mu must be held.
func (s *Server) closeConnLocked(c *conn, code websocket.StatusCode, reason string) {
	if c.closing || c.gone {
		return
	}
	c.closing = true
	s.log.Info("closing socket", "conn", c.id, "code", int(code), "reason", reason)
	c.qmu.Lock()
	c.q = append(c.q, outItem{close: true, code: code, reason: reason})
	c.qmu.Unlock()
	c.wake()
	s.detachLocked(c)
}

// detachLocked takes c out of delivery: no event goes live to it any more,
// and a drain running on it stops, leaving its unacked entry buffered.
func (s *Server) detachLocked(c *conn) {
	in := c.inst
	for i, o := range in.conns {
		if o == c {
			in.conns = append(in.conns[:i:i], in.conns[i+1:]...)
			break
		}
	}
	if in.drain == c {
		in.drain = nil
		in.inflight = nil
	}
	for _, t := range c.timers {
		t.Stop()
	}
	c.timers = nil
}

func (c *conn) writer() {
	defer c.s.wg.Done()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.signal:
		}
		c.qmu.Lock()
		items := c.q
		c.q = nil
		c.qmu.Unlock()
		for _, it := range items {
			if it.close {
				closeBounded(c.ws, it.code, it.reason)
				return
			}
			ctx, cancel := context.WithTimeout(c.ctx, writeTimeout)
			err := c.ws.Write(ctx, websocket.MessageText, it.frame)
			cancel()
			if err != nil {
				c.ws.CloseNow()
				return
			}
		}
	}
}

// keepalive pings every PingInterval and closes 1011 "keepalive timeout"
// when a pong takes longer than PingTimeout (TRN-011).
func (c *conn) keepalive() {
	defer c.s.wg.Done()
	clk := c.s.clk
	for {
		t := clk.NewTimer(c.s.opts.PingInterval)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		pong := make(chan error, 1)
		go func() { pong <- c.ws.Ping(c.ctx) }()
		deadline := clk.NewTimer(c.s.opts.PingTimeout)
		select {
		case err := <-pong:
			deadline.Stop()
			if err != nil {
				return
			}
		case <-deadline.C():
			c.s.mu.Lock()
			c.s.closeConnLocked(c, websocket.StatusInternalError, "keepalive timeout")
			c.s.mu.Unlock()
			<-pong
			return
		case <-c.ctx.Done():
			deadline.Stop()
			<-pong
			return
		}
	}
}

// reader reads messages as a byte stream, splits them into lines and acts
// on each complete line. A line is acted on only when its newline arrived;
// an unterminated tail waits for the next message (TRN-005).
func (c *conn) reader() {
	defer c.s.wg.Done()
	defer func() {
		c.s.mu.Lock()
		c.gone = true
		c.s.detachLocked(c)
		delete(c.s.conns, c)
		c.s.mu.Unlock()
		c.stop()
		c.ws.CloseNow()
		close(c.done)
		c.s.log.Info("socket gone", "conn", c.id)
	}()
	var pending []byte
	buf := make([]byte, 32<<10)
	for {
		_, r, err := c.ws.Reader(c.ctx)
		if err != nil {
			return
		}
		for {
			n, err := r.Read(buf)
			if n > 0 {
				scan := len(pending)
				pending = append(pending, buf[:n]...)
				for {
					i := bytes.IndexByte(pending[scan:], '\n')
					if i < 0 {
						break
					}
					line := pending[:scan+i]
					if !c.line(line) {
						pending = nil
						break
					}
					pending = pending[scan+i+1:]
					scan = 0
				}
				if len(pending) > maxFrameBytes {
					c.tooLarge()
					pending = nil
				}
				if len(pending) == 0 {
					pending = nil // let a large frame's buffer go
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return
			}
		}
	}
}

func (c *conn) tooLarge() {
	c.s.mu.Lock()
	c.s.closeConnLocked(c, websocket.StatusMessageTooBig, "frame too large")
	c.s.mu.Unlock()
}

// line acts on one complete line and reports whether reading should go on
// acting on lines.
func (c *conn) line(line []byte) bool {
	c.s.mu.Lock()
	closing := c.closing
	c.s.mu.Unlock()
	if closing {
		return false
	}
	if len(line) > maxFrameBytes {
		c.tooLarge()
		return false
	}
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 {
		return true // TRN-017: blank lines are skipped
	}
	if !utf8.Valid(trimmed) || !json.Valid(trimmed) {
		c.malformed("malformed frame")
		return false
	}
	if trimmed[0] != '{' {
		c.malformed("frame is not an object")
		return false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &m); err != nil {
		c.malformed("malformed frame")
		return false
	}
	c.s.handleFrame(c, m)
	return true
}

func (c *conn) malformed(reason string) {
	c.s.mu.Lock()
	c.s.closeConnLocked(c, websocket.StatusInvalidFramePayloadData, reason)
	c.s.mu.Unlock()
}
