package simulator

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
)

// session is one authenticated gateway socket.
type session struct {
	id     uint64
	srv    *Server
	conn   *websocket.Conn
	gw     GatewayRecord // as authenticated; secrets are never read from it
	inst   *instance
	remote string
	opened time.Time

	// Guarded by inst.mu: the platforms answered with a descriptor on this
	// connection, in order; the first is the default (OUT-013).
	platforms    []string
	handshakedAt time.Time

	mu          sync.Mutex
	closing     bool
	closeCode   int
	closeReason string
	sawHello    bool
	sawFronted  bool
	pingTimer   clock.Timer
	helloTimer  clock.Timer
	graceTimer  clock.Timer

	framesIn  atomic.Uint64
	framesOut atomic.Uint64

	// The write queue, drained by the socket's writer goroutine.
	qmu     sync.Mutex
	qcond   sync.Cond
	queue   []outFrame
	qclosed bool
	werr    error
	wdone   chan struct{}
}

// SessionInfo describes an open socket.
type SessionInfo struct {
	ID        uint64 `json:"id"`
	GatewayID string `json:"gatewayId"`
	Tenant    string `json:"tenant"`
	Instance  string `json:"instance"`
	// Platforms were answered with a descriptor on this socket, in order;
	// the first is the default for untagged outbound.
	Platforms    []string  `json:"platforms"`
	Handshaked   bool      `json:"handshaked"`
	Draining     bool      `json:"draining"`
	OpenedAt     time.Time `json:"openedAt"`
	HandshakedAt time.Time `json:"handshakedAt,omitzero"`
	Remote       string    `json:"remote"`
	FramesIn     uint64    `json:"framesIn"`
	FramesOut    uint64    `json:"framesOut"`
}

func (sess *session) info() SessionInfo {
	in := sess.inst
	in.mu.Lock()
	info := SessionInfo{
		ID: sess.id, GatewayID: sess.gw.GatewayID, Tenant: sess.gw.Tenant, Instance: in.id,
		Platforms:    append([]string{}, sess.platforms...),
		Handshaked:   len(sess.platforms) > 0,
		Draining:     in.drain != nil && in.drain.sess == sess,
		OpenedAt:     sess.opened,
		HandshakedAt: sess.handshakedAt,
		Remote:       sess.remote,
	}
	in.mu.Unlock()
	info.FramesIn, info.FramesOut = sess.framesIn.Load(), sess.framesOut.Load()
	return info
}

// frontsLocked reports whether a descriptor for platform went out on this
// socket; inst.mu must be held.
func (sess *session) frontsLocked(platform string) bool {
	for _, p := range sess.platforms {
		if p == platform {
			return true
		}
	}
	return false
}

// bufPool holds frame encoding buffers, so idle sockets hold none and busy
// ones allocate nothing per frame.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 256<<10 {
		return // let a rare huge frame's buffer go
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// frameMeta describes a frame for faults and the journal.
type frameMeta struct {
	typ       string
	bufferID  string
	requestID string
}

// maxQueued bounds the frames waiting for a socket's writer; a producer
// that finds the queue full waits, which is the backpressure a slow
// gateway exerts.
const maxQueued = 256

// outFrame is an encoded frame waiting for the writer; buf returns to
// bufPool once written.
type outFrame struct {
	buf  *[]byte
	meta frameMeta
}

var errSocketGone = errors.New("socket closed")

// send encodes and queues a contract frame.
func (sess *session) send(f contract.Frame) error {
	bp := getBuf()
	b, err := contract.AppendFrame((*bp)[:0], f)
	if err != nil {
		putBuf(bp)
		return err
	}
	*bp = b
	meta := frameMeta{typ: f.FrameType()}
	if r, ok := f.(contract.OutboundResult); ok {
		meta.requestID = r.RequestID
	}
	return sess.write(bp, meta)
}

// sendBytes queues an already encoded frame.
func (sess *session) sendBytes(b []byte, meta frameMeta) error {
	bp := getBuf()
	*bp = append((*bp)[:0], b...)
	return sess.write(bp, meta)
}

// writeDelivery queues an inbound or passthrough_forward frame around an
// already compact payload, byte for byte what contract.EncodeFrame writes,
// without decoding the payload again.
func (sess *session) writeDelivery(frameType string, payload []byte, bufferID string) error {
	bp := getBuf()
	*bp = appendDelivery((*bp)[:0], frameType, payload, bufferID)
	return sess.write(bp, frameMeta{typ: frameType, bufferID: bufferID})
}

