package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/testkit"
)

// frame is one frame the test connector received, raw and decoded.
type frame struct {
	raw string // exactly as received, newline included when there was one
	f   contract.Frame
}

func (f frame) typ() string { return f.f.FrameType() }

// connector is a loopback relay connector for tests: a real WebSocket
// server on 127.0.0.1 whose behaviour each test scripts.
type connector struct {
	t   *testing.T
	srv *httptest.Server
	mux *http.ServeMux

	// Auto behaviour of new connections; tests may change it before the
	// client dials.
	autoDescriptor atomic.Bool
	autoResult     atomic.Bool
	// descriptor returns the descriptor for a hello.
	descriptor func(platform string) contract.CapabilityDescriptor
	// result answers an outbound when autoResult is set.
	result func(o contract.Outbound) contract.Result
	// refuse, when set, may refuse upgrade n (1-based) with an HTTP status.
	refuse func(n int) int
	// onConn, when set, runs on every accepted connection after the read
	// loop started.
	onConn func(tc *tconn)
	// noPong suppresses pong replies; onPing, when set, is told of
	// every ping.
	noPong atomic.Bool
	onPing func()

	mu       sync.Mutex
	upgrades int // HTTP requests to /relay, refused or not
	conns    []*tconn
	live     int
	maxLive  int
	authz    []string // Authorization header of every upgrade request
	connCh   chan *tconn
	wg       sync.WaitGroup
}

func newConnector(t *testing.T) *connector {
	t.Helper()
	c := &connector{t: t, mux: http.NewServeMux(), connCh: make(chan *tconn, 64)}
	c.autoDescriptor.Store(true)
	c.autoResult.Store(true)
	c.descriptor = func(p string) contract.CapabilityDescriptor {
		d := contract.PlaceholderDescriptor(p)
		d.Label = strings.ToUpper(p)
		d.MaxMessageLength = 2000
		return d
	}
	c.result = func(o contract.Outbound) contract.Result {
		return contract.Result{Success: true, MessageID: "srv-" + o.Action.Op}
	}
	c.mux.HandleFunc("/relay", c.serveRelay)
	c.srv = httptest.NewServer(c.mux)
	t.Cleanup(c.close)
	return c
}

// URL is the base URL a client is configured with.
func (c *connector) URL() string { return c.srv.URL }

func (c *connector) close() {
	c.mu.Lock()
	conns := append([]*tconn(nil), c.conns...)
	c.mu.Unlock()
	for _, tc := range conns {
		_ = tc.ws.CloseNow()
		tc.resume()
	}
	c.wg.Wait()
	c.srv.Close()
}

func (c *connector) Upgrades() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.upgrades
}

func (c *connector) Conns() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.conns)
}

func (c *connector) Authz() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.authz...)
}

func (c *connector) serveRelay(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.upgrades++
	n := c.upgrades
	c.authz = append(c.authz, r.Header.Get("Authorization"))
	refuse := c.refuse
	c.mu.Unlock()
	if refuse != nil {
		if st := refuse(n); st != 0 {
			http.Error(w, `{"error":"refused"}`, st)
			return
		}
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		OnPingReceived: func(context.Context, []byte) bool {
			if c.onPing != nil {
				c.onPing()
			}
			return !c.noPong.Load()
		},
	})
	if err != nil {
		return
	}
	ws.SetReadLimit(-1)
	tc := &tconn{c: c, ws: ws, n: n, authz: r.Header.Get("Authorization"),
		frames: make(chan frame, 4096), done: make(chan struct{}), resumeCh: make(chan struct{})}
	tc.auto.Store(true)
	c.mu.Lock()
	c.conns = append(c.conns, tc)
	c.live++
	if c.live > c.maxLive {
		c.maxLive = c.live
	}
	c.wg.Add(1)
	c.mu.Unlock()
	c.connCh <- tc
	defer c.wg.Done()
	if c.onConn != nil {
		c.wg.Add(1)
		go func() { defer c.wg.Done(); c.onConn(tc) }()
	}
	tc.readLoop()
	c.mu.Lock()
	c.live--
	c.mu.Unlock()
}

// next returns the next accepted connection.
func (c *connector) next(t *testing.T) *tconn {
	t.Helper()
	select {
	case tc := <-c.connCh:
		return tc
	case <-time.After(testkit.Wait):
		t.Fatalf("no connection within %s (upgrades so far: %d)", testkit.Wait, c.Upgrades())
		return nil
	}
}

