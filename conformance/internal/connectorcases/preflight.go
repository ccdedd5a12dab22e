package connectorcases

import h "github.com/relaykit/relaykit/conformance/internal/harness"

// Preflight cases of the connector suite: the basics that nearly every
// other case relies on. They run first, whatever the selection; when one
// does not pass, each case that relies on its basic is blocked by it (see
// S.Rely) instead of failing under its own requirement, so one broken
// basic is reported once, under the requirement it breaks.

var _ = h.ConnectorCase(h.Case{
	ID:    "HS-004/preflight-handshake",
	Reqs:  []string{"HS-004", "HS-005", "HS-006", "HS-013"},
	Text:  "preflight: with a valid token, each hello of a fronted platform is answered with one descriptor of that platform, in hello order",
	Basic: h.BasicHandshake,
}, func(s *h.S) {
	s.Connect()
})

var _ = h.ConnectorCase(h.Case{
	ID:    "OUT-006/preflight-send",
	Reqs:  []string{"OUT-006", "OUT-007"},
	Text:  "preflight: a send to the configured chat is answered by its outbound_result",
	Basic: h.BasicSend,
}, func(s *h.S) {
	p, _ := s.Connect()
	t := s.Run.Conn
	if t.Opts.ChatID == "" && t.Ctl != nil {
		// Some connectors post only to chats a user wrote in first. With
		// the control API and no --chat-id, a user writes in the default
		// chat on every platform before the send.
		for _, id := range s.Creds().Identities {
			m := s.NewMessage("conformance: a user writes first")
			m.Platform, m.ChatID = id.Platform, s.Chat()
			s.Inject(m)
			p.ExpectInbound("IN-001", m)
		}
	}
	r, f := s.Outbound(p, h.SendAction(s.Chat(), "conformance preflight"), "")
	if !r.Success {
		s.Untestable("a send to chat %q did not succeed (%s); the cases that send need a chat the gateway may post to: name one with --chat-id", s.Chat(), f)
	}
})

var _ = h.ConnectorCase(h.Case{
	ID:    "IN-001/preflight-inject",
	Reqs:  []string{"IN-001"},
	Text:  "preflight: a message injected through the testee control API arrives live as an inbound frame",
	Needs: h.NeedControl,
	Basic: h.BasicInject,
}, func(s *h.S) {
	p, _ := s.Connect()
	m := s.NewMessage("conformance preflight")
	if d := s.Inject(m); d != "live" {
		s.Harness("the control API reported delivery %q for a message to a connected gateway, not live", d)
	}
	f := p.ExpectInbound("IN-001", m)
	if _, ok := f.Obj["event"].(map[string]any); !ok {
		s.Failf("IN-001", "an inbound frame with an object event", "%s", f)
	}
})
