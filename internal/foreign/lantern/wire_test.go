package main

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Vectors from section 3.5 and 11.3 of the contract, computed by lantern's
// own code, not package contract's.

func TestTokenVectors(t *testing.T) {
	v1 := mintToken("gw-test", "s3cret", time.Unix(1700000000-300, 0), 300*time.Second)
	if v1 != "Z3ctdGVzdDoxNzAwMDAwMDAwOjdhNDc1YWZjZjM3ZTNmNjRjNDQ2Yzc0MTI5YjE4NTNhOTVmYWE4NjlhOGNjYzlmYTg5ZGNlZjc1ODVkYTIxNDM" {
		t.Errorf("V1: %s", v1)
	}
	if v2 := mintToken("gw-test", "s3cret", time.Unix(1700000000, 0), 0); v2 != "Z3ctdGVzdDowOjE4ZjkyNDk3NWM3MDk3NmQwYjQ3MzlhZWYwYzQxNWFmYjMxNmI5MjQ0M2RkZGQxMDVjYjJlNmNjNjZhNGM5NzA" {
		t.Errorf("V2: %s", v2)
	}
}

func TestSessionKeyVectors(t *testing.T) {
	for _, c := range []struct {
		s    source
		want string
	}{
		{source{Platform: "discord", ChatType: "group", ChatID: "chan1", UserID: "u1", ScopeID: "g1"}, "agent:main:discord:group:chan1:u1"},
		{source{Platform: "discord", ChatType: "thread", ChatID: "chan1", ThreadID: "th9", UserID: "u1"}, "agent:main:discord:thread:chan1:th9"},
		{source{Platform: "telegram", ChatType: "dm", ChatID: "42"}, "agent:main:telegram:dm:42"},
		{source{Platform: "telegram", ChatType: "dm", UserID: "42", ThreadID: "5"}, "agent:main:telegram:dm:42:5"},
		{source{Platform: "slack", ChatType: "group", ChatID: "C1", UserID: "U1", ScopeID: "T1"}, "agent:main:slack:group:T1:C1:U1"},
		{source{Platform: "slack", ChatType: "group", ChatID: "C1", UserID: "U1", ProspectiveThreadID: "p1", Profile: "main"}, "agent:main~:slack:thread:C1:p1"},
		{source{Platform: "telegram", ChatType: "dm", ChatID: "7", Profile: "ops", UserIDAlt: "alt"}, "agent:ops:telegram:dm:7"},
	} {
		if got := sessionKey(c.s, false); got != c.want {
			t.Errorf("%+v: %q, want %q", c.s, got, c.want)
		}
	}
}

func TestURLDerivations(t *testing.T) {
	for _, c := range []struct{ in, dial, base string }{
		{"https://c.example", "wss://c.example/relay", "https://c.example"},
		{" http://c.example:8080/ ", "ws://c.example:8080/relay", "http://c.example:8080"},
		{"wss://c.example/relay", "wss://c.example/relay", "https://c.example"},
		{"http://c.example//", "ws://c.example/relay", "http://c.example"},
	} {
		if d := dialURL(c.in); d != c.dial || baseURL(d) != c.base {
			t.Errorf("%q: dial %q base %q", c.in, d, baseURL(d))
		}
		if dialURL(dialURL(c.in)) != dialURL(c.in) {
			t.Errorf("%q: not idempotent", c.in)
		}
	}
}

func TestEncodeFrameIsASCII(t *testing.T) {
	b, err := encodeFrame(map[string]any{"type": "outbound", "content": "hé 😀 <&>"})
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.HasSuffix(s, "}\n") || strings.Count(s, "\n") != 1 {
		t.Errorf("frame %q", s)
	}
	for _, r := range s {
		if r >= utf8.RuneSelf {
			t.Fatalf("non-ASCII in %q", s)
		}
	}
	if !strings.Contains(s, `\ud83d\ude00`) || !strings.Contains(s, `<&>`) {
		t.Errorf("frame %q: want a surrogate pair and unescaped <&>", s)
	}
	var back map[string]string
	if err := json.Unmarshal(b, &back); err != nil || back["content"] != "hé 😀 <&>" {
		t.Errorf("round trip %q: %v", back["content"], err)
	}
	if _, err := encodeFrame(map[string]string{"x": strings.Repeat("a", maxFrame)}); err == nil {
		t.Error("a frame over 1 MiB was encoded")
	}
}

