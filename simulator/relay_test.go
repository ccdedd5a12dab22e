package simulator_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

func TestHandshakeOneDescriptorPerHello(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord", "telegram"}})
	g := dialGW(t, s, "gw1")
	if g.resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade status %d", g.resp.StatusCode)
	}
	g.send(contract.Hello{Platform: "telegram", BotID: "1"})
	g.send(contract.Hello{Platform: "discord", BotID: "2", CommandManifest: []contract.Command{{Name: "x", Description: "y"}}})
	for _, want := range []string{"telegram", "discord"} {
		f := g.expect(contract.TypeDescriptor)
		if vs := contract.ValidateFrame([]byte(f.line + "\n")); len(vs) > 0 {
			t.Errorf("descriptor breaks the contract: %v", vs)
		}
		d := f.f.(contract.DescriptorFrame).Descriptor
		if d.Platform != want {
			t.Fatalf("descriptor for %s, want %s", d.Platform, want)
		}
		preset, _ := s.Descriptor(want)
		if d.Label != preset.Label || d.MaxMessageLength != preset.MaxMessageLength {
			t.Errorf("descriptor %+v does not match preset %+v", d, preset)
		}
	}
	// A second hello for the same platform is answered again (HS-004).
	g.hello("discord")
	info := s.Sessions()
	if len(info) != 1 || !info[0].Handshaked || strings.Join(info[0].Platforms, ",") != "telegram,discord" {
		t.Fatalf("sessions = %+v", info)
	}
}

func TestFramesEndWithNewline(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	g := dialGW(t, s, "gw1")
	g.send(contract.Hello{Platform: "discord"})
	msg := <-g.msgs
	if !strings.HasSuffix(string(msg), "}\n") || strings.Count(string(msg), "\n") != 1 {
		t.Fatalf("message %q does not end with exactly one newline", msg)
	}
	if _, err := contract.DecodeFrame(msg); err != nil {
		t.Fatal(err)
	}
}

func TestAuthRefusalsUpgradeThenClose4401(t *testing.T) {
	m := newManual()
	s := start(t, simulator.Options{Clock: m})
	g1 := enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1"})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gone"})
	goneTok, _ := s.Token("gone", time.Hour)
	if err := s.RevokeGateway("gone"); err != nil {
		t.Fatal(err)
	}
	now := m.Now()
	cases := []struct {
		name, token, reason string
	}{
		{"missing", "", contract.ReasonUnauthorized},
		{"malformed", "not-a-token!", contract.ReasonUnauthorized},
		{"unknown gateway", contract.MintTokenTTL("nobody", "x", now, time.Minute), contract.ReasonUnauthorized},
		{"bad signature", contract.MintTokenTTL("gw1", "wrong", now, time.Minute), contract.ReasonUnauthorized},
		{"expired", contract.MintToken("gw1", g1.Secret, now.Unix()-1), contract.ReasonExpired},
		{"expired and wrong secret", contract.MintToken("gw1", "wrong", now.Unix()-1), contract.ReasonUnauthorized},
		{"revoked", goneTok, contract.ReasonUnauthorized},
		{"padded", contract.MintTokenTTL("gw1", g1.Secret, now, time.Minute) + "=", contract.ReasonUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := dialWith(t, s, dialOpts{token: c.token})
			if g.resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d, want 101", g.resp.StatusCode)
			}
			g.expectClose(contract.CloseUnauthorized, c.reason)
		})
	}
	// A token is valid in the very second of its exp (AUTH-006).
	g := dialWith(t, s, dialOpts{token: contract.MintToken("gw1", g1.Secret, now.Unix())})
	g.hello("discord")
	// exp 0 never expires (AUTH-007).
	g0 := dialWith(t, s, dialOpts{token: contract.MintToken("gw1", g1.Secret, 0)})
	g0.hello("discord")
	// The replaced socket is closed, then unregistered, asynchronously:
	// counting at once raced with it (about 1 run in 20 under -race).
	g.expectClose(contract.CloseConflict, contract.ReasonReplaced)
	testkit.Eventually(t, "one session left (replace policy)", func() bool { return len(s.Sessions()) == 1 })
}

