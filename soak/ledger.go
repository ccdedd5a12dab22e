package soak

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// Event identity. Every injected event carries a marker naming its gateway
// and its number, first in the event (message_id) or the forward (path),
// so the simulator's journal, which keeps the first bytes of every frame,
// names the event of every frame it wrote.
var markerRE = regexp.MustCompile(`soak-g(\d+)-e(\d+)`)

func marker(gw, n int) string { return fmt.Sprintf("soak-g%d-e%d", gw, n) }

func parseMarker(s string) (gw, n int, ok bool) {
	m := markerRE.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, false
	}
	gw, err1 := strconv.Atoi(m[1])
	n, err2 := strconv.Atoi(m[2])
	return gw, n, err1 == nil && err2 == nil
}

type evKey struct{ gw, n int }

// sessKey names a simulator socket: session ids restart with every
// simulator incarnation.
type sessKey struct {
	inc int
	id  uint64
}

// Event states.
const (
	evPending  uint8 = iota // Inject running
	evInjected              // the simulator took it (live or buffered)
	evFailed                // Inject refused it; not counted
	evUnknown               // the simulator died with the Inject in flight; counted only if it arrives
)

// evRec is what the ledger knows about one event. It is kept small: a long
// soak injects tens of thousands.
type evRec struct {
	state    uint8
	forward  bool
	live     bool    // Inject answered live
	liveSess sessKey // the socket a live event was written to
	bufferID string  // set when buffered
	handled  uint16  // handler calls
	admitted bool    // a handler call returned nil (or acked a forward)
	acks     uint8   // releasing acks journaled by the simulator
	sends    uint16  // frames written carrying the event
	written  bool    // a live frame carrying it was written
	ackAt    jpos    // where the releasing ack is in the journals
}

// jpos is a position in the simulators' journals: incarnation, sequence.
type jpos struct {
	inc int
	seq uint64
}

// ledger collects everything the harness observes and checks the
// invariants as observations arrive; the end-of-run checks are in settle.
type ledger struct {
	seed    int64
	logf    func(string, ...any)
	gwIndex func(gatewayID string) int // -1 for an id not in the run

	mu      sync.Mutex
	events  [][]evRec          // by gateway, by event number
	byBuf   map[string]evKey   // buffer id -> event, while unacked
	acked   [][]string         // per gateway, a ring of recently acked buffer ids
	traces  map[evKey][]string // journal lines of unsettled events
	closed  map[sessKey]bool   // sockets that closed
	dropped map[sessKey]int    // live frames a fault dropped, per socket
	results map[string]int     // outbound_result frames per requestId, per incarnation
	opened  map[sessKey]uint64 // journal sequence of each socket's open entry
	// early holds releasing acks journaled before the harness learned
	// which event their buffer id belongs to: the simulator notes a frame
	// once it is written, and the gateway can ack it before that note.
	early map[string][]ackNote
	// ended holds incarnations whose process is gone: every socket of
	// theirs is closed, whether or not the journal said so before it died.
	ended map[int]bool

	violations []string
	counts     map[string]int // fault and traffic counters, by name
	gaps       int
	searchers  []journalSource // for dumping an event's journal on a violation
	// side takes the entries of gateways the ledger does not track (the
	// stalled reader, the abuser) and reports true for them.
	side func(inc int, e simulator.JournalEntry) bool
}

type ackNote struct {
	inc int
	e   simulator.JournalEntry
}

type journalSource struct {
	inc  int
	host host
}

func newLedger(seed int64, gateways int, logf func(string, ...any)) *ledger {
	return &ledger{
		seed: seed, logf: logf,
		events:  make([][]evRec, gateways),
		acked:   make([][]string, gateways),
		byBuf:   map[string]evKey{},
		traces:  map[evKey][]string{},
		closed:  map[sessKey]bool{},
		dropped: map[sessKey]int{},
		results: map[string]int{},
		opened:  map[sessKey]uint64{},
		early:   map[string][]ackNote{},
		ended:   map[int]bool{},
		counts:  map[string]int{},
	}
}

func (l *ledger) count(name string, n int) {
	l.mu.Lock()
	l.counts[name] += n
	l.mu.Unlock()
}

