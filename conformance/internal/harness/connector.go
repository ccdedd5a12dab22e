package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// ConnectorOptions configure a run of the connector suite, in which the
// suite plays the gateway against a connector under test.
type ConnectorOptions struct {
	Options

	// URL is the connector's base URL (https://c.example) or dial URL
	// (wss://c.example/relay). Required.
	URL string

	// GatewayID and Secret are the credentials of a gateway enrolled on
	// the connector. Required unless Control is set, in which case the
	// suite enrolls a fresh gateway for every case.
	GatewayID string
	Secret    string
	// Platforms are the identities the connector fronts for GatewayID, in
	// hello order, as "platform" or "platform:botId". Required with
	// GatewayID; with Control the suite picks its own.
	Platforms []string
	// ChatID is a chat the gateway may post to, for the cases that need a
	// successful send. With Control the suite learns one by injecting an
	// inbound event. Default "conformance-chat".
	ChatID string

	// Control is the base URL of the connector's testee control API, e.g.
	// http://127.0.0.1:8080/_relaysim for relaysim. Cases that need it are
	// reported untestable when it is empty.
	Control string
	// ControlToken authenticates to the control API, when it requires it.
	ControlToken string

	// IdentityToken is an identity bearer the connector accepts at
	// /relay/provision and /relay/enroll, for the cases that need a
	// successful call; IdentityTenant is its tenant ("" for the default).
	IdentityToken  string
	IdentityTenant string
}

// Identity is one (platform, bot id) pair the suite's gateway fronts.
type Identity struct {
	Platform string
	BotID    string
}

func parseIdentity(s string) Identity {
	p, b, _ := strings.Cut(s, ":")
	return Identity{Platform: strings.TrimSpace(p), BotID: strings.TrimSpace(b)}
}

// GWCreds are the credentials the suite's gateway uses in one case.
type GWCreds struct {
	GatewayID  string
	Secret     string
	Identities []Identity
	InstanceID string
	Tenant     string
	Fresh      bool // enrolled for this case through the control API
}

// connectorTarget is the connector under test.
type connectorTarget struct {
	Opts ConnectorOptions
	Dial string // ws(s)://.../relay
	Base string // http(s)://...
	Ctl  *controlClient
	Info controlInfo
	// Probe holds the descriptor of each fronted platform, in order, from
	// one probe handshake per platform before the run.
	Probe []contract.CapabilityDescriptor

	// released is when the last case of a credentials-only run ended,
	// its sockets closed; see settle.
	releasedMu sync.Mutex
	released   time.Time
}

// sharedGatewaySettle is how long a credentials-only run leaves between one
// case's end and the next case's start. Every case uses the one configured
// gateway, and a connector may still hold the socket a case just closed
// for a moment after the close handshake, refusing the next case's socket
// as a duplicate (RC-002 policy reject). Connect reconnects after such a
// refusal; cases that dial on their own rely on this pause.
const sharedGatewaySettle = 50 * time.Millisecond

// settle waits, in a credentials-only run, until sharedGatewaySettle has
// passed since the previous case ended, and arranges for this case's end
// to be recorded after all its other cleanups.
func (t *connectorTarget) settle(s *S) {
	if t.Ctl != nil {
		return
	}
	t.releasedMu.Lock()
	wait := time.Until(t.released.Add(sharedGatewaySettle))
	t.releasedMu.Unlock()
	if wait > 0 {
		select {
		case <-time.After(wait):
		case <-s.Ctx.Done():
		}
	}
	// Registered first, so it runs last.
	s.Cleanup(func() {
		t.releasedMu.Lock()
		t.released = time.Now()
		t.releasedMu.Unlock()
	})
}

// connCase is the connector-side state of one case.
type connCase struct {
	Creds GWCreds
}

