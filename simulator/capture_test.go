package simulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/contract/testee"
	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

// awaitCaptureClosed waits until session id's capture is no longer open.
func awaitCaptureClosed(t *testing.T, s *simulator.Server, id uint64) simulator.CaptureInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	for {
		seq := s.JournalSeq()
		if c, ok := s.Capture(id); ok && !c.Open {
			return c
		}
		if _, err := s.Await(ctx, seq, nil); err != nil {
			t.Fatalf("capture of session %d still open: %v", id, err)
		}
	}
}

// callCaptured makes an outbound call and waits until its result, the
// last frame it puts on the wire, is in the capture: the writer captures a
// frame before it journals it.
func callCaptured(t *testing.T, s *simulator.Server, g *testGW, platform string, a contract.Action) contract.Result {
	t.Helper()
	seq := s.JournalSeq()
	r := g.call(platform, a)
	awaitJournal(t, s, seq, func(e simulator.JournalEntry) bool {
		return e.Kind == simulator.JournalFrameOut && e.FrameType == contract.TypeOutboundResult
	})
	return r
}

// onlySession returns the id of the one open session.
func onlySession(t *testing.T, s *simulator.Server) uint64 {
	t.Helper()
	ss := s.Sessions()
	if len(ss) != 1 {
		t.Fatalf("sessions %+v", ss)
	}
	return ss[0].ID
}

