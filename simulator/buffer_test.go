package simulator_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

func TestGoingIdleFlipsDurablyThenAcks(t *testing.T) {
	store := simulator.NewMemoryStore()
	s := start(t, simulator.Options{Store: store})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", InstanceID: "inst1", Platforms: []string{"discord"}})
	g := dialGW(t, s, "gw1")
	g.hello("discord")
	// Live until the ack (IDLE-005).
	inject(t, s, "gw1", event("discord", "c", "before"))
	g.send(contract.GoingIdle{})
	if got := eventText(t, g.expect(contract.TypeInbound)); got != "before" {
		t.Fatal(got)
	}
	g.expect(contract.TypeGoingIdleAck)
	if !s.Flipped("inst1") {
		t.Fatal("not flipped after the ack")
	}
	snap, _ := store.Load()
	if len(snap.Instances) != 1 || !snap.Instances[0].Flipped {
		t.Fatalf("flip not in the store: %+v", snap.Instances)
	}
	// After the ack everything is buffered, even with the socket open.
	d := inject(t, s, "gw1", event("discord", "c", "after"))
	if d.Mode != simulator.DeliveryBuffered || d.BufferID == "" {
		t.Fatalf("delivery %+v", d)
	}
	g.expectQuiet()
	if b := s.Buffer("inst1"); len(b) != 1 || b[0].BufferID != d.BufferID {
		t.Fatalf("buffer %+v", b)
	}
	// Every going_idle gets exactly one ack (IDLE-004).
	g.send(contract.GoingIdle{})
	g.expect(contract.TypeGoingIdleAck)
	g.expectQuiet()
}

// bufferEvents injects n events while gw1 has no socket.
func bufferEvents(t *testing.T, s *simulator.Server, from, n int) []string {
	t.Helper()
	var ids []string
	for i := from; i < from+n; i++ {
		d := inject(t, s, "gw1", event("discord", "c", fmt.Sprintf("e%d", i)))
		if d.Mode != simulator.DeliveryBuffered {
			t.Fatalf("event %d: %+v", i, d)
		}
		ids = append(ids, d.BufferID)
	}
	return ids
}

func TestDrainInOrderAckGated(t *testing.T) {
	s := start(t, simulator.Options{DrainWindow: 2})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	ids := bufferEvents(t, s, 0, 5)

	g := dialGW(t, s, "gw1")
	g.hello("discord")
	var got []string
	for i := 0; i < 5; i++ {
		if i >= 2 {
			// Only a window of two is ever unacked.
			g.expectQuiet()
			g.ack(ids[i-2])
		}
		f := g.expect(contract.TypeInbound)
		in := f.f.(contract.Inbound)
		if in.BufferID != ids[i] {
			t.Fatalf("entry %d has bufferId %s, want %s", i, in.BufferID, ids[i])
		}
		got = append(got, eventText(t, f))
	}
	if fmt.Sprint(got) != "[e0 e1 e2 e3 e4]" {
		t.Fatalf("order %v", got)
	}
	// Nothing live until the drain is fully acked (IDLE-012).
	if d := inject(t, s, "gw1", event("discord", "c", "during")); d.Mode != simulator.DeliveryBuffered {
		t.Fatalf("during drain: %+v", d)
	}
	g.ack(ids[3])
	g.ack(ids[4])
	f := g.expect(contract.TypeInbound)
	if eventText(t, f) != "during" {
		t.Fatalf("got %s", f.line)
	}
	seq := s.JournalSeq()
	g.ack(f.f.(contract.Inbound).BufferID)
	awaitJournal(t, s, seq, drainComplete)
	if d := inject(t, s, "gw1", event("discord", "c", "live")); d.Mode != simulator.DeliveryLive {
		t.Fatalf("after drain: %+v", d)
	}
	if in := g.expect(contract.TypeInbound).f.(contract.Inbound); in.BufferID != "" {
		t.Fatal("live frame carries a bufferId")
	}
	if a := s.Acks("gw1"); a.Count != 6 || a.Noop != 0 {
		t.Fatalf("acks %+v", a)
	}
}

func TestDrainRedeliversExactlyTheUnackedTail(t *testing.T) {
	s := start(t, simulator.Options{DrainWindow: 64})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	ids := bufferEvents(t, s, 0, 4)

	g := dialGW(t, s, "gw1")
	g.hello("discord")
	for i := 0; i < 4; i++ {
		g.expect(contract.TypeInbound)
	}
	seq := s.JournalSeq()
	g.ack(ids[0])
	g.ack(ids[2]) // out of order is fine
	awaitJournal(t, s, seq, kind(simulator.JournalAck))
	awaitJournal(t, s, seq+1, kind(simulator.JournalAck))
	g.close()

	g2 := dialGW(t, s, "gw1")
	g2.hello("discord")
	for _, want := range []string{ids[1], ids[3]} {
		if in := g2.expect(contract.TypeInbound).f.(contract.Inbound); in.BufferID != want {
			t.Fatalf("redelivered %s, want %s", in.BufferID, want)
		}
	}
	g2.expectQuiet()
	if b := s.Buffer("gw1"); len(b) != 2 || b[0].Deliveries != 2 {
		t.Fatalf("buffer %+v", b)
	}
}

