package simulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/contract/testee"
	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

// The suite's typed client drives every route of the testee contract
// against relaysim's strict decoder, with every request field set, and
// reads every answer field back.
func TestTesteeClientDrivesRelaysim(t *testing.T) {
	m := newManual()
	s := start(t, simulator.Options{Clock: m, PingInterval: -1, HandshakeTimeout: -1, ControlToken: "ctl"})
	c := testee.NewClient(s.URL()+"/_relaysim/", "ctl")
	ctx := context.Background()

	h, err := c.Health(ctx)
	if err != nil || h.Name != "relaysim" || h.ContractVersion != contract.Version || !h.ManualClock || len(h.Platforms) != 4 || !h.HasFeature("wake") {
		t.Fatalf("health %+v %v", h, err)
	}
	gw, err := c.Enroll(ctx, testee.EnrollRequest{GatewayID: "gw-t", Secret: strings.Repeat("ab", 32), Platforms: []string{"discord", "telegram"},
		InstanceID: "inst-t", WakeURL: "http://127.0.0.1:1/wake", Tenant: "tenant-t"})
	if err != nil || gw.Secret != strings.Repeat("ab", 32) || gw.InstanceID != "inst-t" || gw.Tenant != "tenant-t" || len(gw.Platforms) != 2 {
		t.Fatalf("enroll %+v %v", gw, err)
	}
	rot, err := c.Rotate(ctx, "gw-t", testee.RotateRequest{Secret: strings.Repeat("cd", 32)})
	if err != nil || rot.Secret != strings.Repeat("cd", 32) {
		t.Fatalf("rotate %+v %v", rot, err)
	}

	g := dialGW(t, s, "gw-t")
	g.hello("discord")
	ev := json.RawMessage(`{"text":"hi","message_id":"m-in","source":{"platform":"discord","chat_id":"c1","chat_type":"group","user_id":"u1"}}`)
	d, err := c.Inbound(ctx, testee.InboundRequest{GatewayID: "gw-t", Event: ev, Addressed: true})
	if err != nil || d != (testee.Delivery{Mode: testee.DeliveryLive, MessageID: "m-in", ChatID: "c1"}) {
		t.Fatalf("inbound %+v %v", d, err)
	}
	g.expect(contract.TypeInbound)

	res := g.call("discord", contract.Action{Op: contract.OpPrompt, ChatID: "c1", Content: "Pick", PromptKind: "choice",
		PromptID: "p.1", Options: []contract.PromptOption{{ID: "a", Label: "A"}, {ID: "b", Label: "B"}}})
	d, err = c.Press(ctx, testee.PressRequest{GatewayID: "gw-t", MessageID: res.MessageID, OptionID: "b"})
	if err != nil || d.Mode != testee.DeliveryLive || d.MessageID == "" || d.ChatID != "c1" {
		t.Fatalf("press %+v %v", d, err)
	}
	g.expect(contract.TypeInbound)

	if err := c.AddScript(ctx, testee.ScriptRequest{GatewayID: "gw-t", ChatID: "c-no", EgressDeclined: true, Times: 1}); err != nil {
		t.Fatal(err)
	}
	if r := g.call("", contract.Action{Op: contract.OpSend, ChatID: "c-no", Content: "x"}); r.Code != contract.CodeEgressDeclined {
		t.Fatalf("scripted decline %+v", r)
	}
	recs, err := c.Outbound(ctx, "gw-t")
	if err != nil || len(recs) != 2 || recs[0].Op != contract.OpPrompt || recs[1].ResolvedPlatform != "discord" || recs[1].Platform != "" || recs[1].RequestID == "" || !json.Valid(recs[1].Action) {
		t.Fatalf("outbound %+v %v", recs, err)
	}

	// Away: events and forwards are buffered.
	g.close()
	awaitJournal(t, s, 0, kind(simulator.JournalClose))
	d, err = c.Inbound(ctx, testee.InboundRequest{GatewayID: "gw-t", Event: ev})
	if err != nil || d.Mode != testee.DeliveryBuffered || d.BufferID == "" {
		t.Fatalf("buffered inbound %+v %v", d, err)
	}
	fw, err := testee.ForwardJSON(contract.Forward{Platform: "discord", Method: "POST", Path: "/interactions", Body: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	pd, err := c.Passthrough(ctx, testee.PassthroughRequest{GatewayID: "gw-t", Forward: fw})
	if err != nil || pd.Mode != testee.DeliveryBuffered || pd.BufferID == "" || pd.MessageID != "" {
		t.Fatalf("passthrough %+v %v", pd, err)
	}
	buf, err := c.Buffer(ctx, "inst-t")
	if err != nil || !slices.Equal(buf.IDs(), []string{d.BufferID, pd.BufferID}) {
		t.Fatalf("buffer %+v %v", buf, err)
	}

	if err := c.RefuseConnections(ctx, true); err != nil {
		t.Fatal(err)
	}
	dialWith(t, s, dialOpts{token: mustToken(t, s, "gw-t")}).expectClose(contract.CloseTryAgainLater, contract.ReasonThrottled)
	if err := c.ClearFaults(ctx); err != nil {
		t.Fatal(err)
	}
	tok, err := c.EnrollmentToken(ctx, testee.EnrollmentTokenRequest{Tenant: "tenant-t"})
	if err != nil || !strings.HasPrefix(tok.Token, "et-") {
		t.Fatalf("enrollment token %+v %v", tok, err)
	}
	clk, err := c.Clock(ctx)
	if err != nil || !clk.Time().Equal(m.Now()) {
		t.Fatalf("clock %+v %v", clk, err)
	}
	if err := c.AdvanceClock(ctx, 31*time.Second); err != nil || !m.Now().Equal(testkit.Epoch.Add(31*time.Second)) {
		t.Fatalf("advance: %v, now %v", err, m.Now())
	}
	if err := c.Revoke(ctx, "gw-t"); err != nil {
		t.Fatal(err)
	}
	if g, _ := s.Gateway("gw-t"); !g.Revoked {
		t.Fatal("not revoked")
	}

	// Errors are typed, with the message of the {"error"} body.
	var te *testee.Error
	if err := c.Revoke(ctx, "nobody"); !errors.As(err, &te) || te.Status != http.StatusNotFound || !strings.HasPrefix(te.Message, "gatewayId") {
		t.Fatalf("unknown gateway: %v", err)
	}
	bad := testee.NewClient(s.URL()+"/_relaysim", "not-the-token")
	if _, err := bad.Health(ctx); !errors.As(err, &te) || te.Status != http.StatusUnauthorized || strings.Contains(err.Error(), "not-the-token") {
		t.Fatalf("wrong token: %v", err)
	}
}

// jsonFields lists the JSON member paths of t with each one's kind, as
// encoding/json sees them (embedded structs flattened, pointers followed).
func jsonFields(t reflect.Type, prefix string, out map[string]reflect.Kind) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			jsonFields(ft, prefix, out)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[prefix+name] = ft.Kind()
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			jsonFields(ft.Elem(), prefix+name+"[].", out)
		}
	}
}

