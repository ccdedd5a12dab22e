package contract

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Token errors. VerifyToken wraps exactly one of them, so callers choose the
// close reason with errors.Is: ErrTokenExpired maps to reason "expired",
// everything else to "unauthorized".
var (
	ErrTokenMalformed = errors.New("token malformed")
	ErrTokenExpired   = errors.New("token expired")
	ErrTokenSignature = errors.New("token signature does not match any secret")
)

// TokenClaims is what an upgrade token carries.
type TokenClaims struct {
	// GatewayID is the signed payload. It may contain colons.
	GatewayID string
	// Exp is the expiry in unix seconds; 0 means the token never expires.
	Exp int64
}

// Expired reports whether the claims are expired at now. A token is still
// valid in the second named by Exp; there is no skew leeway.
func (c TokenClaims) Expired(now time.Time) bool {
	return c.Exp != 0 && now.Unix() > c.Exp
}

// ExpFromTTL returns the exp a gateway writes for a token minted at now with
// the given lifetime. A lifetime of zero or less gives 0, "never expires".
func ExpFromTTL(now time.Time, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return now.Unix() + int64(ttl/time.Second)
}

// TokenSignature returns the lowercase-hex HMAC-SHA256 of "<gatewayID>:<exp>"
// keyed with secret.
func TokenSignature(gatewayID, secret string, exp int64) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(gatewayID))
	mac.Write([]byte{':'})
	mac.Write(strconv.AppendInt(nil, exp, 10))
	return hex.EncodeToString(mac.Sum(nil))
}

// MintToken returns the upgrade token for gatewayID signed with secret,
// expiring at exp (unix seconds, 0 for never). The token is the unpadded
// base64url encoding of "<gatewayID>:<exp>:<hex signature>".
func MintToken(gatewayID, secret string, exp int64) string {
	plain := gatewayID + ":" + strconv.FormatInt(exp, 10) + ":" + TokenSignature(gatewayID, secret, exp)
	return base64.RawURLEncoding.EncodeToString([]byte(plain))
}

// MintTokenTTL mints a token that expires ttl after now.
func MintTokenTTL(gatewayID, secret string, now time.Time, ttl time.Duration) string {
	return MintToken(gatewayID, secret, ExpFromTTL(now, ttl))
}

// ParseToken decodes a token without checking its signature or expiry, so a
// connector can pick the gateway's secret list before verifying. It accepts
// only canonical tokens: unpadded base64url, a UTF-8 plaintext of at least
// three colon-separated parts, exp in canonical decimal ("0" or no leading
// zero, at most 19 digits) and a signature of 64 lowercase hex characters.
// This is stricter than the reference connector, which tolerates padding,
// leading zeros, whitespace and uppercase hex.
func ParseToken(token string) (TokenClaims, string, error) {
	var c TokenClaims
	if token == "" {
		return c, "", fmt.Errorf("%w: empty", ErrTokenMalformed)
	}
	// Go's base64 decoders skip '\r' and '\n' even in strict mode; a
	// canonical token has neither.
	if strings.ContainsAny(token, "\r\n") {
		return c, "", fmt.Errorf("%w: contains a line break", ErrTokenMalformed)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil {
		return c, "", fmt.Errorf("%w: not unpadded base64url", ErrTokenMalformed)
	}
	if !utf8.Valid(raw) {
		return c, "", fmt.Errorf("%w: plaintext is not UTF-8", ErrTokenMalformed)
	}
	plain := string(raw)
	sigAt := strings.LastIndexByte(plain, ':')
	if sigAt < 0 {
		return c, "", fmt.Errorf("%w: fewer than three parts", ErrTokenMalformed)
	}
	expAt := strings.LastIndexByte(plain[:sigAt], ':')
	if expAt < 0 {
		return c, "", fmt.Errorf("%w: fewer than three parts", ErrTokenMalformed)
	}
	payload, expText, sig := plain[:expAt], plain[expAt+1:sigAt], plain[sigAt+1:]
	exp, ok := parseCanonicalExp(expText)
	if !ok {
		return c, "", fmt.Errorf("%w: exp is not a canonical decimal", ErrTokenMalformed)
	}
	if !isLowerHex(sig, sha256.Size*2) {
		return c, "", fmt.Errorf("%w: signature is not 64 lowercase hex characters", ErrTokenMalformed)
	}
	c.GatewayID, c.Exp = payload, exp
	return c, sig, nil
}

// VerifyToken checks token against each non-empty secret in turn (the
// primary first, then any still in its rotation window) and its expiry at
// now. It returns the claims of a valid token, or an error wrapping
// ErrTokenMalformed, ErrTokenSignature or ErrTokenExpired. The signature is
// checked before the expiry, so an expired token is reported as expired only
// when it was genuinely signed. Errors never contain the token or a secret.
func VerifyToken(token string, secrets []string, now time.Time) (TokenClaims, error) {
	c, sig, err := ParseToken(token)
	if err != nil {
		return TokenClaims{}, err
	}
	want, _ := hex.DecodeString(sig)
	matched := false
	for _, s := range secrets {
		if s == "" {
			continue
		}
		got, _ := hex.DecodeString(TokenSignature(c.GatewayID, s, c.Exp))
		if hmac.Equal(got, want) {
			matched = true
			break
		}
	}
	if !matched {
		return TokenClaims{}, ErrTokenSignature
	}
	if c.Expired(now) {
		return c, ErrTokenExpired
	}
	return c, nil
}

func parseCanonicalExp(s string) (int64, bool) {
	if s == "" || len(s) > 19 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// SignDelivery returns the legacy delivery signature: the lowercase-hex
// HMAC-SHA256 of "<ts>.<body>" keyed with the delivery key. The current
// contract carries inbound over the socket; the scheme is kept so old
// deployments can be checked.
func SignDelivery(key string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(strconv.AppendInt(nil, ts, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Delivery signature errors.
var (
	ErrDeliveryMalformed = errors.New("delivery signature malformed")
	ErrDeliverySkew      = errors.New("delivery timestamp outside the allowed skew")
	ErrDeliverySignature = errors.New("delivery signature does not match any key")
)

// VerifyDelivery checks the x-relay-timestamp and x-relay-signature header
// values of a legacy delivery against each non-empty key, allowing
// DeliverySkew of clock difference either way.
func VerifyDelivery(keys []string, tsHeader, sigHeader string, body []byte, now time.Time) error {
	ts, ok := parseCanonicalExp(tsHeader)
	if !ok || !isLowerHex(sigHeader, sha256.Size*2) {
		return ErrDeliveryMalformed
	}
	skew := now.Unix() - ts
	if skew < 0 {
		skew = -skew
	}
	if skew > int64(DeliverySkew/time.Second) {
		return ErrDeliverySkew
	}
	want, _ := hex.DecodeString(sigHeader)
	for _, k := range keys {
		if k == "" {
			continue
		}
		got, _ := hex.DecodeString(SignDelivery(k, ts, body))
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrDeliverySignature
}
