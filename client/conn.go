package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// closeWhy records why the client itself closed a connection, which decides
// what the supervisor does next.
type closeWhy int

const (
	whyNone      closeWhy = iota
	whyClient             // Close
	whyDormant            // GoDormant
	whyProtocol           // invalid descriptor, no descriptor in time
	whyKeepalive          // no pong in time
	whyTooBig             // frame over the cap
)

// conn is one WebSocket connection and everything tied to its life: the
// reader, the keepalive, the handshake timer and the calls waiting for
// results on it. It is the session the Client's supervisor supervises:
// the supervisor dials and installs it, and plans the next dial from how
// it ended.
type conn struct {
	c      *Client
	ws     *websocket.Conn
	id     uint64
	second bool // opened by the fresh-token dial: a 4401 on it is terminal
	log    *slog.Logger
	cork   *corkConn // nil when the transport could not be wrapped

	hs      chan struct{} // closed on the first descriptor
	helloed chan struct{} // closed once the hellos are written (or failed)
	hsDone  atomic.Bool
	descs   atomic.Pointer[descSet]
	done    chan struct{} // closed when the reader exited and calls failed
	abort   chan struct{} // closed when the client decided to close it
	wg      sync.WaitGroup

	mu          sync.Mutex
	installed   bool // the supervisor made it the live connection
	calls       map[string]*call
	reuseQ      []string // requestid-reuse deviation: internal ids in send order
	dead        bool
	why         closeWhy
	sentCode    int    // the code of the client's own close
	sent        string // and its reason
	firstDescAt time.Time
	hsTimer     clock.Timer
	// droppedCode and droppedReason are the close closeStalled meant to
	// send when it dropped the connection instead.
	droppedCode   int
	droppedReason string

	writing atomic.Int32 // writes in progress, stuck ones included

	// Outcome, valid once done is closed.
	code   int
	reason string
	err    error
}

func newConn(c *Client, ws *websocket.Conn, id uint64, second bool) *conn {
	cn := &conn{
		c: c, ws: ws, id: id, second: second,
		log:     c.log.With(slog.Uint64("conn", id)),
		hs:      make(chan struct{}),
		helloed: make(chan struct{}),
		done:    make(chan struct{}),
		abort:   make(chan struct{}),
		calls:   make(map[string]*call),
	}
	cn.descs.Store(newDescSet())
	return cn
}

// start launches the reader, the keepalive and the handshake timer.
func (cn *conn) start() {
	cn.mu.Lock()
	cn.hsTimer = cn.c.clk.AfterFunc(cn.c.opts.HandshakeTimeout, func() {
		if !cn.hsDone.Load() {
			cn.log.Warn("relay handshake timed out: no descriptor", slog.Duration("timeout", cn.c.opts.HandshakeTimeout))
			cn.closeWith(contract.CloseProtocolError, reasonNoDescriptor, whyProtocol)
		}
	})
	cn.mu.Unlock()
	if cn.c.opts.PingInterval > 0 {
		cn.wg.Add(1)
		go cn.keepalive()
	}
	go cn.readLoop()
}

// write sends one encoded frame (newline included) as its own text
// message. The write is not bound to a context: a stuck write ends when the
// connection is closed, which keepalive (even when the stuck write keeps
// its ping from going out) and Close guarantee. On failure,
// maybeSent reports whether the frame may still have reached the peer.
func (cn *conn) write(frame []byte) (maybeSent bool, err error) {
	if cn.c.dev.Has(deviation.ClientNoNewline) && len(frame) > 0 && frame[len(frame)-1] == '\n' {
		frame = frame[:len(frame)-1]
	}
	cn.writing.Add(1)
	defer cn.writing.Add(-1)
	if cn.cork == nil {
		// coder/websocket completes a frame or fails it: a failed frame
		// is never whole on the wire.
		return false, cn.ws.Write(context.Background(), websocket.MessageText, frame)
	}
	start := cn.cork.hold()
	err = cn.ws.Write(context.Background(), websocket.MessageText, frame)
	maybeSent, ferr := cn.cork.release(start)
	if err != nil {
		return maybeSent, err
	}
	return maybeSent, ferr
}

