package harbor

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// controlMux serves the connector testee control API
// (docs/conformance-guide.md) at the root of its own port. It offers every
// route the guide lists except clock control: GET /clock reads harbor's
// clock, POST /clock does not exist, and /health says manualClock false.
func (s *Server) controlMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.ctlHealth)
	mux.HandleFunc("POST /gateways", s.ctlEnroll)
	mux.HandleFunc("POST /gateways/{id}/rotate", s.ctlRotate)
	mux.HandleFunc("POST /gateways/{id}/revoke", s.ctlRevoke)
	mux.HandleFunc("POST /inbound", s.ctlInbound)
	mux.HandleFunc("GET /buffers/{instance}", s.ctlBuffers)
	mux.HandleFunc("POST /passthrough", s.ctlPassthrough)
	mux.HandleFunc("POST /press", s.ctlPress)
	mux.HandleFunc("GET /outbound", s.ctlOutbound)
	mux.HandleFunc("POST /scripts", s.ctlScripts)
	mux.HandleFunc("POST /faults", s.ctlFaults)
	mux.HandleFunc("DELETE /faults", s.ctlClearFaults)
	mux.HandleFunc("POST /enrollment-tokens", s.ctlEnrollmentToken)
	mux.HandleFunc("GET /clock", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"unixNano": s.clk.Now().UnixNano(), "manual": false})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, "no control route "+r.Method+" "+r.URL.Path)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.ControlToken != "" && !constEq(bearer(r.Header.Get("Authorization")), s.opts.ControlToken) {
			writeErr(w, http.StatusUnauthorized, "Authorization: the control token is required")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (s *Server) ctlHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"name": "harbor", "contractVersion": 1, "platforms": platforms, "manualClock": false,
		"features":  []string{"policy", "media", "wake", "passthrough", "provision", "enroll"},
		"deviation": s.dev,
	})
}

func gatewayView(g *gateway) map[string]any {
	return map[string]any{"gatewayId": g.id, "secret": g.secret, "platforms": g.platforms,
		"instanceId": g.instance, "tenant": g.tenant, "wakeUrl": g.wakeURL}
}

func (s *Server) ctlEnroll(w http.ResponseWriter, r *http.Request) {
	var spec GatewaySpec
	if !decodeBody(w, r, &spec) {
		return
	}
	g, err := s.enroll(spec)
	if err != nil {
		writeEnrollErr(w, err)
		return
	}
	s.mu.Lock()
	v := gatewayView(g)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, v)
}

func decodeBody(w http.ResponseWriter, r *http.Request, out any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxControlBody))
	if err := dec.Decode(out); err != nil {
		writeErr(w, http.StatusBadRequest, "body: "+err.Error())
		return false
	}
	return true
}

// gatewayLocked finds a gateway by id; s.mu must be held.
func (s *Server) gatewayLocked(w http.ResponseWriter, id string) *gateway {
	g := s.gateways[id]
	if g == nil {
		writeErr(w, http.StatusNotFound, fmt.Sprintf("gatewayId: no gateway %q", id))
		return nil
	}
	return g
}

func (s *Server) ctlRotate(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Secret string `json:"secret"`
	}
	if r.ContentLength != 0 && !decodeBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gatewayLocked(w, r.PathValue("id"))
	if g == nil {
		return
	}
	if body.Secret == "" {
		body.Secret = randomHex(32)
	}
	if s.dev == DevRotationDropsOld {
		g.prevSecret = ""
	} else {
		g.prevSecret, g.prevUntil = g.secret, s.clk.Now().Add(s.opts.RotationWindow)
	}
	g.secret = body.Secret
	writeJSON(w, http.StatusOK, gatewayView(g))
}

