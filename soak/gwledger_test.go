package soak

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// lineLog collects what a tap emits.
type lineLog struct {
	mu    sync.Mutex
	lines []string
	errs  []error
}

func (l *lineLog) emit(b []byte) {
	l.mu.Lock()
	l.lines = append(l.lines, string(b))
	l.mu.Unlock()
}

func (l *lineLog) fail(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *lineLog) snapshot() ([]string, []error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...), append([]error(nil), l.errs...)
}

// The tap decodes real coder/websocket traffic through the real proxy, in
// both directions: masked and unmasked frames, several contract frames in
// one message, a message in fragments, a frame over 64 KiB, and pings in
// between.
func TestTapDecodesWebSocketTraffic(t *testing.T) {
	big := `{"type":"inbound","pad":"` + strings.Repeat("x", 70<<10) + `"}`
	serverSends := []string{`{"type":"descriptor","a":1}` + "\n" + `{"type":"inbound","bufferId":"b1"}` + "\n", big + "\n"}
	clientSends := []string{`{"type":"hello"}` + "\n", `{"type":"inbound_ack","bufferId":"b1"}` + "\n"}
	hctx, hcancel := context.WithCancel(context.Background())
	var handlers sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		ctx := hctx
		go func() { // reading answers the pongs Ping waits for
			for {
				if _, _, err := c.Read(ctx); err != nil {
					return
				}
			}
		}()
		for _, m := range serverSends {
			c.Write(ctx, websocket.MessageText, []byte(m))
			c.Ping(ctx)
		}
		<-ctx.Done()
	}))
	defer srv.Close()
	defer handlers.Wait()
	defer hcancel()

	var up, down lineLog
	p, err := newProxy(hostOf(srv.URL), func(gw string) (io.Writer, io.Writer) {
		if gw != "gw-0" {
			t.Errorf("proxy read gateway %q from the token", gw)
		}
		return newTap(false, up.emit, up.fail), newTap(true, down.emit, down.fail)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok := contract.MintTokenTTL("gw-0", "secret", time.Now(), time.Minute)
	c, _, err := websocket.Dial(ctx, "ws://"+hostOf(p.URL())+"/relay", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	go func() { // answers pings, reads the rest
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}()
	c.Write(ctx, websocket.MessageText, []byte(clientSends[0]))
	// The second one in three fragments.
	w, err := c.Writer(ctx, websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	m := clientSends[1]
	for _, part := range []string{m[:5], m[5:20], m[20:]} {
		w.Write([]byte(part))
		if f, ok := w.(interface{ Flush() error }); ok {
			f.Flush()
		}
	}
	w.Close()

	want := func(msgs []string) []string {
		var out []string
		for _, m := range msgs {
			out = append(out, strings.Split(strings.TrimSuffix(m, "\n"), "\n")...)
		}
		return out
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		gotUp, upErrs := up.snapshot()
		gotDown, downErrs := down.snapshot()
		if len(upErrs)+len(downErrs) > 0 {
			t.Fatalf("tap errors: %v %v", upErrs, downErrs)
		}
		if strings.Join(gotUp, "|") == strings.Join(want(clientSends), "|") && strings.Join(gotDown, "|") == strings.Join(want(serverSends), "|") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tap saw up %d %.200q, down %d (%d bytes)", len(gotUp), gotUp, len(gotDown), len(strings.Join(gotDown, "")))
		}
		time.Sleep(5 * time.Millisecond) // polling for the tap's output, not asserting on time
	}
}

// The tap reports a stream it cannot decode instead of guessing.
func TestTapRefusesCompressedFrames(t *testing.T) {
	var l lineLog
	tp := newTap(true, l.emit, l.fail)
	tp.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"))
	tp.Write([]byte{0xc1, 0x03, 'a', 'b', 'c'}) // RSV1: permessage-deflate
	if _, errs := l.snapshot(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "RSV") {
		t.Fatalf("errors %v", errs)
	}
	var l2 lineLog
	tp = newTap(true, l2.emit, l2.fail)
	tp.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"))
	if _, errs := l2.snapshot(); len(errs) != 1 {
		t.Fatalf("errors %v", errs)
	}
	var l3 lineLog
	tp = newTap(true, l3.emit, l3.fail)
	tp.Write([]byte("HTTP/1.1 401 Unauthorized\r\n\r\n{\"type\":\"x\"}\n"))
	if lines, errs := l3.snapshot(); len(lines)+len(errs) != 0 {
		t.Fatalf("a refused upgrade was decoded: %v %v", lines, errs)
	}
}

// gwRig drives a gateway ledger with frames, as the taps would.
type gwRig struct {
	t   *testing.T
	led *ledger
	gwl *gwLedger
}

func newGWRig(t *testing.T) *gwRig {
	led := newLedger(1, 2, func(string, ...any) {})
	led.gwIndex = func(id string) int { return -1 }
	return &gwRig{t: t, led: led, gwl: newGWLedger(led, 2)}
}

// event plans event n of gateway 0 on platform p; buffered says the
// connector answered buffered.
func (r *gwRig) event(n int, p string, buffered bool) {
	if got := r.led.newEvent(0, false); got != n {
		r.t.Fatalf("event %d allocated as %d", n, got)
	}
	r.gwl.planned(0, n, p)
	d := simulator.Delivery{Mode: simulator.DeliveryLive, SessionID: 1}
	if buffered {
		d = simulator.Delivery{Mode: simulator.DeliveryBuffered, BufferID: buf(n)}
	}
	r.led.injected(0, n, 1, d, nil)
	if buffered {
		r.gwl.buffered(0, n, buf(n))
	}
}

func buf(n int) string { return fmt.Sprintf("buf-%d", n) }

func (r *gwRig) recv(c *gwConn, n int, buffered bool) {
	f := fmt.Sprintf(`{"type":"inbound","event":{"message_id":%q}}`, marker(0, n))
	if buffered {
		f = fmt.Sprintf(`{"type":"inbound","event":{"message_id":%q},"bufferId":%q}`, marker(0, n), buf(n))
	}
	r.gwl.received(c, []byte(f))
}

func (r *gwRig) ack(c *gwConn, n int, admitted bool) {
	if admitted {
		r.led.handled(0, marker(0, n), buf(n), true, "admitted")
	}
	r.gwl.sent(c, []byte(fmt.Sprintf(`{"type":"inbound_ack","bufferId":%q}`, buf(n))))
}

// expect checks the violations so far, by substring, and clears them.
func (r *gwRig) expect(wants ...string) {
	r.t.Helper()
	r.led.mu.Lock()
	got := r.led.violations
	r.led.violations = nil
	r.led.mu.Unlock()
	if len(got) != len(wants) {
		r.t.Fatalf("violations %d, want %d (%q):\n%s", len(got), len(wants), wants, strings.Join(got, "\n"))
	}
	for i, w := range wants {
		if !strings.Contains(got[i], w) {
			r.t.Fatalf("violation %d %q lacks %q", i, got[i], w)
		}
	}
}

// IDLE-009 from the gateway's side: on one connection the entries of a
// platform arrive oldest first, once; across platforms and connections
// the order starts afresh.
func TestGWLedgerReplayOrder(t *testing.T) {
	r := newGWRig(t)
	for n := 0; n < 6; n++ {
		r.event(n, platforms[n%2], true)
	}
	c1 := r.gwl.open(0)
	r.recv(c1, 0, true)
	r.recv(c1, 2, true)
	r.recv(c1, 1, true) // the other platform: its own order
	r.recv(c1, 4, true)
	r.expect()
	r.recv(c1, 2, true)
	r.expect("IDLE-009 (gateway ledger): on connection #1 of gateway 0, buffered soak-g0-e2 (buf-2) arrived after soak-g0-e4")
	r.recv(c1, 4, true)
	r.expect("arrived twice in a row")
	c2 := r.gwl.open(0)
	r.recv(c2, 0, true) // a new connection replays from the oldest unacked
	r.expect()
	c3 := r.gwl.open(0)
	r.gwl.received(c3, []byte(`{"type":"inbound","event":{"message_id":"soak-g0-e0"},"bufferId":"buf-other"}`))
	r.expect("IDLE-009 (gateway ledger): soak-g0-e0 arrived under buffer id buf-other")
}

// IDLE-012 from the gateway's side: a live event never arrives while an
// older event of its platform is unacked.
func TestGWLedgerLiveAfterUnackedEntry(t *testing.T) {
	r := newGWRig(t)
	r.event(0, "discord", true)
	r.event(1, "telegram", true)
	r.event(2, "discord", false)
	r.event(3, "telegram", false)
	c := r.gwl.open(0)
	r.recv(c, 0, true)
	r.ack(c, 0, true)
	r.recv(c, 2, false) // discord: its older entry was acked
	r.expect()
	r.recv(c, 3, false) // telegram: event 1 was never acked
	r.expect("IDLE-012 (gateway ledger): live soak-g0-e3 arrived on connection #1 of gateway 0 while soak-g0-e1 (buf-1)")
}

// IDLE-010 from the gateway's side: once a live frame confirmed an ack
// on a connection that carried the entry, the entry never arrives again.
func TestGWLedgerRedeliveryAfterConfirmedAck(t *testing.T) {
	r := newGWRig(t)
	r.event(0, "discord", true)
	r.event(1, "discord", true)
	r.event(2, "discord", false)
	c1 := r.gwl.open(0)
	r.recv(c1, 0, true)
	r.recv(c1, 1, true)
	r.ack(c1, 0, true)
	r.ack(c1, 1, true)
	// No confirmation yet: a redelivery on a new connection is the ack
	// dying with its socket, which the contract allows.
	c2 := r.gwl.open(0)
	r.recv(c2, 0, true)
	r.expect()
	r.recv(c2, 2, false) // confirms the ack of 0 (it arrived on c2), not of 1
	c3 := r.gwl.open(0)
	r.recv(c3, 0, true)
	r.expect("IDLE-010 (gateway ledger): soak-g0-e0 (buf-0) arrived again on connection #3 after its confirmed ack")
	c4 := r.gwl.open(0)
	r.recv(c4, 1, true)
	r.expect()
	if got := r.led.snapshotCounts()["redelivered_after_unconfirmed_ack"]; got != 2 {
		t.Fatalf("redelivered_after_unconfirmed_ack %d", got)
	}
}

// IDLE-013 from the gateway's side.
func TestGWLedgerAcks(t *testing.T) {
	r := newGWRig(t)
	r.event(0, "discord", true)
	c := r.gwl.open(0)
	r.gwl.sent(c, []byte(`{"type":"inbound_ack","bufferId":"buf-0"}`))
	r.expect("IDLE-013 (gateway ledger): gateway 0 acked buffer id \"buf-0\" on connection #1, which it never received")
	r.recv(c, 0, true)
	r.ack(c, 0, false)
	r.expect("before its handler admitted it")
	if lost := r.gwl.settle(); len(lost) != 0 {
		t.Fatalf("lost %v", lost)
	}
	r.event(1, "telegram", true)
	if lost := r.gwl.settle(); len(lost) != 1 || lost[0] != (evKey{0, 1}) {
		t.Fatalf("lost %v", lost)
	}
	// Another gateway's event on this gateway's socket.
	r.led.newEvent(1, false)
	r.gwl.planned(1, 0, "discord")
	r.gwl.received(c, []byte(`{"type":"inbound","event":{"message_id":"soak-g1-e0"}}`))
	r.expect("cross-tenant (gateway ledger): soak-g1-e0 reached gateway 0")
}

// wsFrame encodes one WebSocket frame, masked as a client's are.
func wsFrame(fin bool, op byte, payload string, mask bool) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	n := len(payload)
	m := byte(0)
	if mask {
		m = 0x80
	}
	switch {
	case n < 126:
		out = append(out, m|byte(n))
	case n < 1<<16:
		out = append(out, m|126, byte(n>>8), byte(n))
	default:
		out = append(out, m|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	p := []byte(payload)
	if mask {
		key := []byte{0x12, 0x34, 0x56, 0x78}
		out = append(out, key...)
		for i := range p {
			p[i] ^= key[i&3]
		}
	}
	return append(out, p...)
}

// A masked message in fragments, with a ping between them and a frame
// split across them, fed one byte at a time.
func TestTapReassemblesFragments(t *testing.T) {
	var stream []byte
	stream = append(stream, wsFrame(false, 0x1, `{"type":"inbound_ack","buf`, true)...)
	stream = append(stream, wsFrame(true, 0x9, "ping", true)...)
	stream = append(stream, wsFrame(false, 0x0, `ferId":"b1"}`+"\n"+`{"type":"go`, true)...)
	stream = append(stream, wsFrame(true, 0x0, `ing_idle"}`+"\n", true)...)
	stream = append(stream, wsFrame(true, 0x1, `{"type":"outbound",`, true)...) // a frame split across messages
	stream = append(stream, wsFrame(true, 0x1, `"requestId":"r1"}`+"\n", true)...)
	var l lineLog
	tp := newTap(false, l.emit, l.fail)
	for i := range stream {
		tp.Write(stream[i : i+1])
	}
	lines, errs := l.snapshot()
	want := `{"type":"inbound_ack","bufferId":"b1"}|{"type":"going_idle"}|{"type":"outbound","requestId":"r1"}`
	if len(errs) > 0 || strings.Join(lines, "|") != want {
		t.Fatalf("lines %q, errors %v", lines, errs)
	}
}
