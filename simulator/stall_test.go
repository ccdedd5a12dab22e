package simulator_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

// bigText is the text of an event whose frame is about 900 KB (the event
// repeats its text in its message id).
func bigText(i int) string {
	return fmt.Sprintf("big-%03d-", i) + strings.Repeat("x", 450_000)
}

// A gateway that stops reading must not wedge relaysim: injects, control
// reads and other gateways' frames never wait on its socket, a frame that
// cannot be queued goes to the buffer, keepalive closes the socket 1011
// once a ping goes unanswered for PingTimeout (even though the ping itself
// cannot be written behind the stuck write), and every event answered
// "live" that the socket never wrote is replayed on the next connection.
func TestStalledGatewayCannotWedgeRelaysim(t *testing.T) {
	t.Parallel() // it waits out coder/websocket's 5 s on the wall clock
	m := newManual()
	s := start(t, simulator.Options{Clock: m, HandshakeTimeout: -1})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw-stall", Platforms: []string{"discord"}})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw-ok", Platforms: []string{"discord"}})

	stalled := dialGW(t, s, "gw-stall")
	stalled.hello("discord")
	ok := dialGW(t, s, "gw-ok")
	ok.hello("discord")
	// The stalled gateway stops reading once the frame its reader waits
	// for arrives: a result, before any big event could make its kernel
	// grow the receive buffer.
	stalled.stall()
	stalled.sendOutbound("discord", contract.Action{Op: contract.OpTyping, ChatID: "last-read"})
	stalled.expect(contract.TypeOutboundResult)

	// Events big enough to fill the TCP buffers and the write queue, then
	// many small ones, more than the old 256-frame queue held.
	src := map[string]any{"chat_id": "c-stall"}
	type sent struct {
		text string
		d    simulator.Delivery
	}
	var all []sent
	inject := func(text string) {
		type res struct {
			d   simulator.Delivery
			err error
		}
		r := testkit.Within(t, "Inject to a stalled gateway", func() res {
			d, err := s.Inject("gw-stall", eventWith("discord", "c-stall", text, src))
			return res{d, err}
		})
		if r.err != nil {
			t.Fatalf("Inject: %v", r.err)
		}
		all = append(all, sent{text, r.d})
	}
	for i := 0; i < 14; i++ {
		inject(bigText(i))
	}
	for i := 0; i < 300; i++ {
		inject(fmt.Sprintf("small-%03d", i))
	}
	live, buffered := 0, 0
	for _, x := range all {
		switch x.d.Mode {
		case simulator.DeliveryLive:
			live++
		case simulator.DeliveryBuffered:
			buffered++
		default:
			t.Fatalf("delivery %+v", x.d)
		}
	}
	if live == 0 || buffered == 0 {
		t.Fatalf("%d live, %d buffered: want both", live, buffered)
	}
	if !strings.Contains(firstReason(all, func(x sent) string { return x.d.Reason }), "queue full") {
		t.Errorf("no buffered delivery says the socket's queue was full")
	}
	for _, info := range s.Sessions() {
		if info.GatewayID == "gw-stall" && info.QueuedBytes > simulator.DefaultQueueMaxBytes+2<<20 {
			t.Errorf("stalled socket queues %d bytes, over the %d cap (plus one frame)", info.QueuedBytes, simulator.DefaultQueueMaxBytes)
		}
	}
	// The metrics show the full queue, and the events it sent to the
	// buffer.
	mfs := scrapeOpen(t, s)
	if v := metricValue(t, mfs, "relaysim_queue_max_bytes"); v <= 0 || v > simulator.DefaultQueueMaxBytes+2<<20 {
		t.Errorf("relaysim_queue_max_bytes = %v, want the stalled socket's full queue", v)
	}
	if v := metricValue(t, mfs, "relaysim_queue_full_total", "action", "buffered"); v < 1 {
		t.Errorf("relaysim_queue_full_total{action=buffered} = %v, want the events the full queue sent to the buffer", v)
	}
	// Control reads answer for everyone.
	for _, path := range []string{"sessions", "buffers/gw-stall", "policies/gw-stall", "journal?since=0&kind=open"} {
		testkit.Within(t, "GET "+path, func() int {
			return httpDo(t, http.MethodGet, s.URL()+simulator.ControlPrefix+path, nil, nil, nil)
		})
	}

	// A healthy gateway of the same tenant interrupts the stalled one's
	// conversation, and its next call is still answered at once.
	key := contract.SessionKey(contract.SessionSource{Platform: "discord", ChatID: "c-stall", ChatType: "dm", UserID: "u1"}, contract.DefaultSessionKeyOptions())
	ok.send(contract.Interrupt{SessionKey: key})
	testkit.Within(t, "the healthy gateway's next result", func() []frame { return ok.barrier() })
	if rs := s.Interrupts("gw-ok"); len(rs) != 1 || rs[0].RoutedTo != "gw-stall" || rs[0].Delivery != simulator.DeliveryDropped {
		t.Fatalf("interrupts = %+v, want one routed to gw-stall and dropped", rs)
	}

	// Keepalive. The ping cannot be written behind the stuck write;
	// coder/websocket gives up on it after its own 5 s (wall clock), which
	// must not switch keepalive off for the socket.
	seq := s.JournalSeq()
	m.Advance(contract.DefaultPingInterval)
	awaitJournal(t, s, seq, func(e simulator.JournalEntry) bool {
		return e.Kind == simulator.JournalKeepalive && e.GatewayID == "gw-ok"
	})
	time.Sleep(5500 * time.Millisecond) // not an assertion: lets coder/websocket's 5 s lock wait run out
	m.Advance(contract.DefaultPingTimeout - time.Second)
	if n := countSessions(s, "gw-stall"); n != 1 {
		t.Fatalf("stalled socket closed before its pong deadline (%d open)", n)
	}
	seq = s.JournalSeq()
	m.Advance(time.Second)
	e := awaitJournal(t, s, seq, func(e simulator.JournalEntry) bool {
		return e.Kind == simulator.JournalClose && e.GatewayID == "gw-stall"
	})
	if e.Code != contract.CloseInternalError || e.Reason != contract.ReasonKeepaliveTimeout {
		t.Fatalf("stalled socket closed %d %q, want 1011 %q", e.Code, e.Reason, contract.ReasonKeepaliveTimeout)
	}

	mfs = scrapeOpen(t, s)
	expectMetric(t, mfs, 1, "relaysim_stalled_closes_total", "reason", "keepalive_timeout")
	expectMetric(t, mfs, 1, "relaysim_closes_total", "by", "relaysim", "code", "1011")
	expectMetric(t, mfs, float64(s.Usage().Rebuffered), "relaysim_rebuffered_total")

	// Nothing answered 2xx is lost: what the stalled gateway can still
	// read from its socket, plus what the next connection replays, holds
	// every event.
	stalled.resume()
	<-stalled.done
	got := map[string]int{}
	for {
		select {
		case f := <-stalled.lines:
			if f.typ() == contract.TypeInbound {
				got[eventText(t, f)]++
			}
			continue
		default:
		}
		break
	}
	fromSocket := len(got)
	// The close entry is journaled after the re-buffering: the buffer is
	// complete now.
	pending := len(s.Buffer("gw-stall"))
	if pending == 0 {
		t.Fatal("nothing buffered")
	}
	next := dialGW(t, s, "gw-stall")
	seq = s.JournalSeq()
	next.hello("discord")
	for i := 0; i < pending; i++ {
		f := next.expect(contract.TypeInbound)
		in := f.f.(contract.Inbound)
		if in.BufferID == "" {
			t.Fatalf("replayed frame without bufferId: %.80s", f.line)
		}
		got[eventText(t, f)]++
		next.ack(in.BufferID)
	}
	awaitJournal(t, s, seq, drainComplete)
	var lost []string
	for _, x := range all {
		if got[x.text] == 0 {
			lost = append(lost, fmt.Sprintf("%.12s (%s)", x.text, x.d.Mode))
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d events lost (%d read from the stalled socket, %d replayed): %v", len(lost), fromSocket, len(got)-fromSocket, lost)
	}
}

