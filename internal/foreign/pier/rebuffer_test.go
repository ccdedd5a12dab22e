package pier

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/internal/testkit"
)

// Live deliveries a socket never wrote (IDLE-007). A gateway that stops
// reading makes pier's writer block on one message, on a socket whose
// receive buffer is small; events injected then are answered "live" and
// wait in the queue behind it. The gateway then half-closes: pier's reader
// sees the socket end, the blocked write fails, and the socket is
// detached. The gateway still reads every message pier wrote before, so
// each test can account for every event exactly once.

// stalledText is the size of each event injected toward a stalled
// gateway: each frame goes out alone, as one message.
const stalledText = 512 << 10

// stalledEvents is how many events each test injects: more than the kernel
// takes in for a gateway that does not read (pier's send buffer grows to
// tcp_wmem's maximum, the gateway's receive buffer stays at tcp_rmem's
// default while nothing reads it), plus the one whose write blocks and two
// more that stay queued. 12 with Linux's defaults (4 MiB and 128 KiB).
func stalledEvents() int {
	kernel := 4<<20 + 128<<10
	wmem, _ := os.ReadFile("/proc/sys/net/ipv4/tcp_wmem")
	rmem, _ := os.ReadFile("/proc/sys/net/ipv4/tcp_rmem")
	w, r := strings.Fields(string(wmem)), strings.Fields(string(rmem))
	if len(w) == 3 && len(r) == 3 {
		wmax, err1 := strconv.Atoi(w[2])
		rdef, err2 := strconv.Atoi(r[1])
		if err1 == nil && err2 == nil {
			kernel = wmax + rdef
		}
	}
	return (kernel+stalledText-1)/stalledText + 3
}

// stalled is the gateway end of such a socket: it reads only when the test
// calls read or drain.
type stalled struct {
	t    *testing.T
	ws   *websocket.Conn
	tcp  *net.TCPConn
	rest []byte
}

// dialStalled connects g, handshakes platform and takes its descriptor.
func (b *bench) dialStalled(g gatewayView, platform string) *stalled {
	b.t.Helper()
	st := &stalled{t: b.t}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		st.tcp = conn.(*net.TCPConn) // Dial returns after the dial: no race
		return conn, nil
	}}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	url := strings.Replace(b.srv.URL(), "http://", "ws://", 1) + "/relay"
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr},
		HTTPHeader: http.Header{"Authorization": {"Bearer " + b.token(g)}}})
	if err != nil {
		b.t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(-1)
	b.t.Cleanup(func() { _ = ws.CloseNow() })
	st.ws = ws
	st.send(map[string]any{"type": "hello", "platform": platform, "botId": ""})
	fs, err := st.read()
	if err != nil || len(fs) != 1 || fs[0]["type"] != "descriptor" {
		b.t.Fatalf("after hello: %v %v, want one descriptor", fs, err)
	}
	return st
}

func (st *stalled) send(v any) {
	st.t.Helper()
	j, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	if err := st.ws.Write(ctx, websocket.MessageText, append(j, '\n')); err != nil {
		st.t.Fatalf("write: %v", err)
	}
}

// read reads one message and returns its complete frames.
func (st *stalled) read() ([]map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	_, msg, err := st.ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	lines := bytes.Split(append(st.rest, msg...), []byte("\n"))
	st.rest = append([]byte(nil), lines[len(lines)-1]...)
	var fs []map[string]any
	for _, l := range lines[:len(lines)-1] {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			st.t.Fatalf("a frame that is not JSON: %.80q", l)
		}
		fs = append(fs, m)
	}
	return fs, nil
}

// hangUp half-closes the socket: pier reads its end while the gateway can
// still read. It then reads every frame pier wrote, until the socket ends,
// and waits until pier let go of the socket.
func (b *bench) hangUpStalled(st *stalled) []map[string]any {
	b.t.Helper()
	if err := st.tcp.CloseWrite(); err != nil {
		b.t.Fatal(err)
	}
	var all []map[string]any
	for {
		fs, err := st.read()
		if err != nil {
			break
		}
		all = append(all, fs...)
	}
	b.waitReleased()
	return all
}

