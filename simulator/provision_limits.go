package simulator

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// Defaults of the provisioning limits (Options.ProvisionBurst and the
// fields after it). A conformance run provisions and enrolls a handful of
// gateways; a flood of them is what these answer.
const (
	DefaultProvisionBurst       = 128
	DefaultProvisionRefill      = time.Second
	DefaultProvisionTotalBurst  = 256
	DefaultProvisionTotalRefill = 100 * time.Millisecond
	DefaultMaxGateways          = 4096
	DefaultMaxGatewaysPerTenant = 256
	maxProvisionIDBytes         = 256  // gatewayId, instanceId, botId
	maxProvisionWakeURLBytes    = 2048 // wakeUrl
	maxProvisionRouteKeys       = 64
	maxProvisionRouteKeyBytes   = 256
)

// provisionLimiter rate-limits the provision and enroll calls that reach
// the store: a token bucket per tenant and one for all tenants together,
// on the server's clock. Only calls with an accepted identity bearer and a
// valid body spend a token, so a refused or malformed request costs
// nothing here (refused bearers have their own throttle, throttle.go).
type provisionLimiter struct {
	mu       sync.Mutex
	byTenant map[string]*tokenBucket
	total    *tokenBucket
}

func (l *provisionLimiter) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.byTenant, l.total = nil, nil
}

// takeProvisionCall spends one call of tenant. When a bucket is empty it spends
// nothing and returns the wait until that bucket has a call again and
// what was exceeded.
func (s *Server) takeProvisionCall(tenant string) (time.Duration, string) {
	c, l := s.cfg, &s.provLimit
	now := s.clk.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byTenant == nil {
		l.byTenant = map[string]*tokenBucket{}
	}
	var tb, all *tokenBucket
	if c.ProvisionBurst > 0 {
		// Tenants come only from configured identity tokens (and dev
		// mode's one), so this table is as small as the configuration.
		tb = l.byTenant[tenant]
		if tb == nil {
			tb = &tokenBucket{tokens: float64(c.ProvisionBurst), at: now}
			l.byTenant[tenant] = tb
		}
		refill(tb, now, c.ProvisionBurst, c.ProvisionRefill)
	}
	if c.ProvisionTotalBurst > 0 {
		if l.total == nil {
			l.total = &tokenBucket{tokens: float64(c.ProvisionTotalBurst), at: now}
		}
		all = l.total
		refill(all, now, c.ProvisionTotalBurst, c.ProvisionTotalRefill)
	}
	switch {
	case tb != nil && tb.tokens < 1:
		return wait(tb, c.ProvisionRefill), fmt.Sprintf("more than %d provision and enroll calls of tenant %q in a burst", c.ProvisionBurst, tenant)
	case all != nil && all.tokens < 1:
		return wait(all, c.ProvisionTotalRefill), fmt.Sprintf("more than %d provision and enroll calls of all tenants in a burst", c.ProvisionTotalBurst)
	}
	if tb != nil {
		tb.tokens--
	}
	if all != nil {
		all.tokens--
	}
	return 0, ""
}

func refill(b *tokenBucket, now time.Time, burst int, every time.Duration) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(float64(burst), b.tokens+float64(d)/float64(every))
		b.at = now
	}
}

// wait is how long until b holds one whole token again.
func wait(b *tokenBucket, every time.Duration) time.Duration {
	return time.Duration((1 - b.tokens) * float64(every))
}

// provisionThrottled answers 429 with Retry-After, in whole seconds
// rounded up (at least 1), and an error that starts with "throttled".
func (s *Server) provisionThrottled(w http.ResponseWriter, r *http.Request, after time.Duration, why string) {
	secs := max(1, int(math.Ceil(after.Seconds())))
	msg := fmt.Sprintf("throttled: %s; retry after %ds", why, secs)
	s.metrics.refused(refProvisionThrottled)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.httpError(w, r, http.StatusTooManyRequests, msg)
	s.log.Warn("relaysim: provisioning throttled", "path", r.URL.Path, "why", why)
}

// checkProvisionSizes bounds what a provision request can make a gateway
// record hold; the 64 KiB body cap alone would let one record hold 64 KiB
// of route keys.
func checkProvisionSizes(req contract.ProvisionRequest) error {
	for _, f := range []struct{ name, v string }{
		{"gatewayId", req.GatewayID}, {"instanceId", req.InstanceID}, {"botId", req.BotID},
	} {
		if len(f.v) > maxProvisionIDBytes {
			return badRequest(f.name, "is %d bytes, over this connector's limit of %d", len(f.v), maxProvisionIDBytes)
		}
	}
	if len(req.WakeURL) > maxProvisionWakeURLBytes {
		return badRequest("wakeUrl", "is %d bytes, over this connector's limit of %d", len(req.WakeURL), maxProvisionWakeURLBytes)
	}
	if len(req.RouteKeys) > maxProvisionRouteKeys {
		return badRequest("routeKeys", "has %d keys, over this connector's limit of %d", len(req.RouteKeys), maxProvisionRouteKeys)
	}
	for i, k := range req.RouteKeys {
		if len(k) > maxProvisionRouteKeyBytes {
			return badRequest("routeKeys."+strconv.Itoa(i), "is %d bytes, over this connector's limit of %d", len(k), maxProvisionRouteKeyBytes)
		}
	}
	return nil
}

// gatewayRoomLocked refuses to store gateway id for tenant when that adds
// a record past Options.MaxGateways in total or
// Options.MaxGatewaysPerTenant for the tenant. Revoked records count,
// since they are kept; provisioning a revoked id again replaces its record
// and adds none. s.mu must be held.
func (s *Server) gatewayRoomLocked(id, tenant string) error {
	c := s.cfg
	if c.MaxGateways < 0 && c.MaxGatewaysPerTenant < 0 {
		return nil
	}
	old := s.gateways[id]
	total := len(s.gateways)
	mine := 0
	for _, g := range s.gateways {
		if g.Tenant == tenant {
			mine++
		}
	}
	switch {
	case c.MaxGateways > 0 && old == nil && total >= c.MaxGateways:
		s.metrics.refused(refGatewaysFull)
		return &RequestError{Status: http.StatusInsufficientStorage, Field: "gatewayId",
			Message: fmt.Sprintf("this connector holds %d gateways, its limit; no new gateway can be created", total)}
	case c.MaxGatewaysPerTenant > 0 && (old == nil || old.Tenant != tenant) && mine >= c.MaxGatewaysPerTenant:
		s.metrics.refused(refGatewaysFull)
		return &RequestError{Status: http.StatusInsufficientStorage, Field: "gatewayId",
			Message: fmt.Sprintf("tenant %q holds %d gateways, its limit; no new gateway can be created", tenant, mine)}
	}
	return nil
}

// provisionDefaults fills the provisioning limits of c.
func (c *config) provisionDefaults() {
	if c.ProvisionBurst == 0 {
		c.ProvisionBurst = DefaultProvisionBurst
	}
	if c.ProvisionRefill <= 0 {
		c.ProvisionRefill = DefaultProvisionRefill
	}
	if c.ProvisionTotalBurst == 0 {
		c.ProvisionTotalBurst = DefaultProvisionTotalBurst
	}
	if c.ProvisionTotalRefill <= 0 {
		c.ProvisionTotalRefill = DefaultProvisionTotalRefill
	}
	if c.MaxGateways == 0 {
		c.MaxGateways = DefaultMaxGateways
	}
	if c.MaxGatewaysPerTenant == 0 {
		c.MaxGatewaysPerTenant = DefaultMaxGatewaysPerTenant
	}
}