func newConnectorTarget(o ConnectorOptions) (*connectorTarget, error) {
	if strings.TrimSpace(o.URL) == "" {
		return nil, errors.New("connector URL is required")
	}
	t := &connectorTarget{Opts: o, Dial: contract.DialURL(o.URL), Base: contract.BaseURL(o.URL)}
	if u, err := url.Parse(t.Dial); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
		return nil, fmt.Errorf("connector URL %q does not give a ws:// or wss:// dial URL", o.URL)
	}
	if o.Control == "" && o.GatewayID == "" {
		// No credentials: look for the testee control API at relaysim's
		// prefix, so "conform connector --url <relaysim>" just works.
		guess := strings.TrimRight(t.Base, "/") + "/_relaysim"
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err := newControlClient(guess, o.ControlToken).info(ctx)
		cancel()
		var ce *ControlError
		switch {
		case err == nil:
			o.Control = guess
			t.Opts.Control = guess
		case !errors.As(err, &ce):
			// Not an HTTP answer at all: nothing listens there, or the
			// name does not resolve. Say so rather than ask for
			// credentials that would not help.
			return nil, &unreachableError{url: t.Base, err: err}
		}
	}
	if o.Control != "" {
		t.Ctl = newControlClient(o.Control, o.ControlToken)
	} else {
		if o.GatewayID == "" || o.Secret == "" {
			return nil, errors.New("give --gateway-id and --secret of an enrolled gateway, or --control with the testee control URL")
		}
		if len(o.Platforms) == 0 {
			return nil, errors.New("give the platforms fronted for the gateway (--platform)")
		}
	}
	return t, nil
}

// unreachableError is a connector that does not answer at all.
type unreachableError struct {
	url string
	err error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("cannot reach the connector at %s: %v", e.url, rootCause(e.err))
}

func (e *unreachableError) Unwrap() error { return e.err }

// rootCause strips the layers net/http and net put around an error, to
// the one that says what happened ("connection refused").
func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// prepare checks the control API and probes the connector's descriptors,
// which decide the optional features in force.
func (t *connectorTarget) prepare(ctx context.Context, rs *RunState) error {
	if t.Ctl != nil {
		info, err := t.Ctl.info(ctx)
		if err != nil {
			return fmt.Errorf("control API at %s: %w", t.Opts.Control, err)
		}
		t.Info = info
	}
	var plats []Identity
	if t.Ctl != nil {
		for _, p := range t.Info.Platforms {
			plats = append(plats, Identity{Platform: p})
		}
	} else {
		for _, p := range t.Opts.Platforms {
			plats = append(plats, parseIdentity(p))
		}
	}
	var probeErrs []error
	for _, id := range plats {
		spec := &EnrollSpec{Platforms: []string{id.Platform}}
		creds, err := t.CredsFor(ctx, "probe", spec)
		if err != nil {
			return err
		}
		creds.Identities = []Identity{id}
		descs, err := probeDescriptors(ctx, t.Dial, creds)
		if err != nil || len(descs) == 0 {
			probeErrs = append(probeErrs, fmt.Errorf("probe handshake for %s: %v", id.Platform, err))
			continue
		}
		t.Probe = append(t.Probe, descs[0])
	}
	ops := map[string]bool{}
	for _, d := range t.Probe {
		for _, op := range d.Ops() {
			ops[op] = true
		}
	}
	for _, r := range contract.Requirements() {
		f := r.Feature
		if f == "core" {
			continue
		}
		if _, done := rs.features[f]; done {
			continue
		}
		switch {
		case contract.IsKnownOp(f):
			src := "advertised"
			if !ops[f] {
				src = "not advertised"
			}
			rs.setFeature(f, ops[f], src)
		case t.Info.hasFeature(f):
			rs.setFeature(f, true, "declared")
		default:
			rs.setFeature(f, false, "not declared")
		}
	}
	t.probeUndeclaredRoutes(ctx, rs)
	return errors.Join(probeErrs...)
}