// writeFrame encodes and writes f.
func (cn *conn) writeFrame(f contract.Frame) error {
	bp := getBuf()
	defer putBuf(bp)
	b, err := contract.AppendFrame((*bp)[:0], f)
	if err != nil {
		return err
	}
	*bp = b
	_, err = cn.write(b)
	return err
}

// sendFrame writes f once the hellos are out, so an ack, interrupt or
// going_idle never precedes them.
func (cn *conn) sendFrame(f contract.Frame) error {
	if err := cn.awaitHellos(); err != nil {
		return err
	}
	return cn.writeFrame(f)
}

func (cn *conn) awaitHellos() error {
	select {
	case <-cn.helloed:
		return nil
	case <-cn.abort:
		return ErrConnectionLost
	case <-cn.done:
		return ErrConnectionLost
	}
}

// closeWith starts a close handshake with code and reason, once, without
// blocking the caller (the reader itself may be the caller).
func (cn *conn) closeWith(code int, reason string, why closeWhy) {
	cn.mu.Lock()
	if cn.dead || cn.why != whyNone {
		cn.mu.Unlock()
		return
	}
	cn.why, cn.sentCode, cn.sent = why, code, reason
	close(cn.abort)
	cn.wg.Add(1)
	cn.mu.Unlock()
	go func() {
		defer cn.wg.Done()
		_ = cn.ws.Close(websocket.StatusCode(code), reason)
	}()
}

// reasonNoDescriptor is the reason of the client's close when no
// descriptor came within HandshakeTimeout.
const reasonNoDescriptor = "no descriptor"

// sentClose returns the code and reason of the client's own close, if it
// closed.
func (cn *conn) sentClose() (int, string) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.sentCode, cn.sent
}

// closeStalled closes a connection whose peer stopped answering. A write
// stuck on a full TCP buffer holds the socket (and coder/websocket's write
// lock, when the transport is not corked), so a close frame could not go
// out behind it: the connection is dropped at once instead, which also ends
// the stuck write. The outcome is recorded with code and reason, since no
// close frame will come back.
func (cn *conn) closeStalled(code int, reason string, why closeWhy) {
	if cn.writing.Load() == 0 {
		cn.closeWith(code, reason, why)
		return
	}
	cn.mu.Lock()
	if cn.dead || cn.why != whyNone {
		cn.mu.Unlock()
		return
	}
	cn.why, cn.sentCode, cn.sent = why, code, reason
	cn.droppedCode, cn.droppedReason = code, reason
	close(cn.abort)
	cn.wg.Add(1)
	cn.mu.Unlock()
	go func() {
		defer cn.wg.Done()
		_ = cn.ws.CloseNow()
	}()
}

// closeReason returns why the client closed the connection, if it did.
func (cn *conn) closeReason() closeWhy {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.why
}

// readLoop reads messages until the socket ends, feeding complete lines to
// dispatch. Nothing a connector sends can end it except a close or an
// oversized frame: malformed lines are logged and skipped (TRN-010), and a
// panic while handling one line is recovered.
func (cn *conn) readLoop() {
	defer cn.finish()
	split := contract.LineSplitter{MaxFrameSize: cn.c.opts.MaxFrameSize}
	// A message may hold several frames; allow a few maximal ones before
	// the socket-level limit closes 1009.
	cn.ws.SetReadLimit(int64(cn.c.opts.MaxFrameSize)*4 + 1)
	var buf bytes.Buffer
	for {
		typ, r, err := cn.ws.Reader(context.Background())
		if err != nil {
			cn.setOutcome(err)
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			cn.setOutcome(err)
			return
		}
		msg := buf.Bytes()
		if typ == websocket.MessageBinary && !utf8.Valid(msg) {
			cn.log.Warn("relay skipped a binary message that is not UTF-8", slog.Int("bytes", len(msg)))
			continue
		}
		if err := split.Feed(msg, cn.dispatchLine); err != nil {
			if errors.Is(err, contract.ErrFrameTooLarge) {
				cn.log.Warn("relay frame too large", slog.String("err", err.Error()))
				cn.closeWith(contract.CloseTooBig, contract.ReasonFrameTooLarge, whyTooBig)
				split = contract.LineSplitter{MaxFrameSize: cn.c.opts.MaxFrameSize}
			}
		}
		if buf.Cap() > 64<<10 {
			// Do not pin a large buffer for the connection's life.
			buf = bytes.Buffer{}
		}
	}
}

