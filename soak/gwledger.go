package soak

import (
	"fmt"
	"sync"

	"github.com/relaykit/relaykit/contract"
)

// gwLedger is the gateways' own record of their sockets, built from the
// bytes the proxy passes (wsTap): every frame each gateway received and
// every ack it sent, in one order consistent with causality (a frame is
// recorded before the proxy forwards it). It checks what the gateways can
// see for themselves, without the simulator's journal, so it holds when
// the simulator is killed and its journal dies with it:
//
//   - IDLE-009, oldest first: on one connection, the buffered entries of
//     one platform arrive in the order they were buffered (the soak's
//     injector is sequential, so that is the order of their event
//     numbers), none twice, each always under the same buffer id;
//   - IDLE-012, delivery order kept: a live event never arrives while an
//     event of the same platform buffered before it has not been acked
//     by the gateway. The connector delivers live only with no entry of
//     that platform left, and an entry leaves only by its ack, which the
//     proxy saw before the connector did;
//   - no delivery after a confirmed ack (IDLE-010): an ack is confirmed
//     when a live event of the entry's platform arrives on a connection
//     that carried the entry before it: that live frame was written after
//     the entry, and with no entry of its platform left, so after the ack
//     was processed (and, with a file store, written). From then on the
//     entry must never arrive again, on that connection or on one opened
//     later. An entry redelivered after an ack nothing confirmed is
//     normal (the ack may have died with its socket) and only counted;
//   - IDLE-013: the gateway acks only entries its handler admitted, and
//     only buffer ids it received;
//   - none lost: every event the connector reported buffered (or that
//     arrived with a buffer id) is acked by its gateway by the end.
type gwLedger struct {
	led       *ledger
	drainSeen chan struct{} // a buffered frame arrived (for kills during a drain)

	mu    sync.Mutex
	seq   uint64 // tap order
	gws   []gwRec
	conns int
}

type gwRec struct {
	events  []gwEv         // by event number; grown by planned
	byBuf   map[string]int // buffer id -> event number, from frames received
	pending [2]map[int]bool
	// unconfirmed holds, per platform, acked events not yet confirmed.
	unconfirmed [2][]int
}

type gwEv struct {
	platform    int8 // index in platforms; -1 until planned
	buffered    bool // known buffered
	bufferID    string
	recvs       uint16
	conns       []int  // connections it arrived on, as buffered (a few at most)
	ackedAt     uint64 // tap position of the gateway's first ack
	confirmedAt uint64 // tap position of the live frame that confirmed the ack
	confirmConn int
	reported    bool // an order violation was reported for it
}

// gwConn is one connection a gateway made through the proxy.
type gwConn struct {
	id, gw  int
	opened  uint64
	lastBuf [2]int // per platform: event number of the last buffered frame, -1 none
}

func newGWLedger(led *ledger, gateways int) *gwLedger {
	w := &gwLedger{led: led, drainSeen: make(chan struct{}, 1), gws: make([]gwRec, gateways)}
	for i := range w.gws {
		w.gws[i].byBuf = map[string]int{}
		w.gws[i].pending = [2]map[int]bool{{}, {}}
	}
	return w
}

func platformIndex(p string) int8 {
	for i, q := range platforms {
		if q == p {
			return int8(i)
		}
	}
	return -1
}

// planned notes event n of gateway gw and its platform before it is
// injected.
func (w *gwLedger) planned(gw, n int, platform string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	g := &w.gws[gw]
	for len(g.events) <= n {
		g.events = append(g.events, gwEv{platform: -1})
	}
	g.events[n].platform = platformIndex(platform)
}

// buffered notes that the connector reported event n buffered.
func (w *gwLedger) buffered(gw, n int, bufferID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.knownBufferedLocked(gw, n, bufferID)
}

