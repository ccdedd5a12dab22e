package adapter

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
	"github.com/relaykit/relaykit/simulator"
)

// TestDeviationsAreTheAdapters: Options take the adapter's deviations and
// none of the client's (their names share one environment variable).
func TestDeviationsAreTheAdapters(t *testing.T) {
	var o Options
	if err := deviation.Apply(&o, deviation.NewSet(deviation.AdapterCountCodePoints, deviation.ClientNoNewline)); err == nil {
		t.Fatal("Options took a client deviation")
	}
	if err := deviation.Apply(&o, deviation.NewSet(deviation.AdapterCountCodePoints)); err != nil || !o.deviations.Has(deviation.AdapterCountCodePoints) {
		t.Fatalf("Apply = %v, set %v", err, o.deviations.IDs())
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{{Nonce: "has.dot"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%+v) did not panic", o)
				}
			}()
			New(func(context.Context, *Turn) error { return nil }, o)
		}()
	}
	g := New(func(context.Context, *Turn) error { return nil }, Options{Nonce: "gw-7"})
	if id := MintPromptID(g.Nonce()); !strings.HasPrefix(id, "gw-7.") {
		t.Fatal(id)
	}
	_ = g.Close(context.Background())
}

func TestActionError(t *testing.T) {
	decl := &ActionError{Op: "send", Result: contract.Result{Error: "discord egress declined: target is not an approved destination for this connection", Code: contract.CodeEgressDeclined}}
	if !errors.Is(decl, ErrDeclined) || errors.Is(decl, ErrAmbiguous) {
		t.Fatal("decline")
	}
	amb := &ActionError{Op: "draft", Result: contract.Result{Error: "egress declined: maybe", Ambiguous: true}}
	if !errors.Is(amb, ErrAmbiguous) {
		t.Fatal("ambiguous")
	}
	if declined(amb.Result) {
		t.Fatal("an ambiguous result is never a decline")
	}
	if got := decl.Error(); !strings.HasPrefix(got, "failed to send: ") || !strings.Contains(got, "(egress_declined)") {
		t.Fatal(got)
	}
}

func TestPressEvent(t *testing.T) {
	body := `{"type":3,"id":"i1","channel_id":"c1","data":{"custom_id":"hp1:abc123.0011aabb:once"},"user":{"id":"u5"}}`
	ev, ok := pressEvent(contract.Forward{Platform: "discord", Body: []byte(body), Profile: "work"})
	if !ok || ev.PromptResponse.PromptID != "abc123.0011aabb" || ev.PromptResponse.OptionID != "once" ||
		ev.Source.UserID != "u5" || ev.Source.ChatType != "dm" || ev.Source.Profile != "work" {
		t.Fatalf("%+v %v", ev, ok)
	}
	for _, f := range []contract.Forward{
		{Platform: "slack", Body: []byte(body)},
		{Platform: "discord", Body: []byte(`{"type":2,"data":{"name":"x"}}`)},
		{Platform: "discord", Body: []byte(`{"type":3,"data":{"custom_id":"not-a-token"}}`)},
		{Platform: "discord", Body: []byte(`not json`)},
	} {
		if _, ok := pressEvent(f); ok {
			t.Errorf("pressEvent(%s) ok", f.Body)
		}
	}
}

func TestPassthroughOtherForwardsAreAckedOrHandedOn(t *testing.T) {
	got := make(chan string, 1)
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc("discord", 2000, "chars")}, opts: Options{
		Passthrough: func(ctx context.Context, d *client.PassthroughDelivery) error {
			got <- d.Forward.Path
			return d.Ack()
		},
	}})
	if _, err := e.sim.Passthrough("gw1", contract.Forward{Platform: "discord", Method: "POST", Path: "/other", Body: []byte(`{"type":2}`)}); err != nil {
		t.Fatal(err)
	}
	if p := recv(t, got); p != "/other" {
		t.Fatal(p)
	}
}

func TestMediaDeclinedIsNotSentAsText(t *testing.T) {
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc("dc", 2000, "chars", allOps...)}, opts: quiet})
	e.script(simulator.ResultScript{Op: contract.OpSendMedia, EgressDeclined: true})
	_, err := e.gw.Chat(e.c, "dc", "c1").SendMedia(e.ctx(), client.Media{Kind: "image", SourceURL: "https://example.com/x.png"})
	if !errors.Is(err, ErrDeclined) {
		t.Fatalf("SendMedia: %v", err)
	}
	if n := len(e.actions()); n != 1 {
		t.Fatalf("a declined attachment was re-sent: %s", e.dump())
	}
}

