package simulator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
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
	pongTimer   clock.Timer // the deadline of the ping in flight
	helloTimer  clock.Timer
	graceTimer  clock.Timer

	framesIn  atomic.Uint64
	framesOut atomic.Uint64

	// The write queue, drained by the socket's writer goroutine. qframes
	// and qbytes count what is queued and what the writer holds.
	qmu       sync.Mutex
	qcond     sync.Cond     // the writer waits on it for frames
	room      chan struct{} // closed when room frees up; nil when nobody waits
	queue     []outFrame
	qframes   int
	qbytes    int64
	qclosed   bool
	werr      error
	unwritten []outFrame // live deliveries never written, for re-buffering
	wdone     chan struct{}

	// The write watchdog (Options.SocketWriteTimeout).
	writing   atomic.Bool   // a message write is in progress
	wprogress atomic.Uint64 // messages written (or failed)
	wmark     atomic.Uint64 // wprogress when the watchdog was armed
	wdmu      sync.Mutex
	wdog      *time.Timer

	// resetGen is the server's reset generation when the socket opened:
	// a socket that outlived a Reset re-buffers nothing.
	resetGen uint64
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
	// QueuedFrames and QueuedBytes are what waits in the socket's write
	// queue or is being written (Options.QueueMaxFrames, QueueMaxBytes).
	QueuedFrames int   `json:"queuedFrames"`
	QueuedBytes  int64 `json:"queuedBytes"`
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
	info.QueuedFrames, info.QueuedBytes = sess.queueUsage()
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

// frameMeta describes a frame for faults, the journal and re-buffering.
type frameMeta struct {
	typ       string
	bufferID  string
	requestID string
	// platform is set on live deliveries (an inbound or passthrough_forward
	// without a bufferId): a live delivery the socket never wrote goes back
	// to the instance's buffer for that platform.
	platform string
}

// live reports whether the frame is a live delivery, which must reach the
// socket or the buffer.
func (m frameMeta) live() bool { return m.platform != "" && m.bufferID == "" }

// enqueueMode says what enqueue does with a frame that does not fit.
type enqueueMode int

const (
	// enqueueTry refuses it with errQueueFull. Live deliveries and
	// interrupts are queued this way, under their instance's lock: they
	// never wait on a peer.
	enqueueTry enqueueMode = iota
	// enqueueWait waits for room, outside every lock, until the socket
	// ends: replayed entries, outbound results and delayed frames, whose
	// producers are this socket's own reader or a goroutine of their own.
	enqueueWait
	// enqueueForce queues it anyway: the descriptor and going_idle_ack a
	// frame of the peer asks for, decided under the instance's lock. The
	// reader waits for room before it handles each frame, so these add at
	// most one small frame past the cap.
	enqueueForce
)

// outFrame is an encoded frame waiting for the writer; buf returns to
// bufPool once written.
type outFrame struct {
	buf  *[]byte
	meta frameMeta
}

// size is what the frame holds in memory: its buffer's capacity, which for
// a pooled buffer is at least 4 KiB whatever the frame's length.
func (f outFrame) size() int64 { return int64(cap(*f.buf)) }

var (
	errSocketGone = errors.New("socket closed")
	errQueueFull  = errors.New("socket write queue full")
)

// queueFullError is errQueueFull with the room the refused frame needed,
// so its producer can wait for exactly that much.
type queueFullError struct{ need int64 }

func (e *queueFullError) Error() string        { return errQueueFull.Error() }
func (e *queueFullError) Is(target error) bool { return target == errQueueFull }

// send encodes and queues a contract frame.
func (sess *session) send(f contract.Frame, mode enqueueMode) error {
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
	return sess.write(bp, meta, mode)
}

// sendBytes queues an already encoded frame.
func (sess *session) sendBytes(b []byte, meta frameMeta, mode enqueueMode) error {
	bp := getBuf()
	*bp = append((*bp)[:0], b...)
	return sess.write(bp, meta, mode)
}

