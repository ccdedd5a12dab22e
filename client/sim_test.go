package client_test

// Integration tests against the reference connector simulator: the client
// and relaysim must agree on every wire detail, not just on the test
// connector's.

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// newSim starts a simulator sharing clk with the client, so tokens verify
// and no timer fires unless the test moves time.
func newSim(t *testing.T, clk *clock.Manual, opts simulator.Options) *simulator.Server {
	t.Helper()
	opts.Clock = clk
	opts.PingInterval = -1
	s, err := simulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func simClient(t *testing.T, s *simulator.Server, clk *clock.Manual, gw simulator.Gateway, st *states, h client.Handler, ids ...client.Identity) *client.Client {
	t.Helper()
	o := client.Options{
		Config:       client.Config{URL: s.URL(), GatewayID: gw.GatewayID, Secret: gw.Secret, Platforms: ids},
		Clock:        clk,
		Rand:         func() float64 { return 1 },
		PingInterval: -1,
		CloseGrace:   time.Millisecond,
		Handler:      h,
	}
	if st != nil {
		o.OnState = st.record
	}
	c, err := client.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeClient(t, c) })
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSimRoundTripGatingAndTagging(t *testing.T) {
	clk := clock.NewManual(epoch)
	s := newSim(t, clk, simulator.Options{})
	gw, err := s.EnrollGateway(simulator.GatewaySpec{GatewayID: "gw-1", Platforms: []string{"discord", "telegram"}})
	if err != nil {
		t.Fatal(err)
	}
	c := simClient(t, s, clk, gw, nil, nil, client.Identity{Platform: "discord", BotID: "d-1"}, client.Identity{Platform: "telegram", BotID: "t-1"})
	for len(c.Descriptors()) < 2 {
		time.Sleep(time.Millisecond)
	}
	if d := c.Descriptor(""); d.Platform != "discord" || d.Label != "Discord" || d.MaxMessageLength != 2000 {
		t.Fatalf("primary = %+v", d)
	}
	if d := c.Descriptor("telegram"); d.LenUnit != contract.LenUnitUTF16 || !d.SupportsDraftStreaming {
		t.Fatalf("telegram = %+v", d)
	}
	ctx := context.Background()
	if r, _ := c.Send(ctx, "c1", "hello"); !r.Success || r.MessageID == "" {
		t.Fatalf("send = %+v", r)
	}
	if r, _ := c.Draft(ctx, "c1", 1, "partial", false, client.Platform("telegram")); !r.Success {
		t.Fatalf("telegram draft = %+v", r)
	}
	// discord does not advertise draft: refused locally, never sent.
	if r, _ := c.Draft(ctx, "c1", 1, "partial", false); r.Code != contract.CodeUnsupportedOp {
		t.Fatalf("discord draft = %+v", r)
	}
	id, r, _ := c.ThreadCreate(ctx, "c1", "")
	if !r.Success || id == "" {
		t.Fatalf("thread_create = %q %+v", id, r)
	}
	info, r, _ := c.GetChatInfo(ctx, "c1")
	if !r.Success || info.Name == "" {
		t.Fatalf("get_chat_info = %+v %+v", info, r)
	}
	recs := s.Outbound("gw-1")
	if len(recs) != 4 {
		t.Fatalf("%d outbound recorded, want 4 (the refused draft never sent)", len(recs))
	}
	if recs[1].Platform != "telegram" || recs[1].BotID != "t-1" || recs[0].Platform != "" {
		t.Fatalf("tags = %+v / %+v", recs[0], recs[1])
	}
	for _, rec := range recs {
		if rec.ResolvedPlatform == "" {
			t.Errorf("record %+v", rec)
		}
	}
}

func TestSimGoDormantBufferDrainAck(t *testing.T) {
	clk := clock.NewManual(epoch)
	s := newSim(t, clk, simulator.Options{})
	gw, _ := s.EnrollGateway(simulator.GatewaySpec{GatewayID: "gw-1", Platforms: []string{"telegram"}})
	st := newStates()
	rec := newRecorder()
	c := simClient(t, s, clk, gw, st, rec, client.Identity{Platform: "telegram"})
	ctx := context.Background()

	live := json.RawMessage(`{"text":"live","message_id":"m1","source":{"platform":"telegram","chat_id":"42","chat_type":"dm","user_id":"7"}}`)
	if d, err := s.Inject("gw-1", live); err != nil || d.Mode != simulator.DeliveryLive {
		t.Fatalf("inject = %+v %v", d, err)
	}
	if d := recv(t, rec.events); d.Buffered() || d.Event.Text != "live" {
		t.Fatalf("live delivery = %+v", d)
	}

	ok, err := c.GoDormant(ctx)
	if !ok || err != nil {
		t.Fatalf("GoDormant = %v %v", ok, err)
	}
	if !s.Flipped("gw-1") {
		t.Fatal("instance not flipped after going_idle_ack")
	}
	ev := st.wait(t, client.StateDormant)
	for i, text := range []string{"away-1", "away-2"} {
		e := json.RawMessage(`{"text":"` + text + `","message_id":"b` + string(rune('0'+i)) + `","source":{"platform":"telegram","chat_id":"42","chat_type":"dm","user_id":"7"}}`)
		if d, err := s.Inject("gw-1", e); err != nil || d.Mode != simulator.DeliveryBuffered {
			t.Fatalf("inject while dormant = %+v %v", d, err)
		}
	}
	clk.Advance(ev.Wait)
	for _, want := range []string{"away-1", "away-2"} {
		d := recv(t, rec.events)
		if !d.Buffered() || d.Event.Text != want {
			t.Fatalf("drained %+v, want buffered %s", d.Event, want)
		}
	}
	deadline := time.Now().Add(waitFor)
	for (s.Acks("gw-1").Count < 2 || s.Flipped("gw-1")) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if a := s.Acks("gw-1"); a.Count != 2 || a.Noop != 0 || len(s.Buffer("gw-1")) != 0 || s.Flipped("gw-1") {
		t.Fatalf("acks %+v buffer %d flipped %v", a, len(s.Buffer("gw-1")), s.Flipped("gw-1"))
	}
	if c.Dormant() {
		t.Fatal("still dormant")
	}
}