func firstReason[T any](xs []T, reason func(T) string) string {
	for _, x := range xs {
		if r := reason(x); r != "" {
			return r
		}
	}
	return ""
}

func countSessions(s *simulator.Server, gatewayID string) int {
	n := 0
	for _, info := range s.Sessions() {
		if info.GatewayID == gatewayID {
			n++
		}
	}
	return n
}

// The control API answers an inject refused by a full buffer with 507
// naming the cap, and keeps what the buffer holds.
func TestFullBufferAnswers507(t *testing.T) {
	s := start(t, simulator.Options{BufferMaxEntries: 3, PingInterval: -1})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	for i := 0; i < 3; i++ {
		if d := inject(t, s, "gw1", event("discord", "c1", fmt.Sprint(i))); d.Mode != simulator.DeliveryBuffered {
			t.Fatalf("delivery %+v", d)
		}
	}
	_, err := s.Inject("gw1", event("discord", "c1", "3"))
	var re *simulator.RequestError
	if !errors.As(err, &re) || re.Status != http.StatusInsufficientStorage || !strings.Contains(re.Message, "BufferMaxEntries") {
		t.Fatalf("Inject into a full buffer = %v, want a 507 naming BufferMaxEntries", err)
	}
	var body struct {
		Error string `json:"error"`
	}
	req := jsonBody(map[string]any{"gatewayId": "gw1", "event": json.RawMessage(event("discord", "c1", "4"))})
	if st := httpDo(t, http.MethodPost, s.URL()+simulator.ControlPrefix+"inbound", http.Header{"Content-Type": {"application/json"}}, req, &body); st != http.StatusInsufficientStorage || !strings.Contains(body.Error, "--buffer-max-entries") {
		t.Fatalf("POST /inbound = %d %q, want 507 naming the cap", st, body.Error)
	}
	if n := len(s.Buffer("gw1")); n != 3 {
		t.Fatalf("buffer holds %d entries, want the 3 accepted", n)
	}
}
