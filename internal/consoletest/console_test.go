package consoletest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/fixtures"
	"github.com/relaykit/relaykit/internal/testkit"
	"github.com/relaykit/relaykit/simulator"
)

// chat points the chat panel at a conversation.
func (b *browser) chat(platform, chatID string) {
	b.t.Helper()
	b.set("#platform", platform)
	b.set("#chat-id", chatID)
}

// send types text into the composer and sends it.
func (b *browser) send(text string) {
	b.t.Helper()
	b.do(chromedp.SetValue(chromedp.CSS("#text"), text))
	b.click("#send")
}

// botText is a JavaScript expression: the texts of the gateway's bubbles.
const botTexts = `[...document.querySelectorAll('#messages .msg.bot .text')].map(e => e.textContent)`

// TestConsole drives the console in a real browser against an in-process
// relaysim with examples/echogateway connected, the way a gateway author
// uses it.
func TestConsole(t *testing.T) {
	b := newBrowser(t)
	s := simulator.RunT(t, simulator.Options{
		Clock:    clock.NewManual(time.Now()),
		Gateways: []simulator.GatewaySpec{{GatewayID: "gw-dev"}},
	})
	startGateway(t, s, "gw-dev")
	b.open(s.ConsoleURL())
	b.until("the gateway's socket", `document.querySelector('#sessions [data-session]') !== null`)

	// A message over Telegram's 4096 UTF-16 units comes back as two
	// messages, each marked with its (i/N) part, each within the limit.
	t.Run("long message on telegram shows its parts", func(t *testing.T) {
		b.t = t
		b.chat("telegram", "long-1")
		text := strings.Repeat("abcdefghij", 500)
		b.send(text)
		b.until("two parts", `document.querySelectorAll('#messages .msg.bot[data-part]').length === 2`)
		parts := eval[[]string](b, `[...document.querySelectorAll('#messages .msg.bot[data-part]')].map(e => e.dataset.part)`)
		if strings.Join(parts, ",") != "1/2,2/2" {
			t.Fatalf("parts %v", parts)
		}
		texts := eval[[]string](b, botTexts)
		joined := ""
		for i, p := range texts {
			if len(p) > 4096 {
				t.Errorf("part %d is %d long, over telegram's 4096", i+1, len(p))
			}
			if want := fmt.Sprintf(" (%d/2)", i+1); !strings.HasSuffix(p, want) {
				t.Errorf("part %d does not end in %q", i+1, want)
			}
			joined += strings.TrimSuffix(p, fmt.Sprintf(" (%d/2)", i+1))
		}
		if strings.Join(strings.Fields(joined), "") != "echo:"+text {
			t.Errorf("the parts do not add up to the echo")
		}
		// The user's bubble keeps the whole text, though the journal cut
		// its frame at 2 KiB.
		user := eval[string](b, `document.querySelector('#messages .msg.user .text').textContent`)
		if user != text {
			t.Errorf("user bubble holds %d characters, want %d", len(user), len(text))
		}
	})

	// The frames button of a bubble narrows the wire panel to the outbound
	// and its result, expanded.
	t.Run("frames behind a bubble", func(t *testing.T) {
		b.t = t
		b.click(`#messages .msg.bot[data-part="1/2"] button.frames`)
		b.until("the focused frames", `document.querySelector('#focus').hidden === false &&
			document.querySelectorAll('#rows .row[data-type="outbound"]').length === 1 &&
			document.querySelectorAll('#rows .row[data-type="outbound_result"]').length === 1 &&
			document.querySelectorAll('#rows pre.json').length === 2`)
		js := eval[string](b, `document.querySelector('#rows pre.json').textContent`)
		if !strings.Contains(js, `"op": "send"`) && !strings.Contains(js, "the journal keeps the first") {
			t.Errorf("expanded frame: %.300s", js)
		}
		b.click(`#focus button`)
		b.until("every frame again", `document.querySelector('#focus').hidden &&
			document.querySelectorAll('#rows .row[data-type="hello"]').length >= 4 &&
			document.querySelectorAll('#rows .row.in[data-type="outbound"]').length >= 2 &&
			document.querySelectorAll('#rows .row.out[data-type="inbound"]').length >= 1`)
		// The filters narrow it: direction "out" keeps no frame read from
		// the gateway.
		b.set("#f-dir", "out")
		b.until("only frames to the gateway", `document.querySelectorAll('#rows .row.in').length === 0 &&
			document.querySelectorAll('#rows .row.out').length > 0`)
		b.set("#f-dir", "")
	})

	// A prompt's buttons press through POST /press; the gateway's answer
	// to the press shows, and the pressed button is marked.
	t.Run("prompt button press", func(t *testing.T) {
		b.t = t
		b.chat("telegram", "prompt-1")
		b.send("/prompt")
		b.until("the prompt's buttons", `document.querySelector('#messages .msg.bot[data-op="prompt"] button[data-option="banana"]:not([disabled])') !== null`)
		b.click(`#messages .msg.bot[data-op="prompt"] button[data-option="banana"]`)
		b.until("the answer to the press", botTexts+`.includes('echo: chose Banana')`)
		b.until("the pressed button marked", `document.querySelector('#messages .msg.bot[data-op="prompt"] button.chosen')?.dataset.option === 'banana'`)
		if n := b.count(`#messages .msg.user .press`); n != 1 {
			t.Errorf("%d press bubbles, want 1", n)
		}
	})

	// On telegram (draft and supports_draft_streaming) /stream sends
	// drafts: one bubble that grows and is sealed by the final draft.
	t.Run("draft streams into one bubble", func(t *testing.T) {
		b.t = t
		b.chat("telegram", "stream-1")
		b.send("/stream one two three four five")
		b.until("the sealed draft", `document.querySelector('#messages .msg.bot[data-op="draft"][data-final="true"]') !== null`)
		type draft struct {
			Updates string `json:"updates"`
			Text    string `json:"text"`
			Bubbles int    `json:"bubbles"`
		}
		got := eval[draft](b, `(() => { const d = document.querySelector('#messages .msg.bot[data-op="draft"]');
			return {updates: d.dataset.updates, text: d.querySelector('.text').textContent,
				bubbles: document.querySelectorAll('#messages .msg.bot').length}; })()`)
		if got.Text != "one two three four five" && strings.TrimSpace(got.Text) != "one two three four five" {
			t.Errorf("draft text %q", got.Text)
		}
		if got.Updates == "" || got.Updates == "0" || got.Updates == "1" {
			t.Errorf("draft merged %s updates, want at least 2", got.Updates)
		}
		if got.Bubbles != 1 {
			t.Errorf("%d gateway bubbles, want the draft alone", got.Bubbles)
		}
	})

	// The next-result lever makes the gateway's next send be declined;
	// the bubble says so.
	t.Run("egress-declined send is visible", func(t *testing.T) {
		b.t = t
		b.chat("telegram", "declined-1")
		b.set("#script-op", "send")
		b.click(`[data-script="egressDeclined"]`)
		b.until("the script listed", `document.querySelector('#script-list .tag') !== null`)
		b.send("please decline me")
		b.until("the declined bubble", `document.querySelector('#messages .msg.bot.st-declined .err')?.textContent.includes('egress_declined')`)
		b.click("#scripts-clear")
		b.until("no script", `document.querySelector('#script-list .tag') === null`)
	})

	// An attachment is re-hosted through POST /media and the gateway
	// downloads it (/attachments reports each download).
	t.Run("attach a file", func(t *testing.T) {
		b.t = t
		b.chat("telegram", "files-1")
		path := filepath.Join(t.TempDir(), "notes.txt")
		if err := os.WriteFile(path, []byte("twelve bytes"), 0o600); err != nil {
			t.Fatal(err)
		}
		b.do(chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{path}))
		b.until("the attachment", `!document.querySelector('#attachment').hidden`)
		b.send("/attachments")
		b.until("the gateway's download", botTexts+`.includes('echo: /attachments: 12 bytes')`)
		if n := b.count(`#messages .msg.user .file`); n != 1 {
			t.Errorf("%d file cards on the user's message, want 1", n)
		}
	})

	// The interrupt button pushes interrupt_inbound for the chat's
	// session key, which cancels the gateway's running reply: the 👀 it
	// put on the message goes away long before the minute is up.
	t.Run("interrupt a slow reply", func(t *testing.T) {
		b.t = t
		b.chat("telegram", "slow-1")
		b.send("/slow 60000")
		b.until("the turn started", `document.querySelector('#messages .msg.user .reaction')?.textContent === '👀'`)
		b.click("#interrupt")
		b.until("interrupt_inbound on the wire", `[...document.querySelectorAll('#rows .row[data-type="interrupt_inbound"]')].some(r =>
			r.textContent.includes('agent:main:telegram:dm:slow-1'))`)
		b.until("the turn cancelled", `document.querySelector('#messages .msg.user .reaction') === null &&
			document.querySelector('#messages .msg.bot') === null`)
	})

	// An edit is the same message id with new text: the bubble changes in
	// place.
	t.Run("edit a sent message", func(t *testing.T) {
		b.t = t
		b.chat("telegram", "edit-1")
		b.send("first words")
		b.until("the echo", botTexts+`.includes('echo: first words')`)
		b.click(`#messages .msg.user button.edit`)
		b.until("the composer holding the text", `document.querySelector('#text').value === 'first words' && !document.querySelector('#editing').hidden`)
		b.send("second words")
		b.until("the edited bubble", `(() => { const u = document.querySelectorAll('#messages .msg.user');
			return u.length === 1 && u[0].querySelector('.text').textContent === 'second words' && u[0].querySelector('.edited') !== null; })()`)
	})

	// The clock lever moves relaysim's manual clock.
	t.Run("manual clock lever", func(t *testing.T) {
		b.t = t
		before := s.Clock().Now()
		seq := s.JournalSeq()
		b.click(`[data-advance="30s"]`)
		ctx, cancel := context.WithTimeout(context.Background(), testkit.SlowWait)
		defer cancel()
		if _, err := s.Await(ctx, seq, func(e simulator.JournalEntry) bool {
			return e.Kind == simulator.JournalControl && strings.HasPrefix(e.Detail, "clock moved")
		}); err != nil {
			t.Fatalf("the clock did not move: %v", err)
		}
		if d := s.Clock().Now().Sub(before); d < 30*time.Second {
			t.Fatalf("clock moved %v, want 30s", d)
		}
	})

	// A gateway that went dormant gets what arrives meanwhile from the
	// buffer when it comes back: the chat shows the message buffered, then
	// replayed and acked, the connector panel the flip and the buffer, and
	// the wire the 1013 refusals (highlighted) while connections are
	// refused.
	t.Run("buffer and drain", func(t *testing.T) {
		b.t = t
		cc := s.ControlClient()
		b.chat("telegram", "idle-1")
		b.click("#refuse")
		waitFault(t, cc, true)
		b.send("/dormant")
		b.until("the flip", `document.querySelector('#instance')?.textContent.includes('buffered-only')`)
		b.send("while away")
		b.until("the message buffered", `[...document.querySelectorAll('#messages .msg.user')].some(m =>
			m.textContent.includes('while away') && m.textContent.includes('buffered'))`)
		b.until("the buffer's depth", `document.querySelector('#instance [data-depth]')?.dataset.depth === '1'`)
		b.until("a refused re-dial, highlighted", `document.querySelector('#rows .row.k-close.alarm') !== null`)
		b.click("#refuse")
		waitFault(t, cc, false)
		b.until("the replay, acked", `[...document.querySelectorAll('#messages .msg.user')].some(m =>
			m.textContent.includes('while away') && m.textContent.includes('replayed, acked'))`)
		b.until("the answer to the replay", botTexts+`.includes('echo: while away')`)
		b.until("the empty buffer", `document.querySelector('#instance [data-depth]')?.dataset.depth === '0'`)
	})

	// Rotating a secret shows the new one, once; the old one keeps
	// working until retired.
	t.Run("rotate a secret", func(t *testing.T) {
		b.t = t
		b.click(`#gateways tr[data-gateway="gw-dev"] button[data-act="rotate"]`)
		b.until("the new secret", `document.querySelector('#secret-dialog').open &&
			/GATEWAY_RELAY_SECRET=[0-9a-f]{64}/.test(document.querySelector('#secret-body').textContent)`)
		b.click(`#secret-dialog button`)
		g, ok := s.Gateway("gw-dev")
		if !ok || g.PreviousSecrets != 1 {
			t.Fatalf("gateway %+v", g)
		}
		b.until("the rotation shown", `document.querySelector('#gateways tr[data-gateway="gw-dev"]').textContent.includes('1 older secret')`)
	})

	// The interrupt button's session key is the contract's.
	t.Run("session keys match the contract's vectors", func(t *testing.T) {
		b.t = t
		vecs, err := fixtures.SessionKeyVectors()
		if err != nil {
			t.Fatal(err)
		}
		in, _ := json.Marshal(vecs)
		keys := eval[[]string](b, `import('./console/model.js').then(m => (`+string(in)+`).map(v => m.sessionKey(v.source, v.options)))`)
		for i, v := range vecs {
			if keys[i] != v.Key {
				t.Errorf("%s: console says %q, contract %q", v.Name, keys[i], v.Key)
			}
		}
	})

	if path := os.Getenv(envScreenshot); path != "" {
		b.t = t
		screenshot(b, path)
	}
}

