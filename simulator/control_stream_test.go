package simulator_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	name, id, data string
}

// sseStream reads GET /journal/stream.
type sseStream struct {
	t      *testing.T
	resp   *http.Response
	r      *bufio.Reader
	cancel context.CancelFunc
}

// openStream opens the journal stream with query and header; it fails the
// test unless the answer is 200 and an event stream.
func openStream(t *testing.T, s *simulator.Server, query string, header map[string]string) *sseStream {
	t.Helper()
	st, status, msg := tryStream(t, s, query, header)
	if status != http.StatusOK {
		t.Fatalf("journal/stream%s: %d %s", query, status, msg)
	}
	return st
}

func tryStream(t *testing.T, s *simulator.Server, query string, header map[string]string) (*sseStream, int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+simulator.ControlPrefix+"journal/stream"+query, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		var e contract.ErrorBody
		b, _ := io.ReadAll(resp.Body)
		json.Unmarshal(b, &e)
		return nil, resp.StatusCode, e.Error + resp.Header.Get("Retry-After")
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q", ct)
	}
	st := &sseStream{t: t, resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel}
	t.Cleanup(st.close)
	return st, resp.StatusCode, ""
}

func (st *sseStream) close() {
	st.cancel()
	st.resp.Body.Close()
}

// next returns the next event, skipping comments and the retry field;
// io.EOF when the server ended the stream.
func (st *sseStream) next() (sseEvent, error) {
	var ev sseEvent
	for {
		line, err := st.r.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.name != "" || ev.data != "" {
				return ev, nil
			}
		case strings.HasPrefix(line, ":"), strings.HasPrefix(line, "retry: "):
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		default:
			st.t.Fatalf("unexpected stream line %q", line)
		}
	}
}

// entry reads events until a journal entry matching match.
func (st *sseStream) entry(match func(simulator.JournalEntry) bool) simulator.JournalEntry {
	st.t.Helper()
	for {
		ev, err := st.next()
		if err != nil {
			st.t.Fatalf("stream ended before the entry: %v", err)
		}
		if ev.name != "entry" {
			continue
		}
		var e simulator.JournalEntry
		if err := json.Unmarshal([]byte(ev.data), &e); err != nil {
			st.t.Fatalf("entry %q: %v", ev.data, err)
		}
		if ev.id != fmt.Sprint(e.Seq) {
			st.t.Fatalf("event id %q for entry %d", ev.id, e.Seq)
		}
		if match(e) {
			return e
		}
	}
}

// The stream sends what the journal holds, then what happens next, live.
func TestJournalStreamBacklogThenLive(t *testing.T) {
	s := start(t, simulator.Options{Clock: newManual(), PingInterval: -1, HandshakeTimeout: -1})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	st := openStream(t, s, "", nil)
	if e := st.entry(func(simulator.JournalEntry) bool { return true }); e.Seq != 1 || e.Kind != simulator.JournalControl {
		t.Fatalf("first entry %+v", e)
	}
	d := inject(t, s, "gw1", event("discord", "c1", "while streaming"))
	if e := st.entry(kind(simulator.JournalBuffer)); e.BufferID != d.BufferID || e.GatewayID != "gw1" {
		t.Fatalf("live entry %+v, want the buffering of %s", e, d.BufferID)
	}
	g := dialGW(t, s, "gw1")
	g.hello("discord")
	e := st.entry(func(e simulator.JournalEntry) bool {
		return e.Kind == simulator.JournalFrameOut && e.FrameType == contract.TypeInbound
	})
	if !strings.Contains(e.Frame, "while streaming") || e.BufferID != d.BufferID {
		t.Fatalf("replay entry %+v", e)
	}
}

