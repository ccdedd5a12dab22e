package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// Gateway probes: each plays the connector with the unmutated simulator
// package (or a raw socket where the simulator cannot misbehave enough)
// and runs the echo gateway binary under test against it.

// rig is a simulator with one gateway enrolled and the gateway binary
// running against it.
type rig struct {
	sim   *simulator.Server
	id    string
	inst  string
	proxy *recordingProxy
	cmd   *exec.Cmd
	done  chan struct{}
	home  string
}

// rigOptions shape a rig.
type rigOptions struct {
	platforms []string
	// descriptor edits the descriptor preset of a platform.
	descriptor func(platform string, d *contract.CapabilityDescriptor)
	// before runs after the simulator started and before the gateway does.
	before func(sim *simulator.Server, id string) error
	// proxy puts a recording reverse proxy between gateway and simulator.
	proxy bool
	// drainWindow, when positive, replaces the simulator's drain window.
	drainWindow int
}

// startRig starts the simulator and the gateway, and waits for the
// gateway's handshake on every platform.
func startRig(ctx context.Context, env *probeEnv, o rigOptions) (*rig, error) {
	descs, err := simulator.DefaultDescriptors()
	if err != nil {
		return nil, err
	}
	if o.descriptor != nil {
		for p, d := range descs {
			o.descriptor(p, &d)
			descs[p] = d
		}
	}
	r := &rig{id: uniq("gw-probe"), done: make(chan struct{})}
	r.inst = r.id
	sim, err := simulator.New(simulator.Options{
		Descriptors: descs,
		Gateways:    []simulator.GatewaySpec{{GatewayID: r.id, Platforms: o.platforms}},
		DrainWindow: o.drainWindow,
		Logger:      slog.New(slog.NewTextHandler(env.log, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return nil, err
	}
	r.sim = sim
	if o.before != nil {
		if err := o.before(sim, r.id); err != nil {
			r.stop()
			return nil, err
		}
	}
	vars, err := sim.Env(r.id)
	if err != nil {
		r.stop()
		return nil, err
	}
	if o.proxy {
		if r.proxy, err = newRecordingProxy(sim.URL()); err != nil {
			r.stop()
			return nil, err
		}
		vars = strings.Replace(vars, "ws"+strings.TrimPrefix(sim.URL(), "http"), "ws"+strings.TrimPrefix(r.proxy.url, "http"), 1)
	}
	if r.home, err = os.MkdirTemp("", "mutation-probe-home-"); err != nil {
		r.stop()
		return nil, err
	}
	envv := gatewayEnv(strings.Split(strings.TrimSpace(vars), "\n"), r.home)
	if err := r.startGateway(env, envv); err != nil {
		r.stop()
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, s := range sim.Sessions() {
			if s.GatewayID == r.id && len(s.Platforms) == len(o.platforms) {
				return r, nil
			}
		}
		select {
		case <-r.done:
			r.stop()
			return nil, fmt.Errorf("the gateway exited before its handshake")
		case <-ctx.Done():
			r.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("the gateway did not handshake on %v within 20s", o.platforms)
		}
	}
}

// gatewayEnv is the process environment of a probed gateway: ours without
// relay settings, plus vars and the testee contract's short timers.
func gatewayEnv(vars []string, home string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GATEWAY_RELAY_") || strings.HasPrefix(k, "RELAYKIT_") || strings.HasPrefix(k, "ECHOGATEWAY_") || k == "HERMES_HOME" {
			continue
		}
		out = append(out, kv)
	}
	out = append(out, vars...)
	return append(out, "HERMES_HOME="+home, "RELAYKIT_BACKOFF_BASE=100ms", "RELAYKIT_BACKOFF_CAP=400ms", "ECHOGATEWAY_LOG_LEVEL=debug")
}

func (r *rig) startGateway(env *probeEnv, envv []string) error {
	r.cmd = exec.Command(env.bin)
	r.cmd.Env = envv
	r.cmd.Stdout, r.cmd.Stderr = env.log, env.log
	ownGroup(r.cmd)
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("failed to start the gateway: %w", err)
	}
	go func() { r.cmd.Wait(); close(r.done) }()
	return nil
}

