package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// Connector probes: each drives the relaysim binary under test through its
// relay endpoint, its contract HTTP routes and its control API, and
// returns a violation of the requirement it checks, "" when the connector
// behaves.

var seq struct {
	mu sync.Mutex
	n  int
}

// uniq returns a fresh id with prefix, so probes never collide.
func uniq(prefix string) string {
	seq.mu.Lock()
	defer seq.mu.Unlock()
	seq.n++
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e6, seq.n)
}

// probeInterruptOtherInstance (IN-011): two gateways of one tenant, each its
// own instance; B delivered a DM, A sends the interrupt for it; B must get
// interrupt_inbound with the key and the chat.
func probeInterruptOtherInstance(ctx context.Context, e *probeEnv) (string, error) {
	a, err := e.enroll(ctx, map[string]any{"gatewayId": uniq("gw-a"), "platforms": []string{"telegram"}})
	if err != nil {
		return "", err
	}
	b, err := e.enroll(ctx, map[string]any{"gatewayId": uniq("gw-b"), "platforms": []string{"telegram"}})
	if err != nil {
		return "", err
	}
	pa, err := e.dial(ctx, a, 1, "telegram")
	if err != nil {
		return "", err
	}
	defer pa.close()
	pb, err := e.dial(ctx, b, 1, "telegram")
	if err != nil {
		return "", err
	}
	defer pb.close()
	chat := uniq("chat")
	ev := dmEvent("telegram", chat, "u1", uniq("m"), "hello")
	if _, err := e.inject(ctx, b.ID, ev, false); err != nil {
		return "", err
	}
	if _, ok := pb.await(ctx, 5*time.Second, 0, ofType("inbound")); !ok {
		return "", fmt.Errorf("gateway B got no inbound: %v", pb.frameTypes())
	}
	key := contract.SessionKey(contract.SessionSource{Platform: "telegram", ChatID: chat, ChatType: "dm", UserID: "u1"}, contract.DefaultSessionKeyOptions())
	if err := pa.send(map[string]any{"type": "interrupt", "session_key": key, "reason": nil}); err != nil {
		return "", err
	}
	f, ok := pb.await(ctx, 3*time.Second, 0, ofType("interrupt_inbound"))
	if !ok {
		return fmt.Sprintf("gateway A's interrupt for %s, owned by gateway B of the same tenant, never reached B (A got %v)", key, pa.frameTypes()), nil
	}
	if str(f, "session_key") != key || str(f, "chat_id") != chat {
		return fmt.Sprintf("B got interrupt_inbound %v, want session_key %s and chat_id %s", f, key, chat), nil
	}
	return "", nil
}

// probeInterruptGroup (SKEY-003, IN-011): two users write in one group
// chat; the gateway interrupts each user's session by the contract's key;
// each interrupt must come back as interrupt_inbound.
func probeInterruptGroup(ctx context.Context, e *probeEnv) (string, error) {
	g, p, err := e.telegramGateway(ctx)
	if err != nil {
		return "", err
	}
	defer p.close()
	chat := uniq("group")
	for i, u := range []string{"u1", "u2"} {
		if _, err := e.inject(ctx, g.ID, groupEvent("telegram", chat, u, uniq("m"), "hi"), false); err != nil {
			return "", err
		}
		if _, ok := p.await(ctx, 5*time.Second, i, ofType("inbound")); !ok {
			return "", fmt.Errorf("inbound %d did not come", i+1)
		}
	}
	for i, u := range []string{"u1", "u2"} {
		key := contract.SessionKey(contract.SessionSource{Platform: "telegram", ChatID: chat, ChatType: "group", UserID: u}, contract.DefaultSessionKeyOptions())
		if err := p.send(map[string]any{"type": "interrupt", "session_key": key, "reason": "stop"}); err != nil {
			return "", err
		}
		f, ok := p.await(ctx, 3*time.Second, i, ofType("interrupt_inbound"))
		if !ok {
			return fmt.Sprintf("the interrupt for %s (user %s of a group chat the connector delivered) was dropped", key, u), nil
		}
		if str(f, "session_key") != key {
			return fmt.Sprintf("interrupt_inbound %v, want session_key %s", f, key), nil
		}
	}
	return "", nil
}

