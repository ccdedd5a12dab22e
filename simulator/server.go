package simulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
)

// ErrClosed is returned by operations on a closed Server.
var ErrClosed = errors.New("simulator closed")

// Server is a running relay connector simulator. Create it with New (which
// listens) or NewUnstarted (which only builds the handler). All methods are
// safe for concurrent use.
type Server struct {
	cfg   *config
	clk   clock.Clock
	log   *slog.Logger
	store Store
	jr    *journal
	devs  atomic.Uint64
	epoch string // random per process, so buffer ids never repeat across restarts

	bufSeq  atomic.Uint64
	msgSeq  atomic.Uint64
	sessSeq atomic.Uint64

	// Bounded memory (limits.go): bytes in every socket's write queue, in
	// every buffer, and what hit a cap.
	queued     atomic.Int64
	buffered   atomic.Int64
	bufRefused atomic.Uint64 // events refused 507 by a full buffer
	rebuffered atomic.Uint64 // live deliveries re-buffered at a close
	resetGen   atomic.Uint64 // bumped by Reset

	mu        sync.RWMutex
	gateways  map[string]*GatewayRecord // values are never mutated; changes replace them
	instances map[string]*instance
	sessions  map[uint64]*session
	tokens    map[string]*EnrollmentTokenRecord // by SHA-256 of the token
	initial   []GatewayRecord

	// learnMu guards owners and chats; they change on every event, so they
	// do not share the registry's lock.
	learnMu sync.Mutex
	owners  map[string]sessionOwner // session key -> where the conversation lives
	chats   map[string]chatInfo     // gateway+platform+chat -> what get_chat_info says
	// lastLearned is each gateway's last learned source, so a run of
	// events in one conversation is learned once.
	lastLearned map[string]contract.SessionSource
	// learnedBytes counts the three maps' keys and values; past
	// maxLearnedBytes (or maxLearned entries) they are forgotten at once.
	learnedBytes   int64
	learnedDropped uint64

	hist    history
	scripts scriptSet
	faults  faultSet
	media   mediaStore
	capt    captureSet // frame captures (capture.go)

	refuse    atomic.Bool      // fault: close new sockets 1013
	metrics   *metrics         // GET /_relaysim/metrics (metrics.go)
	connLimit *connLimiter     // nil without a connection cap, or before Start
	throttle  authThrottle     // failed authentications (throttle.go)
	provLimit provisionLimiter // provision and enroll calls (provision_limits.go)

	journalStreams atomic.Int64 // open GET /_relaysim/journal/stream streams

	lifeMu  sync.Mutex
	closing bool
	wg      sync.WaitGroup
	ctx     context.Context // ends when Close starts; bounds wake requests
	cancel  context.CancelFunc

	handler  http.Handler
	ln       net.Listener
	hs       *http.Server
	url      string
	started  bool
	closeErr error
	closed   sync.Once
}

// New starts a simulator listening on opts.Addr and serving the relay
// endpoint, the contract's HTTP routes and the control API. Call Close when
// done.
func New(opts Options) (*Server, error) {
	s, err := NewUnstarted(opts)
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// NewUnstarted builds a simulator without listening, for mounting
// Handler in the caller's own server, like httptest.NewUnstartedServer.
// Start makes it listen on opts.Addr; Close releases it either way.
func NewUnstarted(opts Options) (*Server, error) {
	cfg, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("failed to configure simulator: %w", err)
	}
	s := &Server{
		cfg:       cfg,
		clk:       cfg.Clock,
		log:       cfg.Logger,
		store:     cfg.Store,
		jr:        newJournal(cfg.JournalSize, cfg.JournalFrameBytes, cfg.JournalMaxBytes),
		epoch:     randomHex(4),
		gateways:  map[string]*GatewayRecord{},
		instances: map[string]*instance{},
		sessions:  map[uint64]*session{},
		tokens:    map[string]*EnrollmentTokenRecord{},
		owners:    map[string]sessionOwner{},
		chats:     map[string]chatInfo{},

		lastLearned: map[string]contract.SessionSource{},
	}
	s.hist.init(cfg)
	s.capt.init(cfg.Capture, s.epoch)
	s.metrics = newMetrics(s)
	s.media.init()
	s.devs.Store(uint64(cfg.deviations))
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if s.store == nil {
		s.store = NewMemoryStore()
	}
	if err := s.restore(); err != nil {
		s.cancel()
		return nil, err
	}
	for _, spec := range cfg.Gateways {
		if g, ok := s.gatewayRecord(spec.GatewayID); ok && !g.Revoked {
			s.initial = append(s.initial, g)
			continue
		}
		g, err := s.enroll(spec, false)
		if err != nil {
			s.cancel()
			return nil, fmt.Errorf("failed to enroll gateway %q: %w", spec.GatewayID, err)
		}
		s.initial = append(s.initial, g)
	}
	if err := s.enrollSeed(); err != nil {
		s.cancel()
		return nil, fmt.Errorf("failed to apply the seed: %w", err)
	}
	s.handler = s.withDeadlines(s.routes())
	return s, nil
}