func TestRotationWindow(t *testing.T) {
	s := start(t, simulator.Options{})
	old := enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	oldTok, _ := s.Token("gw1", time.Minute)
	rot, err := s.RotateSecret("gw1", "")
	if err != nil {
		t.Fatal(err)
	}
	if rot.Secret == old.Secret || rot.Secret == "" || rot.PreviousSecrets != 1 {
		t.Fatalf("rotate = %+v", rot)
	}
	newTok, _ := s.Token("gw1", time.Minute)
	if newTok == oldTok {
		t.Fatal("token did not change with the secret")
	}
	dialWith(t, s, dialOpts{token: oldTok}).hello("discord")
	dialWith(t, s, dialOpts{token: newTok}).hello("discord")
	if err := s.RetireSecrets("gw1"); err != nil {
		t.Fatal(err)
	}
	dialWith(t, s, dialOpts{token: oldTok}).expectClose(contract.CloseUnauthorized, contract.ReasonUnauthorized)
	dialWith(t, s, dialOpts{token: newTok}).hello("discord")
}

func TestAnonymousGatewayDevMode(t *testing.T) {
	s := start(t, simulator.Options{AnonymousGateway: "gw-dev", Gateways: []simulator.GatewaySpec{{GatewayID: "gw-dev"}}})
	g := dialWith(t, s, dialOpts{})
	g.hello("discord")
}

func TestRevokeClosesLiveSockets(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1"})
	tok, _ := s.Token("gw1", time.Minute)
	g := dialWith(t, s, dialOpts{token: tok})
	g.hello("discord")
	if err := s.RevokeGateway("gw1"); err != nil {
		t.Fatal(err)
	}
	g.expectClose(contract.CloseUnauthorized, contract.ReasonUnauthorized)
	dialWith(t, s, dialOpts{token: tok}).expectClose(contract.CloseUnauthorized, contract.ReasonUnauthorized)
	if err := s.RevokeGateway("gw1"); err == nil {
		t.Fatal("revoking twice succeeded")
	}
}

func TestUnknownFrameTypesIgnored(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1"})
	g := dialGW(t, s, "gw1")
	g.sendText(`{"type":"future_thing","x":1}` + "\n")
	g.sendText(`{"type": "inbound", "event": {}}` + "\n") // wrong direction: ignored too
	g.sendText(`{"x":1}` + "\n")                          // no type: ignored
	g.sendText("   \n\n")                                 // blank lines skipped (TRN-017)
	g.hello("discord")
	g.expectQuiet()
}

func TestSeveralFramesPerMessageAndSplitFrames(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1"})
	g := dialGW(t, s, "gw1")
	// Two frames in one message, with the reference gateway's spacing.
	g.sendText("{\"type\": \"hello\", \"platform\": \"discord\", \"botId\": \"1\"}\n{\"type\": \"hello\", \"platform\": \"slack\", \"botId\": \"\"}\n")
	g.expect(contract.TypeDescriptor)
	g.expect(contract.TypeDescriptor)
	// One frame split across three messages, the middle one binary.
	g.sendText(`{"type":"hel`)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	if err := g.conn.Write(ctx, websocket.MessageBinary, []byte(`lo","platform":"telegr`)); err != nil {
		t.Fatal(err)
	}
	g.sendText("am\",\"botId\":\"\"}\n")
	if d := g.expect(contract.TypeDescriptor).f.(contract.DescriptorFrame).Descriptor; d.Platform != "telegram" {
		t.Fatalf("descriptor for %s", d.Platform)
	}
}

