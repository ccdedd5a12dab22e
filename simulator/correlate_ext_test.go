package simulator_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// POST /inbound answers the message_id and chat_id the gateway sees, so a
// suite can correlate by them (the testee contract; issue 10 item 3).
func TestInjectAnswersTheIDsTheGatewaySees(t *testing.T) {
	s := start(t, simulator.Options{PingInterval: -1, HandshakeTimeout: -1})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", InstanceID: "i1", Platforms: []string{"discord"}})
	g := dialGW(t, s, "gw1")
	g.hello("discord")
	src := `"source":{"platform":"discord","chat_id":"c7","chat_type":"dm","user_id":"u1"`
	for _, tc := range []struct {
		name, event string
		unchecked   bool
		wantID      string // "" means a minted one
	}{
		{"its own id", `{"text":"a","message_id":"m-own",` + src + `}}`, false, "m-own"},
		{"no id", `{"text":"b",` + src + `}}`, false, ""},
		{"only source.message_id", `{"text":"c",` + src + `,"message_id":"s-9"}}`, false, "s-9"},
		{"unchecked without id", `{"text":"d",` + src + `}}`, true, "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d simulator.Delivery
			body := map[string]any{"gatewayId": "gw1", "event": json.RawMessage(tc.event), "unchecked": tc.unchecked}
			if code := ctl(t, s, "POST", "inbound", body, &d); code != 200 || d.Mode != simulator.DeliveryLive || d.ChatID != "c7" {
				t.Fatalf("inject: %d %+v", code, d)
			}
			var ev struct {
				MessageID *string `json:"message_id"`
			}
			in := g.expect(contract.TypeInbound).f.(contract.Inbound)
			if err := json.Unmarshal(in.Event, &ev); err != nil {
				t.Fatal(err)
			}
			switch tc.wantID {
			case "-":
				// Unchecked events travel byte for byte: no id is added.
				if ev.MessageID != nil || d.MessageID != "" {
					t.Fatalf("unchecked event got an id: answer %q, event %s", d.MessageID, in.Event)
				}
			case "":
				if d.MessageID == "" || ev.MessageID == nil || *ev.MessageID != d.MessageID {
					t.Fatalf("minted id: answer %q, event %s", d.MessageID, in.Event)
				}
			default:
				if d.MessageID != tc.wantID || ev.MessageID == nil || *ev.MessageID != tc.wantID {
					t.Fatalf("answer %q, event %s, want %q", d.MessageID, in.Event, tc.wantID)
				}
			}
		})
	}
	// A buffered delivery reports them too, and the replay carries the
	// same id. The event is injected once the server has seen the socket
	// go: before that it would still go out live.
	seq := s.JournalSeq()
	g.close()
	awaitJournal(t, s, seq, kind(simulator.JournalClose))
	var d simulator.Delivery
	ctl(t, s, "POST", "inbound", map[string]any{"gatewayId": "gw1", "event": json.RawMessage(`{"text":"e",` + src + `}}`)}, &d)
	if d.Mode != simulator.DeliveryBuffered || d.MessageID == "" || d.ChatID != "c7" {
		t.Fatalf("buffered: %+v", d)
	}
	if e := s.Buffer("i1"); len(e) != 1 || !json.Valid(e[0].Payload) || !strings.Contains(string(e[0].Payload), `"message_id":"`+d.MessageID+`"`) {
		t.Fatalf("buffered payload %+v", e)
	}
}

func TestPressAnswersThePressEventsIDs(t *testing.T) {
	s, g, msgID := pressSim(t)
	var d simulator.Delivery
	if code := ctl(t, s, "POST", "press", simulator.PressRequest{GatewayID: "gw-a", MessageID: msgID, OptionID: "pear"}, &d); code != 200 || d.ChatID != "c1" || d.MessageID == "" {
		t.Fatalf("press: %d %+v", code, d)
	}
	var ev contract.MessageEvent
	json.Unmarshal(g.expect(contract.TypeInbound).f.(contract.Inbound).Event, &ev)
	if ev.MessageID != d.MessageID {
		t.Fatalf("the press event's id %q, the answer's %q", ev.MessageID, d.MessageID)
	}
}
