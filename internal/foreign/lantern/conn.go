package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// Why lantern closed a connection itself.
const (
	whyNone       = ""
	whyDormant    = "dormant"
	whyShutdown   = "shutdown"
	whyProtocol   = "invalid descriptor"
	whyKeepalive  = "keepalive"
	whyHandshake  = "handshake timeout"
	whyFrameLimit = "frame too large"
)

// conn is one WebSocket to the connector, from dial to close.
type conn struct {
	g     *gateway
	ws    *websocket.Conn
	n     int  // dial number, for logs
	fresh bool // opened by the fresh-token dial (RC-012)
	log   *slog.Logger

	mu          sync.Mutex
	descs       map[string]descriptor
	def         *descriptor
	firstDescAt time.Time
	pending     map[string][]*call
	closed      bool
	why         string
	idleAck     chan struct{}
	handshaked  chan struct{}
	done        chan struct{}
}

// call is one outbound action waiting for its result.
type call struct {
	ch      chan result
	written bool
}

// result is what lantern reads of an outbound_result, or makes itself.
type result struct {
	Success   bool   `json:"success"`
	MessageID string `json:"message_id"`
	Error     string `json:"error"`
	Code      string `json:"code"`
	Ambiguous bool   `json:"ambiguous"`
}

// maxPending bounds the calls in flight on one connection.
const maxPending = 1024

// end says how a connection ended.
type end struct {
	code        int
	reason      string
	why         string
	gotDesc     bool
	firstDescAt time.Time
	at          time.Time
}

// dial opens one connection with a freshly minted token (AUTH-001). An
// HTTP refusal or a network error comes back as an error (RC-008).
func (g *gateway) dial(ctx context.Context, n int) (*conn, error) {
	h := http.Header{}
	if g.gatewayID() != "" && g.secretValue() != "" {
		h.Set("Authorization", "Bearer "+mintToken(g.gatewayID(), g.secretValue(), time.Now(), g.cfg.tokenTTL))
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(dctx, g.cfg.dialURL, &websocket.DialOptions{HTTPHeader: h, HTTPClient: g.wsHTTP})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("upgrade refused with HTTP %d", resp.StatusCode)
		}
		return nil, err
	}
	// Messages are streamed through lines.feed, which caps each frame
	// at 1 MiB whatever the size of the message that batches them.
	ws.SetReadLimit(-1)
	c := &conn{g: g, ws: ws, n: n, log: g.log.With("conn", n), descs: map[string]descriptor{},
		pending: map[string][]*call{}, handshaked: make(chan struct{}), done: make(chan struct{})}
	return c, nil
}

// run serves the connection until it closes: hellos, keepalive, the
// handshake timer and the reader. It returns how the connection ended.
func (c *conn) run() end {
	g := c.g
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.keepalive() }()
	go func() { defer wg.Done(); c.handshakeTimer() }()

	c.sendHellos()
	err := c.readLoop()

	code, reason := -1, ""
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		code, reason = int(ce.Code), ce.Reason
	}
	c.mu.Lock()
	c.closed = true
	pend := c.pending
	c.pending = map[string][]*call{}
	e := end{code: code, reason: reason, why: c.why, gotDesc: c.def != nil, firstDescAt: c.firstDescAt, at: time.Now()}
	if c.idleAck != nil {
		c.idleAck = nil
	}
	c.mu.Unlock()
	close(c.done)
	// Fail every pending call at once (RC-009): a written frame may have
	// taken effect, so it is ambiguous (OUT-030).
	for _, list := range pend {
		for _, cl := range list {
			cl.ch <- result{Error: "relay connection lost", Ambiguous: cl.written}
		}
	}
	c.ws.CloseNow()
	wg.Wait()
	g.log.Info("connection ended", "conn", c.n, "code", code, "reason", reason, "why", e.why, "err", errString(err))
	return e
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// sendHellos writes one hello per identity, in configured order, without
// waiting for descriptors (HS-003).
func (c *conn) sendHellos() {
	ids := append([]identity(nil), c.g.cfg.identities...)
	if c.g.dev == devHellosSorted {
		sort.Slice(ids, func(i, j int) bool { return ids[i].platform < ids[j].platform })
	}
	for _, id := range ids {
		h := helloFrame{Type: "hello", Platform: id.platform, BotID: id.botID}
		if id.platform == "discord" {
			h.Manifest = commandManifest
		}
		if err := c.writeFrame(h); err != nil {
			c.log.Warn("hello not written", "platform", id.platform, "err", err)
			return
		}
	}
}

