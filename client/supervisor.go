package client

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// supervisor is the part of a Client that keeps it connected: the one
// goroutine that dials (supervise), the reconnection ladder and the
// fresh-token retry, the credentials each dial authenticates with, the
// lifecycle flags (idle, dormant, redial hold, closing) and the state
// events. It supervises one session at a time, the live conn; everything a
// connection's end must not lose lives in the Client beside it.
type supervisor struct {
	dialHC  *http.Client // WebSocket upgrades
	dialTr  *http.Transport
	dialURL string
	// safeURL is dialURL with any user info redacted, for errors and logs:
	// a reverse proxy's basic-auth credentials must not leak (S-7).
	safeURL string

	state   atomic.Int32 // a State
	emitMu  sync.Mutex   // keeps state events in order
	closing atomic.Bool  // Close has started

	// mu guards the fields below it.
	mu             sync.Mutex
	creds          credentials
	staleToken     string
	started        bool
	termErr        error
	everHandshaked bool // a descriptor was received in this client's life
	fresh          bool // the next dial is the fresh-token retry
	attempt        int  // backoff waits since the last stable connection
	dormant        bool
	held           bool
	holdSince      time.Time
	holdRelease    chan struct{}
	idleWaiters    []chan struct{}
	connSeq        uint64

	firstHS     chan struct{} // closed on the first descriptor ever
	firstHSOnce sync.Once
	done        chan struct{} // closed on a terminal state
	doneOnce    sync.Once
	closed      chan struct{} // closed when Close has finished
	supCtx      context.Context
	supCancel   context.CancelFunc
	supDone     chan struct{} // closed when supervise returned

	trace connectTrace // what the supervisor does, for Connect's error
}

// credentials are the gateway id and secret the client authenticates with.
// They live in memory only; Boot may fill them by provisioning.
type credentials struct {
	gatewayID, secret, deliveryKey string
}

// Connect starts the connection supervisor and waits until the first
// descriptor arrives (the handshake), the client reaches a terminal state,
// or ctx ends. When ctx ends first, Connect returns a *ConnectError that
// says why the connection is not up, matching ctx's error and one of
// ErrRefused, ErrUnauthorized, ErrTokenExpired, ErrNoDescriptor and
// ErrTimeout (errors.Is); the supervisor keeps dialling in the background,
// so call Close to stop it. A terminal state returns Err: with
// Options.Reconnect off, the first failure, which matches the same
// sentinels. Calling Connect again only waits.
func (c *Client) Connect(ctx context.Context) error {
	c.mu.Lock()
	if c.closing.Load() {
		c.mu.Unlock()
		return ErrClosed
	}
	if !c.started {
		c.started = true
		go c.supervise()
	}
	c.mu.Unlock()
	select {
	case <-c.firstHS:
		return nil
	case <-c.done:
		return c.Err()
	case <-ctx.Done():
		return c.connectError(ctx.Err())
	}
}

// Done returns a channel closed when the client reaches a terminal state:
// revoked, or closed.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client stopped: ErrRevoked, ErrClosed, or the error
// that ended the connection with reconnection disabled. It returns nil
// while the client is alive.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.termErr
}

// terminate moves the client to a terminal state once.
func (c *Client) terminate(st State, err error) {
	first := false
	c.doneOnce.Do(func() {
		first = true
		c.mu.Lock()
		c.termErr = err
		c.mu.Unlock()
	})
	if !first {
		return
	}
	c.emit(StateEvent{State: st, Err: err, Attempt: c.attemptNow()})
	close(c.done)
}

func (c *Client) attemptNow() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.attempt
}

// plan is what the supervisor does after a connection or dial ended.
type plan struct {
	stop     bool          // terminal, or Close: no further dial
	wait     time.Duration // sleep before the next dial
	state    State         // StateReconnecting or StateDormant while waiting
	terminal State         // when stop is set by a terminal condition
	err      error
	code     int // close code of the connection that ended, 0 for a dial error
	reason   string
}