func TestLinesReassembly(t *testing.T) {
	var l lines
	var got []string
	add := func(b []byte) { got = append(got, string(b)) }
	for _, m := range []string{`{"a":`, `1}` + "\n" + `{"b":2}` + "\r\n\n" + `{"c"`, `:3}` + "\n"} {
		if err := l.feed([]byte(m), add); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{`{"a":1}`, `{"b":2}`, ``, `{"c":3}`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("lines %q, want %q", got, want)
	}
	// A frame of exactly 1 MiB passes, in small pieces; one byte more does
	// not.
	frame := strings.Repeat("y", maxFrame)
	got = nil
	for i := 0; i < len(frame); i += 1000 {
		if err := l.feed([]byte(frame[i:min(i+1000, len(frame))]), add); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.feed([]byte("\n"), add); err != nil || len(got) != 1 || len(got[0]) != maxFrame {
		t.Errorf("a 1 MiB frame: %v, %d lines", err, len(got))
	}
	if err := l.feed([]byte(strings.Repeat("x", maxFrame+2)), add); err != errLineTooLong {
		t.Errorf("an endless line: %v", err)
	}
}

func TestRequestIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newRequestID(time.Now())
		if !requestIDRe(id) || seen[id] {
			t.Fatalf("requestId %q (seen %v)", id, seen[id])
		}
		seen[id] = true
	}
	a := typingAction{Op: "typing", ChatID: "c", Metadata: map[string]any{}}
	first, again := contentRequestID("telegram", a), contentRequestID("telegram", a)
	if first != again || !requestIDRe(contentRequestID("", a)) {
		t.Error("content-addressed ids are not stable 32 hex")
	}
}

