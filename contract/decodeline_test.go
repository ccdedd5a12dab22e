package contract

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/relaykit/relaykit/fixtures"
)

// lineCorpus is every golden and bad frame, plus shapes the single pass
// must hand to its slow path or judge like encoding/json.
func lineCorpus(t testing.TB) []string {
	var out []string
	golden, err := fixtures.GoldenFrames()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range golden {
		out = append(out, g.Canonical)
		if g.Reference != "" {
			out = append(out, g.Reference)
		}
	}
	bad, err := fixtures.BadFrames()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		out = append(out, b.Bytes)
	}
	return append(out,
		`{"type":"outbound","requestId":"r","action":{"op":"send","chat_id":"c","content":"x","reply_to":null,"metadata":{}}}`,
		` { "type" : "outbound" , "requestId" : "r" , "action" : { "op" : "typing" , "chat_id" : "c" , "metadata" : { } } } `+"\r\n",
		`{"action":{"op":"send","chat_id":"c","content":"x","reply_to":null,"metadata":{}},"requestId":"r","type":"outbound"}`,
		`{"type":"outbound","requestId":"r","action":{"op":"send","metadata":{"a":1},"metadata":{"b":2}}}`,
		`{"type":"outbound","requestId":"r","action":{"op":"send","options":[{"id":"a","style":"x"}],"options":[{"id":"b"}]}}`,
		`{"type":"outbound","requestId":"r","action":{"op":"typing","content":"a","content":null}}`,
		`{"type":"outbound","requestId":"r","action":{"op":"send","kind":"a","kind":null,"op":null}}`,
		`{"type":"outbound","requestId":"r","action":{"op":"\u0073end","chat_id":"c","content":"x","reply_to":null,"metadata":{}}}`,
		`{"type":"outbound","requestId":"r","platform":5,"action":{"op":"send"}}`,
		`{"type":"outbound","requestId":"r","action":{"op":"send"},"action":null}`,
		`{"type":"outbound","requestId":"r\u0031","action":{"op":"send","draft_id":"x"}}`,
		`{"type":"outbound","RequestID":"r","action":{"op":"send"}}`,
		`{"type":"outbound_result","requestId":"r","result":{"success":true,"message_id":"m","code":"not_found","x":[1]}}`,
		`{"type":"outbound_result","requestId":7,"result":{"success":false,"error":"e","chat_info":{"name":"n","type":1}}}`,
		`{"requestId":"r","type":"outbound_result","result":{"success":true}}`,
		`{"type":"outbound_result","requestId":"r","result":{"success":true},"result":{"success":false}}`,
		`{"type":"outbound_result","type":"inbound","event":{}}`,
		`{"type":"inbound","event":{"text":"`+"\xff"+`","source":{}},"bufferId":"b"}`,
		`{"type":"inbound","event":{"a":`+strings.Repeat("[", 1200)+strings.Repeat("]", 1200)+`}}`,
		`{"type":"inbound","event":{"a":`+strings.Repeat("[", 12000)+strings.Repeat("]", 12000)+`}}`,
		`"`+"\xff"+`"`, `["`+"\xfe"+`", {}]`, `{"type":"outbound","requestId":"r","action":{"op":"send","content":"`+"\xc3"+`"}}`,
		`{"t\u0079pe":"going_idle"}`, `{"type":"x","type":5}`, `{"type":""}`, `{"type":null}`, `[]`, `"x"`, `{`, ``, `{} {}`,
		`{"type":"hello","a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"platform":"p"}`,
		`{"type":"passthrough_forward","forward":{"platform":"p","headers":[["a","b"],[1]],"bodyB64":"aGk="},"bufferId":"b"}`,
		`{"type":"descriptor","descriptor":{"platform":5}}`,
	)
}

