package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/contract/testee"
	"github.com/relaykit/relaykit/internal/deviation"
)

// ControlPrefix is where the control API lives, apart from the contract's
// routes, so a gateway can never reach it by accident.
const ControlPrefix = "/_relaysim/"

// controlRoutes mounts the control API. Every route goes through
// controlGuard (control_guard.go): loopback Host and Origin checks, the
// control token, a JSON content type on bodies, and only the query
// parameters the route reads.
func (s *Server) controlRoutes(mux *http.ServeMux) {
	h := func(pattern string, fn http.HandlerFunc, query []string, methods ...string) {
		mux.HandleFunc(ControlPrefix+pattern, s.methods(s.controlGuard(fn, query), methods...))
	}
	get, post, del := http.MethodGet, http.MethodPost, http.MethodDelete
	h("health", s.ctlHealth, nil, get)
	h("gateways", s.ctlGateways, nil, get, post)
	h("gateways/{id}", s.ctlGateway, nil, get)
	h("gateways/{id}/revoke", s.ctlRevoke, nil, post)
	h("gateways/{id}/rotate", s.ctlRotate, nil, post)
	h("gateways/{id}/retire", s.ctlRetire, nil, post)
	h("enrollment-tokens", s.ctlEnrollmentToken, nil, post)
	h("inbound", s.ctlInbound, nil, post)
	h("interrupt", s.ctlInterrupt, nil, post)
	h("passthrough", s.ctlPassthrough, nil, post)
	h("press", s.ctlPress, nil, post)
	h("outbound", s.ctlOutbound, []string{"gatewayId", "since"}, get)
	h("interrupts", s.ctlInterrupts, []string{"gatewayId"}, get)
	h("sessions", s.ctlSessions, nil, get)
	h("sessions/{gatewayId}/close", s.ctlCloseSession, nil, post)
	h("buffers/{instance}", s.ctlBuffer, nil, get)
	h("policies/{instance}", s.ctlPolicies, nil, get)
	h("journal", s.ctlJournal, []string{"since", "kind", "wait"}, get)
	h("scripts", s.ctlScripts, nil, get, post, del)
	h("faults", s.ctlFaults, nil, get, post, del)
	h("wakes", s.ctlWakes, nil, get)
	h("clock", s.ctlClock, nil, get, post)
	h("reset", s.ctlReset, nil, post)
	h("deviations", s.ctlDeviations, nil, get, post)
	h("descriptors", s.ctlDescriptors, nil, get)
	h("captures", s.ctlCaptures, nil, get, post)
	h("captures/{sessionId}", s.ctlCapture, nil, get)
	h("usage", s.ctlUsage, nil, get)
	h("metrics", s.ctlMetrics, nil, get)
	// The console's routes (console.go, control_stream.go, control_media.go).
	h("journal/stream", s.ctlJournalStream, []string{"since", "kind"}, get)
	h("media", s.ctlMedia, nil, post)
	s.consoleRoutes(mux)
}

// ctlFail answers a control error; control calls are not journaled as
// contract HTTP traffic.
func ctlFail(w http.ResponseWriter, err error) {
	status, msg := requestStatus(err)
	writeJSON(w, status, contract.ErrorBody{Error: msg})
}

func (s *Server) ctlHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, HealthInfo{
		Health: testee.Health{
			Name: "relaysim", ContractVersion: contract.Version, Platforms: s.Platforms(),
			ManualClock: s.ManualClock() != nil, Features: s.Features(),
		},
		OK: true, Deviations: s.deviations().Names(),
	})
}

func (s *Server) ctlGateways(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusOK, GatewayList{Gateways: s.Gateways()})
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
	writeJSON(w, http.StatusOK, EnrolledGateway{Gateway: g, Env: env})
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
	if err := decodeControl(r, &struct{}{}); err != nil {
		ctlFail(w, err)
		return
	}
	if err := s.RevokeGateway(r.PathValue("id")); err != nil {
		ctlFail(w, err)
		return
	}
	g, _ := s.Gateway(r.PathValue("id"))
	writeJSON(w, http.StatusOK, g)
}

