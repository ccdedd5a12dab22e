package adapter

import (
	"context"
	"log/slog"
	"maps"
	"strings"

	"github.com/relaykit/relaykit/client"
	"github.com/relaykit/relaykit/contract"
	"github.com/relaykit/relaykit/internal/deviation"
)

// Chat sends to one chat the way its platform's descriptor allows: content
// split to the length limit in the platform's unit, optional ops used only
// when advertised (else their documented fallback, and never an
// unadvertised frame), and the chat's learned scope_id, user_id and
// profile stamped on every action. A Chat is cheap; get one from
// Gateway.Chat or Turn.Chat. It is safe for concurrent use.
type Chat struct {
	g        *Gateway
	tr       Transport
	platform string
	id       string
	thread   string         // thread_id metadata of the conversation, if any
	waiting  func(bool)     // told while a prompt waits (pauses typing)
	extra    map[string]any // caller metadata added to every action
}

// ID returns the chat id.
func (c *Chat) ID() string { return c.id }

// Platform returns the platform actions are routed to; "" and "relay"
// mean the connection's default (the frame goes untagged).
func (c *Chat) Platform() string { return c.platform }

// WithMetadata returns a copy of c that adds md to the metadata of every
// action it sends (stamped discriminators still fill in what md lacks).
func (c *Chat) WithMetadata(md map[string]any) *Chat {
	n := *c
	n.extra = maps.Clone(c.extra)
	if n.extra == nil {
		n.extra = map[string]any{}
	}
	maps.Copy(n.extra, md)
	return &n
}

// Descriptor returns the capability descriptor governing the chat.
func (c *Chat) Descriptor() contract.CapabilityDescriptor { return c.tr.Descriptor(c.platform) }

// Supports reports whether the adapter will send op to this chat: the
// descriptor advertises it (the legacy set when supported_ops is empty),
// and, for draft, supports_draft_streaming is set, for edit,
// supports_edit.
func (c *Chat) Supports(op string) bool { return c.supports(c.Descriptor(), op) }

func (c *Chat) supports(d contract.CapabilityDescriptor, op string) bool {
	advertised := d.SupportsOp(op) || c.g.deviates(deviation.AdapterIgnoreSupportedOps)
	switch op {
	case contract.OpDraft:
		return advertised && d.SupportsDraftStreaming
	case contract.OpEdit:
		return advertised && (d.SupportsEdit || c.g.deviates(deviation.AdapterEditWithoutSupport))
	}
	return advertised
}

// splitter returns the splitter for the chat's descriptor.
func (c *Chat) splitter(d contract.CapabilityDescriptor) Splitter {
	unit := d.LenUnit
	if c.g.deviates(deviation.AdapterCountCodePoints) {
		unit = contract.LenUnitChars
	}
	return Splitter{Limit: d.MessageLimit(), Unit: unit}
}

// metadata returns the metadata of an action: the caller's, the thread
// anchor, the learned discriminators and, for text actions, format hints.
func (c *Chat) metadata(d contract.CapabilityDescriptor, text bool) map[string]any {
	md := maps.Clone(c.extra)
	if c.thread != "" {
		if _, ok := md["thread_id"]; !ok {
			if md == nil {
				md = map[string]any{}
			}
			md["thread_id"] = c.thread
		}
	}
	if !c.g.deviates(deviation.AdapterNoMetadataStamp) {
		md = c.g.meta.Stamp(c.platform, c.id, md)
	}
	if text {
		md = stampFormatHints(md, c.g.opts.FormatHints, d)
	}
	return md
}

// do sends one action routed to the chat's platform.
func (c *Chat) do(ctx context.Context, a contract.Action) contract.Result {
	var opts []client.CallOption
	if c.platform != "" && c.platform != "relay" {
		opts = append(opts, client.Platform(c.platform))
	}
	r, _ := c.tr.Do(ctx, a, opts...) // the Result carries what the error says
	if declined(r) {
		c.g.log.Warn("relay egress declined", slog.String("op", a.Op), slog.String("chat", c.id),
			slog.String("platform", c.platform), slog.String("error", r.Error))
	}
	return r
}

// Sent lists the messages an operation created, in order.
type Sent struct {
	MessageIDs []string
}

