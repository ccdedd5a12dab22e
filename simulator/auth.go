package simulator

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// authResult is the outcome of checking an upgrade token. reason is "" when
// the token is good, else the 4401 close reason.
type authResult struct {
	gw      *GatewayRecord
	reason  string
	detail  string // why, for the journal; never contains the token
	kind    string // why, as a metrics label (metrics.go: authMissing, ...)
	claimed string // the gateway id the token names, unverified
	known   bool   // claimed is an enrolled gateway id
}

// authenticateUpgrade checks the Authorization header of an upgrade, a
// policy declaration or a media request against the gateway's verify list
// (AUTH-005, AUTH-006). Only the upgrade itself may be anonymous, in the
// development mode of AUTH-002; the HTTP routes always need a token
// (HTTP-010).
func (s *Server) authenticateUpgrade(header string) authResult {
	return s.authenticate(header, true)
}

func (s *Server) authenticateHTTP(header string) authResult {
	return s.authenticate(header, false)
}

func (s *Server) authenticate(header string, upgrade bool) authResult {
	token, ok := bearer(header)
	if !ok {
		if upgrade && header == "" && s.cfg.AnonymousGateway != "" {
			g, found := s.gatewayRecord(s.cfg.AnonymousGateway)
			if found && !g.Revoked {
				return authResult{gw: &g, claimed: g.GatewayID, detail: "anonymous (dev mode)"}
			}
		}
		return authResult{reason: contract.ReasonUnauthorized, detail: "missing bearer token", kind: authMissing}
	}
	claims, _, err := contract.ParseToken(token)
	if err != nil {
		return authResult{reason: contract.ReasonUnauthorized, detail: "malformed token", kind: authMalformed}
	}
	res := authResult{claimed: claims.GatewayID}
	g, found := s.gatewayRecord(claims.GatewayID)
	if !found {
		res.reason, res.detail, res.kind = contract.ReasonUnauthorized, "unknown gateway", authUnknownGateway
		return res
	}
	res.known = true
	if g.Revoked {
		res.reason, res.detail, res.kind = contract.ReasonUnauthorized, "gateway revoked", authRevoked
		return res
	}
	if _, err := contract.VerifyToken(token, g.Secrets, s.clk.Now()); err != nil {
		res.reason, res.detail, res.kind = contract.ReasonUnauthorized, "bad signature", authBadSignature
		if errors.Is(err, contract.ErrTokenExpired) {
			res.detail, res.kind = "token expired", authExpired
			res.reason = contract.ReasonExpired
			if s.deviations().Has(deviation.SimExpiredAsUnauthorized) {
				res.reason = contract.ReasonUnauthorized
			}
		}
		return res
	}
	if claims.Exp == 0 && s.deviations().Has(deviation.SimExpZeroRejected) {
		res.reason, res.detail, res.kind = contract.ReasonUnauthorized, "exp 0 refused (deviation)", authDeviation
		return res
	}
	res.gw = &g
	return res
}

// bearer extracts the token of an "Authorization: Bearer <token>" value;
// the scheme is case-insensitive (RFC 6750).
func bearer(header string) (string, bool) {
	const prefix = "bearer "
	if len(header) <= len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return "", false
	}
	t := strings.TrimSpace(header[len(prefix):])
	return t, t != ""
}

// identityTenant checks the identity bearer of provision and enroll and
// returns its tenant. Every configured token is compared, in constant time,
// so response time says nothing about which tokens exist.
func (s *Server) identityTenant(r *http.Request) (string, bool) {
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		return "", false
	}
	tenant, found := "", false
	for t, ten := range s.cfg.IdentityTokens {
		if secretEqual(t, token) && !found {
			tenant, found = ten, true
		}
	}
	if !found && s.cfg.DevMode {
		tenant, found = DefaultTenant, true
	}
	if found && tenant == "" {
		tenant = DefaultTenant
	}
	return tenant, found
}

// secretEqual compares two secrets in constant time, lengths included:
// hashing first means a length mismatch takes as long as any other.
func secretEqual(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// controlAuthorized checks the control token, when one is configured.
func (s *Server) controlAuthorized(r *http.Request) bool {
	if s.cfg.ControlToken == "" {
		return true
	}
	if t, ok := bearer(r.Header.Get("Authorization")); ok && secretEqual(t, s.cfg.ControlToken) {
		return true
	}
	t := r.Header.Get("X-Relaysim-Token")
	return t != "" && secretEqual(t, s.cfg.ControlToken)
}

// randomHex returns n random bytes as lowercase hex.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on supported platforms; a simulator
		// handing out predictable secrets would be worse than stopping.
		panic("simulator: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// mintSecret returns a fresh 64-character secret, as the reference tests
// use.
func mintSecret() string { return randomHex(32) }

// tokenHash is how enrollment tokens are stored and looked up.
func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// refuseHTTP answers a request to a token-authenticated HTTP route (policy,
// media) whose token was refused: 401 with the reason, or, once the remote
// address or the claimed gateway has spent its burst of failures on these
// routes, 429 with Retry-After, so a flood of bad tokens costs the same
// here as on the upgrade (which has a budget of its own).
func (s *Server) refuseHTTP(w http.ResponseWriter, r *http.Request, auth authResult) {
	s.metrics.tokenRefused(routeHTTP, auth.kind)
	if why := s.failedAuth(routeHTTP, r.RemoteAddr, auth.claimed, auth.known); why != "" {
		s.throttledHTTP(w, r, auth.claimed, why+"; token refused: "+auth.detail)
		return
	}
	s.noteHTTP(r, http.StatusUnauthorized, auth.claimed, auth.detail)
	writeJSON(w, http.StatusUnauthorized, contract.ErrorBody{Error: firstNonEmpty(auth.reason, contract.ReasonUnauthorized)})
}

// refuseIdentity answers a provision or enroll request whose identity
// bearer was refused: 401, or 429 once the remote address has spent its
// burst of such refusals (HTTP-024).
func (s *Server) refuseIdentity(w http.ResponseWriter, r *http.Request) {
	s.metrics.tokenRefused(routeIdentity, authNotAccepted)
	if why := s.failedAuth(routeIdentity, r.RemoteAddr, "", false); why != "" {
		s.throttledHTTP(w, r, "", why+"; identity bearer refused")
		return
	}
	s.httpError(w, r, http.StatusUnauthorized, "identity bearer missing or not accepted")
}

// throttledHTTP answers 429 with Retry-After and {"error": "throttled"}.
func (s *Server) throttledHTTP(w http.ResponseWriter, r *http.Request, gatewayID, detail string) {
	s.metrics.refused(refHTTPThrottled)
	s.noteHTTP(r, http.StatusTooManyRequests, gatewayID, detail)
	w.Header().Set("Retry-After", strconv.Itoa(s.throttleRetryAfter()))
	writeJSON(w, http.StatusTooManyRequests, contract.ErrorBody{Error: contract.ReasonThrottled})
}
