package client

import (
	"errors"
	"net"
	"sync"
	"testing"
)

// fakeConn records each write(2) the cork makes; it fails from call
// failAt on (1-based, 0 never), accepting partial bytes first.
type fakeConn struct {
	net.Conn
	mu      sync.Mutex
	writes  [][]byte
	failAt  int
	partial int
	gate    chan struct{} // when set, each write waits for a value
	closed  bool
}

func (f *fakeConn) Write(p []byte) (int, error) {
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes = append(f.writes, append([]byte(nil), p...))
	if f.failAt > 0 && len(f.writes) >= f.failAt {
		return f.partial, errors.New("broken pipe")
	}
	return len(p), nil
}

func (f *fakeConn) Close() error { f.mu.Lock(); f.closed = true; f.mu.Unlock(); return nil }

func (f *fakeConn) calls() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.writes...)
}

func TestCorkUnheldWritesFlushAtOnce(t *testing.T) {
	fc := &fakeConn{}
	w := &corkConn{Conn: fc}
	if _, err := w.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if got := fc.calls(); len(got) != 1 || string(got[0]) != "pong" {
		t.Fatalf("writes = %q", got)
	}
}

func TestCorkHeldWritesBatch(t *testing.T) {
	fc := &fakeConn{}
	w := &corkConn{Conn: fc}
	a := w.hold()
	b := w.hold()
	_, _ = w.Write([]byte("A"))
	_, _ = w.Write([]byte("B"))
	_, _ = w.Write([]byte("ctl")) // a control frame while holders wait: rides along
	if len(fc.calls()) != 0 {
		t.Fatal("held bytes were written before release")
	}
	if _, err := w.release(a); err != nil {
		t.Fatal(err)
	}
	if _, err := w.release(b); err != nil {
		t.Fatal(err)
	}
	if got := fc.calls(); len(got) != 1 || string(got[0]) != "ABctl" {
		t.Fatalf("writes = %q, want one batch", got)
	}
}

func TestCorkWritersQueueBehindARunningFlush(t *testing.T) {
	fc := &fakeConn{gate: make(chan struct{})}
	w := &corkConn{Conn: fc}
	first := w.hold()
	_, _ = w.Write([]byte("1"))
	done := make(chan error, 1)
	go func() { _, err := w.release(first); done <- err }() // blocks in write(2)
	for {
		w.mu.Lock()
		f := w.flushing
		w.mu.Unlock()
		if f {
			break
		}
	}
	second := w.hold()
	_, _ = w.Write([]byte("2"))
	third := w.hold()
	_, _ = w.Write([]byte("3"))
	if _, err := w.release(second); err != nil { // returns at once: the flusher loops
		t.Fatal(err)
	}
	if _, err := w.release(third); err != nil {
		t.Fatal(err)
	}
	fc.gate <- struct{}{}
	fc.gate <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := fc.calls(); len(got) != 2 || string(got[0]) != "1" || string(got[1]) != "23" {
		t.Fatalf("writes = %q", got)
	}
}

func TestCorkFailureAttribution(t *testing.T) {
	fc := &fakeConn{failAt: 1, partial: 2}
	w := &corkConn{Conn: fc}
	a := w.hold()
	_, _ = w.Write([]byte("AA"))
	b := w.hold()
	_, _ = w.Write([]byte("BB"))
	maybeA, errA := w.release(a)
	maybeB, errB := w.release(b)
	if errA == nil || errB == nil {
		t.Fatalf("errors = %v, %v", errA, errB)
	}
	// Two bytes went out: all of A's, none of B's.
	if !maybeA {
		t.Error("A's bytes were written, but release says they may not have been")
	}
	if maybeB {
		t.Error("none of B's bytes were written, but release says they may have been")
	}
	if !fc.closed {
		t.Error("the broken connection was not closed")
	}
	if _, err := w.Write([]byte("later")); err == nil {
		t.Error("a write after the failure succeeded")
	}
}
