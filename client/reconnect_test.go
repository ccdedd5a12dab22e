package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
)

// ladder drives a connector that handshakes and then closes 1011 on every
// connection, and returns the waits the supervisor chose.
func ladder(t *testing.T, rnd float64, steps int) []time.Duration {
	tc := newConnector(t)
	clk := clock.NewManual(epoch)
	st := newStates()
	o := testOpts(tc, clk, st)
	o.Rand = func() float64 { return rnd }
	_, conn := start(t, tc, o)
	var waits []time.Duration
	for i := 0; i < steps; i++ {
		conn.handshake(t, 1)
		conn.closeWith(contract.CloseInternalError, "overloaded")
		ev := st.wait(t, client.StateReconnecting)
		if ev.Code != 1011 || ev.Attempt != i+1 {
			t.Fatalf("step %d: event %+v", i, ev)
		}
		waits = append(waits, ev.Wait)
		if got := tc.Upgrades(); got != i+1 {
			t.Fatalf("step %d: %d dials, want %d", i, got, i+1)
		}
		clk.Advance(ev.Wait - time.Nanosecond)
		tc.noConn(t)
		clk.Advance(time.Nanosecond)
		conn = tc.next(t)
	}
	if tc.maxLive > 1 {
		t.Fatalf("%d connections were live at once", tc.maxLive)
	}
	return waits
}

func TestBackoffLadderUpperBound(t *testing.T) {
	got := ladder(t, 1, 8)
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30, 30}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("waits = %v, want %v seconds", got, want)
		}
	}
}

func TestBackoffLadderLowerBound(t *testing.T) {
	got := ladder(t, 0, 7)
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 15 * time.Second, 15 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits = %v, want %v", got, want)
		}
	}
}

func TestStableConnectionResetsCounter(t *testing.T) {
	tc := newConnector(t)
	clk := clock.NewManual(epoch)
	st := newStates()
	_, conn := start(t, tc, testOpts(tc, clk, st))
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		conn.handshake(t, 1)
		st.wait(t, client.StateHandshaked)
		if i == 2 {
			// Up for a little less than the stable window: no reset.
			clk.Advance(60*time.Second - time.Nanosecond)
		}
		conn.closeWith(contract.CloseInternalError, "overloaded")
		ev := st.wait(t, client.StateReconnecting)
		if ev.Wait != want {
			t.Fatalf("wait %d = %s, want %s", i, ev.Wait, want)
		}
		clk.Advance(ev.Wait)
		conn = tc.next(t)
	}
	conn.handshake(t, 1)
	st.wait(t, client.StateHandshaked)
	clk.Advance(60 * time.Second) // stable from its first descriptor
	conn.closeWith(contract.CloseInternalError, "overloaded")
	ev := st.wait(t, client.StateReconnecting)
	if ev.Wait != time.Second || ev.Attempt != 1 {
		t.Fatalf("after a stable connection: %+v, want the ladder restarted at 1s", ev)
	}
}

func Test4401BeforeAnyHandshakeIsRetryable(t *testing.T) {
	tc := newConnector(t)
	tc.autoDescriptor.Store(false)
	tc.onConn = func(c *tconn) { c.closeWith(contract.CloseUnauthorized, contract.ReasonUnauthorized) }
	clk := clock.NewManual(epoch)
	st := newStates()
	c := connectInBackground(t, testOpts(tc, clk, st))
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		tc.next(t)
		ev := st.wait(t, client.StateReconnecting)
		if ev.Code != 4401 || ev.Wait != want {
			t.Fatalf("attempt %d: %+v, want a %s backoff after a cold-start 4401", i, ev, want)
		}
		clk.Advance(ev.Wait)
	}
	tc.next(t)
	if c.State() == client.StateRevoked {
		t.Fatal("revoked without ever handshaking")
	}
}