// setOutcome records how the socket ended.
func (cn *conn) setOutcome(err error) {
	cn.err = err
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		cn.code, cn.reason = int(ce.Code), ce.Reason
		return
	}
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.droppedCode != 0 {
		// closeStalled dropped it: that is the close that happened.
		cn.code, cn.reason = cn.droppedCode, cn.droppedReason
		return
	}
	cn.code = 1006 // closed without a close frame
}

// finish tears the connection down after the reader exited: it fails every
// pending call at once, waits for the keepalive and closer, and marks the
// connection done.
func (cn *conn) finish() {
	cn.mu.Lock()
	cn.dead = true
	calls := cn.calls
	cn.calls = nil
	cn.reuseQ = nil
	if cn.hsTimer != nil {
		cn.hsTimer.Stop()
	}
	if cn.why == whyNone {
		close(cn.abort)
	}
	cn.mu.Unlock()

	lost, cause := contract.Result{Error: ErrConnectionLost.Error(), Ambiguous: true}, ErrConnectionLost
	if cn.c.closing.Load() {
		lost, cause = contract.Result{Error: "relay send failed: " + ErrClosed.Error(), Ambiguous: true}, ErrClosed
	}
	for _, cl := range calls {
		cl.fail(lost, cause)
	}
	cn.wg.Wait()
	_ = cn.ws.CloseNow()
	close(cn.done)
}

// keepalive pings every PingInterval and closes 1011 when a pong does not
// come within PingTimeout. Both timers run on the client's clock. The
// deadline does not depend on Ping returning: when a write is stuck on a
// connector that stopped reading, the ping cannot even be written, and
// coder/websocket gives up on it after its own 5 s (on the wall clock) with
// an error that says nothing about the peer. A ping that fails that way is
// no answer either, so the deadline still closes the connection.
func (cn *conn) keepalive() {
	defer cn.wg.Done()
	clk := cn.c.clk
	t := clk.NewTimer(cn.c.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-cn.abort:
			return
		case <-t.C():
		}
		ctx, cancel := context.WithCancel(context.Background())
		expired := make(chan struct{})
		deadline := clk.AfterFunc(cn.c.opts.PingTimeout, func() { close(expired); cancel() })
		go func() {
			// Abort the ping when the connection is being closed anyway.
			select {
			case <-cn.abort:
				cancel()
			case <-ctx.Done():
			}
		}()
		if err := cn.ws.Ping(ctx); err == nil && deadline.Stop() {
			cancel()
			t.Reset(cn.c.opts.PingInterval)
			continue
		}
		select {
		case <-expired:
			cancel()
			cn.log.Warn("relay keepalive timed out", slog.Duration("timeout", cn.c.opts.PingTimeout))
			cn.closeStalled(contract.CloseInternalError, contract.ReasonKeepaliveTimeout, whyKeepalive)
		case <-cn.abort:
			deadline.Stop()
			cancel()
		}
		return
	}
}

