package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// Errors a Client reports. Results of outbound calls carry the same texts
// in their error field.
var (
	// ErrNotConnected: no live socket (between dials, or before Connect).
	ErrNotConnected = errors.New("relay transport not connected")
	// ErrClosed: Close has started.
	ErrClosed = errors.New("relay transport closed")
	// ErrConnectionLost: the socket died while the operation waited.
	ErrConnectionLost = errors.New("relay transport connection lost")
	// ErrRevoked: the connector refused the fresh-token dial with 4401, so
	// the gateway's secret is revoked. No further dial happens; restart
	// with new credentials.
	ErrRevoked = errors.New("relay auth revoked: 4401 on the fresh-token connection")
	// ErrGoIdleTimeout: going_idle_ack did not arrive in time.
	ErrGoIdleTimeout = errors.New("relay going_idle_ack not received in time")
)

// Client is the gateway side of one relay: it dials the connector, keeps
// the socket alive and re-dials it, correlates outbound calls with their
// results and hands inbound deliveries to a Handler. All methods are safe
// for concurrent use.
//
// A Client is three parts. The supervisor it embeds (supervisor.go) owns
// every dial, the reconnection ladder and the lifecycle (idle, dormant,
// hold, Close). The connection it supervises, a conn (conn.go), is one
// socket's session: its reader, keepalive, handshake and the calls waiting
// on it. What is left here outlives connections: the configuration, the
// outbound call machinery (request ids, timers, the in-flight count Close
// drains) and the inbound pipeline with its replay dedupe (pipeline.go,
// inbound.go).
type Client struct {
	supervisor

	opts    settings
	cfg     Config
	clk     clock.Clock
	log     *slog.Logger
	dev     deviation.Set
	hc      *http.Client // HTTP routes
	ids     []Identity
	idIndex map[string]int

	// The live session, and the newest session's descriptors, which
	// outlive it until the next handshake.
	cur   atomic.Pointer[conn]
	descs atomic.Pointer[descSet]

	// Outbound calls, on whichever connection is live.
	reqPrefix [16]byte // per-client random half of every requestId
	reqSeq    atomic.Uint64
	timers    sync.Pool // *callTimer on this client's clock
	inflight  atomic.Int64
	drained   chan struct{} // signalled when inflight drops to 0 while closing

	// Inbound deliveries, from every connection.
	baseCtx    context.Context // parent of handler contexts
	baseCancel context.CancelCauseFunc
	inq        *pipeline
	dd         *dedupe
}

// New returns a Client for opts without dialling. Call Connect to start it,
// or use Boot for the whole reference boot sequence.
func New(opts Options) (*Client, error) {
	s := resolve(opts)
	cfg := opts.Config.normalized()
	if cfg.URL == "" {
		return nil, errors.New("client: Config.URL is empty; set GATEWAY_RELAY_URL or gateway.relay_url")
	}
	dev := opts.deviations
	if err := dev.Check(deviation.Client); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	c := &Client{
		supervisor: supervisor{
			dialURL: contract.DialURL(cfg.URL),
			safeURL: redactURL(contract.DialURL(cfg.URL)),
			firstHS: make(chan struct{}),
			done:    make(chan struct{}),
			closed:  make(chan struct{}),
			supDone: make(chan struct{}),
			creds:   credentials{gatewayID: cfg.GatewayID, secret: cfg.Secret, deliveryKey: cfg.DeliveryKey},
		},
		opts:    s,
		cfg:     cfg,
		clk:     s.Clock,
		log:     s.Logger,
		dev:     dev,
		ids:     cfg.identities(),
		drained: make(chan struct{}, 1),
		dd:      newDedupe(512),
	}
	c.hc = safeHTTPClient(opts.HTTPClient, c.dev)
	c.dialHC, c.dialTr = dialClient(opts.HTTPClient)
	c.idIndex = make(map[string]int, len(c.ids))
	for i, id := range c.ids {
		if _, dup := c.idIndex[id.Platform]; !dup {
			c.idIndex[id.Platform] = i
		}
	}
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("client: failed to seed request ids: %w", err)
	}
	hex.Encode(c.reqPrefix[:], seed[:])
	c.baseCtx, c.baseCancel = context.WithCancelCause(context.Background())
	c.supCtx, c.supCancel = context.WithCancel(c.baseCtx)
	c.inq = newPipeline(c.baseCtx, s.MaxQueuedDeliveries)
	c.descs.Store(newDescSet())
	return c, nil
}

// Identities returns the identities the client fronts, in hello order. It
// is never empty: without configured platforms the single identity is
// ("relay", "").
func (c *Client) Identities() []Identity {
	return append([]Identity(nil), c.ids...)
}

