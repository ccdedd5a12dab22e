package soak

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/wspeer"
	"github.com/relaykit/relaykit/simulator"
)

// The gateways that are not package client: a stalled reader and an
// abuser, each its own tenant and instance, on raw WebSocket sockets
// straight to the simulator.
const (
	stallGateway  = "gw-stall"
	stallInstance = "inst-stall"
	abuseGateway  = "gw-abuse"
	abuseInstance = "inst-abuse"
)

// A stall episode: the stalled gateway handshakes, stops reading, and
// stallBurst events of stallEventBytes are injected for it (more than its
// socket's kernel buffers and relaysim's 4 MiB write queue hold), then a
// small one every stallTrickle until relaysim closes the socket.
const (
	stallBurst       = 48
	stallEventBytes  = 256 << 10
	stallTrickle     = 250 * time.Millisecond
	stallCloseSlack  = 3 * time.Second // on top of ping interval + ping timeout
	stallInjectBound = 5 * time.Second // QueueWait (1 s) and slack
)

// pingInterval and pingTimeout are the simulator's keepalive in the soak
// (simOptions, childFlags): a stalled socket must be closed within their
// sum of its last read.
const (
	pingInterval = 3 * time.Second
	pingTimeout  = 10 * time.Second
)

var stallMarkerRE = regexp.MustCompile(`soak-stall-e(\d+)`)

func stallMarker(n int) string { return "soak-stall-e" + strconv.Itoa(n) }

// StallStats is what the stalled-reader episodes saw.
type StallStats struct {
	// Episodes ran; Guarded of them held restarts and kills off until
	// the stalled socket was closed (the others let them strike).
	Episodes, Guarded int
	// Closed counts stalled sockets relaysim closed 1011, by reason
	// (keepalive timeout, write timeout); MaxToClose is the longest time
	// from the last read to the close.
	Closed     map[string]int
	MaxToClose time.Duration
	// Interrupted counts episodes a restart or kill ended first;
	// CutShort those the end of the run ended (the gateway read again
	// and closed normally).
	Interrupted, CutShort int
	// Events injected for the stalled gateway: answered live or buffered,
	// or refused 507 (a full buffer, a documented answer).
	Live, Buffered, Refused int
	// MaxInject is the slowest of those injects.
	MaxInject time.Duration
	// Where the answered events arrived: on the stalled socket once it
	// read again (what the kernel held), or replayed on the next
	// connection (buffered, or re-buffered live events it never wrote).
	OnSocket, Replayed int
	// Rebuffered counts the journal's re-buffered entries of the stalled
	// gateway; CloseFrames the stalled sockets that read a 1011 close
	// frame (the others were dropped: a write was stuck).
	Rebuffered, CloseFrames int
	// LiveCutByKill counts live events a SIGKILL took with the socket's
	// queue (live frames carry no ack).
	LiveCutByKill int
	// Lost counts answered events that never arrived; Duplicated those
	// that arrived live on the stalled socket and were replayed too.
	Lost, Duplicated int
}

type stallEv struct {
	episode  int
	state    uint8 // evPending, evInjected, evFailed, evUnknown
	live     bool
	inc      int
	live1    uint8 // arrivals without a buffer id (on any socket)
	buffered uint8 // arrivals with a buffer id
}

type stallOpen struct {
	inc  int
	sess uint64
	at   time.Time
}

type stallClose struct {
	inc        int
	sess       uint64
	code       int
	reason     string
	at         time.Time
	byRelaysim bool
}

// staller runs the stall episodes.
type staller struct {
	h      *harness
	secret string

	mu     sync.Mutex
	events []stallEv
	opens  []stallOpen // of gw-stall, newest last, a few kept
	closes []stallClose
	stats  StallStats
}

func newStaller(h *harness) *staller {
	return &staller{h: h, stats: StallStats{Closed: map[string]int{}}}
}

// secretRef is where start stores the gateway's secret; nil without a
// staller.
func (st *staller) secretRef() *string {
	if st == nil {
		return nil
	}
	return &st.secret
}

