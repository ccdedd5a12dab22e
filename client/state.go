package client

import (
	"log/slog"
	"time"
)

// State is where a Client is in its life. Observe it with Client.State or
// Options.OnState.
type State int32

// States of a Client. StateRevoked and StateClosed are terminal.
const (
	// StateIdle: created, Connect not yet called.
	StateIdle State = iota
	// StateConnecting: a dial is in progress.
	StateConnecting
	// StateConnected: the socket is open and the hellos are going out; no
	// descriptor yet. Calls wait for the descriptor rather than fail.
	StateConnected
	// StateHandshaked: the connection's first descriptor arrived.
	StateHandshaked
	// StateReconnecting: the socket is gone and the supervisor waits
	// StateEvent.Wait before the next dial. Calls fail fast.
	StateReconnecting
	// StateDormant: GoDormant closed the socket; the supervisor re-dials
	// after Options.DormantRedial.
	StateDormant
	// StateRevoked: the connector refused a fresh token with 4401; the
	// secret is revoked and nothing will be dialled again. Err returns
	// ErrRevoked.
	StateRevoked
	// StateClosed: Close was called, or the connection ended with
	// reconnection disabled.
	StateClosed
)

var stateNames = [...]string{"idle", "connecting", "connected", "handshaked", "reconnecting", "dormant", "revoked", "closed"}

// String returns the state's lowercase name.
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// Terminal reports whether no further state can follow.
func (s State) Terminal() bool { return s == StateRevoked || s == StateClosed }

// StateEvent reports one state change.
type StateEvent struct {
	State State
	Time  time.Time

	// Attempt is the backoff counter after this change: how many backoff
	// waits happened since the last stable connection.
	Attempt int

	// Wait is, for StateReconnecting and StateDormant, how long the
	// supervisor waits before its next dial. Zero means an immediate
	// re-dial (the fresh-token retry after a first 4401).
	Wait time.Duration

	// Code and Reason are the close code and reason of the connection that
	// just ended, when one did; Code is 0 for a failed dial and 1006 for a
	// connection lost without a close frame.
	Code   int
	Reason string

	// Err is what ended the connection or the dial, or the terminal error.
	Err error

	// Platform is, for StateHandshaked, the first descriptor's platform.
	Platform string

	// FreshToken is set on StateConnecting when this dial is the one-shot
	// fresh-token retry after a first 4401: a 4401 on its connection is
	// terminal.
	FreshToken bool
}

// emit records a state change and tells the observer. emitMu keeps events
// in order even though the supervisor and the reader both emit.
func (c *Client) emit(ev StateEvent) {
	c.emitMu.Lock()
	defer c.emitMu.Unlock()
	if c.state.Load() == int32(StateClosed) || c.state.Load() == int32(StateRevoked) {
		// Terminal states are final; late events from goroutines that are
		// winding down are dropped.
		return
	}
	if ev.Time.IsZero() {
		ev.Time = c.clk.Now()
	}
	c.state.Store(int32(ev.State))
	attrs := []any{slog.String("state", ev.State.String()), slog.Int("attempt", ev.Attempt)}
	if ev.Wait > 0 {
		attrs = append(attrs, slog.Duration("wait", ev.Wait))
	}
	if ev.Code != 0 {
		attrs = append(attrs, slog.Int("code", ev.Code), slog.String("reason", ev.Reason))
	}
	if ev.Err != nil {
		attrs = append(attrs, slog.String("err", ev.Err.Error()))
	}
	if ev.Platform != "" {
		attrs = append(attrs, slog.String("platform", ev.Platform))
	}
	level := slog.LevelInfo
	if ev.State == StateRevoked {
		level = slog.LevelError
	}
	c.log.Log(c.baseCtx, level, "relay state", attrs...)
	if c.opts.OnState != nil {
		c.opts.OnState(ev)
	}
}

// State returns the client's current state.
func (c *Client) State() State { return State(c.state.Load()) }
