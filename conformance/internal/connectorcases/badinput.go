package connectorcases

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	h "github.com/relaykit/relaykit/conformance/internal/harness"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/badinput"
)

// Connector cases generated from the bad-input catalogue
// (fixtures/bad/catalogue.json): one case per entry, named
// "<requirement>/catalogue-<entry id>", run through internal/badinput
// against the connector under test. The catalogue states the input, where
// it is sent and the one reaction the contract requires; this file only
// builds the runner's target from the suite's session and control helpers
// and turns the outcome into a verdict.

// Waits of the catalogue cases beyond the suite's usual bounds.
const (
	// catalogueFloodForgive is how far the suite moves a controllable
	// clock after the bad-token flood, so the connector forgives it before
	// later cases (relaysim needs AuthFailBurst × AuthFailRefill, 16 s).
	catalogueFloodForgive = time.Minute
	// catalogueHelloGrace is the 30 s grace of HS-014, plus a margin.
	catalogueHelloGrace = 31 * time.Second
)

var _ = registerCatalogue()

func registerCatalogue() bool {
	es, err := badinput.Load()
	if err != nil {
		h.DefErrs = append(h.DefErrs, fmt.Errorf("bad-input catalogue: %w", err))
		return false
	}
	for _, e := range es {
		c := catalogueCase(e)
		h.CatalogueEntries[c.ID] = e
		h.ConnectorCase(c, func(s *h.S) { runCatalogueEntry(s, e) })
	}
	return true
}

// catalogueReq is the requirement a catalogue entry's case is labelled
// with: the one that governs the connector's reaction, as the catalogue
// names it.
func catalogueReq(id string) string { return id }

// catalogueCaseID names the case of entry id: lower case, "_" as "-".
func catalogueCaseID(req, id string) string {
	return req + "/catalogue-" + strings.ToLower(strings.ReplaceAll(id, "_", "-"))
}

func catalogueCase(e badinput.Entry) h.Case {
	req := catalogueReq(e.Requirement)
	c := h.Case{
		ID:    catalogueCaseID(req, e.ID),
		Reqs:  []string{req},
		Text:  strings.TrimSuffix(strings.TrimSpace(e.Description), "."),
		Needs: catalogueNeeds(e),
		Op:    catalogueOp(e),
	}
	switch re := e.Reaction; {
	case re.Close != nil && re.Close.Code == contract.ClosePolicyViolation:
		// Without a controllable clock the connector may wait its 30 s;
		// with one, the case moves it.
		c.Timeout = 45 * time.Second
		c.MovesClock = true
	case re.Throttle != nil:
		c.Timeout = time.Minute
		c.Last = true
	}
	if e.Where == badinput.WhereHTTP {
		c.RouteFeature = h.RouteFeature(e.Input.Path)
	}
	if t := e.Input.Token; (t != nil && t.Kind != "valid") || e.Input.Authorization != "" {
		c.Refuses = true
	}
	return c
}

// catalogueNeedsOther reports whether the entry needs a gateway of another
// tenant: tokens signed with its secret, its media, its buffer, or a
// connection after a flood.
func catalogueNeedsOther(e badinput.Entry) bool {
	if e.Reaction.Throttle != nil {
		return true
	}
	if t := e.Input.Token; t != nil && t.Kind == "other_secret" {
		return true
	}
	raw, _ := json.Marshal(e.Input)
	// The runner uploads media as both tenants for any media placeholder.
	return bytes.Contains(raw, []byte("media_id}")) || bytes.Contains(raw, []byte("{foreign_buffer_id}"))
}

// catalogueNeeds is what an entry needs of the target beyond a gateway's
// credentials: a second gateway, a revoked one, buffered injection and
// buffer inspection, or an unfronted platform all come from the control
// API; the bad-token flood also needs the connector's clock.
func catalogueNeeds(e badinput.Entry) h.Need {
	var n h.Need
	if catalogueNeedsOther(e) || h.HasNeed(e, "revoked") || h.HasNeed(e, "buffer") || h.HasNeed(e, "unfronted") {
		n |= h.NeedControl
	}
	if h.HasNeed(e, "unfronted") {
		n |= h.NeedTwoPlatforms
	}
	if e.Reaction.Throttle != nil {
		// The flood leaves the connector throttling the suite's address;
		// only moving its clock makes it forgive in time for later cases
		// (and later runs).
		n |= h.NeedClock
	}
	return n
}