// ctlRevoke revokes a gateway: its secrets are refused from now on, its
// open sockets close 4401 "unauthorized", and its instance's buffer, flip
// and policies go unless another gateway still uses the instance.
func (s *Server) ctlRevoke(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gatewayLocked(w, r.PathValue("id"))
	if g == nil {
		return
	}
	g.revoked = true
	in := s.instanceOf(g)
	for _, c := range append([]*conn(nil), in.conns...) {
		if c.gw == g {
			s.closeConnLocked(c, 4401, "unauthorized")
		}
	}
	shared := false
	for _, o := range s.gateways {
		shared = shared || (!o.revoked && o.tenant == g.tenant && o.instance == g.instance)
	}
	if !shared {
		delete(s.instances, instanceKey(g.tenant, g.instance))
	}
	writeJSON(w, http.StatusOK, map[string]any{"gatewayId": g.id, "revoked": true})
}

// event is an injected MessageEvent: the members harbor reads, the rest
// kept verbatim.
func parseEvent(raw json.RawMessage) (map[string]any, source, error) {
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil || ev == nil {
		return nil, source{}, errors.New("event: want an object")
	}
	srcObj, ok := ev["source"].(map[string]any)
	if !ok {
		return nil, source{}, errors.New("event.source: want an object")
	}
	for _, k := range []string{"platform", "chat_id", "chat_type", "user_id"} {
		if _, ok := srcObj[k].(string); !ok {
			return nil, source{}, fmt.Errorf("event.source.%s: want a string", k)
		}
	}
	switch srcObj["chat_type"] {
	case "dm", "group", "channel", "thread":
	default:
		return nil, source{}, errors.New("event.source.chat_type: want dm, group, channel or thread")
	}
	b, _ := json.Marshal(srcObj)
	var src source
	if err := json.Unmarshal(b, &src); err != nil {
		return nil, source{}, fmt.Errorf("event.source: %v", err)
	}
	return ev, src, nil
}