// since (or Last-Event-ID, which an EventSource sends when it reconnects,
// and which wins) resumes after an entry; kind keeps one kind.
func TestJournalStreamResumesAndFilters(t *testing.T) {
	s := start(t, simulator.Options{Clock: newManual(), PingInterval: -1, HandshakeTimeout: -1})
	for i := range 4 {
		enroll(t, s, simulator.GatewaySpec{GatewayID: fmt.Sprint("gw", i), Platforms: []string{"discord"}})
	}
	inject(t, s, "gw3", event("discord", "c1", "x"))
	first := func(e simulator.JournalEntry) bool { return true }
	if e := openStream(t, s, "?since=2", nil).entry(first); e.Seq != 3 {
		t.Fatalf("since=2 starts at %d", e.Seq)
	}
	if e := openStream(t, s, "?since=1", map[string]string{"Last-Event-ID": "3"}).entry(first); e.Seq != 4 {
		t.Fatalf("Last-Event-ID 3 starts at %d", e.Seq)
	}
	if e := openStream(t, s, "?kind=buffer", nil).entry(first); e.Kind != simulator.JournalBuffer {
		t.Fatalf("kind=buffer sent %+v", e)
	}
}

func TestJournalStreamRefusesBadRequests(t *testing.T) {
	s := start(t, simulator.Options{ControlToken: "tok", PingInterval: -1})
	auth := map[string]string{"Authorization": "Bearer tok"}
	for _, c := range []struct {
		query  string
		header map[string]string
		status int
		want   string
	}{
		{"", nil, http.StatusUnauthorized, "control token"},
		{"?since=x", auth, http.StatusBadRequest, "since: must be a sequence number"},
		{"?kind=frames", auth, http.StatusBadRequest, `unknown journal kind "frames"`},
		{"?wait=1s", auth, http.StatusBadRequest, `unknown query parameter "wait"`},
		{"", map[string]string{"Authorization": "Bearer tok", "Last-Event-ID": "-1"}, http.StatusBadRequest, "Last-Event-ID"},
		{"", map[string]string{"Authorization": "Bearer tok", "Origin": "http://evil.example"}, http.StatusForbidden, "Origin"},
	} {
		_, status, msg := tryStream(t, s, c.query, c.header)
		if status != c.status || !strings.Contains(msg, c.want) {
			t.Errorf("%q %v: %d %q, want %d %q", c.query, c.header, status, msg, c.status, c.want)
		}
	}
	openStream(t, s, "", auth)
}

// At most MaxJournalStreams are open; a stream ends after its lifetime
// with an "end" event telling where to resume, even when the server's
// read and write timeouts are far shorter; then its slot is free again.
func TestJournalStreamLimits(t *testing.T) {
	s := start(t, simulator.Options{PingInterval: -1, MaxJournalStreams: 1, JournalStreamLifetime: 300 * time.Millisecond,
		ReadTimeout: 50 * time.Millisecond, WriteTimeout: 50 * time.Millisecond})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1"})
	st := openStream(t, s, "", nil)
	st.entry(func(simulator.JournalEntry) bool { return true })
	if _, status, msg := tryStream(t, s, "", nil); status != http.StatusServiceUnavailable || !strings.Contains(msg, "at most 1") {
		t.Fatalf("second stream: %d %q", status, msg)
	}
	var end sseEvent
	for {
		ev, err := st.next()
		if err != nil {
			t.Fatalf("the stream ended without an end event: %v", err)
		}
		if ev.name == "end" {
			end = ev
			break
		}
	}
	var data struct {
		Reason string `json:"reason"`
		Last   uint64 `json:"last"`
	}
	json.Unmarshal([]byte(end.data), &data)
	if data.Reason != "lifetime" || data.Last != s.JournalSeq() {
		t.Fatalf("end %s", end.data)
	}
	if _, err := st.next(); err != io.EOF {
		t.Fatalf("after end: %v, want EOF", err)
	}
	// The slot is given back when the handler returns, just after the
	// client saw EOF.
	awaitStreamSlot(t, s)
}