// waitFault waits until GET /faults reports refusing as want.
func waitFault(t *testing.T, cc *simulator.ControlClient, want bool) {
	t.Helper()
	deadline := time.Now().Add(testkit.SlowWait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), testkit.SlowWait)
		f, err := cc.Faults(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if f.RefusingConnections == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("refusingConnections stayed %v", f.RefusingConnections)
		}
		time.Sleep(20 * time.Millisecond) // polling the API, not asserting on time
	}
}

// screenshot stages a small conversation and writes a PNG of the console.
func screenshot(b *browser, path string) {
	b.chat("telegram", "42")
	b.set("#f-kinds", "frames")
	b.send("hello")
	b.until("the echo", botTexts+`.includes('echo: hello')`)
	b.send("/prompt")
	b.until("the prompt", `document.querySelector('#messages .msg.bot[data-op="prompt"][data-id]:not([data-id=""])') !== null`)
	b.click(`#messages .msg.bot[data-op="prompt"] button[data-option="apple"]`)
	b.until("the choice", botTexts+`.includes('echo: chose Apple')`)
	b.send("/stream streaming drafts into one message")
	b.until("the draft", `document.querySelector('#messages .msg.bot[data-op="draft"][data-final="true"]') !== null`)
	b.do(chromedp.EmulateViewport(1500, 900))
	ctx, cancel := context.WithTimeout(b.ctx, testkit.SlowWait)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("wrote %s (%d bytes)", path, len(png))
}