func (r *rig) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		terminate(r.cmd)
		select {
		case <-r.done:
		case <-time.After(5 * time.Second):
			killGroup(r.cmd)
			<-r.done
		}
	}
	if r.proxy != nil {
		r.proxy.close()
	}
	if r.sim != nil {
		r.sim.Close()
	}
	if r.home != "" {
		os.RemoveAll(r.home)
	}
}

// inject delivers an event, failing on a refusal.
func (r *rig) inject(ev map[string]any) (simulator.Delivery, error) {
	raw, _ := json.Marshal(ev)
	return r.sim.InjectEvent(simulator.InjectRequest{GatewayID: r.id, Event: raw})
}

// actions returns the outbound records for chat ("" for all) and ops (none
// for all).
func (r *rig) actions(chat string, ops ...string) []simulator.OutboundRecord {
	var out []simulator.OutboundRecord
	for _, rec := range r.sim.Outbound(r.id) {
		var a struct {
			ChatID string `json:"chat_id"`
		}
		json.Unmarshal(rec.Action, &a)
		if (chat == "" || a.ChatID == chat) && (len(ops) == 0 || slices.Contains(ops, rec.Op)) {
			out = append(out, rec)
		}
	}
	return out
}

// waitFor polls cond every 20 ms for at most d.
func waitFor(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func actionField(rec simulator.OutboundRecord, key string) any {
	var a map[string]any
	json.Unmarshal(rec.Action, &a)
	return a[key]
}

func content(rec simulator.OutboundRecord) string {
	s, _ := actionField(rec, "content").(string)
	return s
}

func acked(sim *simulator.Server, inst, bufferID string) bool {
	return slices.Contains(sim.Acks(inst).Acked, bufferID)
}

// probeAckReplayOfAdmitted (IDLE-013): a buffered replay of an event the
// gateway already admitted is acked.
func probeAckReplayOfAdmitted(ctx context.Context, env *probeEnv) (string, error) {
	ev := dmEvent("telegram", uniq("c"), "u1", uniq("m"), "hello")
	var first simulator.Delivery
	// A window of 2 sends both entries back to back: the replay arrives
	// while the original is still being admitted.
	r, err := startRig(ctx, env, rigOptions{platforms: []string{"telegram"}, drainWindow: 2, before: func(sim *simulator.Server, id string) error {
		raw, _ := json.Marshal(ev)
		var err error
		first, err = sim.InjectEvent(simulator.InjectRequest{GatewayID: id, Event: raw})
		return err
	}})
	if err != nil {
		return "", err
	}
	defer r.stop()
	if !waitFor(ctx, 10*time.Second, func() bool { return acked(r.sim, r.inst, first.BufferID) }) {
		return "", fmt.Errorf("the first delivery %s was never acked", first.BufferID)
	}
	// Take the gateway away, buffer the same event again, let it back.
	r.sim.RefuseConnections(true)
	if _, err := r.sim.CloseSession(r.id, contract.CloseGoingAway, contract.ReasonShutdown); err != nil {
		return "", err
	}
	if !waitFor(ctx, 5*time.Second, func() bool { return len(r.sim.Sessions()) == 0 }) {
		return "", fmt.Errorf("the gateway's socket did not close")
	}
	replay, err := r.inject(ev)
	if err != nil || replay.BufferID == "" {
		return "", fmt.Errorf("buffer the replay: %v (%s)", err, replay.Mode)
	}
	r.sim.RefuseConnections(false)
	if !waitFor(ctx, 10*time.Second, func() bool { return acked(r.sim, r.inst, replay.BufferID) }) {
		return fmt.Sprintf("the buffered replay %s of an event the gateway had admitted (and acked as %s) was never acked", replay.BufferID, first.BufferID), nil
	}
	return "", nil
}

// probeAckReplayInFlight (IDLE-013): the same event buffered twice (two
// bufferIds, one message id) and replayed back to back: the second arrives
// while the first is being admitted, and both are acked.
func probeAckReplayInFlight(ctx context.Context, env *probeEnv) (string, error) {
	ev := dmEvent("telegram", uniq("c"), "u1", uniq("m"), "hello")
	var ids []string
	// A window of 2 sends both entries back to back: the replay arrives
	// while the original is still being admitted.
	r, err := startRig(ctx, env, rigOptions{platforms: []string{"telegram"}, drainWindow: 2, before: func(sim *simulator.Server, id string) error {
		raw, _ := json.Marshal(ev)
		for i := 0; i < 2; i++ {
			d, err := sim.InjectEvent(simulator.InjectRequest{GatewayID: id, Event: raw})
			if err != nil {
				return err
			}
			ids = append(ids, d.BufferID)
		}
		return nil
	}})
	if err != nil {
		return "", err
	}
	defer r.stop()
	if !waitFor(ctx, 10*time.Second, func() bool { return acked(r.sim, r.inst, ids[0]) }) {
		return "", fmt.Errorf("the first delivery %s was never acked", ids[0])
	}
	if !waitFor(ctx, 5*time.Second, func() bool { return acked(r.sim, r.inst, ids[1]) }) {
		return fmt.Sprintf("the replay %s of an event replayed right before it as %s was never acked", ids[1], ids[0]), nil
	}
	return "", nil
}

// probeAckBufferedPressForward (IDLE-015): a buffered passthrough_forward
// that presses a prompt button is acked.
func probeAckBufferedPressForward(ctx context.Context, env *probeEnv) (string, error) {
	var d simulator.Delivery
	r, err := startRig(ctx, env, rigOptions{platforms: []string{"discord"}, before: func(sim *simulator.Server, id string) error {
		body := `{"type":3,"id":"i-1","channel_id":"c-1","guild_id":"g-1","data":{"custom_id":"hp1:other.1234abcd:yes"},"member":{"user":{"id":"u-1"}},"message":{"id":"pm-1"}}`
		var err error
		d, err = sim.Passthrough(id, contract.Forward{Platform: "discord", Method: "POST", Path: "/interactions",
			Headers: [][2]string{{"Content-Type", "application/json"}}, Body: []byte(body)})
		if err == nil && d.BufferID == "" {
			err = fmt.Errorf("the forward was %s, not buffered", d.Mode)
		}
		return err
	}})
	if err != nil {
		return "", err
	}
	defer r.stop()
	if !waitFor(ctx, 8*time.Second, func() bool { return acked(r.sim, r.inst, d.BufferID) }) {
		return fmt.Sprintf("the buffered passthrough_forward %s (a prompt button press) was never acked", d.BufferID), nil
	}
	return "", nil
}

// probeIdenticalPendingActions (OUT-001): two sessions in one group chat
// send identical typing actions that are pending at once; their requestIds
// must differ.
func probeIdenticalPendingActions(ctx context.Context, env *probeEnv) (string, error) {
	r, err := startRig(ctx, env, rigOptions{platforms: []string{"telegram"}, before: func(sim *simulator.Server, id string) error {
		_, err := sim.Script(simulator.ResultScript{Op: contract.OpTyping, Delay: time.Second})
		return err
	}})
	if err != nil {
		return "", err
	}
	defer r.stop()
	chat := uniq("g")
	for _, u := range []string{"u1", "u2"} {
		if _, err := r.inject(groupEvent("telegram", chat, u, uniq("m"), "hello "+u)); err != nil {
			return "", err
		}
	}
	if !waitFor(ctx, 8*time.Second, func() bool { return len(r.actions(chat, contract.OpTyping)) >= 2 }) {
		return "", fmt.Errorf("two typing actions did not come: %d", len(r.actions(chat, contract.OpTyping)))
	}
	t := r.actions(chat, contract.OpTyping)
	if t[0].RequestID == t[1].RequestID {
		return fmt.Sprintf("two pending typing actions of two sessions share requestId %s", t[0].RequestID), nil
	}
	return "", nil
}

// narrowTelegram gives telegram a 64-character limit and only send and
// edit, unlike discord, the default platform.
func narrowTelegram(p string, d *contract.CapabilityDescriptor) {
	if p == "telegram" {
		d.MaxMessageLength, d.LenUnit = 64, contract.LenUnitChars
		d.SupportedOps = []string{contract.OpSend, contract.OpEdit}
		d.SupportsDraftStreaming = false
	}
}

// probeShapeByDestination (HS-022, OUT-031): toward telegram, the second
// platform with its own narrower descriptor, every action follows
// telegram's descriptor, not discord's.
func probeShapeByDestination(ctx context.Context, env *probeEnv) (string, error) {
	r, err := startRig(ctx, env, rigOptions{platforms: []string{"discord", "telegram"}, descriptor: narrowTelegram})
	if err != nil {
		return "", err
	}
	defer r.stop()
	chat := uniq("c")
	text := strings.TrimSpace(strings.Repeat("lorem ipsum ", 13))
	if _, err := r.inject(dmEvent("telegram", chat, "u", uniq("m"), text)); err != nil {
		return "", err
	}
	waitFor(ctx, 8*time.Second, func() bool {
		var all string
		for _, rec := range r.actions(chat, contract.OpSend) {
			all += content(rec)
		}
		return strings.Count(all, "lorem") >= 13
	})
	time.Sleep(quiet) // the turn's last actions (reactions)
	for _, rec := range r.actions(chat) {
		if rec.ResolvedPlatform != "telegram" {
			continue
		}
		if rec.Op != contract.OpSend && rec.Op != contract.OpEdit {
			return fmt.Sprintf("%s sent toward telegram, whose descriptor advertises only send and edit (the default discord one has it)", rec.Op), nil
		}
		if n := len([]rune(content(rec))); n > 64 {
			return fmt.Sprintf("a %s of %d characters toward telegram, whose max_message_length is 64 (discord's is 2000)", rec.Op, n), nil
		}
	}
	if len(r.actions(chat, contract.OpSend)) == 0 {
		return "", fmt.Errorf("no reply at all")
	}
	return "", nil
}

// probeDraftNeedsStreaming (HS-022): draft advertised without
// supports_draft_streaming is never sent.
func probeDraftNeedsStreaming(ctx context.Context, env *probeEnv) (string, error) {
	r, err := startRig(ctx, env, rigOptions{platforms: []string{"telegram"}, descriptor: func(p string, d *contract.CapabilityDescriptor) {
		if p == "telegram" {
			d.SupportsDraftStreaming = false
			if !slices.Contains(d.SupportedOps, contract.OpDraft) {
				d.SupportedOps = append(d.SupportedOps, contract.OpDraft)
			}
		}
	}})
	if err != nil {
		return "", err
	}
	defer r.stop()
	chat := uniq("c")
	if _, err := r.inject(dmEvent("telegram", chat, "u", uniq("m"), "/stream one two three")); err != nil {
		return "", err
	}
	waitFor(ctx, 8*time.Second, func() bool { return len(r.actions(chat, contract.OpSend, contract.OpDraft)) > 0 })
	time.Sleep(quiet)
	if n := len(r.actions(chat, contract.OpDraft)); n > 0 {
		return fmt.Sprintf("%d draft actions toward a descriptor with supports_draft_streaming false", n), nil
	}
	return "", nil
}

// probeSplitLimit (OUT-031): toward a 64-character limit every chunk of a
// split echo fits, decorations included: a code block of short lines (cut
// at line breaks, the fence closed and reopened), a code block of one long
// line (cut to the last character of the budget) and an echo one character
// over the limit.
func probeSplitLimit(ctx context.Context, env *probeEnv) (string, error) {
	r, err := startRig(ctx, env, rigOptions{platforms: []string{"telegram"}, descriptor: narrowTelegram})
	if err != nil {
		return "", err
	}
	defer r.stop()
	// The fences must start a line of the echo ("echo: " heads it).
	texts := []string{
		"code:\n```go\n" + strings.Repeat("x=1;\n", 40) + "```",
		"code:\n```go\n" + strings.Repeat("x", 300) + "\n```",
		strings.Repeat("y", 64-len("echo: ")+1),
	}
	var chats []string
	for _, text := range texts {
		chat := uniq("c")
		chats = append(chats, chat)
		if _, err := r.inject(dmEvent("telegram", chat, "u", uniq("m"), text)); err != nil {
			return "", err
		}
	}
	if !waitFor(ctx, 8*time.Second, func() bool {
		for _, c := range chats {
			if len(r.actions(c, contract.OpSend)) == 0 {
				return false
			}
		}
		return true
	}) {
		return "", fmt.Errorf("the echoes did not come")
	}
	time.Sleep(quiet)
	for _, rec := range r.actions("", contract.OpSend) {
		if n := len([]rune(content(rec))); n > 64 {
			return fmt.Sprintf("a chunk of %d characters, over max_message_length 64: %q", n, content(rec)), nil
		}
	}
	return "", nil
}

// groupKey is the contract's session key of a user in a group chat.
func groupKey(platform, chat, user string) string {
	return contract.SessionKey(contract.SessionSource{Platform: platform, ChatID: chat, ChatType: "group", UserID: user}, contract.DefaultSessionKeyOptions())
}

// probeInterruptGroupOneUser (IN-012): in a group chat, interrupting one
// user's turn leaves the other user's turn running to its reply.
func probeInterruptGroupOneUser(ctx context.Context, env *probeEnv) (string, error) {
	r, err := startRig(ctx, env, rigOptions{platforms: []string{"telegram"}})
	if err != nil {
		return "", err
	}
	defer r.stop()
	chat := uniq("g")
	m1, m2 := uniq("m1"), uniq("m2")
	if _, err := r.inject(groupEvent("telegram", chat, "u1", m1, "/slow 2500")); err != nil {
		return "", err
	}
	if _, err := r.inject(groupEvent("telegram", chat, "u2", m2, "/slow 2500")); err != nil {
		return "", err
	}
	time.Sleep(500 * time.Millisecond) // both turns are in their delay
	if _, err := r.sim.Interrupt(r.id, groupKey("telegram", chat, "u1"), chat); err != nil {
		return "", err
	}
	replied := func(mid string) bool {
		for _, rec := range r.actions(chat, contract.OpSend) {
			if actionField(rec, "reply_to") == mid {
				return true
			}
		}
		return false
	}
	if !waitFor(ctx, 8*time.Second, func() bool { return replied(m2) }) {
		return "interrupting user u1's session in a group chat cancelled user u2's turn too: it never replied", nil
	}
	return "", nil
}

// probeInterruptKeyGroup (SKEY-001): /interrupt in a group chat sends the
// contract's session key, the user included.
func probeInterruptKeyGroup(ctx context.Context, env *probeEnv) (string, error) {
	r, err := startRig(ctx, env, rigOptions{platforms: []string{"telegram"}})
	if err != nil {
		return "", err
	}
	defer r.stop()
	chat := uniq("g")
	if _, err := r.inject(groupEvent("telegram", chat, "u1", uniq("m"), "/interrupt")); err != nil {
		return "", err
	}
	if !waitFor(ctx, 8*time.Second, func() bool { return len(r.sim.Interrupts(r.id)) > 0 }) {
		return "", fmt.Errorf("no interrupt frame")
	}
	got, want := r.sim.Interrupts(r.id)[0].SessionKey, groupKey("telegram", chat, "u1")
	if got != want {
		return fmt.Sprintf("the interrupt of a group chat's session carries session_key %s, want %s", got, want), nil
	}
	return "", nil
}

// probeDedupePerChat (IN-010): two events of two chats with the same
// platform message id are both handled.
func probeDedupePerChat(ctx context.Context, env *probeEnv) (string, error) {
	r, err := startRig(ctx, env, rigOptions{platforms: []string{"telegram"}})
	if err != nil {
		return "", err
	}
	defer r.stop()
	a, b := uniq("ca"), uniq("cb")
	if _, err := r.inject(dmEvent("telegram", a, "u", "42", "first")); err != nil {
		return "", err
	}
	if !waitFor(ctx, 8*time.Second, func() bool { return len(r.actions(a, contract.OpSend)) > 0 }) {
		return "", fmt.Errorf("no echo in the first chat")
	}
	if _, err := r.inject(dmEvent("telegram", b, "u", "42", "second")); err != nil {
		return "", err
	}
	if !waitFor(ctx, 5*time.Second, func() bool { return len(r.actions(b, contract.OpSend)) > 0 }) {
		return "an event of another chat with the same message id was dropped as a replay", nil
	}
	return "", nil
}

// probeDedupeMemory (IN-010): a replay of an event admitted 100 events ago
// is still dropped.
func probeDedupeMemory(ctx context.Context, env *probeEnv) (string, error) {
	r, err := startRig(ctx, env, rigOptions{platforms: []string{"whatsapp"}})
	if err != nil {
		return "", err
	}
	defer r.stop()
	chat, mid := uniq("c"), uniq("m0")
	ev := dmEvent("whatsapp", chat, "u", mid, "hello")
	if _, err := r.inject(ev); err != nil {
		return "", err
	}
	if !waitFor(ctx, 8*time.Second, func() bool { return len(r.actions(chat, contract.OpSend)) > 0 }) {
		return "", fmt.Errorf("no echo")
	}
	for i := 0; i < 100; i++ { // empty texts: admitted, nothing echoed
		if _, err := r.inject(dmEvent("whatsapp", uniq("f"), "u", uniq("mf"), "")); err != nil {
			return "", err
		}
	}
	time.Sleep(quiet)
	if _, err := r.inject(ev); err != nil {
		return "", err
	}
	if waitFor(ctx, 3*time.Second, func() bool { return len(r.actions(chat, contract.OpSend)) > 1 }) {
		return "a replay of an event admitted 100 events earlier was handled again (the replay memory holds fewer than 512 events)", nil
	}
	return "", nil
}

// recordingProxy forwards everything to the simulator and records which
// paths were requested with an Authorization header.
type recordingProxy struct {
	url  string
	srv  *http.Server
	mu   sync.Mutex
	seen map[string]bool // path -> carried Authorization
}

func newRecordingProxy(target string) (*recordingProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &recordingProxy{url: "http://" + ln.Addr().String(), seen: map[string]bool{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = nil
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.seen[r.URL.Path] = p.seen[r.URL.Path] || r.Header.Get("Authorization") != ""
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 5 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

func (p *recordingProxy) close() { p.srv.Close() }

func (p *recordingProxy) request(path string) (seen, bearer bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	bearer, seen = p.seen[path]
	return seen, bearer
}

// probeDownloadBearerPath (HTTP-022): the bearer goes with a download from
// the connector's /relay/media/ only, not from another path of its host.
func probeDownloadBearerPath(ctx context.Context, env *probeEnv) (string, error) {
	r, err := startRig(ctx, env, rigOptions{platforms: []string{"telegram"}, proxy: true})
	if err != nil {
		return "", err
	}
	defer r.stop()
	media := contract.PathMedia + "/" + strings.Repeat("ab", 16)
	other := "/not-media/" + uniq("file")
	ev := dmEvent("telegram", uniq("c"), "u", uniq("m"), "/attachments")
	ev["media_urls"] = []string{r.proxy.url + media, r.proxy.url + other}
	if _, err := r.inject(ev); err != nil {
		return "", err
	}
	if !waitFor(ctx, 8*time.Second, func() bool { s1, _ := r.proxy.request(media); s2, _ := r.proxy.request(other); return s1 && s2 }) {
		return "", fmt.Errorf("the gateway did not download both attachments")
	}
	if _, b := r.proxy.request(media); !b {
		return "", fmt.Errorf("the re-host download carried no bearer either")
	}
	if _, b := r.proxy.request(other); b {
		return fmt.Sprintf("the gateway sent its bearer with a download from %s on the connector's host, outside /relay/media/", other), nil
	}
	return "", nil
}

// probeDecline runs cmd against a connector that declines op, and reports
// a send whose content contains leak.
func probeDecline(ctx context.Context, env *probeEnv, op, cmd, leak string) (string, error) {
	r, err := startRig(ctx, env, rigOptions{platforms: []string{"telegram"}, before: func(sim *simulator.Server, id string) error {
		_, err := sim.Script(simulator.ResultScript{Op: op, EgressDeclined: true})
		return err
	}})
	if err != nil {
		return "", err
	}
	defer r.stop()
	chat := uniq("c")
	if _, err := r.inject(dmEvent("telegram", chat, "u", uniq("m"), cmd)); err != nil {
		return "", err
	}
	if !waitFor(ctx, 8*time.Second, func() bool { return len(r.actions(chat, op)) > 0 }) {
		return "", fmt.Errorf("no %s action", op)
	}
	time.Sleep(2 * quiet)
	for _, rec := range r.actions(chat, contract.OpSend) {
		if strings.Contains(content(rec), leak) {
			return fmt.Sprintf("after %s was declined, its content went out again through send: %q", op, content(rec)), nil
		}
	}
	return "", nil
}

func probeMediaDecline(ctx context.Context, env *probeEnv) (string, error) {
	return probeDecline(ctx, env, contract.OpSendMedia, "/media", contract.PathMedia+"/")
}

func probePromptDecline(ctx context.Context, env *probeEnv) (string, error) {
	return probeDecline(ctx, env, contract.OpPrompt, "/prompt", "1. Apple")
}

// probeHellosWithoutDescriptor (HS-003): the gateway sends its hellos for
// all identities without waiting for a descriptor; this connector never
// answers.
func probeHellosWithoutDescriptor(ctx context.Context, env *probeEnv) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	var mu sync.Mutex
	var hellos []string
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != contract.PathRelay {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"ok":true}`)
			return
		}
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		var split contract.LineSplitter
		for {
			_, msg, err := ws.Read(r.Context())
			if err != nil {
				return
			}
			split.Feed(msg, func(line []byte) error {
				var f struct{ Type, Platform string }
				if json.Unmarshal(line, &f) == nil && f.Type == "hello" {
					mu.Lock()
					hellos = append(hellos, f.Platform)
					mu.Unlock()
				}
				return nil
			})
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()
	home, err := os.MkdirTemp("", "mutation-probe-home-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(home)
	r := &rig{done: make(chan struct{})}
	envv := gatewayEnv([]string{"GATEWAY_RELAY_URL=ws://" + ln.Addr().String() + contract.PathRelay, "GATEWAY_RELAY_ID=gw-raw",
		"GATEWAY_RELAY_SECRET=raw-secret", "GATEWAY_RELAY_PLATFORMS=telegram,discord"}, home)
	if err := r.startGateway(env, envv); err != nil {
		return "", err
	}
	defer r.stop()
	waitFor(ctx, 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(hellos) >= 2 })
	mu.Lock()
	defer mu.Unlock()
	if len(hellos) < 2 {
		return fmt.Sprintf("a gateway with identities telegram and discord sent hellos %v to a connector that has not answered, want both without waiting", hellos), nil
	}
	return "", nil
}

// probeMetadataThread (OUT-028): a reply in a threaded conversation carries
// no metadata key starting with "_".
func probeMetadataThread(ctx context.Context, env *probeEnv) (string, error) {
	r, err := startRig(ctx, env, rigOptions{platforms: []string{"telegram"}})
	if err != nil {
		return "", err
	}
	defer r.stop()
	chat := uniq("g")
	ev := groupEvent("telegram", chat, "u", uniq("m"), "in a thread")
	ev["source"].(map[string]any)["thread_id"] = uniq("th")
	if _, err := r.inject(ev); err != nil {
		return "", err
	}
	if !waitFor(ctx, 8*time.Second, func() bool { return len(r.actions(chat, contract.OpSend)) > 0 }) {
		return "", fmt.Errorf("no reply")
	}
	time.Sleep(quiet)
	for _, rec := range r.actions(chat) {
		md, _ := actionField(rec, "metadata").(map[string]any)
		for k := range md {
			if strings.HasPrefix(k, "_") {
				return fmt.Sprintf("a %s action's metadata carries the internal key %s", rec.Op, k), nil
			}
		}
	}
	return "", nil
}