// relaysim's request types must take every field of the testee contract's,
// and its answers carry every field, with the same JSON kinds: the
// contract/testee types are the one home, relaysim's a superset.
func TestWireTypesCoverTheTesteeContract(t *testing.T) {
	for _, tc := range []struct{ testee, relaysim any }{
		{testee.EnrollRequest{}, simulator.GatewaySpec{}},
		{testee.InboundRequest{}, simulator.InjectRequest{}},
		{testee.PressRequest{}, simulator.PressRequest{}},
		{testee.ScriptRequest{}, simulator.ScriptRequest{}},
		{testee.FaultRequest{}, simulator.FaultRequest{}},
		{testee.EnrollmentTokenRequest{}, simulator.EnrollmentTokenRequest{}},
		{testee.ClockAdvance{}, simulator.ClockRequest{}},
		{testee.Health{}, simulator.HealthInfo{}},
		{testee.Gateway{}, simulator.Gateway{}},
		{testee.Gateway{}, simulator.EnrolledGateway{}},
		{testee.Delivery{}, simulator.Delivery{}},
		{testee.Buffer{}, simulator.InstanceState{}},
		{testee.OutboundList{}, simulator.OutboundList{}},
		{testee.EnrollmentToken{}, simulator.EnrollmentToken{}},
		{testee.Clock{}, simulator.ClockState{}},
	} {
		want, got := map[string]reflect.Kind{}, map[string]reflect.Kind{}
		jsonFields(reflect.TypeOf(tc.testee), "", want)
		jsonFields(reflect.TypeOf(tc.relaysim), "", got)
		for name, k := range want {
			if gk, ok := got[name]; !ok || gk != k {
				t.Errorf("%T has %s (%v); %T has %v", tc.testee, name, k, tc.relaysim, gk)
			}
		}
	}
}

