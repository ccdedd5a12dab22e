package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// ControlPrefix is where the control API lives, apart from the contract's
// routes, so a gateway can never reach it by accident.
const ControlPrefix = "/_relaysim/"

// Duration is a time.Duration that reads JSON as a Go duration string
// ("1.5s", "30s") or a number of seconds, and writes the string form.
type Duration time.Duration

// UnmarshalJSON accepts "30s" or 30.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration must be a string such as \"30s\" or a number of seconds")
	}
	*d = Duration(n * float64(time.Second))
	return nil
}

// MarshalJSON writes the Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// controlRoutes mounts the control API. Every route needs the control
// token when one is configured.
func (s *Server) controlRoutes(mux *http.ServeMux) {
	h := func(pattern string, fn http.HandlerFunc, methods ...string) {
		mux.HandleFunc(ControlPrefix+pattern, s.methods(s.controlGuard(fn), methods...))
	}
	h("health", s.ctlHealth, http.MethodGet)
	h("gateways", s.ctlGateways, http.MethodGet, http.MethodPost)
	h("gateways/{id}", s.ctlGateway, http.MethodGet)
	h("gateways/{id}/revoke", s.ctlRevoke, http.MethodPost)
	h("gateways/{id}/rotate", s.ctlRotate, http.MethodPost)
	h("gateways/{id}/retire", s.ctlRetire, http.MethodPost)
	h("enrollment-tokens", s.ctlEnrollmentToken, http.MethodPost)
	h("inbound", s.ctlInbound, http.MethodPost)
	h("interrupt", s.ctlInterrupt, http.MethodPost)
	h("passthrough", s.ctlPassthrough, http.MethodPost)
	h("press", s.ctlPress, http.MethodPost)
	h("outbound", s.ctlOutbound, http.MethodGet)
	h("interrupts", s.ctlInterrupts, http.MethodGet)
	h("sessions", s.ctlSessions, http.MethodGet)
	h("sessions/{gatewayId}/close", s.ctlCloseSession, http.MethodPost)
	h("buffers/{instance}", s.ctlBuffer, http.MethodGet)
	h("policies/{instance}", s.ctlPolicies, http.MethodGet)
	h("journal", s.ctlJournal, http.MethodGet)
	h("scripts", s.ctlScripts, http.MethodGet, http.MethodPost, http.MethodDelete)
	h("faults", s.ctlFaults, http.MethodGet, http.MethodPost, http.MethodDelete)
	h("wakes", s.ctlWakes, http.MethodGet)
	h("clock", s.ctlClock, http.MethodGet, http.MethodPost)
	h("reset", s.ctlReset, http.MethodPost)
	h("deviations", s.ctlDeviations, http.MethodGet, http.MethodPost)
	h("descriptors", s.ctlDescriptors, http.MethodGet)
	h("usage", s.ctlUsage, http.MethodGet)
}

func (s *Server) controlGuard(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.controlAuthorized(r) {
			writeJSON(w, http.StatusUnauthorized, contract.ErrorBody{Error: "control token missing or wrong"})
			return
		}
		fn(w, r)
	}
}

// ctlFail answers a control error; control calls are not journaled as
// contract HTTP traffic.
func ctlFail(w http.ResponseWriter, err error) {
	status, msg := requestStatus(err)
	writeJSON(w, status, contract.ErrorBody{Error: msg})
}

func decodeControl(r *http.Request, dst any) error {
	body, err := readBody(r, maxJSONBody)
	if err != nil {
		return err
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return badRequest("", "body: %v", err)
	}
	return nil
}

func (s *Server) ctlHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"ok": true, "name": "relaysim", "contractVersion": contract.Version,
		"manualClock": s.ManualClock() != nil, "deviations": s.Deviations(), "platforms": s.Platforms(),
		"features": s.Features(),
	})
}

func (s *Server) ctlGateways(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusOK, map[string]any{"gateways": s.Gateways()})
		return
	}
	var spec GatewaySpec
	if err := decodeControl(r, &spec); err != nil {
		ctlFail(w, err)
		return
	}
	g, err := s.EnrollGateway(spec)
	if err != nil {
		ctlFail(w, err)
		return
	}
	env, _ := s.Env(g.GatewayID)
	writeJSON(w, http.StatusOK, struct {
		Gateway
		Env string `json:"env,omitempty"`
	}{g, env})
}

