package adapter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// Transport is what the adapter needs from a connection: *client.Client
// satisfies it. Do must never block past its call's timeout and must
// report every failure as a Result with success:false (the adapter reads
// the Result; the error only repeats it).
type Transport interface {
	Do(ctx context.Context, a contract.Action, opts ...client.CallOption) (contract.Result, error)
	Descriptor(platform string) contract.CapabilityDescriptor
}

var _ Transport = (*client.Client)(nil)

// The Gateway admits messages ahead of running their turns.
var _ client.Admitter = (*Gateway)(nil)

// TurnFunc runs one turn: the gateway's answer to one inbound message.
// ctx is cancelled when the connector interrupts the turn's session (with
// cause client.ErrInterrupted) or the Gateway or its client closes (cause
// client.ErrClosed). Returning an error marks the turn failed (❌);
// returning ctx's error after an interrupt marks it cancelled.
type TurnFunc func(ctx context.Context, t *Turn) error

// Defaults of Options.
const (
	DefaultTypingInterval = 2 * time.Second
	DefaultPromptTimeout  = time.Hour
	DefaultStreamInterval = time.Second
	DefaultExpiredNotice  = "⌛ This prompt has expired."
)

// Options configure a Gateway. The zero value of every field is its
// documented default, so Options{} behaves like the reference gateway.
type Options struct {
	// Clock drives typing heartbeats, prompt expiry and stream
	// throttling. Default clock.Real().
	Clock clock.Clock

	// Logger receives the adapter's logs. Default: discarded.
	Logger *slog.Logger

	// TypingInterval is the period of the typing heartbeat sent while a
	// turn runs; the first beat goes out when the turn starts. Default 2s,
	// the reference gateway's cadence (platform indicators fade after
	// about 5s). Negative disables heartbeats.
	TypingInterval time.Duration

	// NoReactions turns off the reaction lifecycle: 👀 on a message when
	// its turn starts, swapped for ✅ or ❌ when it ends (👍/👎 on
	// Telegram, whose reaction set lacks ✅ and ❌). Reactions are only
	// ever sent where the descriptor advertises react.
	NoReactions bool

	// PromptTimeout is how long a prompt waits for a press before it
	// expires. Default 3600s. The timeout_s sent on the wire is advisory.
	PromptTimeout time.Duration

	// ExpiredNotice is the short text sent when someone presses an option
	// of one of this process's prompts that expired or is unknown.
	// Default DefaultExpiredNotice.
	ExpiredNotice string

	// StreamInterval is the least time between two updates (draft frames
	// or edits) of a stream; text written meanwhile is sent with the next
	// update. Default 1s. Negative sends an update on every Write.
	StreamInterval time.Duration

	// FormatHints, when enabled, are stamped on text actions (send, edit,
	// draft) as metadata.format_hints, but only for platforms whose
	// descriptor has supports_block_formatting. Default off.
	FormatHints FormatHints

	// Nonce heads every prompt id this Gateway mints, telling its presses
	// apart from those of other gateway processes of the tenant (the
	// connector fans presses out to all of them). Default: 6 random hex
	// characters. It must be 1 to 23 characters of [A-Za-z0-9_-].
	Nonce string

	// Admit, when set, is asked before a message is queued as a turn. An
	// error refuses it: the admission fails, so a buffered delivery is not
	// acked and the connector replays it later. Prompt answers are
	// consumed before Admit is asked. Default: admit all.
	Admit func(ctx context.Context, ev contract.MessageEvent) error

	// Passthrough handles passthrough forwards that are not presses on
	// this Gateway's prompts. Default: they are logged and acked, so a
	// buffered forward does not replay forever.
	Passthrough func(ctx context.Context, d *client.PassthroughDelivery) error

	// deviations make the adapter break contract requirements on purpose,
	// for the conformance self-check; set with deviation.Apply
	// (deviations.go).
	deviations deviation.Set
}

