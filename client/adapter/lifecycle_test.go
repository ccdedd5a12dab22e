package adapter

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
	"github.com/relaykit/relaykit/simulator"
)

func scoped(platform, chat, msgID string) ev {
	return event(platform, chat, msgID, "hi").src("scope_id", "guild-1").src("user_id", "u7").src("profile", "work").src("chat_type", "group")
}

func TestMetadataStampedOnEveryAction(t *testing.T) {
	jobs := make(chan turnJob, 1)
	d := desc("dc", 2000, "chars", allOps...)
	d.SupportsEdit = true
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{d}, fn: runFn(jobs), opts: Options{StreamInterval: -1}})
	err := e.do(jobs, scoped("dc", "c1", "m1"), func(ctx context.Context, t *Turn) error {
		if _, err := t.Reply(ctx, "hello"); err != nil {
			return err
		}
		s := t.Stream()
		_ = streamWords(ctx, s, "a", "b")
		if _, err := s.Close(ctx); err != nil {
			return err
		}
		_, _ = t.Chat().CreateThread(ctx, "x")
		_ = t.Chat().Info(ctx)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Out of the turn, on the chat's learned platform.
	if _, err := e.gw.Chat(e.c, "", "c1").Send(e.ctx(), "later"); err != nil {
		t.Fatal(err)
	}
	e.waitActions(3, contract.OpReact) // 👀, its removal, ✅
	ops := map[string]bool{}
	for _, a := range e.actions() {
		ops[a.Op] = true
		if a.Op == contract.OpGetChatInfo {
			if a.Metadata != nil {
				t.Errorf("get_chat_info carries metadata %v", a.Metadata)
			}
			continue
		}
		if a.Metadata["scope_id"] != "guild-1" || a.Metadata["user_id"] != "u7" || a.Metadata["profile"] != "work" {
			t.Errorf("%s metadata %v lacks the learned scope, user and profile", a.Op, a.Metadata)
		}
		if a.rec.Platform != "dc" {
			t.Errorf("%s routed to %q, want dc", a.Op, a.rec.Platform)
		}
	}
	for _, op := range []string{contract.OpSend, contract.OpEdit, contract.OpTyping, contract.OpReact, contract.OpThreadCreate, contract.OpGetChatInfo} {
		if !ops[op] {
			t.Errorf("no %s was sent", op)
		}
	}
}

func TestMetadataSurvivesAScopelessEvent(t *testing.T) {
	jobs := make(chan turnJob, 2)
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc("dc", 2000, "chars")}, fn: runFn(jobs), opts: quiet})
	_ = e.do(jobs, scoped("dc", "c1", "m1"), func(context.Context, *Turn) error { return nil })
	x := event("dc", "c1", "m2", "again").src("chat_type", "group").src("user_id", "u8")
	_ = e.do(jobs, x, func(ctx context.Context, t *Turn) error {
		_, err := t.Reply(ctx, "ok")
		return err
	})
	send := ofOps(e.actions(), contract.OpSend)[0]
	if send.Metadata["scope_id"] != "guild-1" || send.Metadata["user_id"] != "u8" {
		t.Fatalf("metadata %v: want the remembered scope and the newest user", send.Metadata)
	}
}

func TestDeviationNoMetadataStamp(t *testing.T) {
	jobs := make(chan turnJob, 1)
	e := newEnv(t, envConfig{
		descs: []contract.CapabilityDescriptor{desc("dc", 2000, "chars", allOps...)},
		opts:  Options{deviations: deviation.NewSet(deviation.AdapterNoMetadataStamp)},
		fn:    runFn(jobs),
	})
	_ = e.do(jobs, scoped("dc", "c1", "m1"), func(ctx context.Context, t *Turn) error {
		_, err := t.Reply(ctx, "hello")
		return err
	})
	for _, a := range e.actions() {
		if _, ok := a.Metadata["scope_id"]; ok {
			t.Fatalf("no-metadata-stamp stamped %s: %v", a.Op, a.Metadata)
		}
	}
}