// journal takes the stalled gateway's journal entries, which the main
// ledger leaves alone.
func (st *staller) journal(inc int, e simulator.JournalEntry) {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch e.Kind {
	case simulator.JournalOpen:
		st.opens = append(st.opens, stallOpen{inc, e.SessionID, e.Time})
		if len(st.opens) > 32 {
			st.opens = append(st.opens[:0], st.opens[16:]...)
		}
	case simulator.JournalClose:
		if e.SessionID == 0 {
			return
		}
		st.closes = append(st.closes, stallClose{inc: inc, sess: e.SessionID, code: e.Code, reason: e.Reason, at: e.Time,
			byRelaysim: e.Detail == "closed by relaysim"})
		if len(st.closes) > 32 {
			st.closes = append(st.closes[:0], st.closes[16:]...)
		}
	case simulator.JournalBuffer:
		if strings.HasPrefix(e.Detail, "re-buffered") {
			st.stats.Rebuffered++
		}
	}
}

// run runs episodes until the run stops; every other one is guarded.
func (st *staller) run() {
	h := st.h
	defer h.loops.Done()
	rng := rand.New(rand.NewPCG(uint64(h.cfg.Seed), 4))
	for ep := 0; ; ep++ {
		select {
		case <-h.stop:
			return
		case <-time.After(jitter(rng, h.cfg.StallEvery)):
		}
		st.episode(ep, ep%2 == 0, rng.Uint64())
	}
}

// dialRaw opens a raw socket as gatewayID and sends a hello for every
// soak platform.
func dialRaw(ctx context.Context, relayURL, gatewayID, secret string) (*wspeer.Conn, error) {
	tok := contract.MintTokenTTL(gatewayID, secret, time.Now(), time.Hour)
	// Read by hand, never by a receiver: the staller stops reading.
	conn, _, err := wspeer.Dial(ctx, relayURL, wspeer.Options{Token: tok, ReadLimit: -1})
	if err != nil {
		return nil, err
	}
	var hello bytes.Buffer
	for _, p := range platforms {
		fmt.Fprintf(&hello, `{"type":"hello","platform":%q,"botId":"b-%s"}`+"\n", p, gatewayID)
	}
	if err := conn.Write(ctx, hello.Bytes(), false); err != nil {
		conn.CloseNow()
		return nil, err
	}
	return conn, nil
}

// frameType reads the type of a frame relaysim wrote, which starts with
// it, without decoding a frame of a quarter megabyte.
func frameType(line []byte) string {
	const prefix = `{"type":"`
	if !bytes.HasPrefix(line, []byte(prefix)) {
		return ""
	}
	rest := line[len(prefix):]
	if i := bytes.IndexByte(rest, '"'); i > 0 {
		return string(rest[:i])
	}
	return ""
}

// bufferIDOf reads the bufferId relaysim appends to a delivery frame.
func bufferIDOf(line []byte) string {
	const key = `,"bufferId":"`
	i := bytes.LastIndex(line, []byte(key))
	if i < 0 || !bytes.HasSuffix(line, []byte(`"}`)) {
		return ""
	}
	return string(line[i+len(key) : len(line)-2])
}

// received records the frames of one message; it returns how many
// descriptors and the buffer ids of the deliveries it held.
func (st *staller) received(msg []byte) (descriptors int, bufferIDs []string) {
	for _, line := range bytes.Split(msg, []byte("\n")) {
		switch frameType(line) {
		case contract.TypeDescriptor:
			descriptors++
		case contract.TypeInbound:
			m := stallMarkerRE.FindSubmatch(line[:min(len(line), 256)])
			if m == nil {
				st.h.led.mu.Lock()
				st.h.led.violateLocked(nil, "the stalled gateway received an inbound frame of no stall event: %.120q", line)
				st.h.led.mu.Unlock()
				continue
			}
			n, _ := strconv.Atoi(string(m[1]))
			id := bufferIDOf(line)
			st.mu.Lock()
			if n < len(st.events) {
				if id == "" {
					st.events[n].live1++
				} else {
					st.events[n].buffered++
				}
			}
			st.mu.Unlock()
			if id != "" {
				bufferIDs = append(bufferIDs, id)
			}
		}
	}
	return descriptors, bufferIDs
}