func TestMalformedFramesClose1007(t *testing.T) {
	cases := map[string]struct{ text, reason string }{
		"not json":     {"{nope\n", contract.ReasonMalformedFrame},
		"array":        {"[1,2]\n", contract.ReasonNotObject},
		"number":       {"1\n", contract.ReasonNotObject},
		"null":         {"null\n", contract.ReasonNotObject},
		"invalid utf8": {"{\"type\":\"x\",\"v\":\"\xff\"}\n", contract.ReasonMalformedFrame},
		// TRN-016 comes first: bad UTF-8 makes any line malformed, also
		// one that is no object or has a mistyped field.
		"invalid utf8 array":    {"[\"\xff\"]\n", contract.ReasonMalformedFrame},
		"invalid utf8 mistyped": {"{\"type\":\"outbound\",\"requestId\":\"r\",\"platform\":5,\"v\":\"\xfe\"}\n", contract.ReasonMalformedFrame},
	}
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1"})
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			seq := s.JournalSeq()
			g := dialGW(t, s, "gw1")
			g.sendText(c.text)
			g.expectClose(contract.CloseInvalidPayload, c.reason)
			awaitJournal(t, s, seq, func(e simulator.JournalEntry) bool {
				return e.Kind == simulator.JournalClose && e.Code == contract.CloseInvalidPayload
			})
		})
	}
}

func TestFrameSizeCap(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1"})
	// Exactly 1 MiB without its newline is accepted (TRN-007).
	g := dialGW(t, s, "gw1")
	g.sendText(padFrame(contract.MaxFrameSize) + "\n")
	g.hello("discord")
	// One byte more closes 1009, whether or not the newline came (TRN-009).
	g2 := dialGW(t, s, "gw1")
	g2.sendText(padFrame(contract.MaxFrameSize+1) + "\n")
	g2.expectClose(contract.CloseTooBig, contract.ReasonFrameTooLarge)
	g3 := dialGW(t, s, "gw1")
	g3.sendText(padFrame(2 * contract.MaxFrameSize))
	g3.expectClose(contract.CloseTooBig, contract.ReasonFrameTooLarge)
}

// padFrame returns an unknown-type frame of exactly n bytes.
func padFrame(n int) string {
	head := `{"type":"pad","p":"`
	return head + strings.Repeat("a", n-len(head)-2) + `"}`
}

func TestKeepalive(t *testing.T) {
	m := newManual()
	s := start(t, simulator.Options{Clock: m, HandshakeTimeout: -1})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1"})

	// A gateway that answers pings stays connected through many intervals.
	g := dialGW(t, s, "gw1")
	g.hello("discord")
	for i := 0; i < 3; i++ {
		seq := s.JournalSeq()
		waitManualTimers(t, m, 1)
		m.Advance(contract.DefaultPingInterval)
		// The pong re-arms the ping timer before it is journaled.
		awaitJournal(t, s, seq, kind(simulator.JournalKeepalive))
		g.expectQuiet()
	}

	// One that never answers is closed 1011 once the timeout passes.
	g.close()
	quiet := dialWith(t, s, dialOpts{token: mustToken(t, s, "gw1"), noPongs: true})
	quiet.hello("discord")
	waitManualTimers(t, m, 1)
	m.Advance(contract.DefaultPingInterval) // the ping goes out
	waitManualTimers(t, m, 1)               // its timeout is armed
	m.Advance(contract.DefaultPingTimeout - time.Second)
	quiet.expectQuiet()
	m.Advance(time.Second)
	quiet.expectClose(contract.CloseInternalError, contract.ReasonKeepaliveTimeout)
}

