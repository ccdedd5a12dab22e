package gatewaycases

import (
	"time"

	h "github.com/relaykit/relaykit/conformance/internal/harness"
)

// Gateway cases of section 3 of the contract, Upgrade authentication (AUTH-*).

var _ = h.GatewayCase(h.Case{
	ID:   "AUTH-001/fresh-token",
	Reqs: []string{"AUTH-001", "AUTH-003"},
	Text: "every upgrade carries a canonical bearer token signed with the secret, minted afresh for that dial",
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	c := g.Handshaked(1)
	d1 := g.F.Dial(1)
	s.CheckToken(g, d1)
	// Tokens minted in the same second are byte-identical; let a second
	// pass so a fresh token must differ.
	if wait := time.Until(d1.At.Add(1100 * time.Millisecond)); wait > 0 {
		time.Sleep(wait)
	}
	c.CloseWith(int(1011), "conformance: reconnect")
	if !g.WaitDials(2, 2*h.KnobBackoffCap+5*time.Second) {
		s.Failf("RC-004", "a re-dial after a 1011 close", "no second dial")
	}
	d2 := g.F.Dial(2)
	s.CheckToken(g, d2)
	if d1.Claims.Exp == 0 {
		s.Untestable("the gateway mints tokens that never expire (exp 0), so a fresh token cannot be told from a reused one")
	}
	s.Check(d2.Claims.Exp > d1.Claims.Exp, "AUTH-001", "a token minted afresh for the second dial (a later exp)",
		"exp %d on dial 1 at %s and exp %d on dial 2 at %s", d1.Claims.Exp, d1.At.Format(time.TimeOnly), d2.Claims.Exp, d2.At.Format(time.TimeOnly))
})

var _ = h.GatewayCase(h.Case{
	ID:   "AUTH-004/token-lifetime",
	Reqs: []string{"AUTH-004"},
	Text: "an upgrade token expires 300 s after it is minted",
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	g.Handshaked(1)
	d := g.F.Dial(1)
	left := time.Unix(d.Claims.Exp, 0).Sub(d.At)
	s.Check(d.Claims.Exp != 0 && left > 290*time.Second && left < 310*time.Second, "AUTH-004",
		"exp about 300 s after the dial", "exp %d, %s after the dial", d.Claims.Exp, left.Round(time.Second))
})
