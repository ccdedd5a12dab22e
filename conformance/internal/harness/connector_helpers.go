package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/wspeer"
)

// Creds returns the case's gateway credentials.
func (s *S) Creds() GWCreds { return s.Cc.Creds }

// Primary returns the case gateway's first identity.
func (s *S) Primary() Identity {
	ids := s.Creds().Identities
	if len(ids) == 0 {
		s.Harness("the case's gateway fronts no platform")
	}
	return ids[0]
}

// Now returns the connector's current time: its controlled clock when the
// control API has one, else the local wall clock.
func (s *S) Now() time.Time {
	t := s.Run.Conn
	if t.Ctl != nil && t.Info.Clock {
		now, err := t.Ctl.now(s.Ctx)
		if err != nil {
			s.Harness("read the connector's clock: %v", err)
		}
		return now
	}
	return time.Now()
}

// ValidToken mints a token for the case's gateway that expires in 300 s.
func (s *S) ValidToken() string {
	c := s.Creds()
	return contract.MintToken(c.GatewayID, c.Secret, s.Now().Add(contract.DefaultTokenTTL).Unix())
}

// Dial opens a connection to the connector's /relay with token.
func (s *S) Dial(token string) dialResult {
	return s.dialURL(s.Run.Conn.Dial, dialOptions{token: token})
}

// MustDial dials with token and fails the case under id when the upgrade
// is refused.
func (s *S) MustDial(id, token string) *Peer {
	r := s.Dial(token)
	if r.P == nil {
		if r.Status != 0 {
			s.Failf(id, "the upgrade to be accepted (101)", "HTTP %d", r.Status)
		}
		s.Harness("dial %s: %v", s.Run.Conn.Dial, r.Err)
	}
	return r.P
}

// Connect dials with a valid token, sends one hello per identity and waits
// for the descriptors. It returns the open peer and the descriptors in
// arrival order.
//
// A connector whose policy for a second socket is reject (RC-002) may close
// the new socket 4409 "duplicate" while it has not yet let go of a socket of
// the same gateway that the suite closed a moment ago: this case's, or in a
// credentials-only run, where every case shares one gateway, the previous
// case's. A gateway meets that close by reconnecting with backoff (RC-004),
// and so does Connect, a few times, when the case has no other socket open;
// a case that holds one on purpose (RC-002's own) sees the close as it is.
func (s *S) Connect() (*Peer, []contract.CapabilityDescriptor) {
	s.Rely(BasicHandshake)
	ids := s.Creds().Identities
	for attempt := 0; ; attempt++ {
		alone := !s.hasOpenPeer()
		p := s.MustDial("AUTH-005", s.ValidToken())
		if !alone || attempt == len(duplicateBackoff) {
			return p, s.Handshake(p, ids...)
		}
		for _, id := range ids {
			p.Hello(id.Platform, id.BotID)
		}
		if !p.closedAsDuplicate(s.Within(1)) {
			return p, s.expectDescriptors(p, ids)
		}
		wait := duplicateBackoff[attempt]
		// An observation, not a verdict: the contract lets a connector
		// take a moment to let a socket go, but its author should know a
		// gateway that reconnects at once meets this.
		s.Observe("closed 4409 %q before any descriptor while the case had no other socket open: the connector still held a socket the suite had closed; reconnecting in %s, as a gateway does (RC-004)",
			contract.ReasonDuplicate, wait)
		select {
		case <-time.After(wait):
		case <-s.Ctx.Done():
			s.Harness("the case timed out while reconnecting after 4409 %q", contract.ReasonDuplicate)
		}
	}
}

// duplicateBackoff is how long Connect waits before each reconnection after
// a 4409 "duplicate" it did not provoke: about 1.5 s in all, far longer
// than a connector needs to notice a closed socket.
var duplicateBackoff = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
	400 * time.Millisecond, 800 * time.Millisecond}

// hasOpenPeer reports whether a socket the case opened is still open.
func (s *S) hasOpenPeer() bool {
	s.Mu.Lock()
	peers := append([]*Peer(nil), s.peers...)
	s.Mu.Unlock()
	for _, p := range peers {
		if !p.IsClosed() {
			return true
		}
	}
	return false
}

// closedAsDuplicate waits at most d for the first descriptor or the end of
// the connection, taking no frame, and reports whether the connection ended
// 4409 "duplicate" with no descriptor before it.
func (p *Peer) closedAsDuplicate(d time.Duration) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		wake := p.rx.Changed()
		if _, ok := p.rx.Find(OfType(contract.TypeDescriptor)); ok {
			return false
		}
		if p.IsClosed() {
			code, reason := p.CloseStatus()
			return code == contract.CloseConflict && reason == contract.ReasonDuplicate
		}
		select {
		case <-wake:
		case <-deadline.C:
			return false
		case <-p.S.Ctx.Done():
			return false
		}
	}
}