// dispatchLine handles one frame line. It never returns an error: a bad line
// must not end the reader.
func (cn *conn) dispatchLine(line []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			cn.log.Error("relay recovered from a panic while handling a frame", slog.Any("panic", p))
		}
	}()
	select {
	case <-cn.abort:
		return nil // closing: the rest of the stream is not ours to act on
	default:
	}
	if cn.fastResult(line) {
		return nil
	}
	f, err := contract.DecodeFrame(line)
	if err != nil {
		if isDescriptorLine(line) {
			cn.log.Warn("relay received an invalid descriptor", slog.String("err", err.Error()))
			cn.closeWith(contract.CloseProtocolError, contract.ReasonInvalidDescriptor, whyProtocol)
			return nil
		}
		cn.log.Warn("relay skipped a malformed frame", slog.String("err", err.Error()), slog.Int("bytes", len(line)))
		return nil
	}
	switch f := f.(type) {
	case contract.DescriptorFrame:
		cn.onDescriptor(f.Descriptor)
	case contract.OutboundResult:
		cn.onResult([]byte(f.RequestID), f.Result)
	case contract.Inbound:
		cn.c.onInbound(cn, f)
	case contract.InterruptInbound:
		cn.c.onInterrupt(f)
	case contract.GoingIdleAck:
		cn.c.onGoingIdleAck()
	case contract.PassthroughForward:
		cn.c.onPassthrough(cn, f)
	default:
		// Unknown types, and echoes of our own frame types, are ignored
		// (TRN-004).
	}
	return nil
}

// isDescriptorLine reports whether a line that failed to decode claims to be
// a descriptor frame.
func isDescriptorLine(line []byte) bool {
	var probe struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(line, &probe) == nil && probe.Type == contract.TypeDescriptor
}

func (cn *conn) onDescriptor(d contract.CapabilityDescriptor) {
	now := cn.c.clk.Now()
	cn.mu.Lock()
	next := cn.descs.Load().with(d)
	cn.descs.Store(next)
	installed := cn.installed
	if installed {
		cn.c.descs.Store(next)
	}
	first := !cn.hsDone.Load()
	if first {
		cn.hsDone.Store(true)
		cn.firstDescAt = now
		if cn.hsTimer != nil {
			cn.hsTimer.Stop()
		}
	}
	cn.mu.Unlock()
	if !first {
		return
	}
	c := cn.c
	c.mu.Lock()
	c.everHandshaked = true
	c.dormant = false
	c.mu.Unlock()
	close(cn.hs)
	if installed {
		// Otherwise install reports the handshake, after "connected".
		c.reportHandshake(d.Platform)
	}
}

// reportHandshake tells observers and Connect that the live connection
// handshaked.
func (c *Client) reportHandshake(platform string) {
	c.emit(StateEvent{State: StateHandshaked, Platform: platform, Attempt: c.attemptNow()})
	c.firstHSOnce.Do(func() { close(c.firstHS) })
}

func (cn *conn) onResult(id []byte, r contract.Result) {
	cn.mu.Lock()
	if cn.c.dev.Has(deviation.ClientRequestIDReuse) && string(id) == reusedRequestID && len(cn.reuseQ) > 0 {
		id = []byte(cn.reuseQ[0])
		cn.reuseQ = cn.reuseQ[1:]
	}
	cl := cn.calls[string(id)] // no allocation for the lookup
	if cl != nil {
		delete(cn.calls, cl.key)
	}
	cn.mu.Unlock()
	if cl == nil {
		// Unknown or late: the call already timed out or was cancelled.
		cn.log.Debug("relay ignored a result for no pending call", slog.String("request_id", string(id)))
		return
	}
	cl.resolve(r)
}

// fastResult hands the frame a gateway receives most, an outbound_result
// in the shape connectors write, to contract.ScanOutboundResult, which
// decodes it in one pass without allocating for the frame, and reports
// whether it handled the line. Anything else goes to DecodeFrame.
func (cn *conn) fastResult(line []byte) bool {
	id, r, ok := contract.ScanOutboundResult(line)
	if ok {
		cn.onResult(id, r)
	}
	return ok
}

// bufPool recycles frame encoding buffers.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 64<<10 {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// describeClose renders a close for logs and errors.
func describeClose(code int, reason string) string {
	if reason == "" {
		return fmt.Sprintf("close %d", code)
	}
	return fmt.Sprintf("close %d %q", code, reason)
}
