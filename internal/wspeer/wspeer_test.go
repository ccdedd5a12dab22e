package wspeer

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server accepts one socket, checks its Authorization and runs script on
// it.
func server(t *testing.T, script func(ctx context.Context, c *websocket.Conn)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(-1)
		script(r.Context(), c)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// TestRefusedUpgradeKeepsStatus: a refused upgrade returns the response,
// so that callers judge its status.
func TestRefusedUpgradeKeepsStatus(t *testing.T) {
	url := server(t, func(context.Context, *websocket.Conn) {})
	_, resp, err := Dial(context.Background(), url, Options{Token: "wrong"})
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("err %v, resp %v; want a 401 refusal", err, resp)
	}
}

// TestReceiveSplitsQueuesAndEnds: frames split across messages are queued
// once complete; Take leaves skipped frames, TakeThrough consumes them;
// pending bytes are reported; the close code and the hooks arrive in
// order.
func TestReceiveSplitsQueuesAndEnds(t *testing.T) {
	release := make(chan struct{})
	url := server(t, func(ctx context.Context, c *websocket.Conn) {
		_ = c.Write(ctx, websocket.MessageText, []byte("{\"n\":1}\n{\"n\":2}\n{\"n\""))
		_ = c.Write(ctx, websocket.MessageText, []byte(":3}\n{\"n\":4"))
		// A frame past MaxFrameSize drops the rest of its message; the
		// next message is split afresh.
		_ = c.Write(ctx, websocket.MessageText, []byte("}\n"+strings.Repeat("x", 64)+"\n{\"lost\":1}\n"))
		_ = c.Write(ctx, websocket.MessageText, []byte("{\"n\":5}\n"))
		<-release
		_ = c.Ping(c.CloseRead(ctx)) // CloseRead reads the pong
		_ = c.Close(websocket.StatusCode(contract.CloseUnauthorized), "unauthorized")
	})
	conn, _, err := Dial(context.Background(), url, Options{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	var msgs, oversize int
	var end End
	rx := Receive(conn, ReceiveOptions[string]{
		Decode:       func(line []byte) string { return string(line) },
		MaxFrameSize: 16,
		OnMessage:    func([]byte, bool) { msgs++ },
		OnOversize:   func([]byte) { oversize++ },
		OnEnd:        func(e End) { end = e },
	})
	defer rx.Stop()
	for len(rx.All()) < 5 {
		ch := rx.Changed()
		if len(rx.All()) >= 5 {
			break
		}
		testkit.Done(t, "a change", ch)
	}
	if got := strings.Join(rx.All(), " "); got != `{"n":1} {"n":2} {"n":3} {"n":4} {"n":5}` {
		t.Fatalf("frames %s", got)
	}
	if msgs != 4 || oversize != 1 {
		t.Fatalf("%d messages and %d oversize hooks; want 4 and 1", msgs, oversize)
	}
	if n, _ := rx.Pending(); n != 0 {
		t.Fatalf("%d bytes pending; want 0", n)
	}
	if f, ok := rx.Take(func(s string) bool { return s == `{"n":3}` }); !ok || f != `{"n":3}` {
		t.Fatalf("Take: %q %v", f, ok)
	}
	if f, ok := rx.Find(func(string) bool { return true }); !ok || f != `{"n":1}` {
		t.Fatalf("Take left the frames before its match: Find gave %q %v", f, ok)
	}
	if _, ok := rx.TakeThrough(func(s string) bool { return s == `{"n":4}` }); !ok {
		t.Fatal("TakeThrough found no n=4")
	}
	if f, ok := rx.Find(func(string) bool { return true }); !ok || f != `{"n":5}` {
		t.Fatalf("TakeThrough left %q %v untaken; want only n=5", f, ok)
	}
	close(release)
	testkit.Done(t, "a change", rx.Done())
	e, ended := rx.Ended()
	if !ended || e.Code != contract.CloseUnauthorized || e.Reason != "unauthorized" || e.Stopped {
		t.Fatalf("end %+v %v; want 4401 unauthorized", e, ended)
	}
	if end.Code != e.Code {
		t.Fatalf("OnEnd saw %+v, Ended %+v", end, e)
	}
	if rx.Pings() != 1 {
		t.Fatalf("%d pings; want 1", rx.Pings())
	}
}

// TestPendingAndStop: bytes without their newline are reported with the
// time they began waiting; Stop ends the reader as stopped, not closed.
func TestPendingAndStop(t *testing.T) {
	url := server(t, func(ctx context.Context, c *websocket.Conn) {
		_ = c.Write(ctx, websocket.MessageText, []byte(`{"n":1}`))
		_, _, _ = c.Read(ctx) // until the peer goes
	})
	conn, _, err := Dial(context.Background(), url, Options{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	rx := Receive(conn, ReceiveOptions[string]{Decode: func(line []byte) string { return string(line) }})
	for {
		ch := rx.Changed()
		if n, since := rx.Pending(); n == len(`{"n":1}`) && !since.IsZero() {
			break
		}
		testkit.Done(t, "a change", ch)
	}
	rx.Stop()
	if e, ended := rx.Ended(); !ended || !e.Stopped || e.Code != -1 {
		t.Fatalf("end %+v %v; want stopped without a close frame", e, ended)
	}
}

// TestMaxFramesBoundsTheQueue: frames past MaxFrames are counted, not
// kept.
func TestMaxFramesBoundsTheQueue(t *testing.T) {
	url := server(t, func(ctx context.Context, c *websocket.Conn) {
		_ = c.Write(ctx, websocket.MessageText, []byte("a\nb\nc\n"))
		_, _, _ = c.Read(ctx)
	})
	conn, _, err := Dial(context.Background(), url, Options{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	rx := Receive(conn, ReceiveOptions[string]{Decode: func(line []byte) string { return string(line) }, MaxFrames: 2})
	defer rx.Stop()
	for rx.Dropped() == 0 {
		ch := rx.Changed()
		if rx.Dropped() > 0 {
			break
		}
		testkit.Done(t, "a change", ch)
	}
	if got := strings.Join(rx.All(), ""); got != "ab" || rx.Dropped() != 1 {
		t.Fatalf("queued %q, dropped %d; want ab and 1", got, rx.Dropped())
	}
}
