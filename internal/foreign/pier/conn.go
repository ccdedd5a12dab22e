package pier

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/clock"
)

// maxFrame is the contract's frame cap, newline excluded (TRN-007): one
// byte under 1 MiB, so a frame and its newline fit one 1 MiB message.
const maxFrame = 1<<20 - 1

// Batching: pier coalesces frames queued together into one WebSocket
// message (the contract lets a connector put several frames in one
// message), up to these bounds; a single bigger frame goes alone.
const (
	batchFrames = 32
	batchBytes  = 64 << 10
)

// relayConn is one relay socket. Fields under "s.mu" are guarded by the
// server's mutex; the write queue has its own leaf lock.
type relayConn struct {
	s      *Server
	g      *gateway
	inst   *instance
	ws     *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the socket is gone for good
	opened time.Time

	// under s.mu
	answered     map[string]bool
	defaultPlat  string
	helloSeen    bool
	windowOver   bool
	drainStarted bool
	drained      bool
	idle         bool
	closing      bool
	detached     bool
	inflight     map[string]bool
	helloTimer   clock.Timer
	frontTimer   clock.Timer

	qmu    sync.Mutex // a leaf lock: taken with or without s.mu
	q      []outItem
	qBytes int
	qsig   chan struct{}
	// unwritten holds live deliveries taken off the queue but never
	// written: those of the message whose write failed, and one that
	// overflowed the queue. At most batchFrames+1 of them.
	unwritten []liveItem

	pingMu      sync.Mutex
	pingPending bool
	pingSent    time.Time
}

// outItem is a frame to write, or the close that ends the queue.
type outItem struct {
	data  []byte
	close *closeReq
	live  *liveItem // set when data is a live inbound delivery
}

// liveItem is what pier keeps of a live inbound delivery until it is
// written: enough to buffer the event should the socket end first. event
// is the event inside the frame's own bytes, not a copy.
type liveItem struct {
	platform string
	event    []byte
	order    uint64 // the event's pier_seq: its place in the buffer
}

type closeReq struct {
	code   websocket.StatusCode
	reason string
}

func newRelayConn(s *Server, g *gateway) *relayConn {
	ctx, cancel := context.WithCancel(context.Background())
	return &relayConn{
		s: s, g: g, inst: g.inst, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		opened: s.cfg.clk.Now(), answered: map[string]bool{}, inflight: map[string]bool{},
		qsig: make(chan struct{}, 1),
	}
}

// accept completes the WebSocket upgrade. pier takes any Origin (a gateway
// is no browser) and accepts permessage-deflate when a gateway offers it.
func accept(w http.ResponseWriter, r *http.Request) (*websocket.Conn, error) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionNoContextTakeover,
	})
	if err != nil {
		return nil, err
	}
	// pier reads each message as a stream and enforces the 1 MiB cap per
	// frame itself (TRN-009), so several frames may share a message.
	ws.SetReadLimit(-1)
	return ws, nil
}

// refuse completes the upgrade and closes 4401 with reason, sending no
// frame and reading none (AUTH-010, AUTH-011).
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, why refusal) {
	ws, err := accept(w, r)
	if err != nil {
		return
	}
	if s.cfg.deviant(DevFrameBeforeRefusal) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = ws.Write(ctx, websocket.MessageText, frame(map[string]any{"type": "error", "code": "unauthorized",
			"message": "pier refused your token: " + string(why)}))
		cancel()
	}
	_ = ws.Close(4401, string(why))
}

// shed closes a socket pier will not serve, after an error frame saying
// why: the frame is of a type a gateway ignores (TRN-004) and precedes a
// close the contract requires (RC-002 reject, RC-003).
func (c *relayConn) shed(code websocket.StatusCode, reason, errCode, msg string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = c.ws.Write(ctx, websocket.MessageText, frame(map[string]any{"type": "error", "code": errCode, "message": msg}))
	cancel()
	_ = c.ws.Close(code, reason)
	c.cancel()
	c.s.mu.Lock()
	c.detachLocked()
	c.s.mu.Unlock()
}