type helloFrame struct {
	Type     string          `json:"type"`
	Platform string          `json:"platform"`
	BotID    string          `json:"botId"`
	Manifest []manifestEntry `json:"command_manifest,omitempty"`
}

type manifestEntry struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// commandManifest announces lantern's commands to Discord (HS-002).
var commandManifest = []manifestEntry{
	{"stream", "stream the given words"},
	{"prompt", "ask for a choice between two fruits"},
	{"media", "send a small file"},
	{"interrupt", "interrupt this session"},
}

// handshakeTimer closes a connection that got no descriptor in time
// (HS-019).
func (c *conn) handshakeTimer() {
	d := c.g.cfg.handshakeTimeout
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.handshaked:
	case <-c.done:
	case <-t.C:
		c.log.Warn("no descriptor in time; closing", "timeout", d)
		c.closeWith(websocket.StatusProtocolError, "no descriptor", whyHandshake)
	}
}

// keepalive pings on lantern's own schedule: the first ping at a random
// point of the second half of the interval, so that gateways started
// together do not ping in step, then one every interval after the last
// pong; no pong within the timeout closes 1011 (TRN-011).
func (c *conn) keepalive() {
	iv := c.g.cfg.pingInterval
	if iv <= 0 {
		return
	}
	t := time.NewTimer(iv/2 + rand.N(iv/2+1))
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.g.cfg.pingTimeout)
		go func() {
			select {
			case <-c.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		err := c.ws.Ping(ctx)
		timedOut := ctx.Err() == context.DeadlineExceeded
		cancel()
		if err != nil {
			if timedOut {
				c.log.Warn("no pong; closing", "timeout", c.g.cfg.pingTimeout)
				c.closeWith(websocket.StatusInternalError, "keepalive timeout", whyKeepalive)
			}
			return
		}
		t.Reset(iv)
	}
}

// closeWith closes the connection from lantern's side, once.
func (c *conn) closeWith(code websocket.StatusCode, reason, why string) {
	c.mu.Lock()
	if c.why == whyNone {
		c.why = why
	}
	c.mu.Unlock()
	go func() { _ = c.ws.Close(code, reason) }()
}

