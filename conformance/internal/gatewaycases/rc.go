package gatewaycases

import (
	"fmt"
	"net/http"
	"time"

	h "github.com/relaykit/relaykit/conformance/internal/harness"
	"github.com/relaykit/relaykit/contract"
)

// Gateway cases of section 10 of the contract, Close codes and reconnect (RC-*).

var _ = h.GatewayCase(h.Case{
	ID:   "RC-004/retryable-closes",
	Reqs: []string{"RC-004", "RC-005", "RC-001"},
	Text: "every close other than 4401 (1011, 1013, 4409, and 1000 from the connector) is followed by a re-dial, one dial at a time",
	Slow: true,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	closes := []struct {
		code   int
		reason string
	}{{1011, "keepalive timeout"}, {1013, "throttled"}, {4409, "replaced"}, {1000, "bye"}}
	for i, cl := range closes {
		c := g.Handshaked(i + 1)
		s.Check(g.F.OpenConns() == 1, "RC-005", "one connection at a time", "%d open", g.F.OpenConns())
		c.CloseWith(cl.code, cl.reason)
		if !g.WaitDials(i+2, 2*capWait(g)) {
			s.Failf("RC-004", fmt.Sprintf("a re-dial after close %d %q", cl.code, cl.reason), "no dial within %s", 2*capWait(g))
		}
	}
	g.Handshaked(len(closes) + 1)
})

// capWait is the longest single backoff wait the gateway should take.
func capWait(g *h.GWCase) time.Duration {
	if g.T.Opts.Timers {
		return h.KnobBackoffCap + 2*time.Second
	}
	return contract.BackoffCap + 2*time.Second
}

var _ = h.GatewayCase(h.Case{
	ID:    "RC-006/backoff-ladder",
	Reqs:  []string{"RC-006"},
	Text:  "before reconnect attempt n the gateway waits between d/2 and d, d = min(base·2^(n−1), cap)",
	Needs: h.NeedTimers,
	Slow:  true,
}, func(s *h.S) {
	const refusals = 5
	g := s.Gateway(h.GWConfig{Before: func(g *h.GWCase) {
		g.F.SetOnDial(func(d *h.GWDial) h.DialPlan {
			if d.N <= refusals {
				return h.DialPlan{RefuseHTTP: http.StatusServiceUnavailable}
			}
			return h.DialPlan{}
		})
	}})
	g.Handshaked(refusals + 1)
	checkLadder(s, g, "RC-006", refusals)
})

// checkLadder checks the gaps before dials 2..n+1 against the ladder: each
// in [d/2, d], and, taken together, drawn at random. A wait's position in
// its range is (wait − d/2) / (d/2); waits drawn uniformly spread over
// [0, 1], so n positions within jitterBand of each other (every wait at d,
// every wait at d/2, or every wait at the same fraction) mean there is no
// jitter. For five uniform draws that happens by chance with probability
// about 5·0.05⁴ = 3·10⁻⁵. Positions are clamped to [0, 1]: a wait measured
// a little past d, by the latency of the dial itself, sits at the top.
func checkLadder(s *h.S, g *h.GWCase, id string, n int) {
	gaps := gaps(g)
	var pos []float64
	for i := 0; i < n && i < len(gaps); i++ {
		d := backoffCeiling(h.KnobBackoffBase, h.KnobBackoffCap, i+1)
		lo, hi := d/2-25*time.Millisecond, d+400*time.Millisecond
		if gaps[i] < lo || gaps[i] > hi {
			s.Failf(id, fmt.Sprintf("wait %d in [%s, %s] (base %s, cap %s)", i+1, d/2, d, h.KnobBackoffBase, h.KnobBackoffCap),
				"waits %v", roundAll(gaps))
		}
		// A wait measured past d (the dial's own latency) sits at the
		// top of its range.
		pos = append(pos, min(max(float64(gaps[i]-d/2)/float64(d/2), 0), 1))
	}
	s.Observe("waits %v; positions in [d/2, d]: %.2f", roundAll(gaps), pos)
	if len(pos) < 5 {
		return
	}
	lo, hi := pos[0], pos[0]
	for _, p := range pos {
		lo, hi = min(lo, p), max(hi, p)
	}
	if hi-lo < jitterBand {
		s.Failf(id, "waits drawn at random from [d/2, d] (jitter)",
			"every wait sits at the same point of its range (positions %.2f to %.2f of [d/2, d]): waits %v", lo, hi, roundAll(gaps))
	}
}

