package simulator

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"time"

	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/fixtures"
	"github.com/relaykit/relaykit/internal/deviation"
)

// DuplicatePolicy says what the simulator does when a second socket of one
// gateway instance authenticates while the first is still open (RC-002).
type DuplicatePolicy string

// Duplicate-socket policies.
const (
	// DuplicateAllow keeps every socket; deliveries go to the newest
	// handshaked one.
	DuplicateAllow DuplicatePolicy = "allow"
	// DuplicateReplace closes the older socket with 4409 "replaced".
	DuplicateReplace DuplicatePolicy = "replace"
	// DuplicateReject closes the newer socket with 4409 "duplicate".
	DuplicateReject DuplicatePolicy = "reject"
)

// ParseDuplicatePolicy parses "allow", "replace" or "reject".
func ParseDuplicatePolicy(s string) (DuplicatePolicy, error) {
	switch p := DuplicatePolicy(s); p {
	case DuplicateAllow, DuplicateReplace, DuplicateReject:
		return p, nil
	}
	return "", fmt.Errorf("unknown duplicate policy %q: want allow, replace or reject", s)
}

// Defaults of Options. They follow docs/design/settlements.md.
const (
	DefaultAddr               = "127.0.0.1:0"
	DefaultHelloGrace         = 2 * time.Second
	DefaultDrainWindow        = 1
	DefaultWakeCooldown       = 30 * time.Second
	DefaultWakeTimeout        = 10 * time.Second
	DefaultMediaTTL           = time.Hour
	DefaultMediaMaxTotal      = 1 << 30
	DefaultEnrollmentTokenTTL = 24 * time.Hour
	DefaultJournalSize        = 10000
	DefaultJournalFrameBytes  = 2048
	DefaultHistorySize        = 10000
	DefaultTenant             = "default"

	// Memory bounds; docs/security.md lists the attack each one answers.
	DefaultQueueMaxFrames       = 1024
	DefaultQueueMaxBytes        = 4 << 20
	DefaultQueueMaxTotalBytes   = 256 << 20
	DefaultQueueWait            = time.Second
	DefaultBufferMaxEntries     = 10000
	DefaultBufferMaxBytes       = 16 << 20
	DefaultBufferMaxTotalBytes  = 256 << 20
	DefaultHistoryMaxBytes      = 4 << 20
	DefaultHistoryMaxTotalBytes = 64 << 20
	DefaultJournalMaxBytes      = 16 << 20
)

