package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
)

func event(platform, chat, msgID, text string) json.RawMessage {
	ev := map[string]any{
		"text": text,
		"source": map[string]any{
			"platform": platform, "chat_id": chat, "chat_type": "dm", "user_id": "u1",
		},
	}
	if msgID != "" {
		ev["message_id"] = msgID
	}
	b, _ := json.Marshal(ev)
	return b
}

// recorder is a Handler whose event handling each test controls.
type recorder struct {
	events      chan *client.Delivery
	interrupts  chan [2]string
	passthrough chan *client.PassthroughDelivery
	// onEvent decides the handler's return; default nil.
	onEvent func(ctx context.Context, d *client.Delivery) error
	onPass  func(ctx context.Context, d *client.PassthroughDelivery) error
}

func newRecorder() *recorder {
	return &recorder{
		events:      make(chan *client.Delivery, 64),
		interrupts:  make(chan [2]string, 64),
		passthrough: make(chan *client.PassthroughDelivery, 64),
	}
}

func (r *recorder) HandleEvent(ctx context.Context, d *client.Delivery) error {
	r.events <- d
	if r.onEvent != nil {
		return r.onEvent(ctx, d)
	}
	return nil
}

func (r *recorder) HandleInterrupt(_ context.Context, key, chat string) {
	r.interrupts <- [2]string{key, chat}
}

func (r *recorder) HandlePassthrough(ctx context.Context, d *client.PassthroughDelivery) error {
	r.passthrough <- d
	if r.onPass != nil {
		return r.onPass(ctx, d)
	}
	return nil
}

func startWithHandler(t *testing.T, h client.Handler) (*client.Client, *connector, *tconn) {
	t.Helper()
	tc := newConnector(t)
	o := testOpts(tc, clock.NewManual(epoch), nil)
	o.Handler = h
	c, conn := start(t, tc, o)
	conn.handshake(t, 1)
	return c, tc, conn
}

func TestBufferedInboundAckedOnlyAfterHandler(t *testing.T) {
	rec := newRecorder()
	release := make(chan struct{})
	rec.onEvent = func(context.Context, *client.Delivery) error { <-release; return nil }
	_, _, conn := startWithHandler(t, rec)
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "hi"), BufferID: "buf-42"})
	d := recv(t, rec.events)
	if d.Event.Text != "hi" || d.BufferID != "buf-42" || !d.Buffered() {
		t.Fatalf("delivery = %+v", d)
	}
	if d.SessionKey != "agent:main:telegram:dm:42" {
		t.Errorf("session key = %q", d.SessionKey)
	}
	conn.quiet(t) // no ack while the handler runs
	close(release)
	ack := conn.expect(t, contract.TypeInboundAck)
	if ack.raw != `{"type":"inbound_ack","bufferId":"buf-42"}`+"\n" {
		t.Fatalf("ack = %q", ack.raw)
	}
}

func TestLiveInboundIsNeverAcked(t *testing.T) {
	rec := newRecorder()
	_, _, conn := startWithHandler(t, rec)
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "live")})
	if d := recv(t, rec.events); d.Buffered() {
		t.Fatal("live delivery reported as buffered")
	}
	conn.quiet(t)
}

func TestHandlerErrorLeavesDeliveryReplayable(t *testing.T) {
	rec := newRecorder()
	fail := true
	var mu sync.Mutex
	rec.onEvent = func(context.Context, *client.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			fail = false
			return errors.New("disk full")
		}
		return nil
	}
	_, _, conn := startWithHandler(t, rec)
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "hi"), BufferID: "b1"})
	recv(t, rec.events)
	conn.quiet(t)
	// The replay is handled again (it was never admitted) and acked.
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "hi"), BufferID: "b1"})
	recv(t, rec.events)
	if f := conn.expect(t, contract.TypeInboundAck); f.f.(contract.InboundAck).BufferID != "b1" {
		t.Fatalf("ack = %q", f.raw)
	}
}