// catalogueOp is the op an entry's outbound names when the connector must
// advertise it for the entry to apply (every op but send).
func catalogueOp(e badinput.Entry) string {
	for _, m := range e.Input.Messages {
		var f struct {
			Type   string `json:"type"`
			Action struct {
				Op any `json:"op"`
			} `json:"action"`
		}
		if json.Unmarshal([]byte(strings.TrimSpace(m)), &f) != nil || f.Type != contract.TypeOutbound {
			continue
		}
		if op, ok := f.Action.Op.(string); ok && op != contract.OpSend && contract.IsKnownOp(op) {
			return op
		}
	}
	return ""
}

// catalogueExpected says in words what the entry requires.
func catalogueExpected(e badinput.Entry) string {
	re := e.Reaction
	switch {
	case re.Close != nil:
		if re.Close.Reason != "" {
			return fmt.Sprintf("close %d %q", re.Close.Code, re.Close.Reason)
		}
		return fmt.Sprintf("close %d", re.Close.Code)
	case re.HTTP != nil:
		return badinput.StatusWords(re.HTTP) + " with a JSON error body when it is an error"
	case re.Ignored:
		want := "no answer and no close, and the socket still usable"
		if re.ForeignUnaffected {
			want += ", with the other tenant's buffer entry still pending"
		}
		return want
	case re.Reply != nil:
		return replyWords(*re.Reply) + ", and the socket still usable"
	case re.Deferred != nil:
		return "nothing until the frame's newline arrives, then " + replyWords(re.Deferred.Reply)
	case re.Throttle != nil:
		return fmt.Sprintf("each bad upgrade closed 4401 or %d %q, the flood shed with the latter, and good tokens of both tenants still connecting",
			re.Throttle.Code, re.Throttle.Reason)
	}
	return "the reaction the catalogue states"
}

func replyWords(r badinput.Reply) string {
	w := "a " + r.Type
	var details []string
	if r.Success != nil {
		details = append(details, fmt.Sprintf("success %v", *r.Success))
	}
	if r.Code != "" {
		details = append(details, "code "+r.Code)
	}
	if r.ErrorContains != "" {
		details = append(details, fmt.Sprintf("an error naming %q", r.ErrorContains))
	}
	if len(details) > 0 {
		w += " with " + strings.Join(details, ", ")
	}
	return w
}

// withChat returns e with the catalogue's placeholder chat "badinput"
// replaced by chat in its outbound frames, for connectors that only let the
// gateway post to known chats. The malformation under test never lies in
// the chat id.
func withChat(e badinput.Entry, chat string) badinput.Entry {
	from := []byte(`"chat_id":"badinput"`)
	to, _ := json.Marshal(chat)
	to = append([]byte(`"chat_id":`), to...)
	msgs := make([]string, len(e.Input.Messages))
	for i, m := range e.Input.Messages {
		msgs[i] = string(bytes.ReplaceAll([]byte(m), from, to))
	}
	e.Input.Messages = msgs
	if e.Input.Base64 != "" {
		if b, err := base64.StdEncoding.DecodeString(e.Input.Base64); err == nil {
			e.Input.Base64 = base64.StdEncoding.EncodeToString(bytes.ReplaceAll(b, from, to))
		}
	}
	return e
}

// catalogueTarget builds the runner's target for one entry and remembers
// the control API errors its hooks hit, so a failure caused by the control
// API is not reported as non-conformance.
type catalogueTarget struct {
	badinput.Target
	mu     sync.Mutex
	ctlErr error
}

func (ct *catalogueTarget) controlFailed(err error) error {
	ct.mu.Lock()
	if ct.ctlErr == nil {
		ct.ctlErr = err
	}
	ct.mu.Unlock()
	return err
}

func (ct *catalogueTarget) controlErr() error {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	return ct.ctlErr
}

// routeMissing reports whether err is the control API's answer for a
// route it does not have.
func routeMissing(err error) bool {
	var ce *h.ControlError
	return errors.As(err, &ce) && (ce.Status == http.StatusNotFound || ce.Status == http.StatusMethodNotAllowed || ce.Status == http.StatusNotImplemented)
}

