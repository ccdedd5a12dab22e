package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

// lanternBin is lantern, built once by TestMain; every end-to-end test runs
// it as a subprocess against an in-process connector, the way the
// conformance suite does.
var lanternBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lantern-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lanternBin = filepath.Join(dir, "lantern")
	gobin := "go" // from PATH, as go test itself was run
	if out, err := exec.Command(gobin, "build", "-o", lanternBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := 0
	func() {
		defer func() {
			if err := goleak.Find(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				code = 1
			}
		}()
		code = m.Run()
	}()
	os.RemoveAll(dir)
	os.Exit(code)
}

// --- the lantern process ---

type proc struct {
	cmd    *exec.Cmd
	stderr *testkit.Buffer
	done   chan struct{}
	err    error
}

// startLantern runs lantern with the testee environment for relayURL plus
// env (an empty value unsets a variable).
func startLantern(t *testing.T, env map[string]string) *proc {
	t.Helper()
	vars := map[string]string{
		"RELAYKIT_BACKOFF_BASE": "50ms",
		"RELAYKIT_BACKOFF_CAP":  "400ms",
		"LANTERN_LOG_LEVEL":     "debug",
		"RELAYKIT_CASE":         t.Name(),
	}
	for k, v := range env {
		vars[k] = v
	}
	cmd := exec.Command(lanternBin)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "GATEWAY_RELAY_") && !strings.HasPrefix(k, "RELAYKIT_") && !strings.HasPrefix(k, "LANTERN_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range vars {
		if v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	p := &proc{cmd: cmd, stderr: &testkit.Buffer{Limit: 4 << 20}, done: make(chan struct{})} // a runaway log keeps its start
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("lantern stderr:\n%s", p.stderr.String())
		}
	})
	return p
}

// stop sends SIGTERM and waits; SIGKILL after 5 s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// --- the reference connector ---

type relay struct {
	sim    *simulator.Server
	clk    *clock.Manual
	gw     string
	secret string
	plats  []string
}

// newRelay starts the simulator with one gateway fronting plats.
func newRelay(t *testing.T, plats []string, mod func(o *simulator.Options)) *relay {
	t.Helper()
	r := &relay{clk: clock.NewManual(time.Now()), gw: "lantern-" + randomHex(3), secret: randomHex(32), plats: plats}
	// A window wider than relaysim's default 1: several tests leave an
	// entry unacked on purpose and expect the ones behind it to arrive.
	o := simulator.Options{Clock: r.clk, PingInterval: -1, DrainWindow: 64,
		Gateways: []simulator.GatewaySpec{{GatewayID: r.gw, Secret: r.secret, Platforms: plats}}}
	if mod != nil {
		mod(&o)
	}
	sim, err := simulator.New(o)
	if err != nil {
		t.Fatal(err)
	}
	r.sim = sim
	t.Cleanup(func() { _ = sim.Close() })
	return r
}

// env is the testee environment pointing lantern at the relay.
func (r *relay) env(extra map[string]string) map[string]string {
	bots := map[string]map[string]string{}
	for _, p := range r.plats {
		bots[p] = map[string]string{"botId": "bot-" + p}
	}
	b, _ := json.Marshal(bots)
	e := map[string]string{
		"GATEWAY_RELAY_URL":       r.sim.URL(),
		"GATEWAY_RELAY_ID":        r.gw,
		"GATEWAY_RELAY_SECRET":    r.secret,
		"GATEWAY_RELAY_PLATFORMS": strings.Join(r.plats, ","),
		"GATEWAY_RELAY_BOT_IDS":   string(b),
	}
	for k, v := range extra {
		e[k] = v
	}
	return e
}

// start runs lantern against the relay and waits for its handshake.
func (r *relay) start(t *testing.T, extra map[string]string) *proc {
	t.Helper()
	p := startLantern(t, r.env(extra))
	r.handshaked(t)
	return p
}

func (r *relay) handshaked(t *testing.T) simulator.SessionInfo {
	t.Helper()
	var got simulator.SessionInfo
	testkit.EventuallyWithin(t, testkit.SlowWait, "lantern's handshake", func() bool {
		for _, s := range r.sim.Sessions() {
			if s.GatewayID == r.gw && len(s.Platforms) == len(r.plats) {
				got = s
				return true
			}
		}
		return false
	})
	return got
}

type msg struct {
	platform, chat, chatType, user, scope, text, id string
	mediaURLs                                       []string
}