// TestConsoleControlToken opens the console of a relaysim with a control
// token: the page asks for it, keeps it in the tab and uses it on every
// call, the journal stream included.
func TestConsoleControlToken(t *testing.T) {
	b := newBrowser(t)
	s := simulator.RunT(t, simulator.Options{ControlToken: "s3cret-token", Gateways: []simulator.GatewaySpec{{GatewayID: "gw-dev"}}})
	b.do(chromedp.Navigate(s.ConsoleURL()))
	b.until("the token dialog", `document.querySelector('#token-dialog').open`)
	b.do(chromedp.SetValue(chromedp.CSS("#token-input"), "wrong"))
	b.click(`#token-form button[type="submit"]`)
	b.until("the dialog again, saying why", `document.querySelector('#token-dialog').open &&
		document.querySelector('#token-error').textContent.includes('control token')`)
	b.do(chromedp.SetValue(chromedp.CSS("#token-input"), "s3cret-token"))
	b.click(`#token-form button[type="submit"]`)
	b.until("the console", `document.body.dataset.ready === 'true' && !document.querySelector('#token-dialog').open`)
	// Something for the stream to carry, through the API with the token.
	ctx, cancel := context.WithTimeout(context.Background(), testkit.SlowWait)
	defer cancel()
	if _, err := s.ControlClient().AddScripts(ctx, simulator.ScriptRequest{Op: "send", Fail: &simulator.ScriptFailure{Error: "x", Code: "internal"}}); err != nil {
		t.Fatal(err)
	}
	b.set("#f-kinds", "all")
	b.until("the journal streamed with the token", `[...document.querySelectorAll('#rows .row')].some(r => r.textContent.includes('result script'))`)
	stored := eval[string](b, `sessionStorage.getItem('relaysim.controlToken')`)
	if stored != "s3cret-token" {
		t.Fatalf("sessionStorage holds %q", stored)
	}
}
