package connectorcases

import (
	"fmt"
	"time"

	h "github.com/relaykit/relaykit/conformance/internal/harness"
	"github.com/relaykit/relaykit/contract"
)

// Connector cases of section 7: going idle, buffering and drain. Events are
// injected through the testee control API; everything else is on the wire.

// goIdle sends going_idle and expects exactly one going_idle_ack.
func goIdle(s *h.S, p *h.Peer) {
	p.Send(contract.GoingIdle{})
	p.Expect("IDLE-004", "a going_idle_ack", h.OfType(contract.TypeGoingIdleAck))
}

// bufferedBacklog connects, goes idle, disconnects and injects n messages,
// which the connector must buffer. It returns them in injection order.
func bufferedBacklog(s *h.S, n int) []h.UserMessage {
	s.Step("connect, go idle and disconnect")
	p, _ := s.Connect()
	goIdle(s, p)
	p.CloseNormal()
	s.Step("inject %d messages while the gateway is away", n)
	var ms []h.UserMessage
	chat := "conform-chat-" + h.RandHex(4)
	for i := 0; i < n; i++ {
		m := s.NewMessage(fmt.Sprintf("buffered %d", i+1))
		m.ChatID = chat
		if d := s.Inject(m); d != "buffered" {
			// The ack came, so the flip was durable (IDLE-003): every
			// event from then on is buffered, socket or not.
			s.Failf("IDLE-003", "delivery \"buffered\" for an event after going_idle_ack", "the control API reported %q", d)
		}
		ms = append(ms, m)
	}
	return ms
}

// ack sends inbound_ack for the frame's bufferId, and remembers it.
func ack(p *h.Peer, f h.RxFrame) {
	p.Mu.Lock()
	if p.Acked == nil {
		p.Acked = map[string]bool{}
	}
	p.Acked[h.BufferID(f)] = true
	p.Mu.Unlock()
	p.Send(contract.InboundAck{BufferID: h.BufferID(f)})
}

// redeliveredAck returns a second copy, on this connection, of an entry
// this peer acked.
func redeliveredAck(p *h.Peer) (h.RxFrame, bool) {
	p.Mu.Lock()
	defer p.Mu.Unlock()
	seen := map[string]int{}
	for _, f := range p.All() {
		if b := h.BufferID(f); b != "" && f.Type == contract.TypeInbound {
			seen[b]++
			if p.Acked[b] && seen[b] > 1 {
				return f, true
			}
		}
	}
	return h.RxFrame{}, false
}

// expectReplay waits for the buffered replay of m, which must carry a
// bufferId (IDLE-009).
//
// When the replay does not come and the control API shows the instance's
// buffer empty, the entry left the buffer without its ack: IDLE-010.
func expectReplay(p *h.Peer, id string, m h.UserMessage) h.RxFrame {
	s := p.S
	f, r := p.WaitFor(s.Within(1), s.IsMsg(m))
	if r == h.GotTimeout {
		if t := s.Run.Conn; t.Ctl != nil && s.Creds().InstanceID != "" {
			if ids, err := t.Ctl.Buffered(s.Ctx, s.Creds().InstanceID); err == nil && len(ids) == 0 {
				s.Failf("IDLE-010", fmt.Sprintf("the unacked message %s kept in the buffer until its ack", m.MessageID),
					"it was never replayed on this connection and the instance's buffer is empty")
			}
		}
	}
	if r != h.GotFrame {
		p.FailWait(id, fmt.Sprintf("the buffered message %s replayed", m.MessageID), r)
	}
	if h.BufferID(f) == "" {
		p.S.Failf("IDLE-009", fmt.Sprintf("the replay of %s to carry a bufferId", m.MessageID), "%s", f)
	}
	return f
}

