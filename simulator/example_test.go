package simulator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// dialExample connects to the simulator the way a gateway does.
func dialExample(s *simulator.Server, gw simulator.Gateway) (*websocket.Conn, error) {
	token := contract.MintTokenTTL(gw.GatewayID, gw.Secret, time.Now(), contract.DefaultTokenTTL)
	conn, _, err := websocket.Dial(context.Background(), s.RelayURL(), &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}},
	})
	return conn, err
}

// A gateway connects, says hello, and receives an event a test injects.
func Example() {
	s, err := simulator.New(simulator.Options{})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	gw, _ := s.EnrollGateway(simulator.GatewaySpec{GatewayID: "gw-example", Platforms: []string{"telegram"}})

	conn, err := dialExample(s, gw)
	if err != nil {
		panic(err)
	}
	defer conn.CloseNow()
	ctx := context.Background()
	conn.Write(ctx, websocket.MessageText, []byte(`{"type": "hello", "platform": "telegram", "botId": "123456"}`+"\n"))
	_, msg, _ := conn.Read(ctx)
	f, _ := contract.DecodeFrame(msg)
	fmt.Println("descriptor:", f.(contract.DescriptorFrame).Descriptor.Label)

	d, _ := s.Inject("gw-example", json.RawMessage(`{"text": "hi", "source": {"platform": "telegram", "chat_id": "42", "chat_type": "dm", "user_id": "7"}}`))
	// The event had no message_id, so the simulator gave it one, as a
	// platform would, and says which.
	fmt.Println("delivery:", d.Mode, d.MessageID, d.ChatID)
	_, msg, _ = conn.Read(ctx)
	fmt.Print(string(msg))
	// Output:
	// descriptor: Telegram
	// delivery: live m-1 42
	// {"type":"inbound","event":{"text":"hi","source":{"platform":"telegram","chat_id":"42","chat_type":"dm","user_id":"7"},"message_id":"m-1"}}
}

// A result script makes the simulator decline egress to one chat.
func ExampleServer_Script() {
	s, _ := simulator.New(simulator.Options{})
	defer s.Close()
	gw, _ := s.EnrollGateway(simulator.GatewaySpec{GatewayID: "gw-example", Platforms: []string{"slack"}})
	s.Script(simulator.ResultScript{Op: contract.OpSend, ChatID: "C-forbidden", EgressDeclined: true})

	conn, _ := dialExample(s, gw)
	defer conn.CloseNow()
	ctx := context.Background()
	conn.Write(ctx, websocket.MessageText, []byte(`{"type":"hello","platform":"slack","botId":""}`+"\n"))
	conn.Read(ctx) // the descriptor
	conn.Write(ctx, websocket.MessageText, []byte(`{"type":"outbound","requestId":"0123456789abcdef0123456789abcdef","action":{"op":"send","chat_id":"C-forbidden","content":"hi","reply_to":null,"metadata":{}}}`+"\n"))
	_, msg, _ := conn.Read(ctx)
	fmt.Print(string(msg))
	fmt.Println(len(s.Outbound("gw-example")), "outbound recorded")
	// Output:
	// {"type":"outbound_result","requestId":"0123456789abcdef0123456789abcdef","result":{"success":false,"error":"slack egress declined: target is not an approved destination for this connection","code":"egress_declined"}}
	// 1 outbound recorded
}

// Env prints what a Hermes gateway needs to point at the simulator.
func ExampleServer_Env() {
	s, _ := simulator.New(simulator.Options{})
	defer s.Close()
	s.EnrollGateway(simulator.GatewaySpec{GatewayID: "gw-dev", Platforms: []string{"discord", "telegram"}})
	env, _ := s.Env("gw-dev")
	// The port and the secret differ on every run.
	env = regexp.MustCompile(`:\d+/`).ReplaceAllString(env, ":PORT/")
	env = regexp.MustCompile(`SECRET=[0-9a-f]{64}`).ReplaceAllString(env, "SECRET=<64 hex>")
	fmt.Print(env)
	// Output:
	// GATEWAY_RELAY_URL=ws://127.0.0.1:PORT/relay
	// GATEWAY_RELAY_ID=gw-dev
	// GATEWAY_RELAY_SECRET=<64 hex>
	// GATEWAY_RELAY_PLATFORMS=discord,telegram
}

// going_idle flips the instance to buffered-only; the next connection
// drains the buffer with bufferIds to acknowledge.
func ExampleServer_Buffer() {
	s, _ := simulator.New(simulator.Options{})
	defer s.Close()
	s.EnrollGateway(simulator.GatewaySpec{GatewayID: "gw-example", Platforms: []string{"discord"}})

	ev := json.RawMessage(`{"text":"while away","source":{"platform":"discord","chat_id":"c","chat_type":"dm","user_id":"u"}}`)
	d, _ := s.Inject("gw-example", ev) // no socket yet: buffered
	fmt.Println(d.Mode, len(s.Buffer("gw-example")), "waiting")
	// Output:
	// buffered 1 waiting
}

// A test presses a button of a prompt the gateway sent; the gateway gets
// the press as a prompt_response.
func ExampleServer_PressPrompt() {
	s, _ := simulator.New(simulator.Options{})
	defer s.Close()
	gw, _ := s.EnrollGateway(simulator.GatewaySpec{GatewayID: "gw-example", Platforms: []string{"discord"}})
	conn, err := dialExample(s, gw)
	if err != nil {
		panic(err)
	}
	defer conn.CloseNow()
	ctx := context.Background()
	conn.Write(ctx, websocket.MessageText, []byte(`{"type":"hello","platform":"discord","botId":""}`+"\n"))
	conn.Read(ctx) // the descriptor
	conn.Write(ctx, websocket.MessageText, []byte(`{"type":"outbound","requestId":"r1","action":{"op":"prompt","chat_id":"c1","content":"Tea?",`+
		`"prompt_kind":"approval","prompt_id":"ab12cd.0000beef","options":[{"id":"yes","label":"Yes"},{"id":"no","label":"No"}],"reply_to":null,"metadata":{}}}`+"\n"))
	_, msg, _ := conn.Read(ctx)
	f, _ := contract.DecodeFrame(msg)
	shown := f.(contract.OutboundResult).Result.MessageID

	s.PressPrompt(simulator.PressRequest{GatewayID: "gw-example", MessageID: shown, OptionID: "yes"})
	_, msg, _ = conn.Read(ctx)
	f, _ = contract.DecodeFrame(msg)
	var ev contract.MessageEvent
	json.Unmarshal(f.(contract.Inbound).Event, &ev)
	fmt.Println(ev.PromptResponse.PromptID, ev.PromptResponse.OptionID, ev.PromptResponse.Label, ev.PromptResponse.PromptMessageID == shown)
	// Output:
	// ab12cd.0000beef yes Yes true
}
