package harbor

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/relaykit/relaykit/clock"
)

// probe checks the one requirement a deviation breaks and reports whether
// it holds. Every probe must hold on a conformant harbor and fail with its
// deviation planted, which TestDeviations checks both ways.
type probe func(t *testing.T, s *Server, clk *clock.Manual) bool

// opened reports whether a freshly dialled socket with tok is answered
// with a descriptor (true) or closed (false).
func opened(t *testing.T, s *Server, tok string) bool {
	p := dialToken(t, s, tok)
	p.sendLoose(map[string]any{"type": "hello", "platform": PlatformSMS})
	for f := range p.frames {
		if f["type"] == "descriptor" {
			return true
		}
	}
	return false
}

func provisionBody(gw string) []byte {
	return []byte(fmt.Sprintf(`{"gatewayId":%q,"platform":"harbor-sms","botId":"b","gatewayEndpoint":"","routeKeys":[]}`, gw))
}

// backlog enrolls a gateway, flips it away and buffers n DMs m0..m(n-1).
func backlog(t *testing.T, s *Server, clk *clock.Manual, n int) gwCreds {
	g := enrollGW(t, s, GatewaySpec{ID: "gw-backlog", Platforms: []string{PlatformSMS}})
	goIdleAway(t, s, clk, g)
	for i := 0; i < n; i++ {
		inject(t, s, g.ID, dmEvent(PlatformSMS, "c", fmt.Sprintf("m%d", i), "x"), false)
	}
	return g
}

