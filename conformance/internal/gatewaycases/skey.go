package gatewaycases

import (
	h "github.com/relaykit/relaykit/conformance/internal/harness"
	"github.com/relaykit/relaykit/contract"
)

// Gateway cases of section 11 of the contract, Session keys (SKEY-*).

var _ = h.GatewayCase(h.Case{
	ID:    "SKEY-001/group-session-key",
	Reqs:  []string{"SKEY-001"},
	Text:  "the session key of a Discord group message with a guild scope is computed by the contract's algorithm (the scope belongs to Slack keys only)",
	Needs: h.NeedEcho,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{Identities: []h.Identity{{Platform: "discord", BotID: "conform-discord"}}})
	g.Handshaked(1)
	m := g.NewMessage("/interrupt")
	m.ChatType, m.ScopeID, m.Addressed = "group", "conform-guild", true
	g.Inject(m)
	f := g.F.ExpectFrame("SKEY-001", "an interrupt frame for chat "+m.ChatID+" (echo profile: /interrupt)", h.OfGWType(contract.TypeInterrupt))
	src := contract.SessionSource{Platform: m.Platform, ChatID: m.ChatID, ChatType: m.ChatType, UserID: m.UserID, ScopeID: m.ScopeID}
	want := contract.SessionKey(src, contract.DefaultSessionKeyOptions())
	s.Check(f.Str("session_key") == want, "SKEY-001", "session_key "+want, "%q", f.Str("session_key"))
})