// injectStalled injects stalledEvents() big events for g and requires each
// to be answered live.
func (b *bench) injectStalled(g gatewayView) []delivery {
	b.t.Helper()
	big := strings.Repeat("x", stalledText)
	var ds []delivery
	for i := range stalledEvents() {
		d := b.inject(g, PlatformPier, "c1", fmt.Sprintf("%d %s", i, big))
		if d.Delivery != "live" {
			b.t.Fatalf("event %d: %+v, want live", i, d)
		}
		ds = append(ds, d)
	}
	return ds
}

// splitDelivered checks that the frames the stalled gateway got are live
// inbound deliveries of a prefix of ds, in order, and returns how many.
func splitDelivered(t *testing.T, got []map[string]any, ds []delivery) int {
	t.Helper()
	k := 0
	for _, f := range got {
		if f["type"] != "inbound" {
			continue
		}
		if k >= len(ds) || eventOf(f)["message_id"] != ds[k].MessageID || f["bufferId"] != nil {
			t.Fatalf("live frame %d on the old socket: %v, want %s without a bufferId", k, eventOf(f)["message_id"], ds[k].MessageID)
		}
		k++
	}
	return k
}

// replay takes n replayed inbound frames on c, acking each, and returns
// their message ids; every one must carry a bufferId of its own.
func replay(t *testing.T, c *gw, n int) (ids, bufferIDs []string) {
	t.Helper()
	seen := map[string]bool{}
	for range n {
		f := c.expect("inbound")
		bid, _ := f["bufferId"].(string)
		if bid == "" || seen[bid] {
			t.Fatalf("replayed %v with bufferId %q: want a fresh one (IDLE-009)", eventOf(f)["message_id"], bid)
		}
		seen[bid] = true
		ids = append(ids, eventOf(f)["message_id"].(string))
		bufferIDs = append(bufferIDs, bid)
		c.send(map[string]any{"type": "inbound_ack", "bufferId": bid})
	}
	c.quiet() // nothing more: no event twice
	return ids, bufferIDs
}

func messageIDs(ds []delivery) []string {
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.MessageID)
	}
	return ids
}

// TestUnwrittenLiveEventsAreBuffered: the events pier answered "live" and
// never wrote before the socket ended (the one whose write was blocked,
// those queued behind it) are buffered, and the next connection gets them
// replayed with bufferIds, oldest first, each once; acked, they are gone.
func TestUnwrittenLiveEventsAreBuffered(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(nil)
	st := b.dialStalled(g, PlatformPier)
	ds := b.injectStalled(g)
	k := splitDelivered(t, b.hangUpStalled(st), ds)
	t.Logf("%d events written before the socket ended, %d not", k, len(ds)-k)
	if len(ds)-k < 2 {
		t.Fatalf("only %d of %d events were left unwritten: the blocked write and at least one queued behind it are needed", len(ds)-k, len(ds))
	}
	if n := b.bufferLen(g); n != len(ds)-k {
		t.Fatalf("the buffer holds %d entries, want the %d events never written (IDLE-007)", n, len(ds)-k)
	}

	c := b.connect(g, PlatformPier)
	ids, _ := replay(t, c, len(ds)-k)
	if want := messageIDs(ds[k:]); !slices.Equal(ids, want) {
		t.Fatalf("replayed %v, want %v (each unwritten event once, oldest first)", ids, want)
	}
	if n := b.bufferLen(g); n != 0 {
		t.Fatalf("after the acks the buffer holds %d entries (IDLE-010)", n)
	}
	if d := b.inject(g, PlatformPier, "c1", "live again"); d.Delivery != "live" {
		t.Fatalf("after the drain: %+v, want live", d)
	}
	if f := c.expect("inbound"); f["bufferId"] != nil {
		t.Fatalf("live delivery with a bufferId: %v", f)
	}
}

