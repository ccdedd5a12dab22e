package testkit

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// failRecorder is a testing.TB that records the first Fatalf and stops the
// goroutine like the real one does.
type failRecorder struct {
	testing.TB
	msg string
}

func (f *failRecorder) Helper() {}
func (f *failRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}

// run calls body with a recorder and returns what it failed with, "" when
// it did not fail.
func run(t *testing.T, body func(tb testing.TB)) (msg string) {
	f := &failRecorder{TB: t}
	defer func() {
		if r := recover(); r != nil && r != any(f) {
			panic(r)
		}
		msg = f.msg
	}()
	body(f)
	return ""
}

func TestEventuallyEndsOnTheCondition(t *testing.T) {
	n := 0
	if msg := run(t, func(tb testing.TB) { Eventually(tb, "three polls", func() bool { n++; return n == 3 }) }); msg != "" {
		t.Fatalf("failed: %s", msg)
	}
	if n != 3 {
		t.Fatalf("polled %d times, want 3", n)
	}
}

func TestEventuallyWithinFailsAtItsBoundNamingTheWait(t *testing.T) {
	msg := run(t, func(tb testing.TB) {
		EventuallyWithin(tb, 20*time.Millisecond, "the moon", func() bool { return false })
	})
	if !strings.Contains(msg, "the moon") || !strings.Contains(msg, "20ms") {
		t.Fatalf("failure %q does not name the wait and its bound", msg)
	}
}

func TestRecvReturnsAValueAndFailsOnAClosedChannel(t *testing.T) {
	ch := make(chan int, 1)
	ch <- 7
	if v := Recv(t, "seven", ch); v != 7 {
		t.Fatalf("Recv = %d", v)
	}
	close(ch)
	if msg := run(t, func(tb testing.TB) { Recv(tb, "an answer", ch) }); !strings.Contains(msg, "an answer: channel closed") {
		t.Fatalf("closed channel gave %q", msg)
	}
}

func TestWithinReturnsWhatFReturns(t *testing.T) {
	if v := Within(t, "a quick call", func() string { return "done" }); v != "done" {
		t.Fatalf("Within = %q", v)
	}
}

func TestContextEndsWithTheTest(t *testing.T) {
	var ctx interface{ Err() error }
	t.Run("inner", func(t *testing.T) {
		c := Context(t)
		if _, ok := c.Deadline(); !ok {
			t.Fatal("no deadline")
		}
		ctx = c
	})
	if ctx.Err() == nil {
		t.Fatal("context outlived its test")
	}
}

func TestDoneEndsOnAValueOrAClose(t *testing.T) {
	ch := make(chan struct{}, 1)
	ch <- struct{}{}
	Done(t, "a signal", ch)
	close(ch)
	Done(t, "a close", ch)
}

func TestBufferKeepsTheStartWithinItsLimit(t *testing.T) {
	b := &Buffer{Limit: 8}
	for _, s := range []string{"abc", "defgh", "ij"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got := b.String(); got != "abcdefgh" {
		t.Fatalf("kept %q, want %q", got, "abcdefgh")
	}
	var unbounded Buffer
	unbounded.Write([]byte("x"))
	if unbounded.String() != "x" {
		t.Fatal("the zero Buffer lost a write")
	}
}
