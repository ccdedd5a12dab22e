package clock_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestManualFiresTimersInDeadlineOrder(t *testing.T) {
	m := clock.NewManual(testkit.Epoch)
	late := m.NewTimer(2 * time.Second)
	early := m.NewTimer(time.Second)
	m.Advance(1500 * time.Millisecond)
	select {
	case got := <-early.C():
		if !got.Equal(testkit.Epoch.Add(time.Second)) {
			t.Fatalf("early fired at %v, want %v", got, testkit.Epoch.Add(time.Second))
		}
	default:
		t.Fatal("early timer did not fire")
	}
	select {
	case <-late.C():
		t.Fatal("late timer fired before its deadline")
	default:
	}
	if got := m.Now(); !got.Equal(testkit.Epoch.Add(1500 * time.Millisecond)) {
		t.Fatalf("Now = %v", got)
	}
	m.Advance(time.Second)
	<-late.C()
}

func TestManualStopAndReset(t *testing.T) {
	m := clock.NewManual(testkit.Epoch)
	tm := m.NewTimer(time.Second)
	if !tm.Stop() {
		t.Fatal("Stop of a pending timer returned false")
	}
	if tm.Stop() {
		t.Fatal("second Stop returned true")
	}
	m.Advance(time.Hour)
	select {
	case <-tm.C():
		t.Fatal("stopped timer fired")
	default:
	}
	tm.Reset(time.Second)
	m.Advance(time.Second)
	<-tm.C()
}

func TestManualAfterFuncAndWait(t *testing.T) {
	m := clock.NewManual(testkit.Epoch)
	var fired atomic.Int32
	done := make(chan struct{})
	go func() {
		m.AfterFunc(time.Minute, func() { fired.Add(1); close(done) })
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.WaitForTimers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if d, ok := m.NextDeadline(); !ok || !d.Equal(testkit.Epoch.Add(time.Minute)) {
		t.Fatalf("NextDeadline = %v, %v", d, ok)
	}
	m.Advance(time.Minute)
	<-done
	if fired.Load() != 1 || m.Pending() != 0 {
		t.Fatalf("fired %d, pending %d", fired.Load(), m.Pending())
	}
}

func TestSleepHonoursContext(t *testing.T) {
	m := clock.NewManual(testkit.Epoch)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- clock.Sleep(ctx, m, time.Hour) }()
	if err := m.WaitForTimers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Fatalf("Sleep = %v, want context.Canceled", err)
	}
	go func() { errc <- clock.Sleep(context.Background(), m, time.Hour) }()
	_ = m.WaitForTimers(context.Background(), 1)
	m.Advance(time.Hour)
	if err := <-errc; err != nil {
		t.Fatalf("Sleep = %v", err)
	}
}
