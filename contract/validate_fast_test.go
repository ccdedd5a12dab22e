package contract_test

import (
	"encoding/json"
	"testing"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/fixtures"
)

// outboundCoreViolation reports whether ValidateFrame finds an OUT-003,
// OUT-004 or OUT-028 violation, the rules OutboundActionValid vouches for.
func outboundCoreViolation(line []byte) bool {
	for _, v := range contract.ValidateFrame(append(append([]byte{}, line...), '\n')) {
		switch v.Requirement {
		case "OUT-003", "OUT-004", "OUT-028":
			return true
		}
	}
	return false
}

func TestOutboundActionValidNeverVouchesForAnInvalidAction(t *testing.T) {
	var lines [][]byte
	golden, err := fixtures.GoldenFrames()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range golden {
		lines = append(lines, []byte(g.Canonical[:len(g.Canonical)-1]))
	}
	bad, err := fixtures.BadFrames()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		lines = append(lines, []byte(b.Bytes))
	}
	lines = append(lines,
		[]byte(`{"type":"outbound","requestId":"r","action":{"op":"send","chat_id":"c","content":"x","reply_to":null,"metadata":{}}}`),
		[]byte(`{"type":"outbound","requestId":"r","action":{"op":"send","chat_id":"c","content":"x","content":"y","metadata":{}}}`),
		[]byte(`{"type":"outbound","requestId":"r","action":{"op":"send","chat_id":"c","content":"x","reply_to":null,"metadata":{"_x":1}}}`),
		[]byte(`{"type":"outbound","requestId":"r","action":{"chat_id":"c","op":"send","content":"x","reply_to":null,"metadata":{}}}`),
		[]byte(`{"type":"outbound","requestId":"r","action":{"op":"react","chat_id":"c","message_id":"m","emoji":"x","remove":1,"metadata":{}}}`),
	)
	vouched := 0
	for _, line := range lines {
		if !jsonValid(line) || !contract.OutboundActionValid(line) {
			continue
		}
		vouched++
		if outboundCoreViolation(line) {
			t.Errorf("fast path vouched for an invalid action: %s", line)
		}
	}
	if vouched < 5 {
		t.Fatalf("fast path vouched for only %d frames; it is not being exercised", vouched)
	}
	if !contract.OutboundActionValid(lines[len(lines)-5]) {
		t.Fatal("a canonical send must take the fast path")
	}
}

// FuzzOutboundActionValid holds the fast path to ValidateFrame's verdict.
func FuzzOutboundActionValid(f *testing.F) {
	f.Add([]byte(`{"type":"outbound","requestId":"r","action":{"op":"send","chat_id":"c","content":"x","reply_to":null,"metadata":{}}}`))
	f.Add([]byte(`{"type":"outbound","requestId":"r","action":{"op":"typing","chat_id":"c","metadata":{},"content":""}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		if !jsonValid(line) {
			return
		}
		if contract.OutboundActionValid(line) && outboundCoreViolation(line) {
			t.Fatalf("fast path vouched for an invalid action: %s", line)
		}
	})
}

func jsonValid(b []byte) bool { return json.Valid(b) }
