package harbor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// relayMux serves the relay port: the WebSocket at /relay and the
// contract's HTTP routes (section 9). Every error body is {"error": ...}
// naming the field or the cause (HTTP-006).
func (s *Server) relayMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/relay", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			writeErr(w, http.StatusUpgradeRequired, "/relay is a WebSocket endpoint: send a GET with Upgrade: websocket")
			return
		}
		s.wg.Add(1)
		defer s.wg.Done()
		s.serveRelay(w, r)
	})
	mux.HandleFunc("/relay/policy", s.handlePolicy)
	mux.HandleFunc("/relay/media", s.handleUpload)
	mux.HandleFunc("/relay/media/", s.handleDownload)
	mux.HandleFunc("/relay/provision", s.handleProvision)
	mux.HandleFunc("/relay/enroll", s.handleEnroll)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			writeErr(w, http.StatusNotFound, "no WebSocket endpoint at "+r.URL.Path+"; dial /relay")
			return
		}
		writeErr(w, http.StatusNotFound, "no route "+r.URL.Path)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Media ids are capability URLs: a path ServeMux would clean and
		// redirect (dot segments, double slashes) is answered like any
		// unknown id, never with a redirect (HTTP-020).
		if strings.HasPrefix(r.URL.Path, "/relay/media/") {
			s.handleDownload(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(encodeFrame(v))
}

func writeErr(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// tokenGateway verifies the upgrade token of a policy or media request
// (HTTP-010). Harbor never throttles refused tokens (HTTP-024 is a MAY).
func (s *Server) tokenGateway(w http.ResponseWriter, r *http.Request) *gateway {
	tok := bearer(r.Header.Get("Authorization"))
	if tok == "" {
		writeErr(w, http.StatusUnauthorized, "Authorization: a bearer upgrade token is required")
		return nil
	}
	g, reason := s.authenticate(tok)
	if g == nil {
		writeErr(w, http.StatusUnauthorized, "Authorization: token "+reason)
		return nil
	}
	return g
}

// readObject reads a JSON object body, answering 400 naming the problem.
func readObject(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, bool) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxControlBody+1))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "body: "+err.Error())
		return nil, false
	}
	if len(b) > maxControlBody {
		writeErr(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body: larger than %d bytes", maxControlBody))
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		writeErr(w, http.StatusBadRequest, "body: want a JSON object")
		return nil, false
	}
	return m, true
}

// field decodes member k into out; it reports a 400 naming the field when
// the member is present with the wrong type, or missing and required.
func field(w http.ResponseWriter, m map[string]json.RawMessage, k string, out any, required bool, want string) bool {
	raw, ok := m[k]
	if !ok || string(bytes.TrimSpace(raw)) == "null" {
		if required {
			writeErr(w, http.StatusBadRequest, k+": required ("+want+")")
			return false
		}
		return true
	}
	if err := json.Unmarshal(raw, out); err != nil {
		writeErr(w, http.StatusBadRequest, k+": want "+want)
		return false
	}
	return true
}

// optionalNonEmpty reads an optional string member that, when present,
// must not be empty (HTTP-001 leaves empty ones out).
func optionalNonEmpty(w http.ResponseWriter, m map[string]json.RawMessage, k string, out *string) bool {
	if _, has := m[k]; !has {
		return true
	}
	return field(w, m, k, out, true, "a non-empty string") && nonEmpty(w, k, *out)
}

func nonEmpty(w http.ResponseWriter, k, v string) bool {
	if v == "" {
		writeErr(w, http.StatusBadRequest, k+": must not be empty")
		return false
	}
	return true
}

