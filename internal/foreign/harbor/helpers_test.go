package harbor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/clock"
)

var testStart = time.Unix(1_800_000_000, 0)

// newTest starts a harbor on a manual clock (so no keepalive or deadline
// fires unless a test moves it) and closes it at the end of the test.
func newTest(t *testing.T, o Options) (*Server, *clock.Manual) {
	t.Helper()
	clk := clock.NewManual(testStart)
	if o.Clock == nil {
		o.Clock = clk
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clk
}

// ctl calls the control API and decodes the answer into out.
func ctl(t *testing.T, s *Server, method, path string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.ControlURL()+path, body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

type gwCreds struct {
	ID, Secret, Instance, Tenant string
	Platforms                    []string
}

// enrollGW enrolls a gateway through the control API.
func enrollGW(t *testing.T, s *Server, spec GatewaySpec) gwCreds {
	t.Helper()
	var out struct {
		GatewayID, Secret, InstanceID, Tenant string
		Platforms                             []string
	}
	if st := ctl(t, s, "POST", "/gateways", spec, &out); st != 200 {
		t.Fatalf("enroll %s: HTTP %d", spec.ID, st)
	}
	return gwCreds{ID: out.GatewayID, Secret: out.Secret, Instance: out.InstanceID, Tenant: out.Tenant, Platforms: out.Platforms}
}

func (g gwCreds) token(clk *clock.Manual) string {
	return mintToken(g.ID, g.Secret, clk.Now().Add(5*time.Minute).Unix())
}

// peer is a test gateway on a real socket.
type peer struct {
	t      *testing.T
	ws     *websocket.Conn
	frames chan map[string]any
	done   chan struct{}
	mu     sync.Mutex
	code   websocket.StatusCode
	reason string
	seen   []map[string]any
	stash  []map[string]any // frames read but not yet matched by next
}

func dialToken(t *testing.T, s *Server, tok string) *peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{}
	if tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	ws, resp, err := websocket.Dial(ctx, s.RelayURL(), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		if resp != nil {
			t.Fatalf("dial: HTTP %d: %v", resp.StatusCode, err)
		}
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(8 << 20)
	p := &peer{t: t, ws: ws, frames: make(chan map[string]any, 1024), done: make(chan struct{})}
	go p.read()
	t.Cleanup(p.close)
	return p
}

func (p *peer) read() {
	defer close(p.done)
	defer close(p.frames)
	var pending []byte
	for {
		_, b, err := p.ws.Read(context.Background())
		if err != nil {
			p.mu.Lock()
			p.code = websocket.CloseStatus(err)
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				p.reason = ce.Reason
			}
			p.mu.Unlock()
			return
		}
		pending = append(pending, b...)
		for {
			i := bytes.IndexByte(pending, '\n')
			if i < 0 {
				break
			}
			var m map[string]any
			if err := json.Unmarshal(pending[:i], &m); err != nil {
				p.t.Errorf("harbor wrote a line that is not a JSON object: %q", pending[:i])
			}
			pending = pending[i+1:]
			p.frames <- m
		}
	}
}

func (p *peer) close() {
	_ = p.ws.Close(websocket.StatusNormalClosure, "")
	<-p.done
}

func (p *peer) send(v any) {
	p.t.Helper()
	b, _ := json.Marshal(v)
	p.raw(append(b, '\n'))
}

// sendLoose sends v and ignores a failed write: a socket harbor already
// closed (a refused token) is an answer too.
func (p *peer) sendLoose(v any) {
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.ws.Write(ctx, websocket.MessageText, append(b, '\n'))
}

func (p *peer) raw(b []byte) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.ws.Write(ctx, websocket.MessageText, b); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

// next returns the next frame matching match, failing after 5 s.
func (p *peer) next(what string, match func(map[string]any) bool) map[string]any {
	p.t.Helper()
	for i, f := range p.stash {
		if match(f) {
			p.stash = append(p.stash[:i:i], p.stash[i+1:]...)
			return f
		}
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case f, ok := <-p.frames:
			if !ok {
				p.t.Fatalf("waiting for %s: socket closed %d %q", what, p.code, p.reason)
			}
			p.seen = append(p.seen, f)
			if match(f) {
				return f
			}
			p.stash = append(p.stash, f)
		case <-timeout:
			p.t.Fatalf("waiting for %s: nothing within 5s", what)
		}
	}
}

