package adapter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// This file dry-runs the gateway conformance cases the adapter enables,
// against an echo gateway built on the adapter (what examples/echogateway
// becomes), and proves each case fails under exactly its deviation.

// echoTurn is the echo profile of the gateway testee contract on the
// adapter, plus the commands that show the optional ops:
//
//	<text>          echo: <text>, split to the platform's limit
//	/stream <text>  <text> streamed word by word (drafts, edits or segments)
//	/react          👍 on the message, then an echo
//	/prompt         buttons Apple/Banana (numbered text where prompt is not
//	                advertised), then "echo: chose <label>"
//	/interrupt      an interrupt for the message's session
//	/slow <ms>      waits, then echoes; an interrupt cancels it
//	/reject         is refused admission (Options.Admit), so never acked
func echoTurn(clk clock.Clock) TurnFunc {
	return func(ctx context.Context, t *Turn) error {
		text := t.Event.Text
		cmd, arg, _ := strings.Cut(text, " ")
		switch cmd {
		case "/stream":
			s := t.Stream()
			for _, w := range strings.Fields(arg) {
				if err := s.Write(ctx, w+" "); err != nil {
					return err
				}
			}
			_, err := s.Close(ctx)
			return err
		case "/react":
			_ = t.React(ctx, "👍") // cosmetic: ErrSkipped where react is not advertised
		case "/prompt":
			a, err := t.Prompt(ctx, PromptRequest{Text: "Pick a fruit", Options: []contract.PromptOption{
				{ID: "a", Label: "Apple"}, {ID: "b", Label: "Banana"},
			}})
			if err != nil {
				return err
			}
			text = "chose " + a.Label
		case "/interrupt":
			type interrupter interface {
				Interrupt(ctx context.Context, sessionKey string, reason *string) error
			}
			if c, ok := t.Transport().(interrupter); ok {
				return c.Interrupt(ctx, t.SessionKey, nil)
			}
			return errors.New("the transport cannot interrupt")
		case "/slow":
			ms, _ := strconv.Atoi(arg)
			if err := clock.Sleep(ctx, clk, time.Duration(ms)*time.Millisecond); err != nil {
				return err
			}
		}
		_, err := t.Reply(ctx, "echo: "+text)
		return err
	}
}

func echoAdmit(_ context.Context, ev contract.MessageEvent) error {
	if ev.Text == "/reject" {
		return errors.New("rejected on request")
	}
	return nil
}

// echoEnv starts the echo gateway with the deviations named in devs (client
// and adapter names mixed, as the echo gateway reads them from its
// environment).
func echoEnv(t *testing.T, devs string, descs ...contract.CapabilityDescriptor) *env {
	t.Helper()
	set, err := deviation.Parse(devs, deviation.Client, deviation.Adapter)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(epoch)
	e := newEnv(t, envConfig{
		descs:      descs,
		clientDevs: set.Only(deviation.Client),
		opts:       Options{Clock: clk, deviations: set.Only(deviation.Adapter), Admit: echoAdmit, StreamInterval: -1},
		fn:         echoTurn(clk),
	})
	e.clk = clk
	return e
}

// failure is what a case reports: "" when the gateway passed.
type failure = string

// conformanceCases are the five gateway cases of issue 7, each as the
// suite would run it: what it injects and what it asserts.
var conformanceCases = []struct {
	name      string
	deviation deviation.ID // the adapter deviation that must make it fail
	run       func(t *testing.T, devs string) failure
}{
	{"OUT-031/utf16-limit", deviation.AdapterCountCodePoints, caseUTF16Limit},
	{"HS-012/optional-op-gating", deviation.AdapterIgnoreSupportedOps, caseOptionalOpGating},
	{"HS-024/edit-needs-supports-edit", deviation.AdapterEditWithoutSupport, caseEditNeedsSupport},
	{"OUT-027/metadata-stamp", deviation.AdapterNoMetadataStamp, caseMetadataStamp},
	{"IN-014/foreign-prompt-press", deviation.AdapterAnswerForeignPrompts, caseForeignPromptPress},
}

