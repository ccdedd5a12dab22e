package client

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// Why a connection did not come up. Connect's errors, and the errors of
// StateEvent.Err and Err, wrap one of these when it applies; test with
// errors.Is. *ConnectError, *DialError and *CloseError carry the details.
var (
	// ErrRefused: the connector could not be reached, or refused the
	// upgrade at the HTTP level: connection refused, a DNS or TLS failure,
	// or an HTTP status instead of 101 (a *DialError says which). Check
	// GATEWAY_RELAY_URL and that the connector runs.
	ErrRefused = errors.New("connector unreachable or upgrade refused")
	// ErrUnauthorized: the connector closed the socket 4401
	// "unauthorized": the gateway id or secret is wrong, or the gateway
	// was revoked.
	ErrUnauthorized = errors.New("token refused: 4401 unauthorized")
	// ErrTokenExpired: the connector closed the socket 4401 "expired": the
	// token was past its exp on arrival, which means the two clocks are
	// apart by more than Options.TokenTTL (or the machine froze mid-dial).
	ErrTokenExpired = errors.New("token refused: 4401 expired")
	// ErrNoDescriptor: the socket opened and the hellos went out, but no
	// descriptor came back: the connector fronts none of the platforms the
	// client named for this gateway (it closes 1008 "platform not fronted"
	// or "no hello"), or it did not answer within
	// Options.HandshakeTimeout, or Connect's context ended first.
	ErrNoDescriptor = errors.New("no descriptor: the connector answered no hello")
	// ErrTimeout: a dial got no answer: the upgrade took longer than
	// Options.DialTimeout, or Connect's context ended while it was still
	// waiting (something listens there but does not answer HTTP).
	ErrTimeout = errors.New("no answer to the upgrade in time")
)

// DialError is a dial that did not open a socket. It matches ErrRefused,
// or ErrTimeout when the upgrade took too long.
type DialError struct {
	// URL is the dial URL, user info redacted.
	URL string
	// StatusCode is the HTTP status the connector answered instead of
	// 101 Switching Protocols; 0 when there was no answer.
	StatusCode int
	// Timeout is set when Options.DialTimeout ran out.
	Timeout time.Duration
	// Err is the underlying error.
	Err error
}

func (e *DialError) Error() string {
	switch {
	case e.StatusCode != 0:
		return fmt.Sprintf("failed to dial %s: HTTP %d: %v", e.URL, e.StatusCode, e.Err)
	case e.Timeout != 0:
		return fmt.Sprintf("failed to dial %s: timed out after %s", e.URL, e.Timeout)
	}
	return fmt.Sprintf("failed to dial %s: %v", e.URL, e.Err)
}

func (e *DialError) Unwrap() error { return e.Err }

// Is reports whether e is an ErrRefused or an ErrTimeout.
func (e *DialError) Is(target error) bool {
	return (target == ErrRefused && e.Timeout == 0) || (target == ErrTimeout && e.Timeout != 0)
}

// CloseError is a connection that ended: the close code and reason the
// connector sent (1006 when the socket died without a close frame), or the
// ones the client sent when it closed. Before
// a handshake it matches ErrUnauthorized or ErrTokenExpired for a 4401,
// and ErrNoDescriptor for a close that says no platform was fronted, or the
// client's own close when no descriptor came in time.
type CloseError struct {
	Code   int
	Reason string
	// Handshaked is set when a descriptor had arrived on the connection.
	Handshaked bool
	// ByClient is set when the client closed it (no descriptor in time,
	// an invalid descriptor, no pong, a frame too large, Close,
	// GoDormant); Code and Reason are then the ones it sent.
	ByClient bool
	// noDescriptor: the client closed it because no descriptor came.
	noDescriptor bool
}

func (e *CloseError) Error() string {
	if e.ByClient {
		return "relay connection closed by the client: " + describeClose(e.Code, e.Reason)
	}
	return "relay connection ended: " + describeClose(e.Code, e.Reason)
}