// expectLive checks the flip is cleared: a fresh message is delivered live
// (no bufferId). Acks travel on the socket, so the connector may not have
// read the last ones yet: a round trip on the same socket comes first, and
// a message that still comes buffered is acked and the check repeated a few
// times before it counts as a failure.
func expectLive(s *h.S, p *h.Peer, id string) {
	s.Outbound(p, h.SendAction(s.Chat(), "barrier"), "")
	var last h.RxFrame
	for try := 0; try < 4; try++ {
		m := s.NewMessage("live again")
		s.Inject(m)
		f := p.ExpectInbound(id, m)
		if h.BufferID(f) == "" {
			return
		}
		last = f
		ack(p, f)
		p.StayOpen(50*time.Millisecond, id, "the connection to stay open")
	}
	s.Failf(id, "a live delivery (no bufferId) once the drain is acked", "still buffered after 4 tries: %s", last)
}

// arrivalOrder lists what arrived on p: "descriptor" for the first
// descriptor, then each injected message once, at its first arrival (a
// later copy of the same entry is judged by IDLE-020, not here). Inbound
// frames before the first descriptor come first, so an early replay shows.
func arrivalOrder(s *h.S, p *h.Peer) []string {
	var order []string
	seen := map[string]bool{}
	for _, f := range p.All() {
		switch f.Type {
		case contract.TypeDescriptor:
			if !seen["descriptor"] {
				seen["descriptor"] = true
				order = append(order, "descriptor")
			}
		case contract.TypeInbound:
			id := s.MsgOf(f)
			if !seen[id] {
				seen[id] = true
				order = append(order, id)
			}
		}
	}
	if len(order) == 0 || order[0] != "descriptor" {
		// Keep the shape the callers expect: the descriptor slot first.
		order = append([]string{noDescriptorFirst}, order...)
	}
	return order
}

// expectLate waits for an event injected during a drain, which must come
// once the drain's entries are acked (IDLE-012). When it does not, and the
// instance's buffer is empty, an ack released it: IDLE-010.
func expectLate(p *h.Peer, m h.UserMessage) h.RxFrame {
	s := p.S
	isLate := s.IsMsg(m)
	// The drain may hold entries the case did not put there: an event
	// injected while the connector had not yet seen a socket go is written
	// to it, fails and is buffered again (IDLE-007). The contract lets the
	// late event wait behind every one of them, so each unacked replay is
	// acked as it comes; an acked entry coming again is left alone, and
	// reported below.
	const maxUnplanned = 16
	var f h.RxFrame
	var r h.WaitResult
	for unplanned := 0; ; unplanned++ {
		f, r = p.WaitFor(s.Within(1), func(f h.RxFrame) bool {
			return isLate(f) || (f.Type == contract.TypeInbound && h.BufferID(f) != "")
		})
		if r != h.GotFrame || isLate(f) {
			break
		}
		if unplanned == maxUnplanned {
			r = h.GotTimeout
			break
		}
		p.Mu.Lock()
		again := p.Acked[h.BufferID(f)]
		p.Mu.Unlock()
		if !again {
			s.Logf("an entry the case did not plan, %s, is drained first: acking it", h.BufferID(f))
			ack(p, f)
		}
	}
	if r == h.GotFrame {
		return f
	}
	if f, again := redeliveredAck(p); again {
		s.Failf("IDLE-010", "an acked entry never delivered again", "entry %s came again after its ack: %s", h.BufferID(f), f)
	}
	if t := s.Run.Conn; r == h.GotTimeout && t.Ctl != nil && s.Creds().InstanceID != "" {
		if ids, err := t.Ctl.Buffered(s.Ctx, s.Creds().InstanceID); err == nil && len(ids) == 0 {
			s.Failf("IDLE-010", fmt.Sprintf("the event %s, injected during the drain, kept until delivered and acked", m.MessageID),
				"it never came and the instance's buffer is empty: an ack released it")
		}
	}
	p.FailWait("IDLE-012", fmt.Sprintf("the event %s, injected during the drain, delivered once the drain was acked", m.MessageID), r)
	return h.RxFrame{}
}

// noDescriptorFirst marks an arrival order whose first frame was not a
// descriptor.
const noDescriptorFirst = "(no descriptor first)"

// noRedelivery checks that message m does not arrive within the short
// wait.
func noRedelivery(p *h.Peer, id string, m h.UserMessage, why string) {
	p.ExpectNone(p.S.Quiet(), id, why, p.S.IsMsg(m))
}