// noConn asserts that no further connection arrives quickly; used after the
// clock was advanced less than a wait.
func (c *connector) noConn(t *testing.T) {
	t.Helper()
	select {
	case tc := <-c.connCh:
		t.Fatalf("unexpected connection #%d", tc.n)
	case <-time.After(50 * time.Millisecond):
	}
}

// tconn is one accepted connection.
type tconn struct {
	c      *connector
	ws     *websocket.Conn
	n      int
	authz  string
	frames chan frame
	done   chan struct{}
	auto   atomic.Bool // per-connection switch for the auto behaviour

	mu      sync.Mutex
	history []frame
	code    websocket.StatusCode
	reason  string
	hellos  int

	// A stalled connection stops reading (after the message it may be
	// reading now): it answers no pings and its TCP buffers fill.
	paused     atomic.Bool
	resumeCh   chan struct{}
	resumeOnce sync.Once
}

// stall makes the connector stop reading this connection.
func (tc *tconn) stall() { tc.paused.Store(true) }

// resume lets a stalled connection read again.
func (tc *tconn) resume() { tc.resumeOnce.Do(func() { close(tc.resumeCh) }) }

func (tc *tconn) readLoop() {
	defer close(tc.done)
	var split contract.LineSplitter
	for {
		if tc.paused.Load() {
			<-tc.resumeCh
		}
		_, msg, err := tc.ws.Read(context.Background())
		if err != nil {
			var ce websocket.CloseError
			tc.mu.Lock()
			if errors.As(err, &ce) {
				tc.code, tc.reason = ce.Code, ce.Reason
			} else {
				tc.code = -1
			}
			tc.mu.Unlock()
			return
		}
		lines := 0
		_ = split.Feed(msg, func(line []byte) error {
			lines++
			tc.record(string(line)+"\n", line)
			return nil
		})
		if lines == 0 && split.Pending() > 0 && strings.HasSuffix(string(msg), "}") && split.Pending() == len(msg) {
			// A frame without its newline (the no-newline deviation):
			// record it raw so tests can see it, and drop it from the
			// splitter so later frames still parse.
			tc.record(string(msg), msg)
			split = contract.LineSplitter{}
		}
	}
}

func (tc *tconn) record(raw string, line []byte) {
	f, err := contract.DecodeFrame(line)
	if err != nil {
		f = contract.UnknownFrame{Type: "undecodable", Raw: json.RawMessage(fmt.Sprintf("%q", raw))}
	}
	fr := frame{raw: raw, f: f}
	tc.mu.Lock()
	tc.history = append(tc.history, fr)
	tc.mu.Unlock()
	// Answer before publishing the frame, so a test that saw a hello
	// knows its descriptor is already on the wire.
	if tc.auto.Load() {
		switch v := f.(type) {
		case contract.Hello:
			tc.mu.Lock()
			tc.hellos++
			tc.mu.Unlock()
			if tc.c.autoDescriptor.Load() {
				tc.send(contract.DescriptorFrame{Descriptor: tc.c.descriptor(v.Platform)})
			}
		case contract.Outbound:
			if tc.c.autoResult.Load() {
				tc.send(contract.OutboundResult{RequestID: v.RequestID, Result: tc.c.result(v)})
			}
		}
	}
	tc.frames <- fr
}

// send writes a frame as one text message.
func (tc *tconn) send(f contract.Frame) {
	b, err := contract.EncodeFrame(f)
	if err != nil {
		panic(err)
	}
	_ = tc.ws.Write(context.Background(), websocket.MessageText, b)
}

// sendRaw writes text as one message, verbatim.
func (tc *tconn) sendRaw(s string) {
	_ = tc.ws.Write(context.Background(), websocket.MessageText, []byte(s))
}

// closeWith closes the connection from the connector side.
func (tc *tconn) closeWith(code int, reason string) {
	_ = tc.ws.Close(websocket.StatusCode(code), reason)
}

// expect returns the next frame, which must be of type typ.
func (tc *tconn) expect(t *testing.T, typ string) frame {
	t.Helper()
	select {
	case f := <-tc.frames:
		if f.typ() != typ {
			t.Fatalf("conn #%d: got %s frame %q, want %s", tc.n, f.typ(), f.raw, typ)
		}
		return f
	case <-time.After(testkit.Wait):
		t.Fatalf("conn #%d: no %s frame within %s", tc.n, typ, testkit.Wait)
		return frame{}
	}
}