func (m msg) event() json.RawMessage {
	src := map[string]any{"platform": m.platform, "chat_id": m.chat, "chat_type": m.chatType, "user_id": m.user}
	if m.scope != "" {
		src["scope_id"] = m.scope
	}
	ev := map[string]any{"text": m.text, "message_type": "text", "source": src}
	if m.id != "" {
		ev["message_id"] = m.id
		src["message_id"] = m.id
	}
	if len(m.mediaURLs) > 0 {
		ev["media_urls"] = m.mediaURLs
	}
	b, _ := json.Marshal(ev)
	return b
}

func dm(platform, text string) msg {
	return msg{platform: platform, chat: "chat-" + randomHex(3), chatType: "dm", user: "user-1", text: text, id: "m-" + randomHex(4)}
}

func (r *relay) inject(t *testing.T, m msg) simulator.Delivery {
	t.Helper()
	// An event without an id is sent unchecked: relaysim would give it one,
	// as a platform does.
	d, err := r.sim.InjectEvent(simulator.InjectRequest{GatewayID: r.gw, Event: m.event(), Unchecked: m.id == ""})
	if err != nil {
		t.Fatalf("inject %q: %v", m.text, err)
	}
	return d
}

// actions returns the outbound records toward chat with op ("" for all).
func (r *relay) actions(chat, op string) []simulator.OutboundRecord {
	var out []simulator.OutboundRecord
	for _, rec := range r.sim.Outbound(r.gw) {
		var a struct {
			ChatID string `json:"chat_id"`
		}
		_ = json.Unmarshal(rec.Action, &a)
		if (chat == "" || a.ChatID == chat) && (op == "" || rec.Op == op) {
			out = append(out, rec)
		}
	}
	return out
}

func contentOf(rec simulator.OutboundRecord) string {
	var a struct {
		Content string `json:"content"`
	}
	_ = json.Unmarshal(rec.Action, &a)
	return a.Content
}

func contents(recs []simulator.OutboundRecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, contentOf(r))
	}
	return out
}

// replied waits for sends in chat whose joined contents contain want, and
// returns them.
func (r *relay) replied(t *testing.T, chat, want string) []simulator.OutboundRecord {
	t.Helper()
	var got []simulator.OutboundRecord
	testkit.EventuallyWithin(t, testkit.SlowWait, fmt.Sprintf("a reply containing %q in %s", want, chat), func() bool {
		got = r.actions(chat, "send")
		return strings.Contains(strings.Join(contents(got), ""), want)
	})
	return got
}

func (r *relay) acked(id string) bool {
	return slices.Contains(r.sim.Acks(r.gw).Acked, id)
}

func (r *relay) buffered() []string {
	var ids []string
	for _, e := range r.sim.Buffer(r.gw) {
		ids = append(ids, e.BufferID)
	}
	return ids
}

// --- end-to-end behaviour ---

func TestEchoRoundTrip(t *testing.T) {
	r := newRelay(t, []string{"telegram"}, nil)
	r.start(t, nil)
	m := dm("telegram", "héllo 🔦 wörld")
	if d := r.inject(t, m); d.Mode != "live" {
		t.Fatalf("delivery %s", d.Mode)
	}
	sends := r.replied(t, m.chat, "lantern: "+m.text)
	rec := sends[0]
	if rec.Platform != "telegram" || rec.BotID != "bot-telegram" {
		t.Errorf("tags platform=%q botId=%q; lantern tags every outbound toward a fronted platform", rec.Platform, rec.BotID)
	}
	if !requestIDRe(rec.RequestID) {
		t.Errorf("requestId %q is not 32 lowercase hex", rec.RequestID)
	}
	var a map[string]any
	_ = json.Unmarshal(rec.Action, &a)
	if md, _ := a["metadata"].(map[string]any); md["user_id"] != "user-1" {
		t.Errorf("metadata %v lacks the chat's user_id (OUT-027)", a["metadata"])
	}
	if v, ok := a["reply_to"]; !ok || v != nil {
		t.Errorf("reply_to %v (present %v), want null", v, ok)
	}
	typing := r.actions(m.chat, "typing")
	if len(typing) == 0 || typing[0].Seq > rec.Seq {
		t.Errorf("no typing before the reply: %v", r.actions(m.chat, ""))
	}
	if !json.Valid(rec.Result) || !strings.Contains(string(rec.Result), `"success":true`) {
		t.Errorf("the connector refused the reply: %s", rec.Result)
	}
	// A live event is never acked (IDLE-016): lantern acks before it
	// runs the turn, so by the reply any ack would have been counted.
	if st := r.sim.Acks(r.gw); st.Count != 0 || st.Noop != 0 {
		t.Errorf("acks %+v for a live delivery", st)
	}
}

func requestIDRe(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// utf16Len counts independently of measure.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r > 0xFFFF {
			n++
		}
	}
	return n
}