func TestFormatHintsOnlyWhereBlockFormattingIsAdvertised(t *testing.T) {
	jobs := make(chan turnJob, 2)
	blocks := desc("sl", 4000, "chars", allOps...)
	blocks.SupportsBlockFormatting, blocks.SupportsEdit = true, true
	plain := desc("dc", 4000, "chars", allOps...)
	plain.SupportsEdit = true
	e := newEnv(t, envConfig{
		descs: []contract.CapabilityDescriptor{blocks, plain},
		opts:  Options{TypingInterval: -1, StreamInterval: -1, FormatHints: FormatHints{MarkdownBlocks: true}},
		fn:    runFn(jobs),
	})
	turn := func(ctx context.Context, t *Turn) error {
		s := t.Stream()
		_ = streamWords(ctx, s, "a", "b")
		_, err := s.Close(ctx)
		return err
	}
	_ = e.do(jobs, event("sl", "c1", "m1", "hi"), turn)
	_ = e.do(jobs, event("dc", "c2", "m2", "hi"), turn)
	for _, a := range e.actions() {
		_, has := a.Metadata["format_hints"]
		text := a.Op == contract.OpSend || a.Op == contract.OpEdit
		if want := text && a.ChatID == "c1"; has != want {
			t.Errorf("%s in %s: format_hints present %v, want %v", a.Op, a.ChatID, has, want)
		}
	}
	if len(ofOps(e.actions(), contract.OpEdit)) != 2 {
		t.Fatalf("%s", e.dump())
	}
}

func TestReactionLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name     string
		platform string
		turnErr  error
		want     []string // emoji, "-" prefix for a removal
	}{
		{"success", "dc", nil, []string{"👀", "-👀", "✅"}},
		{"failure", "dc", errors.New("boom"), []string{"👀", "-👀", "❌"}},
		{"telegram", "telegram", nil, []string{"👀", "-👀", "👍"}},
		{"telegramFailure", "telegram", errors.New("boom"), []string{"👀", "-👀", "👎"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jobs := make(chan turnJob, 1)
			e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc(tc.platform, 2000, "chars", allOps...)}, fn: runFn(jobs), opts: Options{TypingInterval: -1}})
			_ = e.do(jobs, event(tc.platform, "c1", "m1", "hi"), func(context.Context, *Turn) error { return tc.turnErr })
			reacts := e.waitActions(3, contract.OpReact)
			var got []string
			for _, r := range reacts {
				if r.MessageID != "m1" {
					t.Errorf("reaction on %q, want m1", r.MessageID)
				}
				if r.Remove {
					got = append(got, "-"+r.Emoji)
				} else {
					got = append(got, r.Emoji)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("reactions %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReactionFailuresNeverFailTheTurn(t *testing.T) {
	jobs := make(chan turnJob, 1)
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc("dc", 2000, "chars", allOps...)}, fn: runFn(jobs), opts: Options{TypingInterval: -1}})
	e.script(simulator.ResultScript{Op: contract.OpReact, Fail: &simulator.ScriptFailure{Error: "unknown emoji", Code: contract.CodeInvalidAction}})
	err := e.do(jobs, event("dc", "c1", "m1", "hi"), func(ctx context.Context, t *Turn) error {
		_, err := t.Reply(ctx, "fine")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if reacts := e.waitActions(3, contract.OpReact); reacts[2].Emoji != "✅" {
		t.Fatalf("the turn still succeeded: %s", e.dump())
	}
}

func TestNoReactionsWithoutReact(t *testing.T) {
	jobs := make(chan turnJob, 2)
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc("dc", 2000, "chars")}, fn: runFn(jobs), opts: Options{TypingInterval: -1}})
	_ = e.do(jobs, event("dc", "c1", "m1", "hi"), func(context.Context, *Turn) error { return nil })
	// A second turn in the same session runs after the first has fully
	// finished, reactions included.
	_ = e.do(jobs, event("dc", "c1", "m2", "hi"), func(ctx context.Context, t *Turn) error {
		_, err := t.Reply(ctx, "x")
		return err
	})
	if n := len(ofOps(e.actions(), contract.OpReact)); n != 0 {
		t.Fatalf("%d reactions without react advertised", n)
	}
}