// jitterBand is how close the positions of all waits in their ranges must
// be to count as no jitter.
const jitterBand = 0.05

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

var _ = h.GatewayCase(h.Case{
	ID:    "RC-007/no-early-reset",
	Reqs:  []string{"RC-007"},
	Text:  "a connection closed right after its handshake does not reset the backoff counter: the waits keep climbing",
	Needs: h.NeedTimers,
	Slow:  true,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	const rounds = 4
	for i := 1; i <= rounds; i++ {
		closeAfterHandshake(g, i, 1011, "internal error")
		if !g.WaitDials(i+1, 2*capWait(g)) {
			s.Failf("RC-004", "a re-dial after close 1011", "no dial %d", i+1)
		}
	}
	gaps := gaps(g)
	for i := 1; i < rounds && i < len(gaps); i++ {
		d := backoffCeiling(h.KnobBackoffBase, h.KnobBackoffCap, i+1)
		if gaps[i] < d/2-25*time.Millisecond {
			s.Failf("RC-007", fmt.Sprintf("wait %d of at least %s (the counter keeps climbing)", i+1, d/2), "waits %v", roundAll(gaps))
		}
	}
})

var _ = h.GatewayCase(h.Case{
	ID:   "RC-008/http-refusal-retried",
	Reqs: []string{"RC-008"},
	Text: "an HTTP 401 or 403 answer to the upgrade is an ordinary dial error, retried with backoff, never revocation",
	Slow: true,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{Before: func(g *h.GWCase) {
		g.F.SetOnDial(func(d *h.GWDial) h.DialPlan {
			switch d.N {
			case 1:
				return h.DialPlan{RefuseHTTP: http.StatusUnauthorized}
			case 2:
				return h.DialPlan{RefuseHTTP: http.StatusForbidden}
			}
			return h.DialPlan{}
		})
	}})
	if !g.WaitDials(3, g.StartTimeout()+2*capWait(g)) {
		s.Failf("RC-008", "a third dial after HTTP 401 and 403", "%d dials", g.F.DialCount())
	}
	g.Handshaked(3)
})

var _ = h.GatewayCase(h.Case{
	ID:   "RC-010/4401-before-handshake",
	Reqs: []string{"RC-010"},
	Text: "a 4401 before the gateway ever received a descriptor is retried with ordinary backoff",
	Slow: true,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{Before: func(g *h.GWCase) {
		g.F.SetOnDial(func(d *h.GWDial) h.DialPlan {
			if d.N <= 2 {
				return h.DialPlan{CloseCode: contract.CloseUnauthorized, CloseReason: contract.ReasonUnauthorized}
			}
			return h.DialPlan{}
		})
	}})
	if !g.WaitDials(3, g.StartTimeout()+2*capWait(g)) {
		s.Failf("RC-010", "dialling on after two 4401 \"unauthorized\" before any descriptor", "%d dials", g.F.DialCount())
	}
	g.Handshaked(3)
})

var _ = h.GatewayCase(h.Case{
	ID:   "RC-011/first-strike-redial",
	Reqs: []string{"RC-011"},
	Text: "the first 4401 \"unauthorized\" after a handshake triggers one immediate re-dial with a fresh token, without backoff",
}, func(s *h.S) {
	env := map[string]string{}
	if g := s.Gc; g.T.Opts.Timers {
		env[h.EnvBackoffBase] = "3s"
		env[h.EnvBackoffCap] = "3s"
	}
	g := s.Gateway(h.GWConfig{Env: env})
	c := closeAfterHandshake(g, 1, contract.CloseUnauthorized, contract.ReasonUnauthorized)
	_, _, _, closedAt := c.CloseInfo()
	if !g.WaitDials(2, 5*time.Second) {
		s.Failf("RC-011", "an immediate re-dial after the first 4401", "no re-dial")
	}
	gap := g.F.Dial(2).At.Sub(closedAt)
	s.Check(gap < 400*time.Millisecond, "RC-011", "the re-dial without backoff (well under the first backoff wait of at least 500 ms)", "re-dial after %s", gap.Round(time.Millisecond))
	s.CheckToken(g, g.F.Dial(2))
	g.Handshaked(2)
})