func mustToken(t testing.TB, s *simulator.Server, id string) string {
	t.Helper()
	tok, err := s.Token(id, contract.DefaultTokenTTL)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestHelloDeadlines(t *testing.T) {
	m := newManual()
	s := start(t, simulator.Options{Clock: m, PingInterval: -1})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})

	silent := dialGW(t, s, "gw1")
	waitManualTimers(t, m, 1)
	m.Advance(contract.DefaultHandshakeTimeout)
	silent.expectClose(contract.ClosePolicyViolation, contract.ReasonNoHello)

	// Unfronted hellos get no descriptor and, with no fronted one, a 1008.
	wrong := dialGW(t, s, "gw1")
	wrong.send(contract.Hello{Platform: "slack"})
	wrong.send(contract.Hello{Platform: "relay"})
	wrong.expectQuiet()
	waitManualTimers(t, m, 2) // handshake deadline and hello grace
	m.Advance(simulator.DefaultHelloGrace)
	wrong.expectClose(contract.ClosePolicyViolation, contract.ReasonPlatformNotFronted)

	// An unfronted hello followed by a fronted one is fine.
	mixed := dialGW(t, s, "gw1")
	mixed.send(contract.Hello{Platform: "slack"})
	mixed.hello("discord")
	m.Advance(contract.DefaultHandshakeTimeout)
	mixed.expectQuiet()
}

func TestDuplicateSocketPolicies(t *testing.T) {
	t.Run("replace", func(t *testing.T) {
		s := start(t, simulator.Options{})
		enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1"})
		old := dialGW(t, s, "gw1")
		old.hello("discord")
		nu := dialGW(t, s, "gw1")
		nu.hello("discord")
		old.expectClose(contract.CloseConflict, contract.ReasonReplaced)
		if d := inject(t, s, "gw1", event("discord", "c", "hi")); d.Mode != simulator.DeliveryLive {
			t.Fatalf("delivery %+v", d)
		}
		nu.expect(contract.TypeInbound)
	})
	t.Run("reject", func(t *testing.T) {
		s := start(t, simulator.Options{DuplicatePolicy: simulator.DuplicateReject})
		enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1"})
		old := dialGW(t, s, "gw1")
		old.hello("discord")
		nu := dialGW(t, s, "gw1")
		nu.expectClose(contract.CloseConflict, contract.ReasonDuplicate)
		old.expectQuiet()
	})
	t.Run("allow", func(t *testing.T) {
		s := start(t, simulator.Options{DuplicatePolicy: simulator.DuplicateAllow})
		enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1"})
		a := dialGW(t, s, "gw1")
		a.hello("discord")
		b := dialGW(t, s, "gw1")
		b.hello("discord", "telegram")
		inject(t, s, "gw1", event("discord", "c", "to-newest"))
		if got := eventText(t, b.expect(contract.TypeInbound)); got != "to-newest" {
			t.Fatal(got)
		}
		a.expectQuiet()
		// The platform picks the socket: only a fronts slack.
		a.hello("slack")
		inject(t, s, "gw1", event("slack", "c", "to-slack"))
		if got := eventText(t, a.expect(contract.TypeInbound)); got != "to-slack" {
			t.Fatal(got)
		}
		b.expectQuiet()
	})
}

func TestRefuseConnections1013(t *testing.T) {
	s := start(t, simulator.Options{MaxSessions: 1})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1"})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw2"})
	g := dialGW(t, s, "gw1")
	g.hello("discord")
	dialGW(t, s, "gw2").expectClose(contract.CloseTryAgainLater, contract.ReasonThrottled)
	g.close()
	s.RefuseConnections(true)
	dialGW(t, s, "gw2").expectClose(contract.CloseTryAgainLater, contract.ReasonThrottled)
	s.RefuseConnections(false)
	dialGW(t, s, "gw2").hello("discord")
}

