package pier

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/testkit"
)

// deviationProbes observe, for each planted deviation, the one behaviour
// it changes: a probe reports whether the deviant behaviour showed. Each is
// run with and without its deviation, so a switch that changes nothing (or
// a conformant pier that already misbehaves) fails.
var deviationProbes = map[string]func(t *testing.T, b *bench) bool{
	DevBacklogEveryHello: func(t *testing.T, b *bench) bool {
		g := b.enroll(nil)
		b.goAway(g, PlatformPier)
		d := b.inject(g, PlatformPier, "c1", "backlog")
		c, _ := b.dial(b.token(g))
		c.hello(PlatformPier)
		c.hello(PlatformOps)
		n := 0
		for _, f := range c.barrier() {
			if f["bufferId"] == d.BufferID {
				n++
			}
		}
		return n > 1
	},
	DevLegacyOpUnsupported: func(t *testing.T, b *bench) bool {
		c := b.connect(b.enroll(nil), PlatformOps)
		r := c.result(map[string]any{"op": "typing", "chat_id": DefaultKnownChat, "metadata": map[string]any{}}, "")
		return r["code"] == "unsupported_op"
	},
	DevRevokedLive4403: func(t *testing.T, b *bench) bool {
		g := b.enroll(nil)
		c := b.connect(g, PlatformPier)
		b.call(http.MethodPost, "/gateways/"+g.GatewayID+"/revoke", map[string]any{}, nil)
		code, _, _ := c.closed()
		return code == 4403
	},
	DevHelloNoPlatformAnswer: func(t *testing.T, b *bench) bool {
		c := b.connect(b.enroll(nil), PlatformPier)
		c.send(map[string]any{"type": "hello", "botId": ""})
		fs := c.barrier()
		return len(fs) == 1 && fs[0]["type"] == "descriptor"
	},
	DevDescriptorPlatformName: func(t *testing.T, b *bench) bool {
		c, _ := b.dial(b.token(b.enroll(nil)))
		c.hello(PlatformOps)
		return c.expect("descriptor")["descriptor"].(map[string]any)["platform"] != PlatformOps
	},
	DevNoTrailingNewline: func(t *testing.T, b *bench) bool {
		c, _ := b.dial(b.token(b.enroll(nil)))
		c.hello(PlatformPier)
		deadline := time.Now().Add(testkit.Wait)
		for len(c.messages()) == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		m := c.messages()[0]
		return !strings.HasSuffix(string(m), "\n")
	},
	DevHTTP401BadToken: func(t *testing.T, b *bench) bool {
		_, st := b.dial("not-a-token")
		return st == 401
	},
	DevDropUnackedOnClose: func(t *testing.T, b *bench) bool {
		g := b.enroll(nil)
		b.goAway(g, PlatformPier)
		b.inject(g, PlatformPier, "c1", "unacked")
		c := b.connect(g, PlatformPier)
		c.expect("inbound")
		b.hangUp(c)
		c = b.connect(g, PlatformPier)
		return len(c.barrier()) == 0
	},
	DevLiveDuringDrain: func(t *testing.T, b *bench) bool {
		g := b.enroll(nil)
		b.goAway(g, PlatformPier)
		b.inject(g, PlatformPier, "c1", "backlog")
		c := b.connect(g, PlatformPier)
		c.expect("inbound")
		return b.inject(g, PlatformPier, "c1", "during the drain").Delivery == "live"
	},
	DevAckBeforeFlip: func(t *testing.T, b *bench) bool {
		g := b.enroll(nil)
		c := b.connect(g, PlatformPier)
		c.send(map[string]any{"type": "going_idle"})
		c.expect("going_idle_ack")
		return b.inject(g, PlatformPier, "c1", "after the ack").Delivery == "live"
	},
	DevErrorOnNoopAck: func(t *testing.T, b *bench) bool {
		c := b.connect(b.enroll(nil), PlatformPier)
		c.send(map[string]any{"type": "inbound_ack", "bufferId": "q9@none"})
		return len(c.barrier()) > 0
	},
	DevCloseOnUnknownType: func(t *testing.T, b *bench) bool {
		c := b.connect(b.enroll(nil), PlatformPier)
		c.send(map[string]any{"type": "pier_future_frame"})
		c.try(map[string]any{"type": "outbound", "requestId": "r-x", "action": send(DefaultKnownChat, "x")})
		for {
			select {
			case <-c.done:
				return true
			default:
			}
			c.mu.Lock()
			for _, f := range c.pending {
				if f["type"] == "outbound_result" {
					c.mu.Unlock()
					return false
				}
			}
			c.mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	},
	DevSendWithoutMessageID: func(t *testing.T, b *bench) bool {
		c := b.connect(b.enroll(nil), PlatformPier)
		_, has := c.result(send(DefaultKnownChat, "x"), "")["message_id"]
		return !has
	},
	DevDuplicateHTTP409: func(t *testing.T, b *bench) bool {
		g := b.enroll(nil)
		b.connect(g, PlatformPier)
		_, st := b.dial(b.token(g))
		return st == 409
	},
	DevFrameBeforeRefusal: func(t *testing.T, b *bench) bool {
		c, _ := b.dial("not-a-token")
		_, _, fs := c.closed()
		return len(fs) > 0
	},
	DevExpirySkew: func(t *testing.T, b *bench) bool {
		g := b.enroll(nil)
		c, _ := b.dial(contract.MintToken(g.GatewayID, g.Secret, b.clk.Now().Unix()-30))
		c.try(map[string]any{"type": "hello", "platform": PlatformPier, "botId": ""})
		deadline := time.Now().Add(testkit.Wait)
		for time.Now().Before(deadline) {
			select {
			case <-c.done:
				return false
			default:
			}
			c.mu.Lock()
			n := len(c.pending)
			c.mu.Unlock()
			if n > 0 {
				return true
			}
			time.Sleep(time.Millisecond)
		}
		t.Fatal("neither a descriptor nor a close")
		return false
	},
	DevUnknownChatNoResult: func(t *testing.T, b *bench) bool {
		c := b.connect(b.enroll(nil), PlatformPier)
		c.send(map[string]any{"type": "outbound", "requestId": "r-unknown", "action": send("nowhere", "x")})
		for _, f := range c.barrier() {
			if f["type"] == "outbound_result" && f["requestId"] == "r-unknown" {
				return false
			}
		}
		return true
	},
	DevChatInfoFlat: func(t *testing.T, b *bench) bool {
		c := b.connect(b.enroll(nil), PlatformPier)
		_, nested := c.result(map[string]any{"op": "get_chat_info", "chat_id": DefaultKnownChat}, "")["chat_info"]
		return !nested
	},
}

func TestDeviationsChangeTheirBehaviour(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range Deviations {
		if seen[d.Name] {
			t.Fatalf("deviation %s listed twice", d.Name)
		}
		seen[d.Name] = true
		if d.Requirement == "" || d.Description == "" {
			t.Errorf("deviation %s lacks its requirement or description", d.Name)
		}
		if r, ok := contract.LookupRequirement(d.Requirement); !ok || r.Level != contract.LevelMust || !r.Binds(contract.SideConnector) {
			t.Errorf("deviation %s names %s, which is not a connector MUST", d.Name, d.Requirement)
		}
		probe := deviationProbes[d.Name]
		if probe == nil {
			t.Errorf("deviation %s has no probe", d.Name)
			continue
		}
		t.Run(d.Name, func(t *testing.T) {
			for _, dev := range []string{"", d.Name} {
				b := newBench(t, Options{Deviation: dev, DuplicateGrace: time.Millisecond})
				if got := probe(t, b); got != (dev != "") {
					t.Errorf("deviation %q: deviant behaviour %v, want %v", dev, got, dev != "")
				}
				_ = b.srv.Close()
			}
		})
	}
	if len(Deviations) < 10 {
		t.Errorf("%d deviations, want at least 10", len(Deviations))
	}
}
