package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/wspeer"
	"github.com/relaykit/relaykit/simulator"
)

// Fault kinds the driver injects, with their relative weights.
var faultKinds = []struct {
	name   string
	weight int
}{
	{"close_1011", 6},     // the connector closes the socket abnormally (internal error)
	{"close_1013", 2},     // the connector sheds the socket (try again later)
	{"tcp_cut_1006", 5},   // the TCP connection dies without a close frame
	{"expired_4401", 4},   // the connector refuses the token as expired
	{"going_idle", 7},     // the gateway flips to buffered-only and stays connected
	{"dormant", 7},        // the gateway goes idle, closes, and re-dials
	{"drop_in", 5},        // frames gateway -> connector are dropped
	{"drop_out", 5},       // frames connector -> gateway are dropped
	{"delay_in", 4},       // frames gateway -> connector are delayed
	{"delay_out", 4},      // frames connector -> gateway are delayed
	{"withhold_acks", 5},  // handlers take their time before admitting
	{"duplicate_acks", 4}, // duplicate, unknown and foreign acks on a second socket
	{"handler_crash", 6},  // handlers fail or panic before admitting
	{"keepalive_loss", 1}, // the connector stops answering pings
}

var (
	inTypes  = []string{"", contract.TypeOutbound, contract.TypeInboundAck, contract.TypeGoingIdle, contract.TypeHello}
	outTypes = []string{"", contract.TypeInbound, contract.TypePassthroughForward, contract.TypeOutboundResult,
		contract.TypeGoingIdleAck, contract.TypeDescriptor}
	// outDelayTypes leaves deliveries out: relaysim's delay fault lets a
	// delayed frame overtake later ones, a reordering no socket can
	// produce and the order checks would rightly report.
	outDelayTypes = []string{contract.TypeOutboundResult, contract.TypeGoingIdleAck, contract.TypeDescriptor}
)

// killKinds are the points a relaysim child is killed at, with weights.
var killKinds = []struct {
	name   string
	weight int
}{
	{"inject", 2},  // while an inject request is in flight
	{"drain", 2},   // right after a buffered frame passed: mid-drain
	{"startup", 1}, // the next process, while it starts and loads the store
}

func (h *harness) noteFault(kind string) {
	h.faultMu.Lock()
	h.faultRuns[kind]++
	h.faultMu.Unlock()
}

// driver injects faults at random, and restarts the simulator now and
// then, from one seeded source, so a run's schedule is reproducible.
func (h *harness) driver() {
	defer h.loops.Done()
	rng := rand.New(rand.NewPCG(uint64(h.cfg.Seed), 2))
	nextRestart := time.Now().Add(jitter(rng, h.cfg.RestartEvery))
	// Kills draw from their own source, so adding them leaves the fault
	// schedule of a seed as it was.
	krng := rand.New(rand.NewPCG(uint64(h.cfg.Seed), 3))
	var nextKill time.Time
	if h.cfg.KillEvery > 0 {
		nextKill = time.Now().Add(jitter(krng, h.cfg.KillEvery))
	}
	for {
		select {
		case <-h.stop:
			return
		case <-time.After(expWait(rng, h.cfg.FaultEvery)):
		}
		if h.proc != nil {
			if died, err := h.proc.died(); died {
				h.led.mu.Lock()
				h.led.violateLocked(nil, "relaysim exited by itself (%v):\n%s", err, h.proc.stderrTail(20))
				h.led.mu.Unlock()
				h.abortOnce.Do(func() { close(h.abort) })
				return
			}
		}
		// A guarded stall episode holds restarts and kills off until its
		// socket is closed; they stay due and strike after.
		held := h.hold.Load() > 0
		if !held && !nextKill.IsZero() && time.Now().After(nextKill) {
			kind := pick(krng, killKinds)
			if err := h.kill(kind, krng); err != nil {
				h.led.mu.Lock()
				h.led.violateLocked(nil, "after a SIGKILL (%s): %v", kind, err)
				h.led.mu.Unlock()
				h.abortOnce.Do(func() { close(h.abort) })
				return
			}
			h.cfg.Logf("soak: relaysim killed (%s), restarted on the same store", kind)
			nextKill = time.Now().Add(jitter(krng, h.cfg.KillEvery))
			continue
		}
		if !held && time.Now().After(nextRestart) {
			if err := h.restart(); err != nil {
				h.led.mu.Lock()
				h.led.violateLocked(nil, "%v", err)
				h.led.mu.Unlock()
				h.abortOnce.Do(func() { close(h.abort) })
				return
			}
			h.noteFault("restart")
			h.cfg.Logf("soak: simulator restarted (%d)", h.restarts)
			nextRestart = time.Now().Add(jitter(rng, h.cfg.RestartEvery))
			continue
		}
		kind := pick(rng, faultKinds)
		g := h.gws[rng.IntN(len(h.gws))]
		h.inject1(rng, kind, g)
	}
}

// pick draws a name by weight.
func pick(rng *rand.Rand, kinds []struct {
	name   string
	weight int
}) string {
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	n := rng.IntN(total)
	for _, k := range kinds {
		if n < k.weight {
			return k.name
		}
		n -= k.weight
	}
	return kinds[len(kinds)-1].name
}