// Last returns the id of the last message, or "".
func (s Sent) Last() string {
	if len(s.MessageIDs) == 0 {
		return ""
	}
	return s.MessageIDs[len(s.MessageIDs)-1]
}

func (s *Sent) add(id string) {
	if id != "" {
		s.MessageIDs = append(s.MessageIDs, id)
	}
}

// Send posts content, split into as many messages as the limit needs.
// It stops at the first failed part.
func (c *Chat) Send(ctx context.Context, content string) (Sent, error) {
	return c.send(ctx, content, "")
}

// Reply posts content as a reply to messageID; only the first part of a
// split message carries the reply_to.
func (c *Chat) Reply(ctx context.Context, messageID, content string) (Sent, error) {
	return c.send(ctx, content, messageID)
}

func (c *Chat) send(ctx context.Context, content, replyTo string) (Sent, error) {
	d := c.Descriptor()
	var sent Sent
	for i, part := range c.splitter(d).Split(content) {
		r := c.sendOne(ctx, d, part, replyTo, i == 0)
		if err := resultErr(contract.OpSend, r); err != nil {
			return sent, err
		}
		sent.add(r.MessageID)
	}
	return sent, nil
}

func (c *Chat) sendOne(ctx context.Context, d contract.CapabilityDescriptor, content, replyTo string, first bool) contract.Result {
	a := contract.Action{Op: contract.OpSend, ChatID: c.id, Content: content, Metadata: c.metadata(d, true)}
	if first && replyTo != "" {
		a.ReplyTo = &replyTo
	}
	return c.do(ctx, a)
}

// Edit replaces the content of a message the gateway sent. Content over
// the limit edits the message to the first part and sends the rest as new
// messages. Where the descriptor lacks supports_edit it returns
// ErrSkipped and sends nothing.
func (c *Chat) Edit(ctx context.Context, messageID, content string) (Sent, error) {
	d := c.Descriptor()
	if !c.supports(d, contract.OpEdit) {
		return Sent{}, ErrSkipped
	}
	parts := c.splitter(d).Split(content)
	if len(parts) == 0 {
		parts = []string{""}
	}
	var sent Sent
	r := c.editOne(ctx, d, messageID, parts[0])
	if err := resultErr(contract.OpEdit, r); err != nil {
		return sent, err
	}
	sent.add(r.MessageID)
	for _, part := range parts[1:] {
		r := c.sendOne(ctx, d, part, "", false)
		if err := resultErr(contract.OpSend, r); err != nil {
			return sent, err
		}
		sent.add(r.MessageID)
	}
	return sent, nil
}

func (c *Chat) editOne(ctx context.Context, d contract.CapabilityDescriptor, messageID, content string) contract.Result {
	r := c.do(ctx, contract.Action{Op: contract.OpEdit, ChatID: c.id, MessageID: messageID, Content: content, Metadata: c.metadata(d, true)})
	if r.Success && r.MessageID == "" {
		r.MessageID = messageID
	}
	return r
}

// Delete removes a message; without delete advertised it returns
// ErrSkipped.
func (c *Chat) Delete(ctx context.Context, messageID string) error {
	d := c.Descriptor()
	if !c.supports(d, contract.OpDelete) {
		return ErrSkipped
	}
	return resultErr(contract.OpDelete, c.do(ctx, contract.Action{
		Op: contract.OpDelete, ChatID: c.id, MessageID: messageID, Metadata: c.metadata(d, false),
	}))
}

// React adds emoji to a message; without react advertised it returns
// ErrSkipped.
func (c *Chat) React(ctx context.Context, messageID, emoji string) error {
	return c.react(ctx, messageID, emoji, false)
}

// Unreact removes a reaction the gateway added; without react advertised
// it returns ErrSkipped.
func (c *Chat) Unreact(ctx context.Context, messageID, emoji string) error {
	return c.react(ctx, messageID, emoji, true)
}

func (c *Chat) react(ctx context.Context, messageID, emoji string, remove bool) error {
	d := c.Descriptor()
	if !c.supports(d, contract.OpReact) {
		return ErrSkipped
	}
	return resultErr(contract.OpReact, c.do(ctx, contract.Action{
		Op: contract.OpReact, ChatID: c.id, MessageID: messageID, Emoji: emoji, Remove: remove,
		Metadata: c.metadata(d, false),
	}))
}