// Is reports whether e matches ErrUnauthorized, ErrTokenExpired or
// ErrNoDescriptor.
func (e *CloseError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.Code == contract.CloseUnauthorized && e.Reason != contract.ReasonExpired
	case ErrTokenExpired:
		return e.Code == contract.CloseUnauthorized && e.Reason == contract.ReasonExpired
	case ErrNoDescriptor:
		return !e.Handshaked && (e.noDescriptor || (e.Code == contract.ClosePolicyViolation &&
			(e.Reason == contract.ReasonPlatformNotFronted || e.Reason == contract.ReasonNoHello)))
	}
	return false
}

// ConnectError is what Connect returns when its context ends before the
// handshake: what the dials ran into, not a bare "context deadline
// exceeded". It matches the context's error and, through Err, the
// sentinel that says why (ErrRefused, ErrUnauthorized, ErrTokenExpired,
// ErrNoDescriptor, ErrTimeout).
type ConnectError struct {
	// URL is the dial URL, user info redacted.
	URL string
	// Platforms are the identities the client sent hellos for.
	Platforms []string
	// Dials counts the dials started.
	Dials int
	// Err is why: the failure of the last dial or connection, or, when
	// the context ended in the middle of one, what it was waiting for (an
	// answer to the upgrade: ErrTimeout; a descriptor: ErrNoDescriptor).
	// Nil when no dial had started.
	Err error
	// Ctx is the context's error.
	Ctx error
}

func (e *ConnectError) Error() string {
	var why string
	switch {
	case e.Err == nil:
		why = "no dial had started"
	case errors.Is(e.Err, ErrUnauthorized):
		why = "the connector refused the token as unauthorized (wrong gateway id or secret, or revoked): " + e.Err.Error()
	case errors.Is(e.Err, ErrTokenExpired):
		why = "the connector refused the token as expired (are the two clocks apart?): " + e.Err.Error()
	case errors.Is(e.Err, ErrNoDescriptor):
		why = fmt.Sprintf("no descriptor for %s: %v", strings.Join(e.Platforms, ", "), e.Err)
	case errors.Is(e.Err, ErrTimeout):
		why = "the connector did not answer: " + e.Err.Error()
	case errors.Is(e.Err, ErrRefused):
		why = "the connector is unreachable or refused the upgrade: " + e.Err.Error()
	default:
		why = e.Err.Error()
	}
	return fmt.Sprintf("failed to connect to %s: %s (%d dial(s); %v)", e.URL, why, e.Dials, e.Ctx)
}

// Unwrap returns Err and Ctx, so errors.Is sees both.
func (e *ConnectError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Ctx}
	}
	return []error{e.Err, e.Ctx}
}

// connectTrace follows the supervisor for Connect's error: what it is
// doing, since when, and how the last dial or connection failed.
type connectTrace struct {
	mu    sync.Mutex
	phase tracePhase
	since time.Time
	dials int
	last  error
}

type tracePhase int

const (
	phaseNone    tracePhase = iota // no dial yet
	phaseDialing                   // an upgrade in flight
	phaseOpen                      // a socket open, waiting for its descriptor
	phaseWaiting                   // between dials
)

func (t *connectTrace) dialing(now time.Time) {
	t.mu.Lock()
	t.phase, t.since = phaseDialing, now
	t.dials++
	t.mu.Unlock()
}

func (t *connectTrace) open(now time.Time) {
	t.mu.Lock()
	t.phase, t.since = phaseOpen, now
	t.mu.Unlock()
}

func (t *connectTrace) failed(err error) {
	t.mu.Lock()
	t.phase, t.last = phaseWaiting, err
	t.mu.Unlock()
}

// connectError builds Connect's error when its context ended.
func (c *Client) connectError(ctxErr error) error {
	t := &c.trace
	t.mu.Lock()
	defer t.mu.Unlock()
	e := &ConnectError{URL: c.safeURL, Dials: t.dials, Err: t.last, Ctx: ctxErr}
	for _, id := range c.ids {
		e.Platforms = append(e.Platforms, id.Platform)
	}
	waited := c.clk.Now().Sub(t.since).Round(time.Millisecond)
	switch t.phase {
	case phaseDialing:
		e.Err = fmt.Errorf("%w: the upgrade of dial %d has had no answer for %s", ErrTimeout, t.dials, waited)
	case phaseOpen:
		e.Err = fmt.Errorf("%w: the socket of dial %d is open and its hellos went out %s ago", ErrNoDescriptor, t.dials, waited)
	}
	return e
}