// Fronts reports whether platform is one of the client's identities.
func (c *Client) Fronts(platform string) bool {
	_, ok := c.idIndex[platform]
	return ok
}

// GatewayID returns the gateway id the client authenticates as, which Boot
// may have learned by provisioning; "" in unauthenticated dev mode.
func (c *Client) GatewayID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.creds.gatewayID
}

// DialURL returns the normalised WebSocket URL the client dials.
func (c *Client) DialURL() string { return c.dialURL }

// BaseURL returns the connector's HTTP base URL.
func (c *Client) BaseURL() string { return contract.BaseURL(c.cfg.URL) }

// descSet is an immutable snapshot of one connection's descriptors.
type descSet struct {
	primary    contract.CapabilityDescriptor
	has        bool // primary is a real descriptor, not a placeholder
	byPlatform map[string]contract.CapabilityDescriptor
}

func newDescSet() *descSet { return &descSet{byPlatform: map[string]contract.CapabilityDescriptor{}} }

// with returns a copy of s with d added; the first descriptor becomes the
// primary and later ones never replace it.
func (s *descSet) with(d contract.CapabilityDescriptor) *descSet {
	n := &descSet{primary: s.primary, has: s.has, byPlatform: make(map[string]contract.CapabilityDescriptor, len(s.byPlatform)+1)}
	for k, v := range s.byPlatform {
		n.byPlatform[k] = v
	}
	if !n.has {
		n.primary, n.has = d, true
	}
	if d.Platform != "" {
		n.byPlatform[d.Platform] = d
	}
	return n
}

// lookup returns platform's descriptor, falling back to the primary for ""
// or an unknown platform.
func (s *descSet) lookup(platform string) (contract.CapabilityDescriptor, bool) {
	if platform != "" {
		if d, ok := s.byPlatform[platform]; ok {
			return d, true
		}
	}
	return s.primary, s.has
}

// Descriptor returns the capability descriptor of platform on the current
// connection, or the primary (first) descriptor when platform is "" or has
// none. Before any descriptor arrived on this connection it returns the
// reference placeholder: 4096 plain chars, edit only.
func (c *Client) Descriptor(platform string) contract.CapabilityDescriptor {
	if d, ok := c.descs.Load().lookup(platform); ok {
		return d
	}
	p := platform
	if p == "" {
		p = c.ids[0].Platform
	}
	return contract.PlaceholderDescriptor(p)
}

// Descriptors returns every descriptor received on the current connection,
// by platform.
func (c *Client) Descriptors() map[string]contract.CapabilityDescriptor {
	s := c.descs.Load()
	out := make(map[string]contract.CapabilityDescriptor, len(s.byPlatform))
	for k, v := range s.byPlatform {
		out[k] = v
	}
	return out
}

// nextRequestID returns 32 lowercase hex characters: a random per-client
// prefix and a counter. Unique for the client's life, and cheaper than
// reading crypto/rand per call.
func (c *Client) nextRequestID() string {
	if c.dev.Has(deviation.ClientRequestIDReuse) {
		return reusedRequestID
	}
	var b [32]byte
	copy(b[:16], c.reqPrefix[:])
	n := c.reqSeq.Add(1)
	const digits = "0123456789abcdef"
	for i := 31; i >= 16; i-- {
		b[i] = digits[n&0xf]
		n >>= 4
	}
	return string(b[:])
}

const reusedRequestID = "00000000000000000000000000000000"

// token returns the bearer for the next dial or HTTP call, or "" when the
// client has no credentials (dev mode).
func (c *Client) token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.creds.gatewayID == "" || c.creds.secret == "" {
		return ""
	}
	if c.dev.Has(deviation.ClientStaleToken) && c.staleToken != "" {
		return c.staleToken
	}
	ttl := c.opts.TokenTTL
	if ttl < 0 {
		ttl = 0
	}
	t := contract.MintTokenTTL(c.creds.gatewayID, c.creds.secret, c.clk.Now(), ttl)
	if c.dev.Has(deviation.ClientStaleToken) {
		c.staleToken = t
	}
	return t
}

// identity returns the identity of platform.
func (c *Client) identity(platform string) (Identity, bool) {
	i, ok := c.idIndex[platform]
	if !ok {
		return Identity{}, false
	}
	return c.ids[i], true
}

func lowerTrim(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// redactURL replaces the password of a URL's user info with "xxxxx"; a
// URL that does not parse is replaced whole, since it may hold anything.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparseable relay URL>"
	}
	if u.User != nil {
		u.User = url.User("xxxxx")
	}
	return u.Redacted()
}
