package simulator_test

// Benchmarks for the speed targets of docs/performance.md. Run them with:
//
//	go test ./simulator/ -run '^$' -bench . -benchtime 2s
//	go test ./simulator/ -run '^$' -bench IdleSessionMemory -benchtime 1x
//
// -short makes BenchmarkIdleSessionMemory use 1,000 sessions instead of
// 10,000.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/simulator"
)

// benchEvent is a realistic event of about 300 bytes.
var benchEvent = json.RawMessage(`{"text":"Can you summarise the thread above and propose next steps?","message_type":"text","message_id":"1234567890123456789","source":{"platform":"discord","chat_id":"987654321098765432","chat_type":"group","chat_name":"general","user_id":"111122223333444455","user_name":"alice","scope_id":"555566667777888899"}}`)

// benchReader counts frames as a gateway reader would see them, reusing one
// buffer; onLine runs for every frame.
func benchReader(conn *websocket.Conn, onLine func(line []byte)) error {
	var split contract.LineSplitter
	buf := make([]byte, 64<<10)
	for {
		_, r, err := conn.Reader(context.Background())
		if err != nil {
			return err
		}
		for {
			n, err := r.Read(buf)
			if n > 0 {
				split.Feed(buf[:n], func(line []byte) error { onLine(line); return nil })
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
	}
}

func benchDial(b *testing.B, url, token string) *websocket.Conn {
	conn, _, err := websocket.Dial(context.Background(), url, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}},
	})
	if err != nil {
		b.Fatalf("dial: %v", err)
	}
	conn.SetReadLimit(-1)
	return conn
}

// runInboundSimulator injects n events and returns how long until the
// gateway read them all.
func runInboundSimulator(b *testing.B, n int, oneFrame bool) time.Duration {
	s, err := simulator.New(simulator.Options{JournalSize: 1024, OneFramePerMessage: oneFrame})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	g, _ := s.EnrollGateway(simulator.GatewaySpec{GatewayID: "gw", Platforms: []string{"discord"}})
	conn := benchDial(b, s.RelayURL(), contract.MintTokenTTL("gw", g.Secret, time.Now(), time.Minute))
	defer conn.CloseNow()
	var got atomic.Int64
	all := make(chan struct{})
	ready := make(chan struct{})
	go benchReader(conn, func(line []byte) {
		if bytes.Contains(line[:min(len(line), 40)], []byte(`"descriptor"`)) {
			close(ready)
			return
		}
		if got.Add(1) == int64(n) {
			close(all)
		}
	})
	conn.Write(context.Background(), websocket.MessageText, []byte(`{"type":"hello","platform":"discord","botId":""}`+"\n"))
	<-ready
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := s.Inject("gw", benchEvent); err != nil {
			b.Fatal(err)
		}
	}
	<-all
	return time.Since(start)
}

// runInboundRaw writes n text messages of the same size over a bare
// coder/websocket connection: the ceiling the simulator is measured
// against.
func runInboundRaw(b *testing.B, n int) time.Duration {
	frame, _ := contract.EncodeFrame(contract.Inbound{Event: benchEvent})
	serverConn := make(chan *websocket.Conn, 1)
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		serverConn <- c
		<-done
		c.CloseNow()
	}))
	defer srv.Close()
	defer close(done)
	conn := benchDial(b, "ws"+strings.TrimPrefix(srv.URL, "http"), "")
	defer conn.CloseNow()
	sc := <-serverConn
	var got atomic.Int64
	all := make(chan struct{})
	go benchReader(conn, func([]byte) {
		if got.Add(1) == int64(n) {
			close(all)
		}
	})
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := sc.Write(context.Background(), websocket.MessageText, frame); err != nil {
			b.Fatal(err)
		}
	}
	<-all
	return time.Since(start)
}

// BenchmarkInbound measures end-to-end inbound delivery to one connected
// gateway (Inject to frame read), against raw coder/websocket text
// messages of the same size.
func BenchmarkInbound(b *testing.B) {
	b.Run("simulator", func(b *testing.B) {
		b.ReportAllocs()
		d := runInboundSimulator(b, b.N, false)
		b.ReportMetric(float64(b.N)/d.Seconds(), "events/s")
	})
	b.Run("simulator-one-frame-per-message", func(b *testing.B) {
		b.ReportAllocs()
		d := runInboundSimulator(b, b.N, true)
		b.ReportMetric(float64(b.N)/d.Seconds(), "events/s")
	})
	b.Run("raw-websocket", func(b *testing.B) {
		b.ReportAllocs()
		d := runInboundRaw(b, b.N)
		b.ReportMetric(float64(b.N)/d.Seconds(), "events/s")
	})
}

