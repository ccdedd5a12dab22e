package contract_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/fixtures"
)

// checkRawEncoders holds the encoders around raw members to AppendFrame:
// the same bytes for the same frame.
func checkRawEncoders(t *testing.T, raw []byte, requestID, bufferID string) {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil || b.Len() == 0 || b.Bytes()[0] != '{' {
		return
	}
	obj := b.Bytes()
	want, err := contract.AppendFrame(nil, contract.Inbound{Event: obj, BufferID: bufferID})
	if err != nil {
		t.Fatal(err)
	}
	if got := contract.AppendInbound([]byte("x"), obj, bufferID); string(got) != "x"+string(want) {
		t.Fatalf("AppendInbound:\n got %s\nwant %s", got[1:], want)
	}
	if payload, ok := contract.DeliveryPayload(want); !ok || !bytes.Equal(payload, obj) {
		t.Fatalf("DeliveryPayload(%s) = %s, %v", want, payload, ok)
	}
	var r contract.Result
	if r.UnmarshalJSON(obj) == nil {
		res, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		want, err := contract.AppendFrame(nil, contract.OutboundResult{RequestID: requestID, Result: r})
		if err != nil {
			t.Fatal(err)
		}
		if got := contract.AppendOutboundResult(nil, requestID, res); !bytes.Equal(got, want) {
			t.Fatalf("AppendOutboundResult:\n got %s\nwant %s", got, want)
		}
		id, back, ok := contract.ScanOutboundResult(want)
		f, err := contract.DecodeFrame(want)
		if err != nil {
			t.Fatalf("%s: %v", want, err)
		}
		if ok && (string(id) != f.(contract.OutboundResult).RequestID || !bytes.Equal(mustJSON(t, back), mustJSON(t, f.(contract.OutboundResult).Result))) {
			t.Fatalf("ScanOutboundResult(%s) = %q %+v, DecodeFrame %+v", want, id, back, f)
		}
		if quoted, _ := contract.RawField(want, "requestId"); !ok && !bytes.Contains(quoted, []byte(`\`)) {
			t.Fatalf("ScanOutboundResult refused a canonical result: %s", want)
		}
	}
}

func mustJSON(t *testing.T, r contract.Result) []byte {
	b, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRawEncodersMatchAppendFrame(t *testing.T) {
	for _, raw := range []string{
		`{"success":true,"message_id":"m-1"}`, `{ "text" : "é <&> \u2028", "source" : {"platform":"p"} }`, `{}`,
		`{"success":false,"error":"e","code":"internal","chat_info":{"name":"n","type":"dm"},"z":[1,{"a":null}]}`,
	} {
		for _, ids := range [][2]string{{"r", ""}, {"0123456789abcdef0123456789abcdef", "b-1"}, {`q"<\>`, "b\u00e9"}} {
			checkRawEncoders(t, []byte(raw), ids[0], ids[1])
		}
	}
	fw := contract.Forward{Platform: "discord", BotID: "b", Method: "POST", Path: "/i", Headers: [][2]string{{"A", "1"}}, Body: []byte("hi"), Profile: "p"}
	frame, err := contract.EncodeFrame(contract.PassthroughForward{Forward: fw, BufferID: "b-2"})
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := contract.DeliveryPayload(frame)
	if !ok {
		t.Fatalf("no forward in %s", frame)
	}
	if got := contract.AppendPassthroughForward(nil, raw, "b-2"); !bytes.Equal(got, frame) {
		t.Fatalf("AppendPassthroughForward:\n got %s\nwant %s", got, frame)
	}
	desc, err := contract.EncodeFrame(contract.DescriptorFrame{Descriptor: contract.PlaceholderDescriptor("telegram")})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := contract.PlaceholderDescriptor("telegram").MarshalJSON()
	if got := contract.AppendDescriptor(nil, d); !bytes.Equal(got, desc) {
		t.Fatalf("AppendDescriptor:\n got %s\nwant %s", got, desc)
	}
	if _, ok := contract.DeliveryPayload(desc); ok {
		t.Fatal("DeliveryPayload found a payload in a descriptor frame")
	}
}

func FuzzRawEncoders(f *testing.F) {
	f.Add([]byte(`{"success":true,"message_id":"m-1"}`), "r", "")
	f.Add([]byte(`{"text":"x","source":{}}`), "\x00\xff", "b-1")
	f.Fuzz(checkRawEncoders)
}

// eventCorpus is a spread of good and bad events.
func eventCorpus(t testing.TB) []string {
	out := []string{
		`{"text": "hi \u00e9 \ud83d\ude00", "message_type": "text", "message_id": "m1", "n": -1.5e3, "ok": [true, false, null, {"a": []}],
 "source": {"platform": "discord", "chat_id": "c1", "chat_type": "group", "user_id": "u1", "scope_id": "g1", "is_bot": true, "thread_id": null, "extra": {"x": 1}}}`,
		`{"source":{"platform":"telegram","chat_id":"42","chat_type":"dm","user_id":""}}`,
		`{"message_id":1,"source":{"platform":"a","chat_id":"b","chat_type":"dm","user_id":"c"},"message_id":"m2"}`,
		`{"message\u005fid":"m","source":{"platform":"a","chat_id":"b","chat_type":"dm","user_id":"c"}}`,
		`{"source":{"platform":"a","chat_id":"b","chat_type":"dm","user_id":"c"},"t":"` + "\xff" + `"}`,
		`{"source":{"platform":"a","chat_id":"b","chat_type":"room","user_id":"c"}}`,
		`{"source":{"platform":"a","chat_id":"b","chat_type":"dm","user_id":"c"},"deep":` + strings.Repeat("[", 1200) + strings.Repeat("]", 1200) + `}`,
		`{}`, `[]`, ``, `{"source":null}`, `{"text":5,"source":{"platform":"a","chat_id":"b","chat_type":"dm","user_id":"c"}}`,
	}
	bad, err := fixtures.BadFrames()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		if ev, ok := contract.RawField([]byte(b.Bytes), "event"); ok && json.Valid([]byte(b.Bytes)) {
			out = append(out, string(ev))
		}
	}
	return out
}

