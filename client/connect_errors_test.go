package client_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

// connectUntil runs Connect and ends its context when the supervisor
// reports an event stop matches, then returns Connect's error. With a
// manual clock no backoff wait ever ends, so the error is about the dial
// or connection the event followed.
func connectUntil(t *testing.T, o client.Options, stop func(client.StateEvent) bool) error {
	t.Helper()
	st := newStates()
	o.OnState = st.record
	c, err := client.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeClient(t, c) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := async(func() error { return c.Connect(ctx) })
	deadline := time.After(testkit.Wait)
	for {
		select {
		case ev := <-st.ch:
			if stop(ev) {
				cancel()
				return <-errc
			}
		case err := <-errc:
			t.Fatalf("Connect returned before the event: %v", err)
		case <-deadline:
			t.Fatal("no stopping event")
		}
	}
}

func reconnecting(ev client.StateEvent) bool { return ev.State == client.StateReconnecting }

// checkConnectError checks that err is a *ConnectError matching want and
// context.Canceled, and that its text says why.
func checkConnectError(t *testing.T, err error, want error, says ...string) *client.ConnectError {
	t.Helper()
	var ce *client.ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("got %T %v, want a *ConnectError", err, err)
	}
	if !errors.Is(err, want) || !errors.Is(err, context.Canceled) {
		t.Fatalf("%v: errors.Is(%v) %v, errors.Is(context.Canceled) %v", err, want, errors.Is(err, want), errors.Is(err, context.Canceled))
	}
	for _, other := range []error{client.ErrRefused, client.ErrUnauthorized, client.ErrTokenExpired, client.ErrNoDescriptor, client.ErrTimeout} {
		if other != want && errors.Is(err, other) {
			t.Fatalf("%v also matches %v", err, other)
		}
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("%q does not say %q", err, s)
		}
	}
	return ce
}

// freePort returns a loopback address nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// silentListener accepts connections and never answers them.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

func TestConnectErrorRefused(t *testing.T) {
	addr := freePort(t)
	o := client.Options{Config: client.Config{URL: "http://" + addr, GatewayID: "gw", Secret: "s"}, Clock: clock.NewManual(testkit.Epoch), PingInterval: -1}
	err := connectUntil(t, o, reconnecting)
	ce := checkConnectError(t, err, client.ErrRefused, "failed to connect to ws://"+addr+"/relay", "unreachable or refused the upgrade", "connection refused", "1 dial(s)")
	var de *client.DialError
	if !errors.As(err, &de) || de.StatusCode != 0 || ce.Dials != 1 {
		t.Fatalf("dial error %+v, dials %d", de, ce.Dials)
	}

	// An HTTP status instead of the upgrade is a refusal too.
	tc := newConnector(t)
	tc.refuse = func(int) int { return 503 }
	err = connectUntil(t, testOpts(tc, clock.NewManual(testkit.Epoch), nil), reconnecting)
	checkConnectError(t, err, client.ErrRefused, "HTTP 503")
	if !errors.As(err, &de) || de.StatusCode != 503 {
		t.Fatalf("dial error %+v", de)
	}

	// Without reconnection Connect returns the failure at once.
	o.Reconnect = client.Bool(false)
	c, _ := client.New(o)
	t.Cleanup(func() { closeClient(t, c) })
	if err := c.Connect(context.Background()); !errors.Is(err, client.ErrRefused) || errors.As(err, new(*client.ConnectError)) {
		t.Fatalf("without reconnection: %v", err)
	}
}

// simFor starts relaysim on clk with one gateway fronting telegram.
func simFor(t *testing.T, clk *clock.Manual) (*simulator.Server, simulator.Gateway) {
	t.Helper()
	s := newSim(t, clk, simulator.Options{})
	gw, err := s.EnrollGateway(simulator.GatewaySpec{GatewayID: "gw-1", Platforms: []string{"telegram"}})
	if err != nil {
		t.Fatal(err)
	}
	return s, gw
}

