package adapter

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
	"github.com/relaykit/relaykit/simulator"
)

var fruit = PromptRequest{Text: "Pick a fruit", Options: []contract.PromptOption{
	{ID: "a", Label: "Apple"}, {ID: "b", Label: "Banana", Style: "primary"},
}}

// press returns the event of someone pressing option of promptID in chat.
func press(platform, chat, msgID, promptID, option string) ev {
	x := event(platform, chat, msgID, "/"+option)
	x["message_type"] = "command"
	x["prompt_response"] = map[string]any{"prompt_id": promptID, "option_id": option}
	return x
}

// askFruit starts a turn that asks fruit and replies with the answer.
func askFruit(e *env, platform string) (answers chan error, promptID func() string) {
	answers = make(chan error, 1)
	e.inject(event(platform, "c1", "m1", "ask"))
	return answers, func() string {
		return e.waitActions(1, contract.OpPrompt)[0].PromptID
	}
}

func promptEnv(t *testing.T, d contract.CapabilityDescriptor, opts Options) (*env, chan PromptAnswer, chan error) {
	answers := make(chan PromptAnswer, 4)
	errs := make(chan error, 4)
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{d}, opts: opts, fn: func(ctx context.Context, t *Turn) error {
		if t.Event.Text != "ask" {
			_, err := t.Reply(ctx, "echo: "+t.Event.Text)
			return err
		}
		a, err := t.Prompt(ctx, fruit)
		errs <- err
		if err != nil {
			return err
		}
		answers <- a
		_, err = t.Reply(ctx, "you chose "+a.Label)
		return err
	}})
	return e, answers, errs
}

func recv[T any](t *testing.T, ch chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatal("nothing received")
		var zero T
		return zero
	}
}

// sentinel sends a plain message in chat and waits for its echo, proving
// every earlier delivery of the session has been handled.
func (e *env) sentinel(platform, chat, text string) {
	e.t.Helper()
	e.inject(event(platform, chat, "s-"+text, text))
	e.eventually("the echo of "+text, func() bool {
		for _, a := range ofOps(e.rawActions(), contract.OpSend) {
			if a.Content == "echo: "+text {
				return true
			}
		}
		return false
	})
}

func TestPromptPressResolvesOwnPrompt(t *testing.T) {
	e, answers, _ := promptEnv(t, desc("dc", 2000, "chars", allOps...), quiet)
	_, promptID := askFruit(e, "dc")
	p := ofOps(e.waitActions(1, contract.OpPrompt), contract.OpPrompt)[0]
	id := promptID()
	if owner, _ := PromptOwner(id); owner != e.gw.Nonce() || !promptIDShape.MatchString(id) {
		t.Fatalf("prompt id %q, gateway nonce %q", id, e.gw.Nonce())
	}
	if p.PromptKind != "choice" || p.Content != "Pick a fruit" || len(p.Options) != 2 || p.Options[1].Style != "primary" {
		t.Fatalf("prompt action %s", p.raw)
	}
	if p.Metadata["user_id"] != "u1" {
		t.Fatalf("prompt metadata %v", p.Metadata)
	}
	e.inject(press("dc", "c1", "press-1", id, "b"))
	a := recv(t, answers)
	if a.OptionID != "b" || a.Label != "Banana" || a.PromptID != id || a.Fallback || a.PromptMessageID == "" {
		t.Fatalf("answer %+v", a)
	}
	e.eventually("the reply", func() bool {
		s := ofOps(e.rawActions(), contract.OpSend)
		return len(s) == 1 && s[0].Content == "you chose Banana"
	})
	// A repeat press is swallowed: no notice, no turn.
	e.inject(press("dc", "c1", "press-2", id, "a"))
	e.sentinel("dc", "c1", "after")
	if n := e.calls.Load(); n != 2 {
		t.Fatalf("%d turns: a press started one", n)
	}
	for _, s := range ofOps(e.actions(), contract.OpSend) {
		if s.Content == DefaultExpiredNotice {
			t.Fatal("a repeat press got the expiry notice")
		}
	}
}

