// Package clock lets relaykit's time-dependent behaviour (token expiry,
// backoff, keepalive, cooldowns, timeouts) run on a clock a test controls.
//
// Production code uses [Real]. Tests use a [Manual] clock, which only moves
// when told to, so a 30-second backoff or a 60-second keepalive runs in
// microseconds and never flakes.
package clock // import "github.com/relaykit/relaykit/clock"

import (
	"context"
	"time"
)

// Clock tells the time and makes timers.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that sends the time on its channel once d
	// has passed.
	NewTimer(d time.Duration) Timer
	// AfterFunc calls f in its own goroutine once d has passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a single-shot timer of a Clock.
type Timer interface {
	// C returns the channel the timer fires on; nil for AfterFunc timers.
	C() <-chan time.Time
	// Stop prevents the timer from firing. It reports whether it stopped
	// a pending timer.
	Stop() bool
	// Reset re-arms the timer to fire after d. It reports whether the
	// timer was pending.
	Reset(d time.Duration) bool
}

// Real returns the wall clock.
func Real() Clock { return realClock{} }

// OrReal returns c, or the wall clock when c is nil, so options structs can
// leave their Clock field unset.
func OrReal(c Clock) Clock {
	if c == nil {
		return realClock{}
	}
	return c
}

// Sleep waits for d on c, or until ctx is done, whichever comes first. It
// returns ctx.Err() when the context ended the wait.
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{t: time.NewTimer(d)} }

func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{t: time.AfterFunc(d, f)}
}

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }
