package simulator

import (
	"fmt"
	"math"
	"net"
	"sync"
	"time"
)

// Defaults of the failed-authentication throttle (Options.AuthFailBurst,
// Options.AuthFailRefill).
const (
	DefaultAuthFailBurst  = 32
	DefaultAuthFailRefill = 500 * time.Millisecond
)

// maxThrottleKeys bounds the buckets kept per kind, so a flood from many
// addresses cannot grow memory without limit.
const maxThrottleKeys = 4096

// overflowKey is the shared bucket of addresses seen while the table is
// full of buckets still in use.
const overflowKey = "\x00overflow"

// authThrottle rate-limits failed upgrade authentications with token
// buckets per remote address and per enrolled gateway id a refused token
// named. Successful authentications never touch it, so a flood of bad
// tokens — even one naming a real gateway — never holds back a gateway with
// a good token. While a bucket is empty, refusals close 1013 "throttled"
// (retryable, RC-003) instead of 4401, which keeps a flood cheap.
type authThrottle struct {
	once   sync.Once
	burst  float64
	refill time.Duration
	off    bool

	mu   sync.Mutex
	byIP map[string]*tokenBucket
	byGW map[string]*tokenBucket
}

type tokenBucket struct {
	tokens float64
	at     time.Time
}

func (t *authThrottle) init(s *Server) {
	t.once.Do(func() {
		t.off = s.cfg.AuthFailBurst < 0
		t.burst, t.refill = float64(s.cfg.AuthFailBurst), s.cfg.AuthFailRefill
		t.byIP, t.byGW = map[string]*tokenBucket{}, map[string]*tokenBucket{}
	})
}

func (t *authThrottle) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byIP != nil {
		clear(t.byIP)
		clear(t.byGW)
	}
}

// fillLocked tops b up for the time passed since it was last used.
func (t *authThrottle) fillLocked(b *tokenBucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(t.burst, b.tokens+float64(d)/float64(t.refill))
		b.at = now
	}
}

// bucketLocked returns the bucket of key, creating a full one; when the
// table is full it first drops buckets that have refilled completely,
// and failing that hands out the shared overflow bucket.
func (t *authThrottle) bucketLocked(m map[string]*tokenBucket, key string, now time.Time) *tokenBucket {
	if b := m[key]; b != nil {
		t.fillLocked(b, now)
		return b
	}
	if len(m) >= maxThrottleKeys {
		for k, b := range m {
			if t.fillLocked(b, now); b.tokens >= t.burst {
				delete(m, k)
			}
		}
		if len(m) >= maxThrottleKeys {
			key = overflowKey
			if b := m[key]; b != nil {
				t.fillLocked(b, now)
				return b
			}
		}
	}
	b := &tokenBucket{tokens: t.burst, at: now}
	m[key] = b
	return b
}

// authRoute says which budget a refused token spends: upgrades, the
// token-authenticated HTTP routes (policy, media) and the identity-bearer
// routes (provision, enroll) each have their own, so a gateway whose HTTP
// calls fail cannot lock its reconnects out, and a client testing every
// side of a connector gets the full burst on each.
type authRoute string

const (
	routeUpgrade  authRoute = "upgrade"
	routeHTTP     authRoute = "http"
	routeIdentity authRoute = "identity" // provision and enroll
)

// failedAuth records one refused token on route from remote (host:port)
// that named gatewayID ("" when it named none, or a gateway that is not
// enrolled) and says why the refusal must be throttled (a 1013 instead of
// a 4401, a 429 instead of a 401), or "" when it may be answered normally.
func (s *Server) failedAuth(route authRoute, remote, gatewayID string, known bool) string {
	t := &s.throttle
	t.init(s)
	if t.off {
		return ""
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	now := s.clk.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	ip := t.bucketLocked(t.byIP, string(route)+" "+host, now)
	var gw *tokenBucket
	if known && gatewayID != "" {
		// Only enrolled ids get a bucket: made-up ids would grow the table.
		gw = t.bucketLocked(t.byGW, string(route)+" "+gatewayID, now)
	}
	switch {
	case ip.tokens < 1:
		return fmt.Sprintf("more than %d failed authentications from %s in a burst", int(t.burst), host)
	case gw != nil && gw.tokens < 1:
		return fmt.Sprintf("more than %d failed authentications naming gateway %q in a burst", int(t.burst), gatewayID)
	}
	ip.tokens--
	if gw != nil {
		gw.tokens--
	}
	return ""
}

// throttleRetryAfter is the Retry-After, in whole seconds, of a throttled
// HTTP refusal: the time one failure's token takes to refill, at least 1.
func (s *Server) throttleRetryAfter() int {
	return max(1, int(math.Ceil(s.cfg.AuthFailRefill.Seconds())))
}