func TestConformanceCasesCatchTheirDeviations(t *testing.T) {
	for _, c := range conformanceCases {
		t.Run(c.name, func(t *testing.T) {
			for _, d := range append([]deviation.Info{{}}, deviation.Of(deviation.Adapter)...) {
				got := c.run(t, d.Name)
				if wantFail := d.Name != "" && d.ID == c.deviation; (got != "") != wantFail {
					t.Errorf("deviation %q: failure %q, want failing %v", d.Name, got, wantFail)
				}
			}
		})
	}
}

// caseUTF16Limit: the descriptor advertises utf16 and 64; the user sends
// text where every other character is astral. Every send, edit and draft
// to the chat must be at most 64 UTF-16 code units, and the sends,
// re-joined by the splitter's rule, must contain the text.
func caseUTF16Limit(t *testing.T, devs string) failure {
	d := desc("tg", 64, contract.LenUnitUTF16)
	e := echoEnv(t, devs, d)
	text := strings.Repeat(grin+"a", 60) // 120 code points, 180 UTF-16 units
	e.inject(event("tg", "c1", "m1", text))
	e.inject(event("tg", "c2", "m2", "/stream "+strings.Repeat(grin+"bc ", 40)))
	e.eventually("both replies", func() bool { return e.calls.Load() == 2 && e.idle() })
	var replies []string
	for _, a := range ofOps(e.actions(), contract.OpSend, contract.OpEdit, contract.OpDraft) {
		if n := Length(a.Content, contract.LenUnitUTF16); n > 64 {
			return fmt.Sprintf("%s of %d UTF-16 units in %s", a.Op, n, a.ChatID)
		}
		if a.ChatID == "c1" {
			replies = append(replies, a.Content)
		}
	}
	if !strings.Contains(Join(replies, 64), text) {
		return "the reply does not re-join to the echo"
	}
	return ""
}

// caseOptionalOpGating: supported_ops is [send], drafts claimed but draft
// not advertised; the user asks for a reaction, a prompt and a stream. No
// frame may carry another op than send, and the prompt must still be
// offered (numbered text).
func caseOptionalOpGating(t *testing.T, devs string) failure {
	d := desc("dc", 2000, contract.LenUnitChars, contract.OpSend)
	d.SupportsDraftStreaming = true
	e := echoEnv(t, devs, d)
	e.inject(event("dc", "c1", "m1", "/react"))
	e.inject(event("dc", "c2", "m2", "/stream one two"))
	e.inject(event("dc", "c3", "m3", "/prompt"))
	e.eventually("the three answers", func() bool {
		var react, stream, prompt bool
		for _, a := range e.rawActions() {
			react = react || a.Content == "echo: /react"
			stream = stream || (a.Final || a.Op == contract.OpSend) && strings.Contains(a.Content, "two")
			prompt = prompt || strings.HasPrefix(a.Content, "Pick a fruit")
		}
		return react && stream && prompt
	})
	for _, a := range e.actions() {
		if a.Op != contract.OpSend {
			return "sent " + a.Op
		}
	}
	return ""
}

// caseEditNeedsSupport: supports_edit false (edit is still in the legacy
// set); the user asks for a stream. No edit may be sent.
func caseEditNeedsSupport(t *testing.T, devs string) failure {
	e := echoEnv(t, devs, desc("dc", 2000, contract.LenUnitChars))
	e.inject(event("dc", "c1", "m1", "/stream one two three four"))
	e.eventually("the stream", func() bool {
		for _, a := range ofOps(e.rawActions(), contract.OpSend, contract.OpEdit) {
			if strings.Contains(a.Content, "four") {
				return true
			}
		}
		return false
	})
	if n := len(ofOps(e.actions(), contract.OpEdit)); n > 0 {
		return fmt.Sprintf("%d edits without supports_edit", n)
	}
	return ""
}