func TestReplaysAreDeduped(t *testing.T) {
	rec := newRecorder()
	release := make(chan struct{})
	rec.onEvent = func(_ context.Context, d *client.Delivery) error {
		if d.Event.Text == "slow" {
			<-release
		}
		return nil
	}
	_, _, conn := startWithHandler(t, rec)
	// Admitted, then replayed: acked at once, not handled again.
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "fast"), BufferID: "b1"})
	recv(t, rec.events)
	conn.expect(t, contract.TypeInboundAck)
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "fast"), BufferID: "b1-again"})
	if f := conn.expect(t, contract.TypeInboundAck); f.f.(contract.InboundAck).BufferID != "b1-again" {
		t.Fatalf("replay ack = %q", f.raw)
	}
	// Same message id in another chat is a different message.
	conn.send(contract.Inbound{Event: event("telegram", "43", "m1", "fast")})
	recv(t, rec.events)

	// Replayed while the original is still in its handler: acked together
	// with the original, after it is admitted.
	conn.send(contract.Inbound{Event: event("slack", "C1", "m2", "slow"), BufferID: "b2"})
	recv(t, rec.events)
	conn.send(contract.Inbound{Event: event("slack", "C1", "m2", "slow"), BufferID: "b2-replay"})
	conn.quiet(t)
	close(release)
	got := map[string]bool{}
	for i := 0; i < 2; i++ {
		got[conn.expect(t, contract.TypeInboundAck).f.(contract.InboundAck).BufferID] = true
	}
	if !got["b2"] || !got["b2-replay"] {
		t.Fatalf("acks = %v", got)
	}
	select {
	case d := <-rec.events:
		t.Fatalf("replay handled twice: %+v", d.Event)
	default:
	}
	// Without a message id nothing is deduped.
	conn.send(contract.Inbound{Event: event("telegram", "42", "", "a")})
	conn.send(contract.Inbound{Event: event("telegram", "42", "", "a")})
	recv(t, rec.events)
	recv(t, rec.events)
}

func TestDedupeKeepsThe512MostRecent(t *testing.T) {
	rec := newRecorder()
	_, _, conn := startWithHandler(t, rec)
	for i := 0; i < 513; i++ {
		conn.send(contract.Inbound{Event: event("telegram", "42", fmt.Sprintf("m%d", i), "x")})
		recv(t, rec.events)
	}
	// m0 was evicted: handled again. m1 is still remembered.
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "x")})
	conn.send(contract.Inbound{Event: event("telegram", "42", "m0", "x")})
	if d := recv(t, rec.events); d.Event.MessageID != "m0" {
		t.Fatalf("handled %s, want only the evicted m0", d.Event.MessageID)
	}
}

func TestEarlyAckAdmits(t *testing.T) {
	rec := newRecorder()
	release := make(chan struct{})
	rec.onEvent = func(_ context.Context, d *client.Delivery) error {
		if err := d.Ack(); err != nil {
			return err
		}
		<-release
		return errors.New("failed after admission")
	}
	_, _, conn := startWithHandler(t, rec)
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "x"), BufferID: "b1"})
	conn.expect(t, contract.TypeInboundAck)
	close(release)
	conn.quiet(t) // acked exactly once
}

func TestPassthroughIsAckedOnlyExplicitly(t *testing.T) {
	rec := newRecorder()
	_, _, conn := startWithHandler(t, rec)
	fw := contract.Forward{Platform: "discord", Method: "POST", Path: "/interactions",
		Headers: [][2]string{{"Content-Type", "application/json"}}, Body: []byte(`{"type":2}`)}
	conn.send(contract.PassthroughForward{Forward: fw, BufferID: "pbuf-7"})
	d := recv(t, rec.passthrough)
	if string(d.Forward.Body) != `{"type":2}` || d.Forward.Headers[0][0] != "Content-Type" {
		t.Fatalf("forward = %+v", d.Forward)
	}
	conn.quiet(t) // returning nil does not ack a passthrough
	// A replay while not admitted is deduped by passthrough_buffer:<id>.
	conn.send(contract.PassthroughForward{Forward: fw, BufferID: "pbuf-7"})
	conn.quiet(t)
	if err := d.Ack(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the original and the replay that waited
		if f := conn.expect(t, contract.TypeInboundAck); f.f.(contract.InboundAck).BufferID != "pbuf-7" {
			t.Fatalf("ack = %q", f.raw)
		}
	}
	if err := d.Ack(); err != nil {
		t.Fatal(err)
	}
	conn.quiet(t) // idempotent
	// A live forward is never acked.
	conn.send(contract.PassthroughForward{Forward: fw})
	d = recv(t, rec.passthrough)
	if err := d.Ack(); err != nil {
		t.Fatal(err)
	}
	conn.quiet(t)
}

func TestSlowHandlerDoesNotStallResults(t *testing.T) {
	rec := newRecorder()
	block := make(chan struct{})
	rec.onEvent = func(ctx context.Context, d *client.Delivery) error {
		<-block
		return nil
	}
	c, _, conn := startWithHandler(t, rec)
	defer close(block)
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "x"), BufferID: "b1"})
	recv(t, rec.events)
	r := recv(t, async(func() contract.Result { r, _ := c.Send(context.Background(), "42", "meanwhile"); return r }))
	if !r.Success {
		t.Fatalf("send while a handler blocks = %+v", r)
	}
}

