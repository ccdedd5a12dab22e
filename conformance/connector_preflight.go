package conformance

// Preflight cases of the connector suite: the basics that nearly every
// other case relies on. They run first, whatever the selection; when one
// does not pass, each case that relies on its basic is blocked by it (see
// S.rely) instead of failing under its own requirement, so one broken
// basic is reported once, under the requirement it breaks.

var _ = connectorCase(Case{
	ID:    "HS-004/preflight-handshake",
	Reqs:  []string{"HS-004", "HS-005", "HS-006", "HS-013"},
	Text:  "preflight: with a valid token, each hello of a fronted platform is answered with one descriptor of that platform, in hello order",
	Basic: basicHandshake,
}, func(s *S) {
	s.connect()
})

var _ = connectorCase(Case{
	ID:    "OUT-006/preflight-send",
	Reqs:  []string{"OUT-006", "OUT-007"},
	Text:  "preflight: a send to the configured chat is answered by its outbound_result",
	Basic: basicSend,
}, func(s *S) {
	p, _ := s.connect()
	t := s.run.conn
	if t.opts.ChatID == "" && t.ctl != nil {
		// Some connectors post only to chats a user wrote in first. With
		// the control API and no --chat-id, a user writes in the default
		// chat on every platform before the send.
		for _, id := range s.creds().Identities {
			m := s.newMessage("conformance: a user writes first")
			m.Platform, m.ChatID = id.Platform, s.chat()
			s.inject(m)
			p.expectInbound("IN-001", m)
		}
	}
	r, f := s.outbound(p, sendAction(s.chat(), "conformance preflight"), "")
	if !r.Success {
		s.Untestable("a send to chat %q did not succeed (%s); the cases that send need a chat the gateway may post to: name one with --chat-id", s.chat(), f)
	}
})

var _ = connectorCase(Case{
	ID:    "IN-001/preflight-inject",
	Reqs:  []string{"IN-001"},
	Text:  "preflight: a message injected through the testee control API arrives live as an inbound frame",
	Needs: NeedControl,
	Basic: basicInject,
}, func(s *S) {
	p, _ := s.connect()
	m := s.newMessage("conformance preflight")
	if d := s.inject(m); d != "live" {
		s.Harness("the control API reported delivery %q for a message to a connected gateway, not live", d)
	}
	f := p.expectInbound("IN-001", m)
	if _, ok := f.Obj["event"].(map[string]any); !ok {
		s.Failf("IN-001", "an inbound frame with an object event", "%s", f)
	}
})
