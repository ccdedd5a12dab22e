package conformance

import "fmt"

// Preflight cases of the gateway suite: the basics nearly every other case
// relies on. They run first; when one does not pass, each case relying on
// its basic is blocked by it (see S.rely), so a gateway that cannot start
// costs one start timeout, not one per case.

var _ = gatewayCase(Case{
	ID:    "HS-003/preflight-start",
	Reqs:  []string{"HS-003"},
	Text:  "preflight: the gateway starts with the testee environment, dials the connector and sends one hello per identity",
	Basic: basicStart,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	g.handshaked(1)
})

var _ = gatewayCase(Case{
	ID:    "OUT-004/preflight-echo",
	Reqs:  []string{"OUT-004", "OUT-003", "OUT-001"},
	Text:  "preflight: the gateway answers a text message with a well-formed send to that chat (the echo profile it declares)",
	Needs: NeedEcho,
	Basic: basicEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{})
	g.handshaked(1)
	m := g.newMessage("conformance preflight")
	g.inject(m)
	if _, ok := g.f.waitFrame(s.within(1), isReplyTo(m)); !ok {
		s.Untestable("%s", fmt.Sprintf("the gateway declares the echo profile but sent no send containing %q to chat %s; the cases that need echo replies cannot judge anything", m.Text, m.ChatID))
	}
})