// writeDelivery queues an inbound or passthrough_forward frame around an
// already compact payload, byte for byte what contract.EncodeFrame writes,
// without decoding the payload again. A live delivery (no bufferID) names
// its platform, so it can be re-buffered if the socket never writes it.
func (sess *session) writeDelivery(frameType string, payload []byte, bufferID, platform string, mode enqueueMode) error {
	bp := getBuf()
	*bp = appendDelivery((*bp)[:0], frameType, payload, bufferID)
	meta := frameMeta{typ: frameType, bufferID: bufferID}
	if bufferID == "" {
		meta.platform = platform
	}
	return sess.write(bp, meta, mode)
}

// appendDelivery appends an inbound or passthrough_forward frame around
// payload.
func appendDelivery(dst []byte, frameType string, payload []byte, bufferID string) []byte {
	if frameType == contract.TypePassthroughForward {
		return contract.AppendPassthroughForward(dst, payload, bufferID)
	}
	return contract.AppendInbound(dst, payload, bufferID)
}

// write applies the outbound faults and queues the frame. It takes over
// bp.
func (sess *session) write(bp *[]byte, meta frameMeta, mode enqueueMode) error {
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
			// The delayed frame waits for room on a goroutine of its own.
			s.afterFunc(act.delay, func() { sess.enqueue(bp, meta, enqueueWait) })
			return nil
		}
	}
	return sess.enqueue(bp, meta, mode)
}

// fitsLocked reports whether a frame of size bytes may join the queue now.
// An empty queue takes any frame, so a frame larger than the cap still goes
// out; the total cap across sockets binds only frames that may be refused.
// sess.qmu must be held.
func (sess *session) fitsLocked(size int64, total bool) bool {
	if sess.qframes == 0 {
		return true
	}
	cfg := sess.srv.cfg
	if sess.qframes >= cfg.QueueMaxFrames || sess.qbytes+size > cfg.QueueMaxBytes {
		return false
	}
	return !total || sess.srv.queued.Load()+size <= cfg.QueueMaxTotalBytes
}

// enqueue hands a frame to the socket's writer, in order. Frames decided
// under an instance's lock are queued under it, so the queue order is the
// delivery order the contract needs (IDLE-003, IDLE-012). The queue is
// bounded in frames and bytes (Options.QueueMaxFrames, QueueMaxBytes): mode
// says what happens to a frame that does not fit.
func (sess *session) enqueue(bp *[]byte, meta frameMeta, mode enqueueMode) error {
	f := outFrame{bp, meta}
	size := f.size()
	sess.qmu.Lock()
	for {
		if sess.werr != nil || sess.qclosed {
			sess.qmu.Unlock()
			putBuf(bp)
			return errSocketGone
		}
		if mode == enqueueForce || sess.fitsLocked(size, mode == enqueueTry) {
			break
		}
		if mode == enqueueTry {
			sess.qmu.Unlock()
			putBuf(bp)
			return &queueFullError{need: size}
		}
		ch := sess.roomLocked()
		sess.qmu.Unlock()
		<-ch
		sess.qmu.Lock()
	}
	sess.queue = append(sess.queue, f)
	sess.qframes++
	sess.qbytes += size
	sess.srv.queued.Add(size)
	if len(sess.queue) == 1 {
		sess.qcond.Broadcast()
	}
	sess.qmu.Unlock()
	return nil
}

// roomLocked returns a channel closed when the writer next frees room or
// stops; sess.qmu must be held.
func (sess *session) roomLocked() <-chan struct{} {
	if sess.room == nil {
		sess.room = make(chan struct{})
	}
	return sess.room
}

// signalRoomLocked wakes whoever waits for room; sess.qmu must be held.
func (sess *session) signalRoomLocked() {
	if sess.room != nil {
		close(sess.room)
		sess.room = nil
	}
}