// Handshake sends a hello for each identity and expects one descriptor for
// each (HS-004), of the hello's platform and in hello order (HS-013), on
// every handshake of every case.
func (s *S) Handshake(p *Peer, ids ...Identity) []contract.CapabilityDescriptor {
	s.Rely(BasicHandshake)
	for _, id := range ids {
		p.Hello(id.Platform, id.BotID)
	}
	return s.expectDescriptors(p, ids)
}

// expectDescriptors is Handshake after its hellos went out.
func (s *S) expectDescriptors(p *Peer, ids []Identity) []contract.CapabilityDescriptor {
	var out []contract.CapabilityDescriptor
	for i, id := range ids {
		f := p.Expect("HS-004", fmt.Sprintf("a descriptor answering the hello for %q", id.Platform), OfType(contract.TypeDescriptor))
		d := s.DescriptorOf(f)
		if d.Platform != id.Platform {
			s.Failf("HS-013", fmt.Sprintf("descriptor %d of %d for platform %q, the platform of hello %d", i+1, len(ids), id.Platform, i+1),
				"a descriptor for platform %q", d.Platform)
		}
		out = append(out, d)
	}
	return out
}

// DescriptorOf decodes the descriptor of a descriptor frame, failing under
// HS-005/HS-006 when it does not decode.
func (s *S) DescriptorOf(f RxFrame) contract.CapabilityDescriptor {
	raw, ok := f.Obj["descriptor"]
	if !ok {
		s.Failf("HS-005", "a descriptor frame with an object member descriptor", "%s", f)
	}
	if _, isObj := raw.(map[string]any); !isObj {
		s.Failf("HS-005", "a descriptor frame with an object member descriptor", "%s", f)
	}
	b, _ := json.Marshal(raw)
	d, err := contract.DecodeDescriptor(b)
	if err != nil {
		s.Failf("HS-006", "a descriptor with every required field of the right type", "%v in %s", err, f)
	}
	return d
}

// ExpectRefusal checks that the connector refused the token of r the way
// AUTH-010 requires: upgrade completed, then close 4401 with the given
// reason, and no frame before the close (AUTH-011).
func (s *S) ExpectRefusal(r dialResult, reason string) {
	if r.P == nil {
		if r.Status != 0 {
			s.Failf("AUTH-010", fmt.Sprintf("the upgrade to complete and then a close 4401 %q", reason),
				"the upgrade was refused with HTTP %d; a gateway reads that as an ordinary dial error, never as revocation", r.Status)
		}
		s.Harness("dial: %v", r.Err)
	}
	p := r.P
	code, got := p.ExpectClose("AUTH-010", fmt.Sprintf("a close 4401 %q", reason), s.Within(1))
	if code != contract.CloseUnauthorized {
		s.Failf("AUTH-010", fmt.Sprintf("close 4401 %q", reason), "%s", p.CloseDesc())
	}
	if got != reason {
		s.Failf("AUTH-010", fmt.Sprintf("close 4401 with reason %q", reason), "close 4401 with reason %q", got)
	}
	if fs := p.All(); len(fs) > 0 {
		s.Failf("AUTH-011", "no frame before the 4401 close", "received %s", fs[0])
	}
}

// Outbound sends one outbound frame and returns the result for its
// requestId, checking OUT-006 and OUT-007 on the way.
func (s *S) Outbound(p *Peer, a contract.Action, platform string) (contract.Result, RxFrame) {
	rid := NewRequestID()
	p.Send(contract.Outbound{RequestID: rid, Action: a, Platform: platform})
	r, f := s.AwaitResult(p, rid)
	s.CheckAdvertisedOp(a.Op, platform, r, f)
	return r, f
}

// OutboundRaw sends an outbound frame built from a raw action object and
// waits for its result, failing under id when none arrives.
func (s *S) OutboundRaw(p *Peer, id string, action map[string]any, platform string) (contract.Result, RxFrame) {
	rid := NewRequestID()
	fr := map[string]any{"type": contract.TypeOutbound, "requestId": rid, "action": action}
	if platform != "" {
		fr["platform"] = platform
	}
	p.SendJSON(fr)
	r, f := s.awaitResultAs(p, rid, id)
	if op, ok := action["op"].(string); ok {
		s.CheckAdvertisedOp(op, platform, r, f)
	}
	return r, f
}

