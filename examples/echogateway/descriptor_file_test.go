package main

import (
	"strings"
	"testing"

	"github.com/relaykit/relaykit/client/adapter"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// TestSplitsForTheExampleDescriptorFile: the platform of the checked-in
// descriptor file of docs/relaysim.md (50 UTF-16 units) makes the gateway
// split a long echo into parts that fit, the use the file is there for.
func TestSplitsForTheExampleDescriptorFile(t *testing.T) {
	d, err := simulator.LoadDescriptorFile("../relaysim/smallchat.json")
	if err != nil {
		t.Fatal(err)
	}
	s := newSimWith(t, simulator.Options{Descriptors: map[string]contract.CapabilityDescriptor{d.Platform: d}}, d.Platform)
	g := startGateway(t, s, "gw-echo")
	g.waitLog(t, "echo gateway ready")
	text := strings.Repeat("a long line for a small platform 😀 ", 5) // 180 UTF-16 units
	if _, err := s.Inject("gw-echo", event(d.Platform, "42", "m1", text)); err != nil {
		t.Fatal(err)
	}
	g.waitLog(t, "msg=echoed")
	parts := contents(t, answered(s, contract.OpSend), "42")
	if len(parts) < 4 {
		t.Fatalf("%d parts for %d UTF-16 units at 50: %q", len(parts), adapter.Length("echo: "+text, contract.LenUnitUTF16), parts)
	}
	for _, p := range parts {
		if n := adapter.Length(p, contract.LenUnitUTF16); n > 50 {
			t.Errorf("part of %d UTF-16 units: %q", n, p)
		}
	}
}