var probes = map[string]probe{
	DevProvisionCrossTenant: func(t *testing.T, s *Server, clk *clock.Manual) bool {
		if st, _ := httpDo(t, "POST", s.URL()+"/relay/provision", "idp-1", provisionBody("gw-x")); st != 200 {
			t.Fatalf("provision: %d", st)
		}
		st, b := httpDo(t, "POST", s.URL()+"/relay/provision", "idp-2", provisionBody("gw-x"))
		return st == 409 && !errorNames(b, "secret\":")
	},
	DevAckClearsBuffer: func(t *testing.T, s *Server, clk *clock.Manual) bool {
		g := backlog(t, s, clk, 2)
		p := connect(t, s, clk, g)
		f := p.next("m0", isMsg("m0"))
		p.send(map[string]any{"type": "inbound_ack", "bufferId": bufID(f)})
		_, ok := p.tryNext(isMsg("m1"))
		return ok
	},
	DevInterruptToSender: func(t *testing.T, s *Server, clk *clock.Manual) bool {
		a := enrollGW(t, s, GatewaySpec{ID: "gw-a", Tenant: "t1"})
		b := enrollGW(t, s, GatewaySpec{ID: "gw-b", Tenant: "t1"})
		pa, pb := connect(t, s, clk, a), connect(t, s, clk, b)
		inject(t, s, b.ID, dmEvent(PlatformSMS, "c9", "m9", "x"), false)
		pb.next("m9", isMsg("m9"))
		pa.send(map[string]any{"type": "interrupt", "session_key": "agent:main:harbor-sms:dm:c9", "reason": "stop"})
		_, toSender := pa.tryNext(ofType("interrupt_inbound"))
		_, toOwner := pb.tryNext(ofType("interrupt_inbound"))
		return toOwner && !toSender
	},
	DevSessionKeyNoThread: func(t *testing.T, s *Server, clk *clock.Manual) bool {
		g := enrollGW(t, s, GatewaySpec{ID: "gw-th"})
		p := connect(t, s, clk, g)
		ev := dmEvent(PlatformMail, "chan", "mt", "x")
		ev["source"].(map[string]any)["chat_type"] = "thread"
		ev["source"].(map[string]any)["thread_id"] = "t7"
		inject(t, s, g.ID, ev, false)
		p.next("mt", isMsg("mt"))
		p.send(map[string]any{"type": "interrupt", "session_key": "agent:main:harbor-mail:thread:chan:t7", "reason": nil})
		_, ok := p.tryNext(ofType("interrupt_inbound"))
		return ok
	},
	DevSecondIdleUnacked: func(t *testing.T, s *Server, clk *clock.Manual) bool {
		g := enrollGW(t, s, GatewaySpec{ID: "gw-idle"})
		p := connect(t, s, clk, g)
		p.send(map[string]string{"type": "going_idle"})
		p.next("first ack", ofType("going_idle_ack"))
		p.send(map[string]string{"type": "going_idle"})
		_, ok := p.tryNext(ofType("going_idle_ack"))
		return ok
	},
	DevPolicyMerge: func(t *testing.T, s *Server, clk *clock.Manual) bool {
		g := enrollGW(t, s, GatewaySpec{ID: "gw-pm"})
		for _, body := range []string{
			`{"platform":"harbor-sms","requireAddress":true,"freeResponseScopes":[],"allowOtherBots":false}`,
			`{"platform":"harbor-sms","requireAddress":false,"freeResponseScopes":[],"allowOtherBots":false}`,
		} {
			if st, _ := httpDo(t, "POST", s.URL()+"/relay/policy", g.token(clk), []byte(body)); st != 200 {
				t.Fatalf("policy: %d", st)
			}
		}
		ev := dmEvent(PlatformSMS, "grp", "g1", "x")
		ev["source"].(map[string]any)["chat_type"] = "group"
		return inject(t, s, g.ID, ev, false).Delivery != "filtered"
	},
	DevPassthroughDropped: func(t *testing.T, s *Server, clk *clock.Manual) bool {
		g := enrollGW(t, s, GatewaySpec{ID: "gw-pt"})
		goIdleAway(t, s, clk, g)
		var out struct{ Delivery string }
		ctl(t, s, "POST", "/passthrough", map[string]any{"gatewayId": g.ID, "forward": map[string]any{
			"platform": PlatformSMS, "method": "POST", "path": "/hook", "headers": [][]string{{"a", "b"}}, "bodyB64": "e30="}}, &out)
		if out.Delivery != "buffered" {
			return false
		}
		p := connect(t, s, clk, g)
		f := p.next("forward", ofType("passthrough_forward"))
		return bufID(f) != ""
	},
	DevExpInclusive: func(t *testing.T, s *Server, clk *clock.Manual) bool {
		g := enrollGW(t, s, GatewaySpec{ID: "gw-exp"})
		return opened(t, s, mintToken(g.ID, g.Secret, clk.Now().Unix()))
	},
	DevRotationDropsOld: func(t *testing.T, s *Server, clk *clock.Manual) bool {
		g := enrollGW(t, s, GatewaySpec{ID: "gw-rot"})
		ctl(t, s, "POST", "/gateways/gw-rot/rotate", map[string]any{}, nil)
		return opened(t, s, g.token(clk))
	},
	DevWakeEveryEvent: func(t *testing.T, s *Server, clk *clock.Manual) bool {
		var hits atomic.Int32
		ws := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
		})}
		ln := listen(t)
		go ws.Serve(ln)
		defer ws.Close()
		g := enrollGW(t, s, GatewaySpec{ID: "gw-wk", WakeURL: "http://" + ln.Addr().String() + "/w"})
		goIdleAway(t, s, clk, g)
		for i := 0; i < 3; i++ {
			inject(t, s, g.ID, dmEvent(PlatformSMS, "c", fmt.Sprintf("w%d", i), "x"), false)
		}
		s.wakes.Wait() // every wake request harbor started has been answered
		return hits.Load() == 1
	},
	DevDrainBeforeDesc: func(t *testing.T, s *Server, clk *clock.Manual) bool {
		g := backlog(t, s, clk, 1)
		p := dialToken(t, s, g.token(clk))
		p.send(map[string]any{"type": "hello", "platform": PlatformSMS})
		first := <-p.frames
		return first["type"] == "descriptor"
	},
	DevBotDMFiltered: func(t *testing.T, s *Server, clk *clock.Manual) bool {
		g := enrollGW(t, s, GatewaySpec{ID: "gw-bot"})
		ev := dmEvent(PlatformSMS, "c", "b1", "x")
		ev["source"].(map[string]any)["is_bot"] = true
		return inject(t, s, g.ID, ev, false).Delivery != "filtered"
	},
	DevEnrollReusable: func(t *testing.T, s *Server, clk *clock.Manual) bool {
		var tok struct{ Token string }
		ctl(t, s, "POST", "/enrollment-tokens", map[string]any{"tenant": "t1"}, &tok)
		body := func(gw string) []byte {
			return []byte(fmt.Sprintf(`{"enrollmentToken":%q,"gatewayId":%q}`, tok.Token, gw))
		}
		if st, _ := httpDo(t, "POST", s.URL()+"/relay/enroll", "idp-1", body("gw-e1")); st != 200 {
			t.Fatalf("enroll: %d", st)
		}
		st, _ := httpDo(t, "POST", s.URL()+"/relay/enroll", "idp-1", body("gw-e2"))
		return st == 403
	},
	DevNewBufferIDs: func(t *testing.T, s *Server, clk *clock.Manual) bool {
		g := backlog(t, s, clk, 1)
		p := connect(t, s, clk, g)
		first := bufID(p.next("m0", isMsg("m0")))
		p.close()
		waitGone(t, s, g.ID)
		p = connect(t, s, clk, g)
		return bufID(p.next("m0 again", isMsg("m0"))) == first
	},
	DevLiveDuringDrain: func(t *testing.T, s *Server, clk *clock.Manual) bool {
		g := backlog(t, s, clk, 1)
		p := connect(t, s, clk, g)
		p.next("m0", isMsg("m0"))
		return inject(t, s, g.ID, dmEvent(PlatformSMS, "c", "late", "x"), false).Delivery == "buffered"
	},
	DevLatestDefault: func(t *testing.T, s *Server, clk *clock.Manual) bool {
		g := enrollGW(t, s, GatewaySpec{ID: "gw-def"})
		p := connect(t, s, clk, g, PlatformSMS, PlatformMail)
		p.outbound(sendAct("+1555", "untagged"), "")
		var log struct{ Outbound []outboundRecord }
		ctl(t, s, "GET", "/outbound?gatewayId="+g.ID, nil, &log)
		return len(log.Outbound) == 1 && log.Outbound[0].ResolvedPlatform == PlatformSMS
	},
}

func TestDeviations(t *testing.T) {
	ids := map[string]string{"idp-1": "t1", "idp-2": "t2"}
	seen := map[string]bool{}
	for _, d := range Deviations {
		if seen[d.Name] {
			t.Fatalf("deviation %s listed twice", d.Name)
		}
		seen[d.Name] = true
		t.Run(d.Name, func(t *testing.T) {
			pr := probes[d.Name]
			if pr == nil {
				t.Fatal("no probe")
			}
			t.Run("conformant", func(t *testing.T) {
				s, clk := newTest(t, Options{IdentityTokens: ids})
				if !pr(t, s, clk) {
					t.Fatalf("%s does not hold on a conformant harbor", d.Requirement)
				}
			})
			t.Run("deviated", func(t *testing.T) {
				s, clk := newTest(t, Options{IdentityTokens: ids, Deviation: d.Name})
				if pr(t, s, clk) {
					t.Fatalf("%s still holds with %s planted", d.Requirement, d.Name)
				}
			})
		})
	}
	if len(Deviations) < 10 {
		t.Fatalf("%d deviations, want at least 10", len(Deviations))
	}
	if _, err := New(Options{Deviation: "no-such"}); err == nil {
		t.Fatal("unknown deviation accepted")
	}
}
