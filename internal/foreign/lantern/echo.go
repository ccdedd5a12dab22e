package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// replyPrefix starts every echo.
const replyPrefix = "lantern: "

// dest is where a turn's actions go: a chat on a platform.
type dest struct {
	platform string // the event's platform; the tag when fronted
	chat     string
	replyTo  string // the triggering message, for prompts
}

// Action shapes. Required keys are always present, reply_to as null when
// there is nothing to reply to (OUT-004).
type (
	sendAction struct {
		Op       string         `json:"op"`
		ChatID   string         `json:"chat_id"`
		Content  string         `json:"content"`
		ReplyTo  *string        `json:"reply_to"`
		Metadata map[string]any `json:"metadata"`
	}
	// sendActionOmit is the deviation null-reply-to-omitted.
	sendActionOmit struct {
		Op       string         `json:"op"`
		ChatID   string         `json:"chat_id"`
		Content  string         `json:"content"`
		ReplyTo  *string        `json:"reply_to,omitempty"`
		Metadata map[string]any `json:"metadata"`
	}
	editAction struct {
		Op        string         `json:"op"`
		ChatID    string         `json:"chat_id"`
		MessageID string         `json:"message_id"`
		Content   string         `json:"content"`
		Metadata  map[string]any `json:"metadata"`
	}
	typingAction struct {
		Op       string         `json:"op"`
		ChatID   string         `json:"chat_id"`
		Metadata map[string]any `json:"metadata"`
	}
	draftAction struct {
		Op       string         `json:"op"`
		ChatID   string         `json:"chat_id"`
		DraftID  int64          `json:"draft_id"`
		Content  string         `json:"content"`
		Final    bool           `json:"final"`
		Metadata map[string]any `json:"metadata"`
	}
	reactAction struct {
		Op        string         `json:"op"`
		ChatID    string         `json:"chat_id"`
		MessageID string         `json:"message_id"`
		Emoji     string         `json:"emoji"`
		Remove    bool           `json:"remove"`
		Metadata  map[string]any `json:"metadata"`
	}
	promptOption struct {
		ID    string `json:"id"`
		Label string `json:"label"`
		Style string `json:"style,omitempty"`
	}
	promptAction struct {
		Op         string         `json:"op"`
		ChatID     string         `json:"chat_id"`
		Content    string         `json:"content"`
		PromptKind string         `json:"prompt_kind"`
		PromptID   string         `json:"prompt_id"`
		Options    []promptOption `json:"options"`
		ReplyTo    *string        `json:"reply_to"`
		Metadata   map[string]any `json:"metadata"`
		TimeoutS   int            `json:"timeout_s"`
	}
	sendMediaAction struct {
		Op        string         `json:"op"`
		ChatID    string         `json:"chat_id"`
		MediaKind string         `json:"media_kind"`
		SourceURL string         `json:"source_url"`
		Content   string         `json:"content"`
		ReplyTo   *string        `json:"reply_to"`
		Metadata  map[string]any `json:"metadata"`
		Filename  string         `json:"filename,omitempty"`
	}
	sendMediaActionOmit struct {
		Op        string         `json:"op"`
		ChatID    string         `json:"chat_id"`
		MediaKind string         `json:"media_kind"`
		SourceURL string         `json:"source_url"`
		Content   string         `json:"content"`
		ReplyTo   *string        `json:"reply_to,omitempty"`
		Metadata  map[string]any `json:"metadata"`
		Filename  string         `json:"filename,omitempty"`
	}
)

var errNotConnected = errors.New("relay not connected")

// act sends one action toward d on the live connection.
func (g *gateway) act(ctx context.Context, d dest, action any) result {
	c := g.current()
	if c == nil {
		return result{Error: errNotConnected.Error()}
	}
	return c.call(ctx, d.platform, action)
}

// desc returns the descriptor actions toward d are gated by (HS-022).
func (g *gateway) desc(d dest) (descriptor, bool) {
	c := g.current()
	if c == nil {
		return descriptor{}, false
	}
	return c.descFor(d.platform), true
}

// shapeDesc returns the descriptor a reply toward d is split by (OUT-031).
func (g *gateway) shapeDesc(d dest) (descriptor, bool) {
	c := g.current()
	if c == nil {
		return descriptor{}, false
	}
	if g.dev == devLimitOfDefault {
		return c.defaultDesc(), true
	}
	return c.descFor(d.platform), true
}

