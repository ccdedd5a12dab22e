package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// Gateway-suite cases, one file per contract section (gateway_<section>.go,
// named like the connector cases' files), and the helpers they share. The
// suite plays the connector: an in-process simulator behind a scripted
// front; the gateway under test is started per case with the testee
// environment (gateway.go).
//
// Some cases need more of the gateway testee contract than a dial
// (docs/conformance-guide.md), and are untestable without it:
//
//   - the echo profile: the gateway answers each text message with a send
//     to the same chat whose content contains the text, and obeys a few
//     commands (/interrupt, /slow, /reject, /stream, /react, /prompt);
//     the shaping cases (length limits in the descriptor's unit, optional
//     ops and edits only where advertised, the metadata stamp, prompt
//     presses) use /stream, /react and /prompt;
//   - media: /media uploads a file and sends it, /attachments downloads an
//     event's media_urls;
//   - the boot features: provision and policy, whose HTTP calls the HTTP
//     cases check (gateway_http.go says how each is started).

// OfGWType matches gateway frames of one type.
func OfGWType(typ string) func(GWFrame) bool {
	return func(g GWFrame) bool { return g.Type == typ }
}

// CheckToken checks AUTH-001 and AUTH-003 on one dial's bearer.
func (s *S) CheckToken(g *GWCase, d *GWDial) {
	if d.Token == "" {
		s.Failf("AUTH-001", "Authorization: Bearer <token> on the upgrade", "dial %d had no bearer", d.N)
	}
	if d.TokenErr != nil {
		s.Failf("AUTH-003", "a canonical token (unpadded base64url of <id>:<exp>:<64 lowercase hex>)", "dial %d: %v", d.N, d.TokenErr)
	}
	if d.Claims.GatewayID != g.GatewayID {
		s.Failf("AUTH-003", "the gateway id "+g.GatewayID+" as the token's payload", "%q", d.Claims.GatewayID)
	}
	at := time.Unix(d.Claims.Exp, 0)
	if d.Claims.Exp == 0 {
		at = d.At
	}
	if _, err := contract.VerifyToken(d.Token, []string{g.Secret}, at); err != nil {
		s.Failf("AUTH-003", "the HMAC-SHA256 of <id>:<exp> under the secret", "dial %d: %v", d.N, err)
	}
}

func CloseNote(c *GWConn) string {
	if !c.IsClosed() {
		return "still open"
	}
	code, reason, by, _ := c.CloseInfo()
	return fmt.Sprintf("closed %d %q by the %s", code, reason, by)
}

// TerminalWait is how long the suite watches for a dial that must not
// come: longer than any backoff wait the gateway could be in.
func (g *GWCase) TerminalWait() time.Duration {
	if g.T.Opts.Timers {
		return KnobBackoffCap + 700*time.Millisecond
	}
	return 3 * time.Second
}

// IsReplyTo matches the echo reply to m: a send to m's chat whose content
// contains m's text.
func IsReplyTo(m UserMessage) func(GWFrame) bool {
	return func(g GWFrame) bool {
		if g.Type != contract.TypeOutbound {
			return false
		}
		a, _ := g.Obj["action"].(map[string]any)
		content, _ := a["content"].(string)
		return a["op"] == contract.OpSend && a["chat_id"] == m.ChatID && strings.Contains(content, m.Text)
	}
}

// Command sends an echo-profile command in a new chat and waits for the
// gateway's first action of op there, failing the case under id when none
// comes.
func (g *GWCase) Command(id, cmd, op string) (UserMessage, GWFrame) {
	g.S.Rely(BasicEcho)
	m := g.NewMessage(cmd)
	g.Inject(m)
	f := g.F.ExpectFrame(id, fmt.Sprintf("a %s action in %s (echo profile: %s where %s is advertised)", op, m.ChatID, cmd, op), func(f GWFrame) bool {
		return OutboundFor(m.ChatID)(f) && ActionOf(f)["op"] == op
	})
	return m, f
}