// handlePolicy stores a relevance policy. Harbor is lenient about absent
// members (they take the defaults of HTTP-015) but strict about types.
func (s *Server) handlePolicy(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeErr(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	g := s.tokenGateway(w, r)
	if g == nil {
		return
	}
	m, ok := readObject(w, r)
	if !ok {
		return
	}
	// The platform is checked first, fronting included: a declaration
	// for a platform the gateway does not front is refused whatever else
	// the body says. Then every member of HTTP-004 is required with its type.
	var p policy
	if !field(w, m, "platform", &p.Platform, true, "a non-empty string") || !nonEmpty(w, "platform", p.Platform) {
		return
	}
	s.mu.Lock()
	fronted := g.fronts(p.Platform)
	s.mu.Unlock()
	if !fronted {
		writeErr(w, http.StatusBadRequest, fmt.Sprintf("platform: %q is not fronted for this gateway", p.Platform))
		return
	}
	if !field(w, m, "requireAddress", &p.RequireAddress, true, "a boolean") ||
		!field(w, m, "allowOtherBots", &p.AllowOtherBots, true, "a boolean") ||
		!field(w, m, "freeResponseScopes", &p.FreeResponseScopes, true, "a list of strings") {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.instanceOf(g)
	if old, had := in.policies[p.Platform]; had && s.dev == DevPolicyMerge {
		p.RequireAddress = p.RequireAddress || old.RequireAddress
		p.AllowOtherBots = p.AllowOtherBots || old.AllowOtherBots
		p.FreeResponseScopes = append(append([]string{}, old.FreeResponseScopes...), p.FreeResponseScopes...)
	}
	in.policies[p.Platform] = p // HTTP-014: each declaration replaces the last
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeErr(w, http.StatusMethodNotAllowed, "use POST to upload, GET /relay/media/<id> to download")
		return
	}
	g := s.tokenGateway(w, r)
	if g == nil {
		return
	}
	if r.ContentLength > maxMediaBytes {
		writeErr(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body: %d bytes, over the %d-byte limit", r.ContentLength, maxMediaBytes))
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxMediaBytes+1))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	if len(data) > maxMediaBytes {
		writeErr(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body: over the %d-byte limit", maxMediaBytes))
		return
	}
	if len(data) == 0 {
		writeErr(w, http.StatusBadRequest, "body: empty upload")
		return
	}
	id := randomHex(16) // HTTP-005: 128 random bits, 32 lowercase hex
	s.mu.Lock()
	now := s.clk.Now()
	for k, it := range s.media {
		if !now.Before(it.expires) {
			s.mediaBytes -= len(it.data)
			delete(s.media, k)
		}
	}
	if len(s.media) >= maxMediaItems || s.mediaBytes+len(data) > maxMediaTotal {
		s.mu.Unlock()
		writeErr(w, http.StatusInsufficientStorage, "media store full")
		return
	}
	s.media[id] = &mediaItem{tenant: g.tenant, data: data, contentType: r.Header.Get("Content-Type"),
		filename: r.Header.Get("X-Media-Filename"), expires: now.Add(s.opts.MediaTTL)}
	s.mediaBytes += len(data)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "size": len(data)})
}

func (s *Server) handleDownload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeErr(w, http.StatusMethodNotAllowed, "use GET")
		return
	}
	g := s.tokenGateway(w, r)
	if g == nil {
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/relay/media/")
	s.mu.Lock()
	it := s.media[id]
	ok := it != nil && it.tenant == g.tenant && s.clk.Now().Before(it.expires)
	s.mu.Unlock()
	if !ok {
		// HTTP-020: unknown, expired and another tenant's ids look alike.
		writeErr(w, http.StatusNotFound, "no such media")
		return
	}
	ct := it.contentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(it.data)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(it.data)
	}
}

// identityTenant checks an identity bearer of provision or enroll.
func (s *Server) identityTenant(w http.ResponseWriter, r *http.Request) (string, bool) {
	tok := bearer(r.Header.Get("Authorization"))
	if tok == "" {
		writeErr(w, http.StatusUnauthorized, "Authorization: an identity bearer is required")
		return "", false
	}
	for t, tenant := range s.opts.IdentityTokens {
		if constEq(t, tok) {
			if tenant == "" {
				tenant = defaultTenant
			}
			return tenant, true
		}
	}
	writeErr(w, http.StatusUnauthorized, "Authorization: identity bearer not accepted")
	return "", false
}

