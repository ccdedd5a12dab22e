package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/contract"
)

// front is the connector the gateway under test dials in the gateway suite.
// It relays every WebSocket message between the gateway and an in-process
// simulator (which supplies the connector's behaviour: descriptors, results,
// buffering, drain), and records and checks each message on the way. Cases
// script it: refuse or close dials, rewrite or hold frames going to the
// gateway, answer outbound frames themselves, and write raw frames.
type front struct {
	s        *S
	srv      *httptest.Server
	upstream string // the simulator's relay URL
	rp       *httputil.ReverseProxy

	mu     sync.Mutex
	dials  []*GWDial
	conns  []*GWConn
	frames []GWFrame
	taken  []bool
	wake   chan struct{}

	// onDial, when set, decides what happens to each dial.
	onDial func(d *GWDial) DialPlan
	// down, when set, may rewrite or drop (nil) each message the simulator
	// sends the gateway.
	down func(c *GWConn, msg []byte) []byte
	// intercept, when set, keeps a frame from the gateway away from the
	// simulator when it returns true.
	intercept func(c *GWConn, f GWFrame) bool

	// https records the gateway's plain HTTP requests (front_http.go).
	https []GWHTTP
	// onHTTP, when set, may answer an HTTP request instead of the
	// simulator.
	onHTTP func(req GWHTTP) (HTTPAnswer, bool)
	// identityToken, when set, is what the front's identity provider
	// issues at idpTokenPath.
	identityToken string
	// elsewhere is a second origin, started on demand.
	elsewhere *httptest.Server
}

// GWDial is one upgrade request from the gateway.
type GWDial struct {
	N        int
	At       time.Time
	Path     string
	Token    string // "" when no bearer was sent
	Claims   contract.TokenClaims
	TokenErr error
	Refused  int // HTTP status when refused before upgrading
	Conn     *GWConn
}

// DialPlan is what the front does with a dial.
type DialPlan struct {
	// RefuseHTTP answers the upgrade with this HTTP status.
	RefuseHTTP int
	// CloseCode, when set, completes the upgrade and closes at once with
	// this code and reason, without reaching the simulator.
	CloseCode   int
	CloseReason string
}

// GWConn is one gateway connection through the front.
type GWConn struct {
	f        *front
	n        int
	who      string
	Ws       *websocket.Conn // to the gateway
	up       *websocket.Conn // to the simulator; nil when not relayed
	ctx      context.Context
	cancel   context.CancelFunc
	openedAt time.Time

	mu          sync.Mutex
	descriptors int
	// unterminated is set when the gateway sent a message without its
	// trailing newline: the connector behind the front never processes it.
	unterminated bool
	closed       bool
	closeCode    int
	closeReason  string
	closedBy     string // "gateway", "suite" or "connector"
	closedAt     time.Time
	pings        int
	done         chan struct{}
}

// GWFrame is one frame the gateway sent.
type GWFrame struct {
	Conn   int
	Type   string
	Line   []byte
	Obj    map[string]any
	Binary bool
	At     time.Time
}

func (f GWFrame) Str(key string) string {
	v, _ := f.Obj[key].(string)
	return v
}

func (f GWFrame) String() string { return Truncate(string(f.Line), 300) }