// violate records a broken invariant with the seed and, for an event, its
// trace and journal entries. l.mu must be held.
func (l *ledger) violateLocked(k *evKey, format string, args ...any) {
	msg := fmt.Sprintf("seed %d: ", l.seed) + fmt.Sprintf(format, args...)
	if k != nil {
		msg += l.dumpLocked(*k)
	}
	l.violations = append(l.violations, msg)
	if len(l.violations) <= 20 {
		l.logf("VIOLATION %s", msg)
	}
}

// dumpLocked renders an event's record, its trace and what the simulator's
// journals still hold about it.
func (l *ledger) dumpLocked(k evKey) string {
	var b strings.Builder
	if r := l.recLocked(k); r != nil {
		fmt.Fprintf(&b, "\n    event %s: %+v", marker(k.gw, k.n), *r)
	}
	for _, t := range l.traces[k] {
		b.WriteString("\n    trace: " + t)
	}
	mk := marker(k.gw, k.n)
	buf := ""
	if r := l.recLocked(k); r != nil {
		buf = r.bufferID
	}
	shown := 0
	if len(l.violations) >= 20 {
		// Only the first violations are printed; reading a child's whole
		// journal for each of a flood would stall the run.
		return b.String()
	}
	for _, src := range l.searchers {
		entries, _ := src.host.journal(context.Background(), 0, 0)
		for _, e := range entries {
			if strings.Contains(e.Frame, mk) || (buf != "" && e.BufferID == buf) {
				if shown < 40 {
					b.WriteString("\n    journal: " + entryLine(src.inc, e))
				}
				shown++
			}
		}
	}
	if shown > 40 {
		fmt.Fprintf(&b, "\n    journal: … %d more entries", shown-40)
	}
	return b.String()
}

func entryLine(inc int, e simulator.JournalEntry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "sim%d#%d %s %s", inc, e.Seq, e.Time.Format("15:04:05.000"), e.Kind)
	for _, kv := range [][2]string{
		{"gw", e.GatewayID}, {"sess", u64(e.SessionID)}, {"type", e.FrameType}, {"buf", e.BufferID},
		{"req", e.RequestID}, {"code", itoa(e.Code)}, {"reason", e.Reason}, {"detail", e.Detail},
	} {
		if kv[1] != "" && kv[1] != "0" {
			fmt.Fprintf(&b, " %s=%s", kv[0], kv[1])
		}
	}
	return b.String()
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }
func itoa(v int) string   { return strconv.Itoa(v) }

func (l *ledger) recLocked(k evKey) *evRec {
	if k.gw < 0 || k.gw >= len(l.events) || k.n < 0 || k.n >= len(l.events[k.gw]) {
		return nil
	}
	return &l.events[k.gw][k.n]
}

func (l *ledger) traceLocked(k evKey, line string) {
	t := l.traces[k]
	if len(t) >= 32 {
		return
	}
	l.traces[k] = append(t, line)
}

// maybeSettledLocked forgets the trace of an event that has met its obligations.
func (l *ledger) maybeSettledLocked(k evKey, r *evRec) {
	if r.state != evInjected {
		return
	}
	if r.live && r.handled > 0 || !r.live && r.admitted && r.acks == 1 {
		delete(l.traces, k)
	}
}

// newEvent allocates the next event of gateway gw.
func (l *ledger) newEvent(gw int, forward bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events[gw] = append(l.events[gw], evRec{forward: forward})
	return len(l.events[gw]) - 1
}

// injected records what the simulator did with an event.
func (l *ledger) injected(gw, n, inc int, d simulator.Delivery, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := evKey{gw, n}
	r := l.recLocked(k)
	if err != nil {
		r.state = evFailed
		delete(l.traces, k)
		return
	}
	r.state = evInjected
	switch d.Mode {
	case simulator.DeliveryLive:
		r.live = true
		r.liveSess = sessKey{inc, d.SessionID}
		l.counts["events_live"]++
	case simulator.DeliveryBuffered:
		r.bufferID = d.BufferID
		l.counts["events_buffered"]++
		l.registerLocked(d.BufferID, k)
	default:
		l.violateLocked(&k, "inject answered %q; the soak declares no policy, so nothing may be filtered", d.Mode)
	}
	if r.forward {
		l.counts["events_forward"]++
	}
	l.traceLocked(k, fmt.Sprintf("injected: %s %s sim%d sess=%d", d.Mode, d.BufferID, inc, d.SessionID))
	l.maybeSettledLocked(k, r)
}