// bufferAway injects events for a gateway with no socket, so they are
// buffered, and returns their message ids.
func (e *probeEnv) bufferAway(ctx context.Context, g gwCreds, events ...map[string]any) ([]string, error) {
	var ids []string
	for _, ev := range events {
		d, err := e.inject(ctx, g.ID, ev, false)
		if err != nil {
			return nil, err
		}
		if d.Mode != "buffered" {
			return nil, fmt.Errorf("an event for a gateway with no socket was %s, not buffered", d.Mode)
		}
		ids = append(ids, ev["message_id"].(string))
	}
	return ids, nil
}

// probeDrainOutOfOrderAck (IDLE-010): three entries replayed; the gateway
// acks the second only and leaves; the next connection must replay exactly
// the first and the third.
func probeDrainOutOfOrderAck(ctx context.Context, e *probeEnv) (string, error) {
	g, err := e.enroll(ctx, map[string]any{"gatewayId": uniq("gw"), "platforms": []string{"telegram"}})
	if err != nil {
		return "", err
	}
	chat := uniq("chat")
	ids, err := e.bufferAway(ctx, g, dmEvent("telegram", chat, "u", uniq("m1"), "one"),
		dmEvent("telegram", chat, "u", uniq("m2"), "two"), dmEvent("telegram", chat, "u", uniq("m3"), "three"))
	if err != nil {
		return "", err
	}
	p, err := e.dial(ctx, g, 1, "telegram")
	if err != nil {
		return "", err
	}
	bufs := map[string]string{} // message id -> bufferId
	for _, id := range ids {
		f, ok := p.await(ctx, 5*time.Second, 0, inboundFor(id))
		if !ok {
			p.close()
			return "", fmt.Errorf("replay of %s did not come: %v", id, p.frameTypes())
		}
		bufs[id] = str(f, "bufferId")
	}
	if err := p.send(map[string]any{"type": "inbound_ack", "bufferId": bufs[ids[1]]}); err != nil {
		return "", err
	}
	// The ack is processed before the close the connector reads after it.
	time.Sleep(200 * time.Millisecond)
	p.close()
	time.Sleep(200 * time.Millisecond)
	p2, err := e.dial(ctx, g, 1, "telegram")
	if err != nil {
		return "", err
	}
	defer p2.close()
	p2.await(ctx, quiet, 2, ofType("inbound")) // collect for a while
	var got []string
	for _, f := range p2.matching(ofType("inbound")) {
		ev, _ := f["event"].(map[string]any)
		got = append(got, str(ev, "message_id"))
	}
	want := []string{ids[0], ids[2]}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		return fmt.Sprintf("after acking only the second of three replays, the next connection replayed %v, want %v (the unacked first and third)", got, want), nil
	}
	return "", nil
}

// probeDrainOtherPlatform (IN-007): a backlog over two platforms; a socket
// that helloed only discord must not get the telegram entry.
func probeDrainOtherPlatform(ctx context.Context, e *probeEnv) (string, error) {
	g, err := e.enroll(ctx, map[string]any{"gatewayId": uniq("gw"), "platforms": []string{"telegram", "discord"}})
	if err != nil {
		return "", err
	}
	tg, dc := uniq("m-tg"), uniq("m-dc")
	if _, err := e.bufferAway(ctx, g, dmEvent("telegram", uniq("c"), "u", tg, "tg"), dmEvent("discord", uniq("c"), "u", dc, "dc")); err != nil {
		return "", err
	}
	p, err := e.dial(ctx, g, 1, "discord")
	if err != nil {
		return "", err
	}
	defer p.close()
	if _, ok := p.await(ctx, 5*time.Second, 0, inboundFor(dc)); !ok {
		return "", fmt.Errorf("the discord entry was not replayed: %v", p.frameTypes())
	}
	if _, ok := p.await(ctx, quiet, 0, inboundFor(tg)); ok {
		return "a socket that helloed only discord got the buffered telegram event", nil
	}
	return "", nil
}