func newFront(s *S, upstream, httpBase string) *front {
	f := &front{s: s, upstream: upstream, wake: make(chan struct{})}
	target, _ := url.Parse(httpBase)
	f.rp = httputil.NewSingleHostReverseProxy(target)
	// A request the gateway abandons (it is stopping) is no error of the
	// suite: note it in the transcript instead of the process's stderr.
	f.rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		s.Tr.Event("http", "%s %s: relaying to the simulator failed: %v", r.Method, r.URL.Path, err)
		w.WriteHeader(http.StatusBadGateway)
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

func (f *front) URL() string { return f.srv.URL }

func (f *front) notifyLocked() {
	close(f.wake)
	f.wake = make(chan struct{})
}

func (f *front) close() {
	f.mu.Lock()
	conns := append([]*GWConn(nil), f.conns...)
	f.mu.Unlock()
	for _, c := range conns {
		c.kill()
	}
	f.srv.Close()
	f.mu.Lock()
	elsewhere := f.elsewhere
	f.mu.Unlock()
	if elsewhere != nil {
		elsewhere.Close()
	}
}

func (f *front) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		f.serveHTTP("front", w, r, f.rp)
		return
	}
	d := &GWDial{At: time.Now(), Path: r.URL.Path}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		d.Token = tok
		d.Claims, _, d.TokenErr = contract.ParseToken(tok)
		f.s.Tr.Redact(tok)
	}
	f.mu.Lock()
	f.dials = append(f.dials, d)
	d.N = len(f.dials)
	plan := DialPlan{}
	if f.onDial != nil {
		plan = f.onDial(d)
	}
	f.notifyLocked()
	f.mu.Unlock()
	who := fmt.Sprintf("g%d", d.N)
	auth := "no Authorization"
	if d.Token != "" {
		auth = "Authorization: Bearer " + DescribeToken(d.Token)
	}
	f.s.Tr.Event(who, "gateway dials %s (%s)", r.URL.Path, auth)

	if plan.RefuseHTTP != 0 {
		f.s.Tr.Event(who, "suite refuses the upgrade with HTTP %d", plan.RefuseHTTP)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(plan.RefuseHTTP)
		_, _ = w.Write([]byte(`{"error":"refused by the conformance suite"}`))
		f.mu.Lock()
		d.Refused = plan.RefuseHTTP
		f.notifyLocked()
		f.mu.Unlock()
		return
	}
	var up *websocket.Conn
	if plan.CloseCode == 0 {
		h := http.Header{}
		if a := r.Header.Get("Authorization"); a != "" {
			h.Set("Authorization", a)
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		conn, resp, err := websocket.Dial(ctx, f.upstream, &websocket.DialOptions{HTTPHeader: h})
		cancel()
		if err != nil {
			st := http.StatusBadGateway
			if resp != nil {
				st = resp.StatusCode
			}
			f.s.Tr.Event(who, "simulator refused the relayed upgrade: %v", err)
			w.WriteHeader(st)
			f.mu.Lock()
			d.Refused = st
			f.notifyLocked()
			f.mu.Unlock()
			return
		}
		conn.SetReadLimit(8 * contract.MaxFrameSize)
		up = conn
	}
	c := &GWConn{f: f, n: d.N, who: who, up: up, openedAt: time.Now(), done: make(chan struct{})}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		OnPingReceived: func(context.Context, []byte) bool {
			c.mu.Lock()
			c.pings++
			c.mu.Unlock()
			f.s.Tr.Event(who, "ping from the gateway")
			f.mu.Lock()
			f.notifyLocked()
			f.mu.Unlock()
			return true
		},
	})
	if err != nil {
		if up != nil {
			up.CloseNow()
		}
		f.s.Tr.Event(who, "accept failed: %v", err)
		return
	}
	ws.SetReadLimit(8 * contract.MaxFrameSize)
	c.Ws = ws
	c.ctx, c.cancel = context.WithCancel(context.Background())
	f.mu.Lock()
	d.Conn = c
	f.conns = append(f.conns, c)
	f.notifyLocked()
	f.mu.Unlock()
	if plan.CloseCode != 0 {
		c.CloseWith(plan.CloseCode, plan.CloseReason)
		return
	}
	go c.pumpDown()
	c.pumpUp() // runs on the handler goroutine, keeping the hijacked conn alive
}

// pumpUp relays gateway → simulator, checking each message.
func (c *GWConn) pumpUp() {
	defer close(c.done)
	f := c.f
	for {
		typ, msg, err := c.Ws.Read(c.ctx)
		if err != nil {
			code, reason := -1, ""
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				code, reason = int(ce.Code), ce.Reason
			}
			if c.markClosed(code, reason, "gateway") {
				if code >= 0 {
					f.s.Tr.Event(c.who, "gateway closed: %d %q", code, reason)
				} else {
					f.s.Tr.Event(c.who, "gateway connection ended without a close frame")
				}
				if c.up != nil {
					if code > 0 && code != int(websocket.StatusNoStatusRcvd) {
						_ = c.up.Close(websocket.StatusCode(code), reason)
					}
					c.up.CloseNow()
				}
			}
			c.cancel()
			return
		}
		binary := typ == websocket.MessageBinary
		f.s.Tr.Recv(c.who, msg, binary)
		frames := f.checkGatewayMessage(c, msg, binary)
		forward := true
		f.mu.Lock()
		intercept := f.intercept
		f.mu.Unlock()
		if intercept != nil && len(frames) == 1 && intercept(c, frames[0]) {
			forward = false
		}
		if forward && c.up != nil {
			ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
			_ = c.up.Write(ctx, typ, msg)
			cancel()
		}
	}
}

