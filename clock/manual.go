package clock

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Manual is a Clock that moves only when Advance or Set is called. It is
// safe for concurrent use. The zero value is not usable; call NewManual.
type Manual struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*manualTimer
	seq     uint64
	changed chan struct{} // closed and replaced whenever the timer set changes
}

// NewManual returns a manual clock reading start.
func NewManual(start time.Time) *Manual {
	return &Manual{now: start, changed: make(chan struct{})}
}

// Now returns the clock's current reading.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// NewTimer returns a timer that fires when the clock has been advanced by d.
func (m *Manual) NewTimer(d time.Duration) Timer {
	t := &manualTimer{m: m, ch: make(chan time.Time, 1)}
	m.arm(t, d)
	return t
}

// AfterFunc calls f in its own goroutine once the clock has been advanced
// by d.
func (m *Manual) AfterFunc(d time.Duration, f func()) Timer {
	t := &manualTimer{m: m, fn: f}
	m.arm(t, d)
	return t
}

// Advance moves the clock forward by d, firing every timer that comes due,
// in deadline order.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	target := m.now.Add(d)
	m.mu.Unlock()
	m.Set(target)
}

// Set moves the clock to t, firing every timer due by then. Moving backwards
// fires nothing.
func (m *Manual) Set(t time.Time) {
	for {
		m.mu.Lock()
		next := m.nextDue(t)
		if next == nil {
			if t.After(m.now) {
				m.now = t
			}
			m.mu.Unlock()
			return
		}
		if next.when.After(m.now) {
			m.now = next.when
		}
		m.remove(next)
		m.mu.Unlock()
		next.fire(next.when)
	}
}

// Pending returns how many timers are armed.
func (m *Manual) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.timers)
}

// WaitForTimers blocks until at least n timers are armed or ctx is done. Tests
// call it before Advance to be sure the code under test has armed the timer
// it is about to be woken by.
func (m *Manual) WaitForTimers(ctx context.Context, n int) error {
	for {
		m.mu.Lock()
		if len(m.timers) >= n {
			m.mu.Unlock()
			return nil
		}
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// NextDeadline returns the earliest armed deadline, and false when no timer
// is armed.
func (m *Manual) NextDeadline() (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.timers) == 0 {
		return time.Time{}, false
	}
	m.sortTimers()
	return m.timers[0].when, true
}

func (m *Manual) arm(t *manualTimer, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	t.when, t.seq = m.now.Add(d), m.seq
	m.timers = append(m.timers, t)
	m.notify()
}

func (m *Manual) sortTimers() {
	sort.Slice(m.timers, func(i, j int) bool {
		a, b := m.timers[i], m.timers[j]
		if !a.when.Equal(b.when) {
			return a.when.Before(b.when)
		}
		return a.seq < b.seq
	})
}

func (m *Manual) nextDue(t time.Time) *manualTimer {
	if len(m.timers) == 0 {
		return nil
	}
	m.sortTimers()
	if m.timers[0].when.After(t) {
		return nil
	}
	return m.timers[0]
}

// remove drops t and reports whether it was armed. m.mu must be held.
func (m *Manual) remove(t *manualTimer) bool {
	for i, x := range m.timers {
		if x == t {
			m.timers = append(m.timers[:i], m.timers[i+1:]...)
			m.notify()
			return true
		}
	}
	return false
}

func (m *Manual) notify() {
	close(m.changed)
	m.changed = make(chan struct{})
}

type manualTimer struct {
	m    *Manual
	ch   chan time.Time
	fn   func()
	when time.Time
	seq  uint64
}

func (t *manualTimer) C() <-chan time.Time { return t.ch }

func (t *manualTimer) Stop() bool {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	return t.m.remove(t)
}

func (t *manualTimer) Reset(d time.Duration) bool {
	t.m.mu.Lock()
	was := t.m.remove(t)
	t.m.mu.Unlock()
	t.m.arm(t, d)
	return was
}

func (t *manualTimer) fire(now time.Time) {
	if t.fn != nil {
		go t.fn()
		return
	}
	select {
	case t.ch <- now:
	default: // a previous tick is still unread, as with time.Timer
	}
}
