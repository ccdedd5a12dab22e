package simulator_test

import (
	"encoding/json"
	"testing"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
	"github.com/relaykit/relaykit/simulator"
)

// pressSim starts a simulator with a gateway that has sent a two-option
// prompt on discord, and returns it with the prompt's message id.
func pressSim(t *testing.T, devs ...deviation.ID) (*simulator.Server, *testGW, string) {
	t.Helper()
	s := start(t, withDeviations(t, simulator.Options{}, devs...))
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw-a", Platforms: []string{"discord"}})
	g := dialGW(t, s, "gw-a")
	g.hello("discord")
	res := g.call("discord", contract.Action{Op: contract.OpPrompt, ChatID: "c1", Content: "Pick", PromptKind: "choice",
		PromptID: "abc123.0000beef", Options: []contract.PromptOption{{ID: "apple", Label: "Apple"}, {ID: "pear", Label: "Pear"}}})
	if !res.Success || res.MessageID == "" {
		t.Fatalf("prompt result %+v", res)
	}
	return s, g, res.MessageID
}

func TestPressPromptDeliversAPromptResponse(t *testing.T) {
	s, g, msgID := pressSim(t)
	var d simulator.Delivery
	if code := ctl(t, s, "POST", "press", simulator.PressRequest{GatewayID: "gw-a", MessageID: msgID, OptionID: "pear"}, &d); code != 200 || d.Mode != simulator.DeliveryLive {
		t.Fatalf("press: %d %+v", code, d)
	}
	in := g.expect(contract.TypeInbound).f.(contract.Inbound)
	var ev contract.MessageEvent
	if err := json.Unmarshal(in.Event, &ev); err != nil {
		t.Fatal(err)
	}
	pr := ev.PromptResponse
	if pr == nil || pr.PromptID != "abc123.0000beef" || pr.OptionID != "pear" || pr.Label != "Pear" || pr.PromptMessageID != msgID {
		t.Fatalf("prompt_response %+v", pr)
	}
	if ev.Source.ChatID != "c1" || ev.Source.Platform != "discord" || ev.Source.ChatType != "dm" {
		t.Fatalf("source %+v", ev.Source)
	}
}

func TestPressPromptRefusesUnknownPromptsAndOptions(t *testing.T) {
	s, _, msgID := pressSim(t)
	for _, tc := range []struct {
		req   simulator.PressRequest
		code  int
		field string
	}{
		{simulator.PressRequest{GatewayID: "gw-a", MessageID: "m-nope", OptionID: "pear"}, 404, "messageId"},
		{simulator.PressRequest{GatewayID: "gw-a", MessageID: msgID, OptionID: "plum"}, 400, "optionId"},
		{simulator.PressRequest{GatewayID: "gw-a", OptionID: "pear"}, 400, "messageId"},
		{simulator.PressRequest{GatewayID: "gw-b", MessageID: msgID, OptionID: "pear"}, 404, "gatewayId"},
	} {
		var e struct {
			Error string `json:"error"`
		}
		if code := ctl(t, s, "POST", "press", tc.req, &e); code != tc.code || len(e.Error) < len(tc.field) || e.Error[:len(tc.field)] != tc.field {
			t.Errorf("press %+v: %d %q, want %d naming %s", tc.req, code, e.Error, tc.code, tc.field)
		}
	}
}