func (g *gateway) stamp(d dest) map[string]any { return g.meta.stamp(d.platform, d.chat) }

// runTurn is the agent: the echo profile of the gateway testee contract.
func (g *gateway) runTurn(t *turn, ev event) {
	ctx := t.ctx
	d := dest{platform: ev.Source.Platform, chat: ev.Source.ChatID, replyTo: ev.MessageID}
	log := g.log.With("session", t.session, "chat", d.chat)
	if ev.Press != nil {
		g.onPress(ctx, d, *ev.Press)
		return
	}
	text := strings.TrimSpace(ev.Text)
	if text == "" {
		return
	}
	if label, ok := g.prompts.textAnswer(d.platform, d.chat, text, time.Now()); ok {
		g.reply(ctx, d, replyPrefix+"chose "+label)
		return
	}
	cmd, arg, _ := strings.Cut(text, " ")
	switch text {
	case "/interrupt":
		g.sendInterrupt(t.session)
		return
	case "/dormant":
		g.goDormant()
		return
	}
	g.typing(d)
	if cmd == "/slow" {
		ms, err := strconv.Atoi(strings.TrimSpace(arg))
		if err == nil && ms > 0 {
			tm := time.NewTimer(time.Duration(min(ms, 600000)) * time.Millisecond)
			select {
			case <-tm.C:
			case <-ctx.Done():
				tm.Stop()
				log.Info("turn cancelled", "cause", context.Cause(ctx))
				return
			}
		}
	}
	reply := replyPrefix + ev.Text
	switch {
	case cmd == "/stream":
		g.stream(ctx, d, strings.Fields(arg))
		return
	case text == "/react":
		g.react(ctx, d)
	case text == "/prompt":
		g.prompt(ctx, d)
		return
	case text == "/media":
		g.media(ctx, d)
		return
	case text == "/attachments":
		reply = replyPrefix + "/attachments: " + g.attachments(ctx, ev.MediaURLs)
	}
	g.reply(ctx, d, reply)
}

// reply sends text to d, split by the destination's descriptor, stopping
// at the first failure. A failure is final: declined content is never
// re-sent another way (OUT-011).
func (g *gateway) reply(ctx context.Context, d dest, text string) []string {
	desc, ok := g.shapeDesc(d)
	if !ok {
		g.log.Warn("reply dropped: not connected", "chat", d.chat)
		return nil
	}
	var ids []string
	for _, part := range splitText(text, desc.maxLen, desc.lenUnit, desc.codeBlocks(), g.dev == devFenceReopenUnbudgeted) {
		r := g.act(ctx, d, g.sendOf(d, part, nil))
		if !r.Success {
			g.log.Warn("send failed", "chat", d.chat, "code", r.Code, "error", r.Error, "ambiguous", r.Ambiguous)
			return ids
		}
		ids = append(ids, r.MessageID)
	}
	return ids
}

func (g *gateway) sendOf(d dest, content string, replyTo *string) any {
	if g.dev == devNullReplyToOmitted {
		return sendActionOmit{Op: "send", ChatID: d.chat, Content: content, ReplyTo: replyTo, Metadata: g.stamp(d)}
	}
	return sendAction{Op: "send", ChatID: d.chat, Content: content, ReplyTo: replyTo, Metadata: g.stamp(d)}
}

// typing shows a typing indicator where the descriptor allows: the frame
// is written before typing returns, its result is not waited for.
func (g *gateway) typing(d dest) {
	c := g.current()
	if c == nil {
		return
	}
	if !c.descFor(d.platform).supports("typing") {
		return
	}
	c.fire(d.platform, typingAction{Op: "typing", ChatID: d.chat, Metadata: g.stamp(d)})
}

// sendInterrupt asks the connector to stop the session's turn (IN-004).
func (g *gateway) sendInterrupt(session string) {
	c := g.current()
	if c == nil {
		return
	}
	reason := "lantern /interrupt"
	if err := c.writeFrame(struct {
		Type       string  `json:"type"`
		SessionKey string  `json:"session_key"`
		Reason     *string `json:"reason"`
	}{"interrupt", session, &reason}); err != nil {
		g.log.Warn("interrupt not written", "err", err)
	}
}

