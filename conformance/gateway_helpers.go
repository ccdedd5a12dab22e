package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// rawInbound renders an inbound frame carrying m, buffered when bufferID is
// set, compactly with a trailing newline.
func rawInbound(m userMessage, bufferID string) []byte {
	fr := map[string]any{"type": contract.TypeInbound, "event": json.RawMessage(eventJSON(m))}
	if bufferID != "" {
		fr["bufferId"] = bufferID
	}
	return jsonLine(fr)
}

// probeAck writes a buffered inbound frame to the gateway (through write)
// and expects its inbound_ack: the gateway's reader is alive and handled
// the frame (IDLE-013).
func (g *gwCase) probeAck(id, what string, write func(frame []byte)) {
	m := g.newMessage("probe " + what)
	b := "conform-" + randHex(4)
	write(rawInbound(m, b))
	g.f.expectFrame(id, fmt.Sprintf("an inbound_ack for %s (%s)", b, what), ackFor(b))
}

// holder holds the frames of chosen types on their way to the gateway
// until released.
type holder struct {
	mu      sync.Mutex
	types   map[string]bool
	held    [][]byte
	conns   []*gwConn
	release bool
}

// hold makes the front hold simulator frames of the given types. A
// message batching several frames is split: the held frames are taken
// out, the others pass on at once.
func (g *gwCase) hold(types ...string) *holder {
	h := &holder{types: map[string]bool{}}
	for _, t := range types {
		h.types[t] = true
	}
	g.f.setDown(func(c *gwConn, msg []byte) []byte {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.release {
			return msg
		}
		var pass []byte
		held := false
		for _, fr := range splitFrames(msg) {
			if !h.types[frameTypeOf(fr)] {
				pass = append(pass, fr...)
				continue
			}
			g.s.tr.Event(c.who, "suite holds %s", truncate(string(fr), 120))
			h.held = append(h.held, fr)
			h.conns = append(h.conns, c)
			held = true
		}
		if !held {
			return msg
		}
		return pass
	})
	return h
}

// splitFrames splits a message into its frames, each with its newline (the
// last one without, when the message does not end in one).
func splitFrames(msg []byte) [][]byte {
	var out [][]byte
	for len(msg) > 0 {
		i := bytes.IndexByte(msg, '\n')
		if i < 0 {
			return append(out, msg)
		}
		out = append(out, msg[:i+1])
		msg = msg[i+1:]
	}
	return out
}

// releaseAll writes the held frames and stops holding.
func (h *holder) releaseAll() {
	h.mu.Lock()
	h.release = true
	held, conns := h.held, h.conns
	h.held, h.conns = nil, nil
	h.mu.Unlock()
	for i, m := range held {
		conns[i].write(m, false, "the held frame")
	}
}

func (h *holder) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.held)
}

// frameTypeOf returns the type of the first frame of a message.
func frameTypeOf(msg []byte) string {
	line, _, _ := strings.Cut(string(msg), "\n")
	var m struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal([]byte(line), &m)
	return m.Type
}

// rewriteDescriptors makes the front pass every descriptor frame through
// fn before the gateway sees it.
// A message may carry several frames (the connector batches them); each
// descriptor among them is rewritten.
func (g *gwCase) rewriteDescriptors(fn func(d map[string]any)) {
	g.f.setDown(func(c *gwConn, msg []byte) []byte {
		if !bytes.Contains(msg, []byte(contract.TypeDescriptor)) {
			return msg
		}
		var out []byte
		for _, line := range bytes.SplitAfter(msg, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			var fr map[string]any
			if frameTypeOf(line) != contract.TypeDescriptor || json.Unmarshal(line, &fr) != nil {
				out = append(out, line...)
				continue
			}
			d, _ := fr["descriptor"].(map[string]any)
			if d == nil {
				out = append(out, line...)
				continue
			}
			fn(d)
			out = append(out, jsonLine(fr)...)
		}
		return out
	})
}

// gaps returns the times between successive dials, from dial 1.
func (g *gwCase) gaps() []time.Duration {
	var out []time.Duration
	for n := 2; n <= g.f.dialCount(); n++ {
		out = append(out, g.f.dial(n).At.Sub(g.f.dial(n-1).At))
	}
	return out
}

// backoffCeiling returns d for reconnect attempt n under the knobs.
func backoffCeiling(base, cap time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < cap; i++ {
		d *= 2
	}
	if d > cap {
		d = cap
	}
	return d
}

// noMoreDials checks no dial beyond n happens within d.
func (g *gwCase) noMoreDials(n int, d time.Duration, id, what string) {
	if g.f.await(d, func() bool { return g.f.dialCount() > n }) {
		g.s.Failf(id, what, "dial %d at +%s", n+1, g.f.dial(n+1).At.Sub(g.f.dial(n).At).Round(time.Millisecond))
	}
}

// closeAfterHandshake closes connection n with code and reason once it is
// handshaked.
func (g *gwCase) closeAfterHandshake(n, code int, reason string) *gwConn {
	c := g.handshaked(n)
	c.closeWith(code, reason)
	return c
}

// checkUpgradeBearer fails the case under id unless req carries an
// unexpired upgrade token of the case's gateway, signed with its secret.
func (s *S) checkUpgradeBearer(g *gwCase, req gwHTTP, id string) {
	tok := req.bearer()
	if tok == "" {
		s.Failf(id, "Authorization: Bearer <upgrade token> on "+req.String(), "no bearer")
	}
	claims, _, err := contract.ParseToken(tok)
	if err != nil {
		s.Failf(id, "an upgrade token (section 3.2) as the bearer of "+req.String(), "a bearer that is not one: %v", err)
	}
	if _, err := contract.VerifyToken(tok, []string{g.secret}, time.Now()); err != nil || claims.GatewayID != g.gatewayID {
		s.Failf(id, "an unexpired upgrade token for "+g.gatewayID+" signed with its secret on "+req.String(), "%s: %v", describeToken(tok), err)
	}
}
