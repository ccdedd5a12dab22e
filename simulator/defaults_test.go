package simulator_test

import (
	"testing"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// TestDefaultDrainReplaysOneAtATime: with no DrainWindow the simulator
// replays like the hosted connectors of the field, one entry per ack, so a
// gateway that only works with several unacked entries in flight is caught
// by default.
func TestDefaultDrainReplaysOneAtATime(t *testing.T) {
	s := start(t, simulator.Options{})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	ids := bufferEvents(t, s, 0, 3)

	g := dialGW(t, s, "gw1")
	g.hello("discord")
	for i, id := range ids {
		in := g.expect(contract.TypeInbound).f.(contract.Inbound)
		if in.BufferID != id {
			t.Fatalf("entry %d has bufferId %s, want %s", i, in.BufferID, id)
		}
		// Nothing else is in flight until this one is acked.
		g.expectQuiet()
		g.ack(id)
	}
	awaitJournal(t, s, 0, drainComplete)
}