// probeLiveUnhelloedPlatform (IN-007): a gateway provisioned for telegram
// and discord helloes only discord; a telegram event must not arrive on
// that socket.
func probeLiveUnhelloedPlatform(ctx context.Context, e *probeEnv) (string, error) {
	g, err := e.enroll(ctx, map[string]any{"gatewayId": uniq("gw"), "platforms": []string{"telegram", "discord"}})
	if err != nil {
		return "", err
	}
	p, err := e.dial(ctx, g, 1, "discord")
	if err != nil {
		return "", err
	}
	defer p.close()
	tg := uniq("m-tg")
	if _, err := e.inject(ctx, g.ID, dmEvent("telegram", uniq("c"), "u", tg, "tg"), false); err != nil {
		return "", err
	}
	if _, ok := p.await(ctx, quiet, 0, inboundFor(tg)); ok {
		return "a telegram event was delivered on a socket that helloed only discord", nil
	}
	return "", nil
}

// probeLiveWhileDrainUnacked (IDLE-012): a drain has sent a telegram entry
// that is not acked; a new discord event must not be delivered live.
func probeLiveWhileDrainUnacked(ctx context.Context, e *probeEnv) (string, error) {
	g, err := e.enroll(ctx, map[string]any{"gatewayId": uniq("gw"), "platforms": []string{"telegram", "discord"}})
	if err != nil {
		return "", err
	}
	tg := uniq("m-tg")
	if _, err := e.bufferAway(ctx, g, dmEvent("telegram", uniq("c"), "u", tg, "tg")); err != nil {
		return "", err
	}
	p, err := e.dial(ctx, g, 2, "telegram", "discord")
	if err != nil {
		return "", err
	}
	defer p.close()
	if _, ok := p.await(ctx, 5*time.Second, 0, inboundFor(tg)); !ok {
		return "", fmt.Errorf("the telegram entry was not replayed: %v", p.frameTypes())
	}
	dc := uniq("m-dc")
	if _, err := e.inject(ctx, g.ID, dmEvent("discord", uniq("c"), "u", dc, "dc"), false); err != nil {
		return "", err
	}
	f, ok := p.await(ctx, quiet, 0, inboundFor(dc))
	if ok && str(f, "bufferId") == "" {
		return "a discord event was delivered live while the drain's telegram entry was still unacked", nil
	}
	return "", nil
}

// forwardJSON is a Discord component interaction forward.
func forwardJSON(platform string) map[string]any {
	return map[string]any{"platform": platform, "botId": "bot-" + platform, "method": "POST", "path": "/interactions",
		"headers": [][2]string{{"Content-Type", "application/json"}}, "bodyB64": base64.StdEncoding.EncodeToString([]byte(`{"type":1}`))}
}

// probeBufferedForward (IDLE-007, IDLE-009): a forward for a gateway with
// no socket is buffered and replayed as a passthrough_forward.
func probeBufferedForward(ctx context.Context, e *probeEnv) (string, error) {
	g, err := e.enroll(ctx, map[string]any{"gatewayId": uniq("gw"), "platforms": []string{"discord"}})
	if err != nil {
		return "", err
	}
	var d delivery
	if err := e.ctl(ctx, http.MethodPost, "passthrough", map[string]any{"gatewayId": g.ID, "forward": forwardJSON("discord")}, &d); err != nil {
		return "", err
	}
	if d.Mode != "buffered" {
		return fmt.Sprintf("a passthrough_forward for a gateway with no socket was %s (%s), not buffered", d.Mode, d.Reason), nil
	}
	p, err := e.dial(ctx, g, 1, "discord")
	if err != nil {
		return "", err
	}
	defer p.close()
	f, ok := p.await(ctx, 5*time.Second, 0, func(f map[string]any) bool { return str(f, "bufferId") == d.BufferID })
	if !ok {
		return fmt.Sprintf("the buffered forward %s was not replayed: %v", d.BufferID, p.frameTypes()), nil
	}
	if f["type"] != "passthrough_forward" {
		return fmt.Sprintf("the buffered forward was replayed as %q, not passthrough_forward", f["type"]), nil
	}
	return "", nil
}