// episode runs one stall: handshake, stop reading, inject, wait for
// relaysim's close, read what the socket still holds, replay the rest on
// a new connection, and check that every answered event arrived.
func (st *staller) episode(ep int, guarded bool, seed uint64) {
	h := st.h
	held := false
	release := func() {
		if held {
			held = false
			h.hold.Add(-1)
		}
	}
	defer release()
	if guarded {
		h.hold.Add(1)
		held = true
	}
	hs, inc := h.current()
	if hs == nil {
		return
	}
	dialAt := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	conn, err := dialRaw(ctx, hs.relayURL(), stallGateway, st.secret)
	if err != nil {
		cancel()
		h.led.count("stall_dial_failed", 1) // a restart or kill under way
		return
	}
	descs := 0
	for descs < len(platforms) {
		msg, _, err := conn.Read(ctx)
		if err != nil {
			break
		}
		d, _ := st.received(msg) // entries a past kill left get replayed later
		descs += d
	}
	cancel()
	if descs < len(platforms) {
		conn.CloseNow()
		h.led.count("stall_handshake_failed", 1)
		return
	}
	st.mu.Lock()
	st.stats.Episodes++
	if guarded {
		st.stats.Guarded++
	}
	st.mu.Unlock()

	// From here the gateway reads nothing: no pong, no frame.
	stalledAt := time.Now()
	w := h.flow.open("stalled reader", false)
	done := make(chan struct{})
	injected := make(chan struct{})
	go func() {
		defer close(injected)
		st.inject(hs, inc, ep, seed, done)
	}()
	bound := pingInterval + pingTimeout + stallCloseSlack
	note, outcome := st.awaitClose(hs, inc, dialAt, stalledAt.Add(bound))
	close(done)
	<-injected
	h.flow.close(w, false)
	if outcome == "closed" {
		// Before a held kill strikes: the metrics see the close too.
		h.samp.sample(hs.baseURL())
	}
	release()

	switch outcome {
	case "closed":
		toClose := note.at.Sub(stalledAt)
		switch {
		case note.code == contract.CloseGoingAway:
			// A graceful restart of an unguarded episode got there first.
			st.count(func(s *StallStats) { s.Interrupted++ })
		case note.code != contract.CloseInternalError || !note.byRelaysim ||
			(note.reason != contract.ReasonKeepaliveTimeout && note.reason != simulator.ReasonWriteTimeout):
			h.led.mu.Lock()
			h.led.violateLocked(nil, "stalled reader: relaysim closed the socket that stopped reading %d %q (by relaysim %v), want 1011 %q or %q",
				note.code, note.reason, note.byRelaysim, contract.ReasonKeepaliveTimeout, simulator.ReasonWriteTimeout)
			h.led.mu.Unlock()
		default:
			st.count(func(s *StallStats) {
				s.Closed[note.reason]++
				s.MaxToClose = max(s.MaxToClose, toClose)
			})
			if toClose > bound {
				h.led.mu.Lock()
				h.led.violateLocked(nil, "stalled reader: relaysim closed the socket %s after its last read, past ping interval + ping timeout (%s) and %s of slack",
					toClose.Round(time.Millisecond), pingInterval+pingTimeout, stallCloseSlack)
				h.led.mu.Unlock()
			}
		}
	case "interrupted":
		st.count(func(s *StallStats) { s.Interrupted++ })
	case "stopped":
		st.count(func(s *StallStats) { s.CutShort++ })
	case "timeout":
		h.led.mu.Lock()
		h.led.violateLocked(nil, "stalled reader: relaysim did not close the socket that stopped reading within %s (ping interval + ping timeout + %s)", bound, stallCloseSlack)
		h.led.mu.Unlock()
	}

	// Read what the socket still holds: until relaysim's close, or, when
	// the run cut the episode short, until nothing more comes, then close
	// normally.
	st.drain(conn, outcome == "stopped" || outcome == "timeout")
	st.replay(ep)
	st.check(ep)
}

func (st *staller) count(f func(*StallStats)) {
	st.mu.Lock()
	f(&st.stats)
	st.mu.Unlock()
}