// injectUnknown records an event whose Inject died with the simulator.
func (l *ledger) injectUnknown(gw, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recLocked(evKey{gw, n}).state = evUnknown
	l.counts["inject_unknown"]++
}

// sawBuffered records that the gateway received event n of gw with a
// buffer id: an event whose Inject answer was lost is buffered after all,
// and a buffer id learned this way resolves acks the journal noted first.
func (l *ledger) sawBuffered(gw, n int, bufferID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := evKey{gw, n}
	r := l.recLocked(k)
	if r == nil {
		return
	}
	if r.state == evUnknown {
		r.state = evInjected
		l.counts["events_buffered"]++
		l.counts["inject_unknown_buffered"]++
		if r.forward {
			l.counts["events_forward"]++
		}
	}
	if r.bufferID == "" {
		r.bufferID = bufferID
	}
	if r.state == evInjected || r.state == evPending {
		l.registerLocked(bufferID, k)
	}
}

// admitted reports whether a handler of gw admitted event n.
func (l *ledger) admitted(gw, n int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.recLocked(evKey{gw, n})
	return r != nil && r.admitted
}

// killed notes that incarnation inc's process is gone.
func (l *ledger) killed(inc int) {
	l.mu.Lock()
	l.ended[inc] = true
	l.mu.Unlock()
}

// closedLocked reports whether a socket is known closed.
func (l *ledger) closedLocked(sk sessKey) bool { return l.closed[sk] || l.ended[sk.inc] }

// handled records a handler call of gateway gw for the event named by
// mk; ok says the handler admitted it.
func (l *ledger) handled(gw int, mk, bufferID string, ok bool, what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	egw, n, good := parseMarker(mk)
	if !good {
		l.violateLocked(nil, "gateway %d's handler got an event without a soak marker: %q", gw, mk)
		return
	}
	k := evKey{egw, n}
	if egw != gw {
		l.counts["cross_tenant"]++
		l.violateLocked(&k, "cross-tenant: event %s of gateway %d reached the handler of gateway %d", mk, egw, gw)
		return
	}
	r := l.recLocked(k)
	if r == nil {
		l.violateLocked(nil, "gateway %d handled %s, which was never injected", gw, mk)
		return
	}
	if r.admitted {
		l.counts["rehandled_after_admission"]++
		l.violateLocked(&k, "event %s handled again after it was admitted (IN-010: the gateway drops replays of admitted events)", mk)
	}
	r.handled++
	if ok {
		r.admitted = true
	}
	l.traceLocked(k, fmt.Sprintf("handler of gw %d: buffer=%q %s", gw, bufferID, what))
	l.maybeSettledLocked(k, r)
}

// recentAcked returns up to n buffer ids of gateway gw that were acked.
func (l *ledger) recentAcked(gw, n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.acked[gw]
	if len(a) > n {
		a = a[len(a)-n:]
	}
	return append([]string(nil), a...)
}

// pendingBuffer returns a buffer id of gateway gw still awaiting its ack.
func (l *ledger) pendingBuffer(gw int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, k := range l.byBuf {
		if k.gw == gw {
			return id
		}
	}
	return ""
}

// journal processes one simulator journal entry of incarnation inc, in
// order.
func (l *ledger) journal(inc int, e simulator.JournalEntry) {
	if l.side != nil && l.side(inc, e) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch e.Kind {
	case simulator.JournalFrameOut:
		switch e.FrameType {
		case contract.TypeInbound, contract.TypePassthroughForward:
			l.frameOutLocked(inc, e)
		case contract.TypeOutboundResult:
			key := strconv.Itoa(inc) + "/" + e.RequestID
			l.results[key]++
			if l.results[key] > 1 {
				l.violateLocked(nil, "OUT-006: request %s answered %d times (sim%d)", e.RequestID, l.results[key], inc)
			}
		}
	case simulator.JournalAck:
		l.counts["acks"]++
		k, ok := l.byBuf[e.BufferID]
		if !ok {
			// Its frame's note may come later; settle judges what is left.
			l.early[e.BufferID] = append(l.early[e.BufferID], ackNote{inc, e})
			return
		}
		l.applyAckLocked(k, inc, e)
	case simulator.JournalNoopAck:
		l.counts["noop_acks"]++
		if e.Detail == "duplicate ack" {
			l.counts["noop_acks_duplicate"]++
		}
	case simulator.JournalClose:
		if e.SessionID != 0 {
			l.closed[sessKey{inc, e.SessionID}] = true
		}
		l.counts[fmt.Sprintf("closes_%d", e.Code)]++
	case simulator.JournalOpen:
		l.counts["sockets_opened"]++
		l.opened[sessKey{inc, e.SessionID}] = e.Seq
	case simulator.JournalFault:
		switch {
		case strings.HasPrefix(e.Detail, "outbound frame dropped"):
			l.counts["fault_hits_drop_out"]++
			if (e.FrameType == contract.TypeInbound || e.FrameType == contract.TypePassthroughForward) && e.BufferID == "" {
				l.dropped[sessKey{inc, e.SessionID}]++
			}
		case strings.HasPrefix(e.Detail, "inbound frame dropped"):
			l.counts["fault_hits_drop_in"]++
		case strings.HasPrefix(e.Detail, "outbound frame delayed"):
			l.counts["fault_hits_delay_out"]++
		case strings.HasPrefix(e.Detail, "inbound frame delayed"):
			l.counts["fault_hits_delay_in"]++
		}
	case simulator.JournalDrain:
		if strings.HasPrefix(e.Detail, "drain complete") {
			l.counts["drains_completed"]++
		}
	}
}

