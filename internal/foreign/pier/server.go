package pier

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Server is a running pier connector: the relay endpoint on one listener
// and the testee control API on another.
type Server struct {
	cfg  config
	boot string

	relayLn, ctlLn   net.Listener
	relaySrv, ctlSrv *http.Server
	serveWG          sync.WaitGroup // the two Serve loops
	connWG           sync.WaitGroup // every relay socket's goroutines

	mu        sync.Mutex
	closed    bool
	gateways  map[string]*gateway
	instances map[string]*instance // tenant \x00 instance id
	tenants   map[string]*tenant
	conns     map[*relayConn]struct{}
	sockets   int
	msgSeq    uint64
	threadSeq uint64
	eventSeq  uint64
	instSeq   uint64
	// lostLive counts events answered "live" that their socket never wrote
	// and that no longer fitted the buffer when it ended (rebufferLocked).
	lostLive int
}

// New starts a pier server with o and returns it once both listeners
// accept connections.
func New(o Options) (*Server, error) {
	cfg, err := o.resolve()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, boot: randomLetters(4),
		gateways: map[string]*gateway{}, instances: map[string]*instance{},
		tenants: map[string]*tenant{}, conns: map[*relayConn]struct{}{},
	}
	for _, g := range cfg.Gateways {
		if _, err := s.enroll(enrollRequest{GatewayID: g.GatewayID, Secret: g.Secret, Platforms: g.Platforms,
			InstanceID: g.InstanceID, Tenant: g.Tenant}, false); err != nil {
			return nil, fmt.Errorf("pier: enroll %q: %w", g.GatewayID, err)
		}
	}
	if s.relayLn, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("pier: listen on %s: %w", cfg.Addr, err)
	}
	if s.ctlLn, err = net.Listen("tcp", cfg.ControlAddr); err != nil {
		s.relayLn.Close()
		return nil, fmt.Errorf("pier: listen on %s: %w", cfg.ControlAddr, err)
	}
	relay := http.NewServeMux()
	relay.HandleFunc("/relay", s.serveRelay)
	relay.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("pier serves only /relay, not %s", r.URL.Path))
	})
	s.relaySrv = &http.Server{Handler: relay, ReadHeaderTimeout: 10 * time.Second}
	s.ctlSrv = &http.Server{Handler: s.controlHandler(), ReadHeaderTimeout: 10 * time.Second}
	s.serveWG.Add(2)
	go func() { defer s.serveWG.Done(); _ = s.relaySrv.Serve(s.relayLn) }()
	go func() { defer s.serveWG.Done(); _ = s.ctlSrv.Serve(s.ctlLn) }()
	return s, nil
}

// URL returns the connector's base URL, http://host:port; gateways dial
// ws://host:port/relay.
func (s *Server) URL() string { return "http://" + s.relayLn.Addr().String() }

// ControlURL returns the base URL of the testee control API.
func (s *Server) ControlURL() string { return "http://" + s.ctlLn.Addr().String() }

// KnownChat returns the chat every gateway may post to.
func (s *Server) KnownChat() string { return s.cfg.KnownChat }

// Close closes every socket with 1001 "shutting down" (after an error
// frame saying so), stops both listeners and waits, for at most a few
// seconds, for every goroutine to end.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		c.failLocked(1001, "shutting down", "pier is shutting down")
	}
	s.mu.Unlock()
	err := errors.Join(s.relaySrv.Close(), s.ctlSrv.Close())
	s.serveWG.Wait()
	done := make(chan struct{})
	go func() { s.connWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.mu.Lock()
		for c := range s.conns {
			c.cancel()
			_ = c.ws.CloseNow()
		}
		s.mu.Unlock()
		<-done
	}
	return err
}

// tenantLocked returns the tenant named name, creating it.
func (s *Server) tenantLocked(name string) *tenant {
	t := s.tenants[name]
	if t == nil {
		n := s.cfg.MaxRemembered
		t = &tenant{name: name, chats: newMemo[chatInfo](n), messages: newMemo[message](n),
			threads: newMemo[thread](n), sessions: newMemo[sessionRef](n)}
		s.tenants[name] = t
	}
	return t
}