var _ = h.ConnectorCase(h.Case{
	ID:   "IDLE-004/one-ack",
	Reqs: []string{"IDLE-004"},
	Text: "the connector answers every going_idle with exactly one going_idle_ack, a second one on the same connection included",
}, func(s *h.S) {
	p, _ := s.Connect()
	goIdle(s, p)
	p.ExpectNone(s.Quiet(), "IDLE-004", "exactly one going_idle_ack", h.OfType(contract.TypeGoingIdleAck))
	s.Step("a second going_idle on the same connection")
	goIdle(s, p)
	p.ExpectNone(s.Quiet(), "IDLE-004", "exactly one going_idle_ack for the second going_idle", h.OfType(contract.TypeGoingIdleAck))
})

var _ = h.ConnectorCase(h.Case{
	ID:    "IDLE-007/passthrough-buffered",
	Reqs:  []string{"IDLE-007"},
	Text:  "a passthrough_forward for a flipped instance is buffered like an inbound event and replayed, with a bufferId, on the next connection",
	Needs: h.NeedControl,
}, func(s *h.S) {
	if !s.FeatureInForce("passthrough") {
		s.NotApplicable("feature passthrough is not in force (%s)", s.Run.FeatureSource("passthrough"))
	}
	p, _ := s.Connect()
	goIdle(s, p)
	p.CloseNormal()
	s.Step("a platform request forwarded while the gateway is away")
	if err := s.Run.Conn.Ctl.InjectPassthrough(s.Ctx, s.Creds().GatewayID, s.Primary().Platform, []byte(`{"type":2,"data":{"name":"conformance"}}`)); err != nil {
		if routeMissing(err) {
			s.Untestable("the control API cannot inject passthrough forwards: %v", err)
		}
		s.Harness("inject a passthrough forward: %v", err)
	}
	p2, _ := s.Connect()
	f := p2.Expect("IDLE-007", "the buffered passthrough_forward replayed", h.OfType(contract.TypePassthroughForward))
	s.Check(h.BufferID(f) != "", "IDLE-007", "the replayed forward to carry a bufferId (it came from the buffer)", "%s", f)
	ack(p2, f)
})

var _ = h.ConnectorCase(h.Case{
	ID:    "IDLE-003/flip-before-ack",
	Reqs:  []string{"IDLE-003", "IDLE-007"},
	Text:  "after going_idle_ack the instance is buffered-only: a new event is not delivered live but kept and replayed on the next connection",
	Needs: h.NeedControl,
}, func(s *h.S) {
	p, _ := s.Connect()
	goIdle(s, p)
	m := s.NewMessage("after the flip")
	s.Inject(m)
	f, r := p.WaitFor(s.Quiet(), s.IsMsg(m))
	if r == h.GotFrame {
		s.Failf("IDLE-003", "no live delivery after going_idle_ack (the flip is durable before the ack)", "delivered: %s", f)
	}
	p.CloseNormal()
	s.Step("reconnect: the buffered event is replayed")
	p2, _ := s.Connect()
	ack(p2, expectReplay(p2, "IDLE-007", m))
})

var _ = h.ConnectorCase(h.Case{
	ID:    "IDLE-005/live-until-ack",
	Reqs:  []string{"IDLE-005"},
	Text:  "events that reach the connector before it acks going_idle are delivered live",
	Needs: h.NeedControl,
}, func(s *h.S) {
	p, _ := s.Connect()
	m := s.NewMessage("before going idle")
	s.Inject(m)
	f := p.ExpectInbound("IDLE-005", m)
	s.Check(h.BufferID(f) == "", "IDLE-005", "a live delivery", "%s", f)
	goIdle(s, p)
})