func withDescriptor(platform string, fn func(d *contract.CapabilityDescriptor)) func(o *simulator.Options) {
	return func(o *simulator.Options) {
		ds, err := simulator.DefaultDescriptors()
		if err != nil {
			panic(err)
		}
		d := ds[platform]
		fn(&d)
		ds[platform] = d
		o.Descriptors = ds
	}
}

func TestSplitByUTF16(t *testing.T) {
	r := newRelay(t, []string{"telegram"}, withDescriptor("telegram", func(d *contract.CapabilityDescriptor) {
		d.MaxMessageLength, d.LenUnit = 40, "utf16"
	}))
	r.start(t, nil)
	text := strings.Repeat("😀 astral words ", 8) + strings.Repeat("😀", 30)
	m := dm("telegram", text)
	r.inject(t, m)
	sends := r.replied(t, m.chat, text)
	parts := contents(sends)
	if got := strings.Join(parts, ""); got != replyPrefix+text {
		t.Fatalf("parts re-join to %q", got)
	}
	for i, p := range parts {
		if n := utf16Len(p); n > 40 {
			t.Errorf("part %d is %d UTF-16 units: %q", i, n, p)
		}
		if !utf8ValidParts(p) {
			t.Errorf("part %d cuts a character: %q", i, p)
		}
	}
	// Word boundaries: while the text has spaces, parts end after one.
	for i, p := range parts[:3] {
		if !strings.HasSuffix(p, " ") {
			t.Errorf("part %d %q does not end at a word boundary", i, p)
		}
	}
}

func utf8ValidParts(s string) bool { return !strings.ContainsRune(s, '\uFFFD') }

func TestDedupeOfReplay(t *testing.T) {
	for _, dev := range []string{"", devReplayDroppedUnacked, devReplayAckedTwice} {
		t.Run("dev="+dev, func(t *testing.T) {
			r := newRelay(t, []string{"telegram"}, nil)
			dup := dm("telegram", "said once")
			after := msg{platform: "telegram", chat: dup.chat, chatType: "dm", user: "user-1", text: "after", id: "m-after"}
			b1 := r.inject(t, dup).BufferID
			b2 := r.inject(t, dup).BufferID // a replay: same platform, chat and message id
			b3 := r.inject(t, after).BufferID
			if b1 == "" || b2 == "" || b3 == "" {
				t.Fatal("the simulator did not buffer")
			}
			r.start(t, map[string]string{"LANTERN_DEVIATION": dev})
			testkit.EventuallyWithin(t, testkit.SlowWait, "the ack of the last buffered event", func() bool { return r.acked(b3) })
			r.replied(t, dup.chat, "lantern: after")
			r.replied(t, dup.chat, "lantern: said once")
			if n := strings.Count(strings.Join(contents(r.actions(dup.chat, "send")), "|"), "said once"); n != 1 {
				t.Errorf("%d replies to an event delivered twice; a replay must not run again", n)
			}
			st := r.sim.Acks(r.gw)
			switch dev {
			case "":
				if !r.acked(b2) || st.Noop != 0 || len(r.buffered()) != 0 {
					t.Errorf("the replay %s: acked %v, noop acks %d, left %v; want acked once", b2, r.acked(b2), st.Noop, r.buffered())
				}
			case devReplayDroppedUnacked:
				if r.acked(b2) || !slices.Equal(r.buffered(), []string{b2}) {
					t.Errorf("deviation: the replay %s was acked (left %v)", b2, r.buffered())
				}
			case devReplayAckedTwice:
				if st.Noop != 1 {
					t.Errorf("deviation: %d no-op acks, want the replay's second ack", st.Noop)
				}
			}
		})
	}
}

func TestAckAfterDurableAppend(t *testing.T) {
	r := newRelay(t, []string{"telegram"}, nil)
	jpath := filepath.Join(t.TempDir(), "journal.ndjson")
	first := dm("telegram", "first")
	reject := dm("telegram", "/reject")
	last := dm("telegram", "last")
	b1, b2, b3 := r.inject(t, first).BufferID, r.inject(t, reject).BufferID, r.inject(t, last).BufferID
	r.start(t, map[string]string{"LANTERN_JOURNAL": jpath})
	for _, b := range []string{b1, b3} {
		testkit.EventuallyWithin(t, testkit.SlowWait, "the ack of "+b, func() bool { return r.acked(b) })
		// The ack is written after the record is synced, so once the
		// connector has the ack the journal has the record.
		j, err := os.ReadFile(jpath)
		if err != nil || !bytes.Contains(j, []byte(`"bufferId":"`+b+`"`)) {
			t.Errorf("%s acked before its journal record was written (%v)", b, err)
		}
	}
	// The connector drains in order, so /reject was judged before last.
	if r.acked(b2) || !slices.Equal(r.buffered(), []string{b2}) {
		t.Errorf("the event lantern refused (/reject) was acked; buffer %v", r.buffered())
	}
	if j, _ := os.ReadFile(jpath); bytes.Contains(j, []byte(b2)) {
		t.Errorf("the refused event is in the journal")
	}
}

