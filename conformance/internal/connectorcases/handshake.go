package connectorcases

import (
	"fmt"
	"time"

	h "github.com/relaykit/relaykit/conformance/internal/harness"
	"github.com/relaykit/relaykit/contract"
)

// Connector cases of section 4: handshake and descriptor.

var _ = h.ConnectorCase(h.Case{
	ID:    "HS-004/descriptor-per-hello",
	Reqs:  []string{"HS-004", "HS-005", "HS-013"},
	Text:  "the connector answers each fronted hello with exactly one descriptor of that platform, in hello order",
	Needs: h.NeedTwoPlatforms,
}, func(s *h.S) {
	ids := s.Creds().Identities
	p := s.MustDial("AUTH-005", s.ValidToken())
	for _, id := range ids {
		p.Hello(id.Platform, id.BotID)
	}
	for i, id := range ids {
		f := p.Expect("HS-004", fmt.Sprintf("descriptor %d of %d, for %q", i+1, len(ids), id.Platform), h.OfType(contract.TypeDescriptor))
		d := s.DescriptorOf(f)
		s.Check(d.Platform == id.Platform, "HS-013", fmt.Sprintf("descriptor %d for platform %q (hello order)", i+1, id.Platform), "platform %q", d.Platform)
	}
	p.ExpectNone(s.Quiet(), "HS-004", "exactly one descriptor per hello", h.OfType(contract.TypeDescriptor))
})

var _ = h.ConnectorCase(h.Case{
	ID:   "HS-006/descriptor-fields",
	Reqs: []string{"HS-006", "HS-007", "HS-008", "HS-009"},
	Text: "the descriptor has every required field with its JSON type, contract_version >= 1, len_unit chars or utf16 and an integer max_message_length",
}, func(s *h.S) {
	p := s.MustDial("AUTH-005", s.ValidToken())
	id := s.Primary()
	p.Hello(id.Platform, id.BotID)
	f := p.Expect("HS-004", "a descriptor", h.OfType(contract.TypeDescriptor))
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

var _ = h.ConnectorCase(h.Case{
	ID:   "HS-010/known-ops",
	Reqs: []string{"HS-010"},
	Text: "supported_ops lists only op names of this contract, each once",
}, func(s *h.S) {
	_, ds := s.Connect()
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

var _ = h.ConnectorCase(h.Case{
	ID:         "HS-014/no-fronted-platform",
	MovesClock: true,
	Reqs:       []string{"HS-014", "RC-001"},
	Text:       "a connection whose hellos name no fronted platform gets no descriptor and is closed 1008 \"platform not fronted\" within 30 s",
	// A connector may legitimately wait the full 30 s.
	Timeout: 45 * time.Second,
}, func(s *h.S) {
	p := s.MustDial("AUTH-005", s.ValidToken())
	p.Hello("conform-unfronted-"+h.RandHex(3), "")
	closedWithin30s(s, p, "HS-014", contract.ReasonPlatformNotFronted)
})

// closedWithin30s waits for a 1008 close with reason, moving the
// connector's clock when it can and waiting out the 30 s otherwise.
func closedWithin30s(s *h.S, p *h.Peer, id, reason string) {
	notDescriptor := func(f h.RxFrame) bool { return f.Type == contract.TypeDescriptor }
	f, r := p.WaitFor(s.Quiet(), notDescriptor)
	if r == h.GotFrame {
		s.Failf(id, "no descriptor", "received %s", f)
	}
	if r != h.GotClose {
		if t := s.Run.Conn; t.Ctl != nil && t.Info.Clock {
			s.Step("advance the connector's clock by 31 s")
			if err := t.Ctl.Advance(s.Ctx, 31*time.Second); err != nil {
				s.Harness("advance the clock: %v", err)
			}
			f, r = p.WaitFor(s.Within(1), notDescriptor)
		} else {
			s.Step("wait up to 31 s for the close")
			f, r = p.WaitFor(31*time.Second, notDescriptor)
		}
	}
	switch r {
	case h.GotFrame:
		s.Failf(id, "no descriptor", "received %s", f)
	case h.GotUnterminated:
		p.Unterminated()
	case h.GotTimeout:
		s.Failf(id, fmt.Sprintf("close 1008 %q within 30 s", reason), "still open after 31 s")
	}
	code, got := p.CloseStatus()
	s.Check(code == contract.ClosePolicyViolation && got == reason, id,
		fmt.Sprintf("close 1008 %q", reason), "%s", p.CloseDesc())
}

var _ = h.ConnectorCase(h.Case{
	ID:   "HS-014/unfronted-among-fronted",
	Reqs: []string{"HS-014"},
	Text: "a hello for an unfronted platform gets no descriptor while the fronted hello gets one and the connection stays open",
}, func(s *h.S) {
	id := s.Primary()
	p := s.MustDial("AUTH-005", s.ValidToken())
	p.Hello("conform-unfronted-"+h.RandHex(3), "")
	p.Hello(id.Platform, id.BotID)
	f := p.Expect("HS-004", "a descriptor for the fronted hello", h.OfType(contract.TypeDescriptor))
	d := s.DescriptorOf(f)
	s.Check(d.Platform == id.Platform, "HS-014", "only the fronted platform's descriptor", "descriptor for %q", d.Platform)
	p.ExpectNone(s.Quiet(), "HS-014", "no descriptor for the unfronted hello", h.OfType(contract.TypeDescriptor))
	p.StayOpen(s.Quiet(), "HS-014", "the connection to stay open while a hello names a fronted platform")
})

var _ = h.ConnectorCase(h.Case{
	ID:         "HS-017/no-hello",
	MovesClock: true,
	Reqs:       []string{"HS-017"},
	Text:       "a socket that sends no hello within 30 s is closed 1008 \"no hello\"",
	Timeout:    45 * time.Second,
}, func(s *h.S) {
	p := s.MustDial("AUTH-005", s.ValidToken())
	closedWithin30s(s, p, "HS-017", contract.ReasonNoHello)
})

var _ = h.ConnectorCase(h.Case{
	ID:   "HS-023/task-card-stop",
	Reqs: []string{"HS-023"},
	Text: "a descriptor listing task_card also lists task_card_stop",
}, func(s *h.S) {
	usePlatformFor(s, contract.OpTaskCard)
	_, ds := s.Connect()
	for _, d := range ds {
		if d.SupportsOp(contract.OpTaskCard) && !d.SupportsOp(contract.OpTaskCardStop) {
			s.Failf("HS-023", "task_card_stop next to task_card", "the %s descriptor lists task_card only", d.Platform)
		}
	}
})