// TestUnwrittenLiveEventsKeepTheirPlace: an event buffered while older live
// ones still waited to be written (the gateway went idle meanwhile) is
// replayed after them: they go back into the buffer in injection order,
// not behind it (IDLE-012).
func TestUnwrittenLiveEventsKeepTheirPlace(t *testing.T) {
	b := newBench(t, Options{})
	g := b.enroll(nil)
	st := b.dialStalled(g, PlatformPier)
	ds := b.injectStalled(g)
	st.send(map[string]any{"type": "going_idle"})
	testkit.Eventually(t, "pier flips the instance", func() bool {
		b.srv.mu.Lock()
		defer b.srv.mu.Unlock()
		return b.srv.gateways[g.GatewayID].inst.flipped
	})
	late := b.inject(g, PlatformPier, "c1", "after going_idle")
	if late.Delivery != "buffered" {
		t.Fatalf("after going_idle: %+v, want buffered", late)
	}
	k := splitDelivered(t, b.hangUpStalled(st), ds)
	if k == len(ds) {
		t.Fatalf("every event was written: nothing tests the order")
	}
	if n := b.bufferLen(g); n != len(ds)-k+1 {
		t.Fatalf("the buffer holds %d entries, want %d: the %d events never written and the one buffered", n, len(ds)-k+1, len(ds)-k)
	}

	c := b.connect(g, PlatformPier)
	ids, bids := replay(t, c, len(ds)-k+1)
	if want := append(messageIDs(ds[k:]), late.MessageID); !slices.Equal(ids, want) {
		t.Fatalf("replayed %v, want %v: the unwritten live events before the one buffered after them", ids, want)
	}
	if bids[len(bids)-1] != late.BufferID {
		t.Errorf("the buffered event came with bufferId %s, want %s as POST /inbound answered", bids[len(bids)-1], late.BufferID)
	}
	if n := b.bufferLen(g); n != 0 {
		t.Fatalf("after the acks the buffer holds %d entries", n)
	}
}

// TestUnwrittenLiveEventsBeyondTheBuffer: an unwritten live event that no
// longer fits the buffer is lost, logged at Warn and counted, and the
// oldest ones are kept.
func TestUnwrittenLiveEventsBeyondTheBuffer(t *testing.T) {
	var log testkit.Buffer
	b := newBench(t, Options{MaxBuffered: 1, Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	g := b.enroll(nil)
	st := b.dialStalled(g, PlatformPier)
	ds := b.injectStalled(g)
	k := splitDelivered(t, b.hangUpStalled(st), ds)
	if len(ds)-k < 2 {
		t.Fatalf("only %d events were left unwritten, want 2 or more", len(ds)-k)
	}
	b.srv.mu.Lock()
	lost := b.srv.lostLive
	b.srv.mu.Unlock()
	if lost != len(ds)-k-1 {
		t.Fatalf("%d events counted lost, want %d: all unwritten ones but the one that fits", lost, len(ds)-k-1)
	}
	if n := strings.Count(log.String(), "level=WARN msg=\"pier: a live event the socket never wrote does not fit the buffer"); n != lost {
		t.Fatalf("%d warnings for %d lost events:\n%s", n, lost, log.String())
	}
	c := b.connect(g, PlatformPier)
	if ids, _ := replay(t, c, 1); ids[0] != ds[k].MessageID {
		t.Fatalf("replayed %s, want the oldest unwritten event %s", ids[0], ds[k].MessageID)
	}
}

// TestUnwrittenLiveEventOverTheQueue: the live event that overflows the
// write queue (pier then closes 1011) was answered "live" like the others
// and is buffered with them; the events after it are buffered at once.
func TestUnwrittenLiveEventOverTheQueue(t *testing.T) {
	b := newBench(t, Options{MaxQueued: 3})
	g := b.enroll(nil)
	st := b.dialStalled(g, PlatformPier)
	big := strings.Repeat("x", stalledText)
	var live []delivery
	var after delivery
	for i := 0; after.Delivery == ""; i++ {
		if i > 4*stalledEvents() {
			t.Fatalf("%d events answered live: the queue never overflowed", i)
		}
		switch d := b.inject(g, PlatformPier, "c1", fmt.Sprintf("%d %s", i, big)); d.Delivery {
		case "live":
			live = append(live, d)
		case "buffered":
			after = d
		default:
			t.Fatalf("event %d: %+v", i, d)
		}
	}
	// pier decided the close: its writer writes what was queued before it
	// as the gateway reads, but the event over the queue was never queued.
	k := splitDelivered(t, b.hangUpStalled(st), live)
	if k != len(live)-1 {
		t.Fatalf("%d of %d live events written, want all but the one over the queue", k, len(live))
	}
	if n := b.bufferLen(g); n != len(live)-k+1 {
		t.Fatalf("the buffer holds %d entries, want %d: the live event over the queue and the one buffered after it", n, len(live)-k+1)
	}
	c := b.connect(g, PlatformPier)
	ids, _ := replay(t, c, len(live)-k+1)
	if want := append(messageIDs(live[k:]), after.MessageID); !slices.Equal(ids, want) {
		t.Fatalf("replayed %v, want %v", ids, want)
	}
}