// readLoop reads messages until the connection ends, streaming each in
// chunks. Text and binary messages are read alike (TRN-016); lines are
// reassembled across chunks and messages (TRN-005); a frame over 1 MiB
// closes 1009 "frame too large".
func (c *conn) readLoop() error {
	var ls lines
	chunk := make([]byte, 32<<10)
	for {
		_, r, err := c.ws.Reader(context.Background())
		if err != nil {
			return err
		}
		for {
			n, err := r.Read(chunk)
			if n > 0 {
				if ferr := ls.feed(chunk[:n], c.handleLine); ferr != nil {
					c.mu.Lock()
					if c.why == whyNone {
						c.why = whyFrameLimit
					}
					c.mu.Unlock()
					_ = c.ws.Close(websocket.StatusMessageTooBig, "frame too large")
					return ferr
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
	}
}

// handleLine dispatches one frame. Blank lines are skipped (TRN-017); a
// line that is not UTF-8, not JSON or not an object is logged and skipped
// (TRN-010, TRN-016); unknown types are ignored (TRN-004); a failing
// handler is contained (TRN-019).
func (c *conn) handleLine(line []byte) {
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("frame handler failed; reading on", "panic", fmt.Sprint(r))
		}
	}()
	if !utf8.Valid(line) {
		c.log.Warn("skipping a line that is not UTF-8", "bytes", len(line))
		return
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil || m == nil {
		what := "not JSON"
		if json.Valid(line) {
			what = "not a JSON object"
		}
		c.log.Warn("skipping a malformed line", "problem", what, "bytes", len(line))
		return
	}
	var typ string
	_ = json.Unmarshal(m["type"], &typ)
	switch typ {
	case "descriptor":
		c.onDescriptor(m["descriptor"])
	case "outbound_result":
		c.onResult(m)
	case "inbound":
		c.g.onInbound(c, m)
	case "passthrough_forward":
		c.g.onForward(c, m)
	case "interrupt_inbound":
		c.g.onInterrupt(m)
	case "going_idle_ack":
		c.mu.Lock()
		if c.idleAck != nil {
			close(c.idleAck)
			c.idleAck = nil
		}
		c.mu.Unlock()
	default:
		c.log.Debug("ignoring a frame of unknown type", "type", typ)
	}
}

// onDescriptor keeps the first descriptor as the connection's default and
// each one under its platform (HS-018); an invalid one closes 1002
// (HS-021).
func (c *conn) onDescriptor(raw json.RawMessage) {
	d, err := parseDescriptor(raw)
	if err != nil {
		c.log.Warn("invalid descriptor; closing", "err", err)
		c.closeWith(websocket.StatusProtocolError, "invalid descriptor", whyProtocol)
		return
	}
	c.mu.Lock()
	first := c.def == nil
	if first {
		c.def = &d
		c.firstDescAt = time.Now()
		close(c.handshaked)
	}
	if d.platform != "" {
		c.descs[d.platform] = d
	}
	c.mu.Unlock()
	if first {
		c.g.onHandshake(c)
	}
	c.log.Info("descriptor", "platform", d.platform, "max_message_length", d.maxLen, "len_unit", d.lenUnit)
}

// descFor returns the descriptor an action toward platform is shaped and
// gated by (HS-022): that platform's, else the connection default, else
// the placeholder.
func (c *conn) descFor(platform string) descriptor {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.descs[platform]; ok && platform != "" {
		return d
	}
	if c.def != nil {
		return *c.def
	}
	return placeholder(c.g.cfg.identities[0].platform)
}

// defaultDesc returns the connection's default descriptor.
func (c *conn) defaultDesc() descriptor { return c.descFor("") }

// onResult settles the oldest call waiting on the result's requestId;
// unknown and settled ids are ignored (OUT-018).
func (c *conn) onResult(m map[string]json.RawMessage) {
	var rid string
	if json.Unmarshal(m["requestId"], &rid) != nil || rid == "" {
		return
	}
	var r result
	if json.Unmarshal(m["result"], &r) != nil {
		r = result{Error: "malformed result"}
	}
	r.Ambiguous = false // only lantern marks its own calls ambiguous
	c.mu.Lock()
	list := c.pending[rid]
	var cl *call
	if len(list) > 0 {
		cl = list[0]
		if len(list) == 1 {
			delete(c.pending, rid)
		} else {
			c.pending[rid] = list[1:]
		}
	}
	c.mu.Unlock()
	if cl == nil {
		c.log.Debug("ignoring a result for an unknown or settled requestId", "requestId", rid)
		return
	}
	cl.ch <- r
}

// writeFrame encodes v and writes it as its own text message (TRN-013).
func (c *conn) writeFrame(v any) error {
	b, err := encodeFrame(v)
	if err != nil {
		return err
	}
	return c.write(b)
}

func (c *conn) write(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// outboundFrame is an outbound, tagged with its destination platform
// whenever the connector fronts it on this connection.
type outboundFrame struct {
	Type      string `json:"type"`
	Platform  string `json:"platform,omitempty"`
	BotID     string `json:"botId,omitempty"`
	RequestID string `json:"requestId"`
	Action    any    `json:"action"`
}

// call sends one action and waits for its result. A call that cannot be
// written fails at once without ambiguous; one written but unanswered in
// time is ambiguous (OUT-012).
func (c *conn) call(ctx context.Context, platform string, action any) result {
	rid, cl, r, ok := c.send(platform, action)
	if !ok {
		return r
	}
	return c.await(ctx, rid, cl)
}

// fire writes an action whose result nobody reads (typing); its pending
// entry is settled in the background.
func (c *conn) fire(platform string, action any) {
	rid, cl, _, ok := c.send(platform, action)
	if ok {
		go c.await(context.Background(), rid, cl)
	}
}

// send registers and writes one outbound frame. ok is false when the frame
// was not written; r then says why.
func (c *conn) send(platform string, action any) (rid string, cl *call, r result, ok bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return "", nil, result{Error: "relay not connected"}, false
	}
	n := 0
	for _, l := range c.pending {
		n += len(l)
	}
	if n >= maxPending {
		c.mu.Unlock()
		return "", nil, result{Error: "too many calls in flight"}, false
	}
	tag, bot := "", ""
	if _, ok := c.descs[platform]; ok && platform != "" {
		tag = platform
		bot = c.g.botID(platform)
	}
	rid = newRequestID(time.Now())
	if c.g.dev == devContentAddressedIDs {
		rid = contentRequestID(tag, action)
	}
	cl = &call{ch: make(chan result, 1)}
	c.pending[rid] = append(c.pending[rid], cl)
	c.mu.Unlock()

	b, err := encodeFrame(outboundFrame{Type: "outbound", Platform: tag, BotID: bot, RequestID: rid, Action: action})
	if err == nil {
		c.mu.Lock()
		cl.written = true // set before the write: a drop mid-write is ambiguous
		c.mu.Unlock()
		err = c.write(b)
	}
	if err != nil {
		if c.drop(rid, cl) {
			return "", nil, result{Error: "relay send failed: " + err.Error()}, false
		}
		return "", nil, <-cl.ch, false
	}
	return rid, cl, result{}, true
}

// await waits for a written call's result, the result timeout or ctx.
func (c *conn) await(ctx context.Context, rid string, cl *call) result {
	t := time.NewTimer(c.g.cfg.resultTimeout)
	defer t.Stop()
	select {
	case r := <-cl.ch:
		return r
	case <-t.C:
		if c.drop(rid, cl) {
			return result{Error: "relay outbound timed out", Ambiguous: true}
		}
		return <-cl.ch
	case <-ctx.Done():
		if c.drop(rid, cl) {
			return result{Error: "cancelled: " + context.Cause(ctx).Error(), Ambiguous: true}
		}
		return <-cl.ch
	}
}

// drop removes a pending call; false when a result or the connection's
// end already settled it.
func (c *conn) drop(rid string, cl *call) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.pending[rid]
	for i, x := range list {
		if x == cl {
			list = append(list[:i:i], list[i+1:]...)
			if len(list) == 0 {
				delete(c.pending, rid)
			} else {
				c.pending[rid] = list
			}
			return true
		}
	}
	return false
}

// ack acknowledges a buffered delivery.
func (c *conn) ack(bufferID string) {
	if err := c.writeFrame(struct {
		Type     string `json:"type"`
		BufferID string `json:"bufferId"`
	}{"inbound_ack", bufferID}); err != nil {
		c.log.Warn("ack not written", "bufferId", bufferID, "err", err)
		return
	}
	c.log.Debug("acked", "bufferId", bufferID)
}

// goIdle sends going_idle and waits up to wait for going_idle_ack; the
// reader goes on handling frames meanwhile (IDLE-006).
func (c *conn) goIdle(wait time.Duration) bool {
	ch := make(chan struct{})
	c.mu.Lock()
	if c.closed || c.idleAck != nil {
		c.mu.Unlock()
		return false
	}
	c.idleAck = ch
	c.mu.Unlock()
	if err := c.writeFrame(struct {
		Type string `json:"type"`
	}{"going_idle"}); err != nil {
		c.mu.Lock()
		c.idleAck = nil
		c.mu.Unlock()
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
	case <-c.done:
	}
	c.mu.Lock()
	if c.idleAck == ch {
		c.idleAck = nil
	}
	c.mu.Unlock()
	select {
	case <-ch: // the ack raced the deadline
		return true
	default:
		return false
	}
}
