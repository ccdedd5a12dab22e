package conformance

import (
	"fmt"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// Connector cases of section 4: handshake and descriptor.

var _ = connectorCase(Case{
	ID:    "HS-004/descriptor-per-hello",
	Reqs:  []string{"HS-004", "HS-005", "HS-013"},
	Text:  "the connector answers each fronted hello with exactly one descriptor of that platform, in hello order",
	Needs: NeedTwoPlatforms,
}, func(s *S) {
	ids := s.creds().Identities
	p := s.mustDial("AUTH-005", s.validToken())
	for _, id := range ids {
		p.hello(id.Platform, id.BotID)
	}
	for i, id := range ids {
		f := p.expect("HS-004", fmt.Sprintf("descriptor %d of %d, for %q", i+1, len(ids), id.Platform), ofType(contract.TypeDescriptor))
		d := s.descriptorOf(f)
		s.Check(d.Platform == id.Platform, "HS-013", fmt.Sprintf("descriptor %d for platform %q (hello order)", i+1, id.Platform), "platform %q", d.Platform)
	}
	p.expectNone(s.quiet(), "HS-004", "exactly one descriptor per hello", ofType(contract.TypeDescriptor))
})

var _ = connectorCase(Case{
	ID:   "HS-006/descriptor-fields",
	Reqs: []string{"HS-006", "HS-007", "HS-008", "HS-009"},
	Text: "the descriptor has every required field with its JSON type, contract_version >= 1, len_unit chars or utf16 and an integer max_message_length",
}, func(s *S) {
	p := s.mustDial("AUTH-005", s.validToken())
	id := s.primary()
	p.hello(id.Platform, id.BotID)
	f := p.expect("HS-004", "a descriptor", ofType(contract.TypeDescriptor))
	d, ok := f.Obj["descriptor"].(map[string]any)
	if !ok {
		s.Failf("HS-005", "an object member descriptor", "%s", f)
	}
	kinds := map[string]string{
		"contract_version": "integer", "platform": "string", "label": "string", "max_message_length": "integer",
		"supports_draft_streaming": "boolean", "supports_edit": "boolean", "supports_threads": "boolean",
		"markdown_dialect": "string", "len_unit": "string",
	}
	for _, k := range contract.RequiredDescriptorFields {
		v, present := d[k]
		if !present {
			s.Failf("HS-006", "required field "+k, "absent in %s", f)
		}
		if !jsonKind(v, kinds[k]) {
			s.Failf("HS-006", fmt.Sprintf("%s of type %s", k, kinds[k]), "%v (%T)", v, v)
		}
	}
	if v, _ := d["contract_version"].(float64); v < 1 {
		s.Failf("HS-007", "contract_version >= 1", "%v", d["contract_version"])
	}
	if u := d["len_unit"]; u != contract.LenUnitChars && u != contract.LenUnitUTF16 {
		s.Failf("HS-008", "len_unit chars or utf16", "%v", u)
	}
	if !jsonKind(d["max_message_length"], "integer") {
		s.Failf("HS-009", "an integer max_message_length", "%v", d["max_message_length"])
	}
})

// jsonKind reports whether a decoded JSON value has the given JSON type.
func jsonKind(v any, kind string) bool {
	switch kind {
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == float64(int64(f))
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	}
	return false
}

var _ = connectorCase(Case{
	ID:   "HS-010/known-ops",
	Reqs: []string{"HS-010"},
	Text: "supported_ops lists only op names of this contract, each once",
}, func(s *S) {
	_, ds := s.connect()
	for _, d := range ds {
		seen := map[string]bool{}
		for _, op := range d.SupportedOps {
			if !contract.IsKnownOp(op) {
				s.Failf("HS-010", "only ops of the contract in supported_ops", "%q in the %s descriptor", op, d.Platform)
			}
			if seen[op] {
				s.Failf("HS-010", "each op listed once", "%q twice in the %s descriptor", op, d.Platform)
			}
			seen[op] = true
		}
	}
})

var _ = connectorCase(Case{
	ID:         "HS-014/no-fronted-platform",
	movesClock: true,
	Reqs:       []string{"HS-014", "RC-001"},
	Text:       "a connection whose hellos name no fronted platform gets no descriptor and is closed 1008 \"platform not fronted\" within 30 s",
	// A connector may legitimately wait the full 30 s.
	Timeout: 45 * time.Second,
}, func(s *S) {
	p := s.mustDial("AUTH-005", s.validToken())
	p.hello("conform-unfronted-"+randHex(3), "")
	closedWithin30s(s, p, "HS-014", contract.ReasonPlatformNotFronted)
})

// closedWithin30s waits for a 1008 close with reason, moving the
// connector's clock when it can and waiting out the 30 s otherwise.
func closedWithin30s(s *S, p *peer, id, reason string) {
	notDescriptor := func(f rxFrame) bool { return f.Type == contract.TypeDescriptor }
	f, r := p.waitFor(s.quiet(), notDescriptor)
	if r == gotFrame {
		s.Failf(id, "no descriptor", "received %s", f)
	}
	if r != gotClose {
		if t := s.run.conn; t.ctl != nil && t.info.Clock {
			s.Step("advance the connector's clock by 31 s")
			if err := t.ctl.advance(s.ctx, 31*time.Second); err != nil {
				s.Harness("advance the clock: %v", err)
			}
			f, r = p.waitFor(s.within(1), notDescriptor)
		} else {
			s.Step("wait up to 31 s for the close")
			f, r = p.waitFor(31*time.Second, notDescriptor)
		}
	}
	switch r {
	case gotFrame:
		s.Failf(id, "no descriptor", "received %s", f)
	case gotUnterminated:
		p.unterminated()
	case gotTimeout:
		s.Failf(id, fmt.Sprintf("close 1008 %q within 30 s", reason), "still open after 31 s")
	}
	code, got := p.closeStatus()
	s.Check(code == contract.ClosePolicyViolation && got == reason, id,
		fmt.Sprintf("close 1008 %q", reason), "%s", p.closeDesc())
}

var _ = connectorCase(Case{
	ID:   "HS-014/unfronted-among-fronted",
	Reqs: []string{"HS-014"},
	Text: "a hello for an unfronted platform gets no descriptor while the fronted hello gets one and the connection stays open",
}, func(s *S) {
	id := s.primary()
	p := s.mustDial("AUTH-005", s.validToken())
	p.hello("conform-unfronted-"+randHex(3), "")
	p.hello(id.Platform, id.BotID)
	f := p.expect("HS-004", "a descriptor for the fronted hello", ofType(contract.TypeDescriptor))
	d := s.descriptorOf(f)
	s.Check(d.Platform == id.Platform, "HS-014", "only the fronted platform's descriptor", "descriptor for %q", d.Platform)
	p.expectNone(s.quiet(), "HS-014", "no descriptor for the unfronted hello", ofType(contract.TypeDescriptor))
	p.stayOpen(s.quiet(), "HS-014", "the connection to stay open while a hello names a fronted platform")
})

var _ = connectorCase(Case{
	ID:         "HS-017/no-hello",
	movesClock: true,
	Reqs:       []string{"HS-017"},
	Text:       "a socket that sends no hello within 30 s is closed 1008 \"no hello\"",
	Timeout:    45 * time.Second,
}, func(s *S) {
	p := s.mustDial("AUTH-005", s.validToken())
	closedWithin30s(s, p, "HS-017", contract.ReasonNoHello)
})

var _ = connectorCase(Case{
	ID:   "HS-023/task-card-stop",
	Reqs: []string{"HS-023"},
	Text: "a descriptor listing task_card also lists task_card_stop",
}, func(s *S) {
	usePlatformFor(s, contract.OpTaskCard)
	_, ds := s.connect()
	for _, d := range ds {
		if d.SupportsOp(contract.OpTaskCard) && !d.SupportsOp(contract.OpTaskCardStop) {
			s.Failf("HS-023", "task_card_stop next to task_card", "the %s descriptor lists task_card only", d.Platform)
		}
	}
})
