package simulator

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// Gateway is an enrolled gateway as the control and inspection API shows
// it. Secret and DeliveryKey are set only in the answer of the call that
// minted them (EnrollGateway, RotateSecret); every other view leaves them
// empty.
type Gateway struct {
	GatewayID   string   `json:"gatewayId"`
	Secret      string   `json:"secret,omitempty"`
	DeliveryKey string   `json:"deliveryKey,omitempty"`
	Tenant      string   `json:"tenant"`
	InstanceID  string   `json:"instanceId"`
	WakeURL     string   `json:"wakeUrl,omitempty"`
	Platforms   []string `json:"platforms"`
	RouteKeys   []string `json:"routeKeys,omitempty"`
	// PreviousSecrets counts the older secrets still accepted (the
	// rotation window).
	PreviousSecrets int       `json:"previousSecrets"`
	Revoked         bool      `json:"revoked,omitempty"`
	CreatedAt       time.Time `json:"createdAt"`
}

func gatewayView(g GatewayRecord, withSecret bool) Gateway {
	v := Gateway{
		GatewayID: g.GatewayID, Tenant: g.Tenant, InstanceID: g.InstanceID, WakeURL: g.WakeURL,
		Platforms: append([]string{}, g.Platforms...), RouteKeys: append([]string(nil), g.RouteKeys...),
		Revoked: g.Revoked, CreatedAt: g.CreatedAt,
	}
	if len(g.Secrets) > 1 {
		v.PreviousSecrets = len(g.Secrets) - 1
	}
	if withSecret && len(g.Secrets) > 0 {
		v.Secret, v.DeliveryKey = g.Secrets[0], g.DeliveryKey
	}
	return v
}

// EnrollGateway enrolls a gateway, minting its secret when spec has none,
// and returns it with its secret. Enrolling an id that is enrolled and not
// revoked is a conflict (*RequestError, status 409).
func (s *Server) EnrollGateway(spec GatewaySpec) (Gateway, error) {
	if !s.track() {
		return Gateway{}, ErrClosed
	}
	defer s.untrack()
	g, err := s.enroll(spec, true)
	if err != nil {
		return Gateway{}, err
	}
	return gatewayView(g, true), nil
}