// OutboundFor matches any outbound frame addressed to chat.
func OutboundFor(chat string) func(GWFrame) bool {
	return func(g GWFrame) bool {
		if g.Type != contract.TypeOutbound {
			return false
		}
		a, _ := g.Obj["action"].(map[string]any)
		return a["chat_id"] == chat
	}
}

// ExpectReply waits for the echo reply to m.
func (g *GWCase) ExpectReply(id string, m UserMessage) GWFrame {
	g.S.Rely(BasicEcho)
	return g.F.ExpectFrame(id, fmt.Sprintf("the echo reply to %q in chat %s (echo profile)", m.Text, m.ChatID), IsReplyTo(m))
}

// ActionOf returns the action of an outbound frame, or nil.
func ActionOf(f GWFrame) map[string]any {
	a, _ := f.Obj["action"].(map[string]any)
	return a
}

// ContentOf returns the content of an outbound frame's action.
func ContentOf(f GWFrame) string {
	c, _ := ActionOf(f)["content"].(string)
	return c
}

// Actions returns the outbound frames the gateway sent toward chat (every
// chat when chat is ""), in order, keeping only ops when any are given.
func (g *GWCase) Actions(chat string, ops ...string) []GWFrame {
	var out []GWFrame
	for _, f := range g.F.GWFramesOf(contract.TypeOutbound) {
		a := ActionOf(f)
		if (chat == "" || a["chat_id"] == chat) && (len(ops) == 0 || slices.Contains(ops, fmt.Sprint(a["op"]))) {
			out = append(out, f)
		}
	}
	return out
}

// Contents returns the contents of frames.
func Contents(fs []GWFrame) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = ContentOf(f)
	}
	return out
}

// partIndicator is the " (i/N)" a gateway may end each part of a split
// reply with, as the reference gateway does.
var partIndicator = regexp.MustCompile(` \(\d+/\d+\)$`)

// Rejoin re-assembles the parts of a split reply by the echo profile's
// rule: in order, each without a trailing " (i/N)" indicator,
// concatenated.
func Rejoin(parts []string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(partIndicator.ReplaceAllString(p, ""))
	}
	return b.String()
}

var IsMediaUpload = Route("front", http.MethodPost, "/relay/media")

// mediaAs uploads data to the case's connector as the case's gateway and
// returns the item's id.
func (g *GWCase) mediaAs(data []byte) string {
	req, _ := http.NewRequest(http.MethodPost, g.Sim.URL()+"/relay/media", bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+contract.MintTokenTTL(g.GatewayID, g.Secret, time.Now(), time.Minute))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set(contract.HeaderMediaFilename, "conform.txt")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.S.Harness("upload media to the suite's connector: %v", err)
	}
	defer resp.Body.Close()
	var up contract.MediaUploadResponse
	if err := json.NewDecoder(resp.Body).Decode(&up); err != nil || resp.StatusCode != http.StatusOK || up.ID == "" {
		g.S.Harness("upload media to the suite's connector: HTTP %d, %v", resp.StatusCode, err)
	}
	return up.ID
}

// attachmentURLs sets up the three downloads of the attachment cases: the
// connector's own re-host of an item uploaded for the gateway, a look-alike
// path on another origin, and a file on the connector's origin outside
// /relay/media/. foreign answers what another origin serves.
type attachmentURLs struct {
	Own, Foreign, Sideways string
	OwnBody                []byte
}

func (g *GWCase) AttachmentURLs(foreignBody string) attachmentURLs {
	u := attachmentURLs{OwnBody: []byte("the connector's re-hosted attachment\n")}
	u.Own = g.F.URL() + "/relay/media/" + g.mediaAs(u.OwnBody)
	u.Foreign = g.F.ElsewhereURL() + "/relay/media/" + RandHex(16)
	u.Sideways = g.F.URL() + "/conform/attachment.txt"
	g.F.SetOnHTTP(func(req GWHTTP) (HTTPAnswer, bool) {
		switch {
		case req.Method == http.MethodGet && req.Server == "elsewhere":
			return HTTPAnswer{Status: http.StatusOK, Body: foreignBody}, true
		case req.Method == http.MethodGet && req.Server == "front" && req.Path == "/conform/attachment.txt":
			return HTTPAnswer{Status: http.StatusOK, Body: "an attachment beside the re-host\n"}, true
		}
		return HTTPAnswer{}, false
	})
	return u
}