// checkScanEvent holds ScanEvent to the slow path: whatever it accepts,
// ValidateFrame accepts in an inbound frame (IN-001, IN-002), in the bytes
// json.Compact writes, with the source and message_id encoding/json reads.
func checkScanEvent(t *testing.T, raw []byte) {
	scan, ok := contract.ScanEvent([]byte("x"), raw)
	if !ok {
		if string(scan.Event) != "x" {
			t.Fatalf("a refused event left %q in dst", scan.Event)
		}
		return
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("accepted invalid JSON (%v): %q", err, raw)
	}
	if got := scan.Event[1:]; !bytes.Equal(got, b.Bytes()) {
		t.Fatalf("compact form differs:\nfast %s\nslow %s", got, b.Bytes())
	}
	for _, v := range contract.ValidateFrame(contract.AppendInbound(nil, b.Bytes(), "")) {
		if v.Requirement == "IN-001" || v.Requirement == "IN-002" || v.Requirement == "TRN-016" {
			t.Fatalf("accepted an event the validator refuses (%v): %s", v, raw)
		}
	}
	var ev struct {
		Source contract.SessionSource `json:"source"`
	}
	if err := json.Unmarshal(b.Bytes(), &ev); err != nil || ev.Source != scan.Source {
		t.Fatalf("source %+v, encoding/json reads %+v (%v)", scan.Source, ev.Source, err)
	}
	want, found := contract.RawField(b.Bytes(), "message_id")
	if found != (scan.MessageID != nil) || !bytes.Equal(want, scan.MessageID) {
		t.Fatalf("message_id %s, want %s", scan.MessageID, want)
	}
}

func TestScanEventAgreesWithValidator(t *testing.T) {
	accepted := 0
	for _, raw := range eventCorpus(t) {
		checkScanEvent(t, []byte(raw))
		if _, ok := contract.ScanEvent(nil, []byte(raw)); ok {
			accepted++
		}
	}
	if accepted < 3 {
		t.Fatalf("fast path accepted only %d events; it should take the common case", accepted)
	}
}

func FuzzScanEvent(f *testing.F) {
	for _, raw := range eventCorpus(f) {
		f.Add([]byte(raw))
	}
	f.Fuzz(checkScanEvent)
}