func TestParseDescriptor(t *testing.T) {
	good := `{"contract_version":7,"platform":"x","label":"X","max_message_length":0,"supports_draft_streaming":true,
		"supports_edit":false,"supports_threads":false,"markdown_dialect":"plain","len_unit":"utf16","supported_ops":["send",3,"","draft"],"future":{}}`
	d, err := parseDescriptor(json.RawMessage(good))
	if err != nil {
		t.Fatal(err)
	}
	if d.maxLen != 4096 || d.lenUnit != "utf16" || !d.supports("draft") || d.supports("edit") || d.supports("typing") {
		t.Errorf("descriptor %+v", d)
	}
	legacy := strings.Replace(good, `"supported_ops":["send",3,"","draft"]`, `"supported_ops":"all"`, 1)
	if d, err := parseDescriptor(json.RawMessage(legacy)); err != nil || !d.supports("typing") || d.supports("draft") {
		t.Errorf("a non-array supported_ops must mean the legacy set: %+v %v", d, err)
	}
	for _, bad := range []string{
		strings.Replace(good, `"label":"X",`, ``, 1),
		strings.Replace(good, `"max_message_length":0`, `"max_message_length":"2000"`, 1),
		strings.Replace(good, `"supports_edit":false`, `"supports_edit":"no"`, 1),
		strings.Replace(good, `"contract_version":7`, `"contract_version":1.5`, 1),
		`[]`, `null`,
	} {
		if _, err := parseDescriptor(json.RawMessage(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestSplitText(t *testing.T) {
	texts := []string{
		strings.Repeat("word ", 200),
		strings.Repeat("😀", 300),
		"e\u0301" + strings.Repeat("e\u0301", 100),
		strings.Repeat("line one\nline two\n\n", 30),
	}
	for _, unit := range []string{"chars", "utf16"} {
		for _, limit := range []int{7, 16, 64, 100} {
			for _, text := range texts {
				parts := splitText(text, limit, unit, false, false)
				if strings.Join(parts, "") != text {
					t.Fatalf("%s/%d: parts do not re-join", unit, limit)
				}
				for _, p := range parts {
					if measure(p, unit) > limit || p == "" || !utf8.ValidString(p) {
						t.Fatalf("%s/%d: part %q", unit, limit, p)
					}
					if r, _ := utf8.DecodeRuneInString(p); attaches(r) && limit > 2 {
						t.Fatalf("%s/%d: part starts with a combining mark: %q", unit, limit, p)
					}
				}
			}
		}
	}
	lined := "look:\n```go\n" + strings.Repeat("x := 1 // long line of code\n", 10) + "```\nend"
	oneLine := "look:\n```\n" + strings.Repeat("x", 200) + "\n```\nend"
	for _, text := range []string{lined, oneLine} {
		for _, unbudgeted := range []bool{false, true} {
			parts := splitText(text, 64, "chars", true, unbudgeted)
			over := false
			for i, p := range parts {
				over = over || measure(p, "chars") > 64
				if strings.Count(p, "```")%2 != 0 {
					t.Errorf("unbalanced fences in part %d: %q", i, p)
				}
				if i > 0 && text == lined && !strings.HasPrefix(p, "```go\n") {
					t.Errorf("part %d does not reopen the go block: %q", i, p)
				}
			}
			if over && !unbudgeted || !over && unbudgeted && text == oneLine {
				t.Errorf("unbudgeted=%v: a part over the limit %v: %q", unbudgeted, over, parts)
			}
		}
	}
}

func TestBearerFor(t *testing.T) {
	g := &gateway{cfg: &config{baseURL: "http://Relay.example:8080"}}
	for raw, want := range map[string]bool{
		"http://relay.example:8080/relay/media/abc":  true,
		"HTTP://RELAY.EXAMPLE:8080/relay/media/abc":  true,
		"http://relay.example:8081/relay/media/abc":  false,
		"http://relay.example/relay/media/abc":       false,
		"https://relay.example:8080/relay/media/abc": true,
		"http://relay.example:8080/relay/mediax/abc": false,
		"http://relay.example:8080/other":            false,
		"http://evil.example:8080/relay/media/abc":   false,
		"ftp://relay.example:8080/relay/media/abc":   false,
	} {
		u, _ := url.Parse(raw)
		if got := g.bearerFor(u); got != want {
			t.Errorf("%s: %v", raw, got)
		}
	}
	g.dev = devBearerToConnectorPaths
	if u, _ := url.Parse("http://relay.example:8080/other"); !g.bearerFor(u) {
		t.Error("the deviation keeps the path rule")
	}
}

func TestPromptIDs(t *testing.T) {
	b := newPromptBook()
	now := time.Now()
	p := b.mint("telegram", "c", []string{"apple", "banana"}, []string{"Apple", "Banana"}, now)
	if len(p.id) > 32 || len("hp1:"+p.id+":banana") > 64 || strings.Trim(p.id, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		t.Errorf("prompt id %q", p.id)
	}
	if out, _, _ := b.press("conform-other.0011aabb", "apple", now); out != pressForeign {
		t.Errorf("a foreign prompt: %v", out)
	}
	if out, _, label := b.press(p.id, "banana", now); out != pressAnswer || label != "Banana" {
		t.Errorf("own prompt: %v %q", out, label)
	}
	if out, _, _ := b.press(p.id, "banana", now); out != pressRepeated {
		t.Errorf("a repeated press: %v", out)
	}
	q := b.mint("telegram", "c", []string{"a"}, []string{"A"}, now)
	if out, _, _ := b.press(q.id, "a", now.Add(2*promptTTL)); out != pressExpired {
		t.Errorf("an expired prompt: %v", out)
	}
}
