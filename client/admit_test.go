package client_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/contract"
)

// admitter is a recorder that also admits deliveries as they arrive.
type admitter struct {
	*recorder
	admitted chan string // event texts and forward paths, as admitted
	// onAdmit decides an event's admission; default admit and handle.
	onAdmit     func(ctx context.Context, d *client.Delivery) (bool, error)
	onAdmitPass func(ctx context.Context, d *client.PassthroughDelivery) (bool, error)
}

func newAdmitter() *admitter {
	return &admitter{recorder: newRecorder(), admitted: make(chan string, 64)}
}

func (a *admitter) AdmitEvent(ctx context.Context, d *client.Delivery) (bool, error) {
	a.admitted <- d.Event.Text
	if a.onAdmit != nil {
		return a.onAdmit(ctx, d)
	}
	return true, nil
}

func (a *admitter) AdmitPassthrough(ctx context.Context, d *client.PassthroughDelivery) (bool, error) {
	a.admitted <- d.Forward.Path
	if a.onAdmitPass != nil {
		return a.onAdmitPass(ctx, d)
	}
	return true, nil
}

var _ client.Admitter = (*admitter)(nil)

// TestAdmitterAcksOnArrivalAndHandlesInOrder: an Admitter's event is
// acked when admitted, while the handler of an earlier event of its
// session still runs; handling keeps the session's order.
func TestAdmitterAcksOnArrivalAndHandlesInOrder(t *testing.T) {
	a := newAdmitter()
	release := make(chan struct{})
	a.onEvent = func(_ context.Context, d *client.Delivery) error {
		if d.Event.Text == "first" {
			<-release
		}
		return errors.New("a failure after admission changes nothing")
	}
	_, _, conn := startWithHandler(t, a)
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "first"), BufferID: "b1"})
	if f := conn.expect(t, contract.TypeInboundAck); f.f.(contract.InboundAck).BufferID != "b1" {
		t.Fatalf("ack = %q", f.raw)
	}
	recv(t, a.events)
	conn.send(contract.Inbound{Event: event("telegram", "42", "m2", "second"), BufferID: "b2"})
	if got := recv(t, a.admitted); got != "first" {
		t.Fatalf("admitted %q", got)
	}
	if got := recv(t, a.admitted); got != "second" {
		t.Fatalf("admitted %q", got)
	}
	// Admitted and acked while "first" still holds the session.
	if f := conn.expect(t, contract.TypeInboundAck); f.f.(contract.InboundAck).BufferID != "b2" {
		t.Fatalf("ack = %q", f.raw)
	}
	pending(t, a.events)
	close(release)
	if d := recv(t, a.events); d.Event.Text != "second" {
		t.Fatalf("handled %q", d.Event.Text)
	}
	conn.quiet(t) // the handlers' errors withdraw nothing: each ack went once
}

// TestAdmitterRefusalIsNeverAcked: a refused event is neither acked nor
// handled, and its replay is admitted afresh (IDLE-014).
func TestAdmitterRefusalIsNeverAcked(t *testing.T) {
	a := newAdmitter()
	var refuse atomic.Bool
	refuse.Store(true)
	a.onAdmit = func(context.Context, *client.Delivery) (bool, error) {
		if refuse.Swap(false) {
			return false, errors.New("queue full")
		}
		return true, nil
	}
	_, _, conn := startWithHandler(t, a)
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "x"), BufferID: "b1"})
	recv(t, a.admitted)
	conn.quiet(t)
	pending(t, a.events)
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "x"), BufferID: "b1"})
	recv(t, a.admitted)
	if f := conn.expect(t, contract.TypeInboundAck); f.f.(contract.InboundAck).BufferID != "b1" {
		t.Fatalf("ack = %q", f.raw)
	}
	recv(t, a.events)
}

// TestAdmitterMayConsumeWithoutHandling: handle false admits (acks) the
// event and calls no handler, as for a prompt answer.
func TestAdmitterMayConsumeWithoutHandling(t *testing.T) {
	a := newAdmitter()
	a.onAdmit = func(context.Context, *client.Delivery) (bool, error) { return false, nil }
	_, _, conn := startWithHandler(t, a)
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "answer"), BufferID: "b1"})
	conn.expect(t, contract.TypeInboundAck)
	pending(t, a.events)
	// A replay of it is a replay of admitted work: acked, not admitted again.
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "answer"), BufferID: "b1-again"})
	if f := conn.expect(t, contract.TypeInboundAck); f.f.(contract.InboundAck).BufferID != "b1-again" {
		t.Fatalf("ack = %q", f.raw)
	}
	recv(t, a.admitted)
	pending(t, a.admitted)
}

// TestAdmittedForwardRunsInItsSession: a forward whose admission names a
// session is handled in that session's order, and an interrupt of the
// session cancels its handler; a forward is still acked only explicitly.
func TestAdmittedForwardRunsInItsSession(t *testing.T) {
	const session = "agent:main:telegram:dm:42"
	a := newAdmitter()
	release := make(chan struct{})
	a.onEvent = func(context.Context, *client.Delivery) error { <-release; return nil }
	a.onAdmitPass = func(_ context.Context, d *client.PassthroughDelivery) (bool, error) {
		if d.Forward.Path == "/command" {
			d.SessionKey = session
			return true, d.Ack()
		}
		return true, nil
	}
	cancelled := make(chan error, 1)
	a.onPass = func(ctx context.Context, d *client.PassthroughDelivery) error {
		if d.Forward.Path == "/command" {
			<-ctx.Done()
			cancelled <- context.Cause(ctx)
		}
		return nil
	}
	_, _, conn := startWithHandler(t, a)
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "x")})
	recv(t, a.events)
	conn.send(contract.PassthroughForward{Forward: contract.Forward{Platform: "discord", Path: "/command"}, BufferID: "p1"})
	conn.send(contract.PassthroughForward{Forward: contract.Forward{Platform: "discord", Path: "/other"}, BufferID: "p2"})
	if f := conn.expect(t, contract.TypeInboundAck); f.f.(contract.InboundAck).BufferID != "p1" {
		t.Fatalf("ack = %q", f.raw)
	}
	// The other forward runs on its platform's lane at once and is not
	// acked, since nobody acked it.
	if d := recv(t, a.passthrough); d.Forward.Path != "/other" {
		t.Fatalf("handled %q first", d.Forward.Path)
	}
	pending(t, a.passthrough) // the command waits for the session
	close(release)
	if d := recv(t, a.passthrough); d.Forward.Path != "/command" || d.SessionKey != session {
		t.Fatalf("handled %+v", d)
	}
	conn.send(contract.InterruptInbound{SessionKey: session, ChatID: "42"})
	if err := recv(t, cancelled); !errors.Is(err, client.ErrInterrupted) {
		t.Fatalf("cause = %v", err)
	}
	conn.quiet(t)
}
