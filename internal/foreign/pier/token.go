package pier

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Token verification, written for pier from section 3 of the contract.
// Unlike relaykit's own verifier, pier is lenient about spelling, as the
// reference connector is and AUTH-008 allows: it accepts base64 padding and
// the standard alphabet, surrounding whitespace, leading zeros and a sign
// in exp, and uppercase signature hex. The signature is always recomputed
// over the canonical "<gatewayId>:<exp>", so a lenient spelling never
// widens what a secret can sign.

// refusal is why a token was refused: the 4401 close reason.
type refusal string

const (
	refusedUnauthorized refusal = "unauthorized"
	refusedExpired      refusal = "expired"
)

// claims are what a token says before it is verified.
type claims struct {
	gatewayID string
	exp       int64
	sig       []byte
}

var errToken = errors.New("malformed token")

// parseToken decodes a bearer token leniently.
func parseToken(tok string) (claims, error) {
	tok = strings.TrimSpace(tok)
	tok = strings.TrimRight(tok, "=")
	tok = strings.NewReplacer("+", "-", "/", "_").Replace(tok)
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) == 0 {
		return claims{}, errToken
	}
	text := string(raw)
	last := strings.LastIndexByte(text, ':')
	if last < 0 {
		return claims{}, errToken
	}
	sigHex := strings.TrimSpace(text[last+1:])
	rest := text[:last]
	mid := strings.LastIndexByte(rest, ':')
	if mid <= 0 {
		return claims{}, errToken
	}
	expText := strings.TrimSpace(rest[mid+1:])
	exp, err := strconv.ParseInt(expText, 10, 64)
	if err != nil || exp < 0 {
		return claims{}, errToken
	}
	sig, err := hex.DecodeString(strings.ToLower(sigHex))
	if err != nil || len(sig) != sha256.Size {
		return claims{}, errToken
	}
	return claims{gatewayID: rest[:mid], exp: exp, sig: sig}, nil
}

// signs reports whether secret signed c, comparing in constant time.
func (c claims) signs(secret string) bool {
	if secret == "" {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(c.gatewayID + ":" + strconv.FormatInt(c.exp, 10)))
	return hmac.Equal(m.Sum(nil), c.sig)
}

// expiredAt reports whether the token is expired at now (AUTH-006): exp 0
// never expires, and a token is valid through the second named by exp.
// skew is the allowance of the expiry-skew deviation, 0 otherwise.
func (c claims) expiredAt(now time.Time, skew time.Duration) bool {
	if c.exp == 0 {
		return false
	}
	return now.Add(-skew).Unix() > c.exp
}