// restore loads the store's state into the working copy, and the media
// index when the store is a MediaStore.
func (s *Server) restore() error {
	snap, err := s.store.Load()
	if err != nil {
		return fmt.Errorf("failed to load store: %w", err)
	}
	for i := range snap.Gateways {
		g := snap.Gateways[i].clone()
		s.gateways[g.GatewayID] = &g
	}
	for _, in := range snap.Instances {
		inst := s.instanceLocked(in.ID)
		inst.flipped = in.Flipped
		for p, pol := range in.Policies {
			inst.policies[p] = pol
		}
		for _, e := range in.Buffer {
			// What the store held stays, whatever the caps say now.
			s.addEntryLocked(inst, &entry{BufferedEntry: e}, false)
		}
	}
	for i := range snap.EnrollmentTokens {
		t := snap.EnrollmentTokens[i]
		s.tokens[t.Hash] = &t
	}
	return s.restoreMedia()
}

// Start listens on Options.Addr and serves. It is only needed after
// NewUnstarted.
func (s *Server) Start() error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closing {
		return ErrClosed
	}
	if s.started {
		return errors.New("simulator already started")
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", s.cfg.Addr, err)
	}
	if s.cfg.DevMode && !isLoopbackListener(ln.Addr()) {
		s.log.Warn("relaysim: dev mode on a non-loopback address: anyone who can reach it can provision with any bearer and get the secrets of tenant "+DefaultTenant, "addr", ln.Addr().String())
	}
	if s.cfg.MaxConns > 0 {
		s.connLimit = newConnLimiter(ln, s, s.cfg.MaxConns)
		ln = s.connLimit
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	s.hs = s.httpServer()
	s.started = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := s.hs.Serve(ln)
		s.lifeMu.Lock()
		closing := s.closing
		s.lifeMu.Unlock()
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !closing {
			s.log.Error("relaysim: serve failed", "err", err)
		}
	}()
	s.log.Info("relaysim: listening", "url", s.url, "relay", s.RelayURL())
	return nil
}

// URL returns the connector base URL, such as http://127.0.0.1:8765, or ""
// when the server was not started.
func (s *Server) URL() string { return s.url }

// RelayURL returns the WebSocket URL gateways dial, such as
// ws://127.0.0.1:8765/relay, or "" when the server was not started.
func (s *Server) RelayURL() string {
	if s.url == "" {
		return ""
	}
	return "ws" + strings.TrimPrefix(s.url, "http") + contract.PathRelay
}

// Handler returns the HTTP handler serving /relay, the contract's HTTP
// routes and the control API under /_relaysim/.
func (s *Server) Handler() http.Handler { return s.handler }

// Clock returns the clock the simulator runs on.
func (s *Server) Clock() clock.Clock { return s.clk }

// ManualClock returns the simulator's clock when it is a *clock.Manual, and
// nil otherwise.
func (s *Server) ManualClock() *clock.Manual {
	m, _ := s.clk.(*clock.Manual)
	return m
}

// Close closes every socket with 1001 "shutting down", stops serving, waits
// for its goroutines, and flushes and closes the store. It is safe to call
// more than once.
func (s *Server) Close() error {
	s.closed.Do(func() {
		s.lifeMu.Lock()
		s.closing = true
		s.lifeMu.Unlock()
		s.cancel()

		if s.hs != nil {
			// Stop accepting first, so no socket opens behind our back.
			s.ln.Close()
		}
		s.mu.RLock()
		all := make([]*session, 0, len(s.sessions))
		for _, sess := range s.sessions {
			all = append(all, sess)
		}
		s.mu.RUnlock()
		var cw sync.WaitGroup
		for _, sess := range all {
			cw.Add(1)
			go func() {
				defer cw.Done()
				sess.closeNow(contract.CloseGoingAway, contract.ReasonShutdown)
			}()
		}
		cw.Wait()
		s.stopDrains()
		if s.hs != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := s.hs.Shutdown(ctx); err != nil {
				s.hs.Close()
			}
			cancel()
		}
		s.wg.Wait()
		s.closeCaptures()
		if err := s.store.Close(); err != nil {
			s.closeErr = err
		}
		s.log.Info("relaysim: closed")
	})
	return s.closeErr
}