// CheckAdvertisedOp fails under OUT-009 when an op the destination's
// descriptor advertises (the legacy set when supported_ops is empty) is
// answered unsupported_op: OUT-009 reserves that code for ops it does not
// advertise.
func (s *S) CheckAdvertisedOp(op, platform string, r contract.Result, f RxFrame) {
	if r.Success || r.Code != contract.CodeUnsupportedOp {
		return
	}
	if platform == "" && len(s.Creds().Identities) > 0 {
		platform = s.Primary().Platform
	}
	for _, d := range s.Run.Conn.Probe {
		if d.Platform == platform && d.SupportsOp(op) {
			s.Failf("OUT-009", fmt.Sprintf("op %q, which the %s descriptor advertises, carried out or failed with another code", op, platform),
				"unsupported_op: %s", f)
		}
	}
}

// AwaitResult waits for the outbound_result of rid.
func (s *S) AwaitResult(p *Peer, rid string) (contract.Result, RxFrame) {
	return s.awaitResultAs(p, rid, "OUT-006")
}

// awaitResultAs waits for the outbound_result of rid, failing under id when
// none arrives.
func (s *S) awaitResultAs(p *Peer, rid, id string) (contract.Result, RxFrame) {
	s.Rely(BasicSend)
	f := p.Expect(id, "an outbound_result with requestId "+rid, func(f RxFrame) bool {
		return f.Type == contract.TypeOutboundResult && f.Str("requestId") == rid
	})
	res, ok := f.Obj["result"].(map[string]any)
	if !ok {
		s.Failf("OUT-007", "an object result", "%s", f)
	}
	if _, ok := res["success"].(bool); !ok {
		s.Failf("OUT-007", "a boolean result.success", "%s", f)
	}
	var r contract.Result
	b, _ := json.Marshal(res)
	if err := json.Unmarshal(b, &r); err != nil {
		s.Failf("OUT-007", "a result that decodes", "%v in %s", err, f)
	}
	if !r.Success {
		s.checkFailureShape(f, res)
	}
	return r, f
}

// checkFailureShape checks OUT-008 on a failed result, as a warning.
func (s *S) checkFailureShape(f RxFrame, res map[string]any) {
	if _, ok := res["error"].(string); !ok {
		s.Softf("OUT-008", "a failed result with a string error", "%s", f)
	}
	if c, ok := res["code"]; ok {
		cs, isStr := c.(string)
		known := false
		for _, k := range contract.ResultCodes {
			known = known || cs == k
		}
		if !isStr || !known {
			s.Softf("OUT-008", "code, when present, one of "+strings.Join(contract.ResultCodes, ", "), "code %v", c)
		}
	}
}

// ExpectOneResult checks no second result for rid arrives within d.
func (s *S) ExpectOneResult(p *Peer, rid string, d time.Duration) {
	p.ExpectNone(d, "OUT-006", "exactly one outbound_result for requestId "+rid, func(f RxFrame) bool {
		return f.Type == contract.TypeOutboundResult && f.Str("requestId") == rid
	})
}

// NewRequestID returns a fresh 32-hex requestId.
func NewRequestID() string { return RandHex(16) }

// SendAction is a valid send action to chat.
func SendAction(chat, content string) contract.Action {
	return contract.Action{Op: contract.OpSend, ChatID: chat, Content: content, Metadata: map[string]any{}}
}

// Chat returns a chat id the case's gateway may post to.
func (s *S) Chat() string {
	if c := s.Run.Conn.Opts.ChatID; c != "" {
		return c
	}
	return "conformance-chat"
}

// handshakeOnce dials, sends the hellos and reads the descriptors without
// any case context (used to probe features before the run).
func handshakeOnce(ctx context.Context, dialURL string, c GWCreds) ([]contract.CapabilityDescriptor, error) {
	tok := contract.MintToken(c.GatewayID, c.Secret, time.Now().Add(contract.DefaultTokenTTL).Unix())
	conn, resp, err := wspeer.Dial(ctx, dialURL, wspeer.Options{Token: tok})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("upgrade refused with HTTP %d", resp.StatusCode)
		}
		return nil, err
	}
	defer conn.CloseNow()
	for _, id := range c.Identities {
		if err := conn.WriteFrame(ctx, contract.Hello{Platform: id.Platform, BotID: id.BotID}); err != nil {
			return nil, err
		}
	}
	var out []contract.CapabilityDescriptor
	var sp contract.LineSplitter
	for len(out) < len(c.Identities) {
		msg, _, err := conn.Read(ctx)
		if err != nil {
			if len(out) > 0 {
				return out, nil
			}
			return nil, fmt.Errorf("no descriptor: %w", err)
		}
		// Frames without a newline are still looked at here; the cases
		// judge TRN-002.
		if !strings.HasSuffix(string(msg), "\n") {
			msg = append(msg, '\n')
		}
		_ = sp.Feed(msg, func(line []byte) error {
			if f, err := contract.DecodeFrame(line); err == nil {
				if d, ok := f.(contract.DescriptorFrame); ok {
					out = append(out, d.Descriptor)
				}
			}
			return nil
		})
	}
	_ = conn.Close(contract.CloseNormal, "")
	return out, nil
}
