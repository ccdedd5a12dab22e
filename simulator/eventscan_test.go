package simulator

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/fixtures"
)

// scanCorpus is a spread of good and bad events.
func scanCorpus() []string {
	good := `{"text": "hi \u00e9 \ud83d\ude00", "message_type": "text", "message_id": "m1", "n": -1.5e3, "ok": [true, false, null, {"a": []}],
 "source": {"platform": "discord", "chat_id": "c1", "chat_type": "group", "user_id": "u1", "scope_id": "g1", "is_bot": true, "thread_id": null, "extra": {"x": 1}}}`
	out := []string{
		good,
		`{"source":{"platform":"telegram","chat_id":"42","chat_type":"dm","user_id":""}}`,
		`{}`, `[]`, `1`, `null`, `"x"`, ``, `{`, `{"source":{}}`, `{"source":[]}`, `{"source":null}`,
		`{"text":null,"source":{"platform":"a","chat_id":"b","chat_type":"dm","user_id":"c"}}`,
		`{"text":5,"source":{"platform":"a","chat_id":"b","chat_type":"dm","user_id":"c"}}`,
		`{"source":{"platform":"a","chat_id":"b","chat_type":"room","user_id":"c"}}`,
		`{"source":{"platform":"a","chat_id":5,"chat_type":"dm","user_id":"c"}}`,
		`{"source":{"platform":"a","chat_id":"b","chat_type":"dm"}}`,
		`{"source":{"platform":"a","chat_id":"b","chat_type":"dm","user_id":null}}`,
		`{"source":{"platform":"a","chat_id":"b","chat_type":"dm","user_id":"c","scope_id":7}}`,
		`{"source":{"platform":"a","chat_id":"b","chat_type":"dm","user_id":"c","scope_id":null}}`,
		`{"source":{"platform":"a\n","chat_id":"b","chat_type":"dm","user_id":"c"}}`,
		`{"source":{"platform":"\u0061","chat_id":"b","chat_type":"dm","user_id":"c"}}`,
		`{"source":{"platform":"a","chat_id":"b","chat_type":"dm","user_id":"c"},"source":{"platform":"z"}}`,
		`{"source":{"platform":"a","chat_id":"b","chat_type":"dm","user_id":"c"}} x`,
		`{"source":{"platform":"a","chat_id":"b","chat_type":"dm","user_id":"c",}}`,
		`{"source":{"platform":"a","chat_id":"b","chat_type":"dm","user_id":"c"},"n":01}`,
		`{"source":{"platform":"a","chat_id":"b","chat_type":"dm","user_id":"c"},"n":1.}`,
		`{"source":{"platform":"a","chat_id":"b","chat_type":"dm","user_id":"c"},"s":"\x"}`,
		`{"source":{"platform":"a","chat_id":"b","chat_type":"dm","user_id":"c"},"s":"\u12"}`,
		"{\"source\":{\"platform\":\"a\",\"chat_id\":\"b\",\"chat_type\":\"dm\",\"user_id\":\"\xff\"}}",
		"{\"source\":{\"platform\":\"a\",\"chat_id\":\"b\",\"chat_type\":\"dm\",\"user_id\":\"c\"},\"t\":\"\t\"}",
		" \t\r\n{ \"source\" : { \"platform\" : \"a\" , \"chat_id\" : \"b\" , \"chat_type\" : \"thread\" , \"user_id\" : \"c\" } } \n",
		`{"source":{"platform":"a","chat_id":"b","chat_type":"dm","user_id":"c","is_bot":"yes"}}`,
		`{"source":{"platform":"a","chat_id":"b","chat_type":"dm","user_id":"c"},"deep":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`,
		`{"source":{"platform":"a","chat_id":"b","chat_type":"dm","user_id":"c"},"n":tru}`,
	}
	if bad, err := fixtures.BadFrames(); err == nil {
		for _, b := range bad {
			var f struct {
				Type  string          `json:"type"`
				Event json.RawMessage `json:"event"`
			}
			if json.Unmarshal([]byte(b.Bytes), &f) == nil && f.Type == contract.TypeInbound && len(f.Event) > 0 {
				out = append(out, string(f.Event))
			}
		}
	}
	return out
}

// checkScan holds contract.ScanEvent, InjectEvent's fast path, to its slow
// path: whatever it accepts, the contract's validator accepts, with the
// same bytes and the same source.
func checkScan(t *testing.T, raw string) {
	scan, ok := contract.ScanEvent(nil, []byte(raw))
	fast, src := scan.Event, scan.Source
	slow, slowSrc, err := slowEvent([]byte(raw), false)
	if !ok {
		return // the slow path decides; nothing to compare
	}
	if err != nil {
		t.Fatalf("fast path accepted what the validator refuses (%v):\n%s", err, raw)
	}
	if !bytes.Equal(fast, slow) {
		t.Fatalf("compact form differs:\nfast %s\nslow %s", fast, slow)
	}
	if src != slowSrc {
		t.Fatalf("source differs:\nfast %+v\nslow %+v", src, slowSrc)
	}
}

func TestScanEventAgreesWithValidator(t *testing.T) {
	accepted := 0
	for _, raw := range scanCorpus() {
		checkScan(t, raw)
		if _, ok := contract.ScanEvent(nil, []byte(raw)); ok {
			accepted++
		}
	}
	if accepted < 4 {
		t.Fatalf("fast path accepted only %d events; it should take the common case", accepted)
	}
}

func FuzzScanEvent(f *testing.F) {
	for _, raw := range scanCorpus() {
		f.Add(raw)
	}
	f.Fuzz(checkScan)
}