// BenchmarkInboundRatio alternates the simulator (both write modes) and raw
// coder/websocket in rounds of 20,000 events, so machine noise hits all
// alike, and reports each rate and the simulator's fraction of the raw rate
// (target >= 0.5).
func BenchmarkInboundRatio(b *testing.B) {
	const n, rounds = 20000, 5
	var sim, one, raw time.Duration
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			raw += runInboundRaw(b, n)
			sim += runInboundSimulator(b, n, false)
			one += runInboundSimulator(b, n, true)
		}
	}
	events := float64(n * rounds * b.N)
	b.ReportMetric(events/sim.Seconds(), "sim-events/s")
	b.ReportMetric(events/one.Seconds(), "sim-1frame-events/s")
	b.ReportMetric(events/raw.Seconds(), "raw-events/s")
	b.ReportMetric(raw.Seconds()/sim.Seconds(), "ratio")
	b.ReportMetric(raw.Seconds()/one.Seconds(), "ratio-1frame")
}

// BenchmarkHandshake measures upgrade + token check + hello + descriptor:
// one gateway after another ("sequential"), and many gateways connecting at
// once ("parallel", eight dialers per core), which is what a fleet of
// gateways coming back after a connector restart looks like.
func BenchmarkHandshake(b *testing.B) {
	s, err := simulator.New(simulator.Options{JournalSize: 1024, DuplicatePolicy: simulator.DuplicateAllow})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	g, _ := s.EnrollGateway(simulator.GatewaySpec{GatewayID: "gw", Platforms: []string{"telegram"}})
	hello := []byte(`{"type": "hello", "platform": "telegram", "botId": "123456"}` + "\n")
	handshake := func(b *testing.B) {
		conn := benchDial(b, s.RelayURL(), contract.MintTokenTTL("gw", g.Secret, time.Now(), contract.DefaultTokenTTL))
		conn.Write(context.Background(), websocket.MessageText, hello)
		_, msg, err := conn.Read(context.Background())
		if err != nil || !bytes.Contains(msg, []byte(`"descriptor"`)) {
			b.Fatalf("handshake: %v %s", err, msg)
		}
		conn.CloseNow()
	}
	// The lean client upgrades by hand, as a load generator would, so
	// less of the machine goes to the client side of the measurement.
	addr := strings.TrimPrefix(s.URL(), "http://")
	lean := func(b *testing.B) {
		c, err := rawHandshake(addr, "gw", g.Secret, "telegram")
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	for _, c := range []struct {
		name string
		fn   func(*testing.B)
	}{{"coder-websocket-client", handshake}, {"lean-client", lean}} {
		b.Run(c.name+"/sequential", func(b *testing.B) {
			start := time.Now()
			for i := 0; i < b.N; i++ {
				c.fn(b)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "handshakes/s")
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.SetParallelism(8)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c.fn(b)
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "handshakes/s")
		})
	}
}

// BenchmarkDrain10k measures the drain of 10,000 buffered events to a
// reconnecting gateway that acks each one: from hello to the drain being
// complete.
func BenchmarkDrain10k(b *testing.B) {
	const n = 10000
	// A window of 64, not the default 1, as in the published figures.
	s, err := simulator.New(simulator.Options{JournalSize: 1024, DrainWindow: 64})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	g, _ := s.EnrollGateway(simulator.GatewaySpec{GatewayID: "gw", Platforms: []string{"discord"}})
	var total time.Duration
	for i := 0; i < b.N; i++ {
		for j := 0; j < n; j++ {
			if d, err := s.Inject("gw", benchEvent); err != nil || d.Mode != simulator.DeliveryBuffered {
				b.Fatal(d, err)
			}
		}
		conn := benchDial(b, s.RelayURL(), contract.MintTokenTTL("gw", g.Secret, time.Now(), time.Minute))
		seq := s.JournalSeq()
		ack := make([]byte, 0, 128)
		go benchReader(conn, func(line []byte) {
			i := bytes.Index(line, []byte(`"bufferId":"`))
			if i < 0 {
				return
			}
			id := line[i+len(`"bufferId":"`):]
			id = id[:bytes.IndexByte(id, '"')]
			ack = append(append(append(ack[:0], `{"type":"inbound_ack","bufferId":"`...), id...), "\"}\n"...)
			conn.Write(context.Background(), websocket.MessageText, ack)
		})
		start := time.Now()
		conn.Write(context.Background(), websocket.MessageText, []byte(`{"type":"hello","platform":"discord","botId":""}`+"\n"))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err := s.Await(ctx, seq, func(e simulator.JournalEntry) bool {
			return e.Kind == simulator.JournalDrain && strings.HasPrefix(e.Detail, "drain complete")
		})
		cancel()
		total += time.Since(start)
		if err != nil || len(s.Buffer("gw")) != 0 {
			b.Fatalf("drain incomplete: %v, %d left", err, len(s.Buffer("gw")))
		}
		seq = s.JournalSeq()
		conn.Close(websocket.StatusNormalClosure, "")
		// The next round must find no socket, so it buffers again.
		ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
		s.Await(ctx, seq, func(e simulator.JournalEntry) bool { return e.Kind == simulator.JournalClose })
		cancel()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/drain")
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "events/s")
}