// checkGatewayMessage records the frames of one gateway message and queues
// its hygiene violations: each message is one text frame ending in a
// newline (TRN-013, TRN-002), and each frame passes ValidateFrame.
func (f *front) checkGatewayMessage(c *GWConn, msg []byte, binary bool) []GWFrame {
	s := f.s
	if binary {
		s.hygiene(c.who, msg, []contract.Violation{{Requirement: "TRN-013", Message: "frame sent as a binary message"}})
	}
	body := msg
	if len(body) == 0 || body[len(body)-1] != '\n' {
		s.hygiene(c.who, msg, []contract.Violation{{Requirement: "TRN-002", Message: "message does not end with a newline"}})
		c.mu.Lock()
		c.unterminated = true
		c.mu.Unlock()
	} else {
		body = body[:len(body)-1]
	}
	lines := strings.Split(string(body), "\n")
	var nonEmpty []string
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			nonEmpty = append(nonEmpty, l)
		}
	}
	if len(nonEmpty) > 1 {
		s.hygiene(c.who, msg, []contract.Violation{{Requirement: "TRN-013", Message: fmt.Sprintf("%d frames in one message", len(nonEmpty))}})
	}
	var out []GWFrame
	for _, l := range nonEmpty {
		frame := []byte(l + "\n")
		vs := contract.ValidateFrame(frame)
		// The newline rule was judged on the message above.
		keep := vs[:0]
		for _, v := range vs {
			if v.Requirement != "TRN-002" {
				keep = append(keep, v)
			}
		}
		s.hygiene(c.who, frame, keep)
		g := GWFrame{Conn: c.n, Line: []byte(l), Binary: binary, At: time.Now()}
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			g.Obj = m
			g.Type, _ = m["type"].(string)
		}
		out = append(out, g)
	}
	f.mu.Lock()
	for _, g := range out {
		f.frames = append(f.frames, g)
		f.taken = append(f.taken, false)
	}
	f.notifyLocked()
	f.mu.Unlock()
	return out
}

// sentUnterminated reports whether the gateway sent a message without its
// trailing newline on this connection.
func (c *GWConn) sentUnterminated() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unterminated
}

// pumpDown relays simulator → gateway.
func (c *GWConn) pumpDown() {
	f := c.f
	for {
		typ, msg, err := c.up.Read(c.ctx)
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				if c.markClosed(int(ce.Code), ce.Reason, "connector") {
					f.s.Tr.Event(c.who, "simulator closed: %d %q (relayed to the gateway)", ce.Code, ce.Reason)
					_ = c.Ws.Close(ce.Code, ce.Reason)
				}
			} else if c.ctx.Err() == nil && c.markClosed(-1, "", "connector") {
				f.s.Tr.Event(c.who, "simulator connection ended: %v", err)
				_ = c.Ws.Close(websocket.StatusInternalError, "upstream lost")
			}
			return
		}
		f.mu.Lock()
		down := f.down
		f.mu.Unlock()
		if down != nil {
			msg = down(c, msg)
			if msg == nil {
				continue
			}
		}
		c.Write(msg, typ == websocket.MessageBinary, "")
	}
}

// Write sends one message to the gateway, counting descriptors.
func (c *GWConn) Write(msg []byte, binary bool, note string) {
	if note != "" {
		c.f.s.Tr.Event(c.who, "suite writes %s", note)
	}
	c.f.s.Tr.Sent(c.who, msg, binary)
	n := strings.Count(string(msg), `"type":"descriptor"`)
	typ := websocket.MessageText
	if binary {
		typ = websocket.MessageBinary
	}
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	if err := c.Ws.Write(ctx, typ, msg); err != nil {
		c.f.s.Tr.Event(c.who, "write to the gateway failed: %v", err)
		return
	}
	if n > 0 {
		c.mu.Lock()
		c.descriptors += n
		c.mu.Unlock()
		c.f.mu.Lock()
		c.f.notifyLocked()
		c.f.mu.Unlock()
	}
}

// WriteFrame encodes f and writes it to the gateway.
func (c *GWConn) WriteFrame(fr contract.Frame) {
	b, err := contract.EncodeFrame(fr)
	if err != nil {
		c.f.s.Harness("encode %T: %v", fr, err)
	}
	c.Write(b, false, "")
}

// markClosed records the close once; it reports whether this call did.
func (c *GWConn) markClosed(code int, reason, by string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.closed, c.closeCode, c.closeReason, c.closedBy, c.closedAt = true, code, reason, by, time.Now()
	c.f.mu.Lock()
	c.f.notifyLocked()
	c.f.mu.Unlock()
	return true
}

// CloseWith closes the gateway connection from the suite with code and
// reason, and drops the simulator side.
func (c *GWConn) CloseWith(code int, reason string) {
	if !c.markClosed(code, reason, "suite") {
		return
	}
	c.f.s.Tr.Event(c.who, "suite closes: %d %q", code, reason)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	go func() { <-ctx.Done(); c.Ws.CloseNow() }()
	_ = c.Ws.Close(websocket.StatusCode(code), reason)
	cancel()
	if c.up != nil {
		c.up.CloseNow()
	}
}