// caseMetadataStamp: a message with scope_id, user_id and profile, then one
// in the same chat without a scope. Every action to the chat except
// get_chat_info carries the learned scope_id, the latest user_id and the
// profile.
func caseMetadataStamp(t *testing.T, devs string) failure {
	e := echoEnv(t, devs, desc("dc", 2000, contract.LenUnitChars, allOps...))
	e.inject(scoped("dc", "c1", "m1"))
	e.waitActions(1, contract.OpSend)
	e.inject(event("dc", "c1", "m2", "again").src("chat_type", "group").src("user_id", "u8").src("profile", "work"))
	e.waitActions(2, contract.OpSend)
	e.waitActions(6, contract.OpReact) // both turns fully over
	for _, a := range e.actions() {
		if a.Op == contract.OpGetChatInfo {
			continue
		}
		if a.Metadata["scope_id"] != "guild-1" || a.Metadata["profile"] != "work" || a.Metadata["user_id"] == nil {
			return fmt.Sprintf("%s without the learned metadata: %v", a.Op, a.Metadata)
		}
	}
	return ""
}

// caseForeignPromptPress: a press on a prompt id minted by another process
// gets no answer at all; a press on the gateway's own prompt resolves it.
func caseForeignPromptPress(t *testing.T, devs string) failure {
	e := echoEnv(t, devs, desc("dc", 2000, contract.LenUnitChars, allOps...))
	e.inject(event("dc", "c1", "m1", "/prompt"))
	own := e.waitActions(1, contract.OpPrompt)[0].PromptID
	// The other process's nonce is not hex, so it can never be ours.
	e.inject(press("dc", "c2", "p1", "other-gw.0123abcd", "a"))
	e.inject(press("dc", "c1", "p2", own, "b"))
	e.eventually("the chosen echo", func() bool {
		for _, a := range ofOps(e.rawActions(), contract.OpSend) {
			if a.Content == "echo: chose Banana" {
				return true
			}
		}
		return false
	})
	e.inject(event("dc", "c2", "s1", "sentinel"))
	e.eventually("the sentinel's echo", func() bool {
		for _, a := range ofOps(e.rawActions(), contract.OpSend) {
			if a.Content == "echo: sentinel" {
				return true
			}
		}
		return false
	})
	for _, a := range e.actions() {
		if a.ChatID == "c2" && a.Op == contract.OpSend && a.Content != "echo: sentinel" {
			return "answered a foreign press: " + a.Content
		}
	}
	return ""
}

// idle reports whether no turn is running.
func (e *env) idle() bool { return e.gw.active.Load() == 0 }

func TestEchoCommands(t *testing.T) {
	e := echoEnv(t, "", desc("dc", 2000, contract.LenUnitChars, allOps...))
	e.inject(event("dc", "c1", "m1", "/interrupt"))
	e.eventually("the interrupt", func() bool { return len(e.sim.Interrupts("gw1")) == 1 })
	if got := e.sim.Interrupts("gw1")[0]; got.SessionKey != "agent:main:dc:dm:c1" {
		t.Fatalf("interrupt %+v", got)
	}
	if _, err := e.gw.admit(e.ctx(), e.c, contract.MessageEvent{Text: "/reject", Source: contract.SessionSource{Platform: "dc", ChatID: "c9"}}); err == nil {
		t.Fatal("/reject was admitted")
	}
	e.inject(event("dc", "c2", "m2", "/slow 5000"))
	if err := e.clk.WaitForTimers(e.ctx(), 2); err != nil { // heartbeat and the sleep
		t.Fatal(err)
	}
	if _, err := e.sim.Interrupt("gw1", "agent:main:dc:dm:c2", "c2"); err != nil {
		t.Fatal(err)
	}
	e.eventually("the cancelled turn", e.idle)
	for _, a := range ofOps(e.actions(), contract.OpSend) {
		if strings.Contains(a.Content, "/slow") {
			t.Fatal("an interrupted /slow replied")
		}
	}
	if !slices.ContainsFunc(ofOps(e.actions(), contract.OpReact), func(a action) bool { return a.MessageID == "m2" && a.Remove }) {
		t.Fatalf("%s", e.dump())
	}
}