// probeSecondGoingIdle (IDLE-004): two going_idle on one connection get two
// going_idle_ack.
func probeSecondGoingIdle(ctx context.Context, e *probeEnv) (string, error) {
	_, p, err := e.telegramGateway(ctx)
	if err != nil {
		return "", err
	}
	defer p.close()
	for i := 0; i < 2; i++ {
		if err := p.send(map[string]any{"type": "going_idle"}); err != nil {
			return "", err
		}
		if _, ok := p.await(ctx, 3*time.Second, i, ofType("going_idle_ack")); !ok {
			return fmt.Sprintf("going_idle number %d on one connection got no going_idle_ack", i+1), nil
		}
	}
	return "", nil
}

// wakeSink records wake requests.
type wakeSink struct {
	url  string
	srv  *http.Server
	mu   sync.Mutex
	reqs []*http.Request
	body []int
}

func newWakeSink() (*wakeSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w := &wakeSink{url: "http://" + ln.Addr().String() + "/wake"}
	w.srv = &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		n, _ := r.Body.Read(make([]byte, 1))
		w.mu.Lock()
		w.reqs = append(w.reqs, r)
		w.body = append(w.body, n)
		w.mu.Unlock()
		rw.WriteHeader(http.StatusNoContent)
	}), ReadHeaderTimeout: 5 * time.Second}
	go w.srv.Serve(ln)
	return w, nil
}

func (w *wakeSink) close() { w.srv.Close() }

func (w *wakeSink) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.reqs)
}

// goneIdle enrolls a gateway with a wake URL, flips it and closes its
// socket, as a gateway that scales to zero does.
func (e *probeEnv) goneIdle(ctx context.Context, wakeURL string) (gwCreds, error) {
	g, err := e.enroll(ctx, map[string]any{"gatewayId": uniq("gw"), "platforms": []string{"telegram"}, "wakeUrl": wakeURL})
	if err != nil {
		return g, err
	}
	p, err := e.dial(ctx, g, 1, "telegram")
	if err != nil {
		return g, err
	}
	if err := p.send(map[string]any{"type": "going_idle"}); err != nil {
		return g, err
	}
	if _, ok := p.await(ctx, 3*time.Second, 0, ofType("going_idle_ack")); !ok {
		return g, fmt.Errorf("no going_idle_ack")
	}
	p.close()
	time.Sleep(200 * time.Millisecond)
	return g, nil
}

// probeWakeBare (WAKE-002): the wake request is a body-less GET with no
// credentials and no signature.
func probeWakeBare(ctx context.Context, e *probeEnv) (string, error) {
	w, err := newWakeSink()
	if err != nil {
		return "", err
	}
	defer w.close()
	g, err := e.goneIdle(ctx, w.url)
	if err != nil {
		return "", err
	}
	if _, err := e.inject(ctx, g.ID, dmEvent("telegram", uniq("c"), "u", uniq("m"), "wake up"), false); err != nil {
		return "", err
	}
	deadline := time.Now().Add(5 * time.Second)
	for w.count() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.reqs) == 0 {
		return "no wake request for the first event buffered by a flipped instance with a wake URL", nil
	}
	r := w.reqs[0]
	if r.Method != http.MethodGet || w.body[0] > 0 {
		return fmt.Sprintf("the wake request is %s with a body of %d+ bytes, not a body-less GET", r.Method, w.body[0]), nil
	}
	for name := range r.Header {
		switch http.CanonicalHeaderKey(name) {
		case "User-Agent", "Accept-Encoding", "Content-Length":
		default:
			return fmt.Sprintf("the wake request carries header %s (no credentials, no signature allowed)", name), nil
		}
	}
	return "", nil
}

