package harbor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/relaykit/relaykit/clock"
)

// Server is a running harbor: the relay port (WebSocket /relay and the
// contract's HTTP routes) and, unless NoControl, the testee control API on
// a port of its own.
type Server struct {
	opts Options
	clk  clock.Clock
	log  *slog.Logger
	dev  string

	relayLn, ctlLn   net.Listener
	relaySrv, ctlSrv *http.Server
	wakeClient       *http.Client

	wg     sync.WaitGroup // sockets, wake requests
	wakes  sync.WaitGroup // wake requests only (tests wait for them)
	ctx    context.Context
	cancel context.CancelFunc

	mu           sync.Mutex
	closed       bool
	seq          uint64
	tag          string // per-server part of buffer ids
	gateways     map[string]*gateway
	instances    map[string]*instance
	tenants      map[string]*tenantState
	conns        map[*conn]struct{}
	enrollTokens map[string]*enrollToken
	media        map[string]*mediaItem
	mediaBytes   int
	refusing     bool
	dev0         *gateway // the gateway enrolled at start, if any
}

// New starts a harbor on loopback.
func New(opts Options) (*Server, error) {
	opts.defaults()
	if err := checkDeviation(opts.Deviation); err != nil {
		return nil, err
	}
	switch opts.DuplicatePolicy {
	case "allow", "replace", "reject":
	default:
		return nil, fmt.Errorf("harbor: DuplicatePolicy %q: want allow, replace or reject", opts.DuplicatePolicy)
	}
	s := &Server{
		opts: opts, clk: opts.Clock, log: opts.Logger, dev: opts.Deviation,
		tag:          randomHex(3),
		gateways:     map[string]*gateway{},
		instances:    map[string]*instance{},
		tenants:      map[string]*tenantState{},
		conns:        map[*conn]struct{}{},
		enrollTokens: map[string]*enrollToken{},
		media:        map[string]*mediaItem{},
		wakeClient: &http.Client{Timeout: wakeTimeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a wake is one bare GET, nothing more
		}},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if opts.Gateway != nil || opts.NoControl {
		spec := GatewaySpec{}
		if opts.Gateway != nil {
			spec = *opts.Gateway
		}
		if spec.ID == "" {
			spec.ID = "harbor-gw"
		}
		g, err := s.enroll(spec)
		if err != nil {
			return nil, fmt.Errorf("harbor: enroll the start gateway: %w", err)
		}
		s.dev0 = g
	}
	var err error
	if s.relayLn, err = net.Listen("tcp", opts.Addr); err != nil {
		return nil, fmt.Errorf("harbor: listen %s: %w", opts.Addr, err)
	}
	s.relaySrv = &http.Server{Handler: s.relayMux(), ReadHeaderTimeout: 10 * time.Second}
	if !opts.NoControl {
		if s.ctlLn, err = net.Listen("tcp", opts.ControlAddr); err != nil {
			s.relayLn.Close()
			return nil, fmt.Errorf("harbor: listen %s: %w", opts.ControlAddr, err)
		}
		s.ctlSrv = &http.Server{Handler: s.controlMux(), ReadHeaderTimeout: 10 * time.Second}
		s.goServe(s.ctlSrv, s.ctlLn)
	}
	s.goServe(s.relaySrv, s.relayLn)
	s.log.Info("harbor started", "url", s.URL(), "control", s.ControlURL(), "deviation", s.dev)
	return s, nil
}

func (s *Server) goServe(h *http.Server, ln net.Listener) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := h.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve", "err", err)
		}
	}()
}

// URL is the connector's base URL, http://127.0.0.1:port; the gateway dials
// ws://127.0.0.1:port/relay.
func (s *Server) URL() string { return "http://" + s.relayLn.Addr().String() }

// RelayURL is the WebSocket dial URL.
func (s *Server) RelayURL() string { return "ws://" + s.relayLn.Addr().String() + "/relay" }

// ControlURL is the base URL of the testee control API, "" with NoControl.
func (s *Server) ControlURL() string {
	if s.ctlLn == nil {
		return ""
	}
	return "http://" + s.ctlLn.Addr().String()
}

// StartGateway returns the id, secret and platforms of the gateway enrolled
// at start, or ok false when there is none.
func (s *Server) StartGateway() (spec GatewaySpec, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dev0 == nil {
		return GatewaySpec{}, false
	}
	g := s.dev0
	return GatewaySpec{ID: g.id, Secret: g.secret, Platforms: append([]string(nil), g.platforms...),
		Tenant: g.tenant, Instance: g.instance, WakeURL: g.wakeURL}, true
}

