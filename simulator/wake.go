package simulator

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/relaykit/relaykit/internal/deviation"
)

// WakeRecord is one wake request, or one that the cooldown suppressed.
type WakeRecord struct {
	Instance string `json:"instance"`
	// URL is the wake URL with any query and user info removed, since
	// those may carry a capability.
	URL        string    `json:"url"`
	At         time.Time `json:"at"`
	Status     int       `json:"status,omitempty"`
	Error      string    `json:"error,omitempty"`
	Suppressed bool      `json:"suppressed,omitempty"`
}

// maybeWakeLocked pokes the wake URL of a flipped instance that just
// buffered an event, at most once per cooldown (WAKE-002, WAKE-003).
// in.mu must be held.
func (s *Server) maybeWakeLocked(in *instance, gw *GatewayRecord) {
	if s.deviations().Has(deviation.SimNoWake) {
		return
	}
	now := s.clk.Now()
	shown := redactURL(gw.WakeURL)
	if in.woke && now.Sub(in.lastWake) < s.cfg.WakeCooldown {
		s.note(JournalEntry{Kind: JournalWake, GatewayID: gw.GatewayID, Instance: in.id, Detail: "wake suppressed by cooldown: " + shown})
		s.hist.addWake(WakeRecord{Instance: in.id, URL: shown, At: now, Suppressed: true})
		return
	}
	in.woke, in.lastWake = true, now
	if !s.track() {
		return
	}
	target := gw.WakeURL
	gatewayID := gw.GatewayID
	go func() {
		defer s.untrack()
		s.sendWake(in.id, gatewayID, target, shown, now)
	}()
}

// sendWake sends the unsigned, body-less GET; every failure is journaled
// and otherwise ignored (WAKE-004).
func (s *Server) sendWake(instance, gatewayID, target, shown string, at time.Time) {
	rec := WakeRecord{Instance: instance, URL: shown, At: at}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.WakeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err == nil {
		req.Header.Set("User-Agent", "relaysim/1 (wake)")
		var resp *http.Response
		if resp, err = s.cfg.WakeClient.Do(req); err == nil {
			rec.Status = resp.StatusCode
			resp.Body.Close()
		}
	}
	detail := "wake sent: " + shown
	if err != nil {
		rec.Error = err.Error()
		if u, perr := url.Parse(target); perr == nil {
			// url errors quote the full URL; keep the capability out.
			rec.Error = redactErr(rec.Error, target, redactURL(u.String()))
		}
		detail = "wake failed (swallowed): " + rec.Error
	}
	s.hist.addWake(rec)
	s.note(JournalEntry{Kind: JournalWake, GatewayID: gatewayID, Instance: instance, Status: rec.Status, Detail: detail})
	s.log.Info("relaysim: wake", "instance", instance, "status", rec.Status, "error", rec.Error)
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable wake URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

func redactErr(msg, secret, shown string) string {
	if secret == "" {
		return msg
	}
	return strings.ReplaceAll(msg, secret, shown)
}

func (h *history) addWake(r WakeRecord) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	h.wakes.add(r.Instance, seqWake{h.seq, r})
}

// Wakes returns the wake requests sent or suppressed, oldest first; the
// newest Options.HistorySize per instance are kept.
func (s *Server) Wakes() []WakeRecord {
	h := &s.hist
	h.mu.Lock()
	var all []seqWake
	h.wakes.each("", func(x seqWake) { all = append(all, x) })
	h.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].seq < all[j].seq })
	out := make([]WakeRecord, len(all))
	for i, x := range all {
		out[i] = x.r
	}
	return out
}