func Test4401AfterHandshakeRepeatedIsRevocation(t *testing.T) {
	tc, clk, st, c, conn := handshaked(t)
	tc.autoDescriptor.Store(false)
	tc.onConn = func(c *tconn) { c.closeWith(contract.CloseUnauthorized, contract.ReasonUnauthorized) }
	clk.Advance(time.Minute) // the connection lived a while: the retry's exp differs
	conn.closeWith(contract.CloseUnauthorized, contract.ReasonUnauthorized)

	ev := st.wait(t, client.StateReconnecting)
	if ev.Wait != 0 || ev.Code != 4401 {
		t.Fatalf("first strike: %+v, want an immediate re-dial", ev)
	}
	if ev := st.wait(t, client.StateConnecting); !ev.FreshToken {
		t.Fatalf("second dial %+v is not marked as the fresh-token dial", ev)
	}
	tc.next(t) // no clock advance: the fresh-token dial is immediate
	ev = st.wait(t, client.StateRevoked)
	if ev.Err != client.ErrRevoked {
		t.Fatalf("revoked event err = %v", ev.Err)
	}
	<-c.Done()
	if c.Err() != client.ErrRevoked || c.State() != client.StateRevoked {
		t.Fatalf("err %v state %s", c.Err(), c.State())
	}
	clk.Advance(time.Hour)
	tc.noConn(t)
	if n := tc.Upgrades(); n != 2 {
		t.Fatalf("%d dials, want exactly 2: the original and one fresh-token retry", n)
	}
	if r, _ := c.Send(context.Background(), "c1", "x"); r.Error != "relay transport not connected" {
		t.Fatalf("send after revocation = %+v", r)
	}
	az := tc.Authz()
	if az[0] == az[1] {
		t.Fatal("the retry reused the first token")
	}
	tok := az[1][len("Bearer "):]
	if _, err := contract.VerifyToken(tok, []string{"s3cret"}, epoch.Add(time.Minute)); err != nil {
		t.Fatalf("retry token: %v", err)
	}
}

func TestSingle4401ReDialsOnceAndRecovers(t *testing.T) {
	tc, clk, st, c, conn := handshaked(t)
	conn.closeWith(contract.CloseUnauthorized, contract.ReasonUnauthorized)
	ev := st.wait(t, client.StateReconnecting)
	if ev.Wait != 0 || ev.Attempt != 0 {
		t.Fatalf("first strike: %+v, want immediate and no backoff step", ev)
	}
	conn = tc.next(t)
	conn.handshake(t, 1)
	st.wait(t, client.StateHandshaked)
	if r, _ := c.Send(context.Background(), "c1", "x"); !r.Success {
		t.Fatalf("send after the fresh-token dial = %+v", r)
	}
	conn.expect(t, contract.TypeOutbound)

	// The fresh-token connection ends for another reason; the connection
	// after it starts clean, so its 4401 is a first strike again.
	conn.closeWith(contract.CloseInternalError, "overloaded")
	ev = st.wait(t, client.StateReconnecting)
	clk.Advance(ev.Wait)
	conn = tc.next(t)
	conn.handshake(t, 1)
	st.wait(t, client.StateHandshaked)
	conn.closeWith(contract.CloseUnauthorized, contract.ReasonUnauthorized)
	if ev := st.wait(t, client.StateReconnecting); ev.Wait != 0 {
		t.Fatalf("4401 on a clean connection: %+v, want another immediate re-dial", ev)
	}
	tc.next(t).handshake(t, 1)
	st.wait(t, client.StateHandshaked)
	if c.State() == client.StateRevoked {
		t.Fatal("revoked")
	}
}

func Test4401ExpiredIsNeverTerminal(t *testing.T) {
	tc := newConnector(t)
	clk := clock.NewManual(epoch)
	st := newStates()
	c, conn := start(t, tc, testOpts(tc, clk, st))
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		conn.handshake(t, 1)
		st.wait(t, client.StateHandshaked)
		conn.closeWith(contract.CloseUnauthorized, contract.ReasonExpired)
		ev := st.wait(t, client.StateReconnecting)
		if ev.Wait != want {
			t.Fatalf("expired %d: %+v, want ordinary backoff %s", i, ev, want)
		}
		clk.Advance(ev.Wait)
		conn = tc.next(t)
	}
	conn.handshake(t, 1)
	st.wait(t, client.StateHandshaked)
	if c.State() != client.StateHandshaked {
		t.Fatalf("state %s", c.State())
	}
}

func TestFreshTokenMarkerSurvivesDialFailure(t *testing.T) {
	tc, clk, st, c, conn := handshaked(t)
	tc.mu.Lock()
	tc.refuse = func(n int) int {
		if n == 2 {
			return 503 // the fresh-token dial fails before authentication
		}
		return 0
	}
	tc.mu.Unlock()
	tc.autoDescriptor.Store(false)
	tc.onConn = func(c *tconn) { c.closeWith(contract.CloseUnauthorized, contract.ReasonUnauthorized) }
	conn.closeWith(contract.CloseUnauthorized, contract.ReasonUnauthorized)

	if ev := st.wait(t, client.StateReconnecting); ev.Wait != 0 {
		t.Fatalf("first strike: %+v", ev)
	}
	if ev := st.wait(t, client.StateConnecting); !ev.FreshToken {
		t.Fatal("dial 2 is not the fresh-token dial")
	}
	ev := st.wait(t, client.StateReconnecting)
	if ev.Code != 0 || ev.Wait != time.Second {
		t.Fatalf("after the refused dial: %+v, want ordinary backoff", ev)
	}
	clk.Advance(ev.Wait)
	if ev := st.wait(t, client.StateConnecting); !ev.FreshToken {
		t.Fatal("the marker did not survive the failed dial")
	}
	tc.next(t)
	st.wait(t, client.StateRevoked)
	if tc.Upgrades() != 3 || tc.Conns() != 2 {
		t.Fatalf("upgrades %d conns %d, want 3 and 2", tc.Upgrades(), tc.Conns())
	}
	_ = c
}

