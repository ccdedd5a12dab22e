package adapter

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/clock"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// PromptRequest describes an interactive prompt: a question with buttons.
type PromptRequest struct {
	// Text is the question.
	Text string
	// Kind is "approval", "clarify" or "choice" (the default).
	Kind string
	// Options are the buttons. Each id must be 1 to 32 characters of
	// [A-Za-z0-9_.-], unique, and fit the 64-byte callback token; labels
	// are free text (clarify labels are best kept to 75 characters).
	Options []contract.PromptOption
	// Timeout is how long the prompt waits for a press; default
	// Options.PromptTimeout. When set it is also sent as the advisory
	// timeout_s.
	Timeout time.Duration
}

// PromptAnswer is the option someone chose.
type PromptAnswer struct {
	PromptID string
	OptionID string
	// Label is the chosen option's label.
	Label string
	// PromptMessageID is the prompt's message, when the connector said.
	PromptMessageID string
	// Fallback is set when the answer was a text reply to the numbered
	// text fallback rather than a button press.
	Fallback bool
}

// resolvedMemory is how many answered prompt ids a Gateway remembers, so
// a double tap or a redelivery reads as a repeat and is swallowed.
const resolvedMemory = 256

// PendingPrompt is a posted prompt waiting for its answer.
type PendingPrompt struct {
	g         *Gateway
	id        string
	key       chatKey
	options   []contract.PromptOption
	fallback  bool
	messageID string
	timer     clock.Timer
	done      chan struct{} // closed once answer or err is set
	answer    PromptAnswer
	err       error
}

// ID returns the prompt id, "<nonce>.<8 hex>".
func (p *PendingPrompt) ID() string { return p.id }

// Fallback reports whether the prompt went out as numbered text, because
// the platform does not advertise prompt or refused it.
func (p *PendingPrompt) Fallback() bool {
	p.g.mu.Lock()
	defer p.g.mu.Unlock()
	return p.fallback
}

// MessageID returns the id of the prompt's message, when known.
func (p *PendingPrompt) MessageID() string {
	p.g.mu.Lock()
	defer p.g.mu.Unlock()
	return p.messageID
}

func (p *PendingPrompt) setMessageID(id string) {
	p.g.mu.Lock()
	defer p.g.mu.Unlock()
	p.messageID = id
}

// Wait blocks until the prompt is answered, expires (ErrPromptExpired),
// the Gateway closes (client.ErrClosed) or ctx ends. When ctx ends first the
// prompt is withdrawn: a later press gets the expiry notice.
func (p *PendingPrompt) Wait(ctx context.Context) (PromptAnswer, error) {
	select {
	case <-p.done:
	case <-ctx.Done():
		p.g.mu.Lock()
		p.g.prompts.finish(p, PromptAnswer{}, ctx.Err())
		p.g.mu.Unlock()
		<-p.done
	}
	p.g.mu.Lock()
	defer p.g.mu.Unlock()
	a := p.answer
	if p.err == nil && a.PromptMessageID == "" {
		// The press can beat the prompt's own result.
		a.PromptMessageID = p.messageID
	}
	return a, p.err
}

// promptRegistry holds the pending prompts of a Gateway; guarded by
// Gateway.mu.
type promptRegistry struct {
	byID     map[string]*PendingPrompt
	byChat   map[chatKey][]*PendingPrompt // numbered-text prompts, oldest first
	resolved map[string]bool
	order    []string
}

func (r *promptRegistry) init() {
	r.byID = map[string]*PendingPrompt{}
	r.byChat = map[chatKey][]*PendingPrompt{}
	r.resolved = map[string]bool{}
}

func (r *promptRegistry) add(p *PendingPrompt) {
	r.byID[p.id] = p
	if p.fallback {
		r.byChat[p.key] = append(r.byChat[p.key], p)
	}
}

func (r *promptRegistry) setFallback(p *PendingPrompt) {
	if !p.fallback {
		p.fallback = true
		r.byChat[p.key] = append(r.byChat[p.key], p)
	}
}