func TestForeignPromptPressesAreSwallowed(t *testing.T) {
	e, _, _ := promptEnv(t, desc("dc", 2000, "chars", allOps...), quiet)
	e.inject(press("dc", "c1", "p1", "f0f0f0.12345678", "a"))
	e.sentinel("dc", "c1", "after")
	if sends := ofOps(e.actions(), contract.OpSend); len(sends) != 1 {
		t.Fatalf("a press on another process's prompt was answered: %s", e.dump())
	}
	if n := e.calls.Load(); n != 1 {
		t.Fatalf("%d turns", n)
	}
}

func TestDeviationAnswerForeignPrompts(t *testing.T) {
	e, _, _ := promptEnv(t, desc("dc", 2000, "chars", allOps...), Options{TypingInterval: -1, NoReactions: true, deviations: deviation.NewSet(deviation.AdapterAnswerForeignPrompts)})
	e.inject(press("dc", "c1", "p1", "f0f0f0.12345678", "a"))
	e.sentinel("dc", "c1", "after")
	if sends := ofOps(e.actions(), contract.OpSend); len(sends) != 2 || sends[0].Content != DefaultExpiredNotice {
		t.Fatalf("want the foreign press answered with the notice: %s", e.dump())
	}
}

func TestDeviationLongPromptIDs(t *testing.T) {
	e, _, _ := promptEnv(t, desc("dc", 2000, "chars", allOps...), Options{TypingInterval: -1, NoReactions: true, deviations: deviation.NewSet(deviation.AdapterLongPromptIDs)})
	_, promptID := askFruit(e, "dc")
	p := ofOps(e.waitActions(1, contract.OpPrompt), contract.OpPrompt)[0]
	id := promptID()
	if len(id) <= MaxIDLen || p.PromptID != id {
		t.Fatalf("prompt id %q (%d characters) on the wire as %q: want one over %d", id, len(id), p.PromptID, MaxIDLen)
	}
	if owner, _ := PromptOwner(id); owner != e.gw.Nonce() {
		t.Fatalf("prompt id %q does not start with the nonce %q", id, e.gw.Nonce())
	}
}

func TestExpiredPromptGetsTheNotice(t *testing.T) {
	e, _, errs := promptEnv(t, desc("dc", 2000, "chars", allOps...), quiet)
	_, promptID := askFruit(e, "dc")
	id := promptID()
	if err := e.clk.WaitForTimers(e.ctx(), 1); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(DefaultPromptTimeout - time.Second)
	select {
	case err := <-errs:
		t.Fatalf("the prompt ended early: %v", err)
	default:
	}
	e.clk.Advance(time.Second)
	if err := recv(t, errs); !errors.Is(err, ErrPromptExpired) {
		t.Fatalf("Prompt: %v, want ErrPromptExpired", err)
	}
	e.inject(press("dc", "c1", "late", id, "a").src("thread_id", "th-9"))
	notice := e.waitActions(1, contract.OpSend)[0]
	if notice.Content != DefaultExpiredNotice || notice.ChatID != "c1" || notice.Metadata["thread_id"] != "th-9" {
		t.Fatalf("notice %s", notice.raw)
	}
}

func TestPromptFallsBackToNumberedText(t *testing.T) {
	e, answers, _ := promptEnv(t, desc("old", 2000, "chars"), quiet)
	e.inject(event("old", "c1", "m1", "ask"))
	text := e.waitActions(1, contract.OpSend)[0]
	want := "Pick a fruit\n\n1. Apple\n2. Banana\n\nReply with the number of your choice."
	if text.Content != want {
		t.Fatalf("fallback text %q", text.Content)
	}
	e.inject(event("old", "c1", "m2", " 2 "))
	a := recv(t, answers)
	if a.OptionID != "b" || !a.Fallback {
		t.Fatalf("answer %+v", a)
	}
	if n := e.calls.Load(); n != 1 {
		t.Fatal("the numbered answer started a turn")
	}
	for _, op := range []string{contract.OpPrompt} {
		if len(ofOps(e.actions(), op)) != 0 {
			t.Fatalf("sent %s to a platform without it", op)
		}
	}
}