// run serves an admitted socket until it ends.
func (c *relayConn) run() {
	s := c.s
	s.mu.Lock()
	c.helloTimer = s.cfg.clk.AfterFunc(s.cfg.NoHelloAfter, c.noHello)
	s.mu.Unlock()
	writerDone := make(chan struct{})
	s.connWG.Add(2)
	go func() { defer s.connWG.Done(); defer close(writerDone); c.writer() }()
	go func() { defer s.connWG.Done(); c.keepalive() }()
	c.reader()
	// The reader ends when the socket does, or after a close pier decided
	// on has completed. Either way nothing more is written.
	s.mu.Lock()
	closing := c.closing
	s.mu.Unlock()
	if !closing {
		c.cancel()
	}
	<-writerDone
	c.cancel()
	s.mu.Lock()
	c.detachLocked()
	s.mu.Unlock()
}

// detachLocked forgets the socket: its instance is free for the next one,
// its unacknowledged replays stay buffered for redelivery (IDLE-010), and
// the live deliveries it never wrote are buffered (IDLE-007). The writer
// must have exited (run waits for it; shed and release never start one), so
// that no frame is written after it was buffered.
func (c *relayConn) detachLocked() {
	if c.detached {
		return
	}
	c.detached = true
	c.leaveGhostLocked()
	c.closing = true
	s := c.s
	if c.helloTimer != nil {
		c.helloTimer.Stop()
	}
	if c.frontTimer != nil {
		c.frontTimer.Stop()
	}
	if c.inst.live == c {
		c.inst.live = nil
		if s.cfg.deviant(DevDropUnackedOnClose) {
			for id := range c.inflight {
				if i := c.inst.find(id); i >= 0 {
					c.inst.remove(i)
				}
			}
		}
	}
	c.rebufferLocked()
	delete(s.conns, c)
	s.sockets--
	close(c.done)
}

// rebufferLocked appends every live delivery the socket never wrote to the
// instance's buffer with a fresh bufferId, each in its place among the
// entries by when it was injected: behind what was buffered before it,
// ahead of what was buffered while it waited (going_idle, or a close pier
// decided, buffers later events at once), so order is kept (IDLE-012).
// POST /inbound answered these events "live", and the contract lets no
// event a connector did not write be lost (IDLE-007): a failed write, the
// writer leaving on the end of the socket, or a queue overflow must not
// drop one. Replays are not among them: they stay buffered until acked.
// It empties the queue, so it cannot buffer an event twice.
func (c *relayConn) rebufferLocked() {
	c.qmu.Lock()
	lost := c.unwritten
	for _, it := range c.q {
		if it.live != nil {
			lost = append(lost, *it.live)
		}
	}
	c.q, c.qBytes, c.unwritten = nil, 0, nil
	c.qmu.Unlock()
	slices.SortFunc(lost, func(a, b liveItem) int { return cmp.Compare(a.order, b.order) })
	s, inst := c.s, c.inst
	for _, l := range lost {
		if !s.roomLocked(inst, l.event) {
			// The inject was answered "live" long ago and pier has no way
			// to take that back: the event is lost, and said so.
			s.lostLive++
			s.cfg.Logger.Warn("pier: a live event the socket never wrote does not fit the buffer; it is lost",
				"instance", inst.id, "pier_seq", l.order, "lost", s.lostLive)
			continue
		}
		s.bufferLocked(inst, l.platform, l.event, l.order)
	}
}

// enqueueLocked queues one frame. After a close was decided nothing more
// is queued; a queue over its bounds ends the socket with 1011.
func (c *relayConn) enqueueLocked(b []byte) {
	c.enqueueItemLocked(outItem{data: b})
}