// --- a scripted connector for dial and close rules ---

type scripted struct {
	srv  *httptest.Server
	ctx  context.Context
	mu   sync.Mutex
	dial []time.Time
	msgs [][]byte // every message lantern sent, in order
	plan func(n int) step
}

// step is what the scripted connector does with dial n.
type step struct {
	refuse     int    // HTTP status instead of the upgrade
	close      int    // close code
	reason     string // close reason
	afterHello bool   // close after answering the hellos (else at once)
}

func newScripted(t *testing.T, plan func(n int) step) *scripted {
	ctx, cancel := context.WithCancel(context.Background())
	s := &scripted{ctx: ctx, plan: plan}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() { cancel(); s.srv.Close() })
	return s
}

func (s *scripted) dials() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.dial)
}

func (s *scripted) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.dial = append(s.dial, time.Now())
	n := len(s.dial)
	s.mu.Unlock()
	st := s.plan(n)
	if st.refuse != 0 {
		w.WriteHeader(st.refuse)
		return
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer ws.CloseNow()
	ws.SetReadLimit(2 << 20)
	if st.close != 0 && !st.afterHello {
		_ = ws.Close(websocket.StatusCode(st.close), st.reason)
		return
	}
	for {
		_, m, err := ws.Read(s.ctx)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.msgs = append(s.msgs, m)
		s.mu.Unlock()
		var f struct {
			Type     string `json:"type"`
			Platform string `json:"platform"`
		}
		if json.Unmarshal(m, &f) != nil || f.Type != "hello" {
			continue
		}
		d := map[string]any{"type": "descriptor", "descriptor": map[string]any{
			"contract_version": 1, "platform": f.Platform, "label": f.Platform, "max_message_length": 4096,
			"supports_draft_streaming": false, "supports_edit": true, "supports_threads": false,
			"markdown_dialect": "plain", "len_unit": "chars"}}
		b, _ := json.Marshal(d)
		_ = ws.Write(s.ctx, websocket.MessageText, append(b, '\n'))
		if st.close != 0 {
			_ = ws.Close(websocket.StatusCode(st.close), st.reason)
			return
		}
	}
}

func scriptedEnv(s *scripted, extra map[string]string) map[string]string {
	e := map[string]string{
		"GATEWAY_RELAY_URL":       s.srv.URL,
		"GATEWAY_RELAY_ID":        "gw-scripted",
		"GATEWAY_RELAY_SECRET":    "s3cret",
		"GATEWAY_RELAY_PLATFORMS": "telegram",
	}
	for k, v := range extra {
		e[k] = v
	}
	return e
}

func TestFramesOnTheWire(t *testing.T) {
	s := newScripted(t, func(int) step { return step{} })
	startLantern(t, scriptedEnv(s, map[string]string{"GATEWAY_RELAY_PLATFORMS": "telegram,discord",
		"GATEWAY_RELAY_BOT_IDS": `{"discord":{"botId":"d-1"}}`}))
	var msgs [][]byte
	testkit.EventuallyWithin(t, testkit.SlowWait, "two hellos", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		msgs = slices.Clone(s.msgs)
		return len(msgs) >= 2
	})
	for i, m := range msgs[:2] {
		if bytes.Count(m, []byte("\n")) != 1 || m[len(m)-1] != '\n' {
			t.Errorf("message %d is not one frame with one newline: %q", i, m)
		}
		if vs := contract.ValidateFrame(m); len(vs) > 0 {
			t.Errorf("message %d: %v", i, vs)
		}
	}
	var h1, h2 map[string]any
	_ = json.Unmarshal(msgs[0], &h1)
	_ = json.Unmarshal(msgs[1], &h2)
	if h1["platform"] != "telegram" || h2["platform"] != "discord" || h2["botId"] != "d-1" || h1["botId"] != "" {
		t.Errorf("hellos %v, %v: want telegram then discord, in configured order", h1, h2)
	}
	if _, ok := h2["command_manifest"]; !ok {
		t.Errorf("the discord hello has no command_manifest")
	}
}

