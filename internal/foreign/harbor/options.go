package harbor

import (
	"log/slog"
	"time"

	"github.com/relaykit/relaykit/clock"
)

// Options configure a Server. The zero value is a conformant harbor with
// its control API on a second loopback port.
type Options struct {
	// Addr is where the relay port listens. Default "127.0.0.1:0".
	Addr string
	// ControlAddr is where the testee control API listens. Default
	// "127.0.0.1:0". Ignored with NoControl.
	ControlAddr string
	// NoControl runs harbor credentials-only: no control API at all. Gateway
	// (or a generated one) is the only enrolled gateway.
	NoControl bool
	// ControlToken, when set, is required as "Authorization: Bearer" on every
	// control request.
	ControlToken string

	// Gateway is enrolled at start. Its empty fields are filled in: ID
	// "harbor-gw", a random 64-hex secret, every platform, tenant
	// "harbor-tenant". With NoControl a gateway is always enrolled.
	Gateway *GatewaySpec
	// IdentityTokens are the identity bearers /relay/provision and
	// /relay/enroll accept, mapped to their tenant. Default none: every
	// provision and enroll is answered 401.
	IdentityTokens map[string]string
	// OpenChats are chats harbor-mail accepts sends to before any event was
	// seen in them. Default ["harbor-lobby"]. harbor-sms accepts any chat.
	OpenChats []string

	// DuplicatePolicy is the RC-002 policy for a second socket of one
	// instance: "allow" (default), "replace" or "reject".
	DuplicatePolicy string
	// PingInterval is the keepalive ping interval. Default 30 s; negative
	// disables keepalive.
	PingInterval time.Duration
	// PingTimeout closes a socket 1011 "keepalive timeout" when a ping has
	// no pong this long. Default 60 s.
	PingTimeout time.Duration
	// HelloTimeout closes a socket that sent no hello with 1008 "no hello".
	// Default 30 s.
	HelloTimeout time.Duration
	// UnfrontedGrace is how long after an unfronted hello harbor waits for a
	// fronted one before closing 1008 "platform not fronted"; never later
	// than HelloTimeout after the socket opened. Default 5 s.
	UnfrontedGrace time.Duration
	// WakeCooldown is the least time between two wake requests of one
	// instance. Default 45 s.
	WakeCooldown time.Duration
	// RotationWindow is how long the previous secret stays valid after a
	// rotation. Default 10 minutes.
	RotationWindow time.Duration
	// MediaTTL is how long uploaded media stays downloadable. Default 2 h.
	MediaTTL time.Duration

	// Clock drives every timer and token expiry. Default the real clock.
	Clock clock.Clock
	// Logger receives harbor's journal. Default: discarded.
	Logger *slog.Logger

	// Deviation plants one deliberate bug; see Deviations. Empty: none.
	Deviation string
}

// GatewaySpec describes a gateway to enroll.
type GatewaySpec struct {
	ID        string   `json:"gatewayId"`
	Secret    string   `json:"secret,omitempty"`
	Platforms []string `json:"platforms,omitempty"`
	Tenant    string   `json:"tenant,omitempty"`
	Instance  string   `json:"instanceId,omitempty"`
	WakeURL   string   `json:"wakeUrl,omitempty"`
}

// Limits every retained structure is bounded by. A limit hit is answered as
// documented next to each.
const (
	maxFrameBytes     = 1<<20 - 1        // TRN-007/TRN-009: larger frames close 1009 (a frame and its newline fit 1 MiB)
	maxQueuedFrames   = 2048             // per socket; past it the socket closes 1013
	maxBufferEntries  = 10000            // per instance; /inbound answers 507
	maxBufferBytes    = 64 << 20         // per instance; /inbound answers 507
	maxMediaBytes     = 26214400         // HTTP-018: larger uploads are 413
	maxMediaTotal     = 512 << 20        // all tenants; uploads past it are 507
	maxMediaItems     = 4096             // all tenants; uploads past it are 507
	maxOutboundLog    = 2000             // per gateway, oldest dropped
	maxSessionKeys    = 20000            // per tenant, oldest dropped
	maxMessages       = 20000            // per tenant, oldest forgotten (then not_found)
	maxGateways       = 10000            // control API answers 507
	maxControlBody    = 2 << 20          // control and relay JSON bodies
	maxChats          = 20000            // per tenant
	wakeTimeout       = 5 * time.Second  // a wake GET is given up after this
	closeWriteTimeout = 5 * time.Second  // bound on a close handshake
	writeTimeout      = 10 * time.Second // bound on one frame write
)

func (o *Options) defaults() {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.ControlAddr == "" {
		o.ControlAddr = "127.0.0.1:0"
	}
	if o.OpenChats == nil {
		o.OpenChats = []string{"harbor-lobby"}
	}
	if o.DuplicatePolicy == "" {
		o.DuplicatePolicy = "allow"
	}
	if o.PingInterval == 0 {
		o.PingInterval = 30 * time.Second
	}
	if o.PingTimeout == 0 {
		o.PingTimeout = 60 * time.Second
	}
	if o.HelloTimeout == 0 {
		o.HelloTimeout = 30 * time.Second
	}
	if o.UnfrontedGrace == 0 {
		o.UnfrontedGrace = 5 * time.Second
	}
	if o.WakeCooldown == 0 {
		o.WakeCooldown = 45 * time.Second
	}
	if o.RotationWindow == 0 {
		o.RotationWindow = 10 * time.Minute
	}
	if o.MediaTTL == 0 {
		o.MediaTTL = 2 * time.Hour
	}
	o.Clock = clock.OrReal(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}