func (l *ledger) frameOutLocked(inc int, e simulator.JournalEntry) {
	gw, n, ok := parseMarker(e.Frame)
	if !ok {
		l.violateLocked(nil, "the simulator wrote a %s frame without a soak marker (sim%d #%d): %.120q", e.FrameType, inc, e.Seq, e.Frame)
		return
	}
	k := evKey{gw, n}
	r := l.recLocked(k)
	if r == nil {
		l.violateLocked(nil, "the simulator wrote %s, which was never injected", marker(gw, n))
		return
	}
	if owner := l.gwIndex(e.GatewayID); owner != gw {
		l.counts["cross_tenant"]++
		l.violateLocked(&k, "cross-tenant: %s written to a socket of gateway %s", marker(gw, n), e.GatewayID)
	}
	r.sends++
	if e.BufferID == "" {
		r.written = true
		if (sessKey{inc, e.SessionID}) != r.liveSess && r.liveSess.id != 0 {
			l.violateLocked(&k, "live event written to socket sim%d/%d, not the socket Inject named (sim%d/%d)", inc, e.SessionID, r.liveSess.inc, r.liveSess.id)
		}
		return
	}
	if r.bufferID == "" {
		r.bufferID = e.BufferID // Inject has not returned yet
	} else if r.bufferID != e.BufferID {
		l.violateLocked(&k, "event replayed under buffer id %s, first buffered as %s (IDLE-009: the id is the same on every redelivery)", e.BufferID, r.bufferID)
	}
	if r.acks > 0 {
		// The simulator notes a frame after writing it, so the note of the
		// write the gateway acked can follow the ack. A write after the ack
		// is provable only on a socket that opened after the ack: the
		// entry had left the buffer before that socket existed.
		sk := sessKey{inc, e.SessionID}
		if r.ackAt.inc < inc || l.opened[sk] > r.ackAt.seq {
			l.counts["duplicated_after_ack"]++
			l.violateLocked(&k, "IDLE-010: %s (%s) redelivered on socket sim%d/%d, opened after its ack (sim%d #%d)",
				marker(gw, n), e.BufferID, inc, e.SessionID, r.ackAt.inc, r.ackAt.seq)
		} else {
			l.counts["write_noted_after_ack"]++
		}
		return
	}
	if r.sends > 1 {
		l.counts["redeliveries"]++
	}
	l.traceLocked(k, entryLine(inc, e))
	l.registerLocked(e.BufferID, k)
}

// registerLocked links a buffer id to its event and applies acks that
// arrived before the link.
func (l *ledger) registerLocked(id string, k evKey) {
	r := l.recLocked(k)
	if r.acks > 0 {
		return
	}
	if _, ok := l.byBuf[id]; ok {
		return
	}
	l.byBuf[id] = k
	notes := l.early[id]
	delete(l.early, id)
	for _, a := range notes {
		l.applyAckLocked(k, a.inc, a.e)
	}
}