// Options configure a Server. The zero value is valid: every field documents
// its default.
type Options struct {
	// Addr is the TCP address New listens on. Default "127.0.0.1:0", a free
	// loopback port. The control API under /_relaysim/ is unauthenticated
	// unless ControlToken is set, so binding a non-loopback address exposes
	// it to the network.
	Addr string

	// Clock drives every timer: token expiry, keepalive, handshake timeout,
	// wake cooldown, media TTL, enrollment-token expiry and script delays.
	// Default the wall clock. A *clock.Manual makes time move only when told,
	// and enables the control API's clock routes.
	Clock clock.Clock

	// Logger receives structured logs. Default: discard. Secrets and tokens
	// are never logged.
	Logger *slog.Logger

	// Store persists enrollments, flips, buffers, policies and enrollment
	// tokens. Default: a fresh NewMemoryStore. Server.Close closes it.
	Store Store

	// Descriptors are the capability descriptor presets answered to hello,
	// keyed by platform. Default: the presets of package fixtures (discord,
	// telegram, slack, whatsapp). A platform listed in Platforms without a
	// preset gets a generic descriptor advertising the legacy ops.
	// LoadDescriptorFile reads one from a JSON file, checked against the
	// contract and its JSON Schema.
	Descriptors map[string]contract.CapabilityDescriptor

	// Platforms are the platforms this connector serves, in order: the
	// default platforms of an enrolled gateway and the platforms accepted by
	// provisioning. Default: every preset, discord, telegram, slack and
	// whatsapp first.
	Platforms []string

	// Gateways are enrolled when the server starts, unless the store already
	// holds a live gateway with the same id (then the stored one, with its
	// secret, wins). Reset restores exactly these.
	Gateways []GatewaySpec

	// Seed is state loaded at start, after Gateways: more gateways,
	// relevance policies, result scripts and faults (see Seed;
	// LoadSeedFile reads one from a JSON or YAML file). Reset applies it
	// again. Default none.
	Seed *Seed

	// IdentityTokens maps the identity bearer tokens accepted by
	// /relay/provision and /relay/enroll to the tenant they authenticate.
	// An empty tenant means DefaultTenant. Default: none.
	IdentityTokens map[string]string

	// DevMode accepts any non-empty identity bearer at /relay/provision and
	// /relay/enroll, as tenant DefaultTenant: anyone who can reach the
	// server gets the secret of every gateway of that tenant. Default
	// false. Start logs a warning when it is set and the server listens
	// beyond loopback; cmd/relaysim refuses that combination.
	DevMode bool

	// AnonymousGateway, when set, authenticates a /relay upgrade that has no
	// Authorization header as this gateway: the unauthenticated development
	// mode of AUTH-002. Default "": every upgrade needs a valid token.
	AnonymousGateway string

	// PingInterval and PingTimeout drive keepalive (TRN-011): a WebSocket
	// ping every PingInterval, and a close 1011 "keepalive timeout" when no
	// pong arrived PingTimeout after a ping. Defaults 30 s and 60 s; a
	// negative PingInterval disables keepalive.
	PingInterval time.Duration
	PingTimeout  time.Duration

	// HandshakeTimeout closes a socket that sent no hello with 1008 "no
	// hello", and one whose hellos named no fronted platform with 1008
	// "platform not fronted" (HS-014, HS-017). Default 30 s; negative
	// disables.
	HandshakeTimeout time.Duration

	// HelloGrace is how long after an unfronted hello the simulator waits
	// for a fronted one before closing 1008 "platform not fronted". Default
	// 2 s; it never extends past HandshakeTimeout.
	HelloGrace time.Duration

	// DuplicatePolicy handles a second socket of one gateway instance.
	// Default DuplicateReplace.
	DuplicatePolicy DuplicatePolicy

	// DrainWindow is how many replayed buffer entries may be unacknowledged
	// at once (IDLE-011). Default DefaultDrainWindow, 1: each entry waits
	// for the ack of the one before, as the hosted connectors of the field
	// replay, so a gateway is tested against what it will meet. A larger
	// window replays faster and tests a gateway's handling of several
	// unacked entries.
	DrainWindow int

	// WakeCooldown is the least time between two wake requests of one
	// instance (WAKE-003). Default 30 s.
	WakeCooldown time.Duration

	// WakeTimeout bounds one wake request, on the wall clock. Default 10 s.
	WakeTimeout time.Duration

	// WakeClient sends wake requests. Default: a client that follows no
	// redirects, so a wake never carries anything anywhere else.
	WakeClient *http.Client

	// MediaTTL is how long an uploaded media item stays downloadable.
	// Default 1 h (HTTP-021).
	MediaTTL time.Duration

	// MediaMaxBytes caps one upload; larger uploads get 413. Default
	// contract.MediaMaxBytes (25 MiB).
	MediaMaxBytes int64

	// MediaMaxTotal caps the bytes of media held at once; an upload that
	// would exceed it gets 507. Default 1 GiB. Media lives in memory,
	// unless Store is a MediaStore (a FileStore), which holds the bytes on
	// disk across restarts.
	MediaMaxTotal int64

	// EnrollmentTokenTTL is the lifetime of an enrollment token created
	// without one. Default 24 h.
	EnrollmentTokenTTL time.Duration

	// JournalSize is how many journal entries are kept; older ones are
	// dropped. Default 10000.
	JournalSize int

	// JournalFrameBytes caps how much of each frame the journal keeps, and
	// of every other text in an entry (details, paths, reasons, ids).
	// Default 2048.
	JournalFrameBytes int

	// JournalMaxBytes caps the bytes the journal holds; the oldest entries
	// are dropped first. Default 16 MiB.
	JournalMaxBytes int64

	// HistorySize caps, per gateway, the outbound records kept, the
	// interrupts kept, and the draft and thread ids remembered for OUT-021
	// and OUT-026; and, per instance, the wakes kept. The oldest go first,
	// counted in Usage. Default 10000.
	HistorySize int

	// HistoryMaxBytes caps the bytes of each of those per gateway (or
	// instance): a record counts its action, result, ids and keys. The
	// oldest go first; the newest record is always kept. Default 4 MiB.
	HistoryMaxBytes int64

	// HistoryMaxTotalBytes caps the bytes of each of those across all
	// gateways: past it, the oldest records of the gateway holding the
	// most go first. Default 64 MiB.
	HistoryMaxTotalBytes int64

	// QueueMaxFrames and QueueMaxBytes bound one socket's write queue
	// (frames waiting for, or held by, its writer; a pooled frame buffer
	// counts at least 4 KiB). A live delivery that does not fit goes to the
	// instance's buffer instead (answered "buffered"), an interrupt that
	// does not fit is dropped (interrupts are never buffered), and a socket
	// whose own answers do not fit stops being read until they do, which
	// pushes back on that peer alone. An empty queue takes any frame.
	// Defaults 1024 frames and 4 MiB.
	QueueMaxFrames int
	QueueMaxBytes  int64

	// QueueMaxTotalBytes caps the bytes queued for live delivery across
	// every socket; past it live events are buffered. Default 256 MiB.
	QueueMaxTotalBytes int64

	// QueueWait bounds how long an Inject (or passthrough) whose socket's
	// queue is full waits for room, holding no lock, while the socket's
	// writer frees none, on the wall clock; then the event is buffered. A
	// gateway that reads more slowly than events arrive, but reads, thus
	// slows the injector down instead of pushing everything through the
	// buffer, and one that stopped reading costs an inject at most
	// QueueWait. Default 1 s; negative never waits.
	QueueWait time.Duration

	// SocketWriteTimeout closes a socket 1011 "write timeout" when its writer
	// completed no message for this long, on the wall clock (the kernel
	// does not follow a manual clock): a peer that stopped reading. Unwritten
	// live deliveries are re-buffered. With keepalive on, such a peer also
	// misses its pong, since the stuck write keeps the ping from going
	// out, and is closed 1011 "keepalive timeout" PingTimeout after the
	// ping, on Clock. Default PingTimeout; negative disables.
	SocketWriteTimeout time.Duration

	// BufferMaxEntries and BufferMaxBytes cap one instance's buffer; an
	// event or forward that would pass them is refused: Inject returns a
	// *RequestError with status 507 naming the cap, and the control API
	// answers 507 {"error": ...}. A live delivery a closing socket never
	// wrote is re-buffered even past the caps (it was accepted already; the
	// write queue's caps bound it). Defaults 10000 entries and 16 MiB.
	BufferMaxEntries int
	BufferMaxBytes   int64

	// BufferMaxTotalBytes caps the bytes buffered across all instances,
	// with the same answer. Default 256 MiB.
	BufferMaxTotalBytes int64

	// ControlToken, when set, must be presented as "Authorization: Bearer
	// <token>" or "X-Relaysim-Token: <token>" on every /_relaysim/ request.
	// Default "": the control API relies on being reachable only from
	// loopback.
	ControlToken string

	// OneFramePerMessage writes every frame as its own WebSocket message.
	// Default false: frames queued for a socket at the same time share one
	// message (at most 64 KiB), which every receiver must accept (TRN-005)
	// and which makes bursts several times faster. Set it for byte-exact
	// message boundaries, like the reference gateway's own sending.
	OneFramePerMessage bool

	// MaxSessions refuses new sockets with 1013 "throttled" once this many
	// are open (RC-003). Default 0: no limit.
	MaxSessions int

	// ProvisionBurst is how many provision and enroll calls one tenant
	// may make in a burst, and ProvisionRefill how long it takes to earn
	// one back, on Clock; ProvisionTotalBurst and ProvisionTotalRefill do
	// the same for all tenants together. Only calls with an accepted
	// identity bearer and a valid body count. Past a burst the call gets
	// 429 with Retry-After (whole seconds until the bucket holds a call
	// again, at least 1) and {"error": "throttled: ..."}, and changes
	// nothing. Defaults 128 per 1 s per tenant (a conformance run spends about 20; HTTP-025) and 256 per 100 ms in all;
	// a negative burst disables that bucket.
	ProvisionBurst       int
	ProvisionRefill      time.Duration
	ProvisionTotalBurst  int
	ProvisionTotalRefill time.Duration

	// MaxGateways and MaxGatewaysPerTenant cap the gateway records that
	// /relay/provision and /relay/enroll may create, in total and per
	// tenant; revoked records count, since they are kept. A call that
	// would create one more gets 507 and creates nothing; calls for an
	// existing gateway still work. Enrollment through the Go API, the
	// control API and Options.Gateways is the operator's and is not
	// capped. Defaults 4096 and 256; negative means no cap.
	MaxGateways          int
	MaxGatewaysPerTenant int

	// ReadHeaderTimeout bounds reading a request's headers (a slowloris
	// is closed when it runs out). Default 10 s.
	ReadHeaderTimeout time.Duration

	// ReadTimeout bounds reading a whole request, body included, and
	// WriteTimeout writing its answer; a trickled body gets 408 and the
	// connection closes. Media uploads and downloads get MediaTimeout
	// instead, the answer of a GET /_relaysim/journal long poll its wait
	// on top of WriteTimeout, and a /relay upgrade neither once it is a
	// WebSocket (keepalive and the handshake timeout govern sockets).
	// Defaults 30 s each.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration

	// MediaTimeout bounds reading one media upload and writing one media
	// download. Default 5 min: 25 MiB at 85 KB/s.
	MediaTimeout time.Duration

	// IdleTimeout closes a keep-alive connection that sends no next
	// request for this long. Default 60 s.
	IdleTimeout time.Duration

	// MaxHeaderBytes caps a request's header block; a larger one gets 431
	// from net/http and the connection is closed. Default 32 KiB.
	MaxHeaderBytes int

	// MaxConns caps the TCP connections open at once, WebSocket sockets
	// included. A connection beyond it is accepted, answered
	// "HTTP/1.1 503 Service Unavailable" with Retry-After: 1 and
	// {"error": "too many connections"} once its request head arrived (or
	// after 250 ms of silence), and closed, so the process never
	// runs out of file descriptors and a legitimate request works again
	// as soon as one closes. Default DefaultMaxConns(): 4096, or three
	// quarters of the process's open-file limit when that is lower.
	// Negative means no cap. It applies only when the server listens
	// itself (New, Start), not to a Handler mounted elsewhere.
	MaxConns int

	// AuthFailBurst is how many failed token authentications one remote
	// address, or one enrolled gateway id named by refused tokens, may make
	// in a burst, counted apart for upgrades, for policy and media
	// requests, and for identity bearers on provision and enroll. Beyond it refused upgrades close 1013 "throttled"
	// (retryable, RC-003) instead of 4401, and refused HTTP requests get
	// 429 instead of 401 (HTTP-024), until the burst refills, so a flood of
	// bad tokens costs little. A good token is never throttled. Default
	// DefaultAuthFailBurst (32); negative disables throttling.
	AuthFailBurst int

	// AuthFailRefill is how long it takes to forgive one failed
	// authentication, on Clock. Default DefaultAuthFailRefill (500 ms).
	AuthFailRefill time.Duration

	// deviations make the simulator break requirements on purpose, for the
	// conformance self-check; set with deviation.Apply (deviations.go).
	deviations deviation.Set

	// DisableConsole turns off the web console: the page at /_relaysim/
	// and its assets under /_relaysim/console/ (console.go). The control
	// API it uses stays. Default false: the console is served, behind the
	// same Host, Origin and ControlToken checks as the control API.
	DisableConsole bool

	// MaxJournalStreams caps the GET /_relaysim/journal/stream streams
	// open at once; one more gets 503 with Retry-After. Default
	// DefaultMaxJournalStreams (16); negative means no cap.
	MaxJournalStreams int

	// JournalStreamLifetime is how long one journal stream stays open;
	// then it ends with an "end" event and the client reconnects from
	// where it got to. Default DefaultJournalStreamLifetime (5 min), on the
	// wall clock like the other network deadlines.
	JournalStreamLifetime time.Duration

	// Capture writes each session's frames to a file of NDJSON, the
	// format conform validate reads. Default: no captures. See
	// CaptureOptions.
	Capture CaptureOptions
}