func appendDelivery(dst []byte, frameType string, payload []byte, bufferID string) []byte {
	if frameType == contract.TypePassthroughForward {
		dst = append(dst, `{"type":"passthrough_forward","forward":`...)
	} else {
		dst = append(dst, `{"type":"inbound","event":`...)
	}
	dst = append(dst, payload...)
	if bufferID != "" {
		// Buffer ids are ours and plain ASCII: no escaping needed.
		dst = append(dst, `,"bufferId":"`...)
		dst = append(dst, bufferID...)
		dst = append(dst, '"')
	}
	return append(dst, "}\n"...)
}

// write applies the outbound faults and queues the frame. It takes over
// bp.
func (sess *session) write(bp *[]byte, meta frameMeta) error {
	s := sess.srv
	if s.faults.active() {
		act := s.faults.match(dirOut, sess.gw.GatewayID, meta.typ)
		if act.drop {
			putBuf(bp)
			s.note(JournalEntry{Kind: JournalFault, GatewayID: sess.gw.GatewayID, SessionID: sess.id, FrameType: meta.typ,
				BufferID: meta.bufferID, RequestID: meta.requestID, Detail: "outbound frame dropped"})
			return nil
		}
		if act.delay > 0 {
			s.note(JournalEntry{Kind: JournalFault, GatewayID: sess.gw.GatewayID, SessionID: sess.id, FrameType: meta.typ,
				Detail: "outbound frame delayed " + act.delay.String()})
			s.afterFunc(act.delay, func() { sess.enqueue(bp, meta) })
			return nil
		}
	}
	return sess.enqueue(bp, meta)
}

// enqueue hands a frame to the socket's writer, in order. Frames decided
// under an instance's lock are queued under it, so the queue order is the
// delivery order the contract needs (IDLE-003, IDLE-012).
func (sess *session) enqueue(bp *[]byte, meta frameMeta) error {
	sess.qmu.Lock()
	for len(sess.queue) >= maxQueued && sess.werr == nil && !sess.qclosed {
		sess.qcond.Wait()
	}
	if sess.werr != nil || sess.qclosed {
		sess.qmu.Unlock()
		putBuf(bp)
		return errSocketGone
	}
	sess.queue = append(sess.queue, outFrame{bp, meta})
	if len(sess.queue) == 1 {
		sess.qcond.Broadcast()
	}
	sess.qmu.Unlock()
	return nil
}

// startWriter starts the goroutine that writes queued frames. One writer
// per socket lets the caller of Inject prepare the next frame while the
// previous one is in the kernel.
func (sess *session) startWriter() {
	sess.qcond.L = &sess.qmu
	sess.wdone = make(chan struct{})
	go sess.writeLoop()
}

// stopWriter lets the writer finish what is queued (failing fast on a
// closed socket) and waits for it.
func (sess *session) stopWriter() {
	sess.qmu.Lock()
	sess.qclosed = true
	sess.qcond.Broadcast()
	sess.qmu.Unlock()
	<-sess.wdone
}

// coalesceLimit caps a message that carries several queued frames, far
// below the 1 MiB message limit of the reference gateway's WebSocket
// library.
const coalesceLimit = 64 << 10

func (sess *session) writeLoop() {
	defer close(sess.wdone)
	var batch []outFrame
	for {
		sess.qmu.Lock()
		for len(sess.queue) == 0 && !sess.qclosed {
			sess.qcond.Wait()
		}
		if len(sess.queue) == 0 {
			sess.qmu.Unlock()
			return
		}
		batch, sess.queue = sess.queue, batch[:0]
		sess.qcond.Broadcast() // room for waiting producers
		werr := sess.werr
		sess.qmu.Unlock()
		if werr == nil {
			if werr = sess.writeBatch(batch); werr != nil {
				sess.qmu.Lock()
				sess.werr = werr
				sess.qcond.Broadcast()
				sess.qmu.Unlock()
			}
		}
		for i := range batch {
			putBuf(batch[i].buf)
			batch[i] = outFrame{}
		}
	}
}

// writeBatch writes queued frames. Unless Options.OneFramePerMessage is
// set, frames that were queued together share one WebSocket message, up to
// coalesceLimit: receivers must accept several frames per message
// (TRN-005), and one write instead of many is what lets a busy socket keep
// up.
func (sess *session) writeBatch(batch []outFrame) error {
	s := sess.srv
	single := s.cfg.OneFramePerMessage || s.deviations().has(DevNoNewline)
	for i := 0; i < len(batch); {
		j, size := i+1, len(*batch[i].buf)
		if !single {
			for j < len(batch) && size+len(*batch[j].buf) <= coalesceLimit {
				size += len(*batch[j].buf)
				j++
			}
		}
		s.captureFrames(sess, batch[i:j]) // before the write: a reply must not precede it
		if j == i+1 {
			if err := sess.writeMessage(*batch[i].buf); err != nil {
				return err
			}
		} else {
			mp := getBuf()
			msg := (*mp)[:0]
			for _, f := range batch[i:j] {
				msg = append(msg, *f.buf...)
			}
			*mp = msg
			err := sess.writeMessage(msg)
			putBuf(mp)
			if err != nil {
				return err
			}
		}
		for _, f := range batch[i:j] {
			sess.framesOut.Add(1)
			s.note(JournalEntry{Kind: JournalFrameOut, GatewayID: sess.gw.GatewayID, SessionID: sess.id, FrameType: f.meta.typ,
				Frame: s.jr.frameText(*f.buf), Size: len(*f.buf), BufferID: f.meta.bufferID, RequestID: f.meta.requestID})
		}
		i = j
	}
	return nil
}

