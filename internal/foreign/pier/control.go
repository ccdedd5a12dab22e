package pier

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// The testee control API: the minimum of the connector testee contract
// (docs/conformance-guide.md), on its own listener.
//
//	GET  /health                  {"platforms", "manualClock": false, "features": [], "name": "pier"}
//	POST /gateways                enroll a gateway
//	POST /gateways/{id}/rotate    start a secret rotation ({"secret"?})
//	POST /gateways/{id}/revoke    revoke: live socket closed 4401, later tokens refused
//	POST /inbound                 a platform user writes ({"gatewayId", "event", "addressed"?})
//
// pier has no clock control, no optional HTTP feature (policy, media,
// provision, enroll, wake, passthrough) and none of relaysim's other hooks.
// Every answer is JSON; an error is {"error": "..."} naming the field.

const (
	maxControlBody = 64 << 10
	maxInboundBody = 2 << 20
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func (s *Server) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.ctlHealth)
	mux.HandleFunc("POST /gateways", s.ctlEnroll)
	mux.HandleFunc("POST /gateways/{id}/rotate", s.ctlRotate)
	mux.HandleFunc("POST /gateways/{id}/revoke", s.ctlRevoke)
	mux.HandleFunc("POST /inbound", s.ctlInbound)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("pier's control API has no route %s %s", r.Method, r.URL.Path))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := s.cfg.ControlToken; tok != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1 {
				writeError(w, http.StatusUnauthorized, "Authorization: the control API needs its bearer token")
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// decodeBody reads a JSON object into v, naming the field of a type error.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body: over %d bytes", limit))
		return false
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		b = []byte("{}")
	}
	if err := json.Unmarshal(b, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("%s: must be %s", te.Field, te.Type))
		} else {
			writeError(w, http.StatusBadRequest, "body: not a JSON object: "+err.Error())
		}
		return false
	}
	return true
}

func (s *Server) ctlHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"name": "pier", "platforms": Platforms, "manualClock": false, "features": []string{},
		"knownChat": s.cfg.KnownChat,
	})
}

// enrollRequest is the body of POST /gateways.
type enrollRequest struct {
	GatewayID  string   `json:"gatewayId"`
	Secret     string   `json:"secret"`
	Platforms  []string `json:"platforms"`
	InstanceID string   `json:"instanceId"`
	WakeURL    string   `json:"wakeUrl"`
	Tenant     string   `json:"tenant"`
}

// gatewayView is how the control API shows a gateway.
type gatewayView struct {
	GatewayID  string   `json:"gatewayId"`
	Secret     string   `json:"secret"`
	Platforms  []string `json:"platforms"`
	InstanceID string   `json:"instanceId"`
	Tenant     string   `json:"tenant"`
}

func viewOf(g *gateway) gatewayView {
	return gatewayView{GatewayID: g.id, Secret: g.secret, Platforms: append([]string(nil), g.platforms...),
		InstanceID: g.inst.id, Tenant: g.tenant.name}
}