func TestSimRevocationIsTerminalAfterOneFreshTokenRetry(t *testing.T) {
	clk := clock.NewManual(epoch)
	s := newSim(t, clk, simulator.Options{})
	gw, _ := s.EnrollGateway(simulator.GatewaySpec{GatewayID: "gw-1", Platforms: []string{"slack"}})
	st := newStates()
	c := simClient(t, s, clk, gw, st, nil, client.Identity{Platform: "slack"})
	st.wait(t, client.StateHandshaked)
	if err := s.RevokeGateway("gw-1"); err != nil {
		t.Fatal(err)
	}
	if ev := st.wait(t, client.StateReconnecting); ev.Code != 4401 || ev.Wait != 0 {
		t.Fatalf("first strike = %+v", ev)
	}
	st.wait(t, client.StateRevoked)
	<-c.Done()
	auths := 0
	for _, e := range s.Journal(0) {
		if e.Kind == simulator.JournalAuth {
			auths++
		}
	}
	if auths != 1 {
		t.Fatalf("%d refused upgrades, want exactly one (the fresh-token retry)", auths)
	}
}

func TestSimInterruptAndPassthrough(t *testing.T) {
	clk := clock.NewManual(epoch)
	s := newSim(t, clk, simulator.Options{})
	gw, _ := s.EnrollGateway(simulator.GatewaySpec{GatewayID: "gw-1", Platforms: []string{"discord"}})
	rec := newRecorder()
	c := simClient(t, s, clk, gw, nil, rec, client.Identity{Platform: "discord"})
	ctx := context.Background()
	if _, err := s.Interrupt("gw-1", "agent:main:discord:dm:c9", "c9"); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, rec.interrupts); got[0] != "agent:main:discord:dm:c9" || got[1] != "c9" {
		t.Fatalf("interrupt = %v", got)
	}
	reason := "stop"
	if err := c.Interrupt(ctx, "agent:main:discord:dm:c9", &reason); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Passthrough("gw-1", contract.Forward{Platform: "discord", Method: "POST", Path: "/interactions", Body: []byte(`{"type":2}`)}); err != nil {
		t.Fatal(err)
	}
	if d := recv(t, rec.passthrough); string(d.Forward.Body) != `{"type":2}` {
		t.Fatalf("forward = %+v", d.Forward)
	}
	deadline := time.Now().Add(waitFor)
	for len(s.Interrupts("gw-1")) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if ir := s.Interrupts("gw-1"); len(ir) != 1 || ir[0].Reason == nil || *ir[0].Reason != "stop" {
		t.Fatalf("interrupts at the simulator = %+v", ir)
	}
}

func TestSimBootProvisionPolicyMedia(t *testing.T) {
	clk := clock.NewManual(epoch)
	s := newSim(t, clk, simulator.Options{IdentityTokens: map[string]string{"id-token": ""}})
	o := client.Options{
		Config: client.Config{
			URL:           s.URL(),
			GatewayID:     "gw-boot",
			IdentityToken: "id-token",
			InstanceID:    "inst-boot",
			Platforms:     []client.Identity{{Platform: "discord", BotID: "d1"}, {Platform: "slack"}},
			Policies: map[string]client.PolicyKnobs{
				"discord": {RequireMention: true, FreeResponseChannels: []string{"c-free"}},
				"slack":   {AllowBots: "all"},
			},
		},
		Clock:        clk,
		PingInterval: -1,
		CloseGrace:   time.Millisecond,
	}
	c, rep := boot(t, o)
	for _, step := range rep.Steps {
		if step.Outcome == client.OutcomeFailed {
			t.Errorf("step failed: %v", step)
		}
	}
	if _, ok := s.Gateway("gw-boot"); !ok {
		t.Fatal("gateway not provisioned at the simulator")
	}
	if p := s.Policy("inst-boot", "discord"); !p.RequireAddress || len(p.FreeResponseScopes) != 1 || p.AllowOtherBots {
		t.Fatalf("discord policy = %+v", p)
	}
	if p := s.Policy("inst-boot", "slack"); !p.AllowOtherBots {
		t.Fatalf("slack policy = %+v", p)
	}
	ctx := context.Background()
	url, err := c.UploadMedia(ctx, "note.txt", "", []byte("hello media"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.DownloadMedia(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != "hello media" {
		t.Fatalf("downloaded %q", m.Data)
	}
	if r, _ := c.SendMedia(ctx, "c1", client.Media{Kind: "document", SourceURL: url, Caption: "here"}); !r.Success {
		t.Fatalf("send_media = %+v", r)
	}
}