// supervise is the one and only dialer of a client. Because a single
// goroutine owns every dial, two dials can never race, and the fresh-token
// retry is simply "the next dial this goroutine makes".
//
// Its rules are the reference gateway's newest ones (fact sheet §10):
//   - waits are drawn from [d/2, d] with d = min(base·2^(n−1), cap), n
//     counting every backoff wait since the last stable connection;
//   - a connection resets n only if it stayed up StableWindow after its
//     first descriptor, so a connector that crashes right after each
//     handshake keeps climbing the ladder;
//   - a 4401 before any descriptor was ever received is an ordinary
//     retryable failure (a provisioning race);
//   - the first 4401 after a handshake triggers one immediate re-dial with
//     a fresh token, and a 4401 on the connection that dial opened is
//     terminal revocation; the marker survives dial failures that never
//     reached authentication;
//   - a 4401 with reason "expired" is never terminal;
//   - HTTP refusals on the upgrade, 1013 and every other code are
//     ordinary retryable failures;
//   - after GoDormant the first wait is DormantRedial and n is unchanged.
func (c *Client) supervise() {
	defer close(c.supDone)
	next := plan{}
	for {
		if next.stop {
			if next.terminal != 0 {
				c.terminate(next.terminal, next.err)
			}
			return
		}
		if next.wait > 0 || next.state != 0 {
			if !c.sleep(next) {
				return
			}
		}
		if !c.awaitHold() {
			return
		}
		if c.closing.Load() {
			return
		}
		c.mu.Lock()
		fresh := c.fresh
		attempt := c.attempt
		c.mu.Unlock()
		c.emit(StateEvent{State: StateConnecting, Attempt: attempt, FreshToken: fresh})
		c.trace.dialing(c.clk.Now())
		cn, err := c.dialConn(c.supCtx, fresh)
		if err != nil {
			if c.supCtx.Err() != nil {
				return
			}
			c.trace.failed(err)
			c.log.Warn("relay dial failed", slog.String("err", err.Error()), slog.Bool("fresh_token", fresh))
			next = c.planAfterDialError(err)
			continue
		}
		c.trace.open(c.clk.Now())
		if !c.install(cn) {
			<-cn.done
			return
		}
		cn.sendHellos()
		<-cn.done
		c.cur.CompareAndSwap(cn, nil)
		next = c.planAfterConn(cn)
	}
}

// install makes cn the live connection unless Close has started, in which
// case it closes cn instead. Close reads c.cur under the same lock, so
// either it sees cn or install sees the closing flag.
func (c *Client) install(cn *conn) bool {
	c.mu.Lock()
	if c.closing.Load() {
		c.mu.Unlock()
		cn.closeWith(contract.CloseNormal, "", whyClient)
		return false
	}
	if cn.second {
		// The marker moves onto the connection: it keeps second-strike
		// status for its whole life, and the next connection starts clean.
		c.fresh = false
	}
	attempt := c.attempt
	c.cur.Store(cn)
	c.mu.Unlock()
	c.emit(StateEvent{State: StateConnected, Attempt: attempt, FreshToken: cn.second})
	// The reader may already have the first descriptor; whichever of the
	// two sees the other's flag under cn.mu reports the handshake, so it
	// is reported exactly once and always after "connected".
	cn.mu.Lock()
	cn.installed = true
	c.descs.Store(cn.descs.Load())
	hs := cn.hsDone.Load()
	cn.mu.Unlock()
	if hs {
		d, _ := cn.descs.Load().lookup("")
		c.reportHandshake(d.Platform)
	}
	return true
}

// planAfterDialError: dial errors never reached authentication, so they
// leave the fresh-token marker alone and take the ordinary ladder.
func (c *Client) planAfterDialError(err error) plan {
	if !c.opts.reconnect {
		return plan{stop: true, terminal: StateClosed, err: err}
	}
	p := plan{state: StateReconnecting, wait: c.nextBackoff(), err: err}
	return p
}

// planAfterConn decides what follows the end of cn.
func (c *Client) planAfterConn(cn *conn) plan {
	if c.closing.Load() {
		return plan{stop: true}
	}
	why := cn.closeReason()
	hs := cn.hsDone.Load()
	closeErr := &CloseError{Code: cn.code, Reason: cn.reason, Handshaked: hs}
	if why != whyNone {
		// What the client sent says why; the peer's echo (or a 1006
		// when none came) does not.
		closeErr.Code, closeErr.Reason = cn.sentClose()
		closeErr.ByClient = true
		closeErr.noDescriptor = !hs && why == whyProtocol && closeErr.Reason == reasonNoDescriptor
	}
	c.trace.failed(closeErr)
	stable := cn.hsDone.Load() && c.clk.Now().Sub(cn.firstDescTime()) >= c.opts.StableWindow
	c.mu.Lock()
	if stable {
		c.attempt = 0
	}
	everHS := c.everHandshaked
	c.mu.Unlock()

	p := c.planAfterClose(cn, why, everHS, closeErr)
	p.code, p.reason = cn.code, cn.reason
	return p
}

