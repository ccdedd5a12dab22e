package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// GoIdle asks the connector to flip this instance to buffered-only delivery
// and waits for going_idle_ack, at most Options.GoIdleTimeout. The socket
// keeps serving meanwhile, so events that arrive in the flip window are
// still delivered live. It reports whether the ack came; false with
// ErrNotConnected when there is no socket, ErrGoIdleTimeout when the ack
// did not come in time, or ErrConnectionLost when the socket died first.
//
// Await the ack before tearing down: a connector only buffers (and wakes
// the instance) once the flip is durable.
func (c *Client) GoIdle(ctx context.Context) (bool, error) {
	if c.closing.Load() {
		return false, ErrClosed
	}
	cn := c.cur.Load()
	if cn == nil {
		return false, ErrNotConnected
	}
	ack := make(chan struct{})
	c.mu.Lock()
	c.idleWaiters = append(c.idleWaiters, ack)
	c.mu.Unlock()
	defer c.dropIdleWaiter(ack)
	if err := cn.sendFrame(contract.GoingIdle{}); err != nil {
		return false, wrapSend(err)
	}
	if c.dev.Has(deviation.ClientNoGoingIdleWait) {
		return true, nil
	}
	t := c.clk.NewTimer(c.opts.GoIdleTimeout)
	defer t.Stop()
	select {
	case <-ack:
		return true, nil
	case <-cn.done:
		return false, ErrConnectionLost
	case <-t.C():
		return false, ErrGoIdleTimeout
	case <-ctx.Done():
		return false, fmt.Errorf("failed to await going_idle_ack: %w", ctx.Err())
	case <-c.done:
		return false, ErrClosed
	}
}

func (c *Client) dropIdleWaiter(ack chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, w := range c.idleWaiters {
		if w == ack {
			c.idleWaiters = append(c.idleWaiters[:i], c.idleWaiters[i+1:]...)
			return
		}
	}
}

// onGoingIdleAck resolves every pending GoIdle; an ack nobody waits for is
// ignored.
func (c *Client) onGoingIdleAck() {
	c.mu.Lock()
	ws := c.idleWaiters
	c.idleWaiters = nil
	c.mu.Unlock()
	for _, w := range ws {
		close(w)
	}
}

// GoDormant prepares a scale-to-zero suspend: GoIdle, then, only once the
// ack came, close the socket (1000) without closing the client. The
// supervisor re-dials after Options.DormantRedial instead of the backoff
// ladder, and the reconnect makes the connector drain what it buffered.
// When the ack does not come, GoDormant returns false and stays connected.
func (c *Client) GoDormant(ctx context.Context) (bool, error) {
	ok, err := c.GoIdle(ctx)
	if !ok {
		return false, err
	}
	cn := c.cur.Load()
	if cn == nil {
		return false, ErrConnectionLost
	}
	c.mu.Lock()
	c.dormant = true
	c.mu.Unlock()
	cn.closeWith(contract.CloseNormal, "dormant", whyDormant)
	return true, nil
}

// Dormant reports whether the client is between GoDormant and the next
// handshake.
func (c *Client) Dormant() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dormant
}

// HoldRedial parks the supervisor before its next dial, for a brokered
// suspend in progress. The hold ends at ReleaseRedial or, at the latest,
// Options.RedialHoldMax after it began, so a forgotten release never
// strands the gateway. It does not touch a live connection.
func (c *Client) HoldRedial() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held {
		return
	}
	c.held = true
	c.holdSince = c.clk.Now()
	c.holdRelease = make(chan struct{})
}

// ReleaseRedial ends a hold.
func (c *Client) ReleaseRedial() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.held {
		return
	}
	c.held = false
	close(c.holdRelease)
}

// Close shuts the client down for good. New calls fail at once with
// "relay transport closed"; calls in flight get up to Options.CloseGrace to
// finish; then the supervisor stops, the socket is closed 1000, remaining
// calls fail (ambiguous when their frame was written), pending GoIdle calls
// return, and Close waits for running handlers, whose contexts are
// cancelled. ctx bounds the whole wait. Calling Close again waits for the
// first call.
func (c *Client) Close(ctx context.Context) error {
	if !c.closing.CompareAndSwap(false, true) {
		select {
		case <-c.closed:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("failed to close: %w", ctx.Err())
		}
	}
	defer close(c.closed)
	var errs []error

	if c.inflight.Load() > 0 && c.opts.CloseGrace > 0 {
		t := c.clk.NewTimer(c.opts.CloseGrace)
	wait:
		for c.inflight.Load() > 0 {
			select {
			case <-c.drained:
			case <-t.C():
				break wait
			case <-ctx.Done():
				break wait
			}
		}
		t.Stop()
	}

	c.mu.Lock()
	started := c.started
	cn := c.cur.Load()
	c.mu.Unlock()
	c.supCancel()
	if cn != nil {
		cn.closeWith(contract.CloseNormal, "", whyClient)
	}
	if started {
		select {
		case <-c.supDone:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("failed to stop the supervisor: %w", ctx.Err()))
		}
	}
	c.cur.Store(nil)
	if c.dialTr != nil {
		c.dialTr.CloseIdleConnections()
	}
	c.terminate(StateClosed, ErrClosed) // wakes GoIdle waiters through c.done
	c.baseCancel(ErrClosed)
	if err := c.inq.wait(ctx); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		err := errors.Join(errs...)
		c.log.Warn("relay close incomplete", slog.String("err", err.Error()))
		return err
	}
	return nil
}