var _ = h.ConnectorCase(h.Case{
	ID:    "IDLE-009/drain-in-order",
	Reqs:  []string{"IDLE-009", "IDLE-007"},
	Text:  "on the next connection the connector replays the buffer after the descriptor, oldest first, each with a unique bufferId, then delivers live once all are acked",
	Needs: h.NeedControl,
}, func(s *h.S) {
	ms := bufferedBacklog(s, 3)
	s.Step("reconnect and drain")
	p, _ := s.Connect()
	seen := map[string]bool{}
	for _, m := range ms {
		f := expectReplay(p, "IDLE-009", m)
		b := h.BufferID(f)
		if seen[b] {
			s.Failf("IDLE-009", "a unique bufferId per entry", "bufferId %q repeated", b)
		}
		seen[b] = true
		ack(p, f)
	}
	// Arrival order: the first descriptor, then the entries oldest first.
	// Later descriptors may come anywhere (the replay starts after the
	// first one), and a second copy of an entry is IDLE-020's business.
	order := arrivalOrder(s, p)
	want := []string{"descriptor"}
	for _, m := range ms {
		want = append(want, m.MessageID)
	}
	if fmt.Sprint(order[:min(len(order), len(want))]) != fmt.Sprint(want) {
		s.Failf("IDLE-009", fmt.Sprintf("arrival order %v", want), "%v", order)
	}
	s.Step("after the drain, delivery is live again")
	expectLive(s, p, "IDLE-012")
})

var _ = h.ConnectorCase(h.Case{
	ID:    "IDLE-010/unacked-tail-redelivered",
	Reqs:  []string{"IDLE-010", "IDLE-008", "IDLE-009"},
	Text:  "entries not acked before the connection ends are redelivered with the same bufferId on the next one, and an acked entry never is",
	Needs: h.NeedControl,
}, func(s *h.S) {
	ms := bufferedBacklog(s, 3)
	s.Step("drain: ack the first entry only, then drop the connection")
	p, _ := s.Connect()
	f1 := expectReplay(p, "IDLE-009", ms[0])
	ack(p, f1)
	f2 := expectReplay(p, "IDLE-009", ms[1])
	// Give the ack time to land before the connection drops.
	p.StayOpen(s.Quiet(), "IDLE-010", "the connection to stay open during the drain")
	p.CloseNormal()

	s.Step("reconnect: the unacked tail comes again, the acked entry does not")
	p2, _ := s.Connect()
	g2 := expectReplay(p2, "IDLE-010", ms[1])
	s.Check(h.BufferID(g2) == h.BufferID(f2), "IDLE-009", "the same bufferId on redelivery "+h.BufferID(f2), "%q", h.BufferID(g2))
	// Ack before waiting for the next entry: a drain window of one is
	// conformant (IDLE-011 is a MAY).
	ack(p2, g2)
	g3 := expectReplay(p2, "IDLE-010", ms[2])
	ack(p2, g3)
	noRedelivery(p2, "IDLE-010", ms[0], "no redelivery of the acked entry "+ms[0].MessageID)
	expectLive(s, p2, "IDLE-012")
})

var _ = h.ConnectorCase(h.Case{
	ID:    "IDLE-012/no-live-during-drain",
	Reqs:  []string{"IDLE-012"},
	Text:  "until every replayed entry is acked the connector delivers nothing live; an event arriving meanwhile is queued behind the backlog",
	Needs: h.NeedControl,
}, func(s *h.S) {
	ms := bufferedBacklog(s, 2)
	p, _ := s.Connect()
	f1 := expectReplay(p, "IDLE-009", ms[0])
	s.Step("inject while the drain waits for acks")
	late := s.NewMessage("during the drain")
	late.ChatID = ms[0].ChatID
	s.Inject(late)
	// The late event may only come as a buffered entry queued behind the
	// backlog (the connector may pipeline replays), never live.
	early, r := p.WaitFor(s.Quiet(), s.IsMsg(late))
	if r == h.GotFrame && h.BufferID(early) == "" {
		s.Failf("IDLE-012", "no live delivery of "+late.MessageID+" while the drain awaits acks", "delivered live: %s", early)
	}
	ack(p, f1)
	f2 := expectReplay(p, "IDLE-009", ms[1])
	ack(p, f2)
	g := early
	if r != h.GotFrame {
		g = expectLate(p, late)
	}
	// Order: the late event after the whole backlog (descriptors aside:
	// where the replay starts is IDLE-009's business).
	var order []string
	for _, id := range arrivalOrder(s, p) {
		if id != "descriptor" && id != noDescriptorFirst {
			order = append(order, id)
		}
	}
	want := fmt.Sprint([]string{ms[0].MessageID, ms[1].MessageID, late.MessageID})
	if fmt.Sprint(order[:min(3, len(order))]) != want {
		s.Failf("IDLE-012", "the late event delivered after the backlog: "+want, "%v", order)
	}
	if h.BufferID(g) != "" {
		ack(p, g)
	}
	expectLive(s, p, "IDLE-012")
})