// RawInbound renders an inbound frame carrying m, buffered when bufferID is
// set, compactly with a trailing newline.
func RawInbound(m UserMessage, bufferID string) []byte {
	fr := map[string]any{"type": contract.TypeInbound, "event": json.RawMessage(EventJSON(m))}
	if bufferID != "" {
		fr["bufferId"] = bufferID
	}
	return JSONLine(fr)
}

// ProbeAck writes a buffered inbound frame to the gateway (through write)
// and expects its inbound_ack: the gateway's reader is alive and handled
// the frame (IDLE-013).
func (g *GWCase) ProbeAck(id, what string, write func(frame []byte)) {
	m := g.NewMessage("probe " + what)
	b := "conform-" + RandHex(4)
	write(RawInbound(m, b))
	g.F.ExpectFrame(id, fmt.Sprintf("an inbound_ack for %s (%s)", b, what), AckFor(b))
}

// Holder holds the frames of chosen types on their way to the gateway
// until released.
type Holder struct {
	mu      sync.Mutex
	types   map[string]bool
	held    [][]byte
	conns   []*GWConn
	release bool
}

// Hold makes the front hold simulator frames of the given types. A
// message batching several frames is split: the held frames are taken
// out, the others pass on at once.
func (g *GWCase) Hold(types ...string) *Holder {
	h := &Holder{types: map[string]bool{}}
	for _, t := range types {
		h.types[t] = true
	}
	g.F.setDown(func(c *GWConn, msg []byte) []byte {
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
			g.S.Tr.Event(c.who, "suite holds %s", Truncate(string(fr), 120))
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

// ReleaseAll writes the held frames and stops holding.
func (h *Holder) ReleaseAll() {
	h.mu.Lock()
	h.release = true
	held, conns := h.held, h.conns
	h.held, h.conns = nil, nil
	h.mu.Unlock()
	for i, m := range held {
		conns[i].Write(m, false, "the held frame")
	}
}

func (h *Holder) Count() int {
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

// RewriteDescriptors makes the front pass every descriptor frame through
// fn before the gateway sees it.
// A message may carry several frames (the connector batches them); each
// descriptor among them is rewritten.
func (g *GWCase) RewriteDescriptors(fn func(d map[string]any)) {
	g.F.setDown(func(c *GWConn, msg []byte) []byte {
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
			out = append(out, JSONLine(fr)...)
		}
		return out
	})
}

// NoMoreDials checks no dial beyond n happens within d.
func (g *GWCase) NoMoreDials(n int, d time.Duration, id, what string) {
	if g.F.Await(d, func() bool { return g.F.DialCount() > n }) {
		g.S.Failf(id, what, "dial %d at +%s", n+1, g.F.Dial(n+1).At.Sub(g.F.Dial(n).At).Round(time.Millisecond))
	}
}

// ResultScript is how the in-process connector answers the case gateway's
// matching actions: the cases' narrow view of simulator.ResultScript, so
// the cases reach the simulator only through the harness.
type ResultScript struct {
	Op             string        // the op it answers; "" for every op
	ChatID         string        // the chat it answers; "" for every chat
	Delay          time.Duration // holds the answer back this long
	EgressDeclined bool          // answers the contract's egress decline (OUT-011)
}

// Script installs sc for the case's gateway.
func (g *GWCase) Script(sc ResultScript) error {
	_, err := g.Sim.Script(simulator.ResultScript{GatewayID: g.GatewayID, Op: sc.Op, ChatID: sc.ChatID, Delay: sc.Delay, EgressDeclined: sc.EgressDeclined})
	return err
}

// InjectEvent makes the in-process connector deliver a raw MessageEvent
// to the case's gateway, unchanged.
func (g *GWCase) InjectEvent(raw json.RawMessage) (simulator.Delivery, error) {
	return g.Sim.InjectEvent(simulator.InjectRequest{GatewayID: g.GatewayID, Event: raw})
}