// probeWakeCooldown (WAKE-003): three events buffered within the cooldown
// make one wake request.
func probeWakeCooldown(ctx context.Context, e *probeEnv) (string, error) {
	w, err := newWakeSink()
	if err != nil {
		return "", err
	}
	defer w.close()
	g, err := e.goneIdle(ctx, w.url)
	if err != nil {
		return "", err
	}
	for i := 0; i < 3; i++ {
		if _, err := e.inject(ctx, g.ID, dmEvent("telegram", uniq("c"), "u", uniq("m"), "wake up"), false); err != nil {
			return "", err
		}
	}
	time.Sleep(quiet) // relaysim's clock is manual: the cooldown cannot end meanwhile
	if n := w.count(); n != 1 {
		return fmt.Sprintf("%d wake requests for three events buffered within one cooldown window, want 1", n), nil
	}
	return "", nil
}

// declare posts a relevance policy with an upgrade token.
func (e *probeEnv) declare(ctx context.Context, g gwCreds, pol map[string]any) error {
	status, err := call(ctx, http.MethodPost, e.sim.url+contract.PathPolicy, token(g), pol, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("policy declaration answered %d", status)
	}
	return nil
}

// probePolicyReplaced (HTTP-014): a second declaration replaces the first
// whole: a scope it dropped no longer lets unaddressed events through.
func probePolicyReplaced(ctx context.Context, e *probeEnv) (string, error) {
	g, err := e.enroll(ctx, map[string]any{"gatewayId": uniq("gw"), "platforms": []string{"discord"}})
	if err != nil {
		return "", err
	}
	c1, c2 := uniq("c1"), uniq("c2")
	for _, scope := range []string{c1, c2} {
		if err := e.declare(ctx, g, map[string]any{"platform": "discord", "requireAddress": true, "freeResponseScopes": []string{scope}, "allowOtherBots": false}); err != nil {
			return "", err
		}
	}
	d, err := e.inject(ctx, g.ID, groupEvent("discord", c1, "u", uniq("m"), "unaddressed"), false)
	if err != nil {
		return "", err
	}
	if d.Mode != "filtered" {
		return fmt.Sprintf("an unaddressed event in %s was %s after a second policy replaced freeResponseScopes [%s] by [%s]", c1, d.Mode, c1, c2), nil
	}
	return "", nil
}

// probeBotDM (HTTP-016): a DM from a bot passes the default policy.
func probeBotDM(ctx context.Context, e *probeEnv) (string, error) {
	g, err := e.enroll(ctx, map[string]any{"gatewayId": uniq("gw"), "platforms": []string{"discord"}})
	if err != nil {
		return "", err
	}
	ev := dmEvent("discord", uniq("c"), "bot-7", uniq("m"), "beep")
	ev["source"].(map[string]any)["is_bot"] = true
	d, err := e.inject(ctx, g.ID, ev, false)
	if err != nil {
		return "", err
	}
	if d.Mode == "filtered" {
		return "a DM from a bot was filtered (" + d.Reason + "); a DM always passes", nil
	}
	return "", nil
}

// probePolicyScopeID (HTTP-016): an unaddressed event whose scope_id is a
// free-response scope passes requireAddress.
func probePolicyScopeID(ctx context.Context, e *probeEnv) (string, error) {
	g, err := e.enroll(ctx, map[string]any{"gatewayId": uniq("gw"), "platforms": []string{"discord"}})
	if err != nil {
		return "", err
	}
	guild := uniq("guild")
	if err := e.declare(ctx, g, map[string]any{"platform": "discord", "requireAddress": true, "freeResponseScopes": []string{guild}, "allowOtherBots": false}); err != nil {
		return "", err
	}
	ev := groupEvent("discord", uniq("chan"), "u", uniq("m"), "unaddressed")
	ev["source"].(map[string]any)["scope_id"] = guild
	d, err := e.inject(ctx, g.ID, ev, false)
	if err != nil {
		return "", err
	}
	if d.Mode == "filtered" {
		return "an unaddressed event whose scope_id is a free-response scope was filtered", nil
	}
	return "", nil
}

