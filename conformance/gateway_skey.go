package conformance

import (
	"github.com/relaykit/relaykit/contract"
)

// Gateway cases of section 11 of the contract, Session keys (SKEY-*).

var _ = gatewayCase(Case{
	ID:    "SKEY-001/group-session-key",
	Reqs:  []string{"SKEY-001"},
	Text:  "the session key of a Discord group message with a guild scope is computed by the contract's algorithm (the scope belongs to Slack keys only)",
	Needs: NeedEcho,
}, func(s *S) {
	g := s.gateway(gwConfig{Identities: []identity{{Platform: "discord", BotID: "conform-discord"}}})
	g.handshaked(1)
	m := g.newMessage("/interrupt")
	m.ChatType, m.ScopeID, m.Addressed = "group", "conform-guild", true
	g.inject(m)
	f := g.f.expectFrame("SKEY-001", "an interrupt frame for chat "+m.ChatID+" (echo profile: /interrupt)", ofGwType(contract.TypeInterrupt))
	src := contract.SessionSource{Platform: m.Platform, ChatID: m.ChatID, ChatType: m.ChatType, UserID: m.UserID, ScopeID: m.ScopeID}
	want := contract.SessionKey(src, contract.DefaultSessionKeyOptions())
	s.Check(f.str("session_key") == want, "SKEY-001", "session_key "+want, "%q", f.str("session_key"))
})
