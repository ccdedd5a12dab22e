package conformance

import (
	"fmt"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// Connector cases of section 7: going idle, buffering and drain. Events are
// injected through the testee control API; everything else is on the wire.

// goIdle sends going_idle and expects exactly one going_idle_ack.
func goIdle(s *S, p *peer) {
	p.send(contract.GoingIdle{})
	p.expect("IDLE-004", "a going_idle_ack", ofType(contract.TypeGoingIdleAck))
}

// bufferedBacklog connects, goes idle, disconnects and injects n messages,
// which the connector must buffer. It returns them in injection order.
func bufferedBacklog(s *S, n int) []userMessage {
	s.Step("connect, go idle and disconnect")
	p, _ := s.connect()
	goIdle(s, p)
	p.closeNormal()
	s.Step("inject %d messages while the gateway is away", n)
	var ms []userMessage
	chat := "conform-chat-" + randHex(4)
	for i := 0; i < n; i++ {
		m := s.newMessage(fmt.Sprintf("buffered %d", i+1))
		m.ChatID = chat
		if d := s.inject(m); d != "buffered" {
			// The ack came, so the flip was durable (IDLE-003): every
			// event from then on is buffered, socket or not.
			s.Failf("IDLE-003", "delivery \"buffered\" for an event after going_idle_ack", "the control API reported %q", d)
		}
		ms = append(ms, m)
	}
	return ms
}

// ack sends inbound_ack for the frame's bufferId, and remembers it.
func ack(p *peer, f rxFrame) {
	p.mu.Lock()
	if p.acked == nil {
		p.acked = map[string]bool{}
	}
	p.acked[bufferID(f)] = true
	p.mu.Unlock()
	p.send(contract.InboundAck{BufferID: bufferID(f)})
}

// redeliveredAck returns a second copy, on this connection, of an entry
// this peer acked.
func redeliveredAck(p *peer) (rxFrame, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := map[string]int{}
	for _, f := range p.all() {
		if b := bufferID(f); b != "" && f.Type == contract.TypeInbound {
			seen[b]++
			if p.acked[b] && seen[b] > 1 {
				return f, true
			}
		}
	}
	return rxFrame{}, false
}

// expectReplay waits for the buffered replay of m, which must carry a
// bufferId (IDLE-009).
//
// When the replay does not come and the control API shows the instance's
// buffer empty, the entry left the buffer without its ack: IDLE-010.
func expectReplay(p *peer, id string, m userMessage) rxFrame {
	s := p.s
	f, r := p.waitFor(s.within(1), s.isMsg(m))
	if r == gotTimeout {
		if t := s.run.conn; t.ctl != nil && s.creds().InstanceID != "" {
			if ids, err := t.ctl.buffered(s.ctx, s.creds().InstanceID); err == nil && len(ids) == 0 {
				s.Failf("IDLE-010", fmt.Sprintf("the unacked message %s kept in the buffer until its ack", m.MessageID),
					"it was never replayed on this connection and the instance's buffer is empty")
			}
		}
	}
	if r != gotFrame {
		p.failWait(id, fmt.Sprintf("the buffered message %s replayed", m.MessageID), r)
	}
	if bufferID(f) == "" {
		p.s.Failf("IDLE-009", fmt.Sprintf("the replay of %s to carry a bufferId", m.MessageID), "%s", f)
	}
	return f
}

// expectLive checks the flip is cleared: a fresh message is delivered live
// (no bufferId). Acks travel on the socket, so the connector may not have
// read the last ones yet: a round trip on the same socket comes first, and
// a message that still comes buffered is acked and the check repeated a few
// times before it counts as a failure.
func expectLive(s *S, p *peer, id string) {
	s.outbound(p, sendAction(s.chat(), "barrier"), "")
	var last rxFrame
	for try := 0; try < 4; try++ {
		m := s.newMessage("live again")
		s.inject(m)
		f := p.expectInbound(id, m)
		if bufferID(f) == "" {
			return
		}
		last = f
		ack(p, f)
		p.stayOpen(50*time.Millisecond, id, "the connection to stay open")
	}
	s.Failf(id, "a live delivery (no bufferId) once the drain is acked", "still buffered after 4 tries: %s", last)
}

// arrivalOrder lists what arrived on p: "descriptor" for the first
// descriptor, then each injected message once, at its first arrival (a
// later copy of the same entry is judged by IDLE-020, not here). Inbound
// frames before the first descriptor come first, so an early replay shows.
func arrivalOrder(s *S, p *peer) []string {
	var order []string
	seen := map[string]bool{}
	for _, f := range p.all() {
		switch f.Type {
		case contract.TypeDescriptor:
			if !seen["descriptor"] {
				seen["descriptor"] = true
				order = append(order, "descriptor")
			}
		case contract.TypeInbound:
			id := s.msgOf(f)
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
func expectLate(p *peer, m userMessage) rxFrame {
	s := p.s
	f, r := p.waitFor(s.within(1), s.isMsg(m))
	if r == gotFrame {
		return f
	}
	if f, again := redeliveredAck(p); again {
		s.Failf("IDLE-010", "an acked entry never delivered again", "entry %s came again after its ack: %s", bufferID(f), f)
	}
	if t := s.run.conn; r == gotTimeout && t.ctl != nil && s.creds().InstanceID != "" {
		if ids, err := t.ctl.buffered(s.ctx, s.creds().InstanceID); err == nil && len(ids) == 0 {
			s.Failf("IDLE-010", fmt.Sprintf("the event %s, injected during the drain, kept until delivered and acked", m.MessageID),
				"it never came and the instance's buffer is empty: an ack released it")
		}
	}
	p.failWait("IDLE-012", fmt.Sprintf("the event %s, injected during the drain, delivered once the drain was acked", m.MessageID), r)
	return rxFrame{}
}

// noDescriptorFirst marks an arrival order whose first frame was not a
// descriptor.
const noDescriptorFirst = "(no descriptor first)"

// noRedelivery checks that message m does not arrive within the short
// wait.
func noRedelivery(p *peer, id string, m userMessage, why string) {
	p.expectNone(p.s.quiet(), id, why, p.s.isMsg(m))
}

var _ = connectorCase(Case{
	ID:   "IDLE-004/one-ack",
	Reqs: []string{"IDLE-004"},
	Text: "the connector answers every going_idle with exactly one going_idle_ack, a second one on the same connection included",
}, func(s *S) {
	p, _ := s.connect()
	goIdle(s, p)
	p.expectNone(s.quiet(), "IDLE-004", "exactly one going_idle_ack", ofType(contract.TypeGoingIdleAck))
	s.Step("a second going_idle on the same connection")
	goIdle(s, p)
	p.expectNone(s.quiet(), "IDLE-004", "exactly one going_idle_ack for the second going_idle", ofType(contract.TypeGoingIdleAck))
})

var _ = connectorCase(Case{
	ID:    "IDLE-007/passthrough-buffered",
	Reqs:  []string{"IDLE-007"},
	Text:  "a passthrough_forward for a flipped instance is buffered like an inbound event and replayed, with a bufferId, on the next connection",
	Needs: NeedControl,
}, func(s *S) {
	if !s.featureInForce("passthrough") {
		s.NotApplicable("feature passthrough is not in force (%s)", s.run.featureSource("passthrough"))
	}
	p, _ := s.connect()
	goIdle(s, p)
	p.closeNormal()
	s.Step("a platform request forwarded while the gateway is away")
	if err := s.run.conn.ctl.injectPassthrough(s.ctx, s.creds().GatewayID, s.primary().Platform, []byte(`{"type":2,"data":{"name":"conformance"}}`)); err != nil {
		if routeMissing(err) {
			s.Untestable("the control API cannot inject passthrough forwards: %v", err)
		}
		s.Harness("inject a passthrough forward: %v", err)
	}
	p2, _ := s.connect()
	f := p2.expect("IDLE-007", "the buffered passthrough_forward replayed", ofType(contract.TypePassthroughForward))
	s.Check(bufferID(f) != "", "IDLE-007", "the replayed forward to carry a bufferId (it came from the buffer)", "%s", f)
	ack(p2, f)
})

var _ = connectorCase(Case{
	ID:    "IDLE-003/flip-before-ack",
	Reqs:  []string{"IDLE-003", "IDLE-007"},
	Text:  "after going_idle_ack the instance is buffered-only: a new event is not delivered live but kept and replayed on the next connection",
	Needs: NeedControl,
}, func(s *S) {
	p, _ := s.connect()
	goIdle(s, p)
	m := s.newMessage("after the flip")
	s.inject(m)
	f, r := p.waitFor(s.quiet(), s.isMsg(m))
	if r == gotFrame {
		s.Failf("IDLE-003", "no live delivery after going_idle_ack (the flip is durable before the ack)", "delivered: %s", f)
	}
	p.closeNormal()
	s.Step("reconnect: the buffered event is replayed")
	p2, _ := s.connect()
	ack(p2, expectReplay(p2, "IDLE-007", m))
})

var _ = connectorCase(Case{
	ID:    "IDLE-005/live-until-ack",
	Reqs:  []string{"IDLE-005"},
	Text:  "events that reach the connector before it acks going_idle are delivered live",
	Needs: NeedControl,
}, func(s *S) {
	p, _ := s.connect()
	m := s.newMessage("before going idle")
	s.inject(m)
	f := p.expectInbound("IDLE-005", m)
	s.Check(bufferID(f) == "", "IDLE-005", "a live delivery", "%s", f)
	goIdle(s, p)
})

var _ = connectorCase(Case{
	ID:    "IDLE-009/drain-in-order",
	Reqs:  []string{"IDLE-009", "IDLE-007"},
	Text:  "on the next connection the connector replays the buffer after the descriptor, oldest first, each with a unique bufferId, then delivers live once all are acked",
	Needs: NeedControl,
}, func(s *S) {
	ms := bufferedBacklog(s, 3)
	s.Step("reconnect and drain")
	p, _ := s.connect()
	seen := map[string]bool{}
	for _, m := range ms {
		f := expectReplay(p, "IDLE-009", m)
		b := bufferID(f)
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

var _ = connectorCase(Case{
	ID:    "IDLE-010/unacked-tail-redelivered",
	Reqs:  []string{"IDLE-010", "IDLE-008", "IDLE-009"},
	Text:  "entries not acked before the connection ends are redelivered with the same bufferId on the next one, and an acked entry never is",
	Needs: NeedControl,
}, func(s *S) {
	ms := bufferedBacklog(s, 3)
	s.Step("drain: ack the first entry only, then drop the connection")
	p, _ := s.connect()
	f1 := expectReplay(p, "IDLE-009", ms[0])
	ack(p, f1)
	f2 := expectReplay(p, "IDLE-009", ms[1])
	// Give the ack time to land before the connection drops.
	p.stayOpen(s.quiet(), "IDLE-010", "the connection to stay open during the drain")
	p.closeNormal()

	s.Step("reconnect: the unacked tail comes again, the acked entry does not")
	p2, _ := s.connect()
	g2 := expectReplay(p2, "IDLE-010", ms[1])
	s.Check(bufferID(g2) == bufferID(f2), "IDLE-009", "the same bufferId on redelivery "+bufferID(f2), "%q", bufferID(g2))
	// Ack before waiting for the next entry: a drain window of one is
	// conformant (IDLE-011 is a MAY).
	ack(p2, g2)
	g3 := expectReplay(p2, "IDLE-010", ms[2])
	ack(p2, g3)
	noRedelivery(p2, "IDLE-010", ms[0], "no redelivery of the acked entry "+ms[0].MessageID)
	expectLive(s, p2, "IDLE-012")
})

var _ = connectorCase(Case{
	ID:    "IDLE-012/no-live-during-drain",
	Reqs:  []string{"IDLE-012"},
	Text:  "until every replayed entry is acked the connector delivers nothing live; an event arriving meanwhile is queued behind the backlog",
	Needs: NeedControl,
}, func(s *S) {
	ms := bufferedBacklog(s, 2)
	p, _ := s.connect()
	f1 := expectReplay(p, "IDLE-009", ms[0])
	s.Step("inject while the drain waits for acks")
	late := s.newMessage("during the drain")
	late.ChatID = ms[0].ChatID
	s.inject(late)
	// The late event may only come as a buffered entry queued behind the
	// backlog (the connector may pipeline replays), never live.
	early, r := p.waitFor(s.quiet(), s.isMsg(late))
	if r == gotFrame && bufferID(early) == "" {
		s.Failf("IDLE-012", "no live delivery of "+late.MessageID+" while the drain awaits acks", "delivered live: %s", early)
	}
	ack(p, f1)
	f2 := expectReplay(p, "IDLE-009", ms[1])
	ack(p, f2)
	g := early
	if r != gotFrame {
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
	if bufferID(g) != "" {
		ack(p, g)
	}
	expectLive(s, p, "IDLE-012")
})

var _ = connectorCase(Case{
	ID:   "IDLE-017/noop-acks",
	Reqs: []string{"IDLE-017"},
	Text: "an ack for an unknown bufferId and a duplicate ack are no-ops: no close and no error frame",
}, func(s *S) {
	p, _ := s.connect()
	p.send(contract.InboundAck{BufferID: "conform-unknown-" + randHex(4)})
	p.send(contract.InboundAck{BufferID: "conform-unknown-" + randHex(4)})
	p.stayOpen(s.quiet(), "IDLE-017", "the connection to stay open after unknown acks")
	p.expectNone(s.quiet(), "IDLE-017", "no frame in answer to an ack", func(f rxFrame) bool { return true })
	s.outbound(p, sendAction(s.chat(), "still working"), "")
})

var _ = connectorCase(Case{
	ID:    "IDLE-017/duplicate-ack",
	Reqs:  []string{"IDLE-017"},
	Text:  "acking a replayed entry twice is a no-op",
	Needs: NeedControl,
}, func(s *S) {
	ms := bufferedBacklog(s, 1)
	p, _ := s.connect()
	f := expectReplay(p, "IDLE-009", ms[0])
	ack(p, f)
	ack(p, f)
	p.stayOpen(s.quiet(), "IDLE-017", "the connection to stay open after a duplicate ack")
	expectLive(s, p, "IDLE-012")
})

var _ = connectorCase(Case{
	ID:    "IDLE-020/one-replay-per-connection",
	Reqs:  []string{"IDLE-020"},
	Text:  "a later hello on a draining connection starts no second replay: no buffered entry is sent twice on one connection",
	Needs: NeedControl,
}, func(s *S) {
	ms := bufferedBacklog(s, 2)
	p, _ := s.connect()
	first := expectReplay(p, "IDLE-009", ms[0])
	s.Step("a second hello on the same connection, before any ack")
	id := s.primary()
	p.hello(id.Platform, id.BotID)
	sameEntry := func(buf string) func(rxFrame) bool {
		return func(f rxFrame) bool { return f.Type == contract.TypeInbound && bufferID(f) == buf }
	}
	p.expectNone(s.quiet(), "IDLE-020", "no second copy of entry "+bufferID(first)+" on this connection", sameEntry(bufferID(first)))
	ack(p, first)
	second := expectReplay(p, "IDLE-009", ms[1])
	ack(p, second)
	p.expectNone(s.quiet(), "IDLE-020", "no entry of the backlog sent twice on this connection", func(f rxFrame) bool {
		return sameEntry(bufferID(first))(f) || sameEntry(bufferID(second))(f)
	})
})

var _ = connectorCase(Case{
	ID:    "IDLE-010/unknown-ack-releases-nothing",
	Reqs:  []string{"IDLE-010"},
	Text:  "an ack for an unknown bufferId releases no entry: the unacked head of the backlog is redelivered on the next connection",
	Needs: NeedControl,
}, func(s *S) {
	ms := bufferedBacklog(s, 2)
	p, _ := s.connect()
	first := expectReplay(p, "IDLE-009", ms[0])
	s.Step("ack an unknown bufferId, not %s, and leave", bufferID(first))
	p.send(contract.InboundAck{BufferID: "conform-unknown-" + randHex(4)})
	p.stayOpen(s.quiet(), "IDLE-017", "the connection to stay open after an unknown ack")
	p.closeNormal()
	p2, _ := s.connect()
	again := expectReplay(p2, "IDLE-010", ms[0])
	s.Check(bufferID(again) == bufferID(first), "IDLE-009", "the same bufferId "+bufferID(first)+" on redelivery", "%s", again)
	ack(p2, again)
})

var _ = connectorCase(Case{
	ID:    "IDLE-012/other-platform-during-drain",
	Reqs:  []string{"IDLE-012"},
	Text:  "while a replay of one platform's entry waits for its ack, an event of the gateway's other platform is not delivered live either",
	Needs: NeedControl | NeedTwoPlatforms,
}, func(s *S) {
	ids := s.creds().Identities
	if len(ids) < 2 {
		s.Untestable("the case's gateway fronts fewer than two platforms")
	}
	// Away without going idle: the entry is buffered because no socket is
	// up (IDLE-007), so no flip holds live delivery back once the gateway
	// is back; only the drain does.
	s.Step("connect and leave without going idle")
	p0, _ := s.connect()
	p0.closeNormal()
	// The connector may take a moment to see the socket go: until then an
	// event may still go out live (to be re-buffered if unwritten).
	// Inject until one is buffered.
	if !s.eventually(s.within(1), 50*time.Millisecond, func() bool {
		return s.inject(s.newMessage("buffered while away")) == "buffered"
	}) {
		s.Failf("IDLE-007", "delivery \"buffered\" for an event while the instance has no socket", "still not buffered %s after the close", s.within(1))
	}
	p, _ := s.connect()
	// Whichever entry the drain sends first is the one in flight.
	f := p.expect("IDLE-009", "a replayed entry (with a bufferId) after the first descriptor", func(f rxFrame) bool {
		return f.Type == contract.TypeInbound && bufferID(f) != ""
	})
	s.Step("inject on %s while the replay of %s waits for its ack", ids[1].Platform, bufferID(f))
	late := s.newMessage("other platform, during the drain")
	late.Platform = ids[1].Platform
	s.inject(late)
	early, r := p.waitFor(s.quiet(), s.isMsg(late))
	if r == gotFrame && bufferID(early) == "" {
		s.Failf("IDLE-012", "no live delivery of "+late.MessageID+" while the drain awaits an ack", "delivered live: %s", early)
	}
	ack(p, f)
	g := early
	if r != gotFrame {
		g = expectLate(p, late)
	}
	if bufferID(g) != "" {
		ack(p, g)
	}
})

var _ = connectorCase(Case{
	ID:    "IDLE-010/out-of-order-ack",
	Reqs:  []string{"IDLE-010"},
	Text:  "an ack releases the entry it names and no other: with two entries in flight, acking the second leaves the first to be redelivered",
	Needs: NeedControl,
}, func(s *S) {
	ms := bufferedBacklog(s, 3)
	p, _ := s.connect()
	first := expectReplay(p, "IDLE-009", ms[0])
	second, r := p.waitFor(s.within(0.5), s.isMsg(ms[1]))
	if r != gotFrame {
		// A drain window of one sends the next entry only after an ack
		// (IDLE-011 is a MAY): no out-of-order ack is possible.
		s.Observe("one replayed entry in flight at a time: out-of-order acks cannot happen")
		ack(p, first)
		return
	}
	s.Step("ack %s only, not %s, and leave", bufferID(second), bufferID(first))
	ack(p, second)
	p.stayOpen(s.quiet(), "IDLE-010", "the connection to stay open")
	p.closeNormal()
	p2, _ := s.connect()
	again := expectReplay(p2, "IDLE-010", ms[0])
	s.Check(bufferID(again) == bufferID(first), "IDLE-009", "the same bufferId "+bufferID(first)+" on redelivery", "%s", again)
	ack(p2, again)
	noRedelivery(p2, "IDLE-010", ms[1], "no redelivery of the acked entry "+bufferID(second))
})
