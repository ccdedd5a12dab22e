package pier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/testkit"
)

// Tests drive pier over real loopback sockets: the control API with
// net/http, the relay with a small gateway written here on
// coder/websocket. Token minting comes from relaykit's contract package, so
// pier's own verifier is checked against an independent implementation.

// bench is one pier server on a manual clock.
type bench struct {
	t   *testing.T
	srv *Server
	clk *clock.Manual
}

func newBench(t *testing.T, o Options) *bench {
	t.Helper()
	clk := clock.NewManual(time.Unix(1_800_000_000, 0))
	o.Clock = clk
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &bench{t: t, srv: srv, clk: clk}
}

// call makes a control API request and decodes the answer into out.
func (b *bench) call(method, path string, in, out any) int {
	b.t.Helper()
	var body io.Reader
	if in != nil {
		j, _ := json.Marshal(in)
		body = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, b.srv.ControlURL()+path, body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			b.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	return resp.StatusCode
}

// enroll enrolls a fresh gateway through the control API.
func (b *bench) enroll(spec map[string]any) gatewayView {
	b.t.Helper()
	if spec == nil {
		spec = map[string]any{}
	}
	if spec["gatewayId"] == nil {
		spec["gatewayId"] = fmt.Sprintf("gw-%d", time.Now().UnixNano())
	}
	var v gatewayView
	if st := b.call(http.MethodPost, "/gateways", spec, &v); st != 200 {
		b.t.Fatalf("enroll: HTTP %d", st)
	}
	return v
}

// inject makes a user write text in chat on platform for gateway g.
func (b *bench) inject(g gatewayView, platform, chat, text string) delivery {
	b.t.Helper()
	return b.injectEvent(g, map[string]any{"text": text, "message_id": "m-injected",
		"source": map[string]any{"platform": platform, "chat_id": chat, "chat_type": "dm", "user_id": "u1"}})
}

func (b *bench) injectEvent(g gatewayView, ev map[string]any) delivery {
	b.t.Helper()
	var d delivery
	if st := b.call(http.MethodPost, "/inbound", map[string]any{"gatewayId": g.GatewayID, "event": ev}, &d); st != 200 {
		b.t.Fatalf("inject: HTTP %d", st)
	}
	return d
}

// token mints a token for g valid for 5 minutes of the bench's clock.
func (b *bench) token(g gatewayView) string {
	return contract.MintToken(g.GatewayID, g.Secret, b.clk.Now().Add(5*time.Minute).Unix())
}

// gw is the test's gateway end of one relay socket.
type gw struct {
	t    *testing.T
	ws   *websocket.Conn
	done chan struct{}

	mu      sync.Mutex
	pending []map[string]any // frames received and not yet taken
	rest    []byte           // bytes after the last newline
	err     error
	pings   int
	raw     [][]byte // every message, in order
}

type dialOpts struct {
	path    string
	noPongs bool
}

// dial opens a relay socket; it returns the HTTP status of a refused
// upgrade instead of a socket.
func (b *bench) dial(tok string, o ...dialOpts) (*gw, int) {
	b.t.Helper()
	var opt dialOpts
	if len(o) > 0 {
		opt = o[0]
	}
	if opt.path == "" {
		opt.path = "/relay"
	}
	h := http.Header{}
	if tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	g := &gw{t: b.t, done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	url := strings.Replace(b.srv.URL(), "http://", "ws://", 1) + opt.path
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h,
		OnPingReceived: func(context.Context, []byte) bool {
			g.mu.Lock()
			g.pings++
			g.mu.Unlock()
			return !opt.noPongs
		}})
	if err != nil {
		if resp != nil {
			return nil, resp.StatusCode
		}
		b.t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(-1)
	g.ws = ws
	go g.read()
	b.t.Cleanup(func() { _ = ws.CloseNow(); <-g.done })
	return g, 101
}

func (g *gw) read() {
	defer close(g.done)
	for {
		_, msg, err := g.ws.Read(context.Background())
		if err != nil {
			g.mu.Lock()
			g.err = err
			g.mu.Unlock()
			return
		}
		g.mu.Lock()
		g.raw = append(g.raw, msg)
		data := append(g.rest, msg...)
		lines := bytes.Split(data, []byte("\n"))
		g.rest = append([]byte(nil), lines[len(lines)-1]...)
		for _, l := range lines[:len(lines)-1] {
			var m map[string]any
			if err := json.Unmarshal(l, &m); err != nil {
				m = map[string]any{"type": "<not json>", "line": string(l)}
			}
			g.pending = append(g.pending, m)
		}
		g.mu.Unlock()
	}
}

// messages returns every message received so far.
func (g *gw) messages() [][]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([][]byte(nil), g.raw...)
}

func (g *gw) sendRaw(s string) {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	if err := g.ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		g.t.Fatalf("write: %v", err)
	}
}