func (c *GWConn) kill() {
	if c.cancel != nil {
		c.cancel()
	}
	if c.Ws != nil {
		c.Ws.CloseNow()
	}
	if c.up != nil {
		c.up.CloseNow()
	}
}

func (c *GWConn) IsClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *GWConn) CloseInfo() (code int, reason, by string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode, c.closeReason, c.closedBy, c.closedAt
}

func (c *GWConn) descriptorCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.descriptors
}

func (c *GWConn) PingCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pings
}

// Await waits on the case goroutine until cond holds (checked whenever the
// front records something), d passes, or the case ends. It raises queued
// hygiene violations as it goes.
func (f *front) Await(d time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		f.mu.Lock()
		wake := f.wake
		f.mu.Unlock()
		if cond() {
			return true
		}
		// Raised only when nothing the case waits for has come, so that
		// a case judges its own requirement before a frame that also
		// breaks another one blocks it.
		f.s.flush()
		select {
		case <-wake:
		case <-tick.C:
		case <-deadline.C:
			return cond()
		case <-f.s.Ctx.Done():
			f.s.Harness("case timed out while waiting")
		}
	}
}

// Take returns the first untaken gateway frame match accepts, taking it.
func (f *front) Take(match func(GWFrame) bool) (GWFrame, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, g := range f.frames {
		if !f.taken[i] && match(g) {
			f.taken[i] = true
			return g, true
		}
	}
	return GWFrame{}, false
}

// WaitFrame waits up to d for a gateway frame match accepts.
func (f *front) WaitFrame(d time.Duration, match func(GWFrame) bool) (GWFrame, bool) {
	var got GWFrame
	ok := f.Await(d, func() bool {
		g, ok := f.Take(match)
		if ok {
			got = g
		}
		return ok
	})
	return got, ok
}

// ExpectFrame waits for a gateway frame and fails the case under id when
// none arrives.
func (f *front) ExpectFrame(id, what string, match func(GWFrame) bool) GWFrame {
	g, ok := f.WaitFrame(f.s.Within(1), match)
	if !ok {
		f.s.Failf(id, what, "nothing matching within %s; the gateway sent: %s", f.s.Within(1), f.Summary())
	}
	return g
}

// ExpectNoFrame checks no gateway frame match accepts arrives within d.
func (f *front) ExpectNoFrame(d time.Duration, id, what string, match func(GWFrame) bool) {
	if g, ok := f.WaitFrame(d, match); ok {
		f.s.Failf(id, what, "the gateway sent %s", g)
	}
}

func (f *front) Summary() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.frames) == 0 {
		return "no frames"
	}
	var ts []string
	for _, g := range f.frames {
		t := g.Type
		if t == "" {
			t = "?"
		}
		ts = append(ts, fmt.Sprintf("%s@g%d", t, g.Conn))
	}
	return strings.Join(ts, ", ")
}

// GWFramesOf returns every frame the gateway sent of type typ.
func (f *front) GWFramesOf(typ string) []GWFrame {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []GWFrame
	for _, g := range f.frames {
		if g.Type == typ {
			out = append(out, g)
		}
	}
	return out
}

func (f *front) DialCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.dials)
}

func (f *front) Dial(n int) *GWDial {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n < 1 || n > len(f.dials) {
		return nil
	}
	return f.dials[n-1]
}

// Conn returns the gateway connection of dial n, or nil.
func (f *front) Conn(n int) *GWConn {
	d := f.Dial(n)
	if d == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return d.Conn
}

// SetOnDial replaces the dial plan function.
func (f *front) SetOnDial(fn func(d *GWDial) DialPlan) {
	f.mu.Lock()
	f.onDial = fn
	f.mu.Unlock()
}

// setDown replaces the simulator → gateway rewrite function.
func (f *front) setDown(fn func(c *GWConn, msg []byte) []byte) {
	f.mu.Lock()
	f.down = fn
	f.mu.Unlock()
}

// SetIntercept replaces the gateway → simulator interceptor.
func (f *front) SetIntercept(fn func(c *GWConn, g GWFrame) bool) {
	f.mu.Lock()
	f.intercept = fn
	f.mu.Unlock()
}

// OpenConns counts connections open at once right now.
func (f *front) OpenConns() int {
	f.mu.Lock()
	conns := append([]*GWConn(nil), f.conns...)
	f.mu.Unlock()
	n := 0
	for _, c := range conns {
		if !c.IsClosed() {
			n++
		}
	}
	return n
}