var _ = h.ConnectorCase(h.Case{
	ID:   "IDLE-017/noop-acks",
	Reqs: []string{"IDLE-017"},
	Text: "an ack for an unknown bufferId and a duplicate ack are no-ops: no close and no error frame",
}, func(s *h.S) {
	p, _ := s.Connect()
	p.Send(contract.InboundAck{BufferID: "conform-unknown-" + h.RandHex(4)})
	p.Send(contract.InboundAck{BufferID: "conform-unknown-" + h.RandHex(4)})
	p.StayOpen(s.Quiet(), "IDLE-017", "the connection to stay open after unknown acks")
	p.ExpectNone(s.Quiet(), "IDLE-017", "no frame in answer to an ack", func(f h.RxFrame) bool { return true })
	s.Outbound(p, h.SendAction(s.Chat(), "still working"), "")
})

var _ = h.ConnectorCase(h.Case{
	ID:    "IDLE-017/duplicate-ack",
	Reqs:  []string{"IDLE-017"},
	Text:  "acking a replayed entry twice is a no-op",
	Needs: h.NeedControl,
}, func(s *h.S) {
	ms := bufferedBacklog(s, 1)
	p, _ := s.Connect()
	f := expectReplay(p, "IDLE-009", ms[0])
	ack(p, f)
	ack(p, f)
	p.StayOpen(s.Quiet(), "IDLE-017", "the connection to stay open after a duplicate ack")
	expectLive(s, p, "IDLE-012")
})

var _ = h.ConnectorCase(h.Case{
	ID:    "IDLE-020/one-replay-per-connection",
	Reqs:  []string{"IDLE-020"},
	Text:  "a later hello on a draining connection starts no second replay: no buffered entry is sent twice on one connection",
	Needs: h.NeedControl,
}, func(s *h.S) {
	ms := bufferedBacklog(s, 2)
	p, _ := s.Connect()
	first := expectReplay(p, "IDLE-009", ms[0])
	s.Step("a second hello on the same connection, before any ack")
	id := s.Primary()
	p.Hello(id.Platform, id.BotID)
	sameEntry := func(buf string) func(h.RxFrame) bool {
		return func(f h.RxFrame) bool { return f.Type == contract.TypeInbound && h.BufferID(f) == buf }
	}
	p.ExpectNone(s.Quiet(), "IDLE-020", "no second copy of entry "+h.BufferID(first)+" on this connection", sameEntry(h.BufferID(first)))
	ack(p, first)
	second := expectReplay(p, "IDLE-009", ms[1])
	ack(p, second)
	p.ExpectNone(s.Quiet(), "IDLE-020", "no entry of the backlog sent twice on this connection", func(f h.RxFrame) bool {
		return sameEntry(h.BufferID(first))(f) || sameEntry(h.BufferID(second))(f)
	})
})

var _ = h.ConnectorCase(h.Case{
	ID:    "IDLE-010/unknown-ack-releases-nothing",
	Reqs:  []string{"IDLE-010"},
	Text:  "an ack for an unknown bufferId releases no entry: the unacked head of the backlog is redelivered on the next connection",
	Needs: h.NeedControl,
}, func(s *h.S) {
	ms := bufferedBacklog(s, 2)
	p, _ := s.Connect()
	first := expectReplay(p, "IDLE-009", ms[0])
	s.Step("ack an unknown bufferId, not %s, and leave", h.BufferID(first))
	p.Send(contract.InboundAck{BufferID: "conform-unknown-" + h.RandHex(4)})
	p.StayOpen(s.Quiet(), "IDLE-017", "the connection to stay open after an unknown ack")
	p.CloseNormal()
	p2, _ := s.Connect()
	again := expectReplay(p2, "IDLE-010", ms[0])
	s.Check(h.BufferID(again) == h.BufferID(first), "IDLE-009", "the same bufferId "+h.BufferID(first)+" on redelivery", "%s", again)
	ack(p2, again)
})