// checkDecodeLine holds DecodeLine, and the fast paths built on its
// scanner, to the decoders as they were (decode_reference_test.go).
func checkDecodeLine(t *testing.T, line []byte) {
	f, info, err := DecodeLine(line)
	rf, rerr := refDecodeFrame(line)
	if (err == nil) != (rerr == nil) || (err != nil && err.Error() != rerr.Error()) {
		t.Fatalf("error %v, the reference says %v\n%q", err, rerr, line)
	}
	if !reflect.DeepEqual(f, rf) {
		t.Fatalf("frame differs:\n got %#v\nwant %#v\n%q", f, rf, line)
	}
	trimmed := bytes.TrimRight(line, "\r\n")
	// A receiver tells a malformed line (TRN-016) from one that is no
	// object by InvalidUTF8, so it must be right for any valid JSON.
	if json.Valid(trimmed) && info.InvalidUTF8 != !utf8.Valid(trimmed) {
		t.Fatalf("InvalidUTF8 %v on %q", info.InvalidUTF8, line)
	}
	var head map[string]json.RawMessage
	if json.Unmarshal(trimmed, &head) == nil {
		typ, _ := RawField(trimmed, "type")
		if s, ok := rawString(typ); ok && s != "" && info.Type != s {
			t.Fatalf("Type %q, want %q: %q", info.Type, s, line)
		}
		if info.Type == TypeOutbound {
			id, _ := RawField(trimmed, "requestId")
			platform, _ := RawField(trimmed, "platform")
			action, _ := RawField(trimmed, "action")
			wantID, _ := rawString(id)
			wantPlatform, _ := rawString(platform)
			if info.RequestID != wantID || info.Platform != wantPlatform || !bytes.Equal(info.Action, action) {
				t.Fatalf("info %+v, want requestId %q platform %q action %s", info, wantID, wantPlatform, action)
			}
			if err == nil && info.ActionValid != refOutboundActionValid(trimmed) {
				t.Fatalf("ActionValid %v, OutboundActionValid says otherwise: %q", info.ActionValid, line)
			}
		}
		if info.Type == TypeOutbound && json.Valid(trimmed) && OutboundActionValid(trimmed) != refOutboundActionValid(trimmed) {
			t.Fatalf("OutboundActionValid changed its verdict: %q", line)
		}
	}
	if id, r, ok := ScanOutboundResult(line); ok {
		want, isResult := rf.(OutboundResult)
		if rerr != nil || !isResult || want.RequestID != string(id) || !reflect.DeepEqual(want.Result, r) {
			t.Fatalf("ScanOutboundResult = %q %#v, DecodeFrame = %#v %v: %q", id, r, rf, rerr, line)
		}
	}
	if payload, ok := DeliveryPayload(line); ok {
		var want []byte
		switch fr := rf.(type) {
		case Inbound:
			want, _ = RawField(trimmed, "event")
			if !bytes.Equal(fr.Event, payload) {
				t.Fatalf("DeliveryPayload %s, the event is %s", payload, fr.Event)
			}
		case PassthroughForward:
			want, _ = RawField(trimmed, "forward")
		default:
			if rerr == nil {
				t.Fatalf("DeliveryPayload found %s in a %T", payload, rf)
			}
			want, _ = RawField(trimmed, "event")
			if w, found := RawField(trimmed, "forward"); found {
				want = w
			}
		}
		if !bytes.Equal(payload, want) {
			t.Fatalf("DeliveryPayload %s, want %s", payload, want)
		}
	}
}

func TestDecodeLineAgreesWithReference(t *testing.T) {
	fast := 0
	for _, line := range lineCorpus(t) {
		checkDecodeLine(t, []byte(line))
		if _, _, ok := ScanOutboundResult([]byte(line)); ok {
			fast++
		}
	}
	if fast < 3 {
		t.Fatalf("ScanOutboundResult took only %d lines; it should take the common shape", fast)
	}
}

func FuzzDecodeLineAgreesWithReference(f *testing.F) {
	for _, line := range lineCorpus(f) {
		f.Add([]byte(line))
	}
	f.Fuzz(checkDecodeLine)
}

// TestScanMembersAgreesWithEncodingJSON: what the single pass vouches
// for is one valid JSON object, with the members encoding/json sees.
func TestScanMembersAgreesWithEncodingJSON(t *testing.T) {
	for _, line := range lineCorpus(t) {
		checkScanMembers(t, []byte(line))
	}
}

func checkScanMembers(t *testing.T, line []byte) {
	ms, ok, bad := scanMembers(line, nil)
	if !ok {
		return
	}
	if !json.Valid(line) {
		t.Fatalf("scanner vouched for invalid JSON: %q", line)
	}
	if bad != !utf8.Valid(line) {
		t.Fatalf("badUTF8 %v on %q", bad, line)
	}
	var want []member
	if err := refEachField(line, func(k string, v []byte) error {
		want = append(want, member{key: []byte(k), val: v})
		return nil
	}); err != nil {
		t.Fatalf("encoding/json-valid line is no object to eachField: %q", line)
	}
	if len(ms) != len(want) {
		t.Fatalf("%d members, want %d: %q", len(ms), len(want), line)
	}
	for i := range ms {
		if !bytes.Equal(ms[i].key, want[i].key) || !bytes.Equal(ms[i].val, want[i].val) {
			t.Fatalf("member %d is %q:%s, want %q:%s", i, ms[i].key, ms[i].val, want[i].key, want[i].val)
		}
	}
}