func (w *gwLedger) knownBufferedLocked(gw, n int, bufferID string) {
	ev := &w.gws[gw].events[n]
	if ev.bufferID == "" {
		ev.bufferID = bufferID
	}
	if !ev.buffered {
		ev.buffered = true
		if ev.ackedAt == 0 && ev.platform >= 0 {
			w.gws[gw].pending[ev.platform][n] = true
		}
	}
}

func (w *gwLedger) violate(format string, args ...any) {
	w.led.mu.Lock()
	w.led.violateLocked(nil, format, args...)
	w.led.mu.Unlock()
}

// open registers a connection of gateway gw and returns it.
func (w *gwLedger) open(gw int) *gwConn {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	w.conns++
	return &gwConn{id: w.conns, gw: gw, opened: w.seq, lastBuf: [2]int{-1, -1}}
}

// tapFailed reports a tap that could not decode its connection: the
// checks above would be blind to it.
func (w *gwLedger) tapFailed(c *gwConn, dir string, err error) {
	w.violate("tap of gateway %d's connection #%d (%s) failed, so the gateway ledger misses its frames: %v", c.gw, c.id, dir, err)
}

// received records a frame the connector sent on connection c.
func (w *gwLedger) received(c *gwConn, line []byte) {
	f, ok := decodeTapFrame(line)
	if !ok {
		w.violate("gateway %d received a frame that is not a JSON object with a type on connection #%d: %.80q", c.gw, c.id, line)
		return
	}
	if f.Type != contract.TypeInbound && f.Type != contract.TypePassthroughForward {
		return
	}
	gw, n, ok := parseMarker(string(line))
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	at := w.seq
	if !ok || gw < 0 || gw >= len(w.gws) || n >= len(w.gws[gw].events) {
		w.violate("gateway %d received a %s frame of no event of this run on connection #%d: %.120q", c.gw, f.Type, c.id, line)
		return
	}
	if gw != c.gw {
		w.led.count("cross_tenant", 1)
		w.violate("cross-tenant (gateway ledger): %s reached gateway %d on connection #%d", marker(gw, n), c.gw, c.id)
		return
	}
	g := &w.gws[gw]
	ev := &g.events[n]
	ev.recvs++
	p := ev.platform
	if p < 0 {
		w.violate("gateway ledger: %s arrived with no platform planned", marker(gw, n))
		return
	}
	if f.BufferID == "" {
		w.liveLocked(c, g, gw, n, p, at)
		return
	}
	select {
	case w.drainSeen <- struct{}{}:
	default:
	}
	if ev.bufferID != "" && ev.bufferID != f.BufferID {
		w.led.count("out_of_order", 1)
		w.violate("IDLE-009 (gateway ledger): %s arrived under buffer id %s on connection #%d, first known as %s: the id is the same on every redelivery",
			marker(gw, n), f.BufferID, c.id, ev.bufferID)
	}
	// An event whose inject answer died with a killed simulator was
	// buffered after all; and the journal ledger learns the buffer id.
	w.led.sawBuffered(gw, n, f.BufferID)
	w.knownBufferedLocked(gw, n, f.BufferID)
	g.byBuf[f.BufferID] = n
	if last := c.lastBuf[p]; n <= last {
		w.led.count("out_of_order", 1)
		what := "after " + marker(gw, last)
		if n == last {
			what = "twice in a row"
		}
		w.violate("IDLE-009 (gateway ledger): on connection #%d of gateway %d, buffered %s (%s) arrived %s: entries replay oldest first, each once per connection",
			c.id, gw, marker(gw, n), f.BufferID, what)
	} else {
		c.lastBuf[p] = n
	}
	switch {
	case ev.confirmedAt != 0 && (c.id == ev.confirmConn || c.opened > ev.confirmedAt):
		w.led.count("duplicated_after_ack_gw", 1)
		w.violate("IDLE-010 (gateway ledger): %s (%s) arrived again on connection #%d after its confirmed ack (acked at tap #%d, confirmed by a live frame at tap #%d on connection #%d)",
			marker(gw, n), f.BufferID, c.id, ev.ackedAt, ev.confirmedAt, ev.confirmConn)
	case ev.ackedAt != 0:
		w.led.count("redelivered_after_unconfirmed_ack", 1)
	}
	if len(ev.conns) < 8 {
		ev.conns = append(ev.conns, c.id)
	}
}