func (s *Server) handleProvision(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeErr(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	tenant, ok := s.identityTenant(w, r)
	if !ok {
		return
	}
	m, ok := readObject(w, r)
	if !ok {
		return
	}
	var gwID, plat, botID, endpoint, inst, wake string
	var routeKeys []string
	if !field(w, m, "gatewayId", &gwID, true, "a non-empty string") || !nonEmpty(w, "gatewayId", gwID) ||
		!field(w, m, "platform", &plat, true, "a non-empty string") || !nonEmpty(w, "platform", plat) {
		return
	}
	if !served(plat) {
		writeErr(w, http.StatusBadRequest, fmt.Sprintf("platform: harbor does not serve %q", plat))
		return
	}
	if !field(w, m, "botId", &botID, true, "a string") ||
		!field(w, m, "gatewayEndpoint", &endpoint, true, "a string") ||
		!field(w, m, "routeKeys", &routeKeys, true, "a list of strings") ||
		!optionalNonEmpty(w, m, "instanceId", &inst) || !optionalNonEmpty(w, m, "wakeUrl", &wake) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gateways[gwID]
	if g != nil && !g.revoked && g.tenant != tenant {
		if s.dev != DevProvisionCrossTenant {
			writeErr(w, http.StatusConflict, "gatewayId: belongs to another tenant")
			return
		}
	} else if g != nil && !g.revoked {
		if inst != "" && inst != g.instance {
			writeErr(w, http.StatusConflict, "instanceId: the gateway is provisioned with another instance")
			return
		}
		if !g.fronts(plat) {
			g.platforms = append(g.platforms, plat)
		}
		if wake != "" {
			g.wakeURL = wake
			s.instanceOf(g).wakeURL = wake
		}
	} else {
		var err error
		g, err = s.enrollLocked(GatewaySpec{ID: gwID, Platforms: []string{plat}, Tenant: tenant, Instance: inst, WakeURL: wake})
		if err != nil {
			writeEnrollErr(w, err)
			return
		}
	}
	if routeKeys == nil {
		routeKeys = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"secret": g.secret, "deliveryKey": g.deliveryKey, "tenant": g.tenant,
		"gatewayId": g.id, "routeKeys": routeKeys})
}

func writeEnrollErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errConflict):
		writeErr(w, http.StatusConflict, err.Error())
	case errors.Is(err, errFull):
		writeErr(w, http.StatusInsufficientStorage, err.Error())
	default:
		writeErr(w, http.StatusBadRequest, err.Error())
	}
}

func (s *Server) handleEnroll(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeErr(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	tenant, ok := s.identityTenant(w, r)
	if !ok {
		return
	}
	m, ok := readObject(w, r)
	if !ok {
		return
	}
	var tok, gwID string
	if !field(w, m, "enrollmentToken", &tok, true, "a non-empty string") || !nonEmpty(w, "enrollmentToken", tok) ||
		!field(w, m, "gatewayId", &gwID, true, "a non-empty string") || !nonEmpty(w, "gatewayId", gwID) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	et := s.enrollTokens[tok]
	if et == nil || et.tenant != tenant || !s.clk.Now().Before(et.expires) || (et.used && s.dev != DevEnrollReusable) {
		writeErr(w, http.StatusForbidden, "enrollmentToken: invalid, expired, already used or not for this tenant")
		return
	}
	g := s.gateways[gwID]
	if g != nil && !g.revoked {
		if g.tenant != tenant {
			writeErr(w, http.StatusConflict, "gatewayId: belongs to another tenant")
			return
		}
	} else {
		var err error
		if g, err = s.enrollLocked(GatewaySpec{ID: gwID, Platforms: et.platforms, Tenant: tenant}); err != nil {
			writeEnrollErr(w, err)
			return
		}
	}
	et.used = true
	writeJSON(w, http.StatusOK, map[string]any{"secret": g.secret, "deliveryKey": g.deliveryKey, "tenant": g.tenant, "gatewayId": g.id})
}
