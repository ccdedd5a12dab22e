package simulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

func newManual() *clock.Manual { return clock.NewManual(testkit.Epoch) }

// start starts a simulator that Close is registered for.
func start(t testing.TB, opts simulator.Options) *simulator.Server {
	t.Helper()
	s, err := simulator.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func enroll(t testing.TB, s *simulator.Server, spec simulator.GatewaySpec) simulator.Gateway {
	t.Helper()
	g, err := s.EnrollGateway(spec)
	if err != nil {
		t.Fatalf("EnrollGateway(%s): %v", spec.GatewayID, err)
	}
	return g
}

// frame is one line a test gateway read, with its decoded form.
type frame struct {
	line string // without the newline
	f    contract.Frame
}

func (f frame) typ() string {
	if f.f == nil {
		return ""
	}
	return f.f.FrameType()
}

// testGW is a minimal gateway: a coder/websocket client with a reader that
// splits frames as the reference gateway does.
type testGW struct {
	t      testing.TB
	conn   *websocket.Conn
	resp   *http.Response
	lines  chan frame
	msgs   chan []byte // every raw message, for framing checks
	done   chan struct{}
	err    error // read error, valid after done
	reqSeq atomic.Int64

	// A stalled gateway stops reading after its current message, so its
	// TCP buffers fill; resume lets it read again.
	paused     atomic.Bool
	resumeCh   chan struct{}
	resumeOnce sync.Once
}

// stall makes the gateway stop reading (after the message it may be
// reading now): it answers no pings and its socket's buffers fill.
func (g *testGW) stall() { g.paused.Store(true) }

// resume lets a stalled gateway read again.
func (g *testGW) resume() { g.resumeOnce.Do(func() { close(g.resumeCh) }) }

type dialOpts struct {
	token   string // bearer token; "" means none
	header  http.Header
	noPongs bool
}

// dialGW connects with a fresh 300 s token for gatewayID.
func dialGW(t testing.TB, s *simulator.Server, gatewayID string) *testGW {
	t.Helper()
	tok, err := s.Token(gatewayID, contract.DefaultTokenTTL)
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	return dialWith(t, s, dialOpts{token: tok})
}

func dialWith(t testing.TB, s *simulator.Server, o dialOpts) *testGW {
	t.Helper()
	g, err := tryDial(t, s, o)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return g
}

func tryDial(t testing.TB, s *simulator.Server, o dialOpts) (*testGW, error) {
	h := http.Header{}
	for k, v := range o.header {
		h[k] = v
	}
	if o.token != "" {
		h.Set("Authorization", "Bearer "+o.token)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	dopts := &websocket.DialOptions{HTTPHeader: h}
	if o.noPongs {
		dopts.OnPingReceived = func(context.Context, []byte) bool { return false }
	}
	conn, resp, err := websocket.Dial(ctx, s.RelayURL(), dopts)
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return &testGW{resp: resp}, err
	}
	conn.SetReadLimit(-1)
	g := &testGW{t: t, conn: conn, resp: resp, lines: make(chan frame, 100000), msgs: make(chan []byte, 100000), done: make(chan struct{}),
		resumeCh: make(chan struct{})}
	go g.read()
	t.Cleanup(func() {
		g.conn.CloseNow()
		g.resume()
		<-g.done
	})
	return g, nil
}

func (g *testGW) read() {
	defer close(g.done)
	var split contract.LineSplitter
	for {
		if g.paused.Load() {
			<-g.resumeCh
		}
		_, msg, err := g.conn.Read(context.Background())
		if err != nil {
			g.err = err
			return
		}
		select {
		case g.msgs <- msg:
		default:
		}
		split.Feed(msg, func(line []byte) error {
			f, _ := contract.DecodeFrame(line)
			g.lines <- frame{line: string(line), f: f}
			return nil
		})
	}
}

func (g *testGW) sendText(text string) {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	if err := g.conn.Write(ctx, websocket.MessageText, []byte(text)); err != nil {
		g.t.Fatalf("write: %v", err)
	}
}

func (g *testGW) send(f contract.Frame) {
	g.t.Helper()
	b, err := contract.EncodeFrame(f)
	if err != nil {
		g.t.Fatalf("encode: %v", err)
	}
	g.sendText(string(b))
}

// next returns the next frame, failing the test when none comes.
func (g *testGW) next() frame {
	g.t.Helper()
	select {
	case f := <-g.lines:
		return f
	case <-g.done:
		select {
		case f := <-g.lines:
			return f
		default:
		}
		g.t.Fatalf("socket closed while waiting for a frame: %v", g.err)
	case <-time.After(testkit.Wait):
		g.t.Fatalf("no frame within %s", testkit.Wait)
	}
	return frame{}
}

// expect returns the next frame and checks its type.
func (g *testGW) expect(typ string) frame {
	g.t.Helper()
	f := g.next()
	if f.typ() != typ {
		g.t.Fatalf("got %s frame %s, want %s", f.typ(), f.line, typ)
	}
	return f
}

// hello sends one hello per platform and reads one descriptor each.
func (g *testGW) hello(platforms ...string) []contract.CapabilityDescriptor {
	g.t.Helper()
	for _, p := range platforms {
		g.send(contract.Hello{Platform: p, BotID: "bot-" + p})
	}
	var out []contract.CapabilityDescriptor
	for range platforms {
		out = append(out, g.expect(contract.TypeDescriptor).f.(contract.DescriptorFrame).Descriptor)
	}
	return out
}

// call sends an outbound action and returns its result.
func (g *testGW) call(platform string, a contract.Action) contract.Result {
	g.t.Helper()
	id := g.sendOutbound(platform, a)
	f := g.expect(contract.TypeOutboundResult)
	r := f.f.(contract.OutboundResult)
	if r.RequestID != id {
		g.t.Fatalf("result for %s, want %s", r.RequestID, id)
	}
	return r.Result
}

func (g *testGW) sendOutbound(platform string, a contract.Action) string {
	g.t.Helper()
	id := fmt.Sprintf("%032x", g.reqSeq.Add(1))
	g.send(contract.Outbound{RequestID: id, Action: a, Platform: platform})
	return id
}

// barrier proves every frame the simulator wrote before now has arrived:
// it sends an outbound, which every connection answers (a fronting failure
// at worst), and returns the frames read before the answer.
func (g *testGW) barrier() []frame {
	g.t.Helper()
	id := fmt.Sprintf("barrier%025x", g.reqSeq.Add(1))
	g.send(contract.Outbound{RequestID: id, Action: contract.Action{Op: contract.OpTyping, ChatID: "barrier"}})
	var before []frame
	for {
		f := g.next()
		if r, ok := f.f.(contract.OutboundResult); ok && r.RequestID == id {
			return before
		}
		before = append(before, f)
	}
}

// expectQuiet checks that nothing arrived before a barrier.
func (g *testGW) expectQuiet() {
	g.t.Helper()
	if got := g.barrier(); len(got) > 0 {
		g.t.Fatalf("unexpected frames: %s", lines(got))
	}
}

func lines(fs []frame) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.line)
		b.WriteByte('\n')
	}
	return b.String()
}

