package simulator_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

func TestInjectLiveCanonicalFrame(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	g := dialGW(t, s, "gw1")
	g.hello("discord")
	// Spaces and key order as a Python connector would write them; the
	// simulator relays the event compacted, byte for byte what
	// contract.EncodeFrame writes.
	ev := json.RawMessage(`{"text": "h\u00e9 \ud83d\ude00", "source": {"platform": "discord", "chat_id": "c1", "chat_type": "dm", "user_id": "u1"}, "message_id": "m1"}`)
	d := inject(t, s, "gw1", ev)
	if d.Mode != simulator.DeliveryLive || d.BufferID != "" || d.SessionID == 0 {
		t.Fatalf("delivery %+v", d)
	}
	want, _ := contract.EncodeFrame(contract.Inbound{Event: ev})
	<-g.msgs // the descriptor
	msg := <-g.msgs
	if string(msg) != string(want) {
		t.Fatalf("frame\n%s\nwant\n%s", msg, want)
	}
	if vs := contract.ValidateFrame(msg); len(vs) > 0 {
		t.Fatal(vs)
	}
}

func TestInjectValidation(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	cases := map[string]struct {
		ev    string
		field string
	}{
		"no source":        {`{"text":"x"}`, "event.source"},
		"bad chat_type":    {`{"source":{"platform":"discord","chat_id":"c","chat_type":"room","user_id":"u"}}`, "event.source.chat_type"},
		"chat_id a number": {`{"source":{"platform":"discord","chat_id":5,"chat_type":"dm","user_id":"u"}}`, "event.source.chat_id"},
		"unfronted":        {`{"source":{"platform":"telegram","chat_id":"c","chat_type":"dm","user_id":"u"}}`, "event.source.platform"},
		"not an object":    {`[1]`, "event"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := s.Inject("gw1", json.RawMessage(c.ev))
			var re *simulator.RequestError
			if !errors.As(err, &re) || re.Status != http.StatusBadRequest || re.Field != c.field {
				t.Fatalf("err = %v, want 400 naming %s", err, c.field)
			}
		})
	}
	big := eventWith("discord", "c", strings.Repeat("x", contract.MaxFrameSize), nil)
	if _, err := s.Inject("gw1", big); err == nil || !strings.Contains(err.Error(), "TRN-018") {
		t.Fatalf("oversized event: %v", err)
	}
	_, err := s.Inject("nobody", event("discord", "c", "x"))
	var re *simulator.RequestError
	if !errors.As(err, &re) || re.Status != http.StatusNotFound {
		t.Fatalf("unknown gateway: %v", err)
	}
	// Unchecked lets a test send a gateway broken input on purpose.
	d, err := s.InjectEvent(simulator.InjectRequest{GatewayID: "gw1", Unchecked: true,
		Event: json.RawMessage(`{"source":{"platform":"discord","chat_id":5}}`)})
	if err != nil || d.Mode != simulator.DeliveryBuffered {
		t.Fatalf("unchecked: %+v %v", d, err)
	}
}

func TestTenantIsolation(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "a", Tenant: "acme", Platforms: []string{"discord"}})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "b", Tenant: "globex", Platforms: []string{"discord"}})
	ga, gb := dialGW(t, s, "a"), dialGW(t, s, "b")
	ga.hello("discord")
	gb.hello("discord")
	for i := 0; i < 5; i++ {
		inject(t, s, "a", event("discord", "same-chat", "for-a"))
	}
	for i := 0; i < 5; i++ {
		if got := eventText(t, ga.expect(contract.TypeInbound)); got != "for-a" {
			t.Fatal(got)
		}
	}
	gb.expectQuiet()
	// An instance id belongs to one tenant.
	if _, err := s.EnrollGateway(simulator.GatewaySpec{GatewayID: "c", Tenant: "globex", InstanceID: "a"}); err == nil {
		t.Fatal("instance of another tenant accepted")
	}
}

func TestInterruptInbound(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"telegram"}})
	g := dialGW(t, s, "gw1")
	g.hello("telegram")
	inject(t, s, "gw1", event("telegram", "42", "hi"))
	g.expect(contract.TypeInbound)
	d, err := s.Interrupt("gw1", "agent:main:telegram:dm:42", "")
	if err != nil || d.Mode != simulator.DeliveryLive {
		t.Fatalf("Interrupt = %+v, %v", d, err)
	}
	f := g.expect(contract.TypeInterruptInbound).f.(contract.InterruptInbound)
	if f.SessionKey != "agent:main:telegram:dm:42" || f.ChatID != "42" {
		t.Fatalf("interrupt %+v", f)
	}
	seq := s.JournalSeq()
	g.close()
	awaitJournal(t, s, seq, kind(simulator.JournalClose))
	if d, _ := s.Interrupt("gw1", "agent:main:telegram:dm:42", "42"); d.Mode != simulator.DeliveryDropped {
		t.Fatalf("interrupt without socket: %+v", d)
	}
}