func (s *Server) enroll(spec GatewaySpec, journal bool) (GatewayRecord, error) {
	if spec.GatewayID == "" || strings.ContainsAny(spec.GatewayID, "\x00\n") {
		return GatewayRecord{}, badRequest("gatewayId", "must be a non-empty string without NUL or newline")
	}
	platforms := spec.Platforms
	if len(platforms) == 0 {
		platforms = s.cfg.platforms
	}
	for _, p := range platforms {
		if !s.platformServed(p) {
			return GatewayRecord{}, badRequest("platforms", "%q is not a platform this simulator serves (%s)", p, strings.Join(s.cfg.platforms, ", "))
		}
	}
	g := GatewayRecord{
		GatewayID: spec.GatewayID, Tenant: spec.Tenant, Secrets: []string{spec.Secret}, DeliveryKey: mintSecret(),
		InstanceID: spec.InstanceID, WakeURL: spec.WakeURL, Platforms: append([]string(nil), platforms...),
		RouteKeys: append([]string(nil), spec.RouteKeys...), CreatedAt: s.clk.Now(),
	}
	if g.Secrets[0] == "" {
		g.Secrets[0] = mintSecret()
	}
	if g.Tenant == "" {
		g.Tenant = DefaultTenant
	}
	if g.InstanceID == "" {
		g.InstanceID = g.GatewayID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.gateways[g.GatewayID]; old != nil && !old.Revoked {
		return GatewayRecord{}, &RequestError{Status: http.StatusConflict, Field: "gatewayId", Message: fmt.Sprintf("gateway %q is already enrolled", g.GatewayID)}
	}
	if err := s.instanceFreeLocked(g.InstanceID, g.Tenant, g.GatewayID); err != nil {
		return GatewayRecord{}, err
	}
	if err := s.putGatewayLocked(g); err != nil {
		return GatewayRecord{}, err
	}
	if journal {
		s.note(JournalEntry{Kind: JournalControl, GatewayID: g.GatewayID, Instance: g.InstanceID, Detail: "gateway enrolled"})
	}
	return g, nil
}

// instanceFreeLocked refuses an instance id that a live gateway of another
// tenant uses, since buffers are per instance and tenants never share.
func (s *Server) instanceFreeLocked(instance, tenant, except string) error {
	for _, other := range s.gateways {
		if other.GatewayID != except && !other.Revoked && other.InstanceID == instance && other.Tenant != tenant {
			return &RequestError{Status: http.StatusConflict, Field: "instanceId", Message: fmt.Sprintf("instance %q belongs to another tenant", instance)}
		}
	}
	return nil
}

func (s *Server) putGatewayLocked(g GatewayRecord) error {
	if err := s.store.Apply(Mutation{Kind: MutGateway, Gateway: &g}); err != nil {
		return fmt.Errorf("failed to store gateway %q: %w", g.GatewayID, err)
	}
	cp := g.clone()
	s.gateways[g.GatewayID] = &cp
	return nil
}

// Gateway returns an enrolled gateway, without its secret.
func (s *Server) Gateway(id string) (Gateway, bool) {
	g, ok := s.gatewayRecord(id)
	if !ok {
		return Gateway{}, false
	}
	return gatewayView(g, false), true
}

// Gateways returns every gateway, revoked ones included, without secrets,
// sorted by id.
func (s *Server) Gateways() []Gateway {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []Gateway{}
	for _, id := range keys(s.gateways) {
		out = append(out, gatewayView(*s.gateways[id], false))
	}
	return out
}

// RevokeGateway deprovisions a gateway: its secrets are refused from now
// on, its open sockets close 4401 "unauthorized", and its instance's buffer,
// flip and policies are dropped unless another gateway shares the instance.
func (s *Server) RevokeGateway(id string) error {
	if !s.track() {
		return ErrClosed
	}
	defer s.untrack()
	s.mu.Lock()
	old := s.gateways[id]
	if old == nil || old.Revoked {
		s.mu.Unlock()
		return unknownGateway(id)
	}
	g := old.clone()
	g.Revoked, g.Secrets = true, nil
	if err := s.putGatewayLocked(g); err != nil {
		s.mu.Unlock()
		return err
	}
	shared := false
	for _, other := range s.gateways {
		shared = shared || (other.GatewayID != id && !other.Revoked && other.InstanceID == g.InstanceID)
	}
	var victims []*session
	for _, sess := range s.sessions {
		if sess.gw.GatewayID == id {
			victims = append(victims, sess)
		}
	}
	in := s.instances[g.InstanceID]
	s.mu.Unlock()
	s.note(JournalEntry{Kind: JournalControl, GatewayID: id, Instance: g.InstanceID, Detail: fmt.Sprintf("gateway revoked; closing %d socket(s) 4401", len(victims))})
	for _, sess := range victims {
		sess.closeAsync(contract.CloseUnauthorized, contract.ReasonUnauthorized)
	}
	if !shared && in != nil {
		in.mu.Lock()
		in.stopDrainLocked()
		if err := s.store.Apply(Mutation{Kind: MutForgetInstance, Instance: in.id}); err == nil {
			s.clearBufferLocked(in)
			in.flipped = false
			in.policies = map[string]contract.PolicyRequest{}
		}
		in.mu.Unlock()
	}
	return nil
}

// RotateSecret makes newSecret (minted when empty) the gateway's current
// secret. The previous secrets stay valid, as a rotation window, until
// RetireSecrets. It returns the gateway with its new secret.
func (s *Server) RotateSecret(id, newSecret string) (Gateway, error) {
	if !s.track() {
		return Gateway{}, ErrClosed
	}
	defer s.untrack()
	if newSecret == "" {
		newSecret = mintSecret()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.gateways[id]
	if old == nil || old.Revoked {
		return Gateway{}, unknownGateway(id)
	}
	g := old.clone()
	g.Secrets = append([]string{newSecret}, g.Secrets...)
	if err := s.putGatewayLocked(g); err != nil {
		return Gateway{}, err
	}
	s.note(JournalEntry{Kind: JournalControl, GatewayID: id, Detail: fmt.Sprintf("secret rotated; %d previous secret(s) still accepted", len(g.Secrets)-1)})
	v := gatewayView(g, true)
	v.DeliveryKey = "" // rotation mints only the secret
	return v, nil
}

// RetireSecrets ends the rotation window: only the current secret is
// accepted from now on. Open sockets stay open.
func (s *Server) RetireSecrets(id string) error {
	if !s.track() {
		return ErrClosed
	}
	defer s.untrack()
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.gateways[id]
	if old == nil || old.Revoked {
		return unknownGateway(id)
	}
	g := old.clone()
	g.Secrets = g.Secrets[:1]
	if err := s.putGatewayLocked(g); err != nil {
		return err
	}
	s.note(JournalEntry{Kind: JournalControl, GatewayID: id, Detail: "previous secrets retired"})
	return nil
}

// Token mints an upgrade token for a gateway with its current secret,
// expiring ttl from now on the simulator's clock (never, for ttl <= 0).
// It is for Go tests; the control API has no equivalent.
func (s *Server) Token(gatewayID string, ttl time.Duration) (string, error) {
	g, ok := s.gatewayRecord(gatewayID)
	if !ok || g.Revoked || len(g.Secrets) == 0 {
		return "", unknownGateway(gatewayID)
	}
	return contract.MintTokenTTL(g.GatewayID, g.Secrets[0], s.clk.Now(), ttl), nil
}

// Env returns the environment block that points a Hermes gateway at this
// simulator as gatewayID: GATEWAY_RELAY_URL, GATEWAY_RELAY_ID,
// GATEWAY_RELAY_SECRET and GATEWAY_RELAY_PLATFORMS, one per line. It
// contains the secret.
func (s *Server) Env(gatewayID string) (string, error) {
	g, ok := s.gatewayRecord(gatewayID)
	if !ok || g.Revoked || len(g.Secrets) == 0 {
		return "", unknownGateway(gatewayID)
	}
	if s.RelayURL() == "" {
		return "", fmt.Errorf("failed to build env for %q: simulator not started", gatewayID)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "GATEWAY_RELAY_URL=%s\n", s.RelayURL())
	fmt.Fprintf(&b, "GATEWAY_RELAY_ID=%s\n", g.GatewayID)
	fmt.Fprintf(&b, "GATEWAY_RELAY_SECRET=%s\n", g.Secrets[0])
	fmt.Fprintf(&b, "GATEWAY_RELAY_PLATFORMS=%s\n", strings.Join(g.Platforms, ","))
	return b.String(), nil
}

// EnrollmentTokenSpec describes an enrollment token to create.
type EnrollmentTokenSpec struct {
	// Tenant the token enrolls into; default DefaultTenant. Only an
	// identity bearer of this tenant can redeem it.
	Tenant string `json:"tenant,omitempty"`
	// TTL is the token's lifetime; default Options.EnrollmentTokenTTL.
	TTL time.Duration `json:"-"`
	// Platforms the enrolled gateway fronts; default every served one.
	Platforms []string `json:"platforms,omitempty"`
}

// EnrollmentToken is a single-use token for POST /relay/enroll.
type EnrollmentToken struct {
	Token     string    `json:"token"`
	Tenant    string    `json:"tenant"`
	Platforms []string  `json:"platforms"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// CreateEnrollmentToken issues a single-use enrollment token. Only its
// hash is kept, so it is shown only here.
func (s *Server) CreateEnrollmentToken(spec EnrollmentTokenSpec) (EnrollmentToken, error) {
	if !s.track() {
		return EnrollmentToken{}, ErrClosed
	}
	defer s.untrack()
	if spec.Tenant == "" {
		spec.Tenant = DefaultTenant
	}
	if spec.TTL <= 0 {
		spec.TTL = s.cfg.EnrollmentTokenTTL
	}
	if len(spec.Platforms) == 0 {
		spec.Platforms = s.cfg.platforms
	}
	for _, p := range spec.Platforms {
		if !s.platformServed(p) {
			return EnrollmentToken{}, badRequest("platforms", "%q is not a platform this simulator serves", p)
		}
	}
	tok := EnrollmentToken{Token: "et-" + randomHex(16), Tenant: spec.Tenant, Platforms: append([]string(nil), spec.Platforms...), ExpiresAt: s.clk.Now().Add(spec.TTL)}
	rec := EnrollmentTokenRecord{Hash: tokenHash(tok.Token), Tenant: tok.Tenant, Platforms: tok.Platforms, ExpiresAt: tok.ExpiresAt}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.store.Apply(Mutation{Kind: MutToken, Token: &rec}); err != nil {
		return EnrollmentToken{}, err
	}
	s.tokens[rec.Hash] = &rec
	s.note(JournalEntry{Kind: JournalControl, Detail: "enrollment token created for tenant " + tok.Tenant})
	return tok, nil
}