func runCatalogueEntry(s *h.S, e badinput.Entry) {
	t := s.Run.Conn
	if e.Where == badinput.WhereHTTP {
		if f := h.RouteFeature(e.Input.Path); f != "" && !s.FeatureInForce(f) {
			s.NotApplicable("feature %s is not in force (%s)", f, s.Run.FeatureSource(f))
		}
	}
	if h.HasNeed(e, "identity") && t.Opts.IdentityToken == "" {
		s.Untestable("needs an identity bearer the connector accepts (--identity-token)")
	}
	if op := s.C.Op; op != "" {
		// The entry's op must be advertised where it is sent: front that
		// platform first.
		usePlatformFor(s, op)
	}
	// Every send goes to the configured chat, the follow-ups included:
	// a connector may answer sends to chats it does not know with an
	// error, which would otherwise be filed under every entry.
	e = withChat(e, s.Chat())
	if e.Where == badinput.WhereFrame || e.Where == badinput.WhereBinary {
		s.Rely(h.BasicHandshake)
		if e.Setup != badinput.SetupNone {
			s.Rely(h.BasicSend)
		}
	}

	cr := s.Creds()
	now := s.Now()
	offset := time.Until(now)
	ct := &catalogueTarget{Target: badinput.Target{
		RelayURL:      t.Dial,
		BaseURL:       t.Base,
		Platform:      s.Primary().Platform,
		Chat:          s.Chat(),
		Gateway:       badinput.Creds{GatewayID: cr.GatewayID, Secret: cr.Secret},
		IdentityToken: t.Opts.IdentityToken,
		Now:           func() time.Time { return time.Now().Add(offset) },
		Timeout:       s.Within(1),
		Quiet:         s.Quiet(),
	}}
	s.Tr.Redact(t.Opts.IdentityToken)
	instances := map[string]string{cr.GatewayID: cr.InstanceID}
	if t.Ctl != nil {
		catalogueControl(s, e, ct, cr, instances)
	}

	re := e.Reaction
	if re.Close != nil && re.Close.Code == contract.ClosePolicyViolation && t.Ctl != nil && t.Info.Clock {
		// HS-014 allows the connector 30 s before the close; move its clock
		// rather than wait.
		stop := advanceWhileRunning(s, catalogueHelloGrace)
		defer stop()
	}

	s.Step("catalogue entry %s (%s)", e.ID, e.Where)
	in, _ := json.Marshal(e.Input)
	s.Logf("input: %s", h.Truncate(string(in), 400))
	s.Logf("required: %s", catalogueExpected(e))
	o := badinput.Run(s.Ctx, ct.Target, []badinput.Entry{e})[0]
	s.Logf("outcome: %s", o)

	if re.Throttle != nil {
		// Even when the flood used up the case's time: later cases need it.
		s.Step("advance the connector's clock by %s so it forgives the flood", catalogueFloodForgive)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := t.Ctl.Advance(ctx, catalogueFloodForgive)
		cancel()
		if err != nil {
			s.Harness("advance the clock: %v", err)
		}
	}

	switch o.Result {
	case badinput.Pass:
	case badinput.Skip:
		s.Untestable("%s", o.Detail)
	default:
		if err := ct.controlErr(); err != nil {
			if routeMissing(err) {
				s.Untestable("the control API lacks a route the entry needs: %v", err)
			}
			s.Harness("the control API failed during the entry: %v", err)
		}
		if o.Unshed {
			s.Observe("the connector shed none of the flood's bad upgrades")
			s.Untestable("the connector did not shed a flood of bad upgrades (every one closed 4401), so how it closes a shed connection cannot be observed: %s", o.Detail)
		}
		switch {
		case o.Breaks != "":
			// Another requirement broke on the way (a setup handshake
			// without its descriptor, a frame before a close): filed
			// under it, and the case is blocked unless it proves it.
			s.Failf(o.Breaks, "the entry's "+o.Stage+" to work as the contract requires", "%s", o.Detail)
		case o.Stage == badinput.StageSetup:
			s.Harness("the entry's setup failed: %s", o.Detail)
		}
		s.Failf(s.C.Reqs[0], catalogueExpected(e), "%s", o.Detail)
	}
}