// awaitClose waits until the journal shows relaysim closing the stalled
// gateway's socket (the first socket it opened after dialAt in
// incarnation inc), the deadline passes, the simulator is replaced, or the
// run stops.
func (st *staller) awaitClose(hs host, inc int, dialAt, deadline time.Time) (stallClose, string) {
	h := st.h
	for {
		st.mu.Lock()
		var sess uint64
		for _, o := range st.opens {
			if o.inc == inc && !o.at.Before(dialAt.Add(-time.Millisecond)) {
				sess = o.sess
				break
			}
		}
		for _, c := range st.closes {
			if sess != 0 && c.inc == inc && c.sess == sess {
				st.mu.Unlock()
				return c, "closed"
			}
		}
		st.mu.Unlock()
		if h.replaced(hs) {
			return stallClose{}, "interrupted"
		}
		if time.Now().After(deadline) {
			return stallClose{}, "timeout"
		}
		select {
		case <-h.stop:
			return stallClose{}, "stopped"
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// inject injects the episode's events for the stalled gateway until done.
func (st *staller) inject(hs host, inc, ep int, seed uint64, done <-chan struct{}) {
	h := st.h
	rng := rand.New(rand.NewPCG(seed, 7))
	big := strings.Repeat("x", stallEventBytes)
	for i := 0; ; i++ {
		wait := time.Duration(0)
		if i >= stallBurst {
			wait = stallTrickle
		}
		select {
		case <-done:
			return
		case <-time.After(wait):
		}
		text := "small"
		if i < stallBurst {
			text = big
		}
		st.mu.Lock()
		n := len(st.events)
		st.events = append(st.events, stallEv{episode: ep, inc: inc})
		st.mu.Unlock()
		ev := fmt.Sprintf(`{"message_id":%q,"text":"%s","source":{"platform":%q,"chat_id":"s%d","chat_type":"dm","user_id":"us"}}`,
			stallMarker(n), text, platforms[rng.IntN(len(platforms))], rng.IntN(4))
		start := time.Now()
		d, err := hs.inject(stallGateway, []byte(ev))
		took := time.Since(start)
		var se *statusError
		st.mu.Lock()
		e := &st.events[n]
		switch {
		case err == nil:
			e.state = evInjected
			e.live = d.Mode == simulator.DeliveryLive
			if e.live {
				st.stats.Live++
			} else {
				st.stats.Buffered++
			}
			st.stats.MaxInject = max(st.stats.MaxInject, took)
		case errors.As(err, &se) && strings.Contains(se.msg, " 507 "):
			e.state = evFailed
			st.stats.Refused++
		case errors.Is(err, errNotReached):
			e.state = evFailed
		case h.replaced(hs):
			e.state = evUnknown // died with the request in flight
		default:
			e.state = evFailed
		}
		st.mu.Unlock()
		if errors.Is(err, errNotReached) || h.replaced(hs) {
			return // the simulator is gone; the episode is over
		}
		if err != nil && e.state == evFailed && !(errors.As(err, &se) && strings.Contains(se.msg, " 507 ")) {
			h.led.mu.Lock()
			h.led.violateLocked(nil, "stalled reader: inject %s failed: %v", stallMarker(n), err)
			h.led.mu.Unlock()
		}
		if err == nil && took > stallInjectBound {
			h.led.mu.Lock()
			h.led.violateLocked(nil, "stalled reader: inject %s took %s, past %s: an inject must never wait on a stalled peer for longer than QueueWait",
				stallMarker(n), took.Round(time.Millisecond), stallInjectBound)
			h.led.mu.Unlock()
		}
	}
}

// drain reads what the stalled socket still holds. With resume the socket
// is still open (the run is ending): it reads until nothing arrived for a
// second, then closes normally.
func (st *staller) drain(conn *wspeer.Conn, resume bool) {
	defer conn.CloseNow()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		if resume {
			ctx, cancel = context.WithTimeout(context.Background(), time.Second)
		}
		msg, _, err := conn.Read(ctx)
		cancel()
		if err != nil {
			if code, _, ok := wspeer.CloseOf(err); ok && code == contract.CloseInternalError {
				st.count(func(s *StallStats) { s.CloseFrames++ })
			}
			if resume {
				conn.Close(contract.CloseNormal, "soak: done")
			}
			return
		}
		st.received(msg)
	}
}

// replay connects as the stalled gateway, reads the buffered entries,
// acks each, and ends once every event of episode ep that can arrive has,
// and the buffer is empty. It outlasts the end of the run: the episode's
// events must be judged.
func (st *staller) replay(ep int) {
	h := st.h
	deadline := time.Now().Add(45 * time.Second)
	n := -1
	for time.Now().Before(deadline) {
		h.hostMu.RLock()
		hs := h.host
		h.hostMu.RUnlock()
		if hs == nil {
			select {
			case <-h.abort:
				return
			case <-time.After(20 * time.Millisecond): // a restart or kill under way
			}
			continue
		}
		if st.awaiting(ep) == 0 {
			// Nothing awaited: the buffer, now small, may be empty already.
			var err error
			var draining bool
			if n, _, draining, err = hs.bufferState(stallInstance); err == nil && n == 0 && !draining {
				return
			}
		}
		if st.replayOnce(hs, ep, deadline) {
			return
		}
	}
	h.led.mu.Lock()
	h.led.violateLocked(nil, "stalled reader: the next connections did not empty its buffer in 45 s (%d entries left; %d events awaited)", n, st.awaiting(ep))
	h.led.mu.Unlock()
}

// awaiting counts events of episode ep answered 2xx that have not arrived
// and still can: not live events a SIGKILL took.
func (st *staller) awaiting(ep int) int {
	killed := st.h.killedIncs()
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for i := range st.events {
		e := &st.events[i]
		if e.episode == ep && e.state == evInjected && e.live1+e.buffered == 0 && !(e.live && killed[e.inc]) {
			n++
		}
	}
	return n
}

// replayOnce replays on one connection and reports whether the buffer was
// emptied. It watches its own record of arrivals, and asks the simulator
// for the buffer (whose answer carries every payload) only once nothing
// is awaited.
func (st *staller) replayOnce(hs host, ep int, deadline time.Time) bool {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := dialRaw(dctx, hs.relayURL(), stallGateway, st.secret)
	dcancel()
	if err != nil {
		time.Sleep(50 * time.Millisecond) // a restart or kill under way
		return false
	}
	defer conn.CloseNow()
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			msg, _, err := conn.Read(ctx)
			if err != nil {
				return
			}
			_, ids := st.received(msg)
			if len(ids) > 0 {
				var acks bytes.Buffer
				for _, id := range ids {
					fmt.Fprintf(&acks, `{"type":"inbound_ack","bufferId":%q}`+"\n", id)
				}
				if err := conn.Write(ctx, acks.Bytes(), false); err != nil {
					return
				}
			}
		}
	}()
	lastAsk := time.Time{}
	for {
		select {
		case <-readDone:
			return false
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
		if st.awaiting(ep) > 0 || time.Since(lastAsk) < time.Second {
			continue
		}
		lastAsk = time.Now()
		n, _, draining, err := hs.bufferState(stallInstance)
		if err == nil && n == 0 && !draining {
			conn.Close(contract.CloseNormal, "soak: replayed")
			<-readDone
			return true
		}
	}
}

// check judges the episode's events: every event answered live or
// buffered arrived, on the stalled socket or a replay, and none arrived
// live and replayed too.
func (st *staller) check(ep int) {
	h := st.h
	killed := h.killedIncs()
	st.mu.Lock()
	var lost, dup []string
	for n := range st.events {
		e := &st.events[n]
		if e.episode != ep {
			continue
		}
		if e.live1 > 0 {
			st.stats.OnSocket++
		} else if e.buffered > 0 {
			st.stats.Replayed++
		}
		if e.state == evUnknown && e.live1+e.buffered > 0 {
			h.led.count("stall_inject_unknown_arrived", 1)
		}
		if e.state != evInjected {
			continue
		}
		switch {
		case e.live1 > 0 && e.buffered > 0:
			st.stats.Duplicated++
			dup = append(dup, stallMarker(n))
		case e.live1+e.buffered > 0:
		case e.live && killed[e.inc]:
			st.stats.LiveCutByKill++
		default:
			st.stats.Lost++
			lost = append(lost, fmt.Sprintf("%s (live %v, sim%d)", stallMarker(n), e.live, e.inc))
		}
	}
	st.mu.Unlock()
	if len(lost) > 0 {
		h.led.mu.Lock()
		h.led.violateLocked(nil, "lost (stalled reader): %d events answered 2xx never arrived, on the stalled socket or a replay: %s", len(lost), strings.Join(lost[:min(len(lost), 10)], ", "))
		h.led.mu.Unlock()
	}
	if len(dup) > 0 {
		h.led.mu.Lock()
		h.led.violateLocked(nil, "stalled reader: %d events arrived live on the stalled socket and were replayed too: %s", len(dup), strings.Join(dup[:min(len(dup), 10)], ", "))
		h.led.mu.Unlock()
	}
}

func (st *staller) result() StallStats {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.stats
	s.Closed = map[string]int{}
	for k, v := range st.stats.Closed {
		s.Closed[k] = v
	}
	return s
}