// quiet asserts no frame arrives for a short while.
func (tc *tconn) quiet(t *testing.T) {
	t.Helper()
	select {
	case f := <-tc.frames:
		t.Fatalf("conn #%d: unexpected %s frame %q", tc.n, f.typ(), f.raw)
	case <-time.After(50 * time.Millisecond):
	}
}

// waitClosed waits for the connection to end and returns the close the
// connector saw.
func (tc *tconn) waitClosed(t *testing.T) (websocket.StatusCode, string) {
	t.Helper()
	select {
	case <-tc.done:
	case <-time.After(testkit.Wait):
		t.Fatalf("conn #%d did not close within %s", tc.n, testkit.Wait)
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.code, tc.reason
}

// handshake consumes the hellos of a fresh connection (auto descriptors
// answer them).
func (tc *tconn) handshake(t *testing.T, n int) []contract.Hello {
	t.Helper()
	var hs []contract.Hello
	for i := 0; i < n; i++ {
		hs = append(hs, tc.expect(t, contract.TypeHello).f.(contract.Hello))
	}
	return hs
}

// states records state events.
type states struct {
	ch  chan client.StateEvent
	mu  sync.Mutex
	all []client.StateEvent
}

func newStates() *states { return &states{ch: make(chan client.StateEvent, 1024)} }

func (s *states) record(ev client.StateEvent) {
	s.mu.Lock()
	s.all = append(s.all, ev)
	s.mu.Unlock()
	s.ch <- ev
}

// wait returns the next event in state st, skipping others.
func (s *states) wait(t *testing.T, st client.State) client.StateEvent {
	t.Helper()
	deadline := time.After(testkit.Wait)
	for {
		select {
		case ev := <-s.ch:
			if ev.State == st {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s state within %s", st, testkit.Wait)
			return client.StateEvent{}
		}
	}
}

// testOpts returns options for a deterministic client: manual clock, jitter
// pinned to the upper bound, keepalive off, fast close grace.
func testOpts(tc *connector, clk *clock.Manual, st *states) client.Options {
	o := client.Options{
		Config:       client.Config{URL: tc.URL(), GatewayID: "gw-test", Secret: "s3cret"},
		Clock:        clk,
		Rand:         func() float64 { return 1 },
		PingInterval: -1,
		CloseGrace:   time.Millisecond,
	}
	if st != nil {
		o.OnState = st.record
	}
	return o
}

// start builds a client, connects it, and returns it with its first
// connection (handshaked with n hellos).
func start(t *testing.T, tc *connector, o client.Options) (*client.Client, *tconn) {
	t.Helper()
	c, err := client.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeClient(t, c) })
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
		defer cancel()
		errc <- c.Connect(ctx)
	}()
	conn := tc.next(t)
	if err := <-errc; err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return c, conn
}

// handshaked starts a client with its state recorder against a new test
// connector on a manual clock, and returns them once the first connection
// has handshaked.
func handshaked(t *testing.T) (*connector, *clock.Manual, *states, *client.Client, *tconn) {
	t.Helper()
	tc := newConnector(t)
	clk := clock.NewManual(testkit.Epoch)
	st := newStates()
	c, conn := start(t, tc, testOpts(tc, clk, st))
	conn.handshake(t, 1)
	st.wait(t, client.StateHandshaked)
	return tc, clk, st, c, conn
}

// connectInBackground makes a client and starts its first Connect without
// waiting for it, for tests that drive the handshake (or its failure) by
// hand; the client is closed when the test ends.
func connectInBackground(t *testing.T, o client.Options) *client.Client {
	t.Helper()
	c, err := client.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeClient(t, c) })
	go func() { _ = c.Connect(context.Background()) }()
	return c
}

func closeClient(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	// A manual clock never fires the grace timer on its own; the test
	// options use a 1ms grace, and Close tolerates it not firing by
	// proceeding once ctx ends, but tests close with nothing in flight.
	if err := c.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// result runs f in a goroutine and returns a channel with its result.
func async[T any](f func() T) <-chan T {
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	return ch
}

func pending[T any](t *testing.T, ch <-chan T) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected early value %+v", v)
	case <-time.After(30 * time.Millisecond):
	}
}