// Close closes every socket with 1001 "shutting down" and stops the server.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var cs []*conn
	for c := range s.conns {
		cs = append(cs, c)
		s.closeConnLocked(c, 1001, "shutting down")
	}
	s.mu.Unlock()
	// Give the close handshakes a bounded moment, then cut what is left.
	deadline := time.Now().Add(2 * time.Second)
	for _, c := range cs {
		select {
		case <-c.done:
		case <-time.After(time.Until(deadline)):
		}
	}
	s.cancel()
	for _, c := range cs {
		c.ws.CloseNow()
	}
	s.relaySrv.Close()
	if s.ctlSrv != nil {
		s.ctlSrv.Close()
	}
	s.wg.Wait()
	return nil
}

// nextSeq returns a fresh sequence number; s.mu must be held.
func (s *Server) nextSeq() uint64 { s.seq++; return s.seq }

func (s *Server) tenant(name string) *tenantState {
	t := s.tenants[name]
	if t == nil {
		t = newTenantState()
		s.tenants[name] = t
	}
	return t
}

func (s *Server) instanceOf(g *gateway) *instance {
	k := instanceKey(g.tenant, g.instance)
	in := s.instances[k]
	if in == nil {
		in = &instance{tenant: g.tenant, id: g.instance, policies: map[string]policy{}}
		s.instances[k] = in
	}
	return in
}

// enroll adds a gateway; the caller must not hold s.mu.
func (s *Server) enroll(spec GatewaySpec) (*gateway, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.enrollLocked(spec)
}

// errConflict and errBadRequest classify enrollment failures for HTTP.
var (
	errConflict   = errors.New("conflict")
	errBadRequest = errors.New("bad request")
	errFull       = errors.New("full")
)

func (s *Server) enrollLocked(spec GatewaySpec) (*gateway, error) {
	if spec.ID == "" {
		return nil, fmt.Errorf("%w: gatewayId: required", errBadRequest)
	}
	if len(s.gateways) >= maxGateways {
		return nil, fmt.Errorf("%w: %d gateways enrolled", errFull, maxGateways)
	}
	if spec.Tenant == "" {
		spec.Tenant = defaultTenant
	}
	if spec.Instance == "" {
		spec.Instance = spec.ID
	}
	if len(spec.Platforms) == 0 {
		spec.Platforms = append([]string(nil), platforms...)
	}
	for _, p := range spec.Platforms {
		if !served(p) {
			return nil, fmt.Errorf("%w: platforms: harbor does not serve %q (it serves %v)", errBadRequest, p, platforms)
		}
	}
	if old := s.gateways[spec.ID]; old != nil && !old.revoked {
		return nil, fmt.Errorf("%w: gatewayId: %q is already enrolled", errConflict, spec.ID)
	}
	if err := s.instanceFree(spec.Tenant, spec.Instance); err != nil {
		return nil, err
	}
	if spec.Secret == "" {
		spec.Secret = randomHex(32)
	}
	g := &gateway{id: spec.ID, tenant: spec.Tenant, instance: spec.Instance, platforms: spec.Platforms,
		secret: spec.Secret, deliveryKey: randomHex(32), wakeURL: spec.WakeURL}
	s.gateways[g.id] = g
	in := s.instanceOf(g)
	if g.wakeURL != "" {
		in.wakeURL = g.wakeURL
	}
	return g, nil
}

// instanceFree reports a conflict when an instance id is used by a live
// gateway of another tenant.
func (s *Server) instanceFree(tenant, inst string) error {
	for _, o := range s.gateways {
		if !o.revoked && o.instance == inst && o.tenant != tenant {
			return fmt.Errorf("%w: instanceId: %q belongs to another tenant", errConflict, inst)
		}
	}
	return nil
}

// authenticate checks an upgrade or HTTP bearer token. It returns the
// gateway, or the 4401 reason: "expired" for a genuine token signed by a
// current secret whose exp passed, "unauthorized" otherwise.
func (s *Server) authenticate(tok string) (*gateway, string) {
	p, err := parseToken(tok)
	if err != nil {
		return nil, "unauthorized"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gateways[p.gatewayID]
	if g == nil || g.revoked {
		return nil, "unauthorized"
	}
	now := s.clk.Now()
	ok := false
	for _, sec := range g.verifyList(now) {
		ok = ok || p.signedBy(sec)
	}
	if !ok {
		return nil, "unauthorized"
	}
	if p.expired(now, s.dev == DevExpInclusive) {
		return nil, "expired"
	}
	return g, ""
}