func TestMediaRefusedFallsBackToText(t *testing.T) {
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc("dc", 2000, "chars", allOps...)}, opts: quiet})
	e.script(simulator.ResultScript{Op: contract.OpSendMedia, Fail: &simulator.ScriptFailure{Error: "file too large", Code: contract.CodeInvalidAction}})
	sent, err := e.gw.Chat(e.c, "dc", "c1").SendMedia(e.ctx(), client.Media{Kind: "video", SourceURL: "https://example.com/v.mp4"})
	if err != nil || len(sent.MessageIDs) != 1 {
		t.Fatalf("SendMedia = %+v, %v", sent, err)
	}
	if s := ofOps(e.actions(), contract.OpSend); len(s) != 1 || s[0].Content != "https://example.com/v.mp4" {
		t.Fatalf("%s", e.dump())
	}
}

func TestDeviationMediaKindFile(t *testing.T) {
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc("dc", 2000, "chars", allOps...)},
		opts: Options{TypingInterval: -1, NoReactions: true, deviations: deviation.NewSet(deviation.AdapterMediaKindFile)}})
	_, _ = e.gw.Chat(e.c, "dc", "c1").SendMedia(e.ctx(), client.Media{Kind: "image", SourceURL: "https://example.com/x.png"})
	sm := ofOps(e.actions(), contract.OpSendMedia)
	if len(sm) != 1 || sm[0].MediaKind != "file" {
		t.Fatalf("with media-kind-file the send_media should say media_kind file: %s", e.dump())
	}
}

func TestEditOverflowStartsANewMessage(t *testing.T) {
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{editDesc("dc", 40)}, opts: quiet})
	c := e.gw.Chat(e.c, "dc", "c1")
	sent, err := c.Edit(e.ctx(), "m-0", strings.Repeat("abc ", 25))
	if err != nil || len(sent.MessageIDs) < 3 || sent.MessageIDs[0] != "m-0" {
		t.Fatalf("Edit = %+v, %v", sent, err)
	}
	as := e.actions()
	if as[0].Op != contract.OpEdit || len(ofOps(as, contract.OpSend)) != len(sent.MessageIDs)-1 {
		t.Fatalf("%s", e.dump())
	}
	for _, a := range as {
		if Length(a.Content, "chars") > 40 {
			t.Fatalf("%s over the limit", a.Op)
		}
	}
}

func TestStreamEditRefusedContinuesBySegments(t *testing.T) {
	jobs := make(chan turnJob, 1)
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{editDesc("dc", 4096)}, opts: quiet, fn: runFn(jobs)})
	e.script(simulator.ResultScript{Op: contract.OpEdit, Fail: &simulator.ScriptFailure{Error: "message too old", Code: contract.CodeNotFound}})
	err := e.do(jobs, event("dc", "c1", "m1", "hi"), func(ctx context.Context, t *Turn) error {
		s := t.Stream()
		_ = streamWords(ctx, s, "one ", "two ", "three")
		if s.Mode() != StreamSegments {
			return errors.New("want segments after a refused edit")
		}
		_, err := s.Close(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sends := ofOps(e.actions(), contract.OpSend)
	if len(sends) != 2 || sends[0].Content != "one " || sends[1].Content != "two three" {
		t.Fatalf("want the first message kept and the rest sent anew: %s", e.dump())
	}
}

func TestStreamWithoutMessageIDContinuesBySegments(t *testing.T) {
	jobs := make(chan turnJob, 1)
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{editDesc("dc", 4096)}, opts: quiet, fn: runFn(jobs)})
	e.script(simulator.ResultScript{Op: contract.OpSend, Times: 1, Result: json.RawMessage(`{"success":true}`)})
	_ = e.do(jobs, event("dc", "c1", "m1", "hi"), func(ctx context.Context, t *Turn) error {
		s := t.Stream()
		_ = streamWords(ctx, s, "one ", "two")
		_, err := s.Close(ctx)
		return err
	})
	sends := ofOps(e.actions(), contract.OpSend)
	if len(ofOps(e.actions(), contract.OpEdit)) != 0 || len(sends) != 2 || sends[1].Content != "two" {
		t.Fatalf("%s", e.dump())
	}
}