// waitRoom waits, outside every lock, until a frame of need bytes fits
// the queue, or with need 0 until the queue is below its caps. With wait
// positive it gives up once the writer has freed nothing for that long, on
// the wall clock: a writer that keeps making progress, however slowly, is
// waited for; one stuck on a peer that stopped reading is not. It reports
// false when the socket is gone, the wait ran out, or the frame would fit
// the socket's queue but not the total across sockets (which this socket's
// writer cannot help).
func (sess *session) waitRoom(need int64, wait time.Duration) bool {
	cfg := sess.srv.cfg
	var timer *time.Timer
	for {
		sess.qmu.Lock()
		if sess.werr != nil || sess.qclosed {
			sess.qmu.Unlock()
			return false
		}
		if need <= 0 && sess.qframes < cfg.QueueMaxFrames && sess.qbytes < cfg.QueueMaxBytes {
			sess.qmu.Unlock()
			return true
		}
		if need > 0 && sess.fitsLocked(need, false) {
			ok := sess.fitsLocked(need, true)
			sess.qmu.Unlock()
			return ok
		}
		ch := sess.roomLocked()
		sess.qmu.Unlock()
		if wait <= 0 {
			<-ch
			continue
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		} else {
			timer.Reset(wait) // the writer freed something: progress
		}
		select {
		case <-ch:
		case <-timer.C:
			return false
		}
	}
}

// queueUsage returns the frames and bytes queued or being written.
func (sess *session) queueUsage() (frames int, bytes int64) {
	sess.qmu.Lock()
	defer sess.qmu.Unlock()
	return sess.qframes, sess.qbytes
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
// closed socket) and waits for it. It returns the live deliveries the
// socket never wrote, which the caller re-buffers.
func (sess *session) stopWriter() []outFrame {
	sess.qmu.Lock()
	sess.qclosed = true
	sess.qcond.Broadcast()
	sess.signalRoomLocked()
	sess.qmu.Unlock()
	<-sess.wdone
	sess.qmu.Lock()
	defer sess.qmu.Unlock()
	unwritten := sess.unwritten
	sess.unwritten = nil
	return unwritten
}

// coalesceLimit caps a message that carries several queued frames, far
// below the 1 MiB message limit of the reference gateway's WebSocket
// library.
const coalesceLimit = 64 << 10

func (sess *session) writeLoop() {
	defer close(sess.wdone)
	defer sess.stopWatchdog()
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
		// The batch stays counted against the caps until each of its
		// messages is written, so the queue and the writer's hands
		// together hold at most QueueMaxBytes; room frees message by
		// message, so producers refill the queue while the writer writes.
		batch, sess.queue = sess.queue, batch[:0]
		werr := sess.werr
		sess.qmu.Unlock()
		done := 0 // frames written and released
		if werr == nil {
			sess.armWatchdog()
			if done, werr = sess.writeBatch(batch); werr != nil {
				sess.qmu.Lock()
				sess.werr = werr
				sess.qmu.Unlock()
			}
			sess.disarmWatchdog()
		}
		sess.release(batch[done:], true)
		clear(batch)
	}
}

// release returns written (or abandoned) frames' room to the queue. With
// unwritten set, live deliveries among them are kept for re-buffering.
func (sess *session) release(frames []outFrame, unwritten bool) {
	if len(frames) == 0 {
		return
	}
	var freed int64
	sess.qmu.Lock()
	for _, f := range frames {
		freed += f.size()
		if unwritten && f.meta.live() {
			sess.unwritten = append(sess.unwritten, f)
		} else {
			putBuf(f.buf)
		}
	}
	sess.qframes -= len(frames)
	sess.qbytes -= freed
	sess.signalRoomLocked()
	sess.qmu.Unlock()
	sess.srv.queued.Add(-freed)
}