func TestRelayPathAndPlainRequests(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1"})
	var body contract.ErrorBody
	if code := httpDo(t, "GET", s.URL()+"/relay", nil, nil, &body); code != http.StatusUpgradeRequired || body.Error == "" {
		t.Fatalf("plain GET /relay: %d %+v", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL(), "http")+"/elsewhere", &websocket.DialOptions{
		HTTPHeader: bearerHeader(mustToken(t, s, "gw1"))})
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("upgrade elsewhere: %v %v", err, resp)
	}
	if code := httpDo(t, "GET", s.URL()+"/nothing", nil, nil, &body); code != http.StatusNotFound {
		t.Fatalf("404: %d", code)
	}
	if code := httpDo(t, "GET", s.URL()+"/relay/provision", nil, nil, &body); code != http.StatusMethodNotAllowed {
		t.Fatalf("405: %d", code)
	}
}

func TestCloseSessionWithCode(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1"})
	g := dialGW(t, s, "gw1")
	g.hello("discord")
	seq := s.JournalSeq()
	if n, err := s.CloseSession("gw1", 1011, "overloaded"); err != nil || n != 1 {
		t.Fatalf("CloseSession = %d, %v", n, err)
	}
	g.expectClose(1011, "overloaded")
	awaitJournal(t, s, seq, kind(simulator.JournalClose))
	if _, err := s.CloseSession("gw1", 1000, ""); err == nil {
		t.Fatal("closing with no socket succeeded")
	}
	if _, err := s.CloseSession("gw1", 1005, ""); err == nil {
		t.Fatal("close code 1005 accepted")
	}
}

func TestServerCloseSends1001(t *testing.T) {
	s, err := simulator.New(simulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1"})
	g := dialGW(t, s, "gw1")
	g.hello("discord")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	g.expectClose(contract.CloseGoingAway, contract.ReasonShutdown)
	if _, err := s.Inject("gw1", event("discord", "c", "x")); err == nil {
		t.Fatal("Inject after Close succeeded")
	}
	s.Close()
}

func TestJournalAndLogsRedactSecrets(t *testing.T) {
	logger, logs := bufferLogger()
	s := start(t, simulator.Options{Logger: logger})
	g := enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1"})
	tok := mustToken(t, s, "gw1")
	c := dialWith(t, s, dialOpts{token: tok})
	c.hello("discord")
	dialWith(t, s, dialOpts{token: contract.MintTokenTTL("gw1", "wrong-secret", time.Now(), time.Minute)}).closed()
	httpDo(t, "POST", s.URL()+contract.PathPolicy, bearerHeader(tok), jsonBody(contract.PolicyRequest{Platform: "discord", FreeResponseScopes: []string{}}), nil)
	s.Close()
	b, _ := json.Marshal(s.Journal(0))
	if !strings.Contains(logs.String(), "gateway connected") {
		t.Fatalf("no logs: %s", logs.String())
	}
	for _, secret := range []string{g.Secret, g.DeliveryKey, tok, "wrong-secret"} {
		if strings.Contains(string(b), secret) {
			t.Fatalf("journal leaks %q", secret)
		}
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("logs leak %q", secret)
		}
	}
}

func TestUnstartedHandlerMountsInAnotherServer(t *testing.T) {
	s, err := simulator.NewUnstarted(simulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.URL() != "" || s.RelayURL() != "" {
		t.Fatal("an unstarted server has a URL")
	}
	g := enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	mux := http.NewServeMux()
	mux.Handle("/", s.Handler())
	hs := httptest.NewServer(mux)
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/relay", &websocket.DialOptions{
		HTTPHeader: bearerHeader(contract.MintTokenTTL("gw1", g.Secret, time.Now(), time.Minute))})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	conn.Write(ctx, websocket.MessageText, []byte(`{"type":"hello","platform":"discord","botId":""}`+"\n"))
	if _, msg, err := conn.Read(ctx); err != nil || !strings.Contains(string(msg), `"descriptor"`) {
		t.Fatalf("%s %v", msg, err)
	}
	if _, err := s.Env("gw1"); err == nil {
		t.Fatal("Env without a URL succeeded")
	}
	conn.Close(websocket.StatusNormalClosure, "")
}