// GatewaySpec describes a gateway to enroll through EnrollGateway or
// Options.Gateways.
type GatewaySpec struct {
	// GatewayID is required.
	GatewayID string `json:"gatewayId"`
	// Secret is the HMAC secret; a random 64-character secret is minted
	// when empty.
	Secret string `json:"secret,omitempty"`
	// Platforms the gateway fronts. Default: every platform the server
	// serves.
	Platforms []string `json:"platforms,omitempty"`
	// InstanceID keys the buffer and the flip. Default: the gateway id.
	InstanceID string `json:"instanceId,omitempty"`
	// WakeURL receives wake requests. Default none.
	WakeURL string `json:"wakeUrl,omitempty"`
	// Tenant owns the gateway. Default DefaultTenant.
	Tenant string `json:"tenant,omitempty"`
	// RouteKeys are stored as given.
	RouteKeys []string `json:"routeKeys,omitempty"`
}

// config is Options with defaults applied.
type config struct {
	Options
	presets   map[string]*preset
	platforms []string
}

// preset is one platform's descriptor with its encoded frame, built once
// because every handshake sends it.
type preset struct {
	desc  contract.CapabilityDescriptor
	frame []byte
}

func (o Options) withDefaults() (*config, error) {
	c := &config{Options: o}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	c.Clock = clock.OrReal(c.Clock)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.PingInterval == 0 {
		c.PingInterval = contract.DefaultPingInterval
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = contract.DefaultPingTimeout
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = contract.DefaultHandshakeTimeout
	}
	if c.HelloGrace <= 0 {
		c.HelloGrace = DefaultHelloGrace
	}
	if c.DuplicatePolicy == "" {
		c.DuplicatePolicy = DuplicateReplace
	}
	if _, err := ParseDuplicatePolicy(string(c.DuplicatePolicy)); err != nil {
		return nil, err
	}
	if c.DrainWindow <= 0 {
		c.DrainWindow = DefaultDrainWindow
	}
	if c.WakeCooldown <= 0 {
		c.WakeCooldown = DefaultWakeCooldown
	}
	if c.WakeTimeout <= 0 {
		c.WakeTimeout = DefaultWakeTimeout
	}
	if c.WakeClient == nil {
		c.WakeClient = &http.Client{
			// A wake target redirecting elsewhere gets no second request:
			// the wake must reach only the URL the gateway registered.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if c.MediaTTL <= 0 {
		c.MediaTTL = DefaultMediaTTL
	}
	if c.MediaMaxBytes <= 0 {
		c.MediaMaxBytes = contract.MediaMaxBytes
	}
	if c.MediaMaxTotal <= 0 {
		c.MediaMaxTotal = DefaultMediaMaxTotal
	}
	if c.EnrollmentTokenTTL <= 0 {
		c.EnrollmentTokenTTL = DefaultEnrollmentTokenTTL
	}
	if c.JournalSize <= 0 {
		c.JournalSize = DefaultJournalSize
	}
	if c.JournalFrameBytes <= 0 {
		c.JournalFrameBytes = DefaultJournalFrameBytes
	}
	if c.HistorySize <= 0 {
		c.HistorySize = DefaultHistorySize
	}
	defInt64(&c.JournalMaxBytes, DefaultJournalMaxBytes)
	defInt64(&c.HistoryMaxBytes, DefaultHistoryMaxBytes)
	defInt64(&c.HistoryMaxTotalBytes, DefaultHistoryMaxTotalBytes)
	if c.QueueMaxFrames <= 0 {
		c.QueueMaxFrames = DefaultQueueMaxFrames
	}
	defInt64(&c.QueueMaxBytes, DefaultQueueMaxBytes)
	defInt64(&c.QueueMaxTotalBytes, DefaultQueueMaxTotalBytes)
	if c.QueueWait == 0 {
		c.QueueWait = DefaultQueueWait
	}
	if c.SocketWriteTimeout == 0 {
		c.SocketWriteTimeout = c.PingTimeout
	}
	if c.BufferMaxEntries <= 0 {
		c.BufferMaxEntries = DefaultBufferMaxEntries
	}
	defInt64(&c.BufferMaxBytes, DefaultBufferMaxBytes)
	defInt64(&c.BufferMaxTotalBytes, DefaultBufferMaxTotalBytes)
	c.provisionDefaults()
	c.serverLimitDefaults()
	c.journalStreamDefaults()
	if c.AuthFailBurst == 0 {
		c.AuthFailBurst = DefaultAuthFailBurst
	}
	if c.AuthFailRefill <= 0 {
		c.AuthFailRefill = DefaultAuthFailRefill
	}
	if err := c.deviations.Check(deviation.Simulator); err != nil {
		return nil, err
	}
	if err := c.Capture.defaults(); err != nil {
		return nil, err
	}

	descs := c.Descriptors
	if descs == nil {
		var err error
		if descs, err = DefaultDescriptors(); err != nil {
			return nil, err
		}
	}
	c.presets = map[string]*preset{}
	for p, d := range descs {
		if d.Platform == "" {
			d.Platform = p
		}
		if d.Platform != p {
			return nil, fmt.Errorf("descriptor preset %q names platform %q", p, d.Platform)
		}
		c.presets[p] = newPreset(d)
	}
	c.platforms = c.Platforms
	if len(c.platforms) == 0 {
		c.platforms = orderPlatforms(keys(c.presets))
	}
	seen := map[string]bool{}
	for _, p := range c.platforms {
		if p == "" || seen[p] {
			return nil, fmt.Errorf("platforms: %q is empty or listed twice", p)
		}
		seen[p] = true
		if c.presets[p] == nil {
			c.presets[p] = newPreset(genericDescriptor(p))
		}
	}
	return c, nil
}

func defInt64(v *int64, def int64) {
	if *v <= 0 {
		*v = def
	}
}

func newPreset(d contract.CapabilityDescriptor) *preset {
	frame, err := contract.EncodeFrame(contract.DescriptorFrame{Descriptor: d})
	if err != nil {
		// A CapabilityDescriptor always encodes; reaching this is a bug in
		// contract, not a configuration problem.
		panic(fmt.Sprintf("simulator: failed to encode descriptor for %q: %v", d.Platform, err))
	}
	return &preset{desc: d, frame: frame}
}

// genericDescriptor describes a platform that has no preset: the legacy ops
// only, plain text, the default message length.
func genericDescriptor(platform string) contract.CapabilityDescriptor {
	d := contract.PlaceholderDescriptor(platform)
	d.Label = platform
	d.SupportedOps = append([]string(nil), contract.LegacyOps...)
	return d
}

// DefaultDescriptors returns the descriptor presets of package fixtures,
// keyed by platform.
func DefaultDescriptors() (map[string]contract.CapabilityDescriptor, error) {
	out := map[string]contract.CapabilityDescriptor{}
	for p, raw := range fixtures.DescriptorPresets() {
		var d contract.CapabilityDescriptor
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, fmt.Errorf("failed to decode descriptor preset %q: %w", p, err)
		}
		out[p] = d
	}
	return out, nil
}

// preferredOrder puts the best-known platforms first, matching the order
// the reference gateway's documentation lists them in.
var preferredOrder = []string{"discord", "telegram", "slack", "whatsapp"}

func orderPlatforms(ps []string) []string {
	rank := func(p string) int {
		for i, q := range preferredOrder {
			if p == q {
				return i
			}
		}
		return len(preferredOrder)
	}
	sort.Slice(ps, func(i, j int) bool {
		ri, rj := rank(ps[i]), rank(ps[j])
		if ri != rj {
			return ri < rj
		}
		return ps[i] < ps[j]
	})
	return ps
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