// finish settles p once: it leaves the registry and its waiter wakes.
func (r *promptRegistry) finish(p *PendingPrompt, a PromptAnswer, err error) {
	if r.byID[p.id] != p {
		return // already settled
	}
	delete(r.byID, p.id)
	if list := r.byChat[p.key]; len(list) > 0 {
		list = slices.DeleteFunc(list, func(q *PendingPrompt) bool { return q == p })
		if len(list) == 0 {
			delete(r.byChat, p.key)
		} else {
			r.byChat[p.key] = list
		}
	}
	if p.timer != nil {
		p.timer.Stop()
	}
	if err == nil {
		r.resolved[p.id] = true
		r.order = append(r.order, p.id)
		if len(r.order) > resolvedMemory {
			delete(r.resolved, r.order[0])
			r.order = r.order[1:]
		}
	}
	p.answer, p.err = a, err
	close(p.done)
}

func (r *promptRegistry) closeAll() {
	for _, p := range r.byID {
		r.finish(p, PromptAnswer{}, client.ErrClosed)
	}
}

// Prompt posts a prompt and waits for its answer; see Ask and
// PendingPrompt.Wait.
func (c *Chat) Prompt(ctx context.Context, req PromptRequest) (PromptAnswer, error) {
	// Typing pauses before the prompt is posted, not once Ask returns:
	// the prompt is on screen (and its expiry running) before the post's
	// result comes back, and a heartbeat in between would be typing over it.
	if c.waiting != nil {
		c.waiting(true)
		defer c.waiting(false)
	}
	p, err := c.Ask(ctx, req)
	if err != nil {
		return PromptAnswer{}, err
	}
	return p.Wait(ctx)
}

// Ask posts a prompt without waiting. Where the descriptor advertises
// prompt it sends a prompt action with buttons; otherwise, or when the
// connector refuses the prompt for another reason than a decline, it sends
// the question with numbered options as text, and a reply in the chat
// holding a number, an option id or a label answers it. An egress decline
// is returned as is and nothing else is sent.
func (c *Chat) Ask(ctx context.Context, req PromptRequest) (*PendingPrompt, error) {
	g := c.g
	kind := req.Kind
	if kind == "" {
		kind = "choice"
	}
	if !slices.Contains(contract.PromptKinds, kind) {
		return nil, fmt.Errorf("prompt kind %q: want one of %v", kind, contract.PromptKinds)
	}
	id := MintPromptID(g.nonce)
	if g.deviates(deviation.AdapterLongPromptIDs) {
		id = g.nonce + "." + randomHex(16)
	} else if err := ValidateOptions(id, optionIDs(req.Options)); err != nil {
		return nil, fmt.Errorf("invalid prompt: %w", err)
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = g.opts.PromptTimeout
	}
	d := c.Descriptor()
	p := &PendingPrompt{
		g: g, id: id, key: chatKey{c.platform, c.id},
		options: slices.Clone(req.Options), fallback: !c.supports(d, contract.OpPrompt),
		done: make(chan struct{}),
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil, client.ErrClosed
	}
	g.prompts.add(p)
	p.timer = g.clk.AfterFunc(timeout, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.prompts.finish(p, PromptAnswer{}, ErrPromptExpired)
	})
	g.mu.Unlock()

	withdraw := func(err error) (*PendingPrompt, error) {
		g.mu.Lock()
		g.prompts.finish(p, PromptAnswer{}, err)
		g.mu.Unlock()
		return nil, err
	}
	if !p.fallback {
		a := contract.Action{
			Op: contract.OpPrompt, ChatID: c.id, Content: req.Text, PromptKind: kind, PromptID: id,
			Options: p.options, Metadata: c.metadata(d, false),
		}
		if req.Timeout > 0 {
			s := req.Timeout.Seconds()
			a.TimeoutS = &s
		}
		r := c.do(ctx, a)
		switch {
		case r.Success, r.Ambiguous:
			// An ambiguous prompt may be on screen: keep waiting for it.
			p.setMessageID(r.MessageID)
			return p, nil
		case declined(r):
			return withdraw(resultErr(contract.OpPrompt, r))
		}
		g.log.Info("relay prompt refused; sending numbered text", slog.String("error", r.Error))
		g.mu.Lock()
		g.prompts.setFallback(p)
		g.mu.Unlock()
	}
	sent, err := c.send(ctx, numberedText(req.Text, p.options), "")
	if err != nil {
		return withdraw(err)
	}
	p.setMessageID(sent.Last())
	return p, nil
}