func TestNoopAcks(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "other", Platforms: []string{"discord"}})
	ids := bufferEvents(t, s, 0, 1)
	foreign, _ := s.Inject("other", event("discord", "c", "x"))

	g := dialGW(t, s, "gw1")
	g.hello("discord")
	g.expect(contract.TypeInbound)
	seq := s.JournalSeq()
	g.ack(ids[0])
	g.ack(ids[0])           // duplicate
	g.ack("never-issued")   // unknown
	g.ack(foreign.BufferID) // another instance's
	g.send(contract.InboundAck{})
	g.expectQuiet() // no close, no error frame
	var noops int
	for _, e := range s.Journal(seq) {
		if e.Kind == simulator.JournalNoopAck {
			noops++
		}
	}
	if a := s.Acks("gw1"); a.Count != 1 || a.Noop != 4 || noops != 4 {
		t.Fatalf("acks %+v, %d journaled", a, noops)
	}
	if len(s.Buffer("other")) != 1 {
		t.Fatal("a foreign ack released another instance's entry")
	}
}

func TestFlipSurvivesReconnectsUntilDrained(t *testing.T) {
	m := newManual()
	s := start(t, simulator.Options{Clock: m, PingInterval: -1, HandshakeTimeout: -1})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	g := dialGW(t, s, "gw1")
	g.hello("discord")
	g.send(contract.GoingIdle{})
	g.expect(contract.TypeGoingIdleAck)
	g.close()
	for i := 0; i < 3; i++ {
		// Sockets that never handshake leave the flip alone.
		q := dialGW(t, s, "gw1")
		q.close()
	}
	if !s.Flipped("gw1") {
		t.Fatal("flip lost on reconnect")
	}
	id := bufferEvents(t, s, 0, 1)[0]
	g2 := dialGW(t, s, "gw1")
	g2.hello("discord")
	if in := g2.expect(contract.TypeInbound).f.(contract.Inbound); in.BufferID != id {
		t.Fatal(in.BufferID)
	}
	if !s.Flipped("gw1") {
		t.Fatal("flip cleared before the drain was acked")
	}
	seq := s.JournalSeq()
	g2.ack(id)
	awaitJournal(t, s, seq, kind(simulator.JournalFlip))
	if s.Flipped("gw1") {
		t.Fatal("flip not cleared after the drain")
	}
	// An empty buffer still clears the flip on the next handshake.
	g2.send(contract.GoingIdle{})
	g2.expect(contract.TypeGoingIdleAck)
	g2.close()
	seq = s.JournalSeq()
	g3 := dialGW(t, s, "gw1")
	g3.hello("discord")
	awaitJournal(t, s, seq, kind(simulator.JournalFlip))
	if s.Flipped("gw1") {
		t.Fatal("empty drain left the flip set")
	}
}

func TestInboundForUnhelloedPlatformWaitsInBuffer(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord", "telegram"}})
	g := dialGW(t, s, "gw1")
	g.hello("discord")
	// telegram is fronted by the gateway but not on this connection yet
	// (IN-007): the event waits.
	d := inject(t, s, "gw1", event("telegram", "c", "tg"))
	if d.Mode != simulator.DeliveryBuffered {
		t.Fatalf("%+v", d)
	}
	g.expectQuiet()
	g.hello("telegram")
	in := g.expect(contract.TypeInbound).f.(contract.Inbound)
	if in.BufferID != d.BufferID {
		t.Fatalf("%+v", in)
	}
}

// wakeTarget records wake requests.
type wakeTarget struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

func newWakeTarget(t *testing.T, status int) *wakeTarget {
	w := &wakeTarget{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.reqs = append(w.reqs, r)
		w.body = append(w.body, b)
		w.mu.Unlock()
		rw.WriteHeader(status)
	}))
	t.Cleanup(w.Close)
	return w
}

func (w *wakeTarget) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.reqs)
}