// try writes a frame that pier may already have refused to read.
func (g *gw) try(v any) {
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	_ = g.ws.Write(ctx, websocket.MessageText, append(b, '\n'))
}

func (g *gw) send(v any) {
	g.t.Helper()
	b, _ := json.Marshal(v)
	g.sendRaw(string(b) + "\n")
}

func (g *gw) hello(platform string) {
	g.t.Helper()
	g.send(map[string]any{"type": "hello", "platform": platform, "botId": ""})
}

// next returns the next frame received, in order.
func (g *gw) next() map[string]any {
	g.t.Helper()
	deadline := time.Now().Add(testkit.Wait)
	for time.Now().Before(deadline) {
		g.mu.Lock()
		if len(g.pending) > 0 {
			f := g.pending[0]
			g.pending = g.pending[1:]
			g.mu.Unlock()
			return f
		}
		err := g.err
		g.mu.Unlock()
		if err != nil {
			g.t.Fatalf("no frame: the socket ended: %v", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	g.t.Fatalf("no frame within %s", testkit.Wait)
	return nil
}

// expect returns the next frame and fails unless its type is typ.
func (g *gw) expect(typ string) map[string]any {
	g.t.Helper()
	f := g.next()
	if f["type"] != typ {
		g.t.Fatalf("got %v, want a %s frame", f, typ)
	}
	return f
}

// handshake sends hellos and takes one descriptor for each.
func (g *gw) handshake(platforms ...string) {
	g.t.Helper()
	for _, p := range platforms {
		g.hello(p)
	}
	for _, p := range platforms {
		d := g.expect("descriptor")["descriptor"].(map[string]any)
		if d["platform"] != p {
			g.t.Fatalf("descriptor for %v, want %s", d["platform"], p)
		}
	}
}

var ridSeq int

// outbound sends an action and returns the frames up to and including its
// result (the last one).
func (g *gw) outbound(action map[string]any, platform string) []map[string]any {
	g.t.Helper()
	ridSeq++
	rid := fmt.Sprintf("%032x", ridSeq)
	f := map[string]any{"type": "outbound", "requestId": rid, "action": action}
	if platform != "" {
		f["platform"] = platform
	}
	g.send(f)
	var got []map[string]any
	for {
		fr := g.next()
		got = append(got, fr)
		if fr["type"] == "outbound_result" && fr["requestId"] == rid {
			return got
		}
	}
}

// result sends an action and returns its result object; frames before it
// fail the test.
func (g *gw) result(action map[string]any, platform string) map[string]any {
	g.t.Helper()
	fs := g.outbound(action, platform)
	if len(fs) > 1 {
		g.t.Fatalf("frames before the result: %v", fs[:len(fs)-1])
	}
	return fs[0]["result"].(map[string]any)
}

// barrier proves nothing was written since the last frame taken: pier
// handles a socket's frames in order and writes in order, so the answer to
// a send to the known chat comes after anything earlier input caused. It
// returns the frames that came before the barrier's result.
func (g *gw) barrier() []map[string]any {
	g.t.Helper()
	fs := g.outbound(send(DefaultKnownChat, "barrier"), "")
	return fs[:len(fs)-1]
}

// quiet fails the test if anything but the barrier's answer arrives.
func (g *gw) quiet() {
	g.t.Helper()
	if fs := g.barrier(); len(fs) > 0 {
		g.t.Fatalf("unexpected frames: %v", fs)
	}
}

// closed waits for the socket to end and returns its close code and
// reason, and the frames received before it.
func (g *gw) closed() (int, string, []map[string]any) {
	g.t.Helper()
	select {
	case <-g.done:
	case <-time.After(testkit.Wait):
		g.t.Fatalf("the socket stayed open")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	fs := g.pending
	g.pending = nil
	return int(websocket.CloseStatus(g.err)), closeReason(g.err), fs
}

func closeReason(err error) string {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return ""
}

func send(chat, content string) map[string]any {
	return map[string]any{"op": "send", "chat_id": chat, "content": content, "reply_to": nil, "metadata": map[string]any{}}
}

// connect dials with a valid token and handshakes platforms.
func (b *bench) connect(g gatewayView, platforms ...string) *gw {
	b.t.Helper()
	c, st := b.dial(b.token(g))
	if c == nil {
		b.t.Fatalf("upgrade refused: HTTP %d", st)
	}
	c.handshake(platforms...)
	return c
}

// hangUp closes the gateway end with 1000 and waits until pier has let go
// of the socket, so the next dial of the instance is not a duplicate.
func (b *bench) hangUp(c *gw) {
	b.t.Helper()
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
	<-c.done
	b.waitReleased()
}

// waitReleased waits until pier holds no socket.
func (b *bench) waitReleased() {
	b.t.Helper()
	deadline := time.Now().Add(testkit.Wait)
	for {
		b.srv.mu.Lock()
		n := len(b.srv.conns)
		b.srv.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("pier still holds %d sockets", n)
		}
		time.Sleep(time.Millisecond)
	}
}
