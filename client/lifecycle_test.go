package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
)

func TestGoIdleAwaitsAckAndKeepsServing(t *testing.T) {
	tc := newConnector(t)
	clk := clock.NewManual(epoch)
	rec := newRecorder()
	o := testOpts(tc, clk, nil)
	o.Handler = rec
	c, conn := start(t, tc, o)
	conn.handshake(t, 1)
	res := async(func() [2]any { ok, err := c.GoIdle(context.Background()); return [2]any{ok, err} })
	if f := conn.expect(t, contract.TypeGoingIdle); f.raw != `{"type":"going_idle"}`+"\n" {
		t.Fatalf("going_idle = %q", f.raw)
	}
	// The flip window: still delivered live.
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "in the window")})
	recv(t, rec.events)
	pending(t, res)
	conn.send(contract.GoingIdleAck{})
	if got := recv(t, res); got[0] != true || got[1] != nil {
		t.Fatalf("GoIdle = %v", got)
	}
	// An ack nobody waits for is ignored.
	conn.send(contract.GoingIdleAck{})
	if r, _ := c.Send(context.Background(), "42", "still connected"); !r.Success {
		t.Fatalf("send = %+v", r)
	}
}

func TestGoIdleTimesOut(t *testing.T) {
	tc := newConnector(t)
	clk := clock.NewManual(epoch)
	c, conn := start(t, tc, testOpts(tc, clk, nil))
	conn.handshake(t, 1)
	res := async(func() error { _, err := c.GoIdle(context.Background()); return err })
	conn.expect(t, contract.TypeGoingIdle)
	waitDeadline(t, clk, epoch.Add(10*time.Second))
	clk.Advance(10 * time.Second)
	if err := recv(t, res); !errors.Is(err, client.ErrGoIdleTimeout) {
		t.Fatalf("GoIdle = %v", err)
	}
}

func TestGoDormantRedialsOnTheDormantCadence(t *testing.T) {
	tc := newConnector(t)
	clk := clock.NewManual(epoch)
	st := newStates()
	rec := newRecorder()
	o := testOpts(tc, clk, st)
	o.Handler = rec
	c, conn := start(t, tc, o)
	conn.handshake(t, 1)
	st.wait(t, client.StateHandshaked)
	// Climb the ladder once so the counter is visible.
	conn.closeWith(contract.CloseInternalError, "overloaded")
	ev := st.wait(t, client.StateReconnecting)
	clk.Advance(ev.Wait)
	conn = tc.next(t)
	conn.handshake(t, 1)
	st.wait(t, client.StateHandshaked)

	res := async(func() bool { ok, _ := c.GoDormant(context.Background()); return ok })
	conn.expect(t, contract.TypeGoingIdle)
	conn.send(contract.GoingIdleAck{})
	if !recv(t, res) {
		t.Fatal("GoDormant = false")
	}
	if code, _ := conn.waitClosed(t); code != 1000 {
		t.Fatalf("dormant close code = %d", code)
	}
	ev = st.wait(t, client.StateDormant)
	if ev.Wait != time.Second || ev.Attempt != 1 {
		t.Fatalf("dormant event = %+v, want a 1s wait and the counter untouched", ev)
	}
	if !c.Dormant() {
		t.Fatal("not dormant")
	}
	clk.Advance(time.Second - time.Nanosecond)
	tc.noConn(t)
	clk.Advance(time.Nanosecond)
	conn = tc.next(t)
	conn.handshake(t, 1)
	// The connector drains what it buffered; the client acks it.
	conn.send(contract.Inbound{Event: event("telegram", "42", "m9", "buffered"), BufferID: "buf-1"})
	recv(t, rec.events)
	if f := conn.expect(t, contract.TypeInboundAck); f.f.(contract.InboundAck).BufferID != "buf-1" {
		t.Fatalf("ack = %q", f.raw)
	}
	if c.Dormant() {
		t.Fatal("still dormant after the handshake")
	}
	if c.State() == client.StateClosed {
		t.Fatal("GoDormant closed the client")
	}
}

func TestGoDormantWithoutAckStaysConnected(t *testing.T) {
	tc := newConnector(t)
	clk := clock.NewManual(epoch)
	c, conn := start(t, tc, testOpts(tc, clk, nil))
	conn.handshake(t, 1)
	res := async(func() bool { ok, _ := c.GoDormant(context.Background()); return ok })
	conn.expect(t, contract.TypeGoingIdle)
	waitDeadline(t, clk, epoch.Add(10*time.Second))
	clk.Advance(10 * time.Second)
	if recv(t, res) {
		t.Fatal("GoDormant = true without an ack")
	}
	if r, _ := c.Send(context.Background(), "42", "x"); !r.Success {
		t.Fatalf("send = %+v", r)
	}
}

func TestCloseIsTerminalAndIdempotent(t *testing.T) {
	tc := newConnector(t)
	st := newStates()
	c, conn := start(t, tc, testOpts(tc, clock.NewManual(epoch), st))
	conn.handshake(t, 1)
	ctx := context.Background()
	idle := async(func() error {
		_, err := c.GoIdle(ctx)
		return err
	})
	conn.expect(t, contract.TypeGoingIdle)
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, idle); err == nil {
		t.Fatal("a pending GoIdle survived Close")
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	st.wait(t, client.StateClosed)
	if r, _ := c.Send(ctx, "42", "x"); r.Error != "relay transport closed" {
		t.Fatalf("send after Close = %+v", r)
	}
	if err := c.Connect(ctx); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Connect after Close = %v", err)
	}
	if code, _ := conn.waitClosed(t); code != 1000 {
		t.Fatalf("close code = %d", code)
	}
}

func TestCloseWhileReconnecting(t *testing.T) {
	tc := newConnector(t)
	clk := clock.NewManual(epoch)
	st := newStates()
	c, conn := start(t, tc, testOpts(tc, clk, st))
	conn.handshake(t, 1)
	conn.closeWith(contract.CloseInternalError, "overloaded")
	st.wait(t, client.StateReconnecting)
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	tc.noConn(t)
}

func TestCloseWaitsForHandlers(t *testing.T) {
	rec := newRecorder()
	stopped := make(chan struct{})
	rec.onEvent = func(ctx context.Context, d *client.Delivery) error {
		<-ctx.Done() // a well-behaved handler stops when told
		if !errors.Is(context.Cause(ctx), client.ErrClosed) {
			t.Errorf("cause = %v, want ErrClosed", context.Cause(ctx))
		}
		close(stopped)
		return ctx.Err()
	}
	c, _, conn := startWithHandler(t, rec)
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "x"), BufferID: "b1"})
	recv(t, rec.events)
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("Close returned before the handler did")
	}
}
