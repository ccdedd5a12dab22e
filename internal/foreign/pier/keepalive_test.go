package pier

import (
	"testing"
	"time"

	"github.com/relaykit/relaykit/internal/testkit"
)

func (g *gw) pingCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pings
}

// waitPings waits for the gateway end to have received n pings.
func (g *gw) waitPings(n int) {
	g.t.Helper()
	deadline := time.Now().Add(testkit.Wait)
	for g.pingCount() < n {
		if time.Now().After(deadline) {
			g.t.Fatalf("%d pings, want %d", g.pingCount(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestKeepalivePingsOnItsSchedule(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(nil)
	c := b.connect(g, PlatformPier)
	// The hello window's timer and the ping timer are armed.
	if err := b.clk.WaitForTimers(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	b.clk.Advance(DefaultHelloWindow)
	for i := 1; i <= 3; i++ {
		if err := b.clk.WaitForTimers(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		next, _ := b.clk.NextDeadline()
		if i > 1 && next.Sub(b.clk.Now()) != DefaultPingInterval {
			t.Fatalf("next ping in %s, want %s", next.Sub(b.clk.Now()), DefaultPingInterval)
		}
		b.clk.Set(next)
		c.waitPings(i)
		b.waitPonged() // the pong is in before the next tick
	}
	if got := c.pingCount(); got != 3 {
		t.Fatalf("%d pings", got)
	}
}

func TestKeepaliveTimeoutCloses1011(t *testing.T) {
	b := newBench(t, Options{HelloWindow: time.Second})
	g := b.enroll(nil)
	c, _ := b.dial(b.token(g), dialOpts{noPongs: true})
	c.handshake(PlatformPier)
	b.clk.Advance(time.Second) // the hello window ends; only the ping timer is left
	b.clk.Advance(DefaultPingInterval - time.Second)
	c.waitPings(1)
	if err := b.clk.WaitForTimers(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	b.clk.Advance(DefaultPingTimeout)
	code, reason, fs := c.closed()
	if code != 1011 || reason != "keepalive timeout" || len(fs) != 1 || fs[0]["type"] != "error" {
		t.Fatalf("close %d %q after %v, want an error frame then 1011 \"keepalive timeout\" (TRN-011)", code, reason, fs)
	}
}

// waitPonged waits until pier has no ping awaiting its pong.
func (b *bench) waitPonged() {
	b.t.Helper()
	deadline := time.Now().Add(testkit.Wait)
	for {
		pending := false
		b.srv.mu.Lock()
		for c := range b.srv.conns {
			c.pingMu.Lock()
			pending = pending || c.pingPending
			c.pingMu.Unlock()
		}
		b.srv.mu.Unlock()
		if !pending {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatal("the ping was never answered")
		}
		time.Sleep(time.Millisecond)
	}
}
