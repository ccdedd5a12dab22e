package contract_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// Vectors V1 and V2 of the fact sheet, computed independently of this code.
const (
	v1Token = "Z3ctdGVzdDoxNzAwMDAwMDAwOjdhNDc1YWZjZjM3ZTNmNjRjNDQ2Yzc0MTI5YjE4NTNhOTVmYWE4NjlhOGNjYzlmYTg5ZGNlZjc1ODVkYTIxNDM"
	v1Sig   = "7a475afcf37e3f64c446c74129b1853a95faa869a8ccc9fa89dcef7585da2143"
	v2Token = "Z3ctdGVzdDowOjE4ZjkyNDk3NWM3MDk3NmQwYjQ3MzlhZWYwYzQxNWFmYjMxNmI5MjQ0M2RkZGQxMDVjYjJlNmNjNjZhNGM5NzA"
)

func TestMintTokenMatchesVectors(t *testing.T) {
	if got := contract.TokenSignature("gw-test", "s3cret", 1700000000); got != v1Sig {
		t.Errorf("V1 signature = %s, want %s", got, v1Sig)
	}
	if got := contract.MintToken("gw-test", "s3cret", 1700000000); got != v1Token {
		t.Errorf("V1 token = %s, want %s", got, v1Token)
	}
	if got := contract.MintTokenTTL("gw-test", "s3cret", time.Unix(1700000000, 0), 0); got != v2Token {
		t.Errorf("V2 token = %s, want %s", got, v2Token)
	}
	if got := contract.MintTokenTTL("gw-test", "s3cret", time.Unix(1699999700, 0), contract.DefaultTokenTTL); got != v1Token {
		t.Errorf("TTL 300 s token = %s, want V1", got)
	}
}

func TestVerifyToken(t *testing.T) {
	at := func(sec int64) time.Time { return time.Unix(sec, 0) }
	tests := []struct {
		name    string
		token   string
		secrets []string
		now     time.Time
		wantErr error
	}{
		{"valid before exp", v1Token, []string{"s3cret"}, at(1699999999), nil},
		{"valid at exp", v1Token, []string{"s3cret"}, at(1700000000), nil},
		{"expired one second later", v1Token, []string{"s3cret"}, at(1700000001), contract.ErrTokenExpired},
		{"rotation list", v1Token, []string{"other", "s3cret"}, at(1700000000), nil},
		{"empty secrets skipped", v1Token, []string{"", "s3cret"}, at(1700000000), nil},
		{"wrong secret", v1Token, []string{"other"}, at(1700000000), contract.ErrTokenSignature},
		{"no secrets", v1Token, nil, at(1700000000), contract.ErrTokenSignature},
		{"exp 0 never expires", v2Token, []string{"s3cret"}, at(1 << 40), nil},
		{"expired and forged is a signature error", v1Token, []string{"other"}, at(1800000000), contract.ErrTokenSignature},
		{"empty", "", []string{"s3cret"}, at(0), contract.ErrTokenMalformed},
		{"padded", v1Token + "=", []string{"s3cret"}, at(0), contract.ErrTokenMalformed},
		{"std alphabet", strings.ReplaceAll(v1Token, "_", "/") + "+", []string{"s3cret"}, at(0), contract.ErrTokenMalformed},
		{"uppercase hex", enc("gw-test:1700000000:" + strings.ToUpper(v1Sig)), []string{"s3cret"}, at(0), contract.ErrTokenMalformed},
		{"leading zero exp", enc("gw-test:01700000000:" + v1Sig), []string{"s3cret"}, at(0), contract.ErrTokenMalformed},
		{"signed exp", enc("gw-test:+1700000000:" + v1Sig), []string{"s3cret"}, at(0), contract.ErrTokenMalformed},
		{"two parts", enc("gw-test:" + v1Sig), []string{"s3cret"}, at(0), contract.ErrTokenMalformed},
		{"short sig", enc("gw-test:1700000000:" + v1Sig[:63]), []string{"s3cret"}, at(0), contract.ErrTokenMalformed},
		{"not utf8", base64.RawURLEncoding.EncodeToString([]byte("gw\xff:1:" + v1Sig)), []string{"s3cret"}, at(0), contract.ErrTokenMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := contract.VerifyToken(tt.token, tt.secrets, tt.now)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("VerifyToken error = %v, want %v", err, tt.wantErr)
			}
			if err == nil && c.GatewayID != "gw-test" {
				t.Fatalf("GatewayID = %q", c.GatewayID)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error leaks the secret: %v", err)
			}
		})
	}
}

func TestTokenPayloadMayContainColons(t *testing.T) {
	tok := contract.MintToken("tenant:gw:1", "k", 0)
	c, err := contract.VerifyToken(tok, []string{"k"}, time.Unix(0, 0))
	if err != nil || c.GatewayID != "tenant:gw:1" || c.Exp != 0 {
		t.Fatalf("VerifyToken = %+v, %v", c, err)
	}
}

func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestDeliverySignatureMatchesV4(t *testing.T) {
	body := []byte(`{"type":"inbound","event":{"text":"hi"}}`)
	const want = "a11457437cec20d27cc66aa074383acfbb84717770bd86f268246338e306fcc5"
	if got := contract.SignDelivery("dk", 1700000000, body); got != want {
		t.Fatalf("SignDelivery = %s, want %s", got, want)
	}
	for _, tt := range []struct {
		now  int64
		want error
	}{{1700000300, nil}, {1700000301, contract.ErrDeliverySkew}, {1699999699, contract.ErrDeliverySkew}} {
		if err := contract.VerifyDelivery([]string{"x", "dk"}, "1700000000", want, body, time.Unix(tt.now, 0)); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("now %d: VerifyDelivery = %v, want %v", tt.now, err, tt.want)
		}
	}
	if err := contract.VerifyDelivery([]string{"dk"}, "1700000000", want, append(body, ' '), time.Unix(1700000000, 0)); !errors.Is(err, contract.ErrDeliverySignature) {
		t.Errorf("tampered body: %v", err)
	}
}