// applyAckLocked counts a releasing ack of event k.
func (l *ledger) applyAckLocked(k evKey, inc int, e simulator.JournalEntry) {
	r := l.recLocked(k)
	if l.gwIndex(e.GatewayID) != k.gw {
		l.counts["cross_tenant"]++
		l.violateLocked(&k, "cross-tenant ack: gateway %s released %s, an entry of gateway %d", e.GatewayID, e.BufferID, k.gw)
	}
	r.acks++
	if r.acks > 1 {
		l.violateLocked(&k, "%s (%s) released by a second ack (sim%d #%d): acked more than once", marker(k.gw, k.n), e.BufferID, inc, e.Seq)
	} else {
		r.ackAt = jpos{inc, e.Seq}
	}
	delete(l.byBuf, e.BufferID)
	a := append(l.acked[k.gw], e.BufferID)
	if len(a) > 64 {
		a = append(a[:0], a[len(a)-32:]...)
	}
	l.acked[k.gw] = a
	l.traceLocked(k, entryLine(inc, e))
	l.maybeSettledLocked(k, r)
}

// settle runs the end-of-run checks: every event the simulator took has
// met its obligations. It returns the events lost and the number of live
// frames the contract allowed to go missing.
//
// With journalIncomplete (a simulator was killed, so its last journal
// entries died with it) the buffered events are judged by the gateway
// ledger instead, which sees every ack the gateways sent.
func (l *ledger) settle(journalIncomplete bool) (lost map[evKey]bool, liveCut, liveDropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lost = map[evKey]bool{}
	droppedLeft := map[sessKey]int{}
	for k, v := range l.dropped {
		droppedLeft[k] = v
	}
	for gw := range l.events {
		for n := range l.events[gw] {
			r := &l.events[gw][n]
			k := evKey{gw, n}
			if r.state != evInjected {
				continue
			}
			if r.live {
				if r.handled > 0 {
					continue
				}
				switch {
				case !r.written && droppedLeft[r.liveSess] > 0:
					// An injected fault dropped the live frame; live frames
					// carry no ack, so nothing can bring it back.
					droppedLeft[r.liveSess]--
					liveDropped++
				case l.closedLocked(r.liveSess):
					// The socket closed with the frame queued or in flight.
					// Live frames carry no ack (IDLE-016), so the contract
					// gives them no delivery guarantee across a close.
					liveCut++
				default:
					lost[k] = true
					l.violateLocked(&k, "lost: live event %s written=%v on socket sim%d/%d, which stayed open, never reached the handler",
						marker(gw, n), r.written, r.liveSess.inc, r.liveSess.id)
				}
				continue
			}
			if journalIncomplete {
				continue
			}
			switch {
			case r.acks == 0:
				lost[k] = true
				l.violateLocked(&k, "lost: buffered event %s (%s) was never acked (handled %d times, admitted %v)", marker(gw, n), r.bufferID, r.handled, r.admitted)
			case !r.admitted:
				l.violateLocked(&k, "buffered event %s (%s) acked without being admitted by its handler", marker(gw, n), r.bufferID)
			case r.acks > 1:
				// Already reported when it happened.
			}
		}
	}
	for id, notes := range l.early {
		if journalIncomplete {
			break // the frame notes that named these may have died with a process
		}
		l.violateLocked(nil, "%d ack(s) released buffer entry %s, which no event of this run was ever buffered or sent as (first: sim%d #%d by %s)",
			len(notes), id, notes[0].inc, notes[0].e.Seq, notes[0].e.GatewayID)
	}
	return lost, liveCut, liveDropped
}

// countsSorted returns the counters as sorted name=value pairs.
func (l *ledger) snapshotCounts() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.counts))
	for k, v := range l.counts {
		out[k] = v
	}
	return out
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// liveOutstanding counts live events not handled yet whose frame may
// still arrive: their socket is open and no fault dropped that many of its
// live frames. A delayed frame keeps an event outstanding until it is
// written and handled.
func (l *ledger) liveOutstanding() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	unhandled := map[sessKey]int{}
	for gw := range l.events {
		for n := range l.events[gw] {
			r := &l.events[gw][n]
			if r.state == evInjected && r.live && r.handled == 0 && !l.closedLocked(r.liveSess) {
				unhandled[r.liveSess]++
			}
		}
	}
	out := 0
	for sk, n := range unhandled {
		out += max(n-l.dropped[sk], 0)
	}
	return out
}

// unackedBuffered counts buffered events still awaiting their ack.
func (l *ledger) unackedBuffered() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byBuf)
}