// awaitStreamSlot waits until a journal stream is accepted again.
func awaitStreamSlot(t *testing.T, s *simulator.Server) {
	t.Helper()
	deadline := time.Now().Add(testkit.Wait)
	for {
		st, status, _ := tryStream(t, s, "", nil)
		if status == http.StatusOK {
			st.close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stream accepted: %d", status)
		}
		time.Sleep(10 * time.Millisecond) // polling for the slot, not asserting on time
	}
}

// A client that stops reading is cut off once a write to it cannot
// finish within WriteTimeout, and gives its slot back.
func TestJournalStreamCutsOffAStalledReader(t *testing.T) {
	s := start(t, simulator.Options{PingInterval: -1, HandshakeTimeout: -1, MaxJournalStreams: 1,
		WriteTimeout: 200 * time.Millisecond, JournalFrameBytes: 1 << 20})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "gw1", Platforms: []string{"discord"}})
	// Fill the journal with 6 MiB of frames, more than socket buffers hold.
	g := dialGW(t, s, "gw1")
	big := `{"type":"x-filler","pad":"` + strings.Repeat("p", 384<<10) + `"}`
	for range 16 {
		g.sendText(big + "\n")
	}
	g.hello("discord") // a barrier: the fillers were read before the descriptor came back

	c, err := net.Dial("tcp", strings.TrimPrefix(s.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(c, "GET %sjournal/stream HTTP/1.1\r\nHost: %s\r\n\r\n", simulator.ControlPrefix, strings.TrimPrefix(s.URL(), "http://"))
	// Never read. First the stalled stream holds the only slot…
	deadline := time.Now().Add(testkit.Wait)
	for {
		_, status, _ := tryStream(t, s, "", nil)
		if status == http.StatusServiceUnavailable {
			break
		}
		if status == http.StatusOK {
			t.Fatal("the stalled client's stream did not take the slot in time for this check")
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream answered %d", status)
		}
		time.Sleep(10 * time.Millisecond) // polling for the stalled stream, not asserting on time
	}
	// …then its write runs out of time, and the slot is free again.
	awaitStreamSlot(t, s)
}

// Close ends open streams at once, with an "end" event.
func TestJournalStreamEndsOnClose(t *testing.T) {
	s, err := simulator.New(simulator.Options{PingInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	st := openStream(t, s, "", nil)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	for {
		ev, err := st.next()
		if err != nil {
			t.Fatalf("no end event: %v", err)
		}
		if ev.name == "end" {
			if !strings.Contains(ev.data, `"reason":"shutting down"`) {
				t.Fatalf("end %s", ev.data)
			}
			break
		}
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testkit.Wait):
		t.Fatal("Close waited for the stream")
	}
}

// A reader behind the journal's ring learns what it missed; one asking to
// resume after an entry this journal never had (relaysim restarted) is
// told so and gets everything kept.
func TestJournalStreamGapAndRestart(t *testing.T) {
	s := start(t, simulator.Options{PingInterval: -1, JournalSize: 5})
	for i := range 8 {
		enroll(t, s, simulator.GatewaySpec{GatewayID: fmt.Sprint("gw", i)})
	}
	last := s.JournalSeq()
	st := openStream(t, s, "", nil)
	ev, err := st.next()
	if err != nil || ev.name != "gap" || ev.data != fmt.Sprintf(`{"from":1,"to":%d}`, last-5) {
		t.Fatalf("first event %+v %v", ev, err)
	}
	if e := st.entry(func(simulator.JournalEntry) bool { return true }); e.Seq != last-4 {
		t.Fatalf("first entry %d", e.Seq)
	}

	st = openStream(t, s, "", map[string]string{"Last-Event-ID": "1000"})
	ev, err = st.next()
	if err != nil || ev.name != "restart" || ev.data != fmt.Sprintf(`{"since":1000,"last":%d}`, last) {
		t.Fatalf("first event %+v %v", ev, err)
	}
}