func (sess *session) writeMessage(b []byte) error {
	if sess.srv.deviations().has(DevNoNewline) {
		b = b[:len(b)-1]
	}
	// The background context keeps coder/websocket from arming a timer per
	// write; a stuck peer is cut off by keepalive, whose close unblocks
	// the write.
	return sess.conn.Write(context.Background(), websocket.MessageText, b)
}

// closeNow closes the socket with code and reason and waits for the close
// handshake (at most a few seconds when the peer does not answer). The
// first close decides the code.
func (sess *session) closeNow(code int, reason string) {
	sess.mu.Lock()
	if !sess.closing {
		sess.closing = true
		sess.closeCode, sess.closeReason = code, reason
	}
	sess.stopTimersLocked()
	sess.mu.Unlock()
	sess.conn.Close(websocket.StatusCode(code), reason)
}

// closeAsync closes the socket without making the caller wait for the
// close handshake.
func (sess *session) closeAsync(code int, reason string) {
	sess.mu.Lock()
	if !sess.closing {
		sess.closing = true
		sess.closeCode, sess.closeReason = code, reason
	}
	sess.stopTimersLocked()
	sess.mu.Unlock()
	if !sess.srv.track() {
		return // Close is closing every socket anyway
	}
	go func() {
		defer sess.srv.untrack()
		sess.conn.Close(websocket.StatusCode(code), reason)
	}()
}

func (sess *session) stopTimersLocked() {
	for _, t := range []clock.Timer{sess.pingTimer, sess.helloTimer, sess.graceTimer} {
		if t != nil {
			t.Stop()
		}
	}
}

func (sess *session) isClosing() bool {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return sess.closing
}

// startTimers arms keepalive and the hello deadline.
func (sess *session) startTimers() {
	s := sess.srv
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.closing {
		return
	}
	if s.cfg.PingInterval > 0 {
		sess.pingTimer = s.afterFunc(s.cfg.PingInterval, sess.ping)
	}
	if s.cfg.HandshakeTimeout > 0 {
		sess.helloTimer = s.afterFunc(s.cfg.HandshakeTimeout, sess.helloDeadline)
	}
}

// ping sends one WebSocket ping and closes 1011 when no pong comes back in
// time (TRN-011); otherwise it re-arms itself.
func (sess *session) ping() {
	s := sess.srv
	if sess.isClosing() {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	var timedOut atomic.Bool
	t := s.clk.AfterFunc(s.cfg.PingTimeout, func() { timedOut.Store(true); cancel() })
	err := sess.conn.Ping(ctx)
	t.Stop()
	cancel()
	if err != nil {
		if timedOut.Load() {
			s.note(JournalEntry{Kind: JournalKeepalive, GatewayID: sess.gw.GatewayID, SessionID: sess.id,
				Detail: "no pong within " + s.cfg.PingTimeout.String()})
			sess.closeNow(contract.CloseInternalError, contract.ReasonKeepaliveTimeout)
		}
		return
	}
	sess.mu.Lock()
	if !sess.closing && sess.pingTimer != nil {
		sess.pingTimer.Reset(s.cfg.PingInterval)
	}
	sess.mu.Unlock()
	s.note(JournalEntry{Kind: JournalKeepalive, GatewayID: sess.gw.GatewayID, SessionID: sess.id, Detail: "pong received"})
}

// helloDeadline closes a socket that has not named a fronted platform in
// time: 1008 "no hello" when it sent nothing, 1008 "platform not fronted"
// when its hellos named only platforms it does not front (HS-014, HS-017).
func (sess *session) helloDeadline() {
	sess.mu.Lock()
	saw, fronted := sess.sawHello, sess.sawFronted
	sess.mu.Unlock()
	switch {
	case fronted:
	case saw:
		sess.closeNow(contract.ClosePolicyViolation, contract.ReasonPlatformNotFronted)
	default:
		sess.closeNow(contract.ClosePolicyViolation, contract.ReasonNoHello)
	}
}
