package adapter

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/contract"
)

// gate is a TurnFunc whose turns block until released or cancelled, and
// which remembers each turn's context by chat.
type gate struct {
	mu      sync.Mutex
	ctxs    map[string]context.Context
	release map[string]chan struct{}
	ended   chan string // chat ids, as turns end
}

func newGate() *gate {
	return &gate{ctxs: map[string]context.Context{}, release: map[string]chan struct{}{}, ended: make(chan string, 16)}
}

func (g *gate) ch(chat string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.release[chat] == nil {
		g.release[chat] = make(chan struct{})
	}
	return g.release[chat]
}

func (g *gate) fn(ctx context.Context, t *Turn) error {
	chat := t.Chat().ID()
	g.mu.Lock()
	g.ctxs[chat] = ctx
	g.mu.Unlock()
	defer func() { g.ended <- chat }()
	select {
	case <-g.ch(chat):
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (g *gate) ctx(chat string) context.Context {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ctxs[chat]
}

func (g *gate) waitEnd(t *testing.T) string {
	t.Helper()
	select {
	case c := <-g.ended:
		return c
	case <-time.After(waitFor):
		t.Fatal("no turn ended")
		return ""
	}
}

func TestTypingHeartbeatsWhileATurnRuns(t *testing.T) {
	g := newGate()
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc("dc", 2000, "chars")}, fn: g.fn})
	e.inject(event("dc", "c1", "m1", "hi"))
	e.nextTurn()
	e.waitActions(1, contract.OpTyping) // the first beat goes out at once
	for beat := 2; beat <= 4; beat++ {
		if err := e.clk.WaitForTimers(e.ctx(), 1); err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(DefaultTypingInterval - time.Millisecond)
		if n := len(ofOps(e.actions(), contract.OpTyping)); n != beat-1 {
			t.Fatalf("a beat came early: %d beats", n)
		}
		e.clk.Advance(time.Millisecond)
		e.waitActions(beat, contract.OpTyping)
	}
	close(g.ch("c1"))
	g.waitEnd(t)
	e.eventually("the heartbeat to stop", func() bool { return e.clk.Pending() == 0 })
	e.clk.Advance(time.Minute)
	if n := len(ofOps(e.actions(), contract.OpTyping)); n != 4 {
		t.Fatalf("%d typing beats, want 4: beats went on after the turn", n)
	}
	for _, a := range ofOps(e.actions(), contract.OpTyping) {
		if a.Status != nil {
			t.Fatalf("a heartbeat carries content: %s", a.raw)
		}
	}
}

func TestSlackTypingStatusIsClearedAtTheEnd(t *testing.T) {
	g := newGate()
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc("slack", 2000, "chars")}, fn: g.fn})
	e.inject(event("slack", "c1", "m1", "hi"))
	e.nextTurn()
	close(g.ch("c1"))
	typing := e.waitActions(2, contract.OpTyping)
	if last := typing[len(typing)-1]; last.Status == nil || *last.Status != "" {
		t.Fatalf("the last typing frame is not a clear: %s", last.raw)
	}
}

func TestInterruptCancelsExactlyItsSession(t *testing.T) {
	g := newGate()
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc("dc", 2000, "chars", allOps...)}, fn: g.fn, opts: Options{TypingInterval: -1}})
	e.inject(event("dc", "c1", "m1", "one"))
	e.inject(event("dc", "c2", "m2", "two"))
	keys := map[string]string{}
	for range 2 {
		tr := e.nextTurn()
		keys[tr.Chat().ID()] = tr.SessionKey
	}
	if keys["c1"] == keys["c2"] || keys["c1"] == "" {
		t.Fatalf("session keys %v", keys)
	}
	e.waitActions(2, contract.OpReact) // both 👀
	// A turn is announced before its TurnFunc runs; wait until both hold
	// their contexts, or the check of c2's below reads none.
	e.eventually("both turns running", func() bool { return g.ctx("c1") != nil && g.ctx("c2") != nil })
	if _, err := e.sim.Interrupt("gw1", keys["c1"], "c1"); err != nil {
		t.Fatal(err)
	}
	if ended := g.waitEnd(t); ended != "c1" {
		t.Fatalf("turn of %s ended, want c1", ended)
	}
	if cause := context.Cause(g.ctx("c1")); !errors.Is(cause, client.ErrInterrupted) {
		t.Fatalf("cause %v, want ErrInterrupted", cause)
	}
	if err := g.ctx("c2").Err(); err != nil {
		t.Fatalf("the other session's turn was cancelled too: %v", err)
	}
	// The cancelled turn loses its 👀 and gets no verdict.
	reacts := e.waitActions(3, contract.OpReact)
	if r := reacts[2]; r.MessageID != "m1" || !r.Remove || r.Emoji != "👀" {
		t.Fatalf("want 👀 removed from m1: %s", e.dump())
	}
	close(g.ch("c2"))
	g.waitEnd(t)
	reacts = e.waitActions(5, contract.OpReact)
	for _, r := range reacts {
		if r.MessageID == "m1" && (r.Emoji == "✅" || r.Emoji == "❌") {
			t.Fatalf("an interrupted turn got a verdict: %s", e.dump())
		}
	}
	if r := reacts[4]; r.MessageID != "m2" || r.Emoji != "✅" {
		t.Fatalf("%s", e.dump())
	}
}

