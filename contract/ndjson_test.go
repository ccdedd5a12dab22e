package contract_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/relaykit/relaykit/contract"
)

func feed(t *testing.T, s *contract.LineSplitter, msgs ...string) []string {
	t.Helper()
	var got []string
	for _, m := range msgs {
		if err := s.Feed([]byte(m), func(line []byte) error { got = append(got, string(line)); return nil }); err != nil {
			t.Fatalf("Feed(%q): %v", m, err)
		}
	}
	return got
}

func TestLineSplitter(t *testing.T) {
	var s contract.LineSplitter
	got := feed(t, &s, "{\"a\":1}\n{\"b\":2}\n  \n{\"c\"", ":3}", "\n{\"d\":4}")
	if diff := cmp.Diff([]string{`{"a":1}`, `{"b":2}`, `{"c":3}`}, got); diff != "" {
		t.Fatalf("lines (-want +got):\n%s", diff)
	}
	if s.Pending() != len(`{"d":4}`) {
		t.Fatalf("a frame without its newline must wait; pending = %d", s.Pending())
	}
}

func TestLineSplitterCap(t *testing.T) {
	s := contract.LineSplitter{MaxFrameSize: 8}
	if got := feed(t, &s, "12345678\n"); len(got) != 1 {
		t.Fatalf("a frame at the cap must pass, got %v", got)
	}
	err := s.Feed([]byte("123456789\n"), func([]byte) error { return nil })
	if !errors.Is(err, contract.ErrFrameTooLarge) {
		t.Fatalf("complete frame over the cap: %v", err)
	}
	var tooLarge *contract.FrameTooLargeError
	if !errors.As(err, &tooLarge) || tooLarge.Unterminated || tooLarge.Size != 9 || tooLarge.Limit != 8 ||
		err.Error() != "frame too large: 9 bytes, cap is 8" {
		t.Fatalf("complete frame over the cap: %#v (%v)", err, err)
	}
	s = contract.LineSplitter{MaxFrameSize: 8}
	err = s.Feed([]byte(strings.Repeat("x", 9)), func([]byte) error { return nil })
	if !errors.Is(err, contract.ErrFrameTooLarge) {
		t.Fatalf("pending frame over the cap: %v", err)
	}
	if !errors.As(err, &tooLarge) || !tooLarge.Unterminated || tooLarge.Limit != 8 ||
		err.Error() != "frame too large: more than 8 bytes without a newline" {
		t.Fatalf("pending frame over the cap: %#v (%v)", err, err)
	}
}

func TestLineSplitterStopsOnCallbackError(t *testing.T) {
	var s contract.LineSplitter
	stop := errors.New("stop")
	n := 0
	err := s.Feed([]byte("a\nb\nc"), func([]byte) error { n++; return stop })
	if err != stop || n != 1 {
		t.Fatalf("err %v after %d lines", err, n)
	}
	if got := feed(t, &s, "\n"); len(got) != 2 || got[0] != "b" || got[1] != "c" {
		t.Fatalf("remaining lines %v", got)
	}
}