func TestControlClientRelaysimRoutes(t *testing.T) {
	m := newManual()
	s := start(t, simulator.Options{Clock: m, PingInterval: -1, HandshakeTimeout: -1})
	c := s.ControlClient()
	ctx := context.Background()

	if info, err := c.Info(ctx); err != nil || !info.OK || info.Name != "relaysim" || info.Deviations == nil {
		t.Fatalf("info %+v %v", info, err)
	}
	eg, err := c.EnrollGateway(ctx, simulator.GatewaySpec{GatewayID: "gw-c", InstanceID: "inst-c", Platforms: []string{"slack"}, RouteKeys: []string{"rk"}})
	if err != nil || eg.Secret == "" || !strings.Contains(eg.Env, "GATEWAY_RELAY_ID=gw-c") {
		t.Fatalf("enroll %+v %v", eg, err)
	}
	if gws, err := c.Gateways(ctx); err != nil || len(gws) != 1 || gws[0].Secret != "" {
		t.Fatalf("gateways %+v %v", gws, err)
	}
	g := dialGW(t, s, "gw-c")
	g.hello("slack")
	if ss, err := c.Sessions(ctx); err != nil || len(ss) != 1 || ss[0].GatewayID != "gw-c" || !ss[0].Handshaked {
		t.Fatalf("sessions %+v %v", ss, err)
	}
	ev := json.RawMessage(`{"text":"x","source":{"platform":"slack","chat_id":"C1","chat_type":"dm","user_id":"U1"}}`)
	d, err := c.Inject(ctx, simulator.InjectRequest{GatewayID: "gw-c", Event: ev})
	if err != nil || d.Mode != simulator.DeliveryLive || d.SessionID == 0 || d.MessageID == "" {
		t.Fatalf("inject %+v %v", d, err)
	}
	g.expect(contract.TypeInbound)
	if d, err := c.Interrupt(ctx, simulator.InterruptRequest{GatewayID: "gw-c", SessionKey: "agent:main:slack:dm:C1"}); err != nil || d.Mode != simulator.DeliveryLive {
		t.Fatalf("interrupt %+v %v", d, err)
	}
	g.expect(contract.TypeInterruptInbound)

	ids, err := c.AddScripts(ctx, simulator.ScriptRequest{Op: "send", Delay: simulator.Duration(2 * time.Second)}, simulator.ScriptRequest{Op: "typing", NeverAnswer: true})
	if err != nil || len(ids) != 2 {
		t.Fatalf("scripts %v %v", ids, err)
	}
	if sc, err := c.Scripts(ctx); err != nil || len(sc) != 2 || time.Duration(sc[0].Delay) != 2*time.Second || !sc[1].NeverAnswer {
		t.Fatalf("scripts %+v %v", sc, err)
	}
	if err := c.ClearScripts(ctx); err != nil {
		t.Fatal(err)
	}
	stop := true
	fa, err := c.AddFault(ctx, simulator.FaultRequest{GatewayID: "gw-c", Direction: simulator.DirOut, FrameTypes: []string{contract.TypeInbound}, Delay: simulator.Duration(time.Second), StopPongs: &stop})
	if err != nil || !fa.OK || fa.ID == "" {
		t.Fatalf("fault %+v %v", fa, err)
	}
	if fl, err := c.Faults(ctx); err != nil || len(fl.Faults) != 1 || time.Duration(fl.Faults[0].Delay) != time.Second {
		t.Fatalf("faults %+v %v", fl, err)
	}
	if err := c.ClearFaults(ctx); err != nil {
		t.Fatal(err)
	}

	// A long poll ends on the entry it waits for, not on its timeout.
	page, err := c.Journal(ctx, simulator.JournalQuery{})
	if err != nil || page.Last == 0 {
		t.Fatalf("journal %+v %v", page, err)
	}
	got := make(chan simulator.JournalPage, 1)
	go func() {
		p, _ := c.Journal(ctx, simulator.JournalQuery{Since: page.Last, Kind: simulator.JournalClose, Wait: 9 * time.Second})
		got <- p
	}()
	// Whether the poll arrives before or after the close, it ends on it:
	// an entry after since that exists already answers at once.
	if n, err := c.CloseSession(ctx, "gw-c", simulator.CloseSessionRequest{Code: 1011, Reason: "overloaded"}); err != nil || n != 1 {
		t.Fatalf("close %d %v", n, err)
	}
	select {
	case p := <-got:
		if len(p.Entries) == 0 || p.Entries[0].Kind != simulator.JournalClose {
			t.Fatalf("long poll %+v", p)
		}
	case <-time.After(testkit.Wait):
		t.Fatal("the long poll did not end on the close")
	}

	if st, err := c.Instance(ctx, "inst-c"); err != nil || st.Instance != "inst-c" || st.Flipped {
		t.Fatalf("instance %+v %v", st, err)
	}
	if pl, err := c.Policies(ctx, "inst-c"); err != nil || pl.Instance != "inst-c" {
		t.Fatalf("policies %+v %v", pl, err)
	}
	if ws, err := c.Wakes(ctx); err != nil || ws == nil {
		t.Fatalf("wakes %+v %v", ws, err)
	}
	adv := simulator.Duration(time.Minute)
	if cs, err := c.MoveClock(ctx, simulator.ClockRequest{Advance: &adv}); err != nil || !cs.Manual || !cs.Time.Equal(testkit.Epoch.Add(time.Minute)) || cs.Unix != cs.Time.Unix() {
		t.Fatalf("clock %+v %v", cs, err)
	}
	if ds, err := c.SetDeviations(ctx, "no-wake"); err != nil || len(ds.Active) != 1 || len(ds.Known) == 0 {
		t.Fatalf("deviations %+v %v", ds, err)
	}
	if ds, err := c.SetDeviations(ctx); err != nil || len(ds.Active) != 0 {
		t.Fatalf("deviations cleared %+v %v", ds, err)
	}
	if dd, err := c.Descriptors(ctx); err != nil || len(dd.Platforms) != 4 || dd.Descriptors["slack"].Platform != "slack" {
		t.Fatalf("descriptors %+v %v", dd, err)
	}
	if err := c.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Gateway(ctx, "gw-c"); err == nil {
		t.Fatal("gw-c survived the reset")
	}
}
