package gatewaycases

import (
	"fmt"

	h "github.com/relaykit/relaykit/conformance/internal/harness"
)

// Preflight cases of the gateway suite: the basics nearly every other case
// relies on. They run first; when one does not pass, each case relying on
// its basic is blocked by it (see S.Rely), so a gateway that cannot start
// costs one start timeout, not one per case.

var _ = h.GatewayCase(h.Case{
	ID:    "HS-003/preflight-start",
	Reqs:  []string{"HS-003"},
	Text:  "preflight: the gateway starts with the testee environment, dials the connector and sends one hello per identity",
	Basic: h.BasicStart,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	g.Handshaked(1)
})

var _ = h.GatewayCase(h.Case{
	ID:    "OUT-004/preflight-echo",
	Reqs:  []string{"OUT-004", "OUT-003", "OUT-001"},
	Text:  "preflight: the gateway answers a text message with a well-formed send to that chat (the echo profile it declares)",
	Needs: h.NeedEcho,
	Basic: h.BasicEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	g.Handshaked(1)
	m := g.NewMessage("conformance preflight")
	g.Inject(m)
	if _, ok := g.F.WaitFrame(s.Within(1), h.IsReplyTo(m)); !ok {
		s.Untestable("%s", fmt.Sprintf("the gateway declares the echo profile but sent no send containing %q to chat %s; the cases that need echo replies cannot judge anything", m.Text, m.ChatID))
	}
})
