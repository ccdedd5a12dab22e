package adapter

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relaykit/relaykit/contract"
)

// TestCommandEvent: a Discord slash command forwarded raw becomes a command
// event with text "/<name> <option values>", group with the guild as
// scope, as the reference gateway reads it; other interactions and other
// platforms do not.
func TestCommandEvent(t *testing.T) {
	fw := func(platform, body string) contract.Forward {
		return contract.Forward{Platform: platform, Method: "POST", Path: "/interactions", Body: []byte(body)}
	}
	got, ok := commandEvent(fw("discord", `{"type":2,"id":"i1","guild_id":"g1","channel_id":"c1","data":{"name":"ask","options":[{"value":"why"},{"value":3}]},"member":{"user":{"id":"u1"}}}`))
	want := contract.MessageEvent{Text: "/ask why 3", MessageType: "command", MessageID: "i1",
		Source: contract.SessionSource{Platform: "discord", ChatID: "c1", ChatType: "group", UserID: "u1", ScopeID: "g1", MessageID: "i1"}}
	if !ok {
		t.Fatal("a slash command was not read as a command event")
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("command event (-want +got):\n%s", d)
	}
	dm, _ := commandEvent(fw("discord", `{"type":2,"id":"i2","channel_id":"c2","data":{"name":"ping"},"user":{"id":"u2"}}`))
	if dm.Source.ChatType != "dm" || dm.Source.UserID != "u2" || dm.Text != "/ping" {
		t.Errorf("a DM slash command: %+v", dm)
	}
	for _, f := range []contract.Forward{
		fw("discord", `{"type":1}`),
		fw("discord", `{"type":3,"data":{"custom_id":"hp1:p:o"}}`),
		fw("slack", `{"type":2,"data":{"name":"ask"}}`),
		fw("discord", `not json`),
	} {
		if ev, ok := commandEvent(f); ok {
			t.Errorf("%s %s read as a command: %+v", f.Platform, f.Body, ev)
		}
	}
}
