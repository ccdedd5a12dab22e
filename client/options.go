package client

import (
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// Options configure a Client. The zero value of every field means its
// documented default, so Options{Config: cfg} is a working production
// setup.
type Options struct {
	// Config says which connector to dial and as whom. Config.URL is
	// required by New.
	Config Config

	// Handler receives inbound events, interrupts and passthrough forwards.
	// When nil, deliveries are logged and dropped without an ack, so a
	// buffered backlog stays on the connector until a handler exists.
	Handler Handler

	// Clock drives every timer of the client: backoff, handshake, outbound
	// and go-idle timeouts, keepalive, stable-connection window, dormant
	// redial, hold ceiling, close grace, HTTP timeouts and token expiry.
	// Default clock.Real().
	Clock clock.Clock

	// Rand returns a uniform float in [0, 1) and picks where in [d/2, d]
	// each backoff wait falls. Tests pin it to 1 to get the upper bound.
	// Default math/rand/v2.Float64.
	Rand func() float64

	// Logger receives the client's structured logs. Tokens, secrets and
	// bearer values are never logged. Default: logs are discarded.
	Logger *slog.Logger

	// HTTPClient is used for the WebSocket upgrade and for the HTTP routes
	// (provision, enroll, policy, media). Its Timeout is ignored: every
	// request is bounded by the client's own clock-driven timeouts instead.
	// Its CheckRedirect is wrapped so a bearer never follows a redirect to
	// another origin. Default http.DefaultClient's transport.
	HTTPClient *http.Client

	// Reconnect keeps a supervisor re-dialling after an unexpected close.
	// Default true. When false, the first connection's end (or a failed
	// first dial) is terminal: the client goes to StateClosed.
	Reconnect *bool

	// OutboundTimeout bounds a call from start to result. A call whose
	// frame was written and that got no result in time resolves with
	// ambiguous:true. Default 30s.
	OutboundTimeout time.Duration

	// HandshakeTimeout bounds the wait for a connection's first descriptor.
	// A connection without one by then is closed 1002 and re-dialled with
	// backoff, so a connector that accepts and stays silent never wedges
	// the gateway. Default 30s.
	HandshakeTimeout time.Duration

	// DialTimeout bounds one WebSocket upgrade. Default 10s.
	DialTimeout time.Duration

	// PingInterval is the keepalive period; negative disables keepalive.
	// Default 30s.
	PingInterval time.Duration

	// PingTimeout is how long a ping may wait for its pong before the
	// connection is closed 1011 "keepalive timeout". Default 60s.
	PingTimeout time.Duration

	// TokenTTL is the lifetime of each minted upgrade token; negative mints
	// tokens that never expire (exp 0). Default 300s.
	TokenTTL time.Duration

	// GoIdleTimeout bounds GoIdle's wait for going_idle_ack. Default 10s.
	GoIdleTimeout time.Duration

	// DormantRedial is the first wait after GoDormant closed the socket; it
	// does not advance the backoff counter. Default 1s.
	DormantRedial time.Duration

	// RedialHoldMax caps how long HoldRedial parks the supervisor.
	// Default 60s.
	RedialHoldMax time.Duration

	// CloseGrace is how long Close waits for calls still in flight before
	// it tears the connection down. Default 1.5s, the reference gateway's
	// grace for its default 5s disconnect budget.
	CloseGrace time.Duration

	// StableWindow is how long a connection must stay up after its first
	// descriptor for its end to reset the backoff counter. Default 60s.
	StableWindow time.Duration

	// BackoffBase and BackoffCap bound the reconnect ladder: the n-th wait
	// is drawn from [d/2, d] with d = min(BackoffBase·2^(n−1), BackoffCap).
	// Defaults 1s and 30s.
	BackoffBase time.Duration
	BackoffCap  time.Duration

	// HTTPTimeout bounds provision, enroll, policy and token requests.
	// Default 15s.
	HTTPTimeout time.Duration

	// MediaTimeout bounds one media upload or download. Default 30s.
	MediaTimeout time.Duration

	// MaxFrameSize caps one inbound frame, newline excluded; a bigger one
	// closes the socket 1009. Default contract.MaxFrameSize (1 MiB).
	MaxFrameSize int

	// MaxQueuedDeliveries bounds the inbound deliveries waiting for or
	// running in handlers. When it is reached the reader stops reading
	// until a handler finishes, pushing back on the connector through
	// TCP. Default 1024.
	MaxQueuedDeliveries int

	// SessionKeyOptions are the isolation flags used to compute each
	// delivery's session key, which orders handler calls and routes
	// interrupts. Default contract.DefaultSessionKeyOptions().
	SessionKeyOptions *contract.SessionKeyOptions

	// OnState is called for every state change, one at a time, in order.
	// It must return quickly and must not call Close.
	OnState func(StateEvent)

	// deviations make the client break contract requirements on purpose,
	// for the conformance self-check; set with deviation.Apply
	// (deviations.go).
	deviations deviation.Set

	// Getenv and ConfigPath are used by Boot only. When Getenv is set, Boot
	// resolves configuration with LoadConfig(Getenv, ConfigPath) and fills
	// every field Config leaves empty. An empty ConfigPath means
	// DefaultConfigPath(Getenv); "-" reads no file.
	Getenv     func(string) string
	ConfigPath string
}

// Bool returns a pointer to b, for Options.Reconnect.
func Bool(b bool) *bool { return &b }

// settings is Options with every default applied.
type settings struct {
	Options
	reconnect bool
	sessKeys  contract.SessionKeyOptions
}

func resolve(o Options) settings {
	s := settings{Options: o, reconnect: o.Reconnect == nil || *o.Reconnect}
	s.Clock = clock.OrReal(o.Clock)
	if s.Rand == nil {
		s.Rand = rand.Float64
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	dur := func(p *time.Duration, def time.Duration) {
		if *p == 0 {
			*p = def
		}
	}
	dur(&s.OutboundTimeout, contract.DefaultOutboundTimeout)
	dur(&s.HandshakeTimeout, contract.DefaultHandshakeTimeout)
	dur(&s.DialTimeout, 10*time.Second)
	dur(&s.PingInterval, contract.DefaultPingInterval)
	dur(&s.PingTimeout, contract.DefaultPingTimeout)
	dur(&s.TokenTTL, contract.DefaultTokenTTL)
	dur(&s.GoIdleTimeout, 10*time.Second)
	dur(&s.DormantRedial, time.Second)
	dur(&s.RedialHoldMax, 60*time.Second)
	dur(&s.CloseGrace, 1500*time.Millisecond)
	dur(&s.StableWindow, contract.StableConnection)
	dur(&s.BackoffBase, contract.BackoffBase)
	dur(&s.BackoffCap, contract.BackoffCap)
	dur(&s.HTTPTimeout, 15*time.Second)
	dur(&s.MediaTimeout, 30*time.Second)
	if s.MaxFrameSize <= 0 {
		s.MaxFrameSize = contract.MaxFrameSize
	}
	if s.MaxQueuedDeliveries <= 0 {
		s.MaxQueuedDeliveries = 1024
	}
	s.sessKeys = contract.DefaultSessionKeyOptions()
	if o.SessionKeyOptions != nil {
		s.sessKeys = *o.SessionKeyOptions
	}
	return s
}