func TestTurnsOfOneSessionRunInOrder(t *testing.T) {
	var mu sync.Mutex
	var order []string
	release := make(chan struct{})
	var admitted atomic.Int64
	opts := quiet
	opts.Admit = func(context.Context, contract.MessageEvent) error { admitted.Add(1); return nil }
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc("dc", 2000, "chars")}, opts: opts, fn: func(ctx context.Context, t *Turn) error {
		mu.Lock()
		order = append(order, t.Event.Text)
		mu.Unlock()
		if t.Event.Text == "first" {
			<-release
		}
		return nil
	}})
	e.inject(event("dc", "c1", "m1", "first"))
	e.nextTurn()
	e.inject(event("dc", "c1", "m2", "second"))
	e.inject(event("dc", "c1", "m3", "third"))
	e.eventually("two queued turns", func() bool { return admitted.Load() == 3 })
	if n := e.calls.Load(); n != 1 {
		t.Fatalf("%d turns started while the first ran", n)
	}
	close(release)
	e.nextTurn()
	e.nextTurn()
	e.eventually("three turns", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 3
	})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(order, []string{"first", "second", "third"}) {
		t.Fatalf("order %v", order)
	}
}

func TestPanickingTurnFails(t *testing.T) {
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc("dc", 2000, "chars", allOps...)}, opts: Options{TypingInterval: -1},
		fn: func(context.Context, *Turn) error { panic("bug") }})
	e.inject(event("dc", "c1", "m1", "hi"))
	if reacts := e.waitActions(3, contract.OpReact); reacts[2].Emoji != "❌" {
		t.Fatalf("%s", e.dump())
	}
}

func TestCloseCancelsTurns(t *testing.T) {
	g := newGate()
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc("dc", 2000, "chars")}, fn: g.fn, opts: quiet})
	e.inject(event("dc", "c1", "m1", "hi"))
	e.nextTurn()
	if err := e.gw.Close(e.ctx()); err != nil {
		t.Fatal(err)
	}
	if cause := context.Cause(g.ctx("c1")); !errors.Is(cause, client.ErrClosed) {
		t.Fatalf("cause %v", cause)
	}
	if _, err := e.gw.admit(e.ctx(), e.c, contract.MessageEvent{Source: contract.SessionSource{ChatID: "c2", Platform: "dc"}}); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("a delivery after Close: %v", err)
	}
}

func TestAdmitRefusesBeforeQueueing(t *testing.T) {
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc("dc", 2000, "chars")}, opts: Options{
		TypingInterval: -1, NoReactions: true,
		Admit: func(_ context.Context, ev contract.MessageEvent) error {
			if ev.Text == "/reject" {
				return errors.New("rejected")
			}
			return nil
		},
	}, fn: func(ctx context.Context, t *Turn) error {
		if _, ok := t.Transport().(interface {
			Interrupt(context.Context, string, *string) error
		}); !ok {
			return errors.New("the transport is not the client")
		}
		_, err := t.Reply(ctx, "ok")
		return err
	}})
	_, err := e.gw.admit(e.ctx(), e.c, contract.MessageEvent{Text: "/reject", Source: contract.SessionSource{Platform: "dc", ChatID: "c1"}})
	if err == nil || e.calls.Load() != 0 {
		t.Fatalf("deliver = %v, %d turns", err, e.calls.Load())
	}
	e.inject(event("dc", "c1", "m1", "fine"))
	e.waitActions(1, contract.OpSend)
}