// BenchmarkIdleSessionMemory opens 10,000 authenticated, handshaked, idle
// sessions from a child process (so the clients' memory and file
// descriptors are not ours) and reports the simulator's Go memory per
// session. Run it with -benchtime 1x.
func BenchmarkIdleSessionMemory(b *testing.B) {
	n := 10000
	if testing.Short() {
		n = 1000
	}
	// MaxConns -1: the sessions are the point, beyond the default cap.
	s, err := simulator.New(simulator.Options{JournalSize: 1024, MaxConns: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const secret = "bench-secret-0123456789abcdef0123456789abcdef0123456789abcdef0123"
	for i := 0; i < n; i++ {
		if _, err := s.EnrollGateway(simulator.GatewaySpec{GatewayID: "gw-" + strconv.Itoa(i), Secret: secret, Platforms: []string{"discord"}}); err != nil {
			b.Fatal(err)
		}
	}
	before, beforeStacks := heapAndStacks()

	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleClientsHelper$")
	cmd.Env = append(os.Environ(), "RELAYSIM_IDLE_CLIENTS="+strconv.Itoa(n), "RELAYSIM_IDLE_ADDR="+strings.TrimPrefix(s.URL(), "http://"), "RELAYSIM_IDLE_SECRET="+secret)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready") {
		b.Fatalf("helper: %q %v", line, err)
	}
	if got := len(s.Sessions()); got != n {
		b.Fatalf("%d sessions open, want %d", got, n)
	}
	after, afterStacks := heapAndStacks()
	per := float64(after-before) / float64(n)
	b.ReportMetric(per, "bytes/session")
	b.ReportMetric(float64(afterStacks-beforeStacks)/float64(n), "stack-bytes/session")
	b.ReportMetric(float64(n), "sessions")
	if per > 64<<10 {
		b.Errorf("%.0f bytes per idle session, over the 64 KiB budget", per)
	}
}

// heapAndStacks returns the Go memory in use (heap plus goroutine stacks)
// and the stacks alone, after collecting garbage.
func heapAndStacks() (total, stacks uint64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse, m.StackInuse
}

// TestIdleClientsHelper is the child process of BenchmarkIdleSessionMemory:
// it opens the sessions with hand-made upgrades (no goroutine per socket),
// handshakes each, says "ready" and holds them until stdin closes.
func TestIdleClientsHelper(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("RELAYSIM_IDLE_CLIENTS"))
	if n == 0 {
		t.Skip("only runs as the child of BenchmarkIdleSessionMemory")
	}
	addr, secret := os.Getenv("RELAYSIM_IDLE_ADDR"), os.Getenv("RELAYSIM_IDLE_SECRET")
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := rawHandshake(addr, "gw-"+strconv.Itoa(i), secret, "discord")
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}

// rawHandshake upgrades a TCP connection by hand, sends a hello and reads
// the descriptor.
func rawHandshake(addr, gatewayID, secret, platform string) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 16)
	rand.Read(key)
	k := base64.StdEncoding.EncodeToString(key)
	tok := contract.MintTokenTTL(gatewayID, secret, time.Now(), time.Hour)
	fmt.Fprintf(c, "GET /relay HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n", addr, k, tok)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	h := sha1.Sum([]byte(k + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(h[:]) {
		c.Close()
		return nil, fmt.Errorf("upgrade answered %s", resp.Status)
	}
	if _, err := c.Write(maskedText([]byte(`{"type":"hello","platform":"` + platform + `","botId":""}` + "\n"))); err != nil {
		c.Close()
		return nil, err
	}
	// The descriptor: one unmasked text frame with a 16-bit length.
	var hdr [4]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil || hdr[0] != 0x81 || hdr[1] != 126 {
		c.Close()
		return nil, fmt.Errorf("no descriptor frame: % x %v", hdr, err)
	}
	if _, err := io.CopyN(io.Discard, br, int64(binary.BigEndian.Uint16(hdr[2:]))); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// maskedText encodes a client text frame.
func maskedText(p []byte) []byte {
	out := []byte{0x81}
	if len(p) < 126 {
		out = append(out, 0x80|byte(len(p)))
	} else {
		out = append(out, 0x80|126, byte(len(p)>>8), byte(len(p)))
	}
	mask := []byte{1, 2, 3, 4}
	out = append(out, mask...)
	for i, c := range p {
		out = append(out, c^mask[i%4])
	}
	return out
}