// Gateway turns a relay client into a gateway that behaves according to
// each platform's descriptor. It implements client.Handler and
// client.Admitter: pass it as client.Options.Handler and every inbound
// message becomes a Turn run by the TurnFunc, with typing heartbeats,
// reactions, metadata stamping and prompt handling done for it.
//
// The client's pipeline runs the turns: a message is admitted as it
// arrives (its chat's metadata learned, a prompt answer consumed,
// Options.Admit asked) and, when buffered, acked at once; its turn then
// runs in the client's session order, one at a time per session key,
// sessions concurrently. An interrupt cancels the running turn of exactly
// its session.
type Gateway struct {
	fn     TurnFunc
	clk    clock.Clock
	log    *slog.Logger
	opts   Options
	nonce  string
	meta   MetadataStore
	draftN atomic.Int64

	ctx    context.Context // cancelled by Close
	cancel context.CancelCauseFunc
	turns  sync.WaitGroup // running turns, for Close
	active atomic.Int64   // running turns

	mu      sync.Mutex
	closed  bool
	prompts promptRegistry
}

// New returns a Gateway that runs fn for every inbound message. It panics
// on invalid options (a malformed nonce): they are programming errors.
func New(fn TurnFunc, opts Options) *Gateway {
	if fn == nil {
		panic("adapter: New needs a TurnFunc")
	}
	g := &Gateway{
		fn:    fn,
		clk:   clock.OrReal(opts.Clock),
		log:   opts.Logger,
		opts:  opts,
		nonce: opts.Nonce,
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.nonce == "" {
		g.nonce = NewNonce()
	} else if !validNonce(g.nonce) {
		panic(fmt.Sprintf("adapter: invalid nonce %q", g.nonce))
	}
	if g.opts.TypingInterval == 0 {
		g.opts.TypingInterval = DefaultTypingInterval
	}
	if g.opts.PromptTimeout <= 0 {
		g.opts.PromptTimeout = DefaultPromptTimeout
	}
	if g.opts.StreamInterval == 0 {
		g.opts.StreamInterval = DefaultStreamInterval
	}
	if g.opts.ExpiredNotice == "" {
		g.opts.ExpiredNotice = DefaultExpiredNotice
	}
	g.draftN.Store(rand.Int64N(1 << 40))
	g.ctx, g.cancel = context.WithCancelCause(context.Background())
	g.prompts.init()
	return g
}

// Nonce returns the owner nonce heading this Gateway's prompt ids.
func (g *Gateway) Nonce() string { return g.nonce }

// Metadata returns the per-chat metadata the Gateway learned.
func (g *Gateway) Metadata() *MetadataStore { return &g.meta }

// Chat returns the outbound surface of one chat on tr, for messages sent
// outside a turn. platform "" means the platform of the chat's last
// inbound event, else the connection's default. The chat's learned
// metadata is stamped as in a turn.
func (g *Gateway) Chat(tr Transport, platform, chatID string) *Chat {
	if platform == "" {
		platform = g.meta.Platform(chatID)
	}
	return &Chat{g: g, tr: tr, platform: platform, id: chatID}
}

// AdmitEvent implements client.Admitter: it learns the chat's metadata,
// consumes prompt answers (admitted, no turn), and asks Options.Admit
// before admitting a message as a turn. The client acks a buffered
// delivery as soon as it is admitted, before its turn runs.
func (g *Gateway) AdmitEvent(ctx context.Context, d *client.Delivery) (turn bool, err error) {
	return g.admit(ctx, d.Client(), d.Event)
}

// admit decides whether ev becomes a turn: false with nil when it was a
// prompt answer, an error when it is refused.
func (g *Gateway) admit(ctx context.Context, tr Transport, ev contract.MessageEvent) (turn bool, err error) {
	g.meta.Learn(ev.Source)
	if g.consumePromptResponse(ctx, tr, ev) || g.consumeFallbackAnswer(ev) {
		return false, nil
	}
	if g.opts.Admit != nil {
		if err := g.opts.Admit(ctx, ev); err != nil {
			return false, fmt.Errorf("event not admitted: %w", err)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false, client.ErrClosed // not admitted: a buffered delivery replays
	}
	return true, nil
}

// HandleEvent implements client.Handler: it runs the turn of an event
// AdmitEvent admitted, in the client's order for its session. ctx is the
// client's handler context, which an interrupt of the session cancels.
func (g *Gateway) HandleEvent(ctx context.Context, d *client.Delivery) error {
	return g.turn(ctx, d.Client(), d.Event, d.SessionKey)
}

// turn runs one turn under ctx, unless the Gateway is closed; Close also
// cancels it.
func (g *Gateway) turn(ctx context.Context, tr Transport, ev contract.MessageEvent, key string) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return client.ErrClosed
	}
	g.turns.Add(1)
	g.mu.Unlock()
	defer g.turns.Done()
	g.active.Add(1)
	defer g.active.Add(-1)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(g.ctx, func() { cancel(context.Cause(g.ctx)) })
	defer stop()
	if key == "" {
		key = contract.SessionKey(ev.Source, contract.DefaultSessionKeyOptions())
	}
	g.runTurn(ctx, tr, ev, key)
	return nil
}