// probeUndeclaredRoutes asks each contract HTTP route of an optional
// feature the connector does not declare for what it answers a request
// without credentials. A 2xx whose body is not JSON (a catch-all web
// server answering every path) would be read by a gateway as a success it
// cannot parse: the run notes it as a warning. Nothing is judged, since a
// connector need not serve an undeclared feature at all.
func (t *connectorTarget) probeUndeclaredRoutes(ctx context.Context, rs *RunState) {
	for _, r := range []struct{ feature, path string }{
		{"policy", contract.PathPolicy}, {"media", contract.PathMedia},
		{"provision", contract.PathProvision}, {"enroll", contract.PathEnroll},
	} {
		if f, ok := rs.features[r.feature]; ok && f.InForce {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		req, err := http.NewRequestWithContext(rctx, http.MethodPost, strings.TrimRight(t.Base, "/")+r.path, strings.NewReader("{}"))
		if err != nil {
			cancel()
			continue
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		cancel()
		if resp.StatusCode/100 == 2 && !json.Valid(body) {
			rs.Notes = append(rs.Notes, fmt.Sprintf("warning: feature %s is not declared, but POST %s without credentials answered %d with a body that is not JSON (%s): a gateway that calls it reads a success it cannot parse",
				r.feature, r.path, resp.StatusCode, Truncate(string(body), 80)))
		}
	}
}

// CredsFor returns credentials for one case: a freshly enrolled gateway
// when the control API is available, else the configured one.
func (t *connectorTarget) CredsFor(ctx context.Context, label string, spec *EnrollSpec) (GWCreds, error) {
	if t.Ctl == nil {
		c := GWCreds{GatewayID: t.Opts.GatewayID, Secret: t.Opts.Secret}
		for _, p := range t.Opts.Platforms {
			c.Identities = append(c.Identities, parseIdentity(p))
		}
		return c, nil
	}
	s := EnrollSpec{}
	if spec != nil {
		s = *spec
	}
	if s.GatewayID == "" {
		s.GatewayID = "conform-" + label + "-" + RandHex(4)
	}
	if len(s.Platforms) == 0 {
		s.Platforms = t.Info.FirstPlatforms(2)
	}
	return t.Ctl.Enroll(ctx, s)
}

func RandHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// lacks says why the target cannot meet need n, or "".
func (t *connectorTarget) lacks(n Need) string {
	switch n {
	case NeedControl:
		if t.Ctl == nil {
			return "needs the testee control API (--control)"
		}
	case NeedClock:
		if t.Ctl == nil {
			return "needs the testee control API (--control) with a controllable clock"
		}
		if !t.Info.Clock {
			return "the testee control API cannot move the connector's clock"
		}
	case NeedWake:
		if t.Ctl == nil {
			return "needs the testee control API (--control) to register a wake URL"
		}
	case NeedTwoPlatforms:
		if t.Ctl != nil {
			if len(t.Info.Platforms) < 2 {
				return "the connector serves fewer than two platforms"
			}
		} else if len(t.Opts.Platforms) < 2 {
			return "needs two fronted platforms (--platform twice)"
		}
	case NeedEcho, NeedTimers, NeedSignal:
		return "a gateway-suite need"
	}
	return ""
}

// setup prepares a case: fresh credentials when possible.
func (t *connectorTarget) setup(s *S) {
	t.settle(s)
	if s.C.Needs&NeedWake != 0 {
		// The wake cases enroll their own gateway with a wake URL.
		s.Cc = &connCase{}
		return
	}
	creds, err := t.CredsFor(s.Ctx, Slug(s.C.ID), nil)
	if err != nil {
		s.Harness("enroll a gateway for the case: %v", err)
	}
	s.Tr.Redact(creds.Secret)
	s.Cc = &connCase{Creds: creds}
	s.Logf("gateway %s fronting %v", creds.GatewayID, creds.Identities)
}

func Slug(id string) string {
	r := strings.NewReplacer("/", "-", "_", "-")
	return strings.ToLower(r.Replace(id))
}

// probeDescriptors handshakes once outside any case.
func probeDescriptors(ctx context.Context, dialURL string, c GWCreds) ([]contract.CapabilityDescriptor, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return handshakeOnce(ctx, dialURL, c)
}

// advertises reports whether some fronted platform's descriptor allows op
// (the legacy set when supported_ops is empty), unless the feature named
// after the op was forced.
func (t *connectorTarget) advertises(op string) bool {
	if v, ok := t.Opts.Features[op]; ok {
		return v
	}
	return t.OpPlatform(op) != ""
}

// OpPlatform returns the first probed platform whose descriptor allows op,
// or "".
func (t *connectorTarget) OpPlatform(op string) string {
	for _, d := range t.Probe {
		if d.SupportsOp(op) {
			return d.Platform
		}
	}
	return ""
}
