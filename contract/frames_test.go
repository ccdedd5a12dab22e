package contract_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/relaykit/relaykit/contract"
)

// referenceV5 is vector V5: the exact bytes the reference gateway writes.
var referenceV5 = []string{
	`{"type": "hello", "platform": "telegram", "botId": "123456"}` + "\n",
	`{"type": "outbound", "requestId": "0123456789abcdef0123456789abcdef", "action": {"op": "send", "chat_id": "c1", "content": "h\u00e9", "reply_to": null, "metadata": {"user_id": "u1"}}, "platform": "telegram", "botId": "123456"}` + "\n",
	`{"type": "interrupt", "session_key": "agent:main:telegram:dm:c1", "reason": null}` + "\n",
	`{"type": "going_idle"}` + "\n",
	`{"type": "inbound_ack", "bufferId": "buf-42"}` + "\n",
}

// canonicalV5 is what EncodeFrame writes for the same frames.
var canonicalV5 = []string{
	`{"type":"hello","platform":"telegram","botId":"123456"}` + "\n",
	`{"type":"outbound","requestId":"0123456789abcdef0123456789abcdef","action":{"op":"send","chat_id":"c1","content":"hé","reply_to":null,"metadata":{"user_id":"u1"}},"platform":"telegram","botId":"123456"}` + "\n",
	`{"type":"interrupt","session_key":"agent:main:telegram:dm:c1","reason":null}` + "\n",
	`{"type":"going_idle"}` + "\n",
	`{"type":"inbound_ack","bufferId":"buf-42"}` + "\n",
}

func TestReferenceFramesDecodeAndEncodeCanonically(t *testing.T) {
	for i, ref := range referenceV5 {
		if v := contract.ValidateFrame([]byte(ref)); len(v) != 0 {
			t.Errorf("frame %d: reference bytes have violations: %v", i, v)
		}
		f, err := contract.DecodeFrame([]byte(ref))
		if err != nil {
			t.Fatalf("frame %d: DecodeFrame: %v", i, err)
		}
		got, err := contract.EncodeFrame(f)
		if err != nil {
			t.Fatalf("frame %d: EncodeFrame: %v", i, err)
		}
		if string(got) != canonicalV5[i] {
			t.Errorf("frame %d:\n got %s\nwant %s", i, got, canonicalV5[i])
		}
		again, err := contract.DecodeFrame(got)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(f, again); diff != "" {
			t.Errorf("frame %d: canonical round trip differs (-first +second):\n%s", i, diff)
		}
	}
}

func TestEveryFrameTypeRoundTrips(t *testing.T) {
	reason := "user"
	frames := []contract.Frame{
		contract.Hello{Platform: "discord", BotID: "b", CommandManifest: []contract.Command{{Name: "ping", Description: "Ping"}}},
		contract.Outbound{RequestID: strings.Repeat("a", 32), Action: contract.Action{Op: contract.OpEdit, ChatID: "c", MessageID: "m", Content: "x"}},
		contract.Interrupt{SessionKey: "k", Reason: &reason},
		contract.GoingIdle{},
		contract.InboundAck{BufferID: "b1"},
		contract.DescriptorFrame{Descriptor: contract.PlaceholderDescriptor("discord")},
		contract.Inbound{Event: json.RawMessage(`{"text":"hi","source":{"platform":"discord","chat_id":"c","chat_type":"dm","user_id":"u"}}`), BufferID: "b2"},
		contract.OutboundResult{RequestID: "r", Result: contract.Result{Success: false, Error: "nope", Code: contract.CodeNotFound}},
		contract.InterruptInbound{SessionKey: "k", ChatID: "c"},
		contract.GoingIdleAck{},
		contract.PassthroughForward{Forward: contract.Forward{Platform: "discord", Method: "POST", Path: "/i", Headers: [][2]string{{"a", "b"}}, Body: []byte("{}")}, BufferID: "p1"},
	}
	for _, f := range frames {
		b, err := contract.EncodeFrame(f)
		if err != nil {
			t.Fatalf("%s: %v", f.FrameType(), err)
		}
		if v := contract.ValidateFrame(b); len(v) != 0 {
			t.Errorf("%s: encoded frame has violations: %v\n%s", f.FrameType(), v, b)
		}
		got, err := contract.DecodeFrame(b)
		if err != nil {
			t.Fatalf("%s: DecodeFrame: %v", f.FrameType(), err)
		}
		if diff := cmp.Diff(f, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: round trip differs (-want +got):\n%s", f.FrameType(), diff)
		}
	}
}