// jitter draws uniformly from [m/2, 3m/2].
func jitter(rng *rand.Rand, m time.Duration) time.Duration {
	return m/2 + time.Duration(rng.Int64N(int64(m)+1))
}

// inject1 injects one fault of kind on gateway g. Faults that take time
// run in the background; every random choice is drawn here, in order.
func (h *harness) inject1(rng *rand.Rand, kind string, g *gateway) {
	srv, _ := h.current()
	if srv == nil {
		return
	}
	h.noteFault(kind)
	switch kind {
	case "close_1011":
		srv.closeSession(g.id, contract.CloseInternalError, "soak: internal error")
	case "close_1013":
		srv.closeSession(g.id, contract.CloseTryAgainLater, contract.ReasonThrottled)
	case "tcp_cut_1006":
		h.proxy.cut(g.id)
	case "expired_4401":
		srv.closeSession(g.id, contract.CloseUnauthorized, contract.ReasonExpired)
	case "going_idle", "dormant":
		h.background(func(ctx context.Context) {
			if kind == "dormant" {
				g.c.GoDormant(ctx)
			} else {
				g.c.GoIdle(ctx)
			}
		})
	case "drop_in", "drop_out", "delay_in", "delay_out":
		f := simulator.Fault{
			GatewayID:   g.id,
			Direction:   simulator.DirIn,
			Probability: 0.5,
			Seed:        rng.Int64(),
			Times:       1 + rng.IntN(4),
		}
		types := inTypes
		if strings.HasSuffix(kind, "_out") {
			f.Direction, types = simulator.DirOut, outTypes
			if kind == "delay_out" {
				types = outDelayTypes
			}
		}
		if t := types[rng.IntN(len(types))]; t != "" {
			f.FrameTypes = []string{t}
		}
		if strings.HasPrefix(kind, "drop") {
			f.Drop = true
		} else {
			f.Delay = time.Duration(20+rng.IntN(800)) * time.Millisecond
		}
		if err := srv.addFault(f); err != nil {
			h.led.mu.Lock()
			h.led.violateLocked(nil, "failed to add fault %+v: %v", f, err)
			h.led.mu.Unlock()
		}
	case "withhold_acks":
		d := time.Duration(500+rng.IntN(3000)) * time.Millisecond
		g.mu.Lock()
		g.withholdUntil = time.Now().Add(d)
		g.mu.Unlock()
	case "handler_crash":
		n := 1 + rng.IntN(3)
		g.mu.Lock()
		g.crashLeft += n
		g.mu.Unlock()
	case "duplicate_acks":
		acked := h.led.recentAcked(g.idx, 3)
		other := h.gws[(g.idx+1+rng.IntN(len(h.gws)-1))%len(h.gws)]
		foreign := h.led.pendingBuffer(other.idx)
		h.background(func(ctx context.Context) { h.duplicateAcks(ctx, srv, g, acked, foreign) })
	case "keepalive_loss":
		srv.stopPongs(g.id, true)
		h.background(func(ctx context.Context) {
			select {
			case <-time.After(14 * time.Second):
			case <-ctx.Done():
			}
			srv.stopPongs(g.id, false) // a no-op on a restarted simulator
		})
	}
}

// background runs a fault that takes time; it ends when the run stops.
func (h *harness) background(fn func(ctx context.Context)) {
	h.spawned.Add(1)
	go func() {
		defer h.spawned.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-h.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		fn(ctx)
	}()
}

// duplicateAcks opens a second socket as gateway g, without a hello, and
// sends acks that must all be no-ops: repeats of acks g already sent, an
// unknown buffer id and the pending buffer id of another tenant
// (IDLE-017). The ledger catches any of them releasing an entry. With the
// simulator's default duplicate policy (replace) the socket also evicts
// g's live one, which is one more abnormal close for g.
func (h *harness) duplicateAcks(ctx context.Context, srv host, g *gateway, acked []string, foreign string) {
	tok := contract.MintTokenTTL(g.id, g.secret, time.Now(), time.Minute)
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, _, err := wspeer.Dial(dctx, srv.relayURL(), wspeer.Options{Token: tok})
	if err != nil {
		return // the simulator is restarting
	}
	defer conn.CloseNow()
	ids := append(append([]string{}, acked...), "buf-soak-unknown-1")
	if foreign != "" {
		ids = append(ids, foreign)
	}
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "{\"type\":\"inbound_ack\",\"bufferId\":%q}\n", id)
	}
	seq := srv.journalSeq()
	if err := conn.WriteText(dctx, b.String()); err != nil {
		return
	}
	h.led.count("duplicate_acks_sent", len(ids))
	// Give the simulator time to read them before the normal close.
	wctx, wcancel := context.WithTimeout(dctx, time.Second)
	n := 0
	for n < len(ids) && wctx.Err() == nil {
		entries, err := srv.journal(wctx, seq, time.Second)
		if err != nil {
			break
		}
		for _, e := range entries {
			seq = max(seq, e.Seq)
			if e.Kind == simulator.JournalNoopAck || e.Kind == simulator.JournalAck {
				n++
			}
		}
	}
	wcancel()
	conn.Close(contract.CloseNormal, "")
}