// TestCaptureHoldsTheWireBothWays: a session's capture is every frame it
// carried, both directions, in order, one valid frame per line, and the
// control route serves the same bytes.
func TestCaptureHoldsTheWireBothWays(t *testing.T) {
	dir := t.TempDir()
	s := start(t, simulator.Options{Capture: simulator.CaptureOptions{Dir: dir}})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw/1", Platforms: []string{"telegram"}})
	g := dialGW(t, s, "gw/1")
	g.hello("telegram")
	id := onlySession(t, s)
	inject(t, s, "gw/1", event("telegram", "42", "hi"))
	g.expect(contract.TypeInbound)
	if r := g.call("telegram", contract.Action{Op: contract.OpSend, ChatID: "42", Content: "hello"}); !r.Success {
		t.Fatalf("send: %+v", r)
	}
	g.sendText("not json\n") // the wire as it was: a malformed line is captured too
	g.closed()
	c := awaitCaptureClosed(t, s, id)

	if !c.FromStart || c.Truncated || c.GatewayID != "gw/1" || filepath.Dir(c.File) != dir {
		t.Fatalf("capture %+v", c)
	}
	if base := filepath.Base(c.File); !strings.HasSuffix(base, "-s"+strconv.FormatUint(id+1000000, 10)[1:]+"-gw_1.ndjson") {
		t.Fatalf("file name %s", base)
	}
	b, err := os.ReadFile(c.File)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != c.Bytes || !bytes.HasSuffix(b, []byte("\n")) {
		t.Fatalf("%d bytes on disk, %d indexed", len(b), c.Bytes)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	var types []string
	for i, line := range lines[:len(lines)-1] {
		if vs := contract.ValidateFrame([]byte(line + "\n")); len(vs) > 0 {
			t.Errorf("line %d %s: %v", i+1, line, vs)
		}
		var head struct{ Type string }
		json.Unmarshal([]byte(line), &head)
		types = append(types, head.Type)
	}
	if got := strings.Join(types, " "); got != "hello descriptor inbound outbound outbound_result" || lines[len(lines)-1] != "not json" {
		t.Fatalf("frames %q, then %q", got, lines[len(lines)-1])
	}
	if c.Frames != len(lines) {
		t.Fatalf("%d frames indexed, %d lines", c.Frames, len(lines))
	}

	resp, err := http.Get(s.URL() + simulator.ControlPrefix + "captures/" + strconv.FormatUint(id, 10))
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	got.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" || got.String() != string(b) {
		t.Fatalf("GET capture: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), got.String())
	}
	var list simulator.CaptureList
	if code := httpDo(t, "GET", s.URL()+simulator.ControlPrefix+"captures", nil, nil, &list); code != 200 || !list.Capturing || len(list.Captures) != 1 || list.TotalBytes != c.Bytes {
		t.Fatalf("GET captures: %d %+v", code, list)
	}
}

// TestCaptureCaps: a capture stops at its byte cap on a whole frame, a
// session beyond the open-file cap is not captured, and the total cap
// stops everything; each says why.
func TestCaptureCaps(t *testing.T) {
	t.Run("bytes", func(t *testing.T) {
		s := start(t, simulator.Options{Capture: simulator.CaptureOptions{Dir: t.TempDir(), MaxBytes: 400}})
		enroll(t, s, simulator.GatewaySpec{GatewayID: "gw", Platforms: []string{"discord"}})
		g := dialGW(t, s, "gw")
		g.hello("discord") // the descriptor alone is over 400 bytes
		id := onlySession(t, s)
		callCaptured(t, s, g, "discord", contract.Action{Op: contract.OpTyping, ChatID: "c"})
		c, _ := s.Capture(id)
		b, err := os.ReadFile(c.File)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Truncated || c.Open || c.Frames != 1 || c.Dropped < 3 || !strings.Contains(c.Reason, "400-byte cap") {
			t.Fatalf("capture %+v", c)
		}
		if int64(len(b)) != c.Bytes || len(b) > 400 || !strings.HasPrefix(string(b), `{"type":"hello"`) || strings.Count(string(b), "\n") != 1 {
			t.Fatalf("file %q", b)
		}
	})
	t.Run("open", func(t *testing.T) {
		s := start(t, simulator.Options{Capture: simulator.CaptureOptions{Dir: t.TempDir(), MaxOpen: 1}})
		enroll(t, s, simulator.GatewaySpec{GatewayID: "a", Platforms: []string{"discord"}})
		enroll(t, s, simulator.GatewaySpec{GatewayID: "b", Platforms: []string{"discord"}})
		ga := dialGW(t, s, "a")
		ga.hello("discord")
		gb := dialGW(t, s, "b")
		gb.hello("discord")
		list := s.Captures().Captures
		if len(list) != 2 || !list[0].Open || list[1].Open || list[1].File != "" || !strings.Contains(list[1].Reason, "1 captures open, the maximum") {
			t.Fatalf("captures %+v", list)
		}
		code := httpDo(t, "GET", s.URL()+simulator.ControlPrefix+"captures/"+strconv.FormatUint(list[1].SessionID, 10), nil, nil, nil)
		if code != 404 {
			t.Fatalf("GET an uncaptured session: %d", code)
		}
		// The slot frees when the first session ends.
		ga.close()
		awaitCaptureClosed(t, s, list[0].SessionID)
		gc := dialGW(t, s, "a")
		gc.hello("discord")
		if list = s.Captures().Captures; len(list) != 3 || !list[2].Open {
			t.Fatalf("after a slot freed: %+v", list)
		}
	})
	t.Run("total", func(t *testing.T) {
		s := start(t, simulator.Options{Capture: simulator.CaptureOptions{Dir: t.TempDir(), MaxTotalBytes: 100}})
		enroll(t, s, simulator.GatewaySpec{GatewayID: "gw", Platforms: []string{"discord"}})
		g := dialGW(t, s, "gw")
		g.hello("discord")
		g2 := dialWith(t, s, dialOpts{token: mustToken(t, s, "gw")}) // replaces the first socket
		g2.hello("discord")
		list := s.Captures()
		// Once a frame did not fit, no capture starts.
		if list.TotalBytes > 100 || len(list.Captures) != 2 || !list.Captures[0].Truncated ||
			list.Captures[1].File != "" || !strings.Contains(list.Captures[1].Reason, "not captured: captures reached their 100-byte total cap") {
			t.Fatalf("captures %+v", list)
		}
	})
}

// TestCaptureSwitch: captures start paused when asked, POST /captures
// switches them on (open sessions included, from their next frame) and
// off (closing every file), and the routes refuse what they cannot do.
func TestCaptureSwitch(t *testing.T) {
	s := start(t, simulator.Options{Capture: simulator.CaptureOptions{Dir: t.TempDir(), Paused: true}})
	base := s.URL() + simulator.ControlPrefix
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw", Platforms: []string{"discord"}})
	g := dialGW(t, s, "gw")
	g.hello("discord")
	if list := s.Captures(); list.Capturing || len(list.Captures) != 0 {
		t.Fatalf("paused: %+v", list)
	}
	var list simulator.CaptureList
	if code := httpDo(t, "POST", base+"captures", http.Header{"Content-Type": {"application/json"}}, []byte(`{"capture":true}`), &list); code != 200 || !list.Capturing {
		t.Fatalf("switch on: %d %+v", code, list)
	}
	callCaptured(t, s, g, "discord", contract.Action{Op: contract.OpTyping, ChatID: "c"})
	c, ok := s.Capture(onlySession(t, s))
	if !ok || c.FromStart || c.Frames != 2 || !c.Open {
		t.Fatalf("capture of an open session: %+v", c)
	}
	if code := httpDo(t, "POST", base+"captures", http.Header{"Content-Type": {"application/json"}}, []byte(`{"capture":false}`), &list); code != 200 || list.Capturing || list.Captures[0].Open {
		t.Fatalf("switch off: %d %+v", code, list)
	}
	callCaptured(t, s, g, "discord", contract.Action{Op: contract.OpTyping, ChatID: "c"})
	if c, _ := s.Capture(c.SessionID); c.Frames != 2 || c.Dropped != 0 {
		t.Fatalf("captured while off: %+v", c)
	}
	for _, tc := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"POST", "captures", `{}`, 400, "capture: missing"},
		{"POST", "captures", `{"captur":true}`, 400, `did you mean "capture"`},
		{"GET", "captures/x", ``, 400, "sessionId"},
		{"GET", "captures/999", ``, 404, "no capture of session 999"},
	} {
		var h http.Header
		if tc.body != "" {
			h = http.Header{"Content-Type": {"application/json"}}
		}
		var eb struct{ Error string }
		if code := httpDo(t, tc.method, base+tc.path, h, []byte(tc.body), &eb); code != tc.code || !strings.Contains(eb.Error, tc.want) {
			t.Errorf("%s %s %s: %d %q; want %d and %q", tc.method, tc.path, tc.body, code, eb.Error, tc.code, tc.want)
		}
	}

	// Without a directory there are no captures to switch on or fetch.
	off := start(t, simulator.Options{})
	var eb struct{ Error string }
	if code := httpDo(t, "POST", off.URL()+simulator.ControlPrefix+"captures", http.Header{"Content-Type": {"application/json"}}, []byte(`{"capture":true}`), &eb); code != 409 || !strings.Contains(eb.Error, "--capture DIR") {
		t.Fatalf("switch on without a directory: %d %q", code, eb.Error)
	}
	if code := httpDo(t, "GET", off.URL()+simulator.ControlPrefix+"captures/1", nil, nil, &eb); code != 409 {
		t.Fatalf("fetch without a directory: %d", code)
	}
	if _, err := simulator.New(simulator.Options{Capture: simulator.CaptureOptions{Dir: filepath.Join(t.TempDir(), "absent")}}); err == nil || !strings.Contains(err.Error(), "capture directory") {
		t.Fatalf("absent directory: %v", err)
	}
}