// writeBatch writes queued frames, releasing each message's frames once
// written, and returns how many it wrote. Unless
// Options.OneFramePerMessage is set, frames that were queued together share
// one WebSocket message, up to coalesceLimit: receivers must accept several
// frames per message (TRN-005), and one write instead of many is what lets
// a busy socket keep up.
func (sess *session) writeBatch(batch []outFrame) (int, error) {
	s := sess.srv
	single := s.cfg.OneFramePerMessage || s.deviations().Has(deviation.SimNoNewline)
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
				return i, err
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
				return i, err
			}
		}
		for _, f := range batch[i:j] {
			sess.framesOut.Add(1)
			s.metrics.frameOut(f.meta.typ)
			s.note(JournalEntry{Kind: JournalFrameOut, GatewayID: sess.gw.GatewayID, SessionID: sess.id, FrameType: f.meta.typ,
				Frame: s.jr.frameText(*f.buf), Size: len(*f.buf), BufferID: f.meta.bufferID, RequestID: f.meta.requestID})
		}
		sess.release(batch[i:j], false)
		i = j
	}
	return len(batch), nil
}

func (sess *session) writeMessage(b []byte) error {
	if sess.srv.deviations().Has(deviation.SimNoNewline) {
		b = b[:len(b)-1]
	}
	// The background context keeps coder/websocket from arming a timer per
	// write. A peer that stops reading is cut off by keepalive (on Clock)
	// or by the write watchdog (on the wall clock), whose close unblocks
	// the write.
	sess.writing.Store(true)
	err := sess.conn.Write(context.Background(), websocket.MessageText, b)
	sess.writing.Store(false)
	sess.wprogress.Add(1)
	return err
}

// armWatchdog starts the write deadline of a batch: a socket whose writer
// completes no message for Options.SocketWriteTimeout, on the wall clock, is
// closed 1011. The kernel does not follow a manual clock, and a wall-clock
// timer never shows up among a manual clock's timers.
func (sess *session) armWatchdog() {
	wt := sess.srv.cfg.SocketWriteTimeout
	if wt <= 0 {
		return
	}
	sess.wmark.Store(sess.wprogress.Load())
	sess.wdmu.Lock()
	if sess.wdog == nil {
		sess.wdog = time.AfterFunc(wt, sess.checkWrite)
	} else {
		sess.wdog.Reset(wt)
	}
	sess.wdmu.Unlock()
}

func (sess *session) disarmWatchdog() {
	sess.wdmu.Lock()
	if sess.wdog != nil {
		sess.wdog.Stop()
	}
	sess.wdmu.Unlock()
}

func (sess *session) stopWatchdog() { sess.disarmWatchdog() }

// checkWrite runs when a batch has been in the writer's hands for
// SocketWriteTimeout: without progress since, the peer stopped reading.
func (sess *session) checkWrite() {
	s := sess.srv
	if !sess.writing.Load() {
		return
	}
	if p := sess.wprogress.Load(); p != sess.wmark.Load() {
		// Messages went out; this batch is merely large. Watch the next
		// stretch.
		sess.wmark.Store(p)
		sess.wdmu.Lock()
		sess.wdog.Reset(s.cfg.SocketWriteTimeout)
		sess.wdmu.Unlock()
		return
	}
	if !s.track() {
		return
	}
	defer s.untrack()
	s.note(JournalEntry{Kind: JournalKeepalive, GatewayID: sess.gw.GatewayID, SessionID: sess.id,
		Detail: "write made no progress for " + s.cfg.SocketWriteTimeout.String() + " (wall clock)"})
	sess.closeStalled(contract.CloseInternalError, ReasonWriteTimeout, &s.metrics.stalledWrite)
}

// ReasonWriteTimeout is the close reason of a socket whose peer stopped
// reading: a write made no progress for Options.SocketWriteTimeout.
const ReasonWriteTimeout = "write timeout"

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