func TestThreadCreateAndInfo(t *testing.T) {
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc("dc", 2000, "chars", allOps...)}, opts: quiet})
	e.script(simulator.ResultScript{Op: contract.OpGetChatInfo, Result: json.RawMessage(`{"success":true,"chat_info":{"name":"general","type":"group"}}`)})
	c := e.gw.Chat(e.c, "dc", "c1")
	if info := c.Info(e.ctx()); info.Name != "general" || info.Type != "group" {
		t.Fatalf("Info = %+v", info)
	}
	id, err := c.CreateThread(e.ctx(), "  "+strings.Repeat("n", 150))
	if err != nil || id == "" {
		t.Fatalf("CreateThread = %q, %v", id, err)
	}
	if a := ofOps(e.actions(), contract.OpThreadCreate)[0]; len([]rune(a.ThreadName)) != 100 {
		t.Fatalf("thread name %q", a.ThreadName)
	}
	if _, err := c.CreateThread(e.ctx(), ""); err != nil {
		t.Fatal(err)
	}
	if a := ofOps(e.actions(), contract.OpThreadCreate)[1]; a.ThreadName != "handoff" {
		t.Fatalf("thread name %q", a.ThreadName)
	}
}

func TestChatWithMetadata(t *testing.T) {
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc("dc", 2000, "chars")}, opts: quiet})
	base := e.gw.Chat(e.c, "dc", "c1")
	c := base.WithMetadata(map[string]any{"unfurl_links": false, "scope_id": "explicit"})
	if _, err := c.Send(e.ctx(), "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := base.Send(e.ctx(), "y"); err != nil {
		t.Fatal(err)
	}
	s := ofOps(e.actions(), contract.OpSend)
	if s[0].Metadata["unfurl_links"] != false || s[0].Metadata["scope_id"] != "explicit" || len(s[1].Metadata) != 0 {
		t.Fatalf("%s", e.dump())
	}
}

func TestPromptWithdrawnAndClosed(t *testing.T) {
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc("dc", 2000, "chars", allOps...)}, opts: quiet})
	c := e.gw.Chat(e.c, "dc", "c1")
	p, err := c.Ask(e.ctx(), fruit)
	if err != nil || p.Fallback() || p.MessageID() == "" || p.ID() == "" {
		t.Fatalf("Ask = %+v, %v", p, err)
	}
	ctx, cancel := context.WithCancel(e.ctx())
	cancel()
	if _, err := p.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait: %v", err)
	}
	// A withdrawn prompt is unknown: a press gets the notice.
	e.inject(press("dc", "c1", "p1", p.ID(), "a"))
	e.eventually("the notice", func() bool {
		s := ofOps(e.rawActions(), contract.OpSend)
		return len(s) == 1 && s[0].Content == DefaultExpiredNotice
	})

	p2, err := c.Ask(e.ctx(), fruit)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Close(e.ctx()); err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Wait(e.ctx()); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Wait after Close: %v", err)
	}
	if _, err := c.Ask(e.ctx(), fruit); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Ask after Close: %v", err)
	}
}

func TestStreamOutsideATurnAndFlush(t *testing.T) {
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{editDesc("dc", 2000)}, opts: Options{TypingInterval: -1, NoReactions: true}})
	s := e.gw.Chat(e.c, "dc", "c1").Stream()
	ctx := e.ctx()
	_ = s.Write(ctx, "a") // first update: a send
	_ = s.Write(ctx, "b") // held by the throttle
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sent, err := s.Close(ctx)
	if err != nil || len(sent.MessageIDs) != 1 {
		t.Fatalf("Close = %+v, %v", sent, err)
	}
	if err := s.Write(ctx, "c"); !errors.Is(err, ErrStreamClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	as := ofOps(e.actions(), contract.OpSend, contract.OpEdit)
	if len(as) != 2 || as[1].Op != contract.OpEdit || as[1].Content != "ab" || as[0].ReplyTo != nil {
		t.Fatalf("%s", e.dump())
	}
}

func TestStreamDraftSealRefusedIsSentPlain(t *testing.T) {
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{draftDesc("tg", 4096)}, opts: quiet})
	e.script(simulator.ResultScript{Op: contract.OpDraft, Fail: &simulator.ScriptFailure{Error: "stream gone", Code: contract.CodeNotFound}})
	s := e.gw.Chat(e.c, "tg", "c1").Stream()
	s.buf.WriteString("final words")
	sent, err := s.Close(e.ctx())
	if err != nil || len(sent.MessageIDs) != 1 {
		t.Fatalf("Close = %+v, %v", sent, err)
	}
	if sends := ofOps(e.actions(), contract.OpSend); len(sends) != 1 || sends[0].Content != "final words" {
		t.Fatalf("%s", e.dump())
	}
}
