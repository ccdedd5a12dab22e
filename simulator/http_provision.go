package simulator

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/relaykit/relaykit/contract"
)

// serveProvision is POST /relay/provision (HTTP-012): one call per fronted
// platform, all under one gateway id, each answered with the same secret.
func (s *Server) serveProvision(w http.ResponseWriter, r *http.Request) {
	tenant, ok := s.identityTenant(r)
	if !ok {
		s.refuseIdentity(w, r)
		return
	}
	var req contract.ProvisionRequest
	err := decodeContractBody(r, contract.BodyProvisionRequest, &req)
	if err == nil && !s.platformServed(req.Platform) {
		err = badRequest("platform", "%q is not a platform this connector serves (%s)", req.Platform, strings.Join(s.cfg.platforms, ", "))
	}
	if err == nil {
		err = checkProvisionSizes(req)
	}
	if err != nil {
		s.replyRequestError(w, r, err)
		return
	}
	if after, why := s.takeProvisionCall(tenant); why != "" {
		s.provisionThrottled(w, r, after, why)
		return
	}

	s.mu.Lock()
	g, err := s.provisionLocked(req, tenant)
	s.mu.Unlock()
	if err != nil {
		s.replyRequestError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, contract.ProvisionResponse{
		Secret: g.Secrets[0], DeliveryKey: g.DeliveryKey, Tenant: g.Tenant, GatewayID: g.GatewayID,
		RouteKeys: append([]string{}, g.RouteKeys...),
	})
	s.noteHTTP(r, http.StatusOK, g.GatewayID, "provisioned for "+req.Platform)
}

func (s *Server) provisionLocked(req contract.ProvisionRequest, tenant string) (GatewayRecord, error) {
	var g GatewayRecord
	if old := s.gateways[req.GatewayID]; old != nil && !old.Revoked {
		if old.Tenant != tenant {
			return g, &RequestError{Status: http.StatusConflict, Field: "gatewayId", Message: fmt.Sprintf("gateway %q belongs to another tenant", req.GatewayID)}
		}
		g = old.clone()
		if !g.fronts(req.Platform) {
			g.Platforms = append(g.Platforms, req.Platform)
		}
		// The route keys are the gateway's current configuration, like
		// its instance id and wake URL: the latest call's list replaces
		// the stored one. Merging them made a gateway that sent new keys
		// on each call grow its record, and the store log with it,
		// without bound.
		g.RouteKeys = dedupe(req.RouteKeys)
		if req.InstanceID != "" {
			g.InstanceID = req.InstanceID
		}
		if req.WakeURL != "" {
			g.WakeURL = req.WakeURL
		}
	} else {
		if err := s.gatewayRoomLocked(req.GatewayID, tenant); err != nil {
			return g, err
		}
		g = GatewayRecord{
			GatewayID: req.GatewayID, Tenant: tenant, Secrets: []string{mintSecret()}, DeliveryKey: mintSecret(),
			InstanceID: req.InstanceID, WakeURL: req.WakeURL, Platforms: []string{req.Platform},
			RouteKeys: dedupe(req.RouteKeys), CreatedAt: s.clk.Now(),
		}
		if g.InstanceID == "" {
			g.InstanceID = g.GatewayID
		}
	}
	if g.BotIDs == nil {
		g.BotIDs = map[string]string{}
	}
	g.BotIDs[req.Platform] = req.BotID
	if err := s.instanceFreeLocked(g.InstanceID, g.Tenant, g.GatewayID); err != nil {
		return GatewayRecord{}, err
	}
	if old := s.gateways[g.GatewayID]; old != nil && reflect.DeepEqual(*old, g) {
		// A gateway re-provisioning at boot with nothing changed costs no
		// store write.
		return g, nil
	}
	if err := s.putGatewayLocked(g); err != nil {
		return GatewayRecord{}, err
	}
	return g, nil
}

// dedupe returns list without repeats, in first-seen order, never nil.
func dedupe(list []string) []string {
	out := make([]string, 0, len(list))
	for _, v := range list {
		if !contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// serveEnroll is POST /relay/enroll (HTTP-013): a single-use enrollment
// token of the caller's tenant buys a secret.
func (s *Server) serveEnroll(w http.ResponseWriter, r *http.Request) {
	tenant, ok := s.identityTenant(r)
	if !ok {
		s.refuseIdentity(w, r)
		return
	}
	var req contract.EnrollRequest
	err := decodeContractBody(r, contract.BodyEnrollRequest, &req)
	if err == nil && len(req.GatewayID) > maxProvisionIDBytes {
		err = badRequest("gatewayId", "is %d bytes, over this connector's limit of %d", len(req.GatewayID), maxProvisionIDBytes)
	}
	if err != nil {
		s.replyRequestError(w, r, err)
		return
	}
	if after, why := s.takeProvisionCall(tenant); why != "" {
		s.provisionThrottled(w, r, after, why)
		return
	}
	s.mu.Lock()
	g, err := s.redeemLocked(req, tenant)
	s.mu.Unlock()
	if err != nil {
		s.replyRequestError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, contract.EnrollResponse{Secret: g.Secrets[0], DeliveryKey: g.DeliveryKey, Tenant: g.Tenant, GatewayID: g.GatewayID})
	s.noteHTTP(r, http.StatusOK, g.GatewayID, "enrolled")
}

func (s *Server) redeemLocked(req contract.EnrollRequest, tenant string) (GatewayRecord, error) {
	tok := s.tokens[tokenHash(req.EnrollmentToken)]
	forbidden := func(why string) error {
		return &RequestError{Status: http.StatusForbidden, Field: "enrollmentToken", Message: why}
	}
	switch {
	case tok == nil:
		return GatewayRecord{}, forbidden("invalid enrollment token")
	case tok.Used:
		return GatewayRecord{}, forbidden("enrollment token already used")
	case s.clk.Now().After(tok.ExpiresAt):
		return GatewayRecord{}, forbidden("enrollment token expired")
	case tok.Tenant != tenant:
		return GatewayRecord{}, forbidden("enrollment token belongs to another tenant")
	}
	var g GatewayRecord
	if old := s.gateways[req.GatewayID]; old != nil && !old.Revoked {
		if old.Tenant != tenant {
			return g, &RequestError{Status: http.StatusConflict, Field: "gatewayId", Message: fmt.Sprintf("gateway %q belongs to another tenant", req.GatewayID)}
		}
		g = old.clone()
	} else {
		if err := s.gatewayRoomLocked(req.GatewayID, tenant); err != nil {
			return g, err
		}
		g = GatewayRecord{
			GatewayID: req.GatewayID, Tenant: tenant, Secrets: []string{mintSecret()}, DeliveryKey: mintSecret(),
			InstanceID: req.GatewayID, Platforms: append([]string(nil), tok.Platforms...), CreatedAt: s.clk.Now(),
		}
		if err := s.instanceFreeLocked(g.InstanceID, tenant, g.GatewayID); err != nil {
			return GatewayRecord{}, err
		}
	}
	used := *tok
	used.Used = true
	if err := s.store.Apply(Mutation{Kind: MutToken, Token: &used}); err != nil {
		return GatewayRecord{}, err
	}
	s.tokens[used.Hash] = &used
	if err := s.putGatewayLocked(g); err != nil {
		return GatewayRecord{}, err
	}
	return g, nil
}
