package adapter

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/contract"
)

// Turn is one inbound message being answered. Its methods send to the
// message's chat, following the chat's descriptor; see Chat for the
// fallbacks. While the TurnFunc runs, the Gateway sends typing heartbeats
// (paused while a prompt waits) and, where react is advertised, keeps 👀
// on the message, swapped for ✅ or ❌ when the turn ends.
type Turn struct {
	// Event is the inbound message.
	Event contract.MessageEvent
	// SessionKey is the session the turn belongs to; an interrupt naming
	// it cancels the turn (cause client.ErrInterrupted).
	SessionKey string

	chat   *Chat
	paused atomic.Bool
}

// Chat returns the chat the message came from.
func (t *Turn) Chat() *Chat { return t.chat }

// Transport returns the connection the message arrived on (a
// *client.Client for a Gateway used as a client.Handler), for what the
// adapter does not wrap, such as Interrupt or UploadMedia.
func (t *Turn) Transport() Transport { return t.chat.tr }

// MessageID returns the inbound message's id, or "".
func (t *Turn) MessageID() string { return eventMessageID(t.Event) }

func eventMessageID(ev contract.MessageEvent) string {
	if ev.MessageID != "" {
		return ev.MessageID
	}
	return ev.Source.MessageID
}

// Reply answers the message: content split to the chat's limit, the first
// part replying to the message.
func (t *Turn) Reply(ctx context.Context, content string) (Sent, error) {
	return t.chat.Reply(ctx, t.MessageID(), content)
}

// Stream starts a streamed answer whose first message replies to the
// inbound message; see Stream.
func (t *Turn) Stream() *Stream { return t.chat.stream(t.MessageID()) }

// Prompt asks a question with buttons and waits for the answer; typing
// heartbeats pause meanwhile. See Chat.Ask.
func (t *Turn) Prompt(ctx context.Context, req PromptRequest) (PromptAnswer, error) {
	return t.chat.Prompt(ctx, req)
}

// React adds a reaction to the inbound message; ErrSkipped where react is
// not advertised.
func (t *Turn) React(ctx context.Context, emoji string) error {
	return t.chat.React(ctx, t.MessageID(), emoji)
}

// SendMedia posts an attachment, or its link as text; see Chat.SendMedia.
func (t *Turn) SendMedia(ctx context.Context, m client.Media) (Sent, error) {
	return t.chat.SendMedia(ctx, m)
}

// ackEmoji returns the in-progress, success and failure reactions for a
// platform. Telegram accepts only a fixed reaction set, without ✅ and ❌.
func ackEmoji(platform string) (eyes, ok, fail string) {
	if strings.EqualFold(platform, "telegram") {
		return "👀", "👍", "👎"
	}
	return "👀", "✅", "❌"
}

// runTurn runs one turn with its typing heartbeat and reactions.
func (g *Gateway) runTurn(ctx context.Context, tr Transport, ev contract.MessageEvent, key string) {
	c := &Chat{g: g, tr: tr, platform: ev.Source.Platform, id: ev.Source.ChatID, thread: ev.Source.ThreadID}
	t := &Turn{Event: ev, SessionKey: key, chat: c}
	c.waiting = func(w bool) { t.paused.Store(w) }
	log := g.log.With(slog.String("session", key), slog.String("chat", c.id))

	platform := c.platform
	if platform == "" || platform == "relay" {
		platform = c.Descriptor().Platform
	}
	eyes, okEmoji, failEmoji := ackEmoji(platform)
	mid := t.MessageID()
	react := !g.opts.NoReactions && mid != "" && c.Supports(contract.OpReact)

	var bg sync.WaitGroup
	if react {
		bg.Go(func() {
			if err := c.React(ctx, mid, eyes); err != nil {
				log.Debug("relay in-progress reaction failed", slog.String("err", err.Error()))
			}
		})
	}
	stopTyping := g.startTyping(ctx, t)
	err := g.callTurn(ctx, t)
	stopTyping()
	bg.Wait()

	out := turnOutcome(ctx, err)
	switch out {
	case outcomeFailure:
		log.Warn("relay turn failed", slog.String("err", err.Error()))
	case outcomeCancelled:
		log.Info("relay turn cancelled", slog.Any("cause", context.Cause(ctx)))
	}
	if g.ctx.Err() != nil || errors.Is(context.Cause(ctx), client.ErrClosed) {
		return // closing: leave the connection alone
	}
	// The turn's context may be cancelled (an interrupt); the clean-up
	// still goes out, bounded by the transport's own call timeout.
	after := context.WithoutCancel(ctx)
	if react {
		// Failures here never fail the turn.
		_ = c.Unreact(after, mid, eyes)
		switch out {
		case outcomeSuccess:
			_ = c.React(after, mid, okEmoji)
		case outcomeFailure:
			_ = c.React(after, mid, failEmoji)
		}
	}
	if g.opts.TypingInterval > 0 && isSlack(platform) {
		clear := ""
		_ = c.typing(after, &clear) // Slack's status stays until cleared
	}
}

// startTyping sends a typing heartbeat now and every TypingInterval until
// the returned function is called.
func (g *Gateway) startTyping(ctx context.Context, t *Turn) (stop func()) {
	if g.opts.TypingInterval < 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if !t.paused.Load() {
				_ = t.chat.Typing(ctx)
			}
			timer := g.clk.NewTimer(g.opts.TypingInterval)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C():
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