// numberedText is the prompt fallback: the question, one numbered line per
// option, and how to answer.
func numberedText(text string, opts []contract.PromptOption) string {
	var b strings.Builder
	if text != "" {
		b.WriteString(text)
		b.WriteString("\n\n")
	}
	for i, o := range opts {
		fmt.Fprintf(&b, "%d. %s\n", i+1, o.Label)
	}
	b.WriteString("\nReply with the number of your choice.")
	return b.String()
}

// consumePromptResponse handles a prompt answer and reports whether ev was
// one; an answer is never treated as chat. Presses on another process's
// prompts and repeats are swallowed; presses on an unknown or expired
// prompt of this process get the expiry notice.
func (g *Gateway) consumePromptResponse(ctx context.Context, tr Transport, ev contract.MessageEvent) bool {
	pr := ev.PromptResponse
	if pr == nil || pr.PromptID == "" || pr.OptionID == "" {
		return false
	}
	log := g.log.With(slog.String("prompt", pr.PromptID), slog.String("option", pr.OptionID))
	if owner, ok := PromptOwner(pr.PromptID); ok && owner != g.nonce && !g.deviates(deviation.AdapterAnswerForeignPrompts) {
		log.Debug("relay prompt answer belongs to another gateway process")
		return true
	}
	g.mu.Lock()
	if g.prompts.resolved[pr.PromptID] {
		g.mu.Unlock()
		log.Debug("relay prompt already answered; repeat ignored")
		return true
	}
	p := g.prompts.byID[pr.PromptID]
	if p != nil {
		i := slices.IndexFunc(p.options, func(o contract.PromptOption) bool { return o.ID == pr.OptionID })
		if i < 0 {
			g.mu.Unlock()
			log.Warn("relay prompt answer names an option the prompt does not have")
			return true
		}
		label := p.options[i].Label
		if label == "" {
			label = pr.Label
		}
		mid := pr.PromptMessageID
		if mid == "" {
			mid = p.messageID
		}
		g.prompts.finish(p, PromptAnswer{PromptID: p.id, OptionID: pr.OptionID, Label: label, PromptMessageID: mid}, nil)
		g.mu.Unlock()
		return true
	}
	g.mu.Unlock()
	log.Info("relay prompt answer for an unknown or expired prompt")
	if ev.Source.ChatID != "" {
		c := g.Chat(tr, ev.Source.Platform, ev.Source.ChatID)
		c.thread = ev.Source.ThreadID
		if _, err := c.Send(ctx, g.opts.ExpiredNotice); err != nil {
			log.Debug("relay expiry notice failed", slog.String("err", err.Error()))
		}
	}
	return true
}

// consumeFallbackAnswer resolves the newest numbered-text prompt of ev's
// chat that ev's text answers, and reports whether it did.
func (g *Gateway) consumeFallbackAnswer(ev contract.MessageEvent) bool {
	if ev.PromptResponse != nil {
		return false
	}
	text := strings.TrimSpace(ev.Text)
	if text == "" {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	list := g.prompts.byChat[chatKey{ev.Source.Platform, ev.Source.ChatID}]
	for j := len(list) - 1; j >= 0; j-- {
		p := list[j]
		for i, o := range p.options {
			if text == strconv.Itoa(i+1) || strings.EqualFold(text, o.ID) || strings.EqualFold(text, strings.TrimSpace(o.Label)) {
				g.prompts.finish(p, PromptAnswer{
					PromptID: p.id, OptionID: o.ID, Label: o.Label, PromptMessageID: p.messageID, Fallback: true,
				}, nil)
				return true
			}
		}
	}
	return false
}

// optionIDs returns the ids of prompt options.
func optionIDs(opts []contract.PromptOption) []string {
	ids := make([]string, len(opts))
	for i, o := range opts {
		ids[i] = o.ID
	}
	return ids
}