// HandleInterrupt implements client.Handler. The client has already
// cancelled the running turn of sessionKey (cause client.ErrInterrupted);
// turns queued behind it still run.
func (g *Gateway) HandleInterrupt(_ context.Context, sessionKey, chatID string) {
	g.log.Info("relay session interrupted", slog.String("session", sessionKey), slog.String("chat", chatID))
}

// AdmitPassthrough implements client.Admitter. A Discord component press
// whose custom_id is a prompt callback token is consumed like a
// prompt_response event and acked; a slash command is admitted like a
// message, acked, and run as a turn of its session; other forwards go to
// HandlePassthrough.
func (g *Gateway) AdmitPassthrough(ctx context.Context, d *client.PassthroughDelivery) (handle bool, err error) {
	if ev, ok := pressEvent(d.Forward); ok {
		g.meta.Learn(ev.Source)
		g.consumePromptResponse(ctx, d.Client(), ev)
		return false, d.Ack()
	}
	if ev, ok := commandEvent(d.Forward); ok {
		// A slash command is a turn like a message: acked only once
		// admitted (IDLE-015), so a refused one replays.
		turn, err := g.admit(ctx, d.Client(), ev)
		if err != nil {
			return false, err
		}
		d.SessionKey = contract.SessionKey(ev.Source, contract.DefaultSessionKeyOptions())
		if err := d.Ack(); err != nil {
			g.log.Warn("relay ack failed", slog.String("err", err.Error()))
		}
		return turn, nil
	}
	return true, nil
}

// HandlePassthrough implements client.Handler: it runs the turn of an
// admitted slash command; other forwards go to Options.Passthrough, or
// are logged and acked.
func (g *Gateway) HandlePassthrough(ctx context.Context, d *client.PassthroughDelivery) error {
	if ev, ok := commandEvent(d.Forward); ok {
		return g.turn(ctx, d.Client(), ev, d.SessionKey)
	}
	if g.opts.Passthrough != nil {
		return g.opts.Passthrough(ctx, d)
	}
	g.log.Info("relay passthrough forward dropped", slog.String("platform", d.Forward.Platform),
		slog.String("method", d.Forward.Method), slog.String("path", d.Forward.Path))
	return d.Ack()
}

// discordInteraction is the part of a Discord interaction a gateway reads
// from a passthrough_forward body.
type discordInteraction struct {
	Type      int    `json:"type"`
	ID        string `json:"id"`
	ChannelID string `json:"channel_id"`
	GuildID   string `json:"guild_id"`
	Data      struct {
		Name     string `json:"name"`
		CustomID string `json:"custom_id"`
		Options  []struct {
			Value any `json:"value"`
		} `json:"options"`
	} `json:"data"`
	Message struct {
		ID string `json:"id"`
	} `json:"message"`
	Member struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"member"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
}