// closeStalled closes a socket whose peer stopped answering. When a write
// is stuck on a full TCP buffer it holds the connection's write lock, so no
// close frame could go out behind it: the connection is then dropped at
// once, which also ends the stuck write, instead of waiting out
// coder/websocket's 5 s for the lock. The close is recorded with code and
// reason either way, and counted in stalled (before the close can be
// journaled) unless the socket was closing already.
func (sess *session) closeStalled(code int, reason string, stalled *atomic.Uint64) {
	sess.mu.Lock()
	if sess.closing {
		sess.mu.Unlock()
		return
	}
	stalled.Add(1)
	sess.closing = true
	sess.closeCode, sess.closeReason = code, reason
	sess.stopTimersLocked()
	sess.mu.Unlock()
	if sess.writing.Load() {
		sess.conn.CloseNow()
		return
	}
	sess.conn.Close(websocket.StatusCode(code), reason)
}

func (sess *session) stopTimersLocked() {
	for _, t := range []clock.Timer{sess.pingTimer, sess.pongTimer, sess.helloTimer, sess.graceTimer} {
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

// ping sends one WebSocket ping and closes 1011 when no pong came back
// PingTimeout after it (TRN-011); otherwise it re-arms itself. The
// deadline does not wait for Ping to return: a writer stuck on a peer that
// stopped reading holds the write lock, so the ping cannot even go out, and
// coder/websocket gives up on it after its own 5 s with an error that says
// nothing about the peer. Whatever Ping answers, a ping without a pong in
// time closes the socket.
func (sess *session) ping() {
	s := sess.srv
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess.mu.Lock()
	if sess.closing {
		sess.mu.Unlock()
		return
	}
	deadline := s.afterFunc(s.cfg.PingTimeout, func() {
		cancel()
		sess.keepaliveExpired()
	})
	sess.pongTimer = deadline
	sess.mu.Unlock()
	if err := sess.conn.Ping(ctx); err != nil {
		// The deadline stays armed and decides, unless the socket is
		// going away anyway.
		if sess.isClosing() {
			deadline.Stop()
		}
		return
	}
	if !deadline.Stop() {
		return // the deadline fired meanwhile and closes the socket
	}
	sess.mu.Lock()
	if !sess.closing && sess.pingTimer != nil {
		sess.pingTimer.Reset(s.cfg.PingInterval)
	}
	sess.mu.Unlock()
	s.note(JournalEntry{Kind: JournalKeepalive, GatewayID: sess.gw.GatewayID, SessionID: sess.id, Detail: "pong received"})
}

// keepaliveExpired closes a socket whose ping got no pong in time.
func (sess *session) keepaliveExpired() {
	s := sess.srv
	if sess.isClosing() {
		return
	}
	s.note(JournalEntry{Kind: JournalKeepalive, GatewayID: sess.gw.GatewayID, SessionID: sess.id,
		Detail: "no pong within " + s.cfg.PingTimeout.String()})
	sess.closeStalled(contract.CloseInternalError, contract.ReasonKeepaliveTimeout, &s.metrics.stalledKeepalive)
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

var errNoSession = errors.New("no open socket")

// CloseSession closes every open socket of a gateway now with code and
// reason, and returns how many it closed.
func (s *Server) CloseSession(gatewayID string, code int, reason string) (int, error) {
	if code < 1000 || code > 4999 || (code >= 1004 && code <= 1006) || code == 1015 {
		return 0, badRequest("code", "%d cannot be sent in a close frame", code)
	}
	if len(reason) > 123 {
		return 0, badRequest("reason", "at most 123 bytes")
	}
	s.mu.RLock()
	var victims []*session
	for _, sess := range s.sessions {
		if sess.gw.GatewayID == gatewayID {
			victims = append(victims, sess)
		}
	}
	s.mu.RUnlock()
	if len(victims) == 0 {
		return 0, &RequestError{Status: 404, Field: "gatewayId", Message: fmt.Sprintf("%v for gateway %q", errNoSession, gatewayID)}
	}
	for _, sess := range victims {
		s.note(JournalEntry{Kind: JournalFault, GatewayID: gatewayID, SessionID: sess.id, Code: code, Reason: reason, Detail: "session closed on request"})
		sess.closeAsync(code, reason)
	}
	return len(victims), nil
}
