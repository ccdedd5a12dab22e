package pier

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// The contract's vectors V1 and V2 (section 3.5), and the lenient
// spellings pier accepts and the malformed tokens it refuses.
func TestTokenVectors(t *testing.T) {
	const v1 = "Z3ctdGVzdDoxNzAwMDAwMDAwOjdhNDc1YWZjZjM3ZTNmNjRjNDQ2Yzc0MTI5YjE4NTNhOTVmYWE4NjlhOGNjYzlmYTg5ZGNlZjc1ODVkYTIxNDM"
	const v2 = "Z3ctdGVzdDowOjE4ZjkyNDk3NWM3MDk3NmQwYjQ3MzlhZWYwYzQxNWFmYjMxNmI5MjQ0M2RkZGQxMDVjYjJlNmNjNjZhNGM5NzA"
	c, err := parseToken(v1)
	if err != nil || c.gatewayID != "gw-test" || c.exp != 1700000000 {
		t.Fatalf("V1 parsed as %+v, %v", c, err)
	}
	if !c.signs("s3cret") || c.signs("other") {
		t.Fatal("V1 must verify under s3cret only")
	}
	if c.expiredAt(time.Unix(1700000000, 0), 0) || !c.expiredAt(time.Unix(1700000001, 0), 0) {
		t.Fatal("V1 is valid at exp and expired one second later")
	}
	c2, err := parseToken(v2)
	if err != nil || !c2.signs("s3cret") || c2.expiredAt(time.Unix(1<<40, 0), 0) {
		t.Fatalf("V2 (exp 0) must verify and never expire: %+v %v", c2, err)
	}

	raw, _ := base64.RawURLEncoding.DecodeString(v1)
	sig := string(raw[len("gw-test:1700000000:"):])
	lenient := map[string]string{
		"padding":       v1 + "=",
		"whitespace":    "  " + v1 + "\n",
		"uppercase hex": enc("gw-test:1700000000:" + strings.ToUpper(sig)),
		"leading zeros": enc("gw-test:01700000000:" + sig),
	}
	for name, tok := range lenient {
		c, err := parseToken(tok)
		if err != nil || !c.signs("s3cret") {
			t.Errorf("%s: pier accepts lenient spellings (AUTH-008 allows either): %+v %v", name, c, err)
		}
	}

	colon, err := parseToken(enc("tenant:gw:7:" + strings.Repeat("ab", 32)))
	if err != nil || colon.gatewayID != "tenant:gw" || colon.exp != 7 {
		t.Errorf("a gateway id may contain colons (AUTH-005): %+v %v", colon, err)
	}

	for name, tok := range map[string]string{
		"empty":       "",
		"not base64":  "%%%%****",
		"two parts":   enc("gw-a:1700000000"),
		"short sig":   enc("gw-test:1700000000:abcd"),
		"bad exp":     enc("gw-test:soon:" + strings.Repeat("ab", 32)),
		"negative":    enc("gw-test:-5:" + strings.Repeat("ab", 32)),
		"no id":       enc(":5:" + strings.Repeat("ab", 32)),
		"truncated":   v1[:len(v1)-10],
		"garbage sig": enc("gw-test:1700000000:" + strings.Repeat("zz", 32)),
	} {
		if c, err := parseToken(tok); err == nil && c.signs("s3cret") {
			t.Errorf("%s: accepted", name)
		}
	}
}

func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