// TestCaptureControlClient: the typed client switches, lists and fetches
// captures.
func TestCaptureControlClient(t *testing.T) {
	s := start(t, simulator.Options{Capture: simulator.CaptureOptions{Dir: t.TempDir(), Paused: true}})
	cc := s.ControlClient()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	if list, err := cc.SetCapturing(ctx, true); err != nil || !list.Capturing {
		t.Fatalf("SetCapturing: %+v %v", list, err)
	}
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw", Platforms: []string{"discord"}})
	g := dialGW(t, s, "gw")
	g.hello("discord")
	id := onlySession(t, s)
	g.close()
	awaitCaptureClosed(t, s, id)
	list, err := cc.Captures(ctx)
	if err != nil || len(list.Captures) != 1 || list.Captures[0].SessionID != id {
		t.Fatalf("Captures: %+v %v", list, err)
	}
	var buf bytes.Buffer
	n, err := cc.FetchCapture(ctx, id, &buf)
	want, _ := os.ReadFile(list.Captures[0].File)
	if err != nil || n != int64(len(want)) || buf.String() != string(want) {
		t.Fatalf("FetchCapture: %d %v %q", n, err, buf.String())
	}
	_, err = cc.FetchCapture(ctx, 999, &buf)
	var te *testee.Error
	if !errors.As(err, &te) || te.Status != 404 || !strings.Contains(te.Message, "no capture of session 999") {
		t.Fatalf("FetchCapture of nothing: %v", err)
	}
}