func (c *Client) planAfterClose(cn *conn, why closeWhy, everHS bool, closeErr error) plan {
	if why == whyDormant {
		return plan{state: StateDormant, wait: c.opts.DormantRedial, err: closeErr}
	}
	if cn.code == contract.CloseUnauthorized && why == whyNone {
		expired := cn.reason == contract.ReasonExpired && !c.dev.Has(deviation.ClientExpiredIsTerminal)
		switch {
		case expired:
			// The token aged out (a frozen machine, a slow dial): never a
			// revocation, whatever came before.
		case cn.second && !c.dev.Has(deviation.ClientSecond4401NotTerminal):
			c.log.Error("relay secret revoked: the fresh-token connection was refused with 4401",
				slog.String("reason", cn.reason))
			return plan{stop: true, terminal: StateRevoked, err: ErrRevoked}
		case everHS:
			c.mu.Lock()
			c.fresh = true
			c.mu.Unlock()
			c.log.Warn("relay got 4401 after a handshake; re-dialling once with a fresh token",
				slog.String("reason", cn.reason))
			return plan{state: StateReconnecting, wait: 0, err: closeErr}
		}
	}
	if !c.opts.reconnect {
		return plan{stop: true, terminal: StateClosed, err: errors.Join(ErrConnectionLost, closeErr)}
	}
	return plan{state: StateReconnecting, wait: c.nextBackoff(), err: closeErr}
}

func (cn *conn) firstDescTime() time.Time {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.firstDescAt
}

// nextBackoff advances the attempt counter and returns the jittered wait.
func (c *Client) nextBackoff() time.Duration {
	if c.dev.Has(deviation.ClientNoBackoff) {
		return 0
	}
	c.mu.Lock()
	c.attempt++
	n := c.attempt
	c.mu.Unlock()
	return backoff(n, c.opts.BackoffBase, c.opts.BackoffCap, c.opts.Rand)
}

// backoff returns the n-th wait: uniform in [d/2, d] with
// d = min(base·2^(n−1), cap).
func backoff(n int, base, cap time.Duration, rnd func() float64) time.Duration {
	if base <= 0 || n <= 0 {
		return 0
	}
	d := cap
	if n-1 < 40 {
		if v := base << (n - 1); v > 0 && v < cap {
			d = v
		}
	}
	lo := d / 2
	f := rnd()
	if f < 0 {
		f = 0
	}
	if f > 1 {
		f = 1
	}
	return lo + time.Duration(f*float64(d-lo))
}

// sleep waits out p.wait on the clock, reporting the wait first. The timer
// is armed before the event goes out, so an observer that advances a manual
// clock on the event always wakes the supervisor.
func (c *Client) sleep(p plan) bool {
	c.mu.Lock()
	attempt := c.attempt
	c.mu.Unlock()
	ev := StateEvent{State: p.state, Wait: p.wait, Attempt: attempt, Err: p.err}
	ev.Code, ev.Reason = p.code, p.reason
	if p.wait <= 0 {
		c.emit(ev)
		return c.supCtx.Err() == nil
	}
	t := c.clk.NewTimer(p.wait)
	defer t.Stop()
	c.emit(ev)
	select {
	case <-t.C():
		return true
	case <-c.supCtx.Done():
		return false
	}
}

// awaitHold parks the supervisor while HoldRedial is in force, at most
// RedialHoldMax from when the hold began.
func (c *Client) awaitHold() bool {
	c.mu.Lock()
	if !c.held {
		c.mu.Unlock()
		return true
	}
	rel := c.holdRelease
	left := c.opts.RedialHoldMax - c.clk.Now().Sub(c.holdSince)
	c.mu.Unlock()
	if left > 0 {
		t := c.clk.NewTimer(left)
		defer t.Stop()
		select {
		case <-rel:
			return true
		case <-t.C():
		case <-c.supCtx.Done():
			return false
		}
	}
	c.mu.Lock()
	if c.held && c.holdRelease == rel {
		c.log.Warn("relay redial hold expired", slog.Duration("max", c.opts.RedialHoldMax))
		c.held = false
		close(rel)
	}
	c.mu.Unlock()
	return true
}