func TestWake(t *testing.T) {
	m := newManual()
	target := newWakeTarget(t, http.StatusOK)
	s := start(t, simulator.Options{Clock: m, PingInterval: -1, HandshakeTimeout: -1})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}, WakeURL: target.URL + "/wake?token=capability"})

	// Not flipped: buffering alone does not wake.
	seq := s.JournalSeq()
	bufferEvents(t, s, 0, 1)
	g := dialGW(t, s, "gw1")
	g.hello("discord")
	g.ack(g.expect(contract.TypeInbound).f.(contract.Inbound).BufferID)
	awaitJournal(t, s, seq, kind(simulator.JournalAck))
	if len(s.Wakes()) != 0 {
		t.Fatal("woke an instance that was not flipped")
	}
	g.send(contract.GoingIdle{})
	g.expect(contract.TypeGoingIdleAck)
	g.close()

	seq = s.JournalSeq()
	bufferEvents(t, s, 1, 3)
	sentWake := func(e simulator.JournalEntry) bool {
		return e.Kind == simulator.JournalWake && e.Status == http.StatusOK
	}
	seq = awaitJournal(t, s, seq, sentWake).Seq
	if n := target.count(); n != 1 {
		t.Fatalf("%d wakes within the cooldown", n)
	}
	r := target.reqs[0]
	if r.Method != http.MethodGet || len(target.body[0]) != 0 || r.Header.Get("Authorization") != "" || r.URL.Query().Get("token") != "capability" {
		t.Fatalf("wake request %s %v %q", r.Method, r.Header, target.body[0])
	}
	m.Advance(simulator.DefaultWakeCooldown)
	bufferEvents(t, s, 4, 1)
	awaitJournal(t, s, seq, sentWake)
	wakes := s.Wakes()
	sent := 0
	for _, w := range wakes {
		if !w.Suppressed {
			sent++
			if w.URL != target.URL+"/wake" {
				t.Fatalf("wake URL not redacted: %s", w.URL)
			}
		}
	}
	if sent != 2 {
		t.Fatalf("wakes %+v", wakes)
	}
}

func TestWakeFailureSwallowed(t *testing.T) {
	target := newWakeTarget(t, http.StatusInternalServerError)
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}, WakeURL: target.URL})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw2", Platforms: []string{"discord"}, WakeURL: "http://127.0.0.1:1/unreachable"})
	for _, id := range []string{"gw1", "gw2"} {
		g := dialGW(t, s, id)
		g.hello("discord")
		g.send(contract.GoingIdle{})
		g.expect(contract.TypeGoingIdleAck)
		g.close()
		seq := s.JournalSeq()
		if d := inject(t, s, id, event("discord", "c", "x")); d.Mode != simulator.DeliveryBuffered {
			t.Fatal(d)
		}
		e := awaitJournal(t, s, seq, func(e simulator.JournalEntry) bool {
			return e.Kind == simulator.JournalWake && (e.Status != 0 || len(e.Detail) > 0)
		})
		if len(s.Buffer(id)) != 1 {
			t.Fatalf("%s: event lost after a failed wake (%s)", id, e.Detail)
		}
	}
	for _, w := range s.Wakes() {
		if w.Status != 500 && w.Error == "" {
			t.Fatalf("wake %+v not recorded as failed", w)
		}
	}
}

func TestRestartWithFileStoreLosesNoBufferedEvent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relaysim.store")
	open := func() *simulator.Server {
		st, err := simulator.OpenFileStore(path, simulator.FileStoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Ten entries in flight at once: the window, not the default 1.
		s, err := simulator.New(simulator.Options{Store: st, DrainWindow: 64})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	gw := enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	g := dialGW(t, s, "gw1")
	g.hello("discord")
	if code := httpDo(t, "POST", s.URL()+contract.PathPolicy, bearerHeader(mustToken(t, s, "gw1")),
		jsonBody(contract.PolicyRequest{Platform: "discord", RequireAddress: true, FreeResponseScopes: []string{}}), nil); code != 200 {
		t.Fatal(code)
	}
	g.send(contract.GoingIdle{})
	g.expect(contract.TypeGoingIdleAck)
	g.close()
	var ids []string
	for i := 0; i < 50; i++ {
		ids = append(ids, inject(t, s, "gw1", event("discord", "c", fmt.Sprintf("e%d", i))).BufferID)
	}
	// Ack a few on a connection, so the restart must not resurrect them.
	g = dialGW(t, s, "gw1")
	g.hello("discord")
	for i := 0; i < 10; i++ {
		g.expect(contract.TypeInbound)
	}
	seq := s.JournalSeq()
	for i := 0; i < 3; i++ {
		g.ack(ids[i])
	}
	for i := 0; i < 3; i++ {
		seq = awaitJournal(t, s, seq, kind(simulator.JournalAck)).Seq
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	g.closed()

	s = open()
	t.Cleanup(func() { s.Close() })
	if !s.Flipped("gw1") {
		t.Fatal("flip lost across the restart")
	}
	if p := s.Policy("gw1", "discord"); !p.RequireAddress {
		t.Fatal("policy lost across the restart")
	}
	tok := contract.MintTokenTTL("gw1", gw.Secret, time.Now(), time.Minute)
	g = dialWith(t, s, dialOpts{token: tok})
	g.hello("discord")
	for i := 3; i < 50; i++ {
		in := g.expect(contract.TypeInbound).f.(contract.Inbound)
		if in.BufferID != ids[i] {
			t.Fatalf("after restart got %s, want %s", in.BufferID, ids[i])
		}
		g.ack(in.BufferID)
	}
	awaitJournal(t, s, 0, kind(simulator.JournalFlip))
	d := inject(t, s, "gw1", eventWith("discord", "c", "live", map[string]any{"chat_type": "dm"}))
	if d.Mode != simulator.DeliveryLive {
		t.Fatalf("after drain: %+v", d)
	}
	// New ids never repeat old ones, even across the restart.
	for _, id := range ids {
		if id == d.BufferID {
			t.Fatal("buffer id reused")
		}
	}
}