// Typing sends one typing heartbeat. Turns send them on their own.
func (c *Chat) Typing(ctx context.Context) error { return c.typing(ctx, nil) }

func (c *Chat) typing(ctx context.Context, status *string) error {
	d := c.Descriptor()
	if !c.supports(d, contract.OpTyping) {
		return ErrSkipped
	}
	return resultErr(contract.OpTyping, c.do(ctx, contract.Action{
		Op: contract.OpTyping, ChatID: c.id, Status: status, Metadata: c.metadata(d, false),
	}))
}

// SendMedia posts an attachment. Without send_media advertised, or when
// the connector refuses it for another reason than a decline, it falls
// back to a text message with the caption and the link. A decline or an
// ambiguous result is returned as is: the adapter never re-sends declined
// content through another op, nor risks a duplicate.
func (c *Chat) SendMedia(ctx context.Context, m client.Media) (Sent, error) {
	d := c.Descriptor()
	if c.supports(d, contract.OpSendMedia) {
		a := contract.Action{
			Op: contract.OpSendMedia, ChatID: c.id, MediaKind: m.Kind, SourceURL: m.SourceURL,
			Content: m.Caption, Filename: m.Filename, Metadata: c.metadata(d, false),
		}
		if c.g.deviates(deviation.AdapterMediaKindFile) {
			a.MediaKind = "file"
		}
		r := c.do(ctx, a)
		if r.Success {
			var s Sent
			s.add(r.MessageID)
			return s, nil
		}
		if declined(r) || r.Ambiguous {
			return Sent{}, resultErr(contract.OpSendMedia, r)
		}
		c.g.log.Info("relay send_media failed; sending the link as text", slog.String("error", r.Error))
	}
	return c.send(ctx, mediaText(m), "")
}

// mediaText is the text fallback of an attachment: the caption, then the
// link on its own line.
func mediaText(m client.Media) string {
	if m.Caption == "" {
		return m.SourceURL
	}
	return m.Caption + "\n" + m.SourceURL
}

// Info returns the chat's name and type. Without get_chat_info advertised,
// or when the call fails, the answer is local: the chat id as name and
// "dm" as type, as the reference gateway answers.
func (c *Chat) Info(ctx context.Context) contract.ChatInfo {
	d := c.Descriptor()
	if c.supports(d, contract.OpGetChatInfo) {
		if r := c.do(ctx, contract.Action{Op: contract.OpGetChatInfo, ChatID: c.id}); r.Success {
			return r.Info(c.id)
		}
	}
	return contract.ChatInfo{Name: c.id, Type: "dm"}
}

// CreateThread opens a thread under the chat and returns its id. Without
// thread_create advertised it returns ErrSkipped: keep talking in the chat
// itself. An empty name becomes "handoff"; names are cut to 100
// characters.
func (c *Chat) CreateThread(ctx context.Context, name string) (string, error) {
	d := c.Descriptor()
	if !c.supports(d, contract.OpThreadCreate) {
		return "", ErrSkipped
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = "handoff"
	}
	r := c.do(ctx, contract.Action{Op: contract.OpThreadCreate, ChatID: c.id, ThreadName: cutRunes(name, 100), Metadata: c.metadata(d, false)})
	if err := resultErr(contract.OpThreadCreate, r); err != nil {
		return "", err
	}
	if r.ThreadID != "" {
		return r.ThreadID, nil
	}
	return r.MessageID, nil
}

// RenameThread renames a thread of the chat; whitespace is collapsed and
// the name cut to 100 characters. Without thread_rename advertised it
// returns ErrSkipped.
func (c *Chat) RenameThread(ctx context.Context, threadID, name string) error {
	d := c.Descriptor()
	if !c.supports(d, contract.OpThreadRename) {
		return ErrSkipped
	}
	name = strings.Join(strings.Fields(name), " ")
	if name == "" || threadID == "" {
		return nil
	}
	return resultErr(contract.OpThreadRename, c.do(ctx, contract.Action{
		Op: contract.OpThreadRename, ChatID: c.id, MessageID: threadID, ThreadName: cutRunes(name, 100),
		OnlyIfConnectorCreated: true, Metadata: c.metadata(d, false),
	}))
}

func cutRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
