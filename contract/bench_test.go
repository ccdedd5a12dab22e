package contract_test

import (
	"encoding/json"
	"testing"

	"github.com/relaykit/relaykit/contract"
)

var (
	benchResult  = []byte(`{"type":"outbound_result","requestId":"0123456789abcdef0123456789abcdef","result":{"success":true,"message_id":"m-123"}}` + "\n")
	benchInbound = []byte(`{"type":"inbound","event":{"text":"hello there","message_type":"text","message_id":"m1","source":{"platform":"discord","chat_id":"c1","chat_type":"group","user_id":"u1","scope_id":"g1"}},"bufferId":"b-1"}` + "\n")
	benchAction  = contract.Outbound{RequestID: "0123456789abcdef0123456789abcdef", Action: contract.Action{Op: contract.OpSend, ChatID: "c1", Content: "hello there", Metadata: map[string]any{"user_id": "u1"}}, Platform: "discord"}
)

func BenchmarkDecodeOutboundResult(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := contract.DecodeFrame(benchResult); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeInbound(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := contract.DecodeFrame(benchInbound); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeInboundEvent(b *testing.B) {
	f, _ := contract.DecodeFrame(benchInbound)
	raw := f.(contract.Inbound).Event
	b.ReportAllocs()
	for b.Loop() {
		if _, err := contract.DecodeEvent(json.RawMessage(raw)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeOutbound(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 512)
	for b.Loop() {
		var err error
		if buf, err = contract.AppendFrame(buf[:0], benchAction); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeInbound(b *testing.B) {
	f, _ := contract.DecodeFrame(benchInbound)
	b.ReportAllocs()
	buf := make([]byte, 0, 512)
	for b.Loop() {
		buf, _ = contract.AppendFrame(buf[:0], f)
	}
}
