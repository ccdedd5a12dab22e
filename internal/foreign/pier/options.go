package pier

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/relaykit/relaykit/clock"
)

// Defaults of Options.
const (
	DefaultAddr           = "127.0.0.1:0"
	DefaultKnownChat      = "pier-lobby"
	DefaultTenant         = "harbourmaster"
	DefaultDrainWindow    = 3
	DefaultHelloWindow    = 3 * time.Second
	DefaultNoHelloAfter   = 25 * time.Second
	DefaultPingInterval   = 27 * time.Second
	DefaultPingTimeout    = 60 * time.Second
	DefaultRotationWindow = 10 * time.Minute
	DefaultDuplicateGrace = 300 * time.Millisecond
	DefaultMaxSockets     = 256
	DefaultMaxGateways    = 4096
	DefaultMaxBuffered    = 1000
	DefaultMaxBufferBytes = 8 << 20
	DefaultMaxRemembered  = 4096
	DefaultMaxQueued      = 2048
	DefaultMaxQueuedBytes = 16 << 20
)

// Gateway is a gateway enrolled when the server starts, as if POST /gateways
// had been called with it.
type Gateway struct {
	// GatewayID is required.
	GatewayID string
	// Secret is required.
	Secret string
	// Platforms defaults to every platform pier fronts.
	Platforms []string
	// InstanceID defaults to GatewayID.
	InstanceID string
	// Tenant defaults to DefaultTenant.
	Tenant string
}

// Options configure a Server. The zero value is valid: every field
// documents its default.
type Options struct {
	// Addr is the address of the relay listener (/relay and nothing else).
	// Default "127.0.0.1:0".
	Addr string
	// ControlAddr is the address of the testee control listener, a
	// separate port (pier keeps its test hooks off the relay's origin).
	// Default "127.0.0.1:0".
	ControlAddr string
	// ControlToken, when set, must be presented as a Bearer token on every
	// control request. Default "": the control API is open, so bind it to
	// loopback only.
	ControlToken string

	// KnownChat is the one chat every gateway may post to on every
	// platform without a user having written there first. Sends to any
	// other chat pier has not seen in an inbound event for the gateway's
	// tenant and platform are answered not_found. Default "pier-lobby".
	KnownChat string

	// Gateways are enrolled at start.
	Gateways []Gateway

	// DrainWindow is how many replayed buffer entries may be unacknowledged
	// at once (IDLE-011). Default 3.
	DrainWindow int
	// HelloWindow is how long after a connection's first hello pier waits
	// for a hello that names a fronted platform before it closes 1008
	// "platform not fronted" (HS-014; never later than 30 s after the
	// socket opened). While it runs, a replay waits for the hello of an
	// entry's platform instead of skipping the entry. Default 3 s.
	HelloWindow time.Duration
	// NoHelloAfter closes a socket that sent no hello at all with 1008
	// "no hello" (HS-017). Default 25 s; at most 30 s.
	NoHelloAfter time.Duration
	// PingInterval and PingTimeout drive keepalive (TRN-011): a ping every
	// PingInterval and a close 1011 "keepalive timeout" when a ping is
	// still unanswered PingTimeout after it was sent. Defaults 27 s and
	// 60 s; a negative PingInterval disables pings.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// RotationWindow is how long the previous secret stays valid after a
	// rotation. Default 10 min.
	RotationWindow time.Duration
	// DuplicateGrace is how long a second socket of an instance waits for
	// the first to finish closing before pier rejects it with 4409
	// "duplicate" (RC-002, policy reject). A gateway that closed its old
	// socket and dials at once is not refused for the few milliseconds
	// the old socket needs to go away. Default 300 ms.
	DuplicateGrace time.Duration

	// MaxSockets bounds concurrent relay sockets; a socket beyond it is
	// shed with 1013 (RC-003). Default 256.
	MaxSockets int
	// MaxGateways bounds enrolled gateways; POST /gateways answers 507
	// beyond it. Default 4096.
	MaxGateways int
	// MaxBuffered and MaxBufferBytes bound each instance's buffer; POST
	// /inbound answers 507 when an event does not fit. Defaults 1000
	// entries and 8 MiB.
	MaxBuffered    int
	MaxBufferBytes int
	// MaxRemembered bounds, per tenant, the chats, messages, threads and
	// session keys pier remembers; the oldest are forgotten first (and
	// then answer not_found). Default 4096 of each.
	MaxRemembered int
	// MaxQueued and MaxQueuedBytes bound each socket's write queue; a
	// socket whose gateway does not read is closed 1011. Defaults 2048
	// frames and 16 MiB.
	MaxQueued      int
	MaxQueuedBytes int

	// Clock drives every timer and token expiry. Default the wall clock.
	Clock clock.Clock
	// Logger receives pier's journal (unfronted hellos, no-op acks,
	// refusals). Default: discarded.
	Logger *slog.Logger

	// LateCloseNotice makes pier slow to notice a socket the gateway
	// closed: the instance keeps a ghost of the socket, the next event
	// injected for it (one event per ended socket) is reported "live" and
	// written to the dead socket, and when that write fails the event is
	// buffered as the newest entry, with a bufferId, as if never written.
	// Only then does pier know the socket is gone; a new connection of the
	// instance forgets the ghost first. It is conformant: IDLE-007 requires
	// an event that was not written to be buffered, not a connector that
	// sees a close the instant it happens, and real connectors learn of a
	// dead socket from a failed read or write. Only a socket that was
	// delivering live leaves a ghost, and only for its platforms; a close
	// pier decided on leaves none. Default false: pier notices at once.
	LateCloseNotice bool

	// Deviation plants one connector bug by name (see Deviations). Default
	// "": conformant.
	Deviation string
}