// track registers a goroutine or request that must finish before Close
// returns; it reports false once Close has begun.
func (s *Server) track() bool {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closing {
		return false
	}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack() { s.wg.Done() }

// afterFunc runs f after d on the simulator's clock, unless Close started
// meanwhile.
func (s *Server) afterFunc(d time.Duration, f func()) clock.Timer {
	return s.clk.AfterFunc(d, func() {
		if !s.track() {
			return
		}
		defer s.untrack()
		f()
	})
}

// note adds a journal entry stamped with the simulator's clock.
func (s *Server) note(e JournalEntry) uint64 {
	e.Time = s.clk.Now()
	return s.jr.add(e)
}

// Journal returns the journal entries after sequence number since, oldest
// first. The journal keeps the last Options.JournalSize entries.
func (s *Server) Journal(since uint64) []JournalEntry { return s.jr.since(since) }

// JournalSeq returns the sequence number of the newest journal entry, a
// starting point for Journal and Await.
func (s *Server) JournalSeq() uint64 { return s.jr.last() }

// Await blocks until a journal entry after since satisfies match (any entry
// when match is nil) and returns it, or until ctx ends. Tests use it to wait
// for something to happen without sleeping.
func (s *Server) Await(ctx context.Context, since uint64, match func(JournalEntry) bool) (JournalEntry, error) {
	return s.jr.await(ctx, since, match)
}

// Reset returns the simulator to its state right after New: every socket
// closes with 1001, buffers, flips, policies, media, scripts, faults,
// records and the journal are dropped, and only Options.Gateways remain
// enrolled, with the secrets they had then. Deviations stay as they are.
// Options.Seed is then applied again: its gateways are among those kept,
// and its policies, scripts and faults come back.
func (s *Server) Reset() error {
	if err := s.reset(); err != nil {
		return err
	}
	return s.applySeed()
}

func (s *Server) reset() error {
	if !s.track() {
		return ErrClosed
	}
	defer s.untrack()
	s.mu.Lock()
	all := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		all = append(all, sess)
	}
	s.mu.Unlock()
	var cw sync.WaitGroup
	for _, sess := range all {
		cw.Add(1)
		go func() {
			defer cw.Done()
			sess.closeNow(contract.CloseGoingAway, "reset")
		}()
	}
	cw.Wait()
	s.stopDrains()

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.store.Apply(Mutation{Kind: MutReset}); err != nil {
		return err
	}
	s.resetGen.Add(1)
	s.gateways = map[string]*GatewayRecord{}
	s.instances = map[string]*instance{}
	s.buffered.Store(0)
	s.tokens = map[string]*EnrollmentTokenRecord{}
	s.learnMu.Lock()
	s.owners = map[string]sessionOwner{}
	s.chats = map[string]chatInfo{}
	s.lastLearned = map[string]contract.SessionSource{}
	s.learnedBytes = 0
	s.learnMu.Unlock()
	for _, g := range s.initial {
		g := g.clone()
		if err := s.store.Apply(Mutation{Kind: MutGateway, Gateway: &g}); err != nil {
			return err
		}
		s.gateways[g.GatewayID] = &g
	}
	s.hist.reset()
	s.scripts.reset()
	s.faults.reset()
	s.refuse.Store(false)
	s.throttle.reset()
	s.provLimit.reset()
	s.dropMedia(s.media.reset())
	s.jr.reset()
	s.note(JournalEntry{Kind: JournalControl, Detail: "reset"})
	return nil
}

// stopDrains ends every drain; used when all sockets are going away.
func (s *Server) stopDrains() {
	s.mu.RLock()
	insts := make([]*instance, 0, len(s.instances))
	for _, in := range s.instances {
		insts = append(insts, in)
	}
	s.mu.RUnlock()
	for _, in := range insts {
		in.mu.Lock()
		if in.drain != nil {
			in.stopDrainLocked()
		}
		in.mu.Unlock()
	}
}

// instanceLocked returns the instance with id, creating it; s.mu must be
// held for writing, or the server not yet shared.
func (s *Server) instanceLocked(id string) *instance {
	in := s.instances[id]
	if in == nil {
		in = newInstance(id)
		s.instances[id] = in
	}
	return in
}

// instance returns the instance with id, creating it.
func (s *Server) instance(id string) *instance {
	s.mu.RLock()
	in := s.instances[id]
	s.mu.RUnlock()
	if in != nil {
		return in
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.instanceLocked(id)
}

// gatewayRecord returns a copy of the stored gateway.
func (s *Server) gatewayRecord(id string) (GatewayRecord, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	g := s.gateways[id]
	if g == nil {
		return GatewayRecord{}, false
	}
	return *g, true
}

// Sessions returns every open socket, oldest first.
func (s *Server) Sessions() []SessionInfo {
	s.mu.RLock()
	all := make([]*session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		all = append(all, sess)
	}
	s.mu.RUnlock()
	out := make([]SessionInfo, 0, len(all))
	for _, sess := range all {
		out = append(out, sess.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// platformServed reports whether provisioning accepts platform.
func (s *Server) platformServed(platform string) bool {
	for _, p := range s.cfg.platforms {
		if p == platform {
			return true
		}
	}
	return false
}

// Features lists the optional features of the contract the simulator
// serves that no descriptor advertises (op features are read from
// descriptors): all of them.
func (s *Server) Features() []string {
	return []string{"wake", "passthrough", "policy", "media", "provision", "enroll"}
}

// Platforms returns the platforms the simulator serves, in order.
func (s *Server) Platforms() []string { return append([]string(nil), s.cfg.platforms...) }

// Descriptor returns the descriptor answered to a hello for platform.
func (s *Server) Descriptor(platform string) (contract.CapabilityDescriptor, bool) {
	p := s.cfg.presets[platform]
	if p == nil {
		return contract.CapabilityDescriptor{}, false
	}
	return p.desc, true
}
