package testkit

import (
	"context"
	"testing"
	"time"
)

// Wait bounds every wait of a test on its own process: a frame, a channel
// value, a condition. It is not a latency target.
const Wait = 10 * time.Second

// SlowWait bounds waits on a browser or a child process, whose start-up
// alone can take seconds on a loaded machine.
const SlowWait = 30 * time.Second

// Epoch is the instant every manual clock of the tests starts at. Tests
// reason about time relative to it, never about its value.
var Epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// poll is how often Eventually looks again. It only trades CPU for the
// latency of noticing; it decides no outcome.
const poll = 5 * time.Millisecond

// Eventually polls cond until it holds and fails t after Wait, naming what
// it waited for.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	EventuallyWithin(t, Wait, what, cond)
}

// EventuallyWithin is Eventually with its own bound.
func EventuallyWithin(t testing.TB, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", bound, what)
		}
		time.Sleep(poll)
	}
}

// Recv returns the next value of ch and fails t when none arrives within
// Wait or ch is closed, naming what it waited for.
func Recv[T any](t testing.TB, what string, ch <-chan T) T {
	t.Helper()
	timer := time.NewTimer(Wait)
	defer timer.Stop()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("%s: channel closed", what)
		}
		return v
	case <-timer.C:
		t.Fatalf("no %s within %s", what, Wait)
		panic("unreachable") // Fatalf does not return
	}
}

// Done waits until ch yields a value or is closed, failing t after Wait:
// for signals such as a context's Done channel.
func Done[T any](t testing.TB, what string, ch <-chan T) {
	t.Helper()
	timer := time.NewTimer(Wait)
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C:
		t.Fatalf("no %s within %s", what, Wait)
	}
}

// Within runs f on its own goroutine and fails t when f does not return in
// Wait: for calls that must never block on a peer.
func Within[T any](t testing.TB, what string, f func() T) T {
	t.Helper()
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	timer := time.NewTimer(Wait)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("%s still blocked after %s", what, Wait)
		panic("unreachable")
	}
}

// Context returns a context that ends after Wait or when t ends, whichever
// comes first.
func Context(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	t.Cleanup(cancel)
	return ctx
}
