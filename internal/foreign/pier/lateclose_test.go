package pier

import (
	"net/http"
	"testing"
)

// bufferLen returns how many entries g's instance holds.
func (b *bench) bufferLen(g gatewayView) int {
	b.t.Helper()
	b.srv.mu.Lock()
	defer b.srv.mu.Unlock()
	return len(b.srv.gateways[g.GatewayID].inst.buffer)
}

// TestLateCloseNotice: with the option, the first event after the gateway
// hung up goes "live" into the dead socket and comes back as a buffer
// entry, in its place; without it, both events are buffered at once. Either
// way the next connection gets both, oldest first, with bufferIds, and once
// acked they are gone.
func TestLateCloseNotice(t *testing.T) {
	for _, tc := range []struct {
		name  string
		late  bool
		first string
	}{
		{"on", true, "live"},
		{"off", false, "buffered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBench(t, Options{LateCloseNotice: tc.late})
			g := b.enroll(nil)
			c := b.connect(g, PlatformPier)
			if d := b.inject(g, PlatformPier, "c1", "while connected"); d.Delivery != "live" {
				t.Fatalf("while connected: %+v, want live", d)
			}
			c.expect("inbound")
			b.hangUp(c)

			d1 := b.inject(g, PlatformPier, "c1", "first after the close")
			if d1.Delivery != tc.first {
				t.Fatalf("first event after the close: %+v, want %s", d1, tc.first)
			}
			if tc.late && d1.BufferID != "" {
				t.Errorf("a live delivery answers no bufferId: %+v", d1)
			}
			d2 := b.inject(g, PlatformPier, "c1", "second after the close")
			if d2.Delivery != "buffered" || d2.BufferID == "" {
				t.Fatalf("second event after the close: %+v, want buffered: pier knows the socket is gone", d2)
			}
			if n := b.bufferLen(g); n != 2 {
				t.Fatalf("the buffer holds %d entries, want both events (IDLE-007)", n)
			}

			c = b.connect(g, PlatformPier)
			f1, f2 := c.expect("inbound"), c.expect("inbound")
			if eventOf(f1)["message_id"] != d1.MessageID || eventOf(f2)["message_id"] != d2.MessageID {
				t.Fatalf("replay %v then %v, want %s then %s (oldest first, IDLE-009)",
					eventOf(f1)["message_id"], eventOf(f2)["message_id"], d1.MessageID, d2.MessageID)
			}
			b1, _ := f1["bufferId"].(string)
			if b1 == "" || b1 == d2.BufferID || f2["bufferId"] != d2.BufferID {
				t.Fatalf("bufferIds %v and %v: want two distinct ones, the second %s", f1["bufferId"], f2["bufferId"], d2.BufferID)
			}
			if !tc.late && b1 != d1.BufferID {
				t.Errorf("bufferId %s, want %s as POST /inbound answered", b1, d1.BufferID)
			}
			c.send(map[string]any{"type": "inbound_ack", "bufferId": b1})
			c.send(map[string]any{"type": "inbound_ack", "bufferId": d2.BufferID})
			c.quiet()
			if n := b.bufferLen(g); n != 0 {
				t.Fatalf("after both acks the buffer holds %d entries (IDLE-010)", n)
			}
			if d := b.inject(g, PlatformPier, "c1", "live again"); d.Delivery != "live" {
				t.Fatalf("after the drain: %+v, want live", d)
			}
			if f := c.expect("inbound"); f["bufferId"] != nil {
				t.Fatalf("live delivery with a bufferId: %v", f)
			}
			c.quiet()
		})
	}
}

// TestLateCloseNewConnectionForgetsGhost: a connection arriving before the
// next event takes it live, once: the ghost neither swallows nor
// duplicates it.
func TestLateCloseNewConnectionForgetsGhost(t *testing.T) {
	b := newBench(t, Options{LateCloseNotice: true})
	g := b.enroll(nil)
	b.hangUp(b.connect(g, PlatformPier))
	c := b.connect(g, PlatformPier)
	d := b.inject(g, PlatformPier, "c1", "to the new socket")
	if d.Delivery != "live" {
		t.Fatalf("%+v, want live", d)
	}
	if f := c.expect("inbound"); f["bufferId"] != nil || eventOf(f)["message_id"] != d.MessageID {
		t.Fatalf("got %v, want %s live", f, d.MessageID)
	}
	c.quiet()
	if n := b.bufferLen(g); n != 0 {
		t.Fatalf("the buffer holds %d entries, want none", n)
	}
	// The new socket leaves its own ghost; the next connection forgets it
	// too: nothing is replayed, and once that connection went idle an
	// event is buffered, not sent to the old socket (IDLE-003).
	b.hangUp(c)
	c = b.connect(g, PlatformPier)
	c.quiet()
	c.send(map[string]any{"type": "going_idle"})
	c.expect("going_idle_ack")
	if d := b.inject(g, PlatformPier, "c1", "after going idle"); d.Delivery != "buffered" {
		t.Fatalf("after going_idle_ack on the new socket: %+v, want buffered", d)
	}
	c.quiet()
}

// TestLateCloseOnlyTheNextEvent: the ghost meets one event, whatever its
// platform, and a socket that was not delivering live (flipped by
// going_idle) leaves none.
func TestLateCloseOnlyTheNextEvent(t *testing.T) {
	b := newBench(t, Options{LateCloseNotice: true})
	g := b.enroll(nil)
	b.hangUp(b.connect(g, PlatformPier))
	// The socket answered pier only: an event for pier-ops would not have
	// gone to it, so it is buffered; and the ghost is spent.
	if d := b.inject(g, PlatformOps, "c1", "ops"); d.Delivery != "buffered" {
		t.Fatalf("pier-ops event: %+v, want buffered", d)
	}
	if d := b.inject(g, PlatformPier, "c1", "pier"); d.Delivery != "buffered" {
		t.Fatalf("pier event after the ghost met one: %+v, want buffered", d)
	}

	g2 := b.enroll(nil)
	b.goAway(g2, PlatformPier)
	if d := b.inject(g2, PlatformPier, "c1", "after going idle"); d.Delivery != "buffered" {
		t.Fatalf("after going_idle and a close: %+v, want buffered (IDLE-003)", d)
	}
}

// TestLateCloseFullBuffer: when the buffer has no room for the event the
// dead socket would fail, pier does not report it live (it could not keep
// it) but answers 507, as for any event that does not fit.
func TestLateCloseFullBuffer(t *testing.T) {
	b := newBench(t, Options{LateCloseNotice: true, MaxBuffered: 1})
	g := b.enroll(nil)
	b.goAway(g, PlatformPier)
	b.inject(g, PlatformOps, "c1", "fills the buffer")
	c := b.connect(g, PlatformPier)
	if err := b.clk.WaitForTimers(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	b.clk.Advance(DefaultHelloWindow) // the pier-ops entry is left for later
	c.quiet()
	if d := b.inject(g, PlatformPier, "c1", "live"); d.Delivery != "live" {
		t.Fatalf("%+v, want live", d)
	}
	c.expect("inbound")
	b.hangUp(c)
	var out map[string]any
	st := b.call(http.MethodPost, "/inbound", map[string]any{"gatewayId": g.GatewayID, "event": map[string]any{
		"text": "no room", "source": map[string]any{"platform": PlatformPier, "chat_id": "c1"}}}, &out)
	if st != http.StatusInsufficientStorage {
		t.Fatalf("HTTP %d %v, want 507", st, out)
	}
	if n := b.bufferLen(g); n != 1 {
		t.Fatalf("the buffer holds %d entries, want 1", n)
	}
}
