package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// The whole loop against an in-process simulator: connect, receive an
// event, reply to it.
func Example() {
	sim, _ := simulator.New(simulator.Options{})
	defer sim.Close()
	gw, _ := sim.EnrollGateway(simulator.GatewaySpec{GatewayID: "gw-example", Platforms: []string{"telegram"}})

	replied := make(chan string, 1)
	c, err := client.New(client.Options{
		Config: client.Config{
			URL:       sim.URL(),
			GatewayID: gw.GatewayID,
			Secret:    gw.Secret,
			Platforms: []client.Identity{{Platform: "telegram", BotID: "123456"}},
		},
		Handler: client.HandlerFuncs{
			Event: func(ctx context.Context, d *client.Delivery) error {
				r, _ := d.Client().Send(ctx, d.Event.Source.ChatID, "echo: "+d.Event.Text)
				replied <- r.MessageID
				return nil // admitted: a buffered delivery is acked now
			},
		},
	})
	if err != nil {
		panic(err)
	}
	defer c.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		panic(err)
	}
	fmt.Println("descriptor:", c.Descriptor("telegram").Label, c.Descriptor("telegram").LenUnit)

	sim.Inject("gw-example", json.RawMessage(`{"text":"hi","message_id":"1","source":{"platform":"telegram","chat_id":"42","chat_type":"dm","user_id":"7"}}`))
	fmt.Println("replied:", <-replied != "")
	fmt.Println("sent:", strings.Contains(string(sim.Outbound("gw-example")[0].Action), `"content":"echo: hi"`))
	// Output:
	// descriptor: Telegram utf16
	// replied: true
	// sent: true
}

// Boot runs the reference boot sequence from the environment, as a Hermes
// gateway does, and reports each step.
func ExampleBoot() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, report, err := client.Boot(ctx, client.Options{
		Getenv:  os.Getenv, // GATEWAY_RELAY_URL, GATEWAY_RELAY_ID, ...
		Handler: client.HandlerFuncs{},
	})
	for _, step := range report.Steps {
		fmt.Println(step) // e.g. "provision[discord]: ok (provisioned as gw-host)"
	}
	if err != nil {
		return
	}
	defer c.Close(context.Background())
}

// Results say whether an action happened, did not happen, or may have
// happened.
func ExampleClient_Do() {
	var c *client.Client // connected
	ctx := context.Background()
	r, err := c.Do(ctx, contract.Action{Op: contract.OpReact, ChatID: "C1", MessageID: "m9", Emoji: "👀"},
		client.Platform("slack"))
	switch {
	case err == nil:
		// applied
	case errors.Is(err, client.ErrUnsupportedOp):
		// slack's descriptor does not advertise react; nothing was sent
	case errors.Is(err, client.ErrNotConnected), errors.Is(err, client.ErrClosed) && !r.Ambiguous:
		// no socket: nothing was sent, try again once connected
	case r.Ambiguous:
		// the frame reached the connector, the outcome is unknown: do not
		// blindly resend a non-idempotent action
	default:
		// definitely not applied; r.Code and r.Error say why
	}
}

// Draining before a shutdown: flip to buffered-only, await the ack, close.
func ExampleClient_GoIdle() {
	var c *client.Client // connected
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ok, err := c.GoIdle(ctx); !ok {
		fmt.Println("connector did not confirm the flip:", err)
	}
	_ = c.Close(ctx)
}

// Admission: ack a buffered event as soon as it is durably queued, then do
// the long work.
func ExampleDelivery_Ack() {
	queue := make(chan contract.MessageEvent, 100)
	_ = client.HandlerFuncs{
		Event: func(ctx context.Context, d *client.Delivery) error {
			select {
			case queue <- d.Event:
				return d.Ack() // durable enough for this gateway
			case <-ctx.Done():
				return ctx.Err() // not admitted: the connector replays it
			}
		},
	}
}

// Observing the connection.
func ExampleOptions_onState() {
	_ = client.Options{
		OnState: func(ev client.StateEvent) {
			switch ev.State {
			case client.StateReconnecting:
				fmt.Printf("lost (%d %s), retrying in %s\n", ev.Code, ev.Reason, ev.Wait)
			case client.StateRevoked:
				fmt.Println("secret revoked; re-provision this gateway")
			}
		},
	}
}

// LoadConfig reads the reference gateway's environment and config.yaml.
func ExampleLoadConfig() {
	env := map[string]string{
		"GATEWAY_RELAY_URL":       "https://connector.example/",
		"GATEWAY_RELAY_PLATFORMS": "discord,telegram",
		"GATEWAY_RELAY_BOT_IDS":   `{"discord":{"botId":"111"}}`,
		"DISCORD_ALLOW_BOTS":      "mentions",
	}
	cfg, warnings := client.LoadConfig(func(k string) string { return env[k] }, "-")
	fmt.Println(cfg.URL, contract.DialURL(cfg.URL), len(warnings))
	for _, id := range cfg.Platforms {
		p, send := client.ProjectPolicy(id.Platform, cfg.Policies[id.Platform])
		fmt.Printf("%s botId=%q policy sent=%v allowOtherBots=%v\n", id.Platform, id.BotID, send, p.AllowOtherBots)
	}
	// Output:
	// https://connector.example wss://connector.example/relay 0
	// discord botId="111" policy sent=true allowOtherBots=false
	// telegram botId="" policy sent=false allowOtherBots=false
}

// Connect says why a connection did not come up, for errors.Is.
func ExampleClient_Connect() {
	c, _ := client.New(client.Options{
		Config:    client.Config{URL: "http://127.0.0.1:1", GatewayID: "gw", Secret: "s"}, // nothing listens
		Reconnect: client.Bool(false),
	})
	defer c.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	switch err := c.Connect(ctx); {
	case errors.Is(err, client.ErrRefused):
		fmt.Println("unreachable: is the connector running at GATEWAY_RELAY_URL?")
	case errors.Is(err, client.ErrUnauthorized), errors.Is(err, client.ErrTokenExpired):
		fmt.Println("check GATEWAY_RELAY_ID, GATEWAY_RELAY_SECRET and the clock")
	case errors.Is(err, client.ErrNoDescriptor):
		fmt.Println("check GATEWAY_RELAY_PLATFORMS against what the gateway fronts")
	case errors.Is(err, client.ErrTimeout):
		fmt.Println("the connector did not answer")
	}
	// Output:
	// unreachable: is the connector running at GATEWAY_RELAY_URL?
}