// authenticate checks an upgrade's bearer and returns its gateway, or why
// the token is refused.
func (s *Server) authenticate(r *http.Request) (*gateway, refusal) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(tok) == "" {
		return nil, refusedUnauthorized
	}
	cl, err := parseToken(tok)
	if err != nil {
		return nil, refusedUnauthorized
	}
	now := s.cfg.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.gateways[cl.gatewayID]
	if g == nil {
		return nil, refusedUnauthorized
	}
	signed := false
	for _, sec := range g.verifyList(now) {
		signed = signed || cl.signs(sec)
	}
	if !signed {
		return nil, refusedUnauthorized
	}
	var skew time.Duration
	if s.cfg.deviant(DevExpirySkew) {
		skew = time.Minute
	}
	if cl.expiredAt(now, skew) {
		return nil, refusedExpired
	}
	return g, ""
}

func isUpgrade(r *http.Request) bool {
	return strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") &&
		strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// serveRelay handles an upgrade at /relay: authentication (AUTH-010),
// the duplicate-socket policy (RC-002, reject), the socket cap (RC-003),
// then the connection itself.
func (s *Server) serveRelay(w http.ResponseWriter, r *http.Request) {
	if !isUpgrade(r) {
		writeError(w, http.StatusUpgradeRequired, "/relay is pier's WebSocket endpoint: send a WebSocket upgrade")
		return
	}
	s.connWG.Add(1)
	defer s.connWG.Done()
	g, why := s.authenticate(r)
	if why != "" {
		s.cfg.Logger.Info("pier: upgrade refused", "reason", string(why), "remote", r.RemoteAddr)
		if s.cfg.deviant(DevHTTP401BadToken) {
			writeError(w, http.StatusUnauthorized, "token refused: "+string(why))
			return
		}
		s.refuse(w, r, why)
		return
	}
	c, verdict := s.admit(r.Context(), g)
	switch verdict {
	case admitHTTP409:
		writeError(w, http.StatusConflict, "instance already connected")
		return
	case admitClosed:
		writeError(w, http.StatusServiceUnavailable, "pier is shutting down")
		return
	}
	ws, err := accept(w, r)
	if err != nil {
		s.release(c)
		return
	}
	c.ws = ws
	switch verdict {
	case admitDuplicate:
		c.shed(4409, "duplicate", "duplicate", "this gateway instance already has a socket; pier keeps the older one")
	case admitFull:
		c.shed(1013, "pier is at capacity", "capacity", fmt.Sprintf("pier already holds %d sockets; try again later", s.cfg.MaxSockets))
	default:
		c.run()
	}
}

// Admission verdicts for an authenticated upgrade.
type admitVerdict int

const (
	admitOK admitVerdict = iota
	admitDuplicate
	admitHTTP409
	admitFull
	admitClosed
)

// admit registers a socket for g's instance. An instance has at most one
// socket: a second one waits up to DuplicateGrace for the first to finish
// closing and is otherwise rejected (RC-002 policy reject).
func (s *Server) admit(ctx context.Context, g *gateway) (*relayConn, admitVerdict) {
	deadline := time.Now().Add(s.cfg.DuplicateGrace)
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, admitClosed
		}
		inst := g.inst
		old := inst.live
		if old == nil || time.Now().After(deadline) {
			c := newRelayConn(s, g)
			verdict := admitOK
			switch {
			case old != nil && s.cfg.deviant(DevDuplicateHTTP409):
				s.mu.Unlock()
				return nil, admitHTTP409
			case old != nil:
				verdict = admitDuplicate
			case s.sockets >= s.cfg.MaxSockets:
				verdict = admitFull
			default:
				inst.live = c
				inst.ghost = nil // a new connection: pier knows the old one is gone
			}
			s.sockets++
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			return c, verdict
		}
		done := old.done
		s.mu.Unlock()
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-done:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		if ctx.Err() != nil {
			deadline = time.Now() // decide now; the upgrade will fail anyway
		}
	}
}

// release forgets a socket that never ran.
func (s *Server) release(c *relayConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.detachLocked()
}