// enqueueItemLocked queues it. A live delivery that does not fit the queue
// is kept for buffering when the socket ends (rebufferLocked).
func (c *relayConn) enqueueItemLocked(it outItem) {
	if c.closing {
		return
	}
	b := it.data
	c.qmu.Lock()
	over := len(c.q) >= c.s.cfg.MaxQueued || c.qBytes+len(b) > c.s.cfg.MaxQueuedBytes
	if !over {
		c.q = append(c.q, it)
		c.qBytes += len(b)
	} else if it.live != nil {
		c.unwritten = append(c.unwritten, *it.live)
	}
	c.qmu.Unlock()
	if over {
		c.s.cfg.Logger.Warn("pier: write queue overflow", "gateway", c.g.id)
		c.closeLocked(1011, "pier: gateway not reading")
		return
	}
	c.signal()
}

func (c *relayConn) signal() {
	select {
	case c.qsig <- struct{}{}:
	default:
	}
}

// closeLocked queues a close after everything already queued.
func (c *relayConn) closeLocked(code websocket.StatusCode, reason string) {
	if c.closing {
		return
	}
	c.closing = true
	c.qmu.Lock()
	c.q = append(c.q, outItem{close: &closeReq{code: code, reason: reason}})
	c.qmu.Unlock()
	c.signal()
}

// failLocked queues an error frame explaining a close, then the close.
// Only for closes the contract requires or allows where frames are not
// forbidden: never for a 4401 (AUTH-011).
func (c *relayConn) failLocked(code websocket.StatusCode, reason, msg string) {
	if c.closing {
		return
	}
	c.enqueueLocked(frame(map[string]any{"type": "error", "code": reason, "message": msg}))
	c.closeLocked(code, reason)
}

// writer writes queued frames, coalescing what is queued together into one
// message, until the queued close or the end of the socket. What it leaves
// queued, or fails to write, detachLocked buffers if it was delivered live.
func (c *relayConn) writer() {
	var inHand []liveItem // the live deliveries in the message being written
	for {
		select {
		case <-c.qsig:
		case <-c.ctx.Done():
			return
		}
		for {
			c.qmu.Lock()
			var msg []byte
			var cl *closeReq
			inHand = inHand[:0]
			n := 0
			for n < len(c.q) {
				it := c.q[n]
				if it.close != nil {
					if n == 0 {
						cl = it.close
						n++
					}
					break
				}
				if n > 0 && (n >= batchFrames || len(msg)+len(it.data) > batchBytes) {
					break
				}
				msg = append(msg, it.data...)
				c.qBytes -= len(it.data)
				if it.live != nil {
					inHand = append(inHand, *it.live)
				}
				n++
			}
			c.q = c.q[n:]
			c.qmu.Unlock()
			switch {
			case cl != nil:
				_ = c.ws.Close(cl.code, cl.reason)
				return
			case n == 0:
			default:
				if c.s.cfg.deviant(DevNoTrailingNewline) {
					msg = bytes.TrimSuffix(msg, []byte("\n"))
				}
				ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
				err := c.ws.Write(ctx, websocket.MessageText, msg)
				cancel()
				if err != nil {
					// Not written: its live deliveries are buffered when
					// the socket is detached. A message whose Write
					// returned nil is written, and never buffered again.
					c.qmu.Lock()
					c.unwritten = append(c.unwritten, inHand...)
					c.qmu.Unlock()
					_ = c.ws.CloseNow()
					return
				}
				continue
			}
			break
		}
	}
}