func (s *Server) ctlRotate(w http.ResponseWriter, r *http.Request) {
	var req testee.RotateRequest
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
	if err := decodeControl(r, &struct{}{}); err != nil {
		ctlFail(w, err)
		return
	}
	if err := s.RetireSecrets(r.PathValue("id")); err != nil {
		ctlFail(w, err)
		return
	}
	g, _ := s.Gateway(r.PathValue("id"))
	writeJSON(w, http.StatusOK, g)
}

func (s *Server) ctlEnrollmentToken(w http.ResponseWriter, r *http.Request) {
	var req EnrollmentTokenRequest
	if err := decodeControl(r, &req); err != nil {
		ctlFail(w, err)
		return
	}
	tok, err := s.CreateEnrollmentToken(EnrollmentTokenSpec{Tenant: req.Tenant, TTL: time.Duration(req.TTL), Platforms: req.Platforms})
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
	var req InterruptRequest
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
	var req testee.PassthroughRequest
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

func (s *Server) ctlPress(w http.ResponseWriter, r *http.Request) {
	var req PressRequest
	if err := decodeControl(r, &req); err != nil {
		ctlFail(w, err)
		return
	}
	d, err := s.PressPrompt(req)
	if err != nil {
		ctlFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) ctlOutbound(w http.ResponseWriter, r *http.Request) {
	recs := s.Outbound(r.URL.Query().Get("gatewayId"))
	if v := r.URL.Query().Get("since"); v != "" {
		// Only records after seq since, so a reader polls what is new.
		since, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			ctlFail(w, badRequest("since", "must be a record sequence number"))
			return
		}
		kept := recs[:0]
		for _, rec := range recs {
			if rec.Seq > since {
				kept = append(kept, rec)
			}
		}
		recs = kept
	}
	writeJSON(w, http.StatusOK, OutboundList{Outbound: recs})
}

func (s *Server) ctlInterrupts(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, InterruptList{Interrupts: s.Interrupts(r.URL.Query().Get("gatewayId"))})
}

func (s *Server) ctlSessions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, SessionList{Sessions: s.Sessions()})
}

func (s *Server) ctlCloseSession(w http.ResponseWriter, r *http.Request) {
	var req CloseSessionRequest
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
	writeJSON(w, http.StatusOK, ClosedSessions{Closed: n})
}

func (s *Server) ctlBuffer(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("instance")
	writeJSON(w, http.StatusOK, InstanceState{
		Instance: id, Flipped: s.Flipped(id), Draining: s.Draining(id),
		Entries: s.Buffer(id), Acks: s.Acks(id),
	})
}

func (s *Server) ctlPolicies(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("instance")
	writeJSON(w, http.StatusOK, PolicyList{Instance: id, Policies: s.Policies(id)})
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
	if kind != "" && !knownJournalKind(kind) {
		ctlFail(w, badRequest("kind", "unknown journal kind %q (known: %s)", kind, journalKindList()))
		return
	}
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
	writeJSON(w, http.StatusOK, JournalPage{Entries: entries, Last: s.JournalSeq()})
}

func (s *Server) ctlScripts(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodDelete:
		s.ClearScripts()
		writeJSON(w, http.StatusOK, Done{OK: true})
		return
	case http.MethodPost:
		// One script or a list of them.
		var list []ScriptRequest
		if err := decodeControlOneOrMany(r, &list); err != nil {
			ctlFail(w, err)
			return
		}
		ids := []string{}
		for _, sr := range list {
			id, err := s.Script(sr.ResultScript())
			if err != nil {
				ctlFail(w, err)
				return
			}
			ids = append(ids, id)
		}
		writeJSON(w, http.StatusOK, ScriptsAdded{IDs: ids})
		return
	}
	out := []ScriptState{}
	for _, sc := range s.Scripts() {
		out = append(out, ScriptState{ResultScript: sc, Delay: Duration(sc.Delay)})
	}
	writeJSON(w, http.StatusOK, ScriptList{Scripts: out})
}

