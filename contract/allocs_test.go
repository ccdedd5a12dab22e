package contract_test

import (
	"testing"

	"github.com/relaykit/relaykit/contract"
)

// TestHotPathAllocations holds the per-frame fast paths to their
// allocation budgets, which docs/performance.md counts on: a connector
// decoding a typical outbound pays for the boxed frame and the strings it
// keeps (requestId, platform, chat_id, content) and the metadata map, and
// nothing for the scan; a gateway decoding a result pays for its
// message_id; a result is marshalled into one buffer.
func TestHotPathAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	outbound := []byte(`{"type":"outbound","requestId":"0123456789abcdef0123456789abcdef","platform":"telegram","action":{"op":"send","chat_id":"42","content":"ping","reply_to":null,"metadata":{}}}`)
	result := []byte(`{"type":"outbound_result","requestId":"0123456789abcdef0123456789abcdef","result":{"success":true,"message_id":"m-12345"}}` + "\n")
	event := []byte(`{"text":"hello there","message_id":"m1","source":{"platform":"discord","chat_id":"c1","chat_type":"group","user_id":"u1"}}`)
	buf := make([]byte, 0, 512)
	for _, tc := range []struct {
		name   string
		budget float64
		fn     func()
	}{
		{"DecodeLine(outbound)", 6, func() { contract.DecodeLine(outbound) }},
		{"ScanOutboundResult", 1, func() { contract.ScanOutboundResult(result) }},
		{"Result.MarshalJSON", 1, func() { contract.Result{Success: true, MessageID: "m-12345"}.MarshalJSON() }},
		// The source's four strings.
		{"ScanEvent", 4, func() { contract.ScanEvent(buf[:0], event) }},
		{"AppendOutboundResult", 0, func() { contract.AppendOutboundResult(buf[:0], "0123456789abcdef", []byte(`{"success":true}`)) }},
		{"AppendInbound", 0, func() { contract.AppendInbound(buf[:0], event, "b-1") }},
	} {
		if got := testing.AllocsPerRun(200, tc.fn); got > tc.budget {
			t.Errorf("%s: %v allocations, budget %v", tc.name, got, tc.budget)
		}
	}
}