// reader reads messages as streams and splits them into frames. A frame is
// processed only when its newline arrives (TRN-005); pier never holds more
// than 1 MiB of an unfinished frame (TRN-009).
func (c *relayConn) reader() {
	var pending []byte
	buf := make([]byte, 32<<10)
	for {
		_, r, err := c.ws.Reader(c.ctx)
		if err != nil {
			return
		}
		for {
			n, err := r.Read(buf)
			chunk := buf[:n]
			for len(chunk) > 0 {
				i := bytes.IndexByte(chunk, '\n')
				if i < 0 {
					pending = append(pending, chunk...)
					chunk = nil
					break
				}
				line := chunk[:i]
				if len(pending) > 0 {
					pending = append(pending, line...)
					line = pending
				}
				chunk = chunk[i+1:]
				c.line(line)
				pending = pending[:0]
			}
			if len(pending) > maxFrame {
				c.fail(websocket.StatusMessageTooBig, "frame too large", "a frame over 1 MiB (1,048,576 bytes) arrived")
				pending = nil
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
		}
	}
}

// fail decides a close from the reader's side.
func (c *relayConn) fail(code websocket.StatusCode, reason, msg string) {
	c.s.mu.Lock()
	c.failLocked(code, reason, msg)
	c.s.mu.Unlock()
}

// line handles one complete line.
func (c *relayConn) line(line []byte) {
	c.s.mu.Lock()
	closing := c.closing
	c.s.mu.Unlock()
	if closing {
		return // a close is decided: pier acts on nothing more
	}
	if len(line) > maxFrame {
		c.fail(websocket.StatusMessageTooBig, "frame too large", "a frame over 1 MiB (1,048,576 bytes) arrived")
		return
	}
	if len(bytes.TrimSpace(line)) == 0 {
		return // TRN-017
	}
	if !utf8.Valid(line) {
		c.fail(websocket.StatusInvalidFramePayloadData, "malformed frame", "a frame is not valid UTF-8")
		return
	}
	f, err := decodeFrame(line)
	switch {
	case errors.Is(err, errNotObject):
		c.fail(websocket.StatusInvalidFramePayloadData, "frame is not an object", "a frame is JSON but not an object")
		return
	case err != nil:
		c.fail(websocket.StatusInvalidFramePayloadData, "malformed frame", "a frame is not valid JSON")
		return
	}
	c.handle(f)
}

// noHello closes a socket that sent no hello (HS-017).
func (c *relayConn) noHello() {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if !c.helloSeen {
		c.failLocked(websocket.StatusPolicyViolation, "no hello", "no hello arrived within "+c.s.cfg.NoHelloAfter.String())
	}
}

// helloWindowOver ends the hello window: without a fronted hello the
// socket is closed (HS-014); otherwise replays stop waiting for hellos.
func (c *relayConn) helloWindowOver() {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.windowOver = true
	if len(c.answered) == 0 {
		c.failLocked(websocket.StatusPolicyViolation, "platform not fronted",
			"no hello on this socket named a platform pier fronts for this gateway")
		return
	}
	c.pumpLocked()
}

// keepalive pings every PingInterval and closes 1011 "keepalive timeout"
// when a ping is still unanswered PingTimeout after it went out (TRN-011).
func (c *relayConn) keepalive() {
	cfg := &c.s.cfg
	if cfg.PingInterval < 0 {
		return
	}
	clk := cfg.clk
	t := clk.NewTimer(cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C():
		}
		now := clk.Now()
		c.pingMu.Lock()
		pending, sent := c.pingPending, c.pingSent
		if !pending {
			c.pingPending, c.pingSent = true, now
			sent = now
		}
		c.pingMu.Unlock()
		if pending && now.Sub(sent) >= cfg.PingTimeout {
			c.fail(websocket.StatusInternalError, "keepalive timeout", "no pong for "+cfg.PingTimeout.String())
			return
		}
		if !pending {
			c.s.connWG.Add(1)
			go func() {
				defer c.s.connWG.Done()
				if c.ws.Ping(c.ctx) == nil {
					c.pingMu.Lock()
					c.pingPending = false
					c.pingMu.Unlock()
				}
			}()
		}
		next := cfg.PingInterval
		if left := sent.Add(cfg.PingTimeout).Sub(now); left < next {
			next = left
		}
		t.Reset(next)
	}
}