func (s *Server) ctlFaults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodDelete:
		s.ClearFaults()
		writeJSON(w, http.StatusOK, Done{OK: true})
		return
	case http.MethodPost:
		var req FaultRequest
		if err := decodeControl(r, &req); err != nil {
			ctlFail(w, err)
			return
		}
		resp, err := s.applyFault(req)
		if err != nil {
			ctlFail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
		return
	}
	out := []FaultState{}
	for _, f := range s.Faults() {
		out = append(out, FaultState{Fault: f, Delay: Duration(f.Delay)})
	}
	writeJSON(w, http.StatusOK, FaultList{Faults: out, RefusingConnections: s.refuse.Load()})
}

// applyFault acts on the body of POST /faults (also a seed's faults).
func (s *Server) applyFault(req FaultRequest) (FaultAdded, error) {
	frame := req.Drop || req.Delay != 0
	if !frame && req.StopPongs == nil && req.RefuseConnections == nil {
		return FaultAdded{}, badRequest("", "a fault needs drop, delay, stopPongs or refuseConnections")
	}
	resp := FaultAdded{OK: true}
	if frame {
		// Validate the frame fault before flipping any switch, so a
		// refused request changes nothing.
		id, err := s.AddFault(req.Fault())
		if err != nil {
			return FaultAdded{}, err
		}
		resp.ID = id
	}
	if req.StopPongs != nil {
		s.StopPongs(req.GatewayID, *req.StopPongs)
	}
	if req.RefuseConnections != nil {
		s.RefuseConnections(*req.RefuseConnections)
	}
	return resp, nil
}

func (s *Server) ctlWakes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, WakeList{Wakes: s.Wakes()})
}

// ctlClock reads the clock and, when it is manual, moves it.
func (s *Server) ctlClock(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		var req ClockRequest
		if err := decodeControl(r, &req); err != nil {
			ctlFail(w, err)
			return
		}
		m := s.ManualClock()
		if m == nil {
			ctlFail(w, &RequestError{Status: http.StatusConflict, Message: "the clock is not manual; start relaysim with --manual-clock"})
			return
		}
		switch {
		case req.Advance != nil && req.Set != nil:
			ctlFail(w, badRequest("", "give advance or set, not both"))
			return
		case req.Advance != nil:
			if *req.Advance < 0 {
				ctlFail(w, badRequest("advance", "must not be negative"))
				return
			}
			m.Advance(time.Duration(*req.Advance))
		case req.Set != nil:
			t, err := parseInstant(req.Set)
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
	writeJSON(w, http.StatusOK, ClockState{
		Clock:  testee.Clock{UnixNano: now.UnixNano()},
		Manual: s.ManualClock() != nil, Unix: now.Unix(), Time: now.UTC(),
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
	if err := decodeControl(r, &struct{}{}); err != nil {
		ctlFail(w, err)
		return
	}
	if err := s.Reset(); err != nil {
		ctlFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, Done{OK: true})
}

func (s *Server) ctlDeviations(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		var req DeviationsRequest
		if err := decodeControl(r, &req); err != nil {
			ctlFail(w, err)
			return
		}
		set, err := deviation.Parse(strings.Join(req.Deviations, ","), deviation.Simulator)
		if err == nil {
			err = s.setDeviations(set)
		}
		if err != nil {
			ctlFail(w, badRequest("deviations", "%v", err))
			return
		}
	}
	writeJSON(w, http.StatusOK, DeviationsState{Active: s.deviations().Names(), Known: knownDeviations()})
}

func (s *Server) ctlDescriptors(w http.ResponseWriter, r *http.Request) {
	out := map[string]contract.CapabilityDescriptor{}
	for _, p := range s.cfg.platforms {
		out[p] = s.cfg.presets[p].desc
	}
	writeJSON(w, http.StatusOK, DescriptorSet{Platforms: s.cfg.platforms, Descriptors: out})
}

// ctlUsage reports what the bounded structures hold (limits.go).
func (s *Server) ctlUsage(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Usage())
}
