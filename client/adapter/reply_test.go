package adapter

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
	"github.com/relaykit/relaykit/simulator"
)

// astralText is long text in which every other character is outside the
// BMP, so its UTF-16 length is half again its code-point length.
func astralText(n int) string {
	var b strings.Builder
	for i := range n {
		if i%2 == 0 {
			b.WriteString(grin)
		} else {
			b.WriteString("a ")
		}
	}
	return b.String()
}

func TestReplySplitsInTheAdvertisedUnit(t *testing.T) {
	jobs := make(chan turnJob, 1)
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc("tg", 60, contract.LenUnitUTF16)}, fn: runFn(jobs)})
	text := astralText(200)
	err := e.do(jobs, event("tg", "c1", "m1", "hi"), func(ctx context.Context, t *Turn) error {
		_, err := t.Reply(ctx, text)
		return err
	})
	if err != nil {
		t.Fatalf("Reply: %v", err)
	}
	sends := ofOps(e.actions(), contract.OpSend)
	if len(sends) < 2 {
		t.Fatalf("got %d sends, want the reply split: %s", len(sends), e.dump())
	}
	var parts []string
	for i, s := range sends {
		if n := Length(s.Content, contract.LenUnitUTF16); n > 60 {
			t.Errorf("send %d is %d UTF-16 units, over the limit 60", i, n)
		}
		if (i == 0) != (s.ReplyTo != nil && *s.ReplyTo == "m1") {
			t.Errorf("send %d reply_to = %v; only the first part replies to m1", i, s.ReplyTo)
		}
		parts = append(parts, s.Content)
	}
	if got := Join(parts, 60); got != text {
		t.Fatalf("the parts do not re-join to the reply:\n got %q\nwant %q", got, text)
	}
}

func TestDeviationCountCodePointsOverflowsUTF16(t *testing.T) {
	jobs := make(chan turnJob, 1)
	e := newEnv(t, envConfig{
		descs: []contract.CapabilityDescriptor{desc("tg", 60, contract.LenUnitUTF16)},
		opts:  Options{deviations: deviation.NewSet(deviation.AdapterCountCodePoints)},
		fn:    runFn(jobs),
	})
	_ = e.do(jobs, event("tg", "c1", "m1", "hi"), func(ctx context.Context, t *Turn) error {
		_, err := t.Reply(ctx, astralText(200))
		return err
	})
	over := 0
	for _, s := range ofOps(e.actions(), contract.OpSend) {
		if Length(s.Content, contract.LenUnitUTF16) > 60 {
			over++
		}
	}
	if over == 0 {
		t.Fatal("count-code-points sent nothing over the UTF-16 limit")
	}
}

func TestReplyDeclinedIsNotRetried(t *testing.T) {
	jobs := make(chan turnJob, 1)
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc("p", 50, "chars", allOps...)}, fn: runFn(jobs), opts: Options{NoReactions: true, TypingInterval: -1}})
	e.script(simulator.ResultScript{Op: contract.OpSend, EgressDeclined: true})
	err := e.do(jobs, event("p", "c1", "m1", "hi"), func(ctx context.Context, t *Turn) error {
		_, err := t.Reply(ctx, strings.Repeat("word ", 40))
		return err
	})
	if !errors.Is(err, ErrDeclined) {
		t.Fatalf("Reply: %v, want ErrDeclined", err)
	}
	var ae *ActionError
	if !errors.As(err, &ae) || ae.Result.Code != contract.CodeEgressDeclined || ae.Op != contract.OpSend {
		t.Fatalf("error %#v", err)
	}
	if as := e.actions(); len(as) != 1 {
		t.Fatalf("a declined part must end the reply with no retry and no other op: %s", e.dump())
	}
}

func TestChatOutsideATurn(t *testing.T) {
	e := newEnv(t, envConfig{descs: []contract.CapabilityDescriptor{desc("p", 100, "chars", allOps...)}, opts: Options{NoReactions: true, TypingInterval: -1}})
	ctx := e.ctx()
	c := e.gw.Chat(e.c, "p", "c9")
	sent, err := c.Send(ctx, "hello")
	if err != nil || len(sent.MessageIDs) != 1 {
		t.Fatalf("Send = %+v, %v", sent, err)
	}
	if _, err := c.Edit(ctx, sent.Last(), "hello again"); !errors.Is(err, ErrSkipped) {
		t.Fatalf("Edit without supports_edit: %v, want ErrSkipped", err)
	}
	if info := c.Info(ctx); info.Name == "" {
		t.Fatalf("Info = %+v", info)
	}
	if got := ofOps(e.actions(), contract.OpGetChatInfo); len(got) != 1 || got[0].Metadata != nil {
		t.Fatalf("get_chat_info goes out once, without metadata: %s", e.dump())
	}
	// Media is native where advertised.
	if _, err := c.SendMedia(ctx, client.Media{Kind: "image", SourceURL: "https://example.com/a.png", Caption: "look"}); err != nil {
		t.Fatalf("SendMedia: %v", err)
	}
	if got := ofOps(e.actions(), contract.OpSendMedia); len(got) != 1 {
		t.Fatalf("send_media: %s", e.dump())
	}
}
