package contract_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/fixtures"
)

// seedFrames adds every golden and bad frame of package fixtures.
func seedFrames(f *testing.F, add func(line string)) {
	f.Helper()
	golden, err := fixtures.GoldenFrames()
	if err != nil {
		f.Fatal(err)
	}
	for _, g := range golden {
		add(g.Canonical)
		if g.Reference != "" {
			add(g.Reference)
		}
	}
	bad, err := fixtures.BadFrames()
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range bad {
		add(b.Bytes + "\n")
	}
}

// FuzzDecodeEvent checks that decoding an inbound event never panics,
// that a decoded event re-encodes to one that decodes to the same value
// (the gateway's defaults are a fixed point), and that only JSON objects
// (or an absent event) decode.
func FuzzDecodeEvent(f *testing.F) {
	seedFrames(f, func(line string) {
		var fr struct {
			Event json.RawMessage `json:"event"`
		}
		if json.Unmarshal([]byte(line), &fr) == nil && len(fr.Event) > 0 {
			f.Add([]byte(fr.Event))
		}
	})
	f.Add([]byte(`{"source":{"platform":"nope","chat_type":7},"message_type":"image","message_id":"m"}`))
	f.Add([]byte(`{"source":null,"media":[{"url":1}],"reply_to":"x"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := contract.DecodeEvent(raw)
		if err != nil {
			return
		}
		// An absent event (no bytes, or null) means {} with the defaults,
		// as the reference reads it; anything else must be an object.
		var obj map[string]json.RawMessage
		if trimmed := strings.TrimSpace(string(raw)); trimmed != "" && trimmed != "null" && json.Unmarshal(raw, &obj) != nil {
			t.Fatalf("DecodeEvent accepted a non-object: %q", raw)
		}
		out, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("a decoded event does not encode: %v", err)
		}
		ev2, err := contract.DecodeEvent(out)
		if err != nil {
			t.Fatalf("a re-encoded event does not decode: %v\n%s", err, out)
		}
		// Compare encodings: an empty list and an absent one are the same
		// event ("mediA":[] decodes to an empty, non-nil slice).
		out2, _ := json.Marshal(ev2)
		if string(out) != string(out2) {
			t.Fatalf("event changed in a round trip:\n%s\n%s", out, out2)
		}
		if !contains(contract.MessageTypes, ev.MessageType) {
			t.Fatalf("message_type %q is not one of the nine after the gateway's defaults (IN-009)", ev.MessageType)
		}
	})
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// FuzzValidateFrame checks that the validator never panics, that every
// violation names a requirement of the registry, and that it agrees with
// the decoder: a frame it finds nothing wrong with decodes.
func FuzzValidateFrame(f *testing.F) {
	seedFrames(f, func(line string) { f.Add([]byte(line)) })
	f.Add([]byte("{\"type\":\"outbound\",\"requestId\":\"r\",\"action\":{\"op\":\"send\",\"chat_id\":1}}\n"))
	f.Add([]byte("{\"type\":\"hello\"}"))
	f.Fuzz(func(t *testing.T, frame []byte) {
		vs := contract.ValidateFrame(frame)
		checkViolations(t, vs)
		if len(vs) > 0 {
			return
		}
		if len(frame) == 0 || frame[len(frame)-1] != '\n' {
			t.Fatalf("a frame without its newline validated (TRN-002): %q", frame)
		}
		if _, err := contract.DecodeFrame(frame[:len(frame)-1]); err != nil {
			t.Fatalf("a frame the validator accepts does not decode: %v\n%q", err, frame)
		}
	})
}

// FuzzValidateBody checks every HTTP body kind the same way: no panic,
// violations name registry requirements, and a request body with no
// violation decodes into its Go type, which the connector relies on.
func FuzzValidateBody(f *testing.F) {
	kinds := []string{contract.BodyProvisionRequest, contract.BodyProvisionResponse, contract.BodyEnrollRequest,
		contract.BodyEnrollResponse, contract.BodyPolicyRequest, contract.BodyMediaUploadResponse, contract.BodyError}
	bodies, err := fixtures.BadBodies()
	if err != nil {
		f.Fatal(err)
	}
	for _, b := range bodies {
		for i, k := range kinds {
			if k == b.Kind {
				f.Add(uint8(i), []byte(b.Bytes))
			}
		}
	}
	f.Add(uint8(0), []byte(`{"gatewayId":"gw","platform":"discord","botId":"","gatewayEndpoint":"","routeKeys":[]}`))
	f.Add(uint8(4), []byte(`{"platform":"discord","requireAddress":true,"freeResponseScopes":["c"],"allowOtherBots":false}`))
	f.Add(uint8(5), []byte(`{"id":"0123456789abcdef0123456789abcdef","size":1}`))
	f.Fuzz(func(t *testing.T, k uint8, body []byte) {
		kind := kinds[int(k)%len(kinds)]
		vs := contract.ValidateBody(kind, body)
		checkViolations(t, vs)
		if len(vs) > 0 {
			return
		}
		var dst any
		switch kind {
		case contract.BodyProvisionRequest:
			dst = &contract.ProvisionRequest{}
		case contract.BodyEnrollRequest:
			dst = &contract.EnrollRequest{}
		case contract.BodyPolicyRequest:
			dst = &contract.PolicyRequest{}
		case contract.BodyMediaUploadResponse:
			dst = &contract.MediaUploadResponse{}
		default:
			return
		}
		if err := json.Unmarshal(body, dst); err != nil {
			t.Fatalf("a %s body the validator accepts does not decode: %v\n%q", kind, err, body)
		}
	})
}

func checkViolations(t *testing.T, vs []contract.Violation) {
	t.Helper()
	for _, v := range vs {
		if _, ok := contract.LookupRequirement(v.Requirement); !ok {
			t.Fatalf("violation %+v names no requirement of the registry", v)
		}
		if v.Message == "" || strings.ContainsRune(v.Field, ' ') {
			t.Fatalf("violation %+v has no message or a malformed field path", v)
		}
	}
}