var _ = h.GatewayCase(h.Case{
	ID:   "RC-012/second-strike-terminal",
	Reqs: []string{"RC-012"},
	Text: "a 4401 \"unauthorized\" on the fresh-token connection is terminal: the gateway stops dialling",
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	g.F.SetOnDial(func(d *h.GWDial) h.DialPlan {
		if d.N >= 2 {
			return h.DialPlan{CloseCode: contract.CloseUnauthorized, CloseReason: contract.ReasonUnauthorized}
		}
		return h.DialPlan{}
	})
	closeAfterHandshake(g, 1, contract.CloseUnauthorized, contract.ReasonUnauthorized)
	if !g.WaitDials(2, 5*time.Second) {
		s.Failf("RC-011", "the fresh-token re-dial after the first 4401", "no re-dial")
	}
	g.NoMoreDials(2, g.TerminalWait(), "RC-012", "no dial after a 4401 on the fresh-token connection")
})

var _ = h.GatewayCase(h.Case{
	ID:   "RC-013/expired-not-terminal",
	Reqs: []string{"RC-013"},
	Text: "a 4401 \"expired\" is never terminal, however often it repeats: the gateway reconnects with backoff",
	Slow: true,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	g.F.SetOnDial(func(d *h.GWDial) h.DialPlan {
		if d.N == 2 || d.N == 3 {
			return h.DialPlan{CloseCode: contract.CloseUnauthorized, CloseReason: contract.ReasonExpired}
		}
		return h.DialPlan{}
	})
	closeAfterHandshake(g, 1, contract.CloseUnauthorized, contract.ReasonExpired)
	if !g.WaitDials(4, 3*capWait(g)) {
		s.Failf("RC-013", "re-dials after three 4401 \"expired\" in a row", "%d dials", g.F.DialCount())
	}
	g.Handshaked(4)
})

var _ = h.GatewayCase(h.Case{
	ID:   "RC-014/fresh-token-role-survives",
	Reqs: []string{"RC-014", "RC-012"},
	Text: "the fresh-token role survives a dial that fails before authentication: the next 4401 is terminal",
	Slow: true,
}, func(s *h.S) {
	g := s.Gateway(h.GWConfig{})
	g.F.SetOnDial(func(d *h.GWDial) h.DialPlan {
		switch {
		case d.N == 2:
			return h.DialPlan{RefuseHTTP: http.StatusServiceUnavailable}
		case d.N >= 3:
			return h.DialPlan{CloseCode: contract.CloseUnauthorized, CloseReason: contract.ReasonUnauthorized}
		}
		return h.DialPlan{}
	})
	closeAfterHandshake(g, 1, contract.CloseUnauthorized, contract.ReasonUnauthorized)
	if !g.WaitDials(3, 2*capWait(g)) {
		s.Failf("RC-014", "a dial after the refused fresh-token dial", "%d dials", g.F.DialCount())
	}
	g.NoMoreDials(3, g.TerminalWait(), "RC-014", "no dial after a 4401 on the dial that inherited the fresh-token role")
})

// gaps returns the times between successive dials, from dial 1.
func gaps(g *h.GWCase) []time.Duration {
	var out []time.Duration
	for n := 2; n <= g.F.DialCount(); n++ {
		out = append(out, g.F.Dial(n).At.Sub(g.F.Dial(n-1).At))
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

// closeAfterHandshake closes connection n with code and reason once it is
// handshaked.
func closeAfterHandshake(g *h.GWCase, n, code int, reason string) *h.GWConn {
	c := g.Handshaked(n)
	c.CloseWith(code, reason)
	return c
}