func TestDecodeFrameErrors(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want error
	}{
		{`{"type":`, contract.ErrMalformedFrame},
		{`[]`, contract.ErrNotObject},
		{`null`, contract.ErrNotObject},
		{`1`, contract.ErrNotObject},
		{`{"type":1}`, contract.ErrMissingType},
		{`{}`, contract.ErrMissingType},
	} {
		if _, err := contract.DecodeFrame([]byte(tt.in)); !errors.Is(err, tt.want) {
			t.Errorf("DecodeFrame(%s) = %v, want %v", tt.in, err, tt.want)
		}
	}
	f, err := contract.DecodeFrame([]byte(`{"type":"future_frame","x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := f.(contract.UnknownFrame); !ok || u.Type != "future_frame" {
		t.Fatalf("unknown type decoded as %#v", f)
	}
	if _, err := contract.DecodeFrame([]byte(`{"type":"descriptor","descriptor":{"platform":"x"}}`)); err == nil || !strings.Contains(err.Error(), "contract_version") {
		t.Fatalf("descriptor missing fields: %v", err)
	}
}

func TestDecodeDescriptorDefaults(t *testing.T) {
	d, err := contract.DecodeDescriptor([]byte(`{"contract_version":1,"platform":"p","label":"L","max_message_length":"2000",
		"supports_draft_streaming":false,"supports_edit":true,"supports_threads":false,"markdown_dialect":"plain",
		"len_unit":"utf16","supported_ops":["send","",3,"draft"],"future":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if d.MaxMessageLength != 2000 || d.Emoji != contract.DefaultEmoji || d.LenUnit != contract.LenUnitUTF16 {
		t.Fatalf("decoded %+v", d)
	}
	if diff := cmp.Diff([]string{"send", "draft"}, d.SupportedOps); diff != "" {
		t.Fatalf("supported_ops: %s", diff)
	}
	if !d.SupportsOp(contract.OpDraft) || d.SupportsOp(contract.OpEdit) {
		t.Fatal("SupportsOp ignores the advertised list")
	}
	legacy := contract.PlaceholderDescriptor("p")
	if !legacy.SupportsOp(contract.OpFollowUp) || legacy.SupportsOp(contract.OpReact) {
		t.Fatal("empty supported_ops must mean the legacy set")
	}
	zero, _ := contract.DecodeDescriptor([]byte(`{"contract_version":1,"platform":"p","label":"L","max_message_length":0,
		"supports_draft_streaming":false,"supports_edit":true,"supports_threads":false,"markdown_dialect":"plain","len_unit":"chars"}`))
	if zero.MessageLimit() != contract.DefaultMaxMessageLength {
		t.Fatalf("limit %d", zero.MessageLimit())
	}
	if _, err := contract.DecodeDescriptor([]byte(`{"contract_version":1,"platform":"p","label":"L","max_message_length":1,
		"supports_draft_streaming":"no","supports_edit":true,"supports_threads":false,"markdown_dialect":"plain","len_unit":"chars"}`)); err == nil || !strings.Contains(err.Error(), "supports_draft_streaming") {
		t.Fatalf("wrong type: %v", err)
	}
}

func TestResultInfoAndDecline(t *testing.T) {
	var nested, flat contract.Result
	if err := json.Unmarshal([]byte(`{"success":true,"chat_info":{"name":"General","type":"group"}}`), &nested); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(`{"success":true,"name":"General","type":"group","message_id":12}`), &flat); err != nil {
		t.Fatal(err)
	}
	want := contract.ChatInfo{Name: "General", Type: "group"}
	if nested.Info("c") != want || flat.Info("c") != want {
		t.Fatalf("Info: nested %+v flat %+v", nested.Info("c"), flat.Info("c"))
	}
	if flat.MessageID != "12" {
		t.Fatalf("numeric message_id decoded as %q", flat.MessageID)
	}
	if (contract.Result{}).Info("c") != (contract.ChatInfo{Name: "c", Type: "dm"}) {
		t.Fatal("Info fallback")
	}
	if !(contract.Result{Error: "discord Egress Declined: target is not approved"}).Declined() {
		t.Fatal("decline by error text not recognised")
	}
}

// TestDecodeFrameFieldErrors holds DecodeFrame's refusals of mistyped
// fields to a *FieldError naming the frame and the field, whose text is
// the one receivers have always logged.
func TestDecodeFrameFieldErrors(t *testing.T) {
	for _, c := range []struct {
		line, frame, field, problem string
	}{
		{`{"type":"outbound","requestId":5,"action":{"op":"send"}}`, "outbound", "requestId", "wrong type (number)"},
		{`{"type":"outbound","requestId":"r","platform":true,"action":{"op":"send"}}`, "outbound", "platform", "wrong type (boolean)"},
		{`{"type":"outbound","requestId":"r","action":{"op":5}}`, "outbound", "action.op", "wrong type (number)"},
		{`{"type":"outbound","requestId":"r","action":{"op":"send","content":[]}}`, "outbound", "action.content", "wrong type (array)"},
		{`{"type":"outbound","requestId":"r","action":"send"}`, "outbound", "action", "not a JSON object"},
		{`{"type":"hello","platform":{}}`, "hello", "platform", "wrong type (object)"},
		{`{"type":"hello","platform":"p","command_manifest":"x"}`, "hello", "command_manifest", "wrong type (string)"},
		{`{"type":"interrupt","session_key":1,"reason":null}`, "interrupt", "session_key", "wrong type (number)"},
		{`{"type":"descriptor","descriptor":[]}`, "descriptor", "descriptor", "missing or not an object"},
		{`{"type":"inbound","event":"e"}`, "inbound", "event", "not an object"},
		{`{"type":"passthrough_forward"}`, "passthrough_forward", "forward", "missing or not an object"},
	} {
		_, err := contract.DecodeFrame([]byte(c.line))
		var fe *contract.FieldError
		if !errors.As(err, &fe) || fe.Frame != c.frame || fe.Field != c.field || fe.Problem != c.problem {
			t.Errorf("%s: %#v (%v), want frame %s field %s: %s", c.line, err, err, c.frame, c.field, c.problem)
			continue
		}
		if want := c.frame + " frame: " + c.field + ": " + c.problem; err.Error() != want {
			t.Errorf("%s: %q, want %q", c.line, err, want)
		}
	}
	var a contract.Action
	err := a.UnmarshalJSON([]byte(`{"op":"send","chat_id":"c","kind":7}`))
	var fe *contract.FieldError
	if !errors.As(err, &fe) || fe.Frame != "" || fe.Field != "action.kind" || err.Error() != "action.kind: wrong type (number)" {
		t.Errorf("Action.UnmarshalJSON: %#v (%v)", err, err)
	}
}