// provision posts a provision request with an identity bearer.
func (e *probeEnv) provision(ctx context.Context, identity, gatewayID, platform string) (int, contract.ProvisionResponse, error) {
	var resp contract.ProvisionResponse
	body := map[string]any{"gatewayId": gatewayID, "platform": platform, "botId": "bot-" + platform, "gatewayEndpoint": "", "routeKeys": []string{}}
	status, err := call(ctx, http.MethodPost, e.sim.url+contract.PathProvision, identity, body, &resp)
	return status, resp, err
}

// probeProvisionOtherTenant (HTTP-012): provisioning a gateway id of
// another tenant is a 409, never that gateway's secret.
func probeProvisionOtherTenant(ctx context.Context, e *probeEnv) (string, error) {
	id := uniq("gw-p")
	status, first, err := e.provision(ctx, identityToken, id, "telegram")
	if err != nil || status != http.StatusOK {
		return "", fmt.Errorf("provision: %d %v", status, err)
	}
	status, second, err := e.provision(ctx, probeIdentityB, id, "telegram")
	if err != nil {
		return "", err
	}
	if status != http.StatusConflict {
		leak := ""
		if second.Secret != "" && second.Secret == first.Secret {
			leak = ", with the other tenant's secret"
		}
		return fmt.Sprintf("provisioning gateway id %s, which belongs to another tenant, answered %d%s, want 409", id, status, leak), nil
	}
	return "", nil
}

// probeReprovisionSameSecret (HTTP-012): provisioning a gateway id again
// for another platform returns the same secret.
func probeReprovisionSameSecret(ctx context.Context, e *probeEnv) (string, error) {
	id := uniq("gw-p")
	s1, first, err := e.provision(ctx, identityToken, id, "telegram")
	if err != nil || s1 != http.StatusOK {
		return "", fmt.Errorf("provision: %d %v", s1, err)
	}
	s2, second, err := e.provision(ctx, identityToken, id, "discord")
	if err != nil || s2 != http.StatusOK {
		return "", fmt.Errorf("provision again: %d %v", s2, err)
	}
	if first.Secret != second.Secret {
		return "provisioning a gateway id again for another platform returned a different secret", nil
	}
	return "", nil
}

// probeEnrollOtherTenant (HTTP-013): an enrollment token of another tenant
// is answered 403.
func probeEnrollOtherTenant(ctx context.Context, e *probeEnv) (string, error) {
	var tok struct {
		Token string `json:"token"`
	}
	if err := e.ctl(ctx, http.MethodPost, "enrollment-tokens", map[string]any{"tenant": probeTenantB}, &tok); err != nil {
		return "", err
	}
	status, err := call(ctx, http.MethodPost, e.sim.url+contract.PathEnroll, identityToken,
		map[string]any{"enrollmentToken": tok.Token, "gatewayId": uniq("gw-e")}, nil)
	if err != nil {
		return "", err
	}
	if status != http.StatusForbidden {
		return fmt.Sprintf("an enrollment token of tenant %s redeemed with a bearer of another tenant answered %d, want 403", probeTenantB, status), nil
	}
	return "", nil
}