// enroll adds a gateway. viaControl is false for Options.Gateways.
func (s *Server) enroll(req enrollRequest, viaControl bool) (gatewayView, error) {
	switch {
	case req.GatewayID == "":
		return gatewayView{}, badField("gatewayId: missing or empty")
	case len(req.GatewayID) > 256:
		return gatewayView{}, badField("gatewayId: over 256 bytes")
	case req.WakeURL != "":
		return gatewayView{}, badField("wakeUrl: pier does not wake gateways (it serves no optional features)")
	case !viaControl && req.Secret == "":
		return gatewayView{}, badField("secret: required for a gateway enrolled at start")
	}
	plats := req.Platforms
	if len(plats) == 0 {
		plats = Platforms
	}
	seen := map[string]bool{}
	for _, p := range plats {
		if platformSpecs[p] == nil {
			return gatewayView{}, badField("platforms: pier does not front %q (it fronts %s)", p, joinPlatforms(Platforms))
		}
		if seen[p] {
			return gatewayView{}, badField("platforms: %q listed twice", p)
		}
		seen[p] = true
	}
	if req.Secret == "" {
		req.Secret = newSecret()
	}
	if req.Tenant == "" {
		req.Tenant = DefaultTenant
	}
	if req.InstanceID == "" {
		req.InstanceID = req.GatewayID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gateways[req.GatewayID] != nil {
		return gatewayView{}, &controlError{status: http.StatusConflict, msg: fmt.Sprintf("gatewayId: %q is already enrolled", req.GatewayID)}
	}
	if len(s.gateways) >= s.cfg.MaxGateways {
		return gatewayView{}, &controlError{status: http.StatusInsufficientStorage, msg: fmt.Sprintf("pier holds its maximum of %d gateways", s.cfg.MaxGateways)}
	}
	t := s.tenantLocked(req.Tenant)
	ik := req.Tenant + "\x00" + req.InstanceID
	inst := s.instances[ik]
	if inst == nil {
		s.instSeq++
		inst = &instance{id: req.InstanceID, tag: b36(s.instSeq), tenant: t}
		s.instances[ik] = inst
	}
	g := &gateway{id: req.GatewayID, tenant: t, platforms: append([]string(nil), plats...), inst: inst, secret: req.Secret}
	s.gateways[g.id] = g
	return viewOf(g), nil
}

func answerErr(w http.ResponseWriter, err error) {
	var ce *controlError
	if errors.As(err, &ce) {
		writeError(w, ce.status, ce.msg)
		return
	}
	writeError(w, http.StatusInternalServerError, err.Error())
}

func (s *Server) ctlEnroll(w http.ResponseWriter, r *http.Request) {
	var req enrollRequest
	if !decodeBody(w, r, maxControlBody, &req) {
		return
	}
	v, err := s.enroll(req, true)
	if err != nil {
		answerErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) ctlRotate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Secret string `json:"secret"`
	}
	if !decodeBody(w, r, maxControlBody, &req) {
		return
	}
	if req.Secret == "" {
		req.Secret = newSecret()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gateways[r.PathValue("id")]
	if g == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("id: no gateway %q is enrolled", r.PathValue("id")))
		return
	}
	if g.revoked {
		writeError(w, http.StatusConflict, fmt.Sprintf("id: gateway %q is revoked", g.id))
		return
	}
	g.prevSecret, g.prevUntil = g.secret, s.cfg.clk.Now().Add(s.cfg.RotationWindow)
	g.secret = req.Secret
	writeJSON(w, http.StatusOK, viewOf(g))
}

// ctlRevoke revokes a gateway: every later token is refused 4401
// "unauthorized", and its live socket is closed 4401 "unauthorized" with no
// frame before the close, as a refused token would be (AUTH-010, AUTH-011).
func (s *Server) ctlRevoke(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gateways[r.PathValue("id")]
	if g == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("id: no gateway %q is enrolled", r.PathValue("id")))
		return
	}
	g.revoked = true
	for c := range s.conns {
		if c.g == g {
			if s.cfg.deviant(DevRevokedLive4403) {
				c.closeLocked(4403, "revoked")
			} else {
				c.closeLocked(4401, "unauthorized")
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"gatewayId": g.id, "revoked": true})
}

func (s *Server) ctlInbound(w http.ResponseWriter, r *http.Request) {
	var req struct {
		GatewayID string         `json:"gatewayId"`
		Event     map[string]any `json:"event"`
		Addressed bool           `json:"addressed"`
	}
	if !decodeBody(w, r, maxInboundBody, &req) {
		return
	}
	if req.GatewayID == "" {
		writeError(w, http.StatusBadRequest, "gatewayId: missing or empty")
		return
	}
	if req.Event == nil {
		writeError(w, http.StatusBadRequest, "event: missing or not an object")
		return
	}
	d, err := s.inject(req.GatewayID, req.Event)
	if err != nil {
		answerErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}