// tryNext is next that reports a miss instead of failing: it waits for
// a round trip (a typing action and its result) and reports whether a
// matching frame arrived before the result. Harbor answers frames in
// order, so whatever it decided before reading the typing is in front.
func (p *peer) tryNext(match func(map[string]any) bool) (map[string]any, bool) {
	p.t.Helper()
	rid := fmt.Sprintf("barrier-%d", time.Now().UnixNano())
	p.send(map[string]any{"type": "outbound", "requestId": rid, "action": map[string]any{"op": "typing", "chat_id": "harbor-lobby", "metadata": map[string]any{}}})
	p.next("barrier "+rid, func(f map[string]any) bool { return f["type"] == "outbound_result" && f["requestId"] == rid })
	for i, f := range p.stash {
		if match(f) {
			p.stash = append(p.stash[:i:i], p.stash[i+1:]...)
			return f, true
		}
	}
	return nil, false
}

// closed waits for the socket to close and returns code and reason.
func (p *peer) closed() (websocket.StatusCode, string) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.t.Fatal("socket not closed within 5s")
	}
	for range p.frames {
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.code, p.reason
}

func ofType(typ string) func(map[string]any) bool {
	return func(f map[string]any) bool { return f["type"] == typ }
}

// connect dials with a valid token and says hello for each platform.
func connect(t *testing.T, s *Server, clk *clock.Manual, g gwCreds, plats ...string) *peer {
	t.Helper()
	p := dialToken(t, s, g.token(clk))
	if len(plats) == 0 {
		plats = g.Platforms
	}
	for _, pl := range plats {
		p.send(map[string]any{"type": "hello", "platform": pl, "botId": "b"})
	}
	for _, pl := range plats {
		d := p.next("descriptor for "+pl, ofType("descriptor"))
		if got := d["descriptor"].(map[string]any)["platform"]; got != pl {
			t.Fatalf("descriptor for %v, want %s", got, pl)
		}
	}
	return p
}

// outbound sends an action and returns its result.
func (p *peer) outbound(action map[string]any, platform string) map[string]any {
	p.t.Helper()
	rid := fmt.Sprintf("r-%d", time.Now().UnixNano())
	f := map[string]any{"type": "outbound", "requestId": rid, "action": action}
	if platform != "" {
		f["platform"] = platform
	}
	p.send(f)
	r := p.next("result "+rid, func(f map[string]any) bool { return f["type"] == "outbound_result" && f["requestId"] == rid })
	return r["result"].(map[string]any)
}

func sendAct(chat, content string) map[string]any {
	return map[string]any{"op": "send", "chat_id": chat, "content": content, "reply_to": nil, "metadata": map[string]any{}}
}

type injected struct {
	Delivery, BufferID, MessageID, ChatID string
}

// inject posts an event through the control API.
func inject(t *testing.T, s *Server, gwID string, ev map[string]any, addressed bool) injected {
	t.Helper()
	var out struct {
		Delivery  string `json:"delivery"`
		BufferID  string `json:"bufferId"`
		MessageID string `json:"messageId"`
		ChatID    string `json:"chatId"`
		Error     string `json:"error"`
	}
	if st := ctl(t, s, "POST", "/inbound", map[string]any{"gatewayId": gwID, "event": ev, "addressed": addressed}, &out); st != 200 {
		t.Fatalf("inject: HTTP %d %s", st, out.Error)
	}
	return injected{out.Delivery, out.BufferID, out.MessageID, out.ChatID}
}

func dmEvent(platform, chat, msgID, text string) map[string]any {
	ev := map[string]any{"text": text, "source": map[string]any{"platform": platform, "chat_id": chat, "chat_type": "dm", "user_id": "u1"}}
	if msgID != "" {
		ev["message_id"] = msgID
	}
	return ev
}

func isMsg(id string) func(map[string]any) bool {
	return func(f map[string]any) bool {
		if f["type"] != "inbound" {
			return false
		}
		ev, _ := f["event"].(map[string]any)
		return ev["message_id"] == id
	}
}

func bufID(f map[string]any) string { s, _ := f["bufferId"].(string); return s }

// goIdleAway connects, goes idle, and disconnects.
func goIdleAway(t *testing.T, s *Server, clk *clock.Manual, g gwCreds) {
	t.Helper()
	p := connect(t, s, clk, g)
	p.send(map[string]string{"type": "going_idle"})
	p.next("going_idle_ack", ofType("going_idle_ack"))
	p.close()
	// The socket is gone from harbor once a control round trip sees no
	// live socket: wait for harbor's side of the close.
	waitGone(t, s, g.ID)
}

// waitGone waits until harbor has no open socket for gateway id.
func waitGone(t *testing.T, s *Server, id string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		n := 0
		for c := range s.conns {
			if c.gw.id == id {
				n++
			}
		}
		s.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway %s still has %d sockets", id, n)
		}
		time.Sleep(2 * time.Millisecond) // polling harbor's own state, not asserting on time
	}
}

func httpDo(t *testing.T, method, url, tok string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func errorNames(b []byte, field string) bool {
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	e, _ := m["error"].(string)
	return strings.Contains(e, field)
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