func TestSessionOrderingAndConcurrency(t *testing.T) {
	rec := newRecorder()
	gate := map[string]chan struct{}{"a1": make(chan struct{}), "b1": make(chan struct{})}
	rec.onEvent = func(_ context.Context, d *client.Delivery) error {
		if g, ok := gate[d.Event.Text]; ok {
			<-g
		}
		return nil
	}
	_, _, conn := startWithHandler(t, rec)
	conn.send(contract.Inbound{Event: event("telegram", "A", "1", "a1")})
	conn.send(contract.Inbound{Event: event("telegram", "A", "2", "a2")})
	conn.send(contract.Inbound{Event: event("telegram", "B", "1", "b1")})
	first := []string{recv(t, rec.events).Event.Text, recv(t, rec.events).Event.Text}
	// a1 and b1 run at once; a2 waits behind a1.
	if !(first[0] == "a1" && first[1] == "b1" || first[0] == "b1" && first[1] == "a1") {
		t.Fatalf("first two handled = %v", first)
	}
	pending(t, rec.events)
	close(gate["b1"])
	pending(t, rec.events)
	close(gate["a1"])
	if d := recv(t, rec.events); d.Event.Text != "a2" {
		t.Fatalf("third = %s", d.Event.Text)
	}
}

func TestInterruptCancelsTheSessionsTurn(t *testing.T) {
	rec := newRecorder()
	cancelled := make(chan error, 1)
	rec.onEvent = func(ctx context.Context, d *client.Delivery) error {
		<-ctx.Done()
		cancelled <- context.Cause(ctx)
		return nil // admitted, even though the turn was cut short
	}
	_, _, conn := startWithHandler(t, rec)
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "x"), BufferID: "b1"})
	d := recv(t, rec.events)
	conn.send(contract.InterruptInbound{SessionKey: "agent:main:telegram:dm:other", ChatID: "7"})
	if got := recv(t, rec.interrupts); got != [2]string{"agent:main:telegram:dm:other", "7"} {
		t.Fatalf("interrupt = %v", got)
	}
	pending(t, cancelled)
	conn.send(contract.InterruptInbound{SessionKey: d.SessionKey, ChatID: "42"})
	if err := recv(t, cancelled); !errors.Is(err, client.ErrInterrupted) {
		t.Fatalf("handler ctx cause = %v, want ErrInterrupted", err)
	}
	recv(t, rec.interrupts)
	conn.expect(t, contract.TypeInboundAck)
}

func TestPanickingHandlerIsContained(t *testing.T) {
	rec := newRecorder()
	rec.onEvent = func(_ context.Context, d *client.Delivery) error {
		if d.Event.Text == "boom" {
			panic("handler bug")
		}
		return nil
	}
	c, _, conn := startWithHandler(t, rec)
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "boom"), BufferID: "b1"})
	recv(t, rec.events)
	conn.send(contract.Inbound{Event: event("telegram", "42", "m2", "fine"), BufferID: "b2"})
	recv(t, rec.events)
	if f := conn.expect(t, contract.TypeInboundAck); f.f.(contract.InboundAck).BufferID != "b2" {
		t.Fatalf("ack %q: the panicking delivery must stay unacked", f.raw)
	}
	if r, _ := c.Send(context.Background(), "42", "x"); !r.Success {
		t.Fatalf("send after a panic = %+v", r)
	}
}

func TestNoHandlerMeansNoAck(t *testing.T) {
	_, _, conn := startWithHandler(t, nil)
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "x"), BufferID: "b1"})
	conn.send(contract.PassthroughForward{Forward: contract.Forward{Platform: "discord"}, BufferID: "p1"})
	conn.quiet(t)
}

func TestInterruptFrame(t *testing.T) {
	c, _, conn := startWithHandler(t, nil)
	ctx := context.Background()
	if err := c.Interrupt(ctx, "agent:main:telegram:dm:42", nil); err != nil {
		t.Fatal(err)
	}
	if f := conn.expect(t, contract.TypeInterrupt); f.raw != `{"type":"interrupt","session_key":"agent:main:telegram:dm:42","reason":null}`+"\n" {
		t.Fatalf("interrupt = %q", f.raw)
	}
	reason := "user pressed stop"
	if err := c.Interrupt(ctx, "k", &reason); err != nil {
		t.Fatal(err)
	}
	if f := conn.expect(t, contract.TypeInterrupt); f.f.(contract.Interrupt).Reason == nil {
		t.Fatalf("interrupt = %q", f.raw)
	}
}

