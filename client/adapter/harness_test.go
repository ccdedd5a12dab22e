package adapter

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
	"github.com/relaykit/relaykit/simulator"
)

// waitFor bounds every wait; waits end on events, never on this timeout,
// unless something is broken.
const waitFor = 10 * time.Second

var epoch = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

const testSecret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// desc returns a descriptor for platform with the given limit, unit and
// ops; edit and drafts are off unless set by the caller.
func desc(platform string, limit int, unit string, ops ...string) contract.CapabilityDescriptor {
	return contract.CapabilityDescriptor{
		ContractVersion: 1, Platform: platform, Label: platform, MaxMessageLength: limit,
		MarkdownDialect: "plain", LenUnit: unit, Emoji: contract.DefaultEmoji, SupportedOps: ops,
	}
}

// allOps is every op of the contract.
var allOps = contract.AllOps

// env is a gateway under test: the adapter on a real client, connected over
// a loopback socket to a real simulator.
type env struct {
	t     *testing.T
	sim   *simulator.Server
	c     *client.Client
	gw    *Gateway
	clk   *clock.Manual // the adapter's clock
	turns chan *Turn    // every turn, as it starts
	calls atomic.Int64
}

type envConfig struct {
	descs       []contract.CapabilityDescriptor
	opts        Options
	clientDevs  deviation.Set
	outboundTTL time.Duration // client OutboundTimeout; default 10s
	clientClock clock.Clock   // the client's clock; default the wall clock
	fn          TurnFunc      // default: block until ctx ends
}

