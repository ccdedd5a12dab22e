package client_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
)

// watchedConn is the client's TCP connection with a small send buffer; it
// reports the first write that starts once armed.
type watchedConn struct {
	net.Conn
	armed   *atomic.Bool
	started chan<- struct{}
}

func (c watchedConn) Write(p []byte) (int, error) {
	if c.armed.Load() {
		select {
		case c.started <- struct{}{}:
		default:
		}
	}
	return c.Conn.Write(p)
}

// opaqueTransport hides the *http.Transport, so the client cannot cork
// its writes and every frame is written under coder/websocket's write lock.
type opaqueTransport struct{ http.RoundTripper }

// watchedClient dials connections whose writes cannot get far when the
// peer stops reading, and whose writes, once armed, are reported.
func watchedClient(corked bool, armed *atomic.Bool, started chan<- struct{}) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c.(*net.TCPConn).SetWriteBuffer(16 << 10)
		return watchedConn{Conn: c, armed: armed, started: started}, nil
	}
	if corked {
		return &http.Client{Transport: tr}
	}
	return &http.Client{Transport: opaqueTransport{tr}}
}

// A connector that stops reading must be caught by keepalive: a write
// stuck on the full socket keeps the ping from going out (and, uncorked,
// holds the write lock, so coder/websocket fails the ping after its own
// 5 s), and the pong deadline must still close the connection 1011 and
// re-dial, PingTimeout after the ping, on the client's clock.
func TestKeepaliveCatchesAConnectorThatStopsReading(t *testing.T) {
	for _, corked := range []bool{false, true} {
		name := "uncorked"
		if corked {
			name = "corked"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel() // each waits out coder/websocket's 5 s on the wall clock
			tc := newConnector(t)
			clk := clock.NewManual(epoch)
			st := newStates()
			o := testOpts(tc, clk, st)
			o.PingInterval = 0 // defaults: 30s / 60s
			o.HandshakeTimeout = time.Hour
			o.OutboundTimeout = time.Hour
			var armed atomic.Bool
			started := make(chan struct{}, 1)
			o.HTTPClient = watchedClient(corked, &armed, started)
			c, conn := start(t, tc, o)
			conn.handshake(t, 1)
			st.wait(t, client.StateHandshaked)

			// The connector stops reading (once the frame its reader is
			// waiting for arrives); a call far larger than the socket
			// buffers gets stuck in its write.
			conn.stall()
			if err := c.Interrupt(context.Background(), "last-read", nil); err != nil {
				t.Fatal(err)
			}
			conn.expect(t, contract.TypeInterrupt)
			armed.Store(true)
			res := async(func() contract.Result {
				r, _ := c.Do(context.Background(), contract.Action{Op: contract.OpSend, ChatID: "c", Content: strings.Repeat("x", 900_000)})
				return r
			})
			recv(t, started)

			waitDeadline(t, clk, epoch.Add(30*time.Second))
			clk.Advance(30 * time.Second) // the ping comes due
			waitDeadline(t, clk, epoch.Add(90*time.Second))
			time.Sleep(5500 * time.Millisecond) // not an assertion: lets coder/websocket's 5 s lock wait run out
			clk.Advance(60*time.Second - time.Nanosecond)
			select {
			case <-conn.done:
				t.Fatal("closed before the pong deadline")
			case <-time.After(30 * time.Millisecond):
			}
			clk.Advance(time.Nanosecond)
			ev := st.wait(t, client.StateReconnecting)
			if ev.Code != contract.CloseInternalError || ev.Reason != contract.ReasonKeepaliveTimeout {
				t.Fatalf("connection ended %d %q, want 1011 %q", ev.Code, ev.Reason, contract.ReasonKeepaliveTimeout)
			}
			// Corked, bytes may have left: ambiguous; uncorked, coder/websocket
			// never leaves a frame whole when it fails: a plain failure.
			if r := recv(t, res); r.Success || r.Ambiguous != corked {
				t.Fatalf("stuck call = %+v, want a failure, ambiguous %v", r, corked)
			}

			// And it dials again after its backoff.
			armed.Store(false)
			clk.Advance(ev.Wait)
			next := tc.next(t)
			next.handshake(t, 1)
			st.wait(t, client.StateHandshaked)
		})
	}
}
