package client_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// Each deviation must break exactly the behaviour it names; these tests
// pin the broken behaviour so the conformance suite's self-check has a
// stable target.

func devOpts(t *testing.T, tc *connector, clk *clock.Manual, st *states, d deviation.ID) client.Options {
	return withDeviations(t, testOpts(tc, clk, st), d)
}

// withDeviations returns o with the deviations ds on.
func withDeviations(t *testing.T, o client.Options, ds ...deviation.ID) client.Options {
	t.Helper()
	if err := deviation.Apply(&o, deviation.NewSet(ds...)); err != nil {
		t.Fatal(err)
	}
	return o
}

// TestDeviationsAreTheClients: Options take the client's deviations and
// no other component's, even one of the same name.
func TestDeviationsAreTheClients(t *testing.T) {
	var o client.Options
	for _, d := range []deviation.ID{deviation.SimNoNewline, deviation.AdapterIgnoreSupportedOps} {
		if err := deviation.Apply(&o, deviation.NewSet(deviation.ClientNoNewline, d)); err == nil {
			t.Errorf("Options took %s", d)
		}
	}
	if n := len(deviation.Of(deviation.Client)); n != 20 {
		t.Fatalf("%d deviations", n)
	}
}

func TestDevSecond4401NotTerminal(t *testing.T) {
	tc := newConnector(t)
	clk := clock.NewManual(epoch)
	st := newStates()
	c, conn := start(t, tc, devOpts(t, tc, clk, st, deviation.ClientSecond4401NotTerminal))
	conn.handshake(t, 1)
	st.wait(t, client.StateHandshaked)
	tc.autoDescriptor.Store(false)
	tc.onConn = func(c *tconn) { c.closeWith(contract.CloseUnauthorized, contract.ReasonUnauthorized) }
	conn.closeWith(contract.CloseUnauthorized, contract.ReasonUnauthorized)
	for i := 0; i < 3; i++ {
		tc.next(t) // immediate re-dials, no clock movement, no revocation
	}
	if c.State() == client.StateRevoked {
		t.Fatal("revoked despite the deviation")
	}
}

func TestDevExpiredIsTerminal(t *testing.T) {
	tc := newConnector(t)
	clk := clock.NewManual(epoch)
	st := newStates()
	_, conn := start(t, tc, devOpts(t, tc, clk, st, deviation.ClientExpiredIsTerminal))
	conn.handshake(t, 1)
	st.wait(t, client.StateHandshaked)
	tc.autoDescriptor.Store(false)
	tc.onConn = func(c *tconn) { c.closeWith(contract.CloseUnauthorized, contract.ReasonExpired) }
	conn.closeWith(contract.CloseUnauthorized, contract.ReasonExpired)
	tc.next(t)
	st.wait(t, client.StateRevoked)
}

func TestDevNoAckBuffered(t *testing.T) {
	tc := newConnector(t)
	rec := newRecorder()
	o := devOpts(t, tc, clock.NewManual(epoch), nil, deviation.ClientNoAckBuffered)
	o.Handler = rec
	_, conn := start(t, tc, o)
	conn.handshake(t, 1)
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "x"), BufferID: "b1"})
	recv(t, rec.events)
	conn.quiet(t)
}

func TestDevAckLive(t *testing.T) {
	tc := newConnector(t)
	rec := newRecorder()
	o := devOpts(t, tc, clock.NewManual(epoch), nil, deviation.ClientAckLive)
	o.Handler = rec
	_, conn := start(t, tc, o)
	conn.handshake(t, 1)
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "x")})
	f := conn.expect(t, contract.TypeInboundAck)
	if vs := contract.ValidateFrame([]byte(f.raw)); len(vs) == 0 || vs[0].Requirement != "IDLE-002" {
		t.Fatalf("live ack %q violations = %v, want IDLE-002", f.raw, vs)
	}
}

func TestDevAckBeforeHandler(t *testing.T) {
	tc := newConnector(t)
	rec := newRecorder()
	block := make(chan struct{})
	rec.onEvent = func(context.Context, *client.Delivery) error { <-block; return nil }
	o := devOpts(t, tc, clock.NewManual(epoch), nil, deviation.ClientAckBeforeHandler)
	o.Handler = rec
	_, conn := start(t, tc, o)
	defer close(block)
	conn.handshake(t, 1)
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "x"), BufferID: "b1"})
	recv(t, rec.events)
	conn.expect(t, contract.TypeInboundAck) // while the handler is still blocked
}

func TestDevNoNewline(t *testing.T) {
	tc := newConnector(t)
	tc.autoDescriptor.Store(false)
	connectInBackground(t, devOpts(t, tc, clock.NewManual(epoch), nil, deviation.ClientNoNewline))
	f := tc.next(t).expect(t, contract.TypeHello)
	if strings.HasSuffix(f.raw, "\n") {
		t.Fatalf("hello %q ends with a newline", f.raw)
	}
}

