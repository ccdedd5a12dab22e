package adapter

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

var promptIDShape = regexp.MustCompile(`^[0-9a-f]{6}\.[0-9a-f]{8}$`)

func TestMintPromptID(t *testing.T) {
	n := NewNonce()
	if len(n) != NonceLen || !validNonce(n) {
		t.Fatalf("nonce %q", n)
	}
	seen := map[string]bool{}
	for range 1000 {
		id := MintPromptID(n)
		if !promptIDShape.MatchString(id) || !ValidID(id) || len(id) > MaxIDLen {
			t.Fatalf("minted id %q has the wrong shape", id)
		}
		if owner, ok := PromptOwner(id); !ok || owner != n {
			t.Fatalf("PromptOwner(%q) = %q, %v", id, owner, ok)
		}
		if seen[id] {
			t.Fatalf("id %q minted twice", id)
		}
		seen[id] = true
		tok, err := CallbackToken(id, strings.Repeat("o", MaxIDLen))
		if err != nil || len(tok) > MaxCallbackLen {
			t.Fatalf("a minted id leaves room for any option id: %v", err)
		}
	}
	if _, ok := PromptOwner("legacy"); ok {
		t.Fatal("an id without a dot has no owner")
	}
}

func TestValidID(t *testing.T) {
	for _, ok := range []string{"a", "A-Z_0.9", strings.Repeat("x", 32), "c0", "other"} {
		if !ValidID(ok) {
			t.Errorf("ValidID(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", strings.Repeat("x", 33), "a:b", "a b", "é", "a/b", "a\n"} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

func TestCallbackToken(t *testing.T) {
	tok, err := CallbackToken("abc123.deadbeef", "once")
	if err != nil || tok != "hp1:abc123.deadbeef:once" {
		t.Fatalf("CallbackToken = %q, %v", tok, err)
	}
	p, o, ok := ParseCallbackToken(tok)
	if !ok || p != "abc123.deadbeef" || o != "once" {
		t.Fatalf("ParseCallbackToken = %q %q %v", p, o, ok)
	}
	long := strings.Repeat("p", 32)
	if _, err := CallbackToken(long, strings.Repeat("o", 28)); !errors.Is(err, ErrCallbackLen) {
		t.Fatalf("65-byte token: err %v", err)
	}
	if tok, err := CallbackToken(long, strings.Repeat("o", 27)); err != nil || len(tok) != 64 {
		t.Fatalf("64-byte token: %q, %v", tok, err)
	}
	if _, err := CallbackToken("a", "b:c"); !errors.Is(err, ErrBadID) {
		t.Fatalf("bad option: %v", err)
	}
	for _, bad := range []string{"", "hp1:", "hp1:a", "hp2:a:b", "hp1:a:b:c", "hp1::b", "hp1:a:", "hp1:a b:c",
		"hp1:" + long + ":" + strings.Repeat("o", 28)} {
		if _, _, ok := ParseCallbackToken(bad); ok {
			t.Errorf("ParseCallbackToken(%q) ok", bad)
		}
	}
}

func TestValidateOptions(t *testing.T) {
	id := MintPromptID("abcdef")
	if err := ValidateOptions(id, []string{"c0", "c1", "other"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{nil, {"a", "a"}, {"ok", "not ok"}, {strings.Repeat("x", 33)}} {
		if err := ValidateOptions(id, bad); err == nil {
			t.Errorf("ValidateOptions(%q) = nil", bad)
		}
	}
	if validNonce("a.b") || validNonce("") || validNonce(strings.Repeat("n", 24)) || !validNonce("gw-1") {
		t.Fatal("validNonce")
	}
}
