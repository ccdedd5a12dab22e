package soak

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relaykit/relaykit/contract"
)

// Abuse patterns of issue 11, each within the caps of
// simulator/limits.go (every frame under the contract's 1 MiB, every
// structure bounded by relaysim), with their weights. A burst is one
// pattern on one fresh socket.
var abusePatterns = []struct {
	name   string
	weight int
}{
	{"big_sends", 2},      // outbound sends of 1 MB: the outbound history
	{"big_interrupts", 2}, // interrupts with a 1 MB session key: the interrupt history
	{"drafts", 2},         // drafts with fresh ids and 50 KB chat ids: the draft map
	{"thread_creates", 2}, // many thread_create: the thread map
}

// Sizes of one burst.
const (
	abuseBigFrames  = 5       // 1 MB sends or interrupts
	abuseBigBytes   = 1000000 // bytes of content or session key
	abuseDrafts     = 100     // each with a 50 KB chat id
	abuseDraftChat  = 50000
	abuseThreads    = 1500
	abuseResultWait = 30 * time.Second
)

// AbuseStats is what the abusive gateway did.
type AbuseStats struct {
	// Bursts counts bursts by pattern; Frames and Bytes what they sent.
	Bursts map[string]int
	Frames int
	Bytes  int64
	// Results counts outbound results received; Interrupted the bursts a
	// restart or kill cut off.
	Results, Interrupted int
}

type abuser struct {
	h      *harness
	secret string
	seq    int

	mu    sync.Mutex
	stats AbuseStats
}

func newAbuser(h *harness) *abuser {
	return &abuser{h: h, stats: AbuseStats{Bursts: map[string]int{}}}
}

// secretRef is where start stores the gateway's secret; nil without an
// abuser.
func (a *abuser) secretRef() *string {
	if a == nil {
		return nil
	}
	return &a.secret
}

func (a *abuser) run() {
	h := a.h
	defer h.loops.Done()
	rng := rand.New(rand.NewPCG(uint64(h.cfg.Seed), 5))
	for {
		select {
		case <-h.stop:
			return
		case <-time.After(jitter(rng, h.cfg.AbuseEvery)):
		}
		a.burst(pick(rng, abusePatterns))
	}
}

// burst runs one pattern: handshake, send, wait for a result for every
// outbound, close.
func (a *abuser) burst(pattern string) {
	h := a.h
	hs, _ := h.current()
	if hs == nil {
		return
	}
	w := h.flow.open("abuse "+pattern, false)
	defer h.flow.close(w, false)
	ctx, cancel := context.WithTimeout(context.Background(), abuseResultWait+30*time.Second)
	defer cancel()
	dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
	conn, err := dialRaw(dctx, hs.relayURL(), abuseGateway, a.secret)
	dcancel()
	if err != nil {
		h.led.count("abuse_dial_failed", 1)
		return
	}
	defer conn.CloseNow()
	var descs, results atomic.Int64
	progress := make(chan struct{}, 1)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			msg, _, err := conn.Read(ctx)
			if err != nil {
				return
			}
			descs.Add(int64(bytes.Count(msg, []byte(`"type":"descriptor"`))))
			results.Add(int64(bytes.Count(msg, []byte(`"type":"outbound_result"`))))
			select {
			case progress <- struct{}{}:
			default:
			}
		}
	}()
	await := func(c *atomic.Int64, n int64, d time.Duration) bool {
		deadline := time.After(d)
		for c.Load() < n {
			select {
			case <-progress:
			case <-readDone:
				return c.Load() >= n
			case <-deadline:
				return false
			}
		}
		return true
	}
	if !await(&descs, int64(len(platforms)), 5*time.Second) {
		h.led.count("abuse_handshake_failed", 1)
		return
	}

	outbound, frames := 0, 0
	var sent int64
	write := func(msg []byte) bool {
		if err := conn.Write(ctx, msg, false); err != nil {
			return false
		}
		sent += int64(len(msg))
		return true
	}
	big := strings.Repeat("a", abuseBigBytes)
	ok := true
	switch pattern {
	case "big_sends":
		for i := 0; i < abuseBigFrames && ok; i++ {
			a.seq++
			ok = write(fmt.Appendf(nil, `{"type":"outbound","requestId":"%032x","platform":"discord","action":{"op":"send","chat_id":"abuse","content":"%s","metadata":{}}}`+"\n", a.seq, big))
			outbound++
			frames++
		}
	case "big_interrupts":
		for i := 0; i < abuseBigFrames && ok; i++ {
			a.seq++
			ok = write(fmt.Appendf(nil, `{"type":"interrupt","session_key":"%d%s","reason":null}`+"\n", a.seq, big))
			frames++
		}
	case "drafts":
		chat := big[:abuseDraftChat]
		for i := 0; i < abuseDrafts && ok; i++ {
			a.seq++
			ok = write(fmt.Appendf(nil, `{"type":"outbound","requestId":"%032x","platform":"telegram","action":{"op":"draft","chat_id":"%s","content":"x","final":false,"metadata":{},"draft_id":%d}}`+"\n", a.seq, chat, a.seq))
			outbound++
			frames++
		}
	case "thread_creates":
		var batch bytes.Buffer
		name := strings.Repeat("t", 100)
		for i := 0; i < abuseThreads && ok; i++ {
			a.seq++
			fmt.Fprintf(&batch, `{"type":"outbound","requestId":"%032x","platform":"discord","action":{"op":"thread_create","chat_id":"p","thread_name":"%s-%d","metadata":{}}}`+"\n", a.seq, name, a.seq)
			outbound++
			frames++
			if batch.Len() > 60000 || i == abuseThreads-1 {
				ok = write(batch.Bytes())
				batch.Reset()
			}
		}
	}
	got := await(&results, int64(outbound), abuseResultWait)
	a.mu.Lock()
	a.stats.Bursts[pattern]++
	a.stats.Frames += frames
	a.stats.Bytes += sent
	a.stats.Results += int(results.Load())
	a.mu.Unlock()
	switch {
	case ok && got:
		conn.Close(contract.CloseNormal, "soak: burst done")
	case h.replaced(hs):
		a.mu.Lock()
		a.stats.Interrupted++
		a.mu.Unlock()
	default:
		h.led.mu.Lock()
		h.led.violateLocked(nil, "abusive gateway (%s): %d of %d outbound results within %s (write ok %v); every action within the caps is answered",
			pattern, results.Load(), outbound, abuseResultWait, ok)
		h.led.mu.Unlock()
	}
}

func (a *abuser) result() AbuseStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.stats
	s.Bursts = map[string]int{}
	for k, v := range a.stats.Bursts {
		s.Bursts[k] = v
	}
	return s
}
