package simulator_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

// abuser is an authenticated gateway that sends what it likes and reads
// only to count: it keeps nothing, so the heap measures the simulator.
type abuser struct {
	t        *testing.T
	conn     *websocket.Conn
	done     chan struct{}
	descs    atomic.Int64
	results  atomic.Int64
	progress chan struct{} // poked after every message read
	paused   atomic.Bool
	resumeCh chan struct{}
	seq      int
}

func dialAbuser(t *testing.T, s *simulator.Server, gatewayID string) *abuser {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, s.RelayURL(), &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + mustToken(t, s, gatewayID)}},
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	conn.SetReadLimit(-1)
	a := &abuser{t: t, conn: conn, done: make(chan struct{}), progress: make(chan struct{}, 1), resumeCh: make(chan struct{})}
	go a.read()
	t.Cleanup(func() {
		conn.CloseNow()
		a.resume()
		<-a.done
	})
	return a
}

func (a *abuser) read() {
	defer close(a.done)
	for {
		if a.paused.Load() {
			<-a.resumeCh
		}
		_, msg, err := a.conn.Read(context.Background())
		if err != nil {
			return
		}
		a.descs.Add(int64(bytes.Count(msg, []byte(`"type":"descriptor"`))))
		a.results.Add(int64(bytes.Count(msg, []byte(`"type":"outbound_result"`))))
		select {
		case a.progress <- struct{}{}:
		default:
		}
	}
}

func (a *abuser) resume() {
	select {
	case <-a.resumeCh:
	default:
		close(a.resumeCh)
	}
}

func (a *abuser) write(frame string) { a.writeBytes([]byte(frame + "\n")) }

func (a *abuser) writeBytes(msg []byte) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	if err := a.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		a.t.Fatalf("write: %v", err)
	}
}

// outboundBytes sends an outbound frame built from prefix, a counter and
// suffix, without formatting the (large) parts again for every frame.
func (a *abuser) outboundBytes(platform string, actionPrefix, actionSuffix []byte, n int) {
	a.seq++
	msg := fmt.Appendf(nil, `{"type":"outbound","requestId":"%032x","platform":%q,"action":`, a.seq, platform)
	msg = append(msg, actionPrefix...)
	msg = fmt.Appendf(msg, "%d", n)
	msg = append(msg, actionSuffix...)
	a.writeBytes(append(msg, "}\n"...))
}

// await waits until counter reaches n.
func (a *abuser) await(what string, counter *atomic.Int64, n int64) {
	a.t.Helper()
	deadline := time.After(testkit.Wait)
	for counter.Load() < n {
		select {
		case <-a.progress:
		case <-deadline:
			a.t.Fatalf("%s: %d of %d after %s", what, counter.Load(), n, testkit.Wait)
		}
	}
}

// outbound sends an outbound frame around action.
func (a *abuser) outbound(platform, action string) {
	a.seq++
	a.write(fmt.Sprintf(`{"type":"outbound","requestId":"%032x","platform":%q,"action":%s}`, a.seq, platform, action))
}

// barrier waits until every frame sent so far was handled: it sends one
// more outbound and waits for as many results as outbound frames.
func (a *abuser) barrier() {
	a.t.Helper()
	a.outbound("discord", `{"op":"typing","chat_id":"barrier"}`)
	a.await("results", &a.results, int64(a.seq))
}