func TestDevStaleToken(t *testing.T) {
	tc := newConnector(t)
	clk := clock.NewManual(epoch)
	st := newStates()
	_, conn := start(t, tc, devOpts(t, tc, clk, st, deviation.ClientStaleToken))
	conn.handshake(t, 1)
	st.wait(t, client.StateHandshaked)
	clk.Advance(time.Hour)
	conn.closeWith(contract.CloseInternalError, "x")
	ev := st.wait(t, client.StateReconnecting)
	clk.Advance(ev.Wait)
	tc.next(t)
	if az := tc.Authz(); az[0] != az[1] {
		t.Fatal("a fresh token was minted despite the deviation")
	}
}

func TestDevNoHelloPerIdentity(t *testing.T) {
	tc := newConnector(t)
	o := devOpts(t, tc, clock.NewManual(epoch), nil, deviation.ClientNoHelloPerIdentity)
	o.Config.Platforms = []client.Identity{{Platform: "discord"}, {Platform: "telegram"}}
	_, conn := start(t, tc, o)
	conn.handshake(t, 1)
	conn.quiet(t)
}

func TestDevRequestIDReuse(t *testing.T) {
	tc := newConnector(t)
	tc.autoResult.Store(false)
	c, conn := start(t, tc, devOpts(t, tc, clock.NewManual(epoch), nil, deviation.ClientRequestIDReuse))
	conn.handshake(t, 1)
	ctx := context.Background()
	a := async(func() contract.Result { r, _ := c.Send(ctx, "c1", "a"); return r })
	fa := conn.expect(t, contract.TypeOutbound).f.(contract.Outbound)
	b := async(func() contract.Result { r, _ := c.Send(ctx, "c1", "b"); return r })
	fb := conn.expect(t, contract.TypeOutbound).f.(contract.Outbound)
	if fa.RequestID != fb.RequestID {
		t.Fatalf("ids %s %s differ", fa.RequestID, fb.RequestID)
	}
	for _, id := range []string{"first", "second"} {
		conn.send(contract.OutboundResult{RequestID: fa.RequestID, Result: contract.Result{Success: true, MessageID: id}})
	}
	if ra, rb := recv(t, a), recv(t, b); ra.MessageID != "first" || rb.MessageID != "second" {
		t.Fatalf("results %+v %+v", ra, rb)
	}
}

func TestDevNoBackoff(t *testing.T) {
	tc := newConnector(t)
	clk := clock.NewManual(epoch)
	st := newStates()
	_, conn := start(t, tc, devOpts(t, tc, clk, st, deviation.ClientNoBackoff))
	for i := 0; i < 3; i++ {
		conn.handshake(t, 1)
		conn.closeWith(contract.CloseInternalError, "x")
		if ev := st.wait(t, client.StateReconnecting); ev.Wait != 0 {
			t.Fatalf("wait = %s", ev.Wait)
		}
		conn = tc.next(t) // no clock movement needed
	}
}

func TestDevNoGoingIdleWait(t *testing.T) {
	tc := newConnector(t)
	c, conn := start(t, tc, devOpts(t, tc, clock.NewManual(epoch), nil, deviation.ClientNoGoingIdleWait))
	conn.handshake(t, 1)
	ok, err := c.GoDormant(context.Background())
	if !ok || err != nil {
		t.Fatalf("GoDormant = %v, %v", ok, err)
	}
	conn.expect(t, contract.TypeGoingIdle)
	if code, _ := conn.waitClosed(t); code != 1000 {
		t.Fatalf("close = %d: torn down without awaiting the ack", code)
	}
}

func TestDevUnsupportedOpSent(t *testing.T) {
	tc := newConnector(t)
	c, conn := start(t, tc, devOpts(t, tc, clock.NewManual(epoch), nil, deviation.ClientUnsupportedOpSent))
	conn.handshake(t, 1)
	c.React(context.Background(), "c1", "m1", "x", false)
	if f := conn.expect(t, contract.TypeOutbound); f.f.(contract.Outbound).Action.Op != contract.OpReact {
		t.Fatalf("frame = %q", f.raw)
	}
}

func TestDevReasonOmitted(t *testing.T) {
	tc := newConnector(t)
	c, conn := start(t, tc, devOpts(t, tc, clock.NewManual(epoch), nil, deviation.ClientReasonOmitted))
	conn.handshake(t, 1)
	if err := c.Interrupt(context.Background(), "k", nil); err != nil {
		t.Fatal(err)
	}
	f := conn.expect(t, contract.TypeInterrupt)
	if f.raw != `{"type":"interrupt","session_key":"k"}`+"\n" {
		t.Fatalf("interrupt = %q", f.raw)
	}
	if vs := contract.ValidateFrame([]byte(f.raw)); len(vs) == 0 || vs[0].Requirement != "IN-004" {
		t.Fatalf("violations = %v, want IN-004", vs)
	}
}
