package contract_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/relaykit/relaykit/contract"
)

type fieldReq struct{ Field, Req string }

func violations(v []contract.Violation) []fieldReq {
	out := []fieldReq{}
	for _, x := range v {
		out = append(out, fieldReq{x.Field, x.Requirement})
	}
	return out
}

func TestValidateFrameReportsEveryViolation(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		want  []fieldReq
	}{
		{"no newline", `{"type":"going_idle"}`, []fieldReq{{"", "TRN-002"}}},
		{"not object", "[]\n", []fieldReq{{"", "TRN-001"}}},
		{"no type", "{}\n", []fieldReq{{"type", "TRN-003"}}},
		{"unknown type is fine", `{"type":"later"}` + "\n", []fieldReq{}},
		{"hello", `{"type":"hello","botId":1}` + "\n", []fieldReq{{"botId", "HS-001"}, {"platform", "HS-001"}}},
		{"outbound", `{"type":"outbound","requestId":"R","action":{"op":"send","content":"x"},"botId":"b"}` + "\n",
			[]fieldReq{{"action.chat_id", "OUT-004"}, {"action.metadata", "OUT-004"}, {"action.reply_to", "OUT-004"}, {"botId", "OUT-005"}, {"requestId", "OUT-002"}}},
		{"unknown op", `{"type":"outbound","requestId":"0123456789abcdef0123456789abcdef","action":{"op":"fly"}}` + "\n", []fieldReq{{"action.op", "OUT-003"}}},
		{"interrupt without reason", `{"type":"interrupt","session_key":"k"}` + "\n", []fieldReq{{"reason", "IN-004"}}},
		{"going_idle extra", `{"type":"going_idle","x":1}` + "\n", []fieldReq{{"x", "IDLE-001"}}},
		{"ack empty", `{"type":"inbound_ack","bufferId":""}` + "\n", []fieldReq{{"bufferId", "IDLE-002"}}},
		{"descriptor", `{"type":"descriptor","descriptor":{"contract_version":0,"platform":"p","label":"l","max_message_length":"x","supports_draft_streaming":false,"supports_edit":true,"supports_threads":false,"markdown_dialect":"plain","len_unit":"bytes","supported_ops":["send","send","fly"]}}` + "\n",
			[]fieldReq{{"descriptor.contract_version", "HS-007"}, {"descriptor.len_unit", "HS-008"}, {"descriptor.max_message_length", "HS-009"}, {"descriptor.supported_ops.1", "HS-010"}, {"descriptor.supported_ops.2", "HS-010"}}},
		{"inbound", `{"type":"inbound","bufferId":"","event":{"message_type":"image","source":{"platform":"discord","chat_id":5,"chat_type":"room","user_id":"u"}}}` + "\n",
			[]fieldReq{{"bufferId", "IN-001"}, {"event.message_type", "IN-003"}, {"event.source.chat_id", "IN-002"}, {"event.source.chat_type", "IN-002"}}},
		{"result", `{"type":"outbound_result","requestId":"r","result":{"success":false,"code":"egress_declined","ambiguous":true}}` + "\n",
			[]fieldReq{{"result.ambiguous", "OUT-011"}, {"result.error", "OUT-008"}}},
		{"passthrough", `{"type":"passthrough_forward","forward":{"method":"POST","path":"/","platform":"d","botId":"","headers":[["a"]],"bodyB64":"*"}}` + "\n",
			[]fieldReq{{"forward.bodyB64", "IN-006"}, {"forward.headers.0", "IN-006"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := violations(contract.ValidateFrame([]byte(tt.frame)))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateBody(t *testing.T) {
	tests := []struct {
		kind, body string
		want       []fieldReq
	}{
		{contract.BodyProvisionRequest, `{"gatewayId":"g","platform":"discord","botId":"","gatewayEndpoint":"","routeKeys":[],"instanceId":""}`, []fieldReq{{"instanceId", "HTTP-001"}}},
		{contract.BodyProvisionResponse, `{"secret":"","gatewayId":"g","deliveryKey":"d","tenant":"t"}`, []fieldReq{{"secret", "HTTP-002"}}},
		{contract.BodyPolicyRequest, `{"platform":"discord","requireAddress":"yes","freeResponseScopes":[1]}`, []fieldReq{{"allowOtherBots", "HTTP-004"}, {"freeResponseScopes.0", "HTTP-004"}, {"requireAddress", "HTTP-004"}}},
		{contract.BodyMediaUploadResponse, `{"id":"ABC","size":-1}`, []fieldReq{{"id", "HTTP-005"}, {"size", "HTTP-005"}}},
		{contract.BodyEnrollRequest, `{"enrollmentToken":"t","gatewayId":"g"}`, []fieldReq{}},
		{contract.BodyError, `[]`, []fieldReq{{"", "HTTP-006"}}},
	}
	for _, tt := range tests {
		got := violations(contract.ValidateBody(tt.kind, []byte(tt.body)))
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.kind, diff)
		}
	}
}