// liveLocked checks a live delivery of event n on platform p.
func (w *gwLedger) liveLocked(c *gwConn, g *gwRec, gw, n int, p int8, at uint64) {
	for e := range g.pending[p] {
		if e < n && !g.events[e].reported {
			g.events[e].reported = true
			w.led.count("out_of_order", 1)
			w.violate("IDLE-012 (gateway ledger): live %s arrived on connection #%d of gateway %d while %s (%s), buffered before it on the same platform, was not acked by the gateway: delivery order is kept",
				marker(gw, n), c.id, gw, marker(gw, e), g.events[e].bufferID)
		}
	}
	keep := g.unconfirmed[p][:0]
	for _, x := range g.unconfirmed[p] {
		ev := &g.events[x]
		if ev.confirmedAt == 0 && arrivedOn(ev.conns, c.id) {
			ev.confirmedAt, ev.confirmConn = at, c.id
			w.led.count("acks_confirmed", 1)
			continue
		}
		if ev.confirmedAt == 0 {
			keep = append(keep, x)
		}
	}
	g.unconfirmed[p] = keep
}

func arrivedOn(conns []int, id int) bool {
	for _, c := range conns {
		if c == id {
			return true
		}
	}
	return false
}

// sent records a frame the gateway sent on connection c.
func (w *gwLedger) sent(c *gwConn, line []byte) {
	f, ok := decodeTapFrame(line)
	if !ok || f.Type != contract.TypeInboundAck {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	at := w.seq
	g := &w.gws[c.gw]
	n, ok := g.byBuf[f.BufferID]
	if !ok {
		w.violate("IDLE-013 (gateway ledger): gateway %d acked buffer id %q on connection #%d, which it never received", c.gw, f.BufferID, c.id)
		return
	}
	if !w.led.admitted(c.gw, n) {
		w.violate("IDLE-013 (gateway ledger): gateway %d acked %s (%s) on connection #%d before its handler admitted it",
			c.gw, marker(c.gw, n), f.BufferID, c.id)
	}
	ev := &g.events[n]
	if ev.ackedAt == 0 {
		ev.ackedAt = at
		if ev.platform >= 0 {
			delete(g.pending[ev.platform], n)
			g.unconfirmed[ev.platform] = append(g.unconfirmed[ev.platform], n)
		}
	}
}

// unacked counts buffered events their gateway has not acked yet.
func (w *gwLedger) unacked() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for i := range w.gws {
		for _, p := range w.gws[i].pending {
			n += len(p)
		}
	}
	return n
}

// settle reports every buffered event its gateway never acked.
func (w *gwLedger) settle() []evKey {
	w.mu.Lock()
	defer w.mu.Unlock()
	var lost []evKey
	for gw := range w.gws {
		for _, pend := range w.gws[gw].pending {
			for n := range pend {
				lost = append(lost, evKey{gw, n})
			}
		}
	}
	return lost
}

// describe renders what the gateway ledger knows of one event, for a
// violation.
func (w *gwLedger) describe(k evKey) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if k.gw < 0 || k.gw >= len(w.gws) || k.n >= len(w.gws[k.gw].events) {
		return ""
	}
	ev := w.gws[k.gw].events[k.n]
	return fmt.Sprintf("gateway ledger: buffered %v %s, received %d times on connections %v, acked at tap #%d, confirmed at tap #%d",
		ev.buffered, ev.bufferID, ev.recvs, ev.conns, ev.ackedAt, ev.confirmedAt)
}
