package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/simulator"
)

// TestValidateReadsARelaysimCapture: what relaysim captures of a real
// exchange (the reference client handshakes two platforms, gets an event
// and replies) is what conform validate reads, a frame per line, and the
// reference pair produces no violation even under --strict.
func TestValidateReadsARelaysimCapture(t *testing.T) {
	sim, err := simulator.New(simulator.Options{Capture: simulator.CaptureOptions{Dir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	gw, err := sim.EnrollGateway(simulator.GatewaySpec{GatewayID: "gw-cap", Platforms: []string{"telegram", "discord"}})
	if err != nil {
		t.Fatal(err)
	}
	replied := make(chan string, 1)
	c, err := client.New(client.Options{
		Config: client.Config{URL: sim.URL(), GatewayID: gw.GatewayID, Secret: gw.Secret,
			Platforms: []client.Identity{{Platform: "telegram", BotID: "1"}, {Platform: "discord", BotID: "2"}}},
		Handler: client.HandlerFuncs{Event: func(ctx context.Context, d *client.Delivery) error {
			r, _ := d.Client().Send(ctx, d.Event.Source.ChatID, "echo: "+d.Event.Text)
			replied <- r.MessageID
			return nil
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Inject("gw-cap", json.RawMessage(`{"text":"hi","message_id":"1","source":{"platform":"telegram","chat_id":"42","chat_type":"dm","user_id":"7"}}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-replied:
	case <-ctx.Done():
		t.Fatal("no reply")
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var capt simulator.CaptureInfo
	for {
		seq := sim.JournalSeq()
		if list := sim.Captures().Captures; len(list) == 1 && !list[0].Open {
			capt = list[0]
			break
		}
		if _, err := sim.Await(ctx, seq, nil); err != nil {
			t.Fatalf("capture never closed: %+v", sim.Captures())
		}
	}
	if capt.Frames < 6 { // 2 hellos, 2 descriptors, inbound, outbound, outbound_result
		t.Fatalf("capture %+v", capt)
	}
	for _, args := range [][]string{{capt.File}, {"--strict", capt.File}} {
		var out, errb bytes.Buffer
		if code := runValidate(args, nil, &out, &errb); code != 0 || out.Len() != 0 || !strings.Contains(errb.String(), "no violations") {
			t.Fatalf("conform validate %v: exit %d\n%s%s", args, code, out.String(), errb.String())
		}
	}
}