// closed waits for the socket to end and returns the close code and reason
// the simulator sent.
func (g *testGW) closed() (int, string) {
	g.t.Helper()
	select {
	case <-g.done:
	case <-time.After(testkit.Wait):
		g.t.Fatalf("socket still open after %s", testkit.Wait)
	}
	var ce websocket.CloseError
	if errors.As(g.err, &ce) {
		return int(ce.Code), ce.Reason
	}
	return -1, g.err.Error()
}

func (g *testGW) expectClose(code int, reason string) {
	g.t.Helper()
	gotCode, gotReason := g.closed()
	if gotCode != code || gotReason != reason {
		g.t.Fatalf("closed %d %q, want %d %q", gotCode, gotReason, code, reason)
	}
}

func (g *testGW) ack(bufferID string) { g.send(contract.InboundAck{BufferID: bufferID}) }

func (g *testGW) close() {
	g.conn.Close(websocket.StatusNormalClosure, "")
	<-g.done
}

// event builds a minimal valid event.
func event(platform, chat, text string) json.RawMessage {
	return eventWith(platform, chat, text, nil)
}

func eventWith(platform, chat, text string, src map[string]any) json.RawMessage {
	source := map[string]any{"platform": platform, "chat_id": chat, "chat_type": "dm", "user_id": "u1"}
	for k, v := range src {
		source[k] = v
	}
	b, _ := json.Marshal(map[string]any{"text": text, "message_type": "text", "message_id": "msg-" + text, "source": source})
	return b
}

func inject(t testing.TB, s *simulator.Server, gatewayID string, ev json.RawMessage) simulator.Delivery {
	t.Helper()
	d, err := s.Inject(gatewayID, ev)
	if err != nil {
		t.Fatalf("Inject: %v", err)
	}
	return d
}

// eventText reads the text of an inbound frame.
func eventText(t testing.TB, f frame) string {
	t.Helper()
	in, ok := f.f.(contract.Inbound)
	if !ok {
		t.Fatalf("not an inbound frame: %s", f.line)
	}
	ev, err := contract.DecodeEvent(in.Event)
	if err != nil {
		t.Fatalf("DecodeEvent: %v", err)
	}
	return ev.Text
}

// awaitJournal waits for a journal entry after since.
func awaitJournal(t testing.TB, s *simulator.Server, since uint64, match func(simulator.JournalEntry) bool) simulator.JournalEntry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	e, err := s.Await(ctx, since, match)
	if err != nil {
		t.Fatalf("no matching journal entry: %v", err)
	}
	return e
}

func kind(k string) func(simulator.JournalEntry) bool {
	return func(e simulator.JournalEntry) bool { return e.Kind == k }
}

// httpDo sends a request and decodes a JSON answer into out (when non-nil).
func httpDo(t testing.TB, method, url string, header http.Header, body []byte, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %q is not JSON: %v", method, url, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

func jsonBody(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func bearerHeader(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}
}

// waitManualTimers waits until the manual clock has at least n timers, so
// an Advance wakes what the test expects.
func waitManualTimers(t testing.TB, m *clock.Manual, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	if err := m.WaitForTimers(ctx, n); err != nil {
		t.Fatalf("only %d timers armed, want %d", m.Pending(), n)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func drainComplete(e simulator.JournalEntry) bool {
	return e.Kind == simulator.JournalDrain && strings.HasPrefix(e.Detail, "drain complete")
}

// bufferLogger collects the simulator's logs, at debug level, for checks.
func bufferLogger() (*slog.Logger, *testkit.Buffer) {
	b := &testkit.Buffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}