func TestPromptRefusedFallsBackButDeclinedDoesNot(t *testing.T) {
	e, answers, errs := promptEnv(t, desc("dc", 2000, "chars", allOps...), quiet)
	e.script(simulator.ResultScript{Op: contract.OpPrompt, Times: 1, Fail: &simulator.ScriptFailure{Error: "too many buttons", Code: contract.CodeInvalidAction}})
	e.inject(event("dc", "c1", "m1", "ask"))
	if s := e.waitActions(1, contract.OpSend)[0]; !strings.HasPrefix(s.Content, "Pick a fruit\n\n1. Apple") {
		t.Fatalf("a refused prompt should fall back to numbered text: %s", e.dump())
	}
	e.inject(event("dc", "c1", "m2", "banana"))
	if a := recv(t, answers); a.OptionID != "b" {
		t.Fatalf("%+v", a)
	}
	recv(t, errs)

	e.script(simulator.ResultScript{Op: contract.OpPrompt, EgressDeclined: true})
	e.inject(event("dc", "c2", "m3", "ask"))
	if err := recv(t, errs); !errors.Is(err, ErrDeclined) {
		t.Fatalf("Prompt: %v, want ErrDeclined", err)
	}
	for _, s := range ofOps(e.actions(), contract.OpSend) {
		if s.ChatID == "c2" {
			t.Fatalf("a declined prompt was re-sent as text: %s", e.dump())
		}
	}
}

func TestTypingPausesWhileAPromptWaits(t *testing.T) {
	e, answers, _ := promptEnv(t, desc("dc", 2000, "chars", allOps...), Options{NoReactions: true})
	_, promptID := askFruit(e, "dc")
	id := promptID()
	// Once both timers are armed, the heartbeat's first round is over.
	if err := e.clk.WaitForTimers(e.ctx(), 2); err != nil {
		t.Fatal(err)
	}
	before := len(ofOps(e.actions(), contract.OpTyping))
	for range 3 {
		if err := e.clk.WaitForTimers(e.ctx(), 2); err != nil { // heartbeat and expiry
			t.Fatal(err)
		}
		e.clk.Advance(DefaultTypingInterval)
	}
	if err := e.clk.WaitForTimers(e.ctx(), 2); err != nil { // the last tick was handled
		t.Fatal(err)
	}
	e.inject(press("dc", "c1", "p1", id, "a"))
	recv(t, answers)
	if n := len(ofOps(e.actions(), contract.OpTyping)); n != before {
		t.Fatalf("%d heartbeats while the prompt waited", n-before)
	}
}

func TestPromptPressThroughPassthrough(t *testing.T) {
	e, answers, _ := promptEnv(t, desc("discord", 2000, "chars", allOps...), quiet)
	_, promptID := askFruit(e, "discord")
	id := promptID()
	tok, err := CallbackToken(id, "a")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{
		"type": 3, "id": "int-1", "channel_id": "c1", "guild_id": "g1",
		"data": map[string]any{"custom_id": tok}, "message": map[string]any{"id": "pm-1"},
		"member": map[string]any{"user": map[string]any{"id": "u1"}},
	})
	if _, err := e.sim.Passthrough("gw1", contract.Forward{Platform: "discord", Method: "POST", Path: "/interactions", Body: body}); err != nil {
		t.Fatal(err)
	}
	if a := recv(t, answers); a.OptionID != "a" || a.PromptMessageID != "pm-1" {
		t.Fatalf("%+v", a)
	}
}

func TestPromptRejectsBadOptions(t *testing.T) {
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc("dc", 2000, "chars", allOps...)}, opts: quiet})
	c := e.gw.Chat(e.c, "dc", "c1")
	for _, req := range []PromptRequest{
		{Text: "x"},
		{Text: "x", Options: []contract.PromptOption{{ID: "has space"}}},
		{Text: "x", Options: []contract.PromptOption{{ID: "a"}, {ID: "a"}}},
		{Text: "x", Kind: "quiz", Options: []contract.PromptOption{{ID: "a"}}},
	} {
		if _, err := c.Ask(e.ctx(), req); err == nil {
			t.Errorf("Ask(%+v) accepted", req)
		}
	}
	if n := len(e.actions()); n != 0 {
		t.Fatalf("an invalid prompt was sent: %s", e.dump())
	}
}