type config struct {
	Options
	clk clock.Clock
	dev string
}

func (o Options) resolve() (config, error) {
	c := config{Options: o}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.ControlAddr == "" {
		c.ControlAddr = DefaultAddr
	}
	if c.KnownChat == "" {
		c.KnownChat = DefaultKnownChat
	}
	defInt(&c.DrainWindow, DefaultDrainWindow)
	def(&c.HelloWindow, DefaultHelloWindow)
	def(&c.NoHelloAfter, DefaultNoHelloAfter)
	def(&c.PingInterval, DefaultPingInterval)
	def(&c.PingTimeout, DefaultPingTimeout)
	def(&c.RotationWindow, DefaultRotationWindow)
	def(&c.DuplicateGrace, DefaultDuplicateGrace)
	defInt(&c.MaxSockets, DefaultMaxSockets)
	defInt(&c.MaxGateways, DefaultMaxGateways)
	defInt(&c.MaxBuffered, DefaultMaxBuffered)
	defInt(&c.MaxBufferBytes, DefaultMaxBufferBytes)
	defInt(&c.MaxRemembered, DefaultMaxRemembered)
	defInt(&c.MaxQueued, DefaultMaxQueued)
	defInt(&c.MaxQueuedBytes, DefaultMaxQueuedBytes)
	if c.NoHelloAfter > 30*time.Second {
		return c, fmt.Errorf("pier: NoHelloAfter %s is over the 30 s of HS-017", c.NoHelloAfter)
	}
	if c.HelloWindow > 30*time.Second {
		return c, fmt.Errorf("pier: HelloWindow %s is over the 30 s of HS-014", c.HelloWindow)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.clk = clock.OrReal(c.Clock)
	if c.Deviation != "" {
		if _, ok := deviationByName(c.Deviation); !ok {
			return c, fmt.Errorf("pier: unknown deviation %q (see pier.Deviations)", c.Deviation)
		}
		c.dev = c.Deviation
	}
	return c, nil
}

// deviant reports whether the planted deviation is name.
func (c *config) deviant(name string) bool { return c.dev == name }