var _ = h.ConnectorCase(h.Case{
	ID:    "IDLE-012/other-platform-during-drain",
	Reqs:  []string{"IDLE-012"},
	Text:  "while a replay of one platform's entry waits for its ack, an event of the gateway's other platform is not delivered live either",
	Needs: h.NeedControl | h.NeedTwoPlatforms,
}, func(s *h.S) {
	ids := s.Creds().Identities
	if len(ids) < 2 {
		s.Untestable("the case's gateway fronts fewer than two platforms")
	}
	// Away without going idle: the entry is buffered because no socket is
	// up (IDLE-007), so no flip holds live delivery back once the gateway
	// is back; only the drain does.
	s.Step("connect and leave without going idle")
	p0, _ := s.Connect()
	p0.CloseNormal()
	// The connector may take a moment to see the socket go: until then an
	// event may still go out live (to be re-buffered if unwritten).
	// Inject until one is buffered.
	if !s.Eventually(s.Within(1), 50*time.Millisecond, func() bool {
		return s.Inject(s.NewMessage("buffered while away")) == "buffered"
	}) {
		s.Failf("IDLE-007", "delivery \"buffered\" for an event while the instance has no socket", "still not buffered %s after the close", s.Within(1))
	}
	p, _ := s.Connect()
	// Whichever entry the drain sends first is the one in flight.
	f := p.Expect("IDLE-009", "a replayed entry (with a bufferId) after the first descriptor", func(f h.RxFrame) bool {
		return f.Type == contract.TypeInbound && h.BufferID(f) != ""
	})
	s.Step("inject on %s while the replay of %s waits for its ack", ids[1].Platform, h.BufferID(f))
	late := s.NewMessage("other platform, during the drain")
	late.Platform = ids[1].Platform
	s.Inject(late)
	early, r := p.WaitFor(s.Quiet(), s.IsMsg(late))
	if r == h.GotFrame && h.BufferID(early) == "" {
		s.Failf("IDLE-012", "no live delivery of "+late.MessageID+" while the drain awaits an ack", "delivered live: %s", early)
	}
	ack(p, f)
	g := early
	if r != h.GotFrame {
		g = expectLate(p, late)
	}
	if h.BufferID(g) != "" {
		ack(p, g)
	}
})

var _ = h.ConnectorCase(h.Case{
	ID:    "IDLE-010/out-of-order-ack",
	Reqs:  []string{"IDLE-010"},
	Text:  "an ack releases the entry it names and no other: with two entries in flight, acking the second leaves the first to be redelivered",
	Needs: h.NeedControl,
}, func(s *h.S) {
	ms := bufferedBacklog(s, 3)
	p, _ := s.Connect()
	first := expectReplay(p, "IDLE-009", ms[0])
	second, r := p.WaitFor(s.Within(0.5), s.IsMsg(ms[1]))
	if r != h.GotFrame {
		// A drain window of one sends the next entry only after an ack
		// (IDLE-011 is a MAY): no out-of-order ack is possible.
		s.Observe("one replayed entry in flight at a time: out-of-order acks cannot happen")
		ack(p, first)
		return
	}
	s.Step("ack %s only, not %s, and leave", h.BufferID(second), h.BufferID(first))
	ack(p, second)
	p.StayOpen(s.Quiet(), "IDLE-010", "the connection to stay open")
	p.CloseNormal()
	p2, _ := s.Connect()
	again := expectReplay(p2, "IDLE-010", ms[0])
	s.Check(h.BufferID(again) == h.BufferID(first), "IDLE-009", "the same bufferId "+h.BufferID(first)+" on redelivery", "%s", again)
	ack(p2, again)
	noRedelivery(p2, "IDLE-010", ms[1], "no redelivery of the acked entry "+h.BufferID(second))
})