func (s *Server) ctlGateway(w http.ResponseWriter, r *http.Request) {
	g, ok := s.Gateway(r.PathValue("id"))
	if !ok {
		ctlFail(w, unknownGateway(r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (s *Server) ctlRevoke(w http.ResponseWriter, r *http.Request) {
	if err := s.RevokeGateway(r.PathValue("id")); err != nil {
		ctlFail(w, err)
		return
	}
	g, _ := s.Gateway(r.PathValue("id"))
	writeJSON(w, http.StatusOK, g)
}

func (s *Server) ctlRotate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Secret string `json:"secret"`
	}
	if err := decodeControl(r, &req); err != nil {
		ctlFail(w, err)
		return
	}
	g, err := s.RotateSecret(r.PathValue("id"), req.Secret)
	if err != nil {
		ctlFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (s *Server) ctlRetire(w http.ResponseWriter, r *http.Request) {
	if err := s.RetireSecrets(r.PathValue("id")); err != nil {
		ctlFail(w, err)
		return
	}
	g, _ := s.Gateway(r.PathValue("id"))
	writeJSON(w, http.StatusOK, g)
}

func (s *Server) ctlEnrollmentToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		EnrollmentTokenSpec
		TTL Duration `json:"ttl"`
	}
	if err := decodeControl(r, &req); err != nil {
		ctlFail(w, err)
		return
	}
	req.EnrollmentTokenSpec.TTL = time.Duration(req.TTL)
	tok, err := s.CreateEnrollmentToken(req.EnrollmentTokenSpec)
	if err != nil {
		ctlFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, tok)
}

func (s *Server) ctlInbound(w http.ResponseWriter, r *http.Request) {
	var req InjectRequest
	if err := decodeControl(r, &req); err != nil {
		ctlFail(w, err)
		return
	}
	if len(req.Event) == 0 {
		ctlFail(w, badRequest("event", "missing"))
		return
	}
	d, err := s.InjectEvent(req)
	if err != nil {
		ctlFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) ctlInterrupt(w http.ResponseWriter, r *http.Request) {
	var req struct {
		GatewayID  string `json:"gatewayId"`
		SessionKey string `json:"sessionKey"`
		ChatID     string `json:"chatId"`
	}
	if err := decodeControl(r, &req); err != nil {
		ctlFail(w, err)
		return
	}
	d, err := s.Interrupt(req.GatewayID, req.SessionKey, req.ChatID)
	if err != nil {
		ctlFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) ctlPassthrough(w http.ResponseWriter, r *http.Request) {
	var req struct {
		GatewayID string          `json:"gatewayId"`
		Forward   json.RawMessage `json:"forward"`
	}
	if err := decodeControl(r, &req); err != nil {
		ctlFail(w, err)
		return
	}
	if len(req.Forward) == 0 {
		ctlFail(w, badRequest("forward", "missing"))
		return
	}
	d, err := s.passthroughRaw(req.GatewayID, req.Forward)
	if err != nil {
		ctlFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) ctlOutbound(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"outbound": s.Outbound(r.URL.Query().Get("gatewayId"))})
}

func (s *Server) ctlInterrupts(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"interrupts": s.Interrupts(r.URL.Query().Get("gatewayId"))})
}

func (s *Server) ctlSessions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"sessions": s.Sessions()})
}

func (s *Server) ctlCloseSession(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}
	if err := decodeControl(r, &req); err != nil {
		ctlFail(w, err)
		return
	}
	if req.Code == 0 {
		req.Code = contract.CloseNormal
	}
	n, err := s.CloseSession(r.PathValue("gatewayId"), req.Code, req.Reason)
	if err != nil {
		ctlFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"closed": n})
}

func (s *Server) ctlBuffer(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("instance")
	writeJSON(w, http.StatusOK, map[string]any{
		"instance": id, "flipped": s.Flipped(id), "draining": s.Draining(id),
		"entries": s.Buffer(id), "acks": s.Acks(id),
	})
}

func (s *Server) ctlPolicies(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("instance")
	writeJSON(w, http.StatusOK, map[string]any{"instance": id, "policies": s.Policies(id)})
}

// ctlJournal pages through the journal; with wait it long-polls until an
// entry after since exists, so a test in any language can wait for events
// without sleeping.
func (s *Server) ctlJournal(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since uint64
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			ctlFail(w, badRequest("since", "must be a sequence number"))
			return
		}
		since = n
	}
	kind := q.Get("kind")
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 5*time.Minute {
			ctlFail(w, badRequest("wait", "must be a duration up to 5m"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), d)
		// Close must not wait for a long poll to run out.
		stop := context.AfterFunc(s.ctx, cancel)
		s.Await(ctx, since, func(e JournalEntry) bool { return kind == "" || e.Kind == kind })
		stop()
		cancel()
	}
	entries := s.Journal(since)
	if kind != "" {
		kept := entries[:0]
		for _, e := range entries {
			if e.Kind == kind {
				kept = append(kept, e)
			}
		}
		entries = kept
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries, "last": s.JournalSeq()})
}

// scriptWire is ResultScript as the control API reads and writes it.
type scriptWire struct {
	ResultScript
	Delay Duration `json:"delay,omitempty"`
}

func (s *Server) ctlScripts(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodDelete:
		s.ClearScripts()
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
		return
	case http.MethodPost:
		body, err := readBody(r, maxJSONBody)
		if err != nil {
			ctlFail(w, err)
			return
		}
		// One script or a list of them.
		var list []scriptWire
		if err := json.Unmarshal(body, &list); err != nil {
			var one scriptWire
			if err := json.Unmarshal(body, &one); err != nil {
				ctlFail(w, badRequest("", "body: %v", err))
				return
			}
			list = []scriptWire{one}
		}
		ids := []string{}
		for _, sw := range list {
			sc := sw.ResultScript
			sc.Delay = time.Duration(sw.Delay)
			id, err := s.Script(sc)
			if err != nil {
				ctlFail(w, err)
				return
			}
			ids = append(ids, id)
		}
		writeJSON(w, http.StatusOK, map[string]any{"ids": ids})
		return
	}
	out := []scriptWire{}
	for _, sc := range s.Scripts() {
		out = append(out, scriptWire{ResultScript: sc, Delay: Duration(sc.Delay)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"scripts": out})
}

