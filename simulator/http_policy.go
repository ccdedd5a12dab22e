package simulator

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/relaykit/relaykit/contract"
)

// servePolicy is POST /relay/policy (HTTP-014): an upgrade-token bearer
// declares the relevance policy of one platform, replacing any earlier one
// of that instance and platform. The policy gates delivery (HTTP-016).
func (s *Server) servePolicy(w http.ResponseWriter, r *http.Request) {
	auth := s.authenticateHTTP(r.Header.Get("Authorization"))
	if auth.reason != "" || auth.gw == nil {
		s.refuseHTTP(w, r, auth)
		return
	}
	gw := auth.gw
	var req contract.PolicyRequest
	err := decodeContractBody(r, contract.BodyPolicyRequest, &req)
	if err == nil && !gw.fronts(req.Platform) {
		err = badRequest("platform", "%q is not fronted by gateway %q", req.Platform, gw.GatewayID)
	}
	if err != nil {
		s.replyRequestError(w, r, err)
		return
	}
	if req.FreeResponseScopes == nil {
		req.FreeResponseScopes = []string{}
	}
	if err := s.declarePolicy(gw.InstanceID, req); err != nil {
		s.httpError(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, contract.PolicyResponse{OK: true})
	declared, _ := json.Marshal(req)
	s.noteHTTP(r, http.StatusOK, gw.GatewayID, string(declared))
}

// declarePolicy stores req as the instance's policy for its platform,
// replacing any earlier one.
func (s *Server) declarePolicy(instanceID string, req contract.PolicyRequest) error {
	in := s.instance(instanceID)
	in.mu.Lock()
	defer in.mu.Unlock()
	if err := s.store.Apply(Mutation{Kind: MutPolicy, Instance: in.id, Policy: &req}); err != nil {
		return fmt.Errorf("failed to store policy: %w", err)
	}
	in.policies[req.Platform] = req
	return nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// Policy returns the relevance policy of an instance and platform: the
// declared one, or the all-default policy when none was declared
// (HTTP-015).
func (s *Server) Policy(instanceID, platform string) contract.PolicyRequest {
	def := contract.PolicyRequest{Platform: platform, FreeResponseScopes: []string{}}
	s.mu.RLock()
	in := s.instances[instanceID]
	s.mu.RUnlock()
	if in == nil {
		return def
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if p, ok := in.policies[platform]; ok {
		p.FreeResponseScopes = append([]string{}, p.FreeResponseScopes...)
		return p
	}
	return def
}

// Policies returns every declared policy of an instance, by platform.
func (s *Server) Policies(instanceID string) map[string]contract.PolicyRequest {
	out := map[string]contract.PolicyRequest{}
	s.mu.RLock()
	in := s.instances[instanceID]
	s.mu.RUnlock()
	if in == nil {
		return out
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for p, pol := range in.policies {
		out[p] = pol
	}
	return out
}