// catalogueControl fills in what only the control API provides: a gateway
// of another tenant, a revoked gateway, an unfronted platform, and event
// buffering and inspection.
func catalogueControl(s *h.S, e badinput.Entry, ct *catalogueTarget, cr h.GWCreds, instances map[string]string) {
	t := s.Run.Conn
	plat := ct.Platform
	enroll := func(label string, spec h.EnrollSpec) h.GWCreds {
		spec.GatewayID = "conform-" + label + "-" + h.RandHex(4)
		if len(spec.Platforms) == 0 {
			spec.Platforms = []string{plat}
		}
		c, err := t.Ctl.Enroll(s.Ctx, spec)
		if err != nil {
			s.Harness("enroll a %s gateway: %v", label, err)
		}
		s.Tr.Redact(c.Secret)
		instances[c.GatewayID] = c.InstanceID
		return c
	}
	if h.HasNeed(e, "unfronted") {
		fronted := map[string]bool{}
		for _, id := range cr.Identities {
			fronted[id.Platform] = true
		}
		for _, p := range t.Info.Platforms {
			if !fronted[p] {
				ct.UnfrontedPlatform = p
				break
			}
		}
		if ct.UnfrontedPlatform == "" {
			// The case's gateway fronts every served platform: use one
			// that fronts only the first.
			g := enroll("catalogue-one", h.EnrollSpec{})
			ct.Gateway = badinput.Creds{GatewayID: g.GatewayID, Secret: g.Secret}
			for _, p := range t.Info.Platforms {
				if p != plat {
					ct.UnfrontedPlatform = p
					break
				}
			}
		}
		s.Logf("unfronted platform %s", ct.UnfrontedPlatform)
	}
	if catalogueNeedsOther(e) {
		o := enroll("catalogue-other", h.EnrollSpec{Tenant: "conform-other-" + h.RandHex(4)})
		ct.Other = badinput.Creds{GatewayID: o.GatewayID, Secret: o.Secret}
		s.Logf("gateway %s of tenant %s", o.GatewayID, o.Tenant)
	}
	if h.HasNeed(e, "revoked") {
		r := enroll("catalogue-revoked", h.EnrollSpec{})
		if err := t.Ctl.Revoke(s.Ctx, r.GatewayID); err != nil {
			if routeMissing(err) {
				s.Untestable("the control API cannot revoke a gateway: %v", err)
			}
			s.Harness("revoke %s: %v", r.GatewayID, err)
		}
		ct.Revoked = &badinput.Creds{GatewayID: r.GatewayID, Secret: r.Secret}
		s.Logf("revoked gateway %s", r.GatewayID)
	}
	if h.HasNeed(e, "buffer") {
		inst := instances[ct.Gateway.GatewayID]
		if inst == "" {
			s.Untestable("the control API does not report the gateway's instance id, so its buffer cannot be inspected")
		}
		if _, err := t.Ctl.Buffered(s.Ctx, inst); err != nil {
			if routeMissing(err) {
				s.Untestable("the control API cannot list a gateway's buffer (GET /buffers/{instanceId}): %v", err)
			}
			s.Harness("list the buffer of %s: %v", inst, err)
		}
		ct.InjectBuffered = func(ctx context.Context, gatewayID string) (string, error) {
			deadline := time.Now().Add(s.Within(1))
			for {
				m := h.UserMessage{Platform: plat, ChatID: "conform-chat-" + h.RandHex(4), ChatType: "dm",
					UserID: "conform-user", Text: "catalogue", MessageID: "m-" + h.RandHex(6)}
				d, err := t.Ctl.InjectDelivery(ctx, gatewayID, m)
				switch {
				case err != nil:
					return "", ct.controlFailed(err)
				case d.Delivery == "buffered" && d.BufferID == "":
					return "", ct.controlFailed(errors.New("POST /inbound answered a buffered delivery without its bufferId"))
				case d.Delivery == "buffered":
					return d.BufferID, nil
				case d.Delivery != "live" || time.Now().After(deadline):
					return "", fmt.Errorf("the event for %s was delivered %q, not buffered", gatewayID, d.Delivery)
				}
				// A socket of an earlier step is still going away.
				select {
				case <-ctx.Done():
					return "", ctx.Err()
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
		ct.Pending = func(ctx context.Context, gatewayID, bufferID string) (bool, error) {
			ids, err := t.Ctl.Buffered(ctx, instances[gatewayID])
			if err != nil {
				return false, ct.controlFailed(err)
			}
			for _, id := range ids {
				if id == bufferID {
					return true, nil
				}
			}
			return false, nil
		}
	}
}

// advanceWhileRunning moves the connector's clock by d shortly after the
// case's input went out, and again every so often until stop is called.
func advanceWhileRunning(s *h.S, d time.Duration) (stop func()) {
	ctl := s.Run.Conn.Ctl
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		every := max(s.Quiet(), 100*time.Millisecond)
		for i := 0; i < 3; i++ {
			select {
			case <-done:
				return
			case <-s.Ctx.Done():
				return
			case <-time.After(every):
			}
			if err := ctl.Advance(s.Ctx, d); err == nil {
				s.Logf("advanced the connector's clock by %s", d)
			}
			every = s.Within(0.5)
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}