// newEnv starts a simulator serving cfg.descs and a gateway fronting all of
// them; the first descriptor is the connection's default.
func newEnv(t *testing.T, cfg envConfig) *env {
	t.Helper()
	e := &env{t: t, clk: clock.NewManual(epoch), turns: make(chan *Turn, 64)}
	descs := map[string]contract.CapabilityDescriptor{}
	var platforms []string
	var ids []client.Identity
	for _, d := range cfg.descs {
		descs[d.Platform] = d
		platforms = append(platforms, d.Platform)
		ids = append(ids, client.Identity{Platform: d.Platform, BotID: "bot-" + d.Platform})
	}
	sim, err := simulator.New(simulator.Options{
		Descriptors: descs, Platforms: platforms, PingInterval: -1,
		Gateways: []simulator.GatewaySpec{{GatewayID: "gw1", Secret: testSecret}},
	})
	if err != nil {
		t.Fatalf("simulator.New: %v", err)
	}
	t.Cleanup(func() { sim.Close() })
	e.sim = sim

	fn := cfg.fn
	if fn == nil {
		fn = func(ctx context.Context, t *Turn) error {
			<-ctx.Done()
			return ctx.Err()
		}
	}
	opts := cfg.opts
	if opts.Clock == nil {
		opts.Clock = e.clk
	}
	e.gw = New(func(ctx context.Context, t *Turn) error {
		e.calls.Add(1)
		e.turns <- t
		return fn(ctx, t)
	}, opts)

	ttl := cfg.outboundTTL
	if ttl == 0 {
		ttl = waitFor
	}
	copts := client.Options{
		Config:          client.Config{URL: sim.URL(), GatewayID: "gw1", Secret: testSecret, Platforms: ids},
		Handler:         e.gw,
		Reconnect:       client.Bool(false),
		PingInterval:    -1,
		OutboundTimeout: ttl,
		Clock:           cfg.clientClock,
	}
	if err := deviation.Apply(&copts, cfg.clientDevs); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(copts)
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	e.c = c
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := e.gw.Close(ctx); err != nil {
			t.Errorf("Gateway.Close: %v", err)
		}
		if err := c.Close(ctx); err != nil {
			t.Errorf("client.Close: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	// Descriptors arrive one per hello; wait for all of them.
	e.eventually("every descriptor", func() bool { return len(c.Descriptors()) == len(cfg.descs) })
	return e
}

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	e.t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds. It is a wait, never an assertion
// on timing: it fails only when cond stays false for waitFor.
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("waited %v for %s", waitFor, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// ev is an inbound event under construction.
type ev map[string]any

// event returns a DM text event from user u1 in chat on platform.
func event(platform, chat, msgID, text string) ev {
	return ev{
		"text": text, "message_type": "text", "message_id": msgID,
		"source": map[string]any{"platform": platform, "chat_id": chat, "chat_type": "dm", "user_id": "u1"},
	}
}

func (x ev) src(key string, v any) ev {
	x["source"].(map[string]any)[key] = v
	return x
}

// inject delivers an event to the gateway.
func (e *env) inject(x ev) {
	e.t.Helper()
	raw, err := json.Marshal(x)
	if err != nil {
		e.t.Fatal(err)
	}
	d, err := e.sim.InjectEvent(simulator.InjectRequest{GatewayID: "gw1", Event: raw})
	if err != nil {
		e.t.Fatalf("inject: %v", err)
	}
	if d.Mode != simulator.DeliveryLive {
		e.t.Fatalf("inject: delivery %+v, want live", d)
	}
}

// nextTurn returns the next turn that started.
func (e *env) nextTurn() *Turn {
	e.t.Helper()
	select {
	case t := <-e.turns:
		return t
	case <-time.After(waitFor):
		e.t.Fatal("no turn started")
		return nil
	}
}

// action is an outbound action as the simulator received it, with its
// result.
type action struct {
	contract.Action
	raw    json.RawMessage
	result contract.Result
	rec    simulator.OutboundRecord
}

// actions returns every outbound action so far, once the simulator has
// recorded the answer of each (except those scripted never to be answered).
func (e *env) actions() []action {
	e.t.Helper()
	var recs []simulator.OutboundRecord
	e.eventually("the simulator to record every answer", func() bool {
		recs = e.sim.Outbound("gw1")
		return e.settled(recs)
	})
	var out []action
	for _, r := range recs {
		var a action
		a.rec, a.raw = r, r.Action
		if err := json.Unmarshal(r.Action, &a.Action); err != nil {
			e.t.Fatalf("outbound action %s: %v", r.Action, err)
		}
		if r.Answered {
			if err := json.Unmarshal(r.Result, &a.result); err != nil {
				e.t.Fatalf("outbound result %s: %v", r.Result, err)
			}
		}
		out = append(out, a)
	}
	return out
}

func (e *env) settled(recs []simulator.OutboundRecord) bool {
	never := map[string]bool{}
	for _, sc := range e.sim.Scripts() {
		if sc.NeverAnswer {
			never[sc.ID] = true
		}
	}
	for _, r := range recs {
		if !r.Answered && !never[r.ScriptID] {
			return false
		}
	}
	return true
}

// ofOps keeps the actions whose op is in ops.
func ofOps(as []action, ops ...string) []action {
	var out []action
	for _, a := range as {
		if slices.Contains(ops, a.Op) {
			out = append(out, a)
		}
	}
	return out
}

// waitActions waits until at least n answered actions with one of ops have
// been sent, and returns those actions.
func (e *env) waitActions(n int, ops ...string) []action {
	e.t.Helper()
	var answered []action
	e.eventually(fmt.Sprintf("%d answered %v actions", n, ops), func() bool {
		answered = answered[:0]
		for _, a := range ofOps(e.rawActions(), ops...) {
			if a.rec.Answered {
				answered = append(answered, a)
			}
		}
		return len(answered) >= n
	})
	return answered
}

// rawActions returns the outbound actions as recorded now.
func (e *env) rawActions() []action {
	var out []action
	for _, r := range e.sim.Outbound("gw1") {
		var a action
		a.rec, a.raw = r, r.Action
		_ = json.Unmarshal(r.Action, &a.Action)
		if r.Answered {
			_ = json.Unmarshal(r.Result, &a.result)
		}
		out = append(out, a)
	}
	return out
}

func (e *env) dump() string {
	s := ""
	for _, a := range e.rawActions() {
		s += fmt.Sprintf("\n  %s -> %s", a.raw, a.rec.Result)
	}
	return s
}

// script adds a result script for the simulator.
func (e *env) script(sc simulator.ResultScript) {
	e.t.Helper()
	sc.GatewayID = "gw1"
	if _, err := e.sim.Script(sc); err != nil {
		e.t.Fatalf("Script: %v", err)
	}
}

// typingPaused... helpers for turns run by tests.

// run starts a turn in chat and runs f in it, returning f's error. It
// needs an env whose TurnFunc is runFn.
type turnJob struct {
	f    func(ctx context.Context, t *Turn) error
	done chan error
}

// runFn is a TurnFunc that takes jobs from the channel jobs.
func runFn(jobs chan turnJob) TurnFunc {
	return func(ctx context.Context, t *Turn) error {
		select {
		case j := <-jobs:
			err := j.f(ctx, t)
			j.done <- err
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// do injects an event and runs f as its turn.
func (e *env) do(jobs chan turnJob, x ev, f func(ctx context.Context, t *Turn) error) error {
	e.t.Helper()
	j := turnJob{f: f, done: make(chan error, 1)}
	jobs <- j
	e.inject(x)
	select {
	case err := <-j.done:
		return err
	case <-time.After(waitFor):
		e.t.Fatal("turn did not finish")
		return nil
	}
}