// probeFrameCap (TRN-018): an event just under 1 MiB is either refused or
// delivered in a frame of at most 1 MiB.
func probeFrameCap(ctx context.Context, e *probeEnv) (string, error) {
	g, p, err := e.telegramGateway(ctx)
	if err != nil {
		return "", err
	}
	defer p.close()
	id := uniq("m")
	ev := dmEvent("telegram", uniq("c"), "u", id, "")
	compact, _ := json.Marshal(ev)
	ev["text"] = strings.Repeat("x", contract.MaxFrameSize-10-len(compact))
	var d json.RawMessage
	status, err := call(ctx, http.MethodPost, e.sim.url+"/_relaysim/inbound", "", map[string]any{"gatewayId": g.ID, "event": ev}, &d)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", nil // refused: nothing over the cap goes out
	}
	if _, ok := p.await(ctx, 5*time.Second, 0, inboundFor(id)); !ok {
		return "", fmt.Errorf("the accepted event did not arrive")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, f := range p.frames {
		if inboundFor(id)(f) && p.sizes[i] > contract.MaxFrameSize {
			return fmt.Sprintf("an inbound frame of %d bytes (without its newline), over the 1 MiB cap", p.sizes[i]), nil
		}
	}
	return "", nil
}

// outbound sends an outbound frame and waits for its result.
func outbound(ctx context.Context, p *peer, platform string, action map[string]any) (map[string]any, error) {
	rid := strings.ReplaceAll(uniq("r"), "-", "")
	f := map[string]any{"type": "outbound", "requestId": rid, "action": action}
	if platform != "" {
		f["platform"] = platform
	}
	if err := p.send(f); err != nil {
		return nil, err
	}
	res, ok := p.await(ctx, 5*time.Second, 0, func(f map[string]any) bool { return f["type"] == "outbound_result" && f["requestId"] == rid })
	if !ok {
		return nil, fmt.Errorf("no outbound_result for %s", rid)
	}
	r, _ := res["result"].(map[string]any)
	return r, nil
}

// probeGateDestination (OUT-009): an op the destination's descriptor
// advertises succeeds although the default platform's does not.
func probeGateDestination(ctx context.Context, e *probeEnv) (string, error) {
	g, err := e.enroll(ctx, map[string]any{"gatewayId": uniq("gw"), "platforms": []string{"discord", "telegram"}})
	if err != nil {
		return "", err
	}
	p, err := e.dial(ctx, g, 2, "discord", "telegram")
	if err != nil {
		return "", err
	}
	defer p.close()
	var descs []map[string]any
	for _, f := range p.matching(ofType("descriptor")) {
		d, _ := f["descriptor"].(map[string]any)
		descs = append(descs, d)
	}
	advertises := func(d map[string]any, op string) bool {
		ops, _ := d["supported_ops"].([]any)
		for _, o := range ops {
			if o == op {
				return true
			}
		}
		return false
	}
	if advertises(descs[0], contract.OpDraft) || !advertises(descs[1], contract.OpDraft) || descs[1]["supports_draft_streaming"] != true {
		return "", fmt.Errorf("the probe needs discord without draft and telegram with draft streaming: %v", descs)
	}
	r, err := outbound(ctx, p, "telegram", map[string]any{"op": "draft", "chat_id": uniq("c"), "draft_id": 7, "content": "hi", "final": true, "metadata": map[string]any{}})
	if err != nil {
		return "", err
	}
	if r["success"] != true {
		return fmt.Sprintf("a draft tagged telegram, whose descriptor advertises draft, was refused (%v): gated on the default discord descriptor", r), nil
	}
	return "", nil
}

// probeRenameCondition (OUT-026): a conditional rename whose condition does
// not hold is answered success:true.
func probeRenameCondition(ctx context.Context, e *probeEnv) (string, error) {
	g, err := e.enroll(ctx, map[string]any{"gatewayId": uniq("gw"), "platforms": []string{"discord"}})
	if err != nil {
		return "", err
	}
	p, err := e.dial(ctx, g, 1, "discord")
	if err != nil {
		return "", err
	}
	defer p.close()
	r, err := outbound(ctx, p, "discord", map[string]any{"op": "thread_rename", "chat_id": uniq("c"), "message_id": uniq("th-not-ours"),
		"thread_name": "renamed", "only_if_connector_created": true, "metadata": map[string]any{}})
	if err != nil {
		return "", err
	}
	if r["success"] != true {
		return fmt.Sprintf("a thread_rename with only_if_connector_created for a thread the connector did not create was answered %v, want success:true", r), nil
	}
	return "", nil
}