// stream answers /stream: drafts where the destination streams drafts,
// else a send and edits where it edits, else one plain reply.
func (g *gateway) stream(ctx context.Context, d dest, words []string) {
	desc, ok := g.shapeDesc(d)
	if !ok || len(words) == 0 {
		return
	}
	gate, _ := g.desc(d)
	switch {
	case gate.supports("draft"):
		g.streamDrafts(ctx, d, desc, words)
	case gate.supports("edit"):
		g.streamEdits(ctx, d, desc, words)
	default:
		g.streamSends(ctx, d, words)
	}
}

// streamSends streams by plain sends, a segment of 8 words at a time (one
// word with the style stream-word-sends), each but the last ending in a
// space so the segments re-join to the words.
func (g *gateway) streamSends(ctx context.Context, d dest, words []string) {
	n := 8
	if g.cfg.styles[styleStreamWordSends] {
		n = 1
	}
	for i := 0; i < len(words); i += n {
		seg := strings.Join(words[i:min(i+n, len(words))], " ")
		if i+n < len(words) {
			seg += " "
		}
		if len(g.reply(ctx, d, seg)) == 0 {
			return
		}
	}
}

// pieces groups words into texts that each fit the descriptor; a word
// longer than the limit is split on its own.
func pieces(desc descriptor, words []string) [][]string {
	var out [][]string
	var cur []string
	for _, w := range words {
		if measure(w, desc.lenUnit) > desc.maxLen {
			if len(cur) > 0 {
				out, cur = append(out, cur), nil
			}
			for _, p := range splitText(w, desc.maxLen, desc.lenUnit, false, false) {
				out = append(out, []string{p})
			}
			continue
		}
		if len(cur) > 0 && measure(strings.Join(append(cur, w), " "), desc.lenUnit) > desc.maxLen {
			out, cur = append(out, cur), nil
		}
		cur = append(cur, w)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func (g *gateway) nextDraftID() int64 {
	g.draftMu.Lock()
	defer g.draftMu.Unlock()
	if g.draftSeq == 0 {
		g.draftSeq = time.Now().Unix() % 100000 * 1000
	}
	g.draftSeq++
	return g.draftSeq
}

// streamDrafts grows one draft per message, a word at a time, and seals
// it (final:true); an ambiguous seal is re-sent once, identical (OUT-022).
func (g *gateway) streamDrafts(ctx context.Context, d dest, desc descriptor, words []string) {
	for _, group := range pieces(desc, words) {
		id := g.nextDraftID()
		for i := range group {
			a := draftAction{Op: "draft", ChatID: d.chat, DraftID: id, Content: strings.Join(group[:i+1], " "), Metadata: g.stamp(d)}
			if r := g.act(ctx, d, a); !r.Success {
				g.log.Warn("draft failed", "error", r.Error)
				return
			}
		}
		seal := draftAction{Op: "draft", ChatID: d.chat, DraftID: id, Content: strings.Join(group, " "), Final: true, Metadata: g.stamp(d)}
		r := g.act(ctx, d, seal)
		if !r.Success && r.Ambiguous && ctx.Err() == nil {
			r = g.act(ctx, d, seal)
		}
		if !r.Success {
			g.log.Warn("draft seal failed", "error", r.Error)
			return
		}
	}
}

// streamEdits sends the first word and edits the message as words come.
func (g *gateway) streamEdits(ctx context.Context, d dest, desc descriptor, words []string) {
	for _, group := range pieces(desc, words) {
		r := g.act(ctx, d, g.sendOf(d, group[0], nil))
		if !r.Success {
			g.log.Warn("stream send failed", "error", r.Error)
			return
		}
		for i := 1; i < len(group); i++ {
			e := editAction{Op: "edit", ChatID: d.chat, MessageID: r.MessageID, Content: strings.Join(group[:i+1], " "), Metadata: g.stamp(d)}
			if er := g.act(ctx, d, e); !er.Success {
				g.log.Warn("stream edit failed", "error", er.Error)
				return
			}
		}
	}
}

// react puts a reaction on the triggering message where advertised.
func (g *gateway) react(ctx context.Context, d dest) {
	desc, ok := g.desc(d)
	if !ok || !desc.supports("react") || d.replyTo == "" {
		return
	}
	r := g.act(ctx, d, reactAction{Op: "react", ChatID: d.chat, MessageID: d.replyTo, Emoji: "👀", Metadata: g.stamp(d)})
	if !r.Success {
		g.log.Warn("react failed", "error", r.Error)
	}
}

// prompt asks for a fruit: a native prompt where advertised, else numbered
// text answerable with "1" or "2".
func (g *gateway) prompt(ctx context.Context, d dest) {
	ids, labels := []string{"apple", "banana"}, []string{"Apple", "Banana"}
	p := g.prompts.mint(d.platform, d.chat, ids, labels, time.Now())
	desc, ok := g.desc(d)
	if !ok {
		g.prompts.forget(p.id)
		return
	}
	if !desc.supports("prompt") {
		g.prompts.textPrompt(p)
		var b strings.Builder
		b.WriteString("Pick a fruit:")
		for i, l := range labels {
			fmt.Fprintf(&b, "\n%d. %s", i+1, l)
		}
		if len(g.reply(ctx, d, b.String())) == 0 {
			g.prompts.forget(p.id)
		}
		return
	}
	var replyTo *string
	if d.replyTo != "" {
		replyTo = &d.replyTo
	}
	a := promptAction{Op: "prompt", ChatID: d.chat, Content: "Pick a fruit", PromptKind: "choice", PromptID: p.id,
		Options: []promptOption{{ID: ids[0], Label: labels[0], Style: "primary"}, {ID: ids[1], Label: labels[1], Style: "secondary"}},
		ReplyTo: replyTo, Metadata: g.stamp(d), TimeoutS: int(promptTTL / time.Second)}
	if r := g.act(ctx, d, a); !r.Success {
		g.log.Warn("prompt failed", "error", r.Error)
		g.prompts.forget(p.id)
	}
}

// onPress consumes a prompt press: its own open prompt is answered in the
// prompt's chat; another process's prompt and a repeated press are
// dropped without a word (IN-014); an expired prompt of its own gets a
// short notice.
func (g *gateway) onPress(ctx context.Context, d dest, pr press) {
	out, p, label := g.prompts.press(pr.PromptID, pr.OptionID, time.Now())
	switch out {
	case pressAnswer:
		g.reply(ctx, dest{platform: p.platform, chat: p.chat}, replyPrefix+"chose "+label)
	case pressExpired:
		g.reply(ctx, d, replyPrefix+"that choice has expired")
	default:
		g.log.Info("press dropped", "prompt_id", pr.PromptID, "outcome", out)
	}
}

// media answers /media: an upload to the connector's re-host, then
// send_media where advertised, else a send with the link.
func (g *gateway) media(ctx context.Context, d dest) {
	body := []byte("a small file from lantern, for " + d.chat + "\n")
	link, err := g.uploadMedia(ctx, "lantern.txt", "text/plain; charset=utf-8", body)
	if err != nil {
		g.log.Warn("upload failed", "err", err)
		g.reply(ctx, d, replyPrefix+"/media: upload failed")
		return
	}
	desc, ok := g.desc(d)
	if !ok || !desc.supports("send_media") {
		g.reply(ctx, d, replyPrefix+"/media: "+link)
		return
	}
	caption := replyPrefix + "/media"
	var a any = sendMediaAction{Op: "send_media", ChatID: d.chat, MediaKind: "document", SourceURL: link, Content: caption,
		Metadata: g.stamp(d), Filename: "lantern.txt"}
	if g.dev == devNullReplyToOmitted {
		a = sendMediaActionOmit{Op: "send_media", ChatID: d.chat, MediaKind: "document", SourceURL: link, Content: caption,
			Metadata: g.stamp(d), Filename: "lantern.txt"}
	}
	if r := g.act(ctx, d, a); !r.Success {
		g.log.Warn("send_media failed", "error", r.Error)
	}
}

// attachments downloads each URL in order: "<n> bytes" or "failed".
func (g *gateway) attachments(ctx context.Context, urls []string) string {
	var parts []string
	for _, u := range urls {
		b, err := g.downloadMedia(ctx, u)
		if err != nil {
			g.log.Info("attachment download failed", "err", err)
			parts = append(parts, "failed")
			continue
		}
		parts = append(parts, strconv.Itoa(len(b))+" bytes")
	}
	if len(parts) == 0 {
		return "none"
	}
	if g.cfg.styles[styleAttachmentLines] {
		return "\n" + strings.Join(parts, "\n")
	}
	return strings.Join(parts, ", ")
}
