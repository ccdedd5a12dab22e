package harbor

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// parsedToken is an upgrade token split into its parts. Harbor is lenient
// where AUTH-008 allows it: base64 padding, standard-alphabet base64,
// surrounding whitespace, leading zeros in exp and uppercase signature hex
// are all accepted. The signature is still checked over the exp text as it
// appears in the token.
type parsedToken struct {
	gatewayID string
	expText   string
	exp       int64
	sig       []byte // 32 bytes
}

var errBadToken = errors.New("malformed token")

func parseToken(tok string) (parsedToken, error) {
	tok = strings.TrimSpace(tok)
	tok = strings.TrimRight(tok, "=")
	if tok == "" {
		return parsedToken{}, errBadToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		raw, err = base64.RawStdEncoding.DecodeString(tok)
		if err != nil {
			return parsedToken{}, errBadToken
		}
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return parsedToken{}, errBadToken
	}
	sigText := s[i+1:]
	rest := s[:i]
	j := strings.LastIndexByte(rest, ':')
	if j <= 0 {
		return parsedToken{}, errBadToken
	}
	p := parsedToken{gatewayID: rest[:j], expText: rest[j+1:]}
	if p.expText == "" || len(p.expText) > 19 {
		return parsedToken{}, errBadToken
	}
	for _, c := range p.expText {
		if c < '0' || c > '9' {
			return parsedToken{}, errBadToken
		}
	}
	if p.exp, err = strconv.ParseInt(p.expText, 10, 64); err != nil {
		return parsedToken{}, errBadToken
	}
	if len(sigText) != 64 {
		return parsedToken{}, errBadToken
	}
	if p.sig, err = hex.DecodeString(strings.ToLower(sigText)); err != nil {
		return parsedToken{}, errBadToken
	}
	return p, nil
}

// signedBy reports whether the token's signature matches secret, compared
// in constant time.
func (p parsedToken) signedBy(secret string) bool {
	if secret == "" {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(p.gatewayID + ":" + p.expText))
	return hmac.Equal(m.Sum(nil), p.sig)
}

// expired reports whether the token's exp has passed at now (AUTH-006): a
// token is still valid at exactly exp. The exp-inclusive deviation gets the
// boundary wrong.
func (p parsedToken) expired(now time.Time, inclusive bool) bool {
	if p.exp == 0 {
		return false
	}
	if inclusive {
		return now.Unix() >= p.exp
	}
	return now.Unix() > p.exp
}

// mintToken makes a canonical token; harbor uses it only in its own tests
// and the cmd's printed example.
func mintToken(gatewayID, secret string, exp int64) string {
	text := gatewayID + ":" + strconv.FormatInt(exp, 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(text))
	return base64.RawURLEncoding.EncodeToString([]byte(text + ":" + hex.EncodeToString(m.Sum(nil))))
}

// constEq compares two secrets without leaking where they differ.
func constEq(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// bearer returns the token of an "Authorization: Bearer" header, or "".
func bearer(h string) string {
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}