func TestConnectErrorUnauthorizedAndExpired(t *testing.T) {
	clk := clock.NewManual(testkit.Epoch)
	s, gw := simFor(t, clk)
	o := client.Options{Config: client.Config{URL: s.URL(), GatewayID: gw.GatewayID, Secret: "not-the-secret",
		Platforms: []client.Identity{{Platform: "telegram"}}}, Clock: clk, PingInterval: -1}
	err := connectUntil(t, o, reconnecting)
	checkConnectError(t, err, client.ErrUnauthorized, "refused the token as unauthorized", `close 4401 "unauthorized"`)
	var cl *client.CloseError
	if !errors.As(err, &cl) || cl.Code != contract.CloseUnauthorized || cl.Handshaked {
		t.Fatalf("close error %+v", cl)
	}

	// The client's clock an hour behind the connector's: its tokens
	// arrive expired.
	o.Config.Secret = gw.Secret
	o.Clock = clock.NewManual(testkit.Epoch.Add(-time.Hour))
	err = connectUntil(t, o, reconnecting)
	checkConnectError(t, err, client.ErrTokenExpired, "refused the token as expired", "clocks apart", `close 4401 "expired"`)

	// Without reconnection: the same reason, at once.
	o.Config.Secret, o.Clock, o.Reconnect = "not-the-secret", clk, client.Bool(false)
	c, _ := client.New(o)
	t.Cleanup(func() { closeClient(t, c) })
	if err := c.Connect(context.Background()); !errors.Is(err, client.ErrUnauthorized) || !errors.Is(err, client.ErrConnectionLost) {
		t.Fatalf("without reconnection: %v", err)
	}
}

func TestConnectErrorNoDescriptor(t *testing.T) {
	// relaysim closes 1008 "platform not fronted": the gateway fronts
	// telegram and the client says hello for discord.
	clk := clock.NewManual(testkit.Epoch)
	s, gw := simFor(t, clk)
	o := client.Options{Config: client.Config{URL: s.URL(), GatewayID: gw.GatewayID, Secret: gw.Secret,
		Platforms: []client.Identity{{Platform: "discord"}}}, Clock: clk, PingInterval: -1}
	seq := s.JournalSeq()
	err := connectUntil(t, o, func(ev client.StateEvent) bool {
		if ev.State == client.StateConnected {
			// The hello was ignored; the grace before the close runs on
			// the shared clock.
			ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
			defer cancel()
			if _, err := s.Await(ctx, seq, func(e simulator.JournalEntry) bool { return e.Kind == simulator.JournalIgnored }); err != nil {
				t.Error(err)
			}
			clk.Advance(simulator.DefaultHelloGrace)
		}
		return reconnecting(ev)
	})
	checkConnectError(t, err, client.ErrNoDescriptor, "no descriptor for discord", `close 1008 "platform not fronted"`)

	// The client's own handshake timeout: a connector that never answers
	// the hello.
	tc := newConnector(t)
	tc.autoDescriptor.Store(false)
	mclk := clock.NewManual(testkit.Epoch)
	o = testOpts(tc, mclk, nil)
	err = connectUntil(t, o, func(ev client.StateEvent) bool {
		if ev.State == client.StateConnected {
			tc.next(t)
			ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
			defer cancel()
			mclk.WaitForTimers(ctx, 1) // the handshake timer
			mclk.Advance(contract.DefaultHandshakeTimeout)
		}
		return reconnecting(ev)
	})
	checkConnectError(t, err, client.ErrNoDescriptor, `close 1002 "no descriptor"`)

	// The context ends while the socket waits for its descriptor.
	tc2 := newConnector(t)
	tc2.autoDescriptor.Store(false)
	err = connectUntil(t, testOpts(tc2, clock.NewManual(testkit.Epoch), nil), func(ev client.StateEvent) bool {
		if ev.State == client.StateConnected {
			tc2.next(t).expect(t, contract.TypeHello) // the hello is out
			return true
		}
		return false
	})
	checkConnectError(t, err, client.ErrNoDescriptor, "no descriptor for relay", "socket of dial 1 is open and its hellos went out")
}

func TestConnectErrorTimeout(t *testing.T) {
	// The upgrade gets no answer within DialTimeout.
	addr := silentListener(t)
	clk := clock.NewManual(testkit.Epoch)
	o := client.Options{Config: client.Config{URL: "http://" + addr, GatewayID: "gw", Secret: "s"}, Clock: clk, PingInterval: -1}
	err := connectUntil(t, o, func(ev client.StateEvent) bool {
		if ev.State == client.StateConnecting {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
				defer cancel()
				clk.WaitForTimers(ctx, 1) // the dial timer
				clk.Advance(10 * time.Second)
			}()
		}
		return reconnecting(ev)
	})
	checkConnectError(t, err, client.ErrTimeout, "did not answer", "timed out after 10s")
	var de *client.DialError
	if !errors.As(err, &de) || de.Timeout != 10*time.Second {
		t.Fatalf("dial error %+v", de)
	}

	// The context's deadline passes while the upgrade waits: not a bare
	// "context deadline exceeded".
	c, _ := client.New(client.Options{Config: o.Config, Clock: clock.NewManual(testkit.Epoch), PingInterval: -1})
	t.Cleanup(func() { closeClient(t, c) })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = c.Connect(ctx)
	if !errors.Is(err, client.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) ||
		!strings.Contains(err.Error(), "the upgrade of dial 1 has had no answer") {
		t.Fatalf("Connect past its deadline: %v", err)
	}
}