// gaps returns the times between successive dials.
func gaps(ts []time.Time) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(ts); i++ {
		out = append(out, ts[i].Sub(ts[i-1]))
	}
	return out
}

// TestBackoffJitterSpread measures the waits between refused dials with a
// real clock, statistically: with base = cap = 100 ms every wait is drawn
// from [50 ms, 100 ms], so about half fall under 80 ms; without jitter
// none can, since a timer never fires early.
func TestBackoffJitterSpread(t *testing.T) {
	const n = 30
	for _, dev := range []string{"", devLadderWithoutJitter} {
		t.Run("dev="+dev, func(t *testing.T) {
			s := newScripted(t, func(int) step { return step{refuse: http.StatusServiceUnavailable} })
			startLantern(t, scriptedEnv(s, map[string]string{"RELAYKIT_BACKOFF_BASE": "100ms", "RELAYKIT_BACKOFF_CAP": "100ms",
				"LANTERN_DEVIATION": dev, "LANTERN_LOG_LEVEL": "info"}))
			testkit.EventuallyWithin(t, testkit.SlowWait, fmt.Sprintf("%d dials", n+1), func() bool { return len(s.dials()) > n })
			gs := gaps(s.dials())[:n]
			short, lo, hi := 0, time.Hour, time.Duration(0)
			for _, g := range gs {
				if g < 80*time.Millisecond {
					short++
				}
				lo, hi = min(lo, g), max(hi, g)
			}
			t.Logf("waits from %s to %s, %d of %d under 80 ms", lo.Round(time.Millisecond), hi.Round(time.Millisecond), short, n)
			if lo < 49*time.Millisecond {
				t.Errorf("a wait of %s, under d/2", lo)
			}
			switch dev {
			case "":
				if short < n/5 || hi-lo < 15*time.Millisecond {
					t.Errorf("waits %v: not spread over [d/2, d]", gs)
				}
			case devLadderWithoutJitter:
				if short != 0 || lo < 100*time.Millisecond {
					t.Errorf("deviation: waits %v, want exactly d every time", gs)
				}
			}
		})
	}
}

func TestExpired4401(t *testing.T) {
	plan := func(n int) step {
		if n == 1 {
			return step{close: 4401, reason: "expired", afterHello: true}
		}
		return step{close: 4401, reason: "expired"}
	}
	for _, dev := range []string{"", devExpiredCountsAsStrike} {
		t.Run("dev="+dev, func(t *testing.T) {
			s := newScripted(t, plan)
			p := startLantern(t, scriptedEnv(s, map[string]string{"LANTERN_DEVIATION": dev, "RELAYKIT_BACKOFF_CAP": "100ms"}))
			if dev == "" {
				testkit.EventuallyWithin(t, testkit.SlowWait, "five dials after repeated 4401 expired", func() bool { return len(s.dials()) >= 5 })
				if p.exited() {
					t.Errorf("lantern exited after 4401 expired: %v", p.err)
				}
				return
			}
			testkit.EventuallyWithin(t, testkit.SlowWait, "lantern to give up", p.exited)
			var ee *exec.ExitError
			if !errors.As(p.err, &ee) || ee.ExitCode() != exitRevoked || len(s.dials()) != 2 {
				t.Errorf("deviation: exit %v after %d dials; want revoked (3) after the immediate re-dial", p.err, len(s.dials()))
			}
		})
	}
}

func TestStrikeRules(t *testing.T) {
	// Dial 1 handshakes and is closed 4401; dial 2 (immediate, fresh
	// token) is refused over HTTP; dial 3 inherits the role and gets a
	// 4401, which is terminal (RC-011, RC-014, RC-012).
	s := newScripted(t, func(n int) step {
		switch n {
		case 1:
			return step{close: 4401, reason: "unauthorized", afterHello: true}
		case 2:
			return step{refuse: http.StatusServiceUnavailable}
		}
		return step{close: 4401, reason: "unauthorized"}
	})
	p := startLantern(t, scriptedEnv(s, map[string]string{"RELAYKIT_BACKOFF_BASE": "1s", "RELAYKIT_BACKOFF_CAP": "1s"}))
	testkit.EventuallyWithin(t, testkit.SlowWait, "lantern to stop as revoked", p.exited)
	ds := s.dials()
	if len(ds) != 3 {
		t.Fatalf("%d dials, want 3", len(ds))
	}
	if g := ds[1].Sub(ds[0]); g > 400*time.Millisecond {
		t.Errorf("the fresh-token re-dial came after %s, not at once", g)
	}
	if g := ds[2].Sub(ds[1]); g < 500*time.Millisecond {
		t.Errorf("the dial after an HTTP refusal came after %s, without backoff", g)
	}
}