func (s *Server) ctlFaults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodDelete:
		s.ClearFaults()
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
		return
	case http.MethodPost:
		var req struct {
			Fault
			Delay             Duration `json:"delay"`
			StopPongs         *bool    `json:"stopPongs"`
			RefuseConnections *bool    `json:"refuseConnections"`
		}
		if err := decodeControl(r, &req); err != nil {
			ctlFail(w, err)
			return
		}
		resp := map[string]any{"ok": true}
		if req.StopPongs != nil {
			s.StopPongs(req.GatewayID, *req.StopPongs)
		}
		if req.RefuseConnections != nil {
			s.RefuseConnections(*req.RefuseConnections)
		}
		if req.Drop || req.Delay > 0 {
			f := req.Fault
			f.Delay = time.Duration(req.Delay)
			id, err := s.AddFault(f)
			if err != nil {
				ctlFail(w, err)
				return
			}
			resp["id"] = id
		} else if req.StopPongs == nil && req.RefuseConnections == nil {
			ctlFail(w, badRequest("", "a fault needs drop, delay, stopPongs or refuseConnections"))
			return
		}
		writeJSON(w, http.StatusOK, resp)
		return
	}
	type faultWire struct {
		Fault
		Delay Duration `json:"delay,omitempty"`
	}
	out := []faultWire{}
	for _, f := range s.Faults() {
		out = append(out, faultWire{Fault: f, Delay: Duration(f.Delay)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"faults": out, "refusingConnections": s.refuse.Load()})
}

func (s *Server) ctlWakes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"wakes": s.Wakes()})
}

// ctlClock reads the clock and, when it is manual, moves it.
func (s *Server) ctlClock(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		m := s.ManualClock()
		if m == nil {
			ctlFail(w, &RequestError{Status: http.StatusConflict, Message: "the clock is not manual; start relaysim with --manual-clock"})
			return
		}
		var req struct {
			Advance *Duration        `json:"advance"`
			Set     *json.RawMessage `json:"set"`
		}
		if err := decodeControl(r, &req); err != nil {
			ctlFail(w, err)
			return
		}
		switch {
		case req.Advance != nil:
			if *req.Advance < 0 {
				ctlFail(w, badRequest("advance", "must not be negative"))
				return
			}
			m.Advance(time.Duration(*req.Advance))
		case req.Set != nil:
			t, err := parseInstant(*req.Set)
			if err != nil {
				ctlFail(w, badRequest("set", "%v", err))
				return
			}
			m.Set(t)
		default:
			ctlFail(w, badRequest("", "give advance (a duration) or set (unix seconds or RFC 3339)"))
			return
		}
		s.note(JournalEntry{Kind: JournalControl, Detail: "clock moved to " + m.Now().UTC().Format(time.RFC3339Nano)})
	}
	now := s.clk.Now()
	writeJSON(w, http.StatusOK, map[string]any{
		"manual": s.ManualClock() != nil, "unix": now.Unix(), "unixNano": now.UnixNano(),
		"time": now.UTC().Format(time.RFC3339Nano),
	})
}

func parseInstant(raw json.RawMessage) (time.Time, error) {
	var n float64
	if json.Unmarshal(raw, &n) == nil {
		sec, frac := math.Modf(n)
		return time.Unix(int64(sec), int64(frac*1e9)), nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err != nil {
		return time.Time{}, fmt.Errorf("must be unix seconds or an RFC 3339 string")
	}
	return time.Parse(time.RFC3339Nano, str)
}

func (s *Server) ctlReset(w http.ResponseWriter, r *http.Request) {
	if err := s.Reset(); err != nil {
		ctlFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Server) ctlDeviations(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		var req struct {
			Deviations []Deviation `json:"deviations"`
		}
		if err := decodeControl(r, &req); err != nil {
			ctlFail(w, err)
			return
		}
		if err := s.SetDeviations(req.Deviations...); err != nil {
			ctlFail(w, badRequest("deviations", "%v", err))
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"active": s.Deviations(), "known": DeviationInfos()})
}

func (s *Server) ctlDescriptors(w http.ResponseWriter, r *http.Request) {
	out := map[string]contract.CapabilityDescriptor{}
	for _, p := range s.cfg.platforms {
		out[p] = s.cfg.presets[p].desc
	}
	writeJSON(w, http.StatusOK, map[string]any{"platforms": s.cfg.platforms, "descriptors": out})
}

// ctlUsage reports what the bounded structures hold (limits.go).
func (s *Server) ctlUsage(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Usage())
}