// parseInteraction decodes a Discord forward's body; ok is false for any
// other platform or a body that is not an interaction.
func parseInteraction(f contract.Forward) (discordInteraction, bool) {
	var in discordInteraction
	if f.Platform != "discord" || json.Unmarshal(f.Body, &in) != nil {
		return in, false
	}
	return in, true
}

// source is the session source of the interaction: group when it has a
// guild, dm otherwise, the guild as scope_id (as the reference gateway
// reads it).
func (in discordInteraction) source(profile string) contract.SessionSource {
	user := in.Member.User.ID
	if user == "" {
		user = in.User.ID
	}
	chatType := "dm"
	if in.GuildID != "" {
		chatType = "group"
	}
	return contract.SessionSource{
		Platform: "discord", ChatID: in.ChannelID, ChatType: chatType,
		UserID: user, ScopeID: in.GuildID, MessageID: in.ID, Profile: profile,
	}
}

// commandEvent turns a Discord slash command (interaction type 2) into a
// command event with text "/<name> <option values>", as the reference
// gateway does (section 6.5 of the contract).
func commandEvent(f contract.Forward) (contract.MessageEvent, bool) {
	in, ok := parseInteraction(f)
	if !ok || in.Type != 2 || in.Data.Name == "" {
		return contract.MessageEvent{}, false
	}
	text := "/" + in.Data.Name
	for _, o := range in.Data.Options {
		text += " " + fmt.Sprint(o.Value)
	}
	return contract.MessageEvent{Text: text, MessageType: "command", MessageID: in.ID, Source: in.source(f.Profile)}, true
}

// pressEvent turns a Discord interaction that presses a prompt button
// (type 3, custom_id "hp1:<prompt>:<option>") into a prompt_response event.
func pressEvent(f contract.Forward) (contract.MessageEvent, bool) {
	in, ok := parseInteraction(f)
	if !ok || in.Type != 3 {
		return contract.MessageEvent{}, false
	}
	pid, oid, ok := ParseCallbackToken(in.Data.CustomID)
	if !ok {
		return contract.MessageEvent{}, false
	}
	return contract.MessageEvent{
		Text:        "/" + oid,
		MessageType: "command",
		PromptResponse: &contract.PromptResponse{
			PromptID: pid, OptionID: oid, PromptMessageID: in.Message.ID,
		},
		Source: in.source(f.Profile),
	}, true
}

// Close cancels every running turn (cause client.ErrClosed), stops
// admitting deliveries and waits, at most until ctx ends, for the turns to
// finish. Prompts waiting for a press return client.ErrClosed.
func (g *Gateway) Close(ctx context.Context) error {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		g.cancel(client.ErrClosed)
		g.prompts.closeAll()
	}
	g.mu.Unlock()
	done := make(chan struct{})
	go func() {
		g.turns.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("failed to wait for running turns: %w", ctx.Err())
	}
}

// callTurn runs the TurnFunc, turning a panic into an error.
func (g *Gateway) callTurn(ctx context.Context, t *Turn) (err error) {
	defer func() {
		if p := recover(); p != nil {
			g.log.Error("relay turn panicked", slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			err = fmt.Errorf("turn panicked: %v", p)
		}
	}()
	return g.fn(ctx, t)
}

// outcome classifies how a turn ended.
type outcome int

const (
	outcomeSuccess outcome = iota
	outcomeFailure
	outcomeCancelled
)

func turnOutcome(ctx context.Context, err error) outcome {
	switch {
	case err == nil:
		return outcomeSuccess
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, client.ErrInterrupted) || errors.Is(err, client.ErrClosed)):
		return outcomeCancelled
	}
	return outcomeFailure
}

// isSlack reports whether a platform keeps a typing status until cleared.
func isSlack(platform string) bool { return strings.EqualFold(platform, "slack") }
