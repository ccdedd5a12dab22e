package pier

import (
	"context"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

func TestMalformedInputCloses(t *testing.T) {
	for name, tc := range map[string]struct {
		input  string
		binary bool
		code   int
		reason string
	}{
		"not json":      {input: "{\"type\": \"outbound\", \n", code: 1007, reason: "malformed frame"},
		"two objects":   {input: "{\"type\":\"x\"}{\"type\":\"y\"}\n", code: 1007, reason: "malformed frame"},
		"array":         {input: "[1, 2]\n", code: 1007, reason: "frame is not an object"},
		"null":          {input: "null\n", code: 1007, reason: "frame is not an object"},
		"invalid utf-8": {input: "{\"type\":\"hello\",\"platform\":\"\xff\"}\n", binary: true, code: 1007, reason: "malformed frame"},
		"over 1 MiB":    {input: `{"type":"pad","p":"` + strings.Repeat("a", 1<<20) + "\"}\n", code: 1009, reason: "frame too large"},
		"unterminated":  {input: strings.Repeat("a", 1<<20+1), code: 1009, reason: "frame too large"},
	} {
		t.Run(name, func(t *testing.T) {
			b := newBench(t, Options{})
			g := b.enroll(nil)
			c := b.connect(g, PlatformPier)
			typ := websocket.MessageText
			if tc.binary {
				typ = websocket.MessageBinary
			}
			_ = c.ws.Write(context.Background(), typ, []byte(tc.input))
			code, reason, fs := c.closed()
			if code != tc.code || reason != tc.reason {
				t.Fatalf("close %d %q, want %d %q", code, reason, tc.code, tc.reason)
			}
			if len(fs) != 1 || fs[0]["type"] != "error" {
				t.Fatalf("want one error frame before the close, got %v", fs)
			}
		})
	}
}

func TestFramingIsLenient(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(nil)
	c, _ := b.dial(b.token(g))
	// A hello split over three messages, after blank lines, as binary.
	hello := "\n \t\r\n" + `{"botId": "", "platform": "pier", "type": "hello"}` + "\n"
	_ = c.ws.Write(context.Background(), websocket.MessageBinary, []byte(hello[:10]))
	c.sendRaw(hello[10:30])
	c.sendRaw(hello[30:])
	c.expect("descriptor")
	// Two outbounds in one message, Python-style escapes included.
	c.sendRaw(`{"type": "outbound", "requestId": "r-1", "action": {"op": "send", "chat_id": "pier-lobby", "content": "h\u00e9 \ud83d\udd0c", "reply_to": null, "metadata": {}}}` + "\n" +
		`{"type":"outbound","requestId":"r-2","action":{"op":"send","chat_id":"pier-lobby","content":"2","reply_to":null,"metadata":{}}}` + "\n")
	for _, rid := range []string{"r-1", "r-2"} {
		if f := c.expect("outbound_result"); f["requestId"] != rid || f["result"].(map[string]any)["success"] != true {
			t.Fatalf("result %v, want a success for %s", f, rid)
		}
	}
	// A frame of the largest size, 1 MiB less one byte, of a type pier
	// does not know: ignored.
	pad := `{"type":"pier_test_pad","p":"` + strings.Repeat("a", maxFrame-len(`{"type":"pier_test_pad","p":""}`)) + `"}`
	if len(pad) != maxFrame {
		t.Fatalf("pad is %d bytes", len(pad))
	}
	c.sendRaw(pad + "\n")
	// Frames of types pier does not know, connector-side ones included,
	// and frames without a usable type get no answer at all (TRN-004).
	for _, f := range []string{`{"type":"descriptor","descriptor":{}}`, `{"type":"outbound_result","requestId":"x","result":{}}`,
		`{"type":5}`, `{"type":""}`, `{"platform":"pier"}`} {
		c.sendRaw(f + "\n")
	}
	c.quiet()
}

func TestFramesBatchedWithNewlines(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(nil)
	c, _ := b.dial(b.token(g))
	c.sendRaw(`{"type":"hello","platform":"pier","botId":""}` + "\n" + `{"type":"hello","platform":"pier-ops","botId":""}` + "\n")
	c.expect("descriptor")
	c.expect("descriptor")
	for i := 0; i < 3; i++ {
		c.barrier()
	}
	ms := c.messages()
	if len(ms) < 4 {
		t.Fatalf("%d messages", len(ms))
	}
	for _, m := range ms {
		if !strings.HasSuffix(string(m), "\n") || strings.Contains(string(m), "\n\n") {
			t.Fatalf("message %q: every frame ends with exactly one newline (TRN-002)", m)
		}
	}
}