func (s *Server) ctlInbound(w http.ResponseWriter, r *http.Request) {
	var body struct {
		GatewayID string          `json:"gatewayId"`
		Event     json.RawMessage `json:"event"`
		Addressed bool            `json:"addressed"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	ev, src, err := parseEvent(body.Event)
	if err != nil {
		writeErr(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gatewayLocked(w, body.GatewayID)
	if g == nil {
		return
	}
	s.injectLocked(w, g, ev, src, body.Addressed, true)
}

// injectLocked delivers a platform event for g and answers the control
// request with {delivery, bufferId?, messageId, chatId}. The event keeps
// the platform's message_id when it has one; harbor mints one otherwise.
func (s *Server) injectLocked(w http.ResponseWriter, g *gateway, ev map[string]any, src source, addressed, gate bool) {
	if g.revoked {
		writeErr(w, http.StatusConflict, "gatewayId: revoked")
		return
	}
	if !g.fronts(src.Platform) {
		writeErr(w, http.StatusBadRequest, fmt.Sprintf("event.source.platform: %q is not fronted for gateway %q (it fronts %v)", src.Platform, g.id, g.platforms))
		return
	}
	msgID, _ := ev["message_id"].(string)
	if msgID == "" {
		msgID = mintID("hm_", s.nextSeq())
		ev["message_id"] = msgID
	}
	if _, has := ev["message_type"]; !has {
		ev["message_type"] = "text"
	}
	answer := map[string]any{"messageId": msgID, "chatId": src.ChatID}
	in := s.instanceOf(g)
	if gate && !in.passes(s.dev, src, addressed) {
		answer["delivery"] = deliveryFiltered
		writeJSON(w, http.StatusOK, answer)
		return
	}
	payload, _ := json.Marshal(ev)
	// The frame around the event (type, a bufferId when replayed, the
	// newline) must still fit the cap (TRN-018): refuse what would not.
	if len(payload)+frameEnvelope > maxFrameBytes {
		writeErr(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("event: %d bytes, too large for one frame of at most %d (TRN-018)", len(payload), maxFrameBytes))
		return
	}
	s.rememberLocked(g, src)
	d, bid, err := s.deliverLocked(g, "inbound", src.Platform, payload)
	if err != nil {
		writeErr(w, http.StatusInsufficientStorage, err.Error())
		return
	}
	answer["delivery"] = d
	if bid != "" {
		answer["bufferId"] = bid
	}
	writeJSON(w, http.StatusOK, answer)
}

// frameEnvelope bounds what a frame adds around an event: the type, a
// bufferId and the braces.
const frameEnvelope = 128

func (s *Server) ctlBuffers(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("instance")
	s.mu.Lock()
	defer s.mu.Unlock()
	entries := []map[string]any{}
	flipped := false
	for _, in := range s.instances {
		if in.id != id {
			continue
		}
		flipped = flipped || in.flipped
		for _, e := range in.buffer {
			entries = append(entries, map[string]any{"bufferId": e.id, "frameType": e.frameType, "platform": e.platform,
				"deliveries": e.deliveries, "tenant": in.tenant})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"instanceId": id, "flipped": flipped, "entries": entries})
}

func (s *Server) ctlPassthrough(w http.ResponseWriter, r *http.Request) {
	var body struct {
		GatewayID string         `json:"gatewayId"`
		Forward   map[string]any `json:"forward"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	fw := body.Forward
	if fw == nil {
		writeErr(w, http.StatusBadRequest, "forward: want an object")
		return
	}
	if _, has := fw["botId"]; !has {
		fw["botId"] = ""
	}
	for _, k := range []string{"platform", "botId", "method", "path", "bodyB64"} {
		if _, ok := fw[k].(string); !ok {
			writeErr(w, http.StatusBadRequest, "forward."+k+": want a string")
			return
		}
	}
	if _, err := base64.StdEncoding.DecodeString(fw["bodyB64"].(string)); err != nil {
		writeErr(w, http.StatusBadRequest, "forward.bodyB64: want standard base64")
		return
	}
	hs, ok := fw["headers"].([]any)
	if fw["headers"] == nil {
		hs, ok = []any{}, true
		fw["headers"] = hs
	}
	if !ok {
		writeErr(w, http.StatusBadRequest, "forward.headers: want a list of [name, value] pairs")
		return
	}
	for i, h := range hs {
		pair, ok := h.([]any)
		if !ok || len(pair) != 2 {
			writeErr(w, http.StatusBadRequest, fmt.Sprintf("forward.headers[%d]: want a [name, value] pair", i))
			return
		}
		if _, ok := pair[0].(string); !ok {
			writeErr(w, http.StatusBadRequest, fmt.Sprintf("forward.headers[%d]: want strings", i))
			return
		}
		if _, ok := pair[1].(string); !ok {
			writeErr(w, http.StatusBadRequest, fmt.Sprintf("forward.headers[%d]: want strings", i))
			return
		}
	}
	plat := fw["platform"].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gatewayLocked(w, body.GatewayID)
	if g == nil {
		return
	}
	if g.revoked || !g.fronts(plat) {
		writeErr(w, http.StatusBadRequest, fmt.Sprintf("forward.platform: %q is not fronted for gateway %q", plat, g.id))
		return
	}
	payload, _ := json.Marshal(fw)
	d, bid, err := s.deliverLocked(g, "passthrough_forward", plat, payload)
	if err != nil {
		writeErr(w, http.StatusInsufficientStorage, err.Error())
		return
	}
	answer := map[string]any{"delivery": d}
	if bid != "" {
		answer["bufferId"] = bid
	}
	writeJSON(w, http.StatusOK, answer)
}

// ctlPress makes a platform user press an option of a prompt harbor
// rendered: an inbound text event with the option's label as text and a
// prompt_response (IN-013), in the prompt's chat. Presses are interactions
// with the bot's own message, so the relevance policy does not gate them.
func (s *Server) ctlPress(w http.ResponseWriter, r *http.Request) {
	var body struct {
		GatewayID string `json:"gatewayId"`
		MessageID string `json:"messageId"`
		OptionID  string `json:"optionId"`
		UserID    string `json:"userId"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gatewayLocked(w, body.GatewayID)
	if g == nil {
		return
	}
	msg, ok := s.tenant(g.tenant).messages.get(body.MessageID)
	if !ok || msg.prompt == nil || msg.gatewayID != g.id {
		writeErr(w, http.StatusNotFound, fmt.Sprintf("messageId: no prompt %q rendered for gateway %q", body.MessageID, g.id))
		return
	}
	label, ok := msg.prompt.options[body.OptionID]
	if !ok {
		writeErr(w, http.StatusBadRequest, fmt.Sprintf("optionId: prompt has no option %q", body.OptionID))
		return
	}
	if body.UserID == "" {
		body.UserID = "harbor-user"
	}
	kind := "dm"
	if ci, ok := s.tenant(g.tenant).chats.get(msg.platform + "\x00" + msg.chatID); ok {
		kind = ci.kind
	}
	src := source{Platform: msg.platform, ChatID: msg.chatID, ChatType: kind, UserID: body.UserID}
	ev := map[string]any{"text": label, "message_type": "text",
		"source": src,
		"prompt_response": map[string]any{"prompt_id": msg.prompt.promptID, "option_id": body.OptionID,
			"label": label, "prompt_message_id": body.MessageID}}
	s.injectLocked(w, g, ev, src, true, false)
}

func (s *Server) ctlOutbound(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("gatewayId")
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []outboundRecord{}
	for _, g := range s.gateways {
		if id == "" || g.id == id {
			out = append(out, g.outLog...)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"outbound": out})
}

// ctlScripts takes egress-decline scripts only: harbor's platforms answer
// everything else themselves.
func (s *Server) ctlScripts(w http.ResponseWriter, r *http.Request) {
	var body struct {
		GatewayID      string `json:"gatewayId"`
		ChatID         string `json:"chatId"`
		EgressDeclined bool   `json:"egressDeclined"`
		Times          int    `json:"times"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if !body.EgressDeclined {
		writeErr(w, http.StatusBadRequest, "egressDeclined: harbor scripts only egress declines")
		return
	}
	if body.Times < 0 {
		writeErr(w, http.StatusBadRequest, "times: must not be negative")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gatewayLocked(w, body.GatewayID)
	if g == nil {
		return
	}
	if len(g.scripts) >= 256 {
		writeErr(w, http.StatusInsufficientStorage, "too many scripts for this gateway")
		return
	}
	g.scripts = append(g.scripts, &script{chatID: body.ChatID, times: body.Times})
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) ctlFaults(w http.ResponseWriter, r *http.Request) {
	var body struct {
		RefuseConnections *bool `json:"refuseConnections"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if body.RefuseConnections == nil {
		writeErr(w, http.StatusBadRequest, "refuseConnections: harbor has only this fault; give a boolean")
		return
	}
	s.mu.Lock()
	s.refusing = *body.RefuseConnections
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) ctlClearFaults(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.refusing = false
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) ctlEnrollmentToken(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Tenant    string   `json:"tenant"`
		Platforms []string `json:"platforms"`
		TTL       string   `json:"ttl"`
	}
	if r.ContentLength != 0 && !decodeBody(w, r, &body) {
		return
	}
	if body.Tenant == "" {
		body.Tenant = defaultTenant
	}
	ttl := 24 * time.Hour
	if body.TTL != "" {
		d, err := time.ParseDuration(body.TTL)
		if err != nil || d <= 0 {
			writeErr(w, http.StatusBadRequest, "ttl: want a positive Go duration")
			return
		}
		ttl = d
	}
	for _, p := range body.Platforms {
		if !served(p) {
			writeErr(w, http.StatusBadRequest, fmt.Sprintf("platforms: harbor does not serve %q", p))
			return
		}
	}
	tok := "het_" + strings.ToUpper(randomHex(12))
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.enrollTokens) >= maxGateways {
		writeErr(w, http.StatusInsufficientStorage, "too many enrollment tokens")
		return
	}
	s.enrollTokens[tok] = &enrollToken{tenant: body.Tenant, platforms: body.Platforms, expires: s.clk.Now().Add(ttl)}
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "tenant": body.Tenant})
}