func TestGatewayInterruptRoutedToOwner(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "owner", Tenant: "t1", Platforms: []string{"slack"}})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "asker", Tenant: "t1", Platforms: []string{"slack"}})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "stranger", Tenant: "t2", Platforms: []string{"slack"}})
	owner, asker, stranger := dialGW(t, s, "owner"), dialGW(t, s, "asker"), dialGW(t, s, "stranger")
	for _, g := range []*testGW{owner, asker, stranger} {
		g.hello("slack")
	}
	inject(t, s, "owner", eventWith("slack", "C1", "x", map[string]any{"chat_type": "group", "user_id": "U1", "scope_id": "T1"}))
	owner.expect(contract.TypeInbound)
	key := "agent:main:slack:group:T1:C1:U1"
	asker.send(contract.Interrupt{SessionKey: key, Reason: strp("user asked")})
	f := owner.expect(contract.TypeInterruptInbound).f.(contract.InterruptInbound)
	if f.SessionKey != key || f.ChatID != "C1" {
		t.Fatalf("routed %+v", f)
	}
	asker.expectQuiet() // no reply to the sender (IN-011)
	stranger.send(contract.Interrupt{SessionKey: key})
	stranger.expectQuiet()
	owner.expectQuiet() // another tenant's interrupt never arrives
	recs := s.Interrupts("")
	if len(recs) != 2 || recs[0].RoutedTo != "owner" || *recs[0].Reason != "user asked" || recs[1].RoutedTo != "" {
		t.Fatalf("records %+v", recs)
	}
}

func TestPassthrough(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	fw := contract.Forward{Platform: "discord", BotID: "b", Method: "POST", Path: "/interactions",
		Headers: [][2]string{{"Content-Type", "application/json"}}, Body: []byte(`{"type":2}`)}
	// Buffered while away, replayed with a bufferId on connect.
	d, err := s.Passthrough("gw1", fw)
	if err != nil || d.Mode != simulator.DeliveryBuffered {
		t.Fatalf("%+v %v", d, err)
	}
	g := dialGW(t, s, "gw1")
	g.hello("discord")
	f := g.expect(contract.TypePassthroughForward)
	pf := f.f.(contract.PassthroughForward)
	if pf.BufferID != d.BufferID || string(pf.Forward.Body) != `{"type":2}` || pf.Forward.Path != "/interactions" {
		t.Fatalf("forward %+v", pf)
	}
	if vs := contract.ValidateFrame([]byte(f.line + "\n")); len(vs) > 0 {
		t.Fatal(vs)
	}
	g.ack(pf.BufferID)
	awaitJournal(t, s, 0, drainComplete)
	// Live once drained.
	if d, _ := s.Passthrough("gw1", fw); d.Mode != simulator.DeliveryLive {
		t.Fatalf("%+v", d)
	}
	if pf := g.expect(contract.TypePassthroughForward).f.(contract.PassthroughForward); pf.BufferID != "" {
		t.Fatal("live forward carries a bufferId")
	}
	fw.Platform = "slack"
	if _, err := s.Passthrough("gw1", fw); err == nil || !strings.Contains(err.Error(), "forward.platform") {
		t.Fatalf("unfronted forward: %v", err)
	}
}

func TestRelevancePolicyGate(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	g := dialGW(t, s, "gw1")
	g.hello("discord")
	declare := func(p contract.PolicyRequest) {
		t.Helper()
		var out contract.PolicyResponse
		if code := httpDo(t, "POST", s.URL()+contract.PathPolicy, bearerHeader(mustToken(t, s, "gw1")), jsonBody(p), &out); code != 200 || !out.OK {
			t.Fatalf("policy: %d", code)
		}
	}
	group := func(text string, extra map[string]any) json.RawMessage {
		src := map[string]any{"chat_type": "group", "scope_id": "guild1"}
		for k, v := range extra {
			src[k] = v
		}
		return eventWith("discord", "chan1", text, src)
	}
	try := func(ev json.RawMessage, addressed bool, want simulator.DeliveryMode) {
		t.Helper()
		d, err := s.InjectEvent(simulator.InjectRequest{GatewayID: "gw1", Event: ev, Addressed: addressed})
		if err != nil || d.Mode != want {
			t.Fatalf("delivery %+v %v, want %s", d, err, want)
		}
		if want == simulator.DeliveryLive {
			g.expect(contract.TypeInbound)
		}
	}
	// Undeclared: all-default; bots are filtered, the rest passes.
	try(group("a", nil), false, simulator.DeliveryLive)
	try(group("bot", map[string]any{"is_bot": true}), false, simulator.DeliveryFiltered)
	try(eventWith("discord", "dm1", "bot dm", map[string]any{"is_bot": true}), false, simulator.DeliveryLive)

	declare(contract.PolicyRequest{Platform: "discord", RequireAddress: true, FreeResponseScopes: []string{"chan-free"}, AllowOtherBots: true})
	try(group("unaddressed", nil), false, simulator.DeliveryFiltered)
	try(group("addressed", nil), true, simulator.DeliveryLive)
	try(eventWith("discord", "chan-free", "free", map[string]any{"chat_type": "group"}), false, simulator.DeliveryLive)
	try(eventWith("discord", "dm", "dm", nil), false, simulator.DeliveryLive)
	try(group("bot", map[string]any{"is_bot": true}), true, simulator.DeliveryLive)
	if p := s.Policy("gw1", "discord"); !p.RequireAddress || !p.AllowOtherBots {
		t.Fatalf("policy %+v", p)
	}

	// A new declaration replaces the whole policy (HTTP-014).
	declare(contract.PolicyRequest{Platform: "discord", RequireAddress: true, FreeResponseScopes: []string{"guild1"}})
	try(group("scope is free", nil), false, simulator.DeliveryLive)
	try(group("bot again", map[string]any{"is_bot": true}), true, simulator.DeliveryFiltered)
	g.expectQuiet()
}