// liveHeap is the heap in use once garbage (and pooled buffers, which
// survive one collection) is gone.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// One authenticated gateway, with default options, drives every abusive
// pattern of issue 11 through a real socket; after each the simulator's
// heap must have grown by less than 64 MiB in all (the patterns send over
// 100 MB, which the old unbounded structures kept), and its
// accounting must show the structure at its cap.
func TestOneGatewayCannotExhaustMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves about 100 MB through loopback")
	}
	const budget = 64 << 20
	s := start(t, simulator.Options{HandshakeTimeout: -1, PingInterval: -1})
	enroll(t, s, simulator.GatewaySpec{GatewayID: "abuser", Platforms: []string{"discord", "telegram"}})
	a := dialAbuser(t, s, "abuser")
	a.write(`{"type":"hello","platform":"discord","botId":""}`)
	a.write(`{"type":"hello","platform":"telegram","botId":""}`)
	a.await("descriptors", &a.descs, 2)
	base := liveHeap()
	check := func(step string, retained simulator.Retained, limit int64) {
		t.Helper()
		grew := liveHeap() - base
		t.Logf("%-28s heap +%6.1f MiB; %s holds %d entries, %d bytes, dropped %d", step, float64(grew)/(1<<20), step, retained.Entries, retained.Bytes, retained.Dropped)
		if grew >= budget {
			t.Fatalf("after %s the heap grew by %d bytes, over the %d budget", step, grew, budget)
		}
		if limit > 0 && retained.Bytes > limit {
			t.Errorf("%s holds %d bytes, over its cap %d (plus one record)", step, retained.Bytes, limit)
		}
	}
	const oneRecord = 1 << 20
	// Without the race detector the patterns send well over 100 MB, which
	// the old unbounded structures all kept; with it (every byte costs ~100
	// times more) each still sends more than its structure's cap.
	n := func(race, full int) int {
		if raceEnabled {
			return race
		}
		return full
	}

	// 1. Big sends: the outbound history kept every raw action.
	big := bytes.Repeat([]byte("s"), 1_000_000)
	for i := 0; i < n(5, 27); i++ {
		a.outboundBytes("discord", append([]byte(`{"op":"send","chat_id":"c","content":"`), big...), []byte(`","metadata":{}}`), i)
	}
	a.barrier()
	check("outbound history", s.Usage().Outbound, simulator.DefaultHistoryMaxBytes+oneRecord)

	// 2. Interrupts with a 1 MB session key: the interrupt history.
	for i := 0; i < n(5, 27); i++ {
		msg := fmt.Appendf(nil, `{"type":"interrupt","session_key":"%d`, i)
		msg = append(msg, big...)
		a.writeBytes(append(msg, "\",\"reason\":null}\n"...))
	}
	a.barrier()
	check("interrupt history", s.Usage().Interrupt, simulator.DefaultHistoryMaxBytes+oneRecord)

	// 3. Drafts, each with a fresh id and a 50 KB chat id: the draft map
	// was never trimmed.
	chat := append(append([]byte(`{"op":"draft","chat_id":"`), big[:50_000]...), `","content":"x","final":false,"metadata":{},"draft_id":`...)
	for i := 0; i < n(90, 540); i++ {
		a.outboundBytes("telegram", chat, []byte("}"), i)
	}
	a.barrier()
	if u := s.Usage(); u.Drafts.Dropped == 0 {
		t.Errorf("draft ids were never forgotten: %+v", u.Drafts)
	}
	check("draft ids", s.Usage().Drafts, simulator.DefaultHistoryMaxBytes+oneRecord)

	// 4. More thread_create than HistorySize: the thread map.
	var batch strings.Builder
	for i := 0; i < simulator.DefaultHistorySize+n(100, 2000); i++ {
		a.seq++
		fmt.Fprintf(&batch, `{"type":"outbound","requestId":"%032x","platform":"discord","action":{"op":"thread_create","chat_id":"p","thread_name":"%s","metadata":{}}}`+"\n", a.seq, strings.Repeat("t", 100))
		if batch.Len() > 60_000 {
			a.write(strings.TrimSuffix(batch.String(), "\n"))
			batch.Reset()
		}
	}
	if batch.Len() > 0 {
		a.write(strings.TrimSuffix(batch.String(), "\n"))
	}
	a.barrier()
	if u := s.Usage(); u.Threads.Entries > simulator.DefaultHistorySize {
		t.Errorf("%d thread ids remembered, over HistorySize", u.Threads.Entries)
	}
	check("thread ids", s.Usage().Threads, simulator.DefaultHistoryMaxBytes+oneRecord)

	// 5. The gateway stops reading while 900 KB events pour in: the write
	// queue held 256 of them, then the buffer grew without end. Now the
	// queue is capped in bytes, the buffer takes the rest up to its cap,
	// and inject answers 507 beyond.
	a.paused.Store(true)
	a.outbound("discord", `{"op":"typing","chat_id":"stall"}`) // the reader pauses after this answer
	refused := 0
	text := strings.Repeat("e", 450_000)
	for i := 0; i < n(8, 42); i++ {
		_, err := s.Inject("abuser", event("discord", "c-big", fmt.Sprint(i, text)))
		var re *simulator.RequestError
		switch {
		case err == nil:
		case errors.As(err, &re) && re.Status == http.StatusInsufficientStorage:
			refused++
		default:
			t.Fatalf("Inject: %v", err)
		}
	}
	if refused == 0 && !raceEnabled {
		t.Errorf("no inject was refused 507 although the buffer cap is %d bytes", simulator.DefaultBufferMaxBytes)
	}
	u := s.Usage()
	if u.QueuedBytes > simulator.DefaultQueueMaxBytes+oneRecord {
		t.Errorf("the stalled socket queues %d bytes, over QueueMaxBytes", u.QueuedBytes)
	}
	check("buffer", simulator.Retained{Entries: u.BufferedEntries, Bytes: u.BufferedBytes}, simulator.DefaultBufferMaxBytes)
	check("journal", u.Journal, simulator.DefaultJournalMaxBytes)
}
