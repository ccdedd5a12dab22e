package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/contract"
)

// The helpers the connector probes share: a relaysim control client and a
// raw gateway socket. They are written against the contract and the
// control API only, apart from the conformance suite.

// gwCreds is an enrolled gateway.
type gwCreds struct {
	ID     string `json:"gatewayId"`
	Secret string `json:"secret"`
}

// call sends a JSON request to base+path and decodes a JSON answer into out
// (when not nil); it returns the status.
func call(ctx context.Context, method, url, bearer string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %d %s: %w", method, url, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, nil
}

// ctl calls relaysim's control API and fails unless it answers 200.
func (e *probeEnv) ctl(ctx context.Context, method, path string, body, out any) error {
	var raw json.RawMessage
	status, err := call(ctx, method, e.sim.url+"/_relaysim/"+path, "", body, &raw)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("control %s %s: %d %s", method, path, status, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// enroll enrolls a gateway through the control API.
func (e *probeEnv) enroll(ctx context.Context, spec map[string]any) (gwCreds, error) {
	var g gwCreds
	err := e.ctl(ctx, http.MethodPost, "gateways", spec, &g)
	return g, err
}

// delivery is the control API's answer to an injected event or forward.
type delivery struct {
	Mode     string `json:"delivery"`
	BufferID string `json:"bufferId"`
	Reason   string `json:"reason"`
}

// inject delivers an event to gatewayID as if a user sent it.
func (e *probeEnv) inject(ctx context.Context, gatewayID string, event map[string]any, addressed bool) (delivery, error) {
	var d delivery
	err := e.ctl(ctx, http.MethodPost, "inbound", map[string]any{"gatewayId": gatewayID, "event": event, "addressed": addressed}, &d)
	return d, err
}

// dmEvent is a text event in a DM.
func dmEvent(platform, chat, user, msgID, text string) map[string]any {
	return map[string]any{"text": text, "message_id": msgID,
		"source": map[string]any{"platform": platform, "chat_id": chat, "chat_type": "dm", "user_id": user, "message_id": msgID}}
}

// groupEvent is a text event in a group chat.
func groupEvent(platform, chat, user, msgID, text string) map[string]any {
	ev := dmEvent(platform, chat, user, msgID, text)
	ev["source"].(map[string]any)["chat_type"] = "group"
	return ev
}

// token mints a never-expiring upgrade token: relaysim runs on a manual
// clock, and exp 0 keeps the probes independent of it.
func token(g gwCreds) string { return contract.MintTokenTTL(g.ID, g.Secret, time.Now(), 0) }

// peer is a raw gateway socket that records every frame it reads.
type peer struct {
	ws *websocket.Conn

	mu     sync.Mutex
	frames []map[string]any
	sizes  []int // each frame's size without its newline
	wake   chan struct{}
	err    error // why the reader stopped
}

// dial opens a gateway socket to relaysim and sends one hello per

// telegramGateway enrolls a fresh gateway fronting telegram and dials it
// with one hello, the start most connector probes share.
func (e *probeEnv) telegramGateway(ctx context.Context) (gwCreds, *peer, error) {
	g, err := e.enroll(ctx, map[string]any{"gatewayId": uniq("gw"), "platforms": []string{"telegram"}})
	if err != nil {
		return g, nil, err
	}
	p, err := e.dial(ctx, g, 1, "telegram")
	return g, p, err
}

// platform; it waits for n descriptors when n > 0.
func (e *probeEnv) dial(ctx context.Context, g gwCreds, descriptors int, platforms ...string) (*peer, error) {
	url := "ws" + e.sim.url[len("http"):] + contract.PathRelay
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token(g)}}})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	ws.SetReadLimit(8 << 20)
	p := &peer{ws: ws, wake: make(chan struct{})}
	go p.read()
	for _, pl := range platforms {
		if err := p.send(map[string]any{"type": "hello", "platform": pl, "botId": "bot-" + pl}); err != nil {
			p.close()
			return nil, err
		}
	}
	for i := 0; i < descriptors; i++ {
		if _, ok := p.await(ctx, 5*time.Second, i, ofType("descriptor")); !ok {
			p.close()
			return nil, fmt.Errorf("descriptor %d of %d did not come: %v", i+1, descriptors, p.frameTypes())
		}
	}
	return p, nil
}

func (p *peer) read() {
	var split contract.LineSplitter
	split.MaxFrameSize = 4 << 20
	for {
		_, msg, err := p.ws.Read(context.Background())
		if err != nil {
			p.mu.Lock()
			p.err = err
			close(p.wake)
			p.wake = nil
			p.mu.Unlock()
			return
		}
		split.Feed(msg, func(line []byte) error {
			var f map[string]any
			if json.Unmarshal(line, &f) != nil {
				f = map[string]any{"type": "(malformed)"}
			}
			p.mu.Lock()
			p.frames = append(p.frames, f)
			p.sizes = append(p.sizes, len(line))
			close(p.wake)
			p.wake = make(chan struct{})
			p.mu.Unlock()
			return nil
		})
	}
}

// send writes one frame as its own message.
func (p *peer) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.ws.Write(ctx, websocket.MessageText, append(b, '\n'))
}

func (p *peer) close() { p.ws.Close(websocket.StatusNormalClosure, "") }

// await waits up to d for the nth (from 0) frame matching match.
func (p *peer) await(ctx context.Context, d time.Duration, nth int, match func(map[string]any) bool) (map[string]any, bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		seen := 0
		for _, f := range p.frames {
			if match(f) {
				if seen == nth {
					p.mu.Unlock()
					return f, true
				}
				seen++
			}
		}
		wake := p.wake
		p.mu.Unlock()
		if wake == nil {
			return nil, false // the socket is closed: nothing more comes
		}
		select {
		case <-wake:
		case <-deadline.C:
			return nil, false
		case <-ctx.Done():
			return nil, false
		}
	}
}

// matching returns every frame read so far that matches.
func (p *peer) matching(match func(map[string]any) bool) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, f := range p.frames {
		if match(f) {
			out = append(out, f)
		}
	}
	return out
}

func (p *peer) frameTypes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, f := range p.frames {
		t, _ := f["type"].(string)
		out = append(out, t)
	}
	return out
}

func ofType(t string) func(map[string]any) bool {
	return func(f map[string]any) bool { return f["type"] == t }
}

// inboundFor matches inbound frames whose event has message id id.
func inboundFor(id string) func(map[string]any) bool {
	return func(f map[string]any) bool {
		ev, _ := f["event"].(map[string]any)
		return f["type"] == "inbound" && ev["message_id"] == id
	}
}

// str reads a string member.
func str(f map[string]any, key string) string { s, _ := f[key].(string); return s }

// quiet is how long a probe waits to see that something does not happen.
const quiet = 1500 * time.Millisecond
