package client_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// benchClient connects a client to an in-process simulator on the wall
// clock, the setup the performance targets are stated for.
func benchClient(b *testing.B) *client.Client {
	b.Helper()
	s, err := simulator.New(simulator.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	gw, err := s.EnrollGateway(simulator.GatewaySpec{GatewayID: "gw-bench", Platforms: []string{"telegram"}})
	if err != nil {
		b.Fatal(err)
	}
	return connectBench(b, s.URL(), gw.GatewayID, gw.Secret)
}

// connectBench connects a telegram-only client to url and closes it when
// the benchmark ends.
func connectBench(b *testing.B, url, gatewayID, secret string) *client.Client {
	b.Helper()
	c, err := client.New(client.Options{
		Config: client.Config{URL: url, GatewayID: gatewayID, Secret: secret,
			Platforms: []client.Identity{{Platform: "telegram"}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	return c
}

// measureSequential sends one action at a time and reports the median and
// p99 latency.
func measureSequential(b *testing.B, c *client.Client) {
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if r, _ := c.Send(ctx, "42", "ping"); !r.Success {
			b.Fatalf("send = %+v", r)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "µs-median")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "µs-p99")
}

// measureConcurrent runs callers concurrent senders sharing b.N actions
// and reports actions per second; any failed call fails the benchmark.
func measureConcurrent(b *testing.B, c *client.Client, callers int) {
	ctx := context.Background()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for g := 0; g < callers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if r, _ := c.Send(ctx, "42", "ping"); !r.Success {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d calls failed", n)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "actions/s")
}

// BenchmarkRoundTripSequential measures one outbound round trip at a time
// and reports the median.
func BenchmarkRoundTripSequential(b *testing.B) {
	measureSequential(b, benchClient(b))
}

// BenchmarkThroughput64 runs 64 concurrent callers and reports actions per
// second.
func BenchmarkThroughput64(b *testing.B) {
	measureConcurrent(b, benchClient(b), 64)
}

// echoConnector is a minimal connector that answers every outbound with a
// canned success, to measure the client without a full connector's cost.
func echoConnector(b *testing.B) string {
	b.Helper()
	descriptor := []byte(`{"type":"descriptor","descriptor":{"contract_version":1,"platform":"telegram","label":"Telegram","max_message_length":4096,"supports_draft_streaming":false,"supports_edit":true,"supports_threads":false,"markdown_dialect":"plain","len_unit":"chars"}}` + "\n")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := context.Background()
		var out []byte
		var split contract.LineSplitter
		for {
			_, msg, err := ws.Read(ctx)
			if err != nil {
				return
			}
			_ = split.Feed(msg, func(line []byte) error {
				if bytes.Contains(line, []byte(`"type":"hello"`)) {
					return ws.Write(ctx, websocket.MessageText, descriptor)
				}
				const key = `"requestId":"`
				i := bytes.Index(line, []byte(key))
				if i < 0 {
					return nil
				}
				id := line[i+len(key) : i+len(key)+32]
				out = append(out[:0], `{"type":"outbound_result","requestId":"`...)
				out = append(out, id...)
				out = append(out, `","result":{"success":true,"message_id":"m1"}}`+"\n"...)
				return ws.Write(ctx, websocket.MessageText, out)
			})
		}
	}))
	srv.Listener = batchListener{srv.Listener}
	srv.Start()
	b.Cleanup(srv.Close)
	return srv.URL
}

// batchListener makes the echo connector answer like an efficient
// connector: writes wait until the connection next reads, so every result
// for the frames one read returned goes out in one syscall.
type batchListener struct{ net.Listener }

func (l batchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &batchConn{Conn: c}, nil
}

type batchConn struct {
	net.Conn
	mu      sync.Mutex
	pending []byte
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.pending = append(c.pending, p...)
	c.mu.Unlock()
	return len(p), nil
}

func (c *batchConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.pending)
	c.pending = c.pending[:0]
	return err
}

func (c *batchConn) Read(p []byte) (int, error) {
	if err := c.flush(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *batchConn) Close() error {
	_ = c.flush()
	return c.Conn.Close()
}

func echoClient(b *testing.B) *client.Client {
	b.Helper()
	return connectBench(b, echoConnector(b), "gw", "s")
}

func BenchmarkEchoRoundTripSequential(b *testing.B) {
	measureSequential(b, echoClient(b))
}

func BenchmarkEchoThroughput64(b *testing.B) {
	measureConcurrent(b, echoClient(b), 64)
}