func TestHandlerCanReplyThroughDelivery(t *testing.T) {
	rec := newRecorder()
	rec.onEvent = func(ctx context.Context, d *client.Delivery) error {
		r, _ := d.Client().Send(ctx, d.Event.Source.ChatID, "echo: "+d.Event.Text)
		if !r.Success {
			return errors.New(r.Error)
		}
		return nil
	}
	_, _, conn := startWithHandler(t, rec)
	conn.send(contract.Inbound{Event: event("telegram", "42", "m1", "hi"), BufferID: "b1"})
	out := conn.expect(t, contract.TypeOutbound).f.(contract.Outbound)
	if out.Action.Content != "echo: hi" || out.Action.ChatID != "42" {
		t.Fatalf("reply = %+v", out.Action)
	}
	conn.expect(t, contract.TypeInboundAck)
	_ = time.Second
}

func TestDeliveryBackpressure(t *testing.T) {
	tc := newConnector(t)
	rec := newRecorder()
	release := make(chan struct{})
	rec.onEvent = func(ctx context.Context, d *client.Delivery) error {
		if d.Event.Text == "first" {
			<-release
		}
		return nil
	}
	o := testOpts(tc, clock.NewManual(epoch), nil)
	o.Handler = rec
	o.MaxQueuedDeliveries = 1
	c, conn := start(t, tc, o)
	conn.handshake(t, 1)
	conn.send(contract.Inbound{Event: event("telegram", "A", "1", "first"), BufferID: "b1"})
	recv(t, rec.events)
	// The only slot is taken: the reader waits before the second delivery,
	// so the result behind it waits too.
	conn.send(contract.Inbound{Event: event("telegram", "B", "1", "second"), BufferID: "b2"})
	res := async(func() contract.Result { r, _ := c.Send(context.Background(), "A", "x"); return r })
	pending(t, res)
	close(release)
	if r := recv(t, res); !r.Success {
		t.Fatalf("send = %+v", r)
	}
	if d := recv(t, rec.events); d.Event.Text != "second" {
		t.Fatalf("second delivery = %+v", d.Event)
	}
}

func TestCloseWhileTheReaderWaitsForASlot(t *testing.T) {
	tc := newConnector(t)
	rec := newRecorder()
	rec.onEvent = func(ctx context.Context, d *client.Delivery) error {
		<-ctx.Done()
		return ctx.Err()
	}
	o := testOpts(tc, clock.NewManual(epoch), nil)
	o.Handler = rec
	o.MaxQueuedDeliveries = 1
	c, conn := start(t, tc, o)
	conn.handshake(t, 1)
	conn.send(contract.Inbound{Event: event("telegram", "A", "1", "x"), BufferID: "b1"})
	recv(t, rec.events)
	conn.send(contract.Inbound{Event: event("telegram", "B", "1", "y"), BufferID: "b2"})
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	conn.quiet(t) // neither delivery was admitted: no ack
}

// A connector may drain its buffer in the same message as the descriptor;
// the handler must be able to reply and ack at once.
func TestDeliveryRightAfterTheDescriptor(t *testing.T) {
	tc := newConnector(t)
	tc.autoDescriptor.Store(false)
	rec := newRecorder()
	rec.onEvent = func(ctx context.Context, d *client.Delivery) error {
		if r, _ := d.Client().Send(ctx, d.Event.Source.ChatID, "re: "+d.Event.Text); !r.Success {
			return errors.New(r.Error)
		}
		return nil
	}
	o := testOpts(tc, clock.NewManual(epoch), nil)
	o.Handler = rec
	connectInBackground(t, o)
	conn := tc.next(t)
	conn.expect(t, contract.TypeHello)
	desc, _ := contract.EncodeFrame(contract.DescriptorFrame{Descriptor: tc.descriptor("relay")})
	in, _ := contract.EncodeFrame(contract.Inbound{Event: event("telegram", "42", "m1", "early"), BufferID: "b1"})
	conn.sendRaw(string(desc) + string(in))
	if f := conn.expect(t, contract.TypeOutbound); f.f.(contract.Outbound).Action.Content != "re: early" {
		t.Fatalf("reply = %q", f.raw)
	}
	if f := conn.expect(t, contract.TypeInboundAck); f.f.(contract.InboundAck).BufferID != "b1" {
		t.Fatalf("ack = %q", f.raw)
	}
}