func TestHTTPRefusalIsAnOrdinaryDialError(t *testing.T) {
	tc, clk, st, c, conn := handshaked(t)
	tc.mu.Lock()
	tc.refuse = func(n int) int {
		switch n {
		case 2:
			return 401
		case 3:
			return 403
		case 4:
			return 400
		}
		return 0
	}
	tc.mu.Unlock()
	conn.closeWith(contract.CloseInternalError, "overloaded")
	for _, want := range []time.Duration{1, 2, 4, 8} {
		ev := st.wait(t, client.StateReconnecting)
		if ev.Wait != want*time.Second {
			t.Fatalf("wait %+v, want %ds", ev, want)
		}
		clk.Advance(ev.Wait)
	}
	tc.next(t).handshake(t, 1)
	st.wait(t, client.StateHandshaked)
	if tc.Upgrades() != 5 || c.State() != client.StateHandshaked {
		t.Fatalf("upgrades %d state %s", tc.Upgrades(), c.State())
	}
}

func TestTryAgainLaterIsRetryable(t *testing.T) {
	tc := newConnector(t)
	clk := clock.NewManual(epoch)
	st := newStates()
	_, conn := start(t, tc, testOpts(tc, clk, st))
	conn.handshake(t, 1)
	st.wait(t, client.StateHandshaked)
	conn.closeWith(contract.CloseTryAgainLater, contract.ReasonThrottled)
	ev := st.wait(t, client.StateReconnecting)
	if ev.Code != 1013 || ev.Wait != time.Second {
		t.Fatalf("%+v", ev)
	}
	clk.Advance(ev.Wait)
	tc.next(t).handshake(t, 1)
	st.wait(t, client.StateHandshaked)
}

func TestReconnectDisabled(t *testing.T) {
	tc := newConnector(t)
	clk := clock.NewManual(epoch)
	st := newStates()
	o := testOpts(tc, clk, st)
	o.Reconnect = client.Bool(false)
	c, conn := start(t, tc, o)
	conn.handshake(t, 1)
	st.wait(t, client.StateHandshaked)
	conn.closeWith(contract.CloseGoingAway, contract.ReasonShutdown)
	ev := st.wait(t, client.StateClosed)
	if ev.Err == nil {
		t.Fatal("closed without an error")
	}
	<-c.Done()
	if r, _ := c.Send(context.Background(), "c1", "x"); r.Error != "relay transport not connected" {
		t.Fatalf("send = %+v", r)
	}
	clk.Advance(time.Hour)
	tc.noConn(t)
}

func TestReconnectDisabledFirstDialFails(t *testing.T) {
	tc := newConnector(t)
	tc.refuse = func(int) int { return 503 }
	o := testOpts(tc, clock.NewManual(epoch), nil)
	o.Reconnect = client.Bool(false)
	c, err := client.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeClient(t, c) })
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := c.Connect(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("Connect = %v, want the dial error at once", err)
	}
}

func TestHoldRedial(t *testing.T) {
	tc, clk, st, c, conn := handshaked(t)
	c.HoldRedial()
	conn.closeWith(contract.CloseInternalError, "overloaded")
	ev := st.wait(t, client.StateReconnecting)
	clk.Advance(ev.Wait)
	tc.noConn(t) // parked
	c.ReleaseRedial()
	conn = tc.next(t)
	conn.handshake(t, 1)
	st.wait(t, client.StateHandshaked)

	// A hold nobody releases expires RedialHoldMax after it began.
	c.HoldRedial()
	held := clk.Now()
	conn.closeWith(contract.CloseInternalError, "overloaded")
	ev = st.wait(t, client.StateReconnecting)
	clk.Advance(ev.Wait)
	waitDeadline(t, clk, held.Add(60*time.Second))
	clk.Set(held.Add(60*time.Second - time.Nanosecond))
	tc.noConn(t)
	clk.Set(held.Add(60 * time.Second))
	tc.next(t)
}
